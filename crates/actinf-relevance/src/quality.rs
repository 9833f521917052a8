//! Measuring what the tokens keep, without a VLM.
//!
//! A patch given `k` tokens is seen at `⌊√k⌋×⌊√k⌋` samples (its area
//! averages) and reconstructed to its native pixels by bilinear
//! interpolation; a patch given no tokens is reconstructed as the image's
//! mean colour (all that is known without looking). The benchmark renders
//! scenes with query targets among equally salient distractors at random
//! positions and compares, at equal total budget, the share of tokens on
//! target patches, the PSNR over target pixels and over the whole image for
//! actinf, uniform allocation, ARR-COC's top-200 rule and random allocation.

use serde::Serialize;

use crate::allocation::{Budget, LEVELS};
use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;
use crate::pipeline::{FrontEnd, FrontEndSettings, Query};
use crate::resize::{torch_bilinear, AreaResizer};
use crate::scorers::{information_faithful, perspectival, Exemplar};
use crate::texture::{faithful, TextureMode};

/// SplitMix64: a small, seedable generator for reproducible scenes.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// A benchmark scene: the image, which pixels belong to query targets, and
/// an exemplar of the target rendered separately.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The image.
    pub image: RgbImage,
    /// `true` on target pixels (row-major).
    pub target: Vec<bool>,
    /// An exemplar crop of the target (not cut from `image`).
    pub exemplar: RgbImage,
}

/// A striped disc: two colours alternating with a period of 6 pixels along
/// a direction, so low resolutions blur it.
#[derive(Debug, Clone, Copy)]
struct Disc {
    cy: f64,
    cx: f64,
    radius: f64,
    angle: f64,
    colours: [[f64; 3]; 2],
}

impl Disc {
    fn colour_at(&self, y: f64, x: f64) -> Option<[f64; 3]> {
        let (dy, dx) = (y - self.cy, x - self.cx);
        if dy * dy + dx * dx > self.radius * self.radius {
            return None;
        }
        let t = dx * self.angle.cos() + dy * self.angle.sin();
        Some(self.colours[((t / 3.0).floor() as i64).rem_euclid(2) as usize])
    }
}

const TARGET: [[f64; 3]; 2] = [[215.0, 40.0, 35.0], [245.0, 235.0, 225.0]];
const DISTRACTORS: [[[f64; 3]; 2]; 4] = [
    [[40.0, 70.0, 210.0], [245.0, 235.0, 225.0]],
    [[35.0, 160.0, 60.0], [245.0, 235.0, 225.0]],
    [[230.0, 200.0, 40.0], [25.0, 25.0, 25.0]],
    [[170.0, 50.0, 190.0], [245.0, 235.0, 225.0]],
];

/// Background: a smooth colour field plus fine pixel noise (so uniform
/// allocation also loses something everywhere).
fn background(rng: &mut SplitMix64, y: f64, x: f64, size: f64, phase: [f64; 3]) -> [f64; 3] {
    let u = y / size;
    let v = x / size;
    let noise = 18.0 * (rng.unit() - 0.5);
    [
        110.0 + 40.0 * (3.0 * u + phase[0]).sin() + noise,
        120.0 + 35.0 * (2.0 * v + phase[1]).cos() + noise,
        105.0 + 30.0 * (2.5 * (u + v) + phase[2]).sin() + noise,
    ]
}

fn render(
    size: usize,
    discs: &[Disc],
    mut background: impl FnMut(usize, usize) -> [f64; 3],
) -> (Vec<u8>, Vec<i32>) {
    let mut px = Vec::with_capacity(size * size * 3);
    let mut owner = vec![-1i32; size * size];
    for y in 0..size {
        for x in 0..size {
            let (fy, fx) = (y as f64 + 0.5, x as f64 + 0.5);
            let mut c = background(y, x);
            for (d, disc) in discs.iter().enumerate() {
                if let Some(col) = disc.colour_at(fy, fx) {
                    c = col;
                    owner[y * size + x] = d as i32;
                }
            }
            px.extend(c.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    (px, owner)
}

/// A `size`×`size` scene with `targets` striped red discs and `distractors`
/// equally contrasted discs in other colours, at random non-overlapping
/// positions, on a synthetic background, and a 64×64 exemplar of a target
/// disc on a fresh background.
pub fn synthetic_scene(
    seed: u64,
    size: usize,
    targets: usize,
    distractors: usize,
) -> Result<Scene> {
    scene(seed, size, targets, distractors, None)
}

/// As [`synthetic_scene`], on a photograph (resized to `size`×`size`) as
/// background; the exemplar's background is a random 64×64 crop of it.
pub fn photo_scene(
    seed: u64,
    photo: &RgbImage,
    size: usize,
    targets: usize,
    distractors: usize,
) -> Result<Scene> {
    scene(seed, size, targets, distractors, Some(photo))
}

fn scene(
    seed: u64,
    size: usize,
    targets: usize,
    distractors: usize,
    photo: Option<&RgbImage>,
) -> Result<Scene> {
    if size < 128 {
        return Err(RelevanceError::Setting {
            name: "scene size".into(),
            value: size.to_string(),
            expected: "at least 128 pixels".into(),
        });
    }
    let mut rng = SplitMix64::new(seed);
    let s = size as f64;
    let mut discs: Vec<Disc> = Vec::new();
    let mut attempts = 0;
    while discs.len() < targets + distractors {
        attempts += 1;
        if attempts > 10_000 {
            return Err(RelevanceError::Setting {
                name: "objects".into(),
                value: (targets + distractors).to_string(),
                expected: format!("few enough to place without overlap in {size}×{size}"),
            });
        }
        let radius = rng.range(0.03, 0.045) * s;
        let cy = rng.range(radius + 2.0, s - radius - 2.0);
        let cx = rng.range(radius + 2.0, s - radius - 2.0);
        if discs
            .iter()
            .any(|d| (d.cy - cy).hypot(d.cx - cx) < d.radius + radius + 0.03 * s)
        {
            continue;
        }
        let colours = if discs.len() < targets {
            TARGET
        } else {
            DISTRACTORS[(rng.next_u64() % DISTRACTORS.len() as u64) as usize]
        };
        let angle = rng.range(0.0, std::f64::consts::PI);
        discs.push(Disc {
            cy,
            cx,
            radius,
            angle,
            colours,
        });
    }
    let phase = [
        rng.range(0.0, 6.0),
        rng.range(0.0, 6.0),
        rng.range(0.0, 6.0),
    ];
    let exemplar_disc = Disc {
        cy: 32.0,
        cx: 32.0,
        radius: 0.0375 * s,
        angle: rng.range(0.0, std::f64::consts::PI),
        colours: TARGET,
    };
    let (px, owner, ex_px) = match photo {
        None => {
            let (px, owner) = render(size, &discs, |y, x| {
                background(&mut rng, y as f64 + 0.5, x as f64 + 0.5, s, phase)
            });
            let (ex_px, _) = render(64, &[exemplar_disc], |y, x| {
                background(&mut rng, y as f64 + 0.5, x as f64 + 0.5, s, phase)
            });
            (px, owner, ex_px)
        }
        Some(photo) => {
            let mut bg = Vec::new();
            AreaResizer::new().resize_into(photo, size, size, &mut bg)?;
            let at = |y: usize, x: usize| {
                let i = 3 * (y * size + x);
                [bg[i] as f64, bg[i + 1] as f64, bg[i + 2] as f64]
            };
            let (px, owner) = render(size, &discs, at);
            let (oy, ox) = (
                (rng.unit() * (size - 64) as f64) as usize,
                (rng.unit() * (size - 64) as f64) as usize,
            );
            let (ex_px, _) = render(64, &[exemplar_disc], |y, x| at(oy + y, ox + x));
            (px, owner, ex_px)
        }
    };
    let target = owner
        .iter()
        .map(|&o| o >= 0 && (o as usize) < targets)
        .collect();
    Ok(Scene {
        image: RgbImage::new(size, size, px)?,
        target,
        exemplar: RgbImage::new(64, 64, ex_px)?,
    })
}

/// The photographs the benchmark uses as natural backgrounds: three of
/// scikit-image's sample images (astronaut — NASA, public domain; chelsea and
/// coffee — CC0), 320×320 JPEG, made by `scripts/relevance_photos.py`.
pub fn sample_photos() -> Result<Vec<RgbImage>> {
    [
        (
            "astronaut.jpg",
            &include_bytes!("../data/photos/astronaut.jpg")[..],
        ),
        (
            "chelsea.jpg",
            &include_bytes!("../data/photos/chelsea.jpg")[..],
        ),
        (
            "coffee.jpg",
            &include_bytes!("../data/photos/coffee.jpg")[..],
        ),
    ]
    .iter()
    .map(|(name, bytes)| RgbImage::decode(bytes, name))
    .collect()
}

/// Pixel bounds of patch row/column `i` of `grid` over `len` pixels.
fn bounds(i: usize, grid: usize, len: usize) -> (usize, usize) {
    (i * len / grid, (i + 1) * len / grid)
}

/// Area average of a `h`×`w` plane down to `oh`×`ow` (box filter with
/// fractional overlaps).
fn area_average(src: &[f64], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    let axis = |len: usize, out: usize| -> Vec<Vec<(usize, f64)>> {
        let scale = len as f64 / out as f64;
        (0..out)
            .map(|o| {
                let (a, b) = (o as f64 * scale, (o + 1) as f64 * scale);
                (a.floor() as usize..(b.ceil() as usize).min(len))
                    .map(|i| {
                        let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                        (i, overlap / scale)
                    })
                    .collect()
            })
            .collect()
    };
    let (ry, rx) = (axis(h, oh), axis(w, ow));
    let mut out = Vec::with_capacity(oh * ow);
    for wy in &ry {
        for wx in &rx {
            let mut v = 0.0;
            for &(y, a) in wy {
                for &(x, b) in wx {
                    v += a * b * src[y * w + x];
                }
            }
            out.push(v);
        }
    }
    out
}

/// The image as the tokens see it: each patch at `⌊√k⌋²` samples (area
/// averages), bilinearly upsampled back; `k = 0` gives the image's mean
/// colour; `⌊√k⌋` at least the patch size keeps the patch as it is.
pub fn reconstruct(image: &RgbImage, grid: usize, tokens: &[u32]) -> Result<RgbImage> {
    let (w, h) = (image.width(), image.height());
    if tokens.len() != grid * grid {
        return Err(RelevanceError::Shape {
            name: "tokens".into(),
            found: vec![tokens.len()],
            expected: format!(
                "[{}] (one per patch of the {grid}×{grid} grid)",
                grid * grid
            ),
        });
    }
    if grid == 0 || grid > w.min(h) {
        return Err(RelevanceError::Setting {
            name: "grid".into(),
            value: grid.to_string(),
            expected: format!("1 to {} for a {w}×{h} image", w.min(h)),
        });
    }
    let px = image.pixels();
    let n = (w * h) as f64;
    let mean: Vec<f64> = (0..3)
        .map(|c| px.iter().skip(c).step_by(3).map(|&v| v as f64).sum::<f64>() / n)
        .collect();
    let mut out = px.to_vec();
    for py in 0..grid {
        let (y0, y1) = bounds(py, grid, h);
        for pxi in 0..grid {
            let (x0, x1) = bounds(pxi, grid, w);
            let (ph, pw) = (y1 - y0, x1 - x0);
            let k = tokens[py * grid + pxi];
            let side = (k as f64).sqrt().floor() as usize;
            if side >= ph.max(pw) {
                continue;
            }
            for c in 0..3 {
                let values: Vec<f64> = if side == 0 {
                    vec![mean[c]; ph * pw]
                } else {
                    let plane: Vec<f64> = (y0..y1)
                        .flat_map(|y| (x0..x1).map(move |x| (y, x)))
                        .map(|(y, x)| px[3 * (y * w + x) + c] as f64)
                        .collect();
                    let small = area_average(&plane, ph, pw, side.min(ph), side.min(pw));
                    torch_bilinear(&small, side.min(ph), side.min(pw), 1, ph, pw)
                };
                for (j, v) in values.iter().enumerate() {
                    let (y, x) = (y0 + j / pw, x0 + j % pw);
                    out[3 * (y * w + x) + c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    RgbImage::new(w, h, out)
}

/// Peak signal-to-noise ratio in dB over the pixels where `mask` is true
/// (all pixels when `None`); infinite when they are identical.
pub fn psnr(a: &RgbImage, b: &RgbImage, mask: Option<&[bool]>) -> f64 {
    let mut se = 0.0;
    let mut count = 0usize;
    for (i, (pa, pb)) in a
        .pixels()
        .chunks_exact(3)
        .zip(b.pixels().chunks_exact(3))
        .enumerate()
    {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        for c in 0..3 {
            se += (pa[c] as f64 - pb[c] as f64).powi(2);
        }
        count += 3;
    }
    if count == 0 {
        return f64::NAN;
    }
    let mse = se / count as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Patches holding at least one target pixel.
pub fn target_patches(mask: &[bool], width: usize, height: usize, grid: usize) -> Vec<bool> {
    let mut t = vec![false; grid * grid];
    for y in 0..height {
        for x in 0..width {
            if mask[y * width + x] {
                t[(y * grid / height) * grid + x * grid / width] = true;
            }
        }
    }
    t
}

/// One method's result on one scene (or averaged over scenes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodResult {
    /// The method.
    pub method: String,
    /// Tokens it spent.
    pub tokens: u64,
    /// Share of its tokens on target patches.
    pub target_share: f64,
    /// PSNR over target pixels (dB).
    pub target_psnr: f64,
    /// PSNR over the whole image (dB).
    pub image_psnr: f64,
}

fn measure(
    scene: &Scene,
    grid: usize,
    method: &str,
    tokens: &[u32],
    on_target: &[bool],
) -> Result<MethodResult> {
    let rec = reconstruct(&scene.image, grid, tokens)?;
    let total: u64 = tokens.iter().map(|&t| t as u64).sum();
    let on: u64 = tokens
        .iter()
        .zip(on_target)
        .filter(|(_, &t)| t)
        .map(|(&k, _)| k as u64)
        .sum();
    Ok(MethodResult {
        method: method.into(),
        tokens: total,
        target_share: if total > 0 {
            on as f64 / total as f64
        } else {
            0.0
        },
        target_psnr: psnr(&scene.image, &rec, Some(&scene.target)),
        image_psnr: psnr(&scene.image, &rec, None),
    })
}

/// ARR-COC's allocation rule: the 200 patches with the highest mean of its
/// three scores (faithful propositional and perspectival; the participatory
/// score from the exemplar, as ARR-COC's own needs trained weights that do
/// not exist) each get `budget/200` tokens (at most 400).
pub fn arr_coc_top200(scene: &Scene, grid: usize, budget: u64) -> Result<Vec<u32>> {
    let texture = faithful(&scene.image, grid)?;
    let exemplar = Exemplar::new(
        &scene.exemplar,
        scene.image.width(),
        scene.image.height(),
        grid,
        TextureMode::Faithful,
    )?;
    let (info, sal, part) = (
        information_faithful(&texture),
        perspectival(&texture),
        exemplar.similarity(&texture)?,
    );
    let score: Vec<f64> = (0..grid * grid)
        .map(|i| (info[i] + sal[i] + part[i]) / 3.0)
        .collect();
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let chosen = order.len().min(200);
    let each = (budget / chosen as u64).min(400) as u32;
    let mut tokens = vec![0u32; score.len()];
    for &i in &order[..chosen] {
        tokens[i] = each;
    }
    Ok(tokens)
}

/// The methods compared on one scene at total `budget` (uniform gives every
/// patch `budget / patches` tokens; random spreads actinf's own token counts
/// over the patches in a random order).
pub fn compare(
    scene: &Scene,
    settings: &FrontEndSettings,
    budget: u64,
    seed: u64,
) -> Result<Vec<MethodResult>> {
    let grid = settings.grid;
    let n = grid * grid;
    let on_target = target_patches(
        &scene.target,
        scene.image.width(),
        scene.image.height(),
        grid,
    );
    let mut front = FrontEnd::new(settings.clone())?;
    let exemplar = Exemplar::new(
        &scene.exemplar,
        scene.image.width(),
        scene.image.height(),
        grid,
        settings.mode,
    )?;
    let actinf = front
        .run(
            &scene.image,
            &Query::Exemplar(exemplar),
            Budget::Total(budget),
        )?
        .allocation
        .tokens;
    let uniform = vec![(budget / n as u64) as u32; n];
    let top200 = arr_coc_top200(scene, grid, budget)?;
    let mut random = actinf.clone();
    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    for i in (1..n).rev() {
        random.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    Ok(vec![
        measure(scene, grid, "actinf", &actinf, &on_target)?,
        measure(scene, grid, "uniform", &uniform, &on_target)?,
        measure(scene, grid, "arr-coc top-200", &top200, &on_target)?,
        measure(scene, grid, "random", &random, &on_target)?,
    ])
}

/// One row of the quality table: a method at a budget, averaged over scenes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityRow {
    /// Which scenes: `synthetic` or `photo`.
    pub scenes: String,
    /// Total budget per image.
    pub budget: u64,
    /// The averaged result.
    pub result: MethodResult,
}

/// The benchmark: `scenes` synthetic scenes and one scene on each of
/// `photos` (768×768, 3 targets, 9 distractors); for each uniform level `u`
/// in `uniform_levels` the four methods at budget `u·N`, and actinf at a
/// quarter of it. Means over the scenes of each kind.
pub fn benchmark(
    settings: &FrontEndSettings,
    scenes: usize,
    photos: &[RgbImage],
    uniform_levels: &[u32],
) -> Result<Vec<QualityRow>> {
    for &level in uniform_levels {
        if !LEVELS.contains(&level) || level == 0 || level == 400 {
            return Err(RelevanceError::Setting {
                name: "uniform level".into(),
                value: level.to_string(),
                expected: "one of 64, 100, 144, 196, 256, 324".into(),
            });
        }
    }
    let n = (settings.grid * settings.grid) as u64;
    let mut rows: Vec<QualityRow> = Vec::new();
    let mut add = |kind: &str, budget: u64, r: MethodResult, count: f64| {
        if let Some(row) = rows
            .iter_mut()
            .find(|row| row.scenes == kind && row.budget == budget && row.result.method == r.method)
        {
            row.result.tokens += r.tokens;
            row.result.target_share += r.target_share / count;
            row.result.target_psnr += r.target_psnr / count;
            row.result.image_psnr += r.image_psnr / count;
        } else {
            rows.push(QualityRow {
                scenes: kind.into(),
                budget,
                result: MethodResult {
                    method: r.method,
                    tokens: r.tokens,
                    target_share: r.target_share / count,
                    target_psnr: r.target_psnr / count,
                    image_psnr: r.image_psnr / count,
                },
            });
        }
    };
    let mut all: Vec<(&str, u64, Scene, f64)> = Vec::new();
    for seed in 0..scenes as u64 {
        all.push((
            "synthetic",
            seed,
            synthetic_scene(seed, 768, 3, 9)?,
            scenes as f64,
        ));
    }
    for (j, photo) in photos.iter().enumerate() {
        let seed = 1000 + j as u64;
        all.push((
            "photo",
            seed,
            photo_scene(seed, photo, 768, 3, 9)?,
            photos.len() as f64,
        ));
    }
    for (kind, seed, scene, count) in &all {
        for &level in uniform_levels {
            let budget = level as u64 * n;
            for r in compare(scene, settings, budget, *seed)? {
                add(kind, budget, r, *count);
            }
            let quarter = budget / 4 / 4 * 4;
            let r = compare(scene, settings, quarter, *seed)?.remove(0);
            add(kind, quarter, r, *count);
        }
    }
    for row in &mut rows {
        let count = if row.scenes == "photo" {
            photos.len()
        } else {
            scenes
        };
        row.result.tokens /= count.max(1) as u64;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstruction_is_exact_at_full_tokens_and_flat_at_none() {
        let scene = synthetic_scene(1, 128, 1, 1).unwrap();
        let full = reconstruct(&scene.image, 8, &[400; 64]).unwrap();
        assert_eq!(full, scene.image);
        let none = reconstruct(&scene.image, 8, &[0; 64]).unwrap();
        let first = none.pixel(0, 0);
        assert!(none
            .pixels()
            .chunks(3)
            .all(|p| Some([p[0], p[1], p[2]]) == first));
        let some = reconstruct(&scene.image, 8, &[64; 64]).unwrap();
        assert!(psnr(&scene.image, &some, None) > psnr(&scene.image, &none, None));
    }

    #[test]
    fn area_average_preserves_the_mean() {
        let src: Vec<f64> = (0..35).map(|v| v as f64).collect();
        let out = area_average(&src, 5, 7, 2, 3);
        let m_in = src.iter().sum::<f64>() / 35.0;
        let m_out = out.iter().sum::<f64>() / 6.0;
        assert!((m_in - m_out).abs() < 1e-9);
    }

    #[test]
    fn sample_photos_decode() {
        let p = sample_photos().unwrap();
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|i| i.width() == 320 && i.height() == 320));
    }

    #[test]
    fn photo_scenes_keep_the_photo_around_the_discs() {
        let photo = RgbImage::new(40, 40, vec![77; 40 * 40 * 3]).unwrap();
        let s = photo_scene(4, &photo, 256, 1, 2).unwrap();
        assert_eq!(s.image.pixel(0, 0), Some([77, 77, 77]));
        assert!(s.target.iter().any(|&t| t));
        assert_eq!(s.exemplar.pixel(0, 0), Some([77, 77, 77]));
    }

    #[test]
    fn scenes_are_reproducible_and_have_targets() {
        let a = synthetic_scene(3, 256, 2, 3).unwrap();
        let b = synthetic_scene(3, 256, 2, 3).unwrap();
        assert_eq!(a.image, b.image);
        assert!(a.target.iter().any(|&t| t));
    }
}
