//! Resampling: PyTorch's bilinear interpolation by hand (the `faithful`
//! mode) and an antialiased resize for the default pipeline.
//!
//! ARR-COC resizes with `F.interpolate(mode="bilinear", align_corners=False)`
//! and no antialiasing. Shrinking 512 → 32 that way reads only 2×2 of each
//! 16×16 block, so it aliases; the faithful mode keeps that behaviour on
//! purpose, the default pipeline averages whole areas instead.

use fast_image_resize as fr;

use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;

/// One axis of PyTorch's bilinear sampling: for each output index, the two
/// source indices and their weights.
///
/// Source coordinate `x = (i + ½)·in/out − ½`, clamped below at 0 (PyTorch's
/// `area_pixel_compute_source_index` with `align_corners=False`); then
/// `i0 = ⌊x⌋`, `i1 = min(i0 + 1, in − 1)`, weights `1 − (x − i0)` and `x − i0`.
fn torch_axis(input: usize, output: usize) -> Vec<(usize, usize, f64, f64)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|i| {
            let x = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (x.floor() as usize).min(input - 1);
            let i1 = if i0 + 1 < input { i0 + 1 } else { i0 };
            let w1 = x - i0 as f64;
            (i0, i1, 1.0 - w1, w1)
        })
        .collect()
}

/// Resize `src` (`height`×`width`×`channels`, row-major, channels last;
/// bytes or floats) to `out_h`×`out_w`×`channels` exactly as
/// `torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
/// antialias=False)` does, computing in f64:
/// `y = (1−wy)·((1−wx)·a + wx·b) + wy·((1−wx)·c + wx·d)` per channel.
/// Sizes must be non-zero and `src` must hold `height·width·channels`
/// values; otherwise the result is empty.
pub fn torch_bilinear<T: Copy + Into<f64>>(
    src: &[T],
    height: usize,
    width: usize,
    channels: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f64> {
    let sizes_ok = [height, width, channels, out_h, out_w]
        .iter()
        .all(|&n| n > 0);
    if !sizes_ok
        || height
            .checked_mul(width)
            .and_then(|n| n.checked_mul(channels))
            != Some(src.len())
    {
        return Vec::new();
    }
    let rows = torch_axis(height, out_h);
    let cols = torch_axis(width, out_w);
    let at = |y: usize, x: usize| &src[(y * width + x) * channels..(y * width + x + 1) * channels];
    let mut out = Vec::with_capacity(out_h * out_w * channels);
    for &(y0, y1, wy0, wy1) in &rows {
        for &(x0, x1, wx0, wx1) in &cols {
            let (a, b, c, d) = (at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1));
            for k in 0..channels {
                let (a, b, c, d) = (a[k].into(), b[k].into(), c[k].into(), d[k].into());
                out.push(wy0 * (wx0 * a + wx1 * b) + wy1 * (wx0 * c + wx1 * d));
            }
        }
    }
    out
}

/// An antialiased RGB resizer (convolution with a bilinear kernel widened by
/// the scale factor, via `fast_image_resize`), keeping its buffers between
/// calls.
pub struct AreaResizer {
    resizer: fr::Resizer,
    options: fr::ResizeOptions,
}

impl Default for AreaResizer {
    fn default() -> Self {
        Self::new()
    }
}

impl AreaResizer {
    /// A resizer with the bilinear convolution filter.
    pub fn new() -> Self {
        Self {
            resizer: fr::Resizer::new(),
            options: fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)),
        }
    }

    /// Resize `image` to `width`×`height` into `out` (replaced; 3 bytes per
    /// pixel). An image already of that size is copied.
    pub fn resize_into(
        &mut self,
        image: &RgbImage,
        width: usize,
        height: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.clear();
        if image.width() == width && image.height() == height {
            out.extend_from_slice(image.pixels());
            return Ok(());
        }
        let fail = |e: &dyn std::fmt::Display| RelevanceError::BadImage {
            name: "resize".into(),
            reason: e.to_string(),
        };
        let src = fr::images::ImageRef::new(
            image.width() as u32,
            image.height() as u32,
            image.pixels(),
            fr::PixelType::U8x3,
        )
        .map_err(|e| fail(&e))?;
        out.resize(width * height * 3, 0);
        let mut dst = fr::images::Image::from_slice_u8(
            width as u32,
            height as u32,
            out.as_mut_slice(),
            fr::PixelType::U8x3,
        )
        .map_err(|e| fail(&e))?;
        self.resizer
            .resize(&src, &mut dst, &self.options)
            .map_err(|e| fail(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_bilinear_halving_averages_pairs() {
        // 4 → 2 with align_corners=False samples at 0.5 and 2.5.
        let src = [0.0, 1.0, 2.0, 3.0];
        let out = torch_bilinear(&src, 1, 4, 1, 1, 2);
        assert_eq!(out, vec![0.5, 2.5]);
    }

    #[test]
    fn torch_bilinear_upsampling_clamps_at_edges() {
        // 2 → 4: x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (i1 clamped).
        let out = torch_bilinear(&[0.0, 4.0], 1, 2, 1, 1, 4);
        assert_eq!(out, vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn torch_bilinear_works_per_channel_and_refuses_bad_sizes() {
        // 1×4×2 → 1×2×2: samples at 0.5 and 2.5 in each channel.
        let src = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 3.0, 13.0];
        assert_eq!(
            torch_bilinear(&src, 1, 4, 2, 1, 2),
            vec![0.5, 10.5, 2.5, 12.5]
        );
        let bytes: Vec<u8> = (0..12).collect();
        let same = torch_bilinear(&bytes, 2, 2, 3, 2, 2);
        assert_eq!(same, (0..12).map(f64::from).collect::<Vec<_>>());
        assert!(torch_bilinear(&bytes, 2, 2, 2, 2, 2).is_empty());
        assert!(torch_bilinear(&bytes, 2, 2, 3, 0, 2).is_empty());
    }

    #[test]
    fn area_resizer_keeps_a_flat_image_flat() {
        let img = RgbImage::new(40, 30, [10u8, 200, 90].repeat(1200)).unwrap();
        let mut out = Vec::new();
        AreaResizer::new()
            .resize_into(&img, 16, 16, &mut out)
            .unwrap();
        assert_eq!(out.len(), 16 * 16 * 3);
        assert!(out.chunks(3).all(|p| p == [10, 200, 90]));
    }
}
