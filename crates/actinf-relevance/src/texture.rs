//! The texture array: a per-patch feature map from which the scorers read.
//!
//! Two modes, each 13 channels on a `grid`×`grid` patch grid (32×32 = 1024
//! patches by default), computed from the image resampled to 16·grid pixels
//! a side (512×512):
//!
//! * [`TextureMode::Faithful`] reproduces ARR-COC-0-1's array number for
//!   number (checked against torch + kornia fixtures): non-antialiased
//!   bilinear resizes, LAB from kornia's formulas, a normalised Sobel on grey,
//!   positions `i/(g−1)`, and its two duplicated channels (11 = 7, 12 = 3).
//! * [`TextureMode::Default`] keeps the same kinds of information but
//!   measures each patch over its whole area instead of at the 2×2 pixels a
//!   non-antialiased 16:1 bilinear shrink reads, restores b*, replaces the
//!   duplicates by real information and computes LAB from the patch's mean
//!   linear-light colour (averaging light, then converting, is what a
//!   camera with bigger pixels would see). Channels:
//!
//! | # | default                                  | faithful              |
//! |---|------------------------------------------|-----------------------|
//! | 0–2 | R, G, B: area mean of sRGB in [0, 1]    | R, G, B (2×2 sample)  |
//! | 3 | L*/100 of the mean linear colour         | L*/100                |
//! | 4 | (a*+128)/255                             | (a*+128)/255          |
//! | 5 | (b*+128)/255                             | Sobel Gx, min–max     |
//! | 6 | mean \|Gx\| (vertical-edge energy) × 2   | Sobel Gy, min–max     |
//! | 7 | mean \|Gy\| (horizontal-edge energy) × 2 | Sobel magnitude, min–max |
//! | 8 | mean gradient magnitude × √2             | y = i/(g−1)           |
//! | 9 | y of the patch centre, (i+½)/g           | x = j/(g−1)           |
//! | 10 | x of the patch centre, (j+½)/g          | eccentricity          |
//! | 11 | eccentricity of the centre / its max    | copy of 7             |
//! | 12 | luminance standard deviation (local contrast) × 2 | copy of 3 |
//!
//! Signed mean gradients (faithful 5–6) cancel over a patch; their absolute
//! values say how much vertical and horizontal structure it holds. The
//! default channels are absolute — each structure channel is divided by its
//! largest possible value (|Gx|, |Gy| ≤ ½ for the normalised Sobel on grey in
//! [0, 1], magnitude ≤ 1/√2, standard deviation ≤ ½) instead of min–max
//! normalised per image — so a patch reads the same in any image or video
//! frame, and an exemplar crop can be compared with it.

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;
use crate::resize::{torch_bilinear, AreaResizer};

/// Number of texture channels in both modes.
pub const CHANNELS: usize = 13;
/// Pixels per patch side at the working resolution (ARR-COC: 512 / 32).
pub const PATCH_PIXELS: usize = 16;
/// The largest grid accepted (a 256×256 grid works on 4096² pixels).
pub const MAX_GRID: usize = 256;

/// How the texture array is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextureMode {
    /// ARR-COC-0-1's array, reproduced exactly.
    Faithful,
    /// Area-measured features, no duplicated channels (see the module docs).
    Default,
}

/// A `CHANNELS`×`grid`×`grid` feature array, channel-major, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TextureArray {
    mode: TextureMode,
    grid: usize,
    data: Vec<f32>,
}

impl TextureArray {
    /// The mode that computed it.
    pub fn mode(&self) -> TextureMode {
        self.mode
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.grid
    }

    /// Number of patches, `grid²`.
    pub fn patches(&self) -> usize {
        self.grid * self.grid
    }

    /// One channel, `grid²` values, row-major.
    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.patches();
        &self.data[c * n..(c + 1) * n]
    }

    /// The whole array, channel-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The channel holding the gradient magnitude (faithful 7, default 8).
    pub fn edge_magnitude(&self) -> &[f32] {
        match self.mode {
            TextureMode::Faithful => self.channel(7),
            TextureMode::Default => self.channel(8),
        }
    }

    /// The channels that describe appearance (colour and structure, not
    /// position) on an absolute scale, comparable between images: used by
    /// the information score and the exemplar query. The faithful array's
    /// structure channels are min–max normalised per image, so only its
    /// colour channels qualify.
    pub fn appearance_channels(&self) -> &'static [usize] {
        match self.mode {
            TextureMode::Faithful => &[0, 1, 2, 3, 4],
            TextureMode::Default => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 12],
        }
    }

    /// The appearance channels that do not depend on orientation (colour,
    /// gradient magnitude, contrast): what an exemplar is compared on, since
    /// the sought object may appear rotated.
    pub fn query_channels(&self) -> &'static [usize] {
        match self.mode {
            TextureMode::Faithful => &[0, 1, 2, 3, 4],
            TextureMode::Default => &[0, 1, 2, 3, 4, 5, 8, 12],
        }
    }
}

fn check_grid(grid: usize) -> Result<()> {
    if grid == 0 || grid > MAX_GRID {
        return Err(RelevanceError::Setting {
            name: "grid".into(),
            value: grid.to_string(),
            expected: format!("1 to {MAX_GRID} patches per side"),
        });
    }
    Ok(())
}

/// sRGB → linear light, kornia's `rgb_to_linear_rgb`:
/// `c > 0.04045 ? ((c+0.055)/1.055)^2.4 : c/12.92`.
pub fn srgb_to_linear(c: f64) -> f64 {
    if c > 0.04045 {
        ((c + 0.055) / 1.055).powf(2.4)
    } else {
        c / 12.92
    }
}

/// Linear RGB → CIE L*a*b* (D65 white 0.95047/1/1.08883), kornia's
/// `rgb_to_lab` after linearisation: XYZ by the sRGB matrix, then
/// `f(t) = t^(1/3)` for `t > 0.008856`, else `7.787t + 4/29`;
/// `L* = 116 f(Y) − 16`, `a* = 500 (f(X) − f(Y))`, `b* = 200 (f(Y) − f(Z))`.
pub fn linear_rgb_to_lab(r: f64, g: f64, b: f64) -> [f64; 3] {
    let x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047;
    let y = 0.212671 * r + 0.715160 * g + 0.072169 * b;
    let z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 4.0 / 29.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Grey as kornia's `rgb_to_grayscale`: `0.299 R + 0.587 G + 0.114 B`.
pub const GREY_WEIGHTS: [f64; 3] = [0.299, 0.587, 0.114];

/// Arithmetic shared by the f64 (faithful) and f32 (default) Sobel.
trait Sample:
    Copy + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Mul<Output = Self>
{
    fn of(v: f32) -> Self;
}
impl Sample for f32 {
    fn of(v: f32) -> Self {
        v
    }
}
impl Sample for f64 {
    fn of(v: f32) -> Self {
        v as f64
    }
}

/// One row of the normalised Sobel gradient (kornia's `spatial_gradient`,
/// `mode="sobel"`, `normalized=True`): kernels `[−1 0 1; −2 0 2; −1 0 1]/8`
/// for x and its transpose for y, cross-correlated with replicate padding.
/// `up`, `mid`, `down` are the rows above, at and below (already clamped at
/// the image's top and bottom); `smooth` and `diff` are scratch rows.
fn sobel_row<T: Sample>(
    up: &[T],
    mid: &[T],
    down: &[T],
    smooth: &mut [T],
    diff: &mut [T],
    gx: &mut [T],
    gy: &mut [T],
) {
    let w = mid.len();
    let two = T::of(2.0);
    let eighth = T::of(0.125);
    for ((((s, d), &u), &m), &dn) in smooth
        .iter_mut()
        .zip(diff.iter_mut())
        .zip(up)
        .zip(mid)
        .zip(down)
    {
        *s = u + two * m + dn;
        *d = dn - u;
    }
    // Edges replicate their pixel; the interior needs no clamping.
    let at = |x: usize| {
        let l = x.saturating_sub(1);
        let r = (x + 1).min(w - 1);
        (
            (smooth[r] - smooth[l]) * eighth,
            (diff[l] + two * diff[x] + diff[r]) * eighth,
        )
    };
    (gx[0], gy[0]) = at(0);
    (gx[w - 1], gy[w - 1]) = at(w - 1);
    if w > 2 {
        for (((x_out, y_out), s), d) in gx[1..w - 1]
            .iter_mut()
            .zip(gy[1..w - 1].iter_mut())
            .zip(smooth.windows(3))
            .zip(diff.windows(3))
        {
            *x_out = (s[2] - s[0]) * eighth;
            *y_out = (d[0] + two * d[1] + d[2]) * eighth;
        }
    }
}

/// Min–max normalisation as ARR-COC writes it: `(v − min)/(max − min + 1e−8)`.
pub(crate) fn min_max_in_place(v: &mut [f64]) {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let span = hi - lo + 1e-8;
    for x in v.iter_mut() {
        *x = (*x - lo) / span;
    }
}

/// ARR-COC-0-1's texture array (see the module docs), computed in f64 and
/// stored as f32.
pub fn faithful(image: &RgbImage, grid: usize) -> Result<TextureArray> {
    check_grid(grid)?;
    let (w, h) = (image.width(), image.height());
    let n = PATCH_PIXELS * grid;
    let planes: Vec<Vec<f64>> = (0..3)
        .map(|c| {
            image
                .pixels()
                .chunks_exact(3)
                .map(|p| p[c] as f64 / 255.0)
                .collect()
        })
        .collect();
    let inter: Vec<Vec<f64>> = planes
        .iter()
        .map(|p| torch_bilinear(p, h, w, 1, n, n))
        .collect();
    let down = |plane: &[f64]| torch_bilinear(plane, n, n, 1, grid, grid);
    let mut channels: Vec<Vec<f64>> = Vec::with_capacity(CHANNELS);
    for plane in &inter {
        channels.push(down(plane));
    }
    let mut lab_l = vec![0.0; n * n];
    let mut lab_a = vec![0.0; n * n];
    let mut grey = vec![0.0; n * n];
    for i in 0..n * n {
        let (r, g, b) = (inter[0][i], inter[1][i], inter[2][i]);
        let lab = linear_rgb_to_lab(srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b));
        lab_l[i] = lab[0];
        lab_a[i] = lab[1];
        grey[i] = GREY_WEIGHTS[0] * r + GREY_WEIGHTS[1] * g + GREY_WEIGHTS[2] * b;
    }
    channels.push(down(&lab_l).into_iter().map(|v| v / 100.0).collect());
    channels.push(
        down(&lab_a)
            .into_iter()
            .map(|v| (v + 128.0) / 255.0)
            .collect(),
    );
    let mut gx = vec![0.0; n * n];
    let mut gy = vec![0.0; n * n];
    let (mut smooth, mut diff) = (vec![0.0; n], vec![0.0; n]);
    for y in 0..n {
        let row = |r: usize| &grey[r * n..(r + 1) * n];
        sobel_row(
            row(y.saturating_sub(1)),
            row(y),
            row((y + 1).min(n - 1)),
            &mut smooth,
            &mut diff,
            &mut gx[y * n..(y + 1) * n],
            &mut gy[y * n..(y + 1) * n],
        );
    }
    let mag: Vec<f64> = gx
        .iter()
        .zip(&gy)
        .map(|(a, b)| (a * a + b * b + 1e-8).sqrt())
        .collect();
    for g in [&gx, &gy, &mag] {
        let mut c = down(g);
        min_max_in_place(&mut c);
        channels.push(c);
    }
    let pos = |i: usize| {
        if grid > 1 {
            i as f64 / (grid - 1) as f64
        } else {
            0.0
        }
    };
    let ys: Vec<f64> = (0..grid * grid).map(|k| pos(k / grid)).collect();
    let xs: Vec<f64> = (0..grid * grid).map(|k| pos(k % grid)).collect();
    let mut ecc: Vec<f64> = ys
        .iter()
        .zip(&xs)
        .map(|(y, x)| ((y - 0.5).powi(2) + (x - 0.5).powi(2)).sqrt())
        .collect();
    let emax = ecc.iter().cloned().fold(0.0, f64::max);
    ecc.iter_mut().for_each(|e| *e /= emax);
    channels.push(ys);
    channels.push(xs);
    channels.push(ecc);
    channels.push(channels[7].clone());
    channels.push(channels[3].clone());
    Ok(TextureArray {
        mode: TextureMode::Faithful,
        grid,
        data: channels.concat().into_iter().map(|v| v as f32).collect(),
    })
}

/// Per-patch sums gathered in one pass over the working image.
#[derive(Clone, Copy, Default)]
struct PatchSums<T> {
    srgb: [T; 3],
    linear: [T; 3],
    abs_gx: T,
    abs_gy: T,
    magnitude: T,
    /// Σ (grey − ½): centred, so the variance does not cancel catastrophically.
    grey: T,
    grey_sq: T,
}

/// The default texture pipeline, keeping its buffers (resized image, grey
/// plane, per-patch sums) between frames so a stream allocates nothing
/// after the first frame. Work is split over patch rows with rayon: run it
/// inside a one-thread pool for single-core use.
pub struct TexturePipeline {
    grid: usize,
    resizer: AreaResizer,
    working: Vec<u8>,
    grey: Vec<f32>,
    sums: Vec<PatchSums<f64>>,
    linear_lut: [f32; 256],
}

impl TexturePipeline {
    /// A pipeline for a `grid`×`grid` patch grid (working size 16·grid).
    pub fn new(grid: usize) -> Result<Self> {
        check_grid(grid)?;
        let mut linear_lut = [0.0f32; 256];
        for (i, v) in linear_lut.iter_mut().enumerate() {
            *v = srgb_to_linear(i as f64 / 255.0) as f32;
        }
        Ok(Self {
            grid,
            resizer: AreaResizer::new(),
            working: Vec::new(),
            grey: Vec::new(),
            sums: Vec::new(),
            linear_lut,
        })
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.grid
    }

    /// The last image [`compute`](Self::compute) saw, at its working size
    /// (`16·grid` pixels square, RGB): what pixel-level scorers read.
    pub fn working_image(&self) -> (&[u8], usize) {
        (&self.working, PATCH_PIXELS * self.grid)
    }

    /// The default texture array of `image` (see the module docs).
    pub fn compute(&mut self, image: &RgbImage) -> Result<TextureArray> {
        let g = self.grid;
        let n = PATCH_PIXELS * g;
        self.resizer.resize_into(image, n, n, &mut self.working)?;
        self.grey.resize(n * n, 0.0);
        let wg = GREY_WEIGHTS.map(|w| (w / 255.0) as f32);
        self.grey
            .par_chunks_mut(n)
            .zip(self.working.par_chunks(3 * n))
            .for_each(|(grey, rgb)| {
                for (v, p) in grey.iter_mut().zip(rgb.chunks_exact(3)) {
                    *v = wg[0] * p[0] as f32 + wg[1] * p[1] as f32 + wg[2] * p[2] as f32;
                }
            });
        self.sums.clear();
        self.sums.resize(g * g, PatchSums::<f64>::default());
        let (grey, working, lut) = (&self.grey, &self.working, &self.linear_lut);
        self.sums
            .par_chunks_mut(g)
            .enumerate()
            .for_each(|(band, sums)| {
                // Column sums over the band's 16 rows (element-wise adds over
                // whole rows vectorise), then one horizontal pass per patch.
                let mut scratch = vec![0.0f32; 4 * n];
                let (smooth, rest) = scratch.split_at_mut(n);
                let (diff, rest) = rest.split_at_mut(n);
                let (gx, gy) = rest.split_at_mut(n);
                let mut columns = vec![0.0f32; 11 * n];
                let (col_rgb, rest) = columns.split_at_mut(3 * n);
                let (col_lin, rest) = rest.split_at_mut(3 * n);
                let (col_ax, rest) = rest.split_at_mut(n);
                let (col_ay, rest) = rest.split_at_mut(n);
                let (col_mag, rest) = rest.split_at_mut(n);
                let (col_grey, col_grey_sq) = rest.split_at_mut(n);
                let row = |r: usize| &grey[r * n..(r + 1) * n];
                for y in band * PATCH_PIXELS..(band + 1) * PATCH_PIXELS {
                    sobel_row(
                        row(y.saturating_sub(1)),
                        row(y),
                        row((y + 1).min(n - 1)),
                        smooth,
                        diff,
                        gx,
                        gy,
                    );
                    let rgb = &working[3 * y * n..3 * (y + 1) * n];
                    for ((c, l), &v) in col_rgb.iter_mut().zip(col_lin.iter_mut()).zip(rgb) {
                        *c += v as f32;
                        *l += lut[v as usize];
                    }
                    for (((((ax, ay), m), (a, b)), (gs, gq)), &gv) in col_ax
                        .iter_mut()
                        .zip(col_ay.iter_mut())
                        .zip(col_mag.iter_mut())
                        .zip(gx.iter().zip(gy.iter()))
                        .zip(col_grey.iter_mut().zip(col_grey_sq.iter_mut()))
                        .zip(row(y))
                    {
                        *ax += a.abs();
                        *ay += b.abs();
                        *m += (a * a + b * b).sqrt();
                        let centred = gv - 0.5;
                        *gs += centred;
                        *gq += centred * centred;
                    }
                }
                let chunk_sum = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>();
                for (px, s) in sums.iter_mut().enumerate() {
                    let span = px * PATCH_PIXELS..(px + 1) * PATCH_PIXELS;
                    for c in 0..3 {
                        let (mut a, mut b) = (0.0f64, 0.0f64);
                        for x in span.clone() {
                            a += col_rgb[3 * x + c] as f64;
                            b += col_lin[3 * x + c] as f64;
                        }
                        s.srgb[c] = a;
                        s.linear[c] = b;
                    }
                    s.abs_gx = chunk_sum(&col_ax[span.clone()]);
                    s.abs_gy = chunk_sum(&col_ay[span.clone()]);
                    s.magnitude = chunk_sum(&col_mag[span.clone()]);
                    s.grey = chunk_sum(&col_grey[span.clone()]);
                    s.grey_sq = chunk_sum(&col_grey_sq[span]);
                }
            });
        Ok(self.finish())
    }

    fn finish(&self) -> TextureArray {
        let g = self.grid;
        let m = g * g;
        let area = (PATCH_PIXELS * PATCH_PIXELS) as f64;
        let mut ch = vec![vec![0.0f64; m]; CHANNELS];
        for (i, s) in self.sums.iter().enumerate() {
            for (c, sum) in s.srgb.iter().enumerate() {
                ch[c][i] = sum / (255.0 * area);
            }
            let lin = s.linear.map(|v| v / area);
            let lab = linear_rgb_to_lab(lin[0], lin[1], lin[2]);
            ch[3][i] = lab[0] / 100.0;
            ch[4][i] = (lab[1] + 128.0) / 255.0;
            ch[5][i] = (lab[2] + 128.0) / 255.0;
            ch[6][i] = (2.0 * s.abs_gx / area).min(1.0);
            ch[7][i] = (2.0 * s.abs_gy / area).min(1.0);
            ch[8][i] = (std::f64::consts::SQRT_2 * s.magnitude / area).min(1.0);
            let mean = s.grey / area;
            ch[12][i] = (2.0 * (s.grey_sq / area - mean * mean).max(0.0).sqrt()).min(1.0);
            let (y, x) = (
                ((i / g) as f64 + 0.5) / g as f64,
                ((i % g) as f64 + 0.5) / g as f64,
            );
            ch[9][i] = y;
            ch[10][i] = x;
            ch[11][i] = ((y - 0.5).powi(2) + (x - 0.5).powi(2)).sqrt();
        }
        let emax = ch[11].iter().cloned().fold(0.0, f64::max);
        if emax > 0.0 {
            ch[11].iter_mut().for_each(|e| *e /= emax);
        }
        TextureArray {
            mode: TextureMode::Default,
            grid: g,
            data: ch.concat().into_iter().map(|v| v as f32).collect(),
        }
    }
}

/// The texture array of `image` in the given mode.
pub fn texture_array(image: &RgbImage, grid: usize, mode: TextureMode) -> Result<TextureArray> {
    match mode {
        TextureMode::Faithful => faithful(image, grid),
        TextureMode::Default => TexturePipeline::new(grid)?.compute(image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> RgbImage {
        let mut px = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                px.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 90]);
            }
        }
        RgbImage::new(w, h, px).unwrap()
    }

    #[test]
    fn lab_of_white_and_black() {
        let w = linear_rgb_to_lab(1.0, 1.0, 1.0);
        assert!((w[0] - 100.0).abs() < 1e-3 && w[1].abs() < 1e-2 && w[2].abs() < 1e-2);
        let b = linear_rgb_to_lab(0.0, 0.0, 0.0);
        assert!(b[0].abs() < 1e-9);
    }

    #[test]
    fn sobel_of_a_ramp_is_its_slope() {
        let row: Vec<f64> = (0..6).map(|x| 2.0 * x as f64).collect();
        let (mut s, mut d, mut gx, mut gy) =
            (vec![0.0; 6], vec![0.0; 6], vec![0.0; 6], vec![0.0; 6]);
        sobel_row(&row, &row, &row, &mut s, &mut d, &mut gx, &mut gy);
        // Interior: (2·(x+1) − 2·(x−1))·4/8 = 2; edges see one step (replicate): 1.
        assert_eq!(gx, vec![1.0, 2.0, 2.0, 2.0, 2.0, 1.0]);
        assert!(gy.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn default_array_ranges_and_positions() {
        let t = TexturePipeline::new(4)
            .unwrap()
            .compute(&ramp(70, 50))
            .unwrap();
        assert_eq!(t.data().len(), CHANNELS * 16);
        assert!(t.data().iter().all(|v| (0.0..=1.0).contains(v)));
        // Red grows to the right, green downwards.
        assert!(t.channel(0)[3] > t.channel(0)[0]);
        assert!(t.channel(1)[12] > t.channel(1)[0]);
        assert!((t.channel(9)[0] - 0.125).abs() < 1e-6);
        assert!((t.channel(11)[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn faithful_duplicates_are_copies() {
        let t = faithful(&ramp(30, 20), 4).unwrap();
        assert_eq!(t.channel(11), t.channel(7));
        assert_eq!(t.channel(12), t.channel(3));
    }

    #[test]
    fn rejects_bad_grids() {
        assert!(TexturePipeline::new(0).is_err());
        assert!(faithful(&ramp(4, 4), MAX_GRID + 1).is_err());
    }
}
