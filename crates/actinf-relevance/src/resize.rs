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

/// Resize one channel (row-major `height`×`width`) to `out_h`×`out_w` exactly
/// as `torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
/// antialias=False)` does: `y = (1−wy)·((1−wx)·a + wx·b) + wy·((1−wx)·c + wx·d)`.
/// Callers guarantee `src.len() == height·width` and non-zero sizes.
pub(crate) fn torch_bilinear(
    src: &[f64],
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f64> {
    debug_assert_eq!(src.len(), height * width);
    let rows = torch_axis(height, out_h);
    let cols = torch_axis(width, out_w);
    let mut out = Vec::with_capacity(out_h * out_w);
    for &(y0, y1, wy0, wy1) in &rows {
        let r0 = &src[y0 * width..(y0 + 1) * width];
        let r1 = &src[y1 * width..(y1 + 1) * width];
        for &(x0, x1, wx0, wx1) in &cols {
            out.push(wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]));
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
        let out = torch_bilinear(&src, 1, 4, 1, 2);
        assert_eq!(out, vec![0.5, 2.5]);
    }

    #[test]
    fn torch_bilinear_upsampling_clamps_at_edges() {
        // 2 → 4: x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (i1 clamped).
        let out = torch_bilinear(&[0.0, 4.0], 1, 2, 1, 4);
        assert_eq!(out, vec![0.0, 1.0, 3.0, 4.0]);
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
