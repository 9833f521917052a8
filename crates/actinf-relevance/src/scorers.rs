//! The three scorers: propositional (information content), perspectival
//! (salience) and participatory (query–content coupling). Each returns one
//! score in [0, 1] per patch; the allocation weighs them by precision.
//!
//! ARR-COC's propositional score is the entropy of a softmax across the 13
//! heterogeneous channels — a number that mostly tracks which channels
//! happen to be large. It is kept for the faithful mode. The default
//! propositional score is the self-information of a patch's appearance under
//! a Gaussian fitted to all patches of the image: a patch is informative
//! when it is unlike the rest.

use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;
use crate::resize::AreaResizer;
#[cfg(doc)]
use crate::texture::TexturePipeline;
use crate::texture::{min_max_in_place, texture_array, TextureArray, TextureMode, PATCH_PIXELS};

/// ARR-COC's propositional score: `H_i = −Σ_c p_ic ln(p_ic + 1e−10)` with
/// `p_i = softmax_c(texture_ic)`, then `(H − min H)/(max H − min H + 1e−8)`
/// (ARR_COC/knowing.py, `information_score`).
pub fn information_faithful(texture: &TextureArray) -> Vec<f64> {
    let n = texture.patches();
    let channels = texture.data().len() / n;
    let mut h: Vec<f64> = (0..n)
        .map(|i| {
            let v: Vec<f64> = (0..channels)
                .map(|c| texture.channel(c)[i] as f64)
                .collect();
            let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            -e.iter()
                .map(|x| {
                    let p = x / z;
                    p * (p + 1e-10).ln()
                })
                .sum::<f64>()
        })
        .collect();
    min_max_in_place(&mut h);
    h
}

/// Per-channel mean and variance over patches of the given channels.
fn channel_moments(texture: &TextureArray, channels: &[usize]) -> Vec<(usize, f64, f64)> {
    let n = texture.patches() as f64;
    channels
        .iter()
        .map(|&c| {
            let v = texture.channel(c);
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
            (c, mean, var)
        })
        .collect()
}

/// Variance floor for standardising a channel: below it the channel is flat
/// and carries no information.
const VARIANCE_FLOOR: f64 = 1e-6;

/// The default propositional score: self-information of patch `i`'s
/// appearance `f_i` under a diagonal Gaussian fitted to all patches,
/// `I_i = ½ Σ_c (f_ic − μ_c)² / σ_c²` (= `−ln N(f_i; μ, diag σ²)` up to a
/// constant), min–max normalised; flat channels (`σ_c² < 1e−6`) are skipped.
pub fn information(texture: &TextureArray) -> Vec<f64> {
    let moments = channel_moments(texture, texture.appearance_channels());
    let mut score = vec![0.0; texture.patches()];
    for (c, mean, var) in moments {
        if var < VARIANCE_FLOOR {
            continue;
        }
        for (s, &x) in score.iter_mut().zip(texture.channel(c)) {
            *s += 0.5 * (x as f64 - mean).powi(2) / var;
        }
    }
    min_max_in_place(&mut score);
    score
}

/// The propositional score of the array's mode.
pub fn propositional(texture: &TextureArray) -> Vec<f64> {
    match texture.mode() {
        TextureMode::Faithful => information_faithful(texture),
        TextureMode::Default => information(texture),
    }
}

/// The perspectival score (salience): the gradient-magnitude channel,
/// min–max normalised within the image (in the faithful array it already is).
pub fn perspectival(texture: &TextureArray) -> Vec<f64> {
    let mut s: Vec<f64> = texture.edge_magnitude().iter().map(|&v| v as f64).collect();
    min_max_in_place(&mut s);
    s
}

/// Added to each channel's variance in the exemplar distance: differences
/// below a standard deviation of about 0.03 (on the [0, 1] channel scale)
/// count as noise even in an image where that channel is nearly flat.
const SPREAD_FLOOR: f64 = 1e-3;

/// The appearance of an exemplar crop in the same feature space as the
/// patches of a texture array: the mean, over the crop's own texture array,
/// of the orientation-free appearance channels, weighted towards the crop's
/// centre by `exp(−2ρ²)` (`ρ`: a patch's distance from the centre in units
/// of half the crop), since a crop's border is mostly background.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    mode: TextureMode,
    descriptor: Vec<f64>,
    colours: ColourHistogram,
}

impl Exemplar {
    /// Describe `crop`, which is taken from an image of `image_width` ×
    /// `image_height` pixels that will be scored on a `grid`×`grid` array:
    /// the crop is measured at the scale the image is (its working size
    /// `16·grid` per side), on a grid of 16-pixel patches.
    pub fn new(
        crop: &RgbImage,
        image_width: usize,
        image_height: usize,
        grid: usize,
        mode: TextureMode,
    ) -> Result<Self> {
        if image_width == 0 || image_height == 0 {
            return Err(RelevanceError::BadImage {
                name: "query image".into(),
                reason: "the image it is compared with is empty".into(),
            });
        }
        let working = (PATCH_PIXELS * grid) as f64;
        let side = (crop.width() as f64 * working / image_width as f64)
            .max(crop.height() as f64 * working / image_height as f64);
        let crop_grid = ((side / PATCH_PIXELS as f64).round() as usize).clamp(1, 64);
        let texture = texture_array(crop, crop_grid, mode)?;
        let colours = ColourHistogram::of_exemplar(
            crop,
            working / image_width as f64,
            working / image_height as f64,
        )?;
        // Centre-weighted mean: a crop's border is mostly background.
        let g = texture.grid();
        let weights: Vec<f64> = (0..g * g)
            .map(|i| {
                let half = g as f64 / 2.0;
                let dy = ((i / g) as f64 + 0.5 - half) / half;
                let dx = ((i % g) as f64 + 0.5 - half) / half;
                (-2.0 * (dy * dy + dx * dx)).exp()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let descriptor = texture
            .query_channels()
            .iter()
            .map(|&c| {
                texture
                    .channel(c)
                    .iter()
                    .zip(&weights)
                    .map(|(&v, w)| w * v as f64)
                    .sum::<f64>()
                    / total
            })
            .collect();
        Ok(Self {
            mode,
            descriptor,
            colours,
        })
    }

    /// The exemplar's colour model `p(c | target)`.
    pub fn colours(&self) -> &ColourHistogram {
        &self.colours
    }

    /// The appearance vector (one value per query channel).
    pub fn descriptor(&self) -> &[f64] {
        &self.descriptor
    }

    /// Participatory score of each patch: `exp(−d_i²/2)` with
    /// `d_i² = (1/C) Σ_c (f_ic − e_c)² / (σ_c² + 10⁻³)` over the
    /// orientation-free channels, the exemplar distance standardised by each
    /// channel's spread over the image, then min–max normalised like the
    /// other scorers (relevance is relative within an image: the budget is
    /// spent in any case, on what looks most like the exemplar).
    pub fn similarity(&self, texture: &TextureArray) -> Result<Vec<f64>> {
        if texture.mode() != self.mode {
            return Err(RelevanceError::Query(format!(
                "the exemplar was described in {:?} mode but the image in {:?} mode",
                self.mode,
                texture.mode()
            )));
        }
        let moments = channel_moments(texture, texture.query_channels());
        let c = moments.len() as f64;
        let mut d2 = vec![0.0; texture.patches()];
        for ((ch, _, var), &e) in moments.iter().zip(&self.descriptor) {
            for (d, &x) in d2.iter_mut().zip(texture.channel(*ch)) {
                *d += (x as f64 - e).powi(2) / (var + SPREAD_FLOOR);
            }
        }
        let mut s: Vec<f64> = d2.into_iter().map(|d| (-0.5 * d / c).exp()).collect();
        min_max_in_place(&mut s);
        Ok(s)
    }
}

/// Bits kept of each 8-bit colour channel in the colour model: 3, so 8
/// levels per channel and 512 bins of 32×32×32 sRGB values — coarse enough
/// that resampling and noise keep a colour in its bin, fine enough to tell
/// red from orange.
const COLOUR_BITS: u32 = 3;
/// Bins of the colour model.
pub const COLOUR_BINS: usize = 1 << (3 * COLOUR_BITS);

/// The colour-model bin of an RGB pixel.
#[inline]
fn colour_bin(p: &[u8]) -> usize {
    let shift = 8 - COLOUR_BITS;
    (((p[0] >> shift) as usize) << (2 * COLOUR_BITS)
        | ((p[1] >> shift) as usize) << COLOUR_BITS
        | (p[2] >> shift) as usize)
        & (COLOUR_BINS - 1)
}

/// A normalised colour histogram over [`COLOUR_BINS`] bins of sRGB.
#[derive(Debug, Clone, PartialEq)]
pub struct ColourHistogram {
    probabilities: Vec<f64>,
}

impl ColourHistogram {
    /// The colour model of an exemplar crop, `p(c | target)`: the crop is
    /// first resampled by `scale_x`×`scale_y` (to the scale at which the
    /// image's pixels are seen, so colours blend as they do there), and each
    /// pixel counts `exp(−2ρ²)` (`ρ`: its distance from the crop's centre
    /// in units of the half-width and half-height), since a crop's border
    /// is mostly background.
    pub fn of_exemplar(crop: &RgbImage, scale_x: f64, scale_y: f64) -> Result<Self> {
        let w = ((crop.width() as f64 * scale_x).round() as usize).max(1);
        let h = ((crop.height() as f64 * scale_y).round() as usize).max(1);
        let mut pixels = Vec::new();
        AreaResizer::new().resize_into(crop, w, h, &mut pixels)?;
        let mut probabilities = vec![0.0; COLOUR_BINS];
        let (hw, hh) = (w as f64 / 2.0, h as f64 / 2.0);
        for (i, p) in pixels.chunks_exact(3).enumerate() {
            let dy = ((i / w) as f64 + 0.5 - hh) / hh;
            let dx = ((i % w) as f64 + 0.5 - hw) / hw;
            probabilities[colour_bin(p)] += (-2.0 * (dy * dy + dx * dx)).exp();
        }
        let total: f64 = probabilities.iter().sum();
        probabilities.iter_mut().for_each(|p| *p /= total);
        Ok(Self { probabilities })
    }

    /// The probability of each bin.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }
}

impl Exemplar {
    /// Participatory score by colour backprojection (Swain & Ballard 1991,
    /// "Color indexing", IJCV 7: 11–32), read as Bayes' rule: a pixel of
    /// colour `c` raises the odds that it belongs to the target by the
    /// likelihood ratio `p(c | target) / p(c)`, with `p(c | target)` the
    /// exemplar's [`ColourHistogram`] and `p(c)` the histogram of the whole
    /// image; a patch scores the mean ratio over its pixels,
    /// `s_i = (1/|P_i|) Σ_{x∈P_i} p(c_x | target) / p(c_x)`, min–max
    /// normalised over the image. Unlike Swain & Ballard's `min(ratio, 1)`
    /// the ratio is not capped: the cap ties every target colour at 1 and
    /// lets a background colour the exemplar's border shares tie with them.
    ///
    /// `working` is the image as the texture pipeline saw it (RGB, `side`
    /// pixels square, `side` a multiple of `grid`, see
    /// [`TexturePipeline::working_image`]).
    pub fn backprojection(&self, working: &[u8], side: usize, grid: usize) -> Result<Vec<f64>> {
        if grid == 0 || side == 0 || side % grid != 0 || working.len() != 3 * side * side {
            return Err(RelevanceError::Shape {
                name: "working image".into(),
                found: vec![working.len() / 3],
                expected: format!(
                    "{side}×{side} RGB pixels, {side} a non-zero multiple of grid {grid}"
                ),
            });
        }
        // Four interleaved histograms: runs of one colour would otherwise
        // make every increment wait for the previous one.
        let mut counts = [[0u32; 4]; COLOUR_BINS];
        let mut quads = working.chunks_exact(12);
        for q in &mut quads {
            counts[colour_bin(&q[0..3])][0] += 1;
            counts[colour_bin(&q[3..6])][1] += 1;
            counts[colour_bin(&q[6..9])][2] += 1;
            counts[colour_bin(&q[9..12])][3] += 1;
        }
        for p in quads.remainder().chunks_exact(3) {
            counts[colour_bin(p)][0] += 1;
        }
        let n = (side * side) as f64;
        let mut ratio = [0.0f32; COLOUR_BINS];
        for ((r, c), &pe) in ratio
            .iter_mut()
            .zip(&counts)
            .zip(&self.colours.probabilities)
        {
            let count = c.iter().sum::<u32>();
            if count > 0 {
                *r = (pe * n / count as f64) as f32;
            }
        }
        let patch = side / grid;
        let mut scores = vec![0.0f64; grid * grid];
        let mut row_sums = vec![0.0f32; grid];
        for (y, row) in working.chunks_exact(3 * side).enumerate() {
            for (sum, pixels) in row_sums.iter_mut().zip(row.chunks_exact(3 * patch)) {
                // Four independent sums (a patch row is 4k pixels wide
                // whenever the patch is a multiple of 4 pixels).
                let (mut a, mut b, mut c, mut d) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                let mut quads = pixels.chunks_exact(12);
                for q in &mut quads {
                    a += ratio[colour_bin(&q[0..3])];
                    b += ratio[colour_bin(&q[3..6])];
                    c += ratio[colour_bin(&q[6..9])];
                    d += ratio[colour_bin(&q[9..12])];
                }
                for p in quads.remainder().chunks_exact(3) {
                    a += ratio[colour_bin(p)];
                }
                *sum += (a + b) + (c + d);
            }
            if (y + 1) % patch == 0 {
                let band = y / patch;
                let area = (patch * patch) as f64;
                for (s, sum) in scores[band * grid..(band + 1) * grid]
                    .iter_mut()
                    .zip(&mut row_sums)
                {
                    *s = *sum as f64 / area;
                    *sum = 0.0;
                }
            }
        }
        min_max_in_place(&mut scores);
        Ok(scores)
    }
}

/// Participatory score from external embeddings: cosine similarity of each
/// patch embedding (rows of `patches`, `n`×`dim`, row-major) with the query
/// embedding, mapped to [0, 1] by `(cos + 1)/2` as ARR-COC does, then min–max
/// normalised over the image (encoders differ in how much of the cosine
/// range they use).
pub fn embedding_similarity(patches: &[f64], n: usize, query: &[f64]) -> Result<Vec<f64>> {
    let dim = query.len();
    if dim == 0 {
        return Err(RelevanceError::Shape {
            name: "query embedding".into(),
            found: vec![0],
            expected: "a non-empty vector".into(),
        });
    }
    if patches.len() != n * dim {
        return Err(RelevanceError::Shape {
            name: "patch embeddings".into(),
            found: vec![patches.len() / dim.max(1), dim],
            expected: format!("[{n}, {dim}] (one row per patch, as wide as the query)"),
        });
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let qn = norm(query);
    if qn == 0.0 || !qn.is_finite() {
        return Err(RelevanceError::Query(
            "the query embedding has zero or non-finite norm".into(),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for (i, row) in patches.chunks_exact(dim).enumerate() {
        let rn = norm(row);
        if rn == 0.0 || !rn.is_finite() {
            return Err(RelevanceError::NonFinite {
                name: "patch embeddings (row norm)".into(),
                index: i,
                value: rn,
            });
        }
        let cos = row.iter().zip(query).map(|(a, b)| a * b).sum::<f64>() / (rn * qn);
        out.push((cos + 1.0) / 2.0);
    }
    min_max_in_place(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texture::TexturePipeline;

    /// Grey background, one red square at patch (1, 2) of a 4×4 grid.
    fn scene() -> RgbImage {
        let (w, h) = (64, 64);
        let mut px = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let red = (16..32).contains(&y) && (32..48).contains(&x);
                let p = if red { [220, 30, 30] } else { [120, 120, 120] };
                px[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&p);
            }
        }
        RgbImage::new(w, h, px).unwrap()
    }

    #[test]
    fn information_peaks_at_the_odd_patch() {
        let t = TexturePipeline::new(4).unwrap().compute(&scene()).unwrap();
        let s = information(&t);
        let top = (0..16).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 4 + 2);
        assert!((s[top] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn exemplar_finds_its_patch() {
        let img = scene();
        let t = TexturePipeline::new(4).unwrap().compute(&img).unwrap();
        let crop = img.crop(18, 34, 12, 12).unwrap();
        let e = Exemplar::new(&crop, 64, 64, 4, TextureMode::Default).unwrap();
        let s = e.similarity(&t).unwrap();
        assert!(s[6] > 0.99, "{}", s[6]);
        assert!(s[0] < 0.01, "{}", s[0]);
        let f = faithful_mode_texture(&img);
        assert!(e.similarity(&f).is_err());
    }

    #[test]
    fn backprojection_finds_the_exemplar_colour() {
        let img = scene();
        let mut pipeline = TexturePipeline::new(4).unwrap();
        pipeline.compute(&img).unwrap();
        let (working, side) = pipeline.working_image();
        assert_eq!(side, 64);
        let crop = img.crop(18, 34, 12, 12).unwrap();
        let e = Exemplar::new(&crop, 64, 64, 4, TextureMode::Default).unwrap();
        // The crop is all red: one bin holds all of p(c | target).
        assert!(e.colours().probabilities().iter().any(|&p| p > 0.999));
        let s = e.backprojection(working, side, 4).unwrap();
        assert!((s[6] - 1.0).abs() < 1e-6, "{}", s[6]);
        assert!(
            s.iter().enumerate().all(|(i, &v)| i == 6 || v == 0.0),
            "{s:?}"
        );
        for (len, side, grid) in [
            (working.len() - 3, 64, 4),
            (working.len(), 64, 5),
            (working.len(), 64, 0),
        ] {
            let err = e.backprojection(&working[..len], side, grid).unwrap_err();
            assert!(matches!(err, RelevanceError::Shape { .. }), "{err}");
        }
    }

    fn faithful_mode_texture(img: &RgbImage) -> TextureArray {
        crate::texture::faithful(img, 4).unwrap()
    }

    #[test]
    fn embeddings_cosine_and_errors() {
        let p = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
        let s = embedding_similarity(&p, 3, &[1.0, 0.0]).unwrap();
        for (got, want) in s.iter().zip([1.0, 0.5, 0.0]) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
        assert!(matches!(
            embedding_similarity(&p, 2, &[1.0, 0.0]),
            Err(RelevanceError::Shape { .. })
        ));
        assert!(embedding_similarity(&[0.0, 0.0, 1.0, 1.0], 2, &[1.0, 0.0]).is_err());
        assert!(embedding_similarity(&p, 3, &[0.0, 0.0]).is_err());
    }
}
