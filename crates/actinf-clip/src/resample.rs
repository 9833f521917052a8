//! Bilinear resampling of channels-last grids, exactly as PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`.
//!
//! Along each axis, output index `i` of `out` reads source coordinate
//! `s = max((i + ½)·in/out − ½, 0)`, between `i₀ = ⌊s⌋` and
//! `i₁ = min(i₀ + 1, in − 1)` with weights `1 − (s − i₀)` and `s − i₀`;
//! the 2-D value is the product of the two axes' interpolations. The same
//! routine resizes the RGB image to the ViT's input and the ViT's patch
//! features to the allocation grid.

/// One axis: for each output index, `(i₀, i₁, w₀, w₁)`.
fn axis(input: usize, output: usize) -> Vec<(usize, usize, f64, f64)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|i| {
            let s = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            let w1 = s - i0 as f64;
            (i0, i1, 1.0 - w1, w1)
        })
        .collect()
}

/// Resize `src` (`height × width × channels`, row-major, channels last) to
/// `out_h × out_w × channels`, computing in f64 (`src` may be bytes or
/// floats; only the four neighbours of each output are read). Sizes must be
/// non-zero and `src` must hold `height·width·channels` values; otherwise
/// the result is empty.
pub fn bilinear<T: Copy + Into<f64>>(
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
    let rows = axis(height, out_h);
    let cols = axis(width, out_w);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_pairs_per_channel() {
        // 1×4×2 → 1×2×2: samples at 0.5 and 2.5.
        let src = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 3.0, 13.0];
        assert_eq!(bilinear(&src, 1, 4, 2, 1, 2), vec![0.5, 10.5, 2.5, 12.5]);
    }

    #[test]
    fn upsampling_clamps_at_the_edges() {
        assert_eq!(
            bilinear(&[0.0, 4.0], 1, 2, 1, 1, 4),
            vec![0.0, 1.0, 3.0, 4.0]
        );
    }

    #[test]
    fn identity_size_is_a_copy_and_bad_sizes_give_nothing() {
        let src: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(bilinear(&src, 2, 2, 3, 2, 2), src);
        assert!(bilinear(&src, 2, 2, 2, 2, 2).is_empty());
        assert!(bilinear(&src, 2, 2, 3, 0, 2).is_empty());
    }
}
