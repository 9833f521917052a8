//! Decoded RGB images and the bounded decoder.
//!
//! The crate works on 8-bit RGB pixels in row-major order. Decoding goes
//! through `image` with explicit limits: a PNG header may claim 60000×60000
//! pixels, and without limits the decoder would try to allocate it.

use std::io::Cursor;

use crate::error::{RelevanceError, Result};

/// The largest width or height the decoder accepts (8K is 7680 wide).
pub const MAX_SIDE: u32 = 16_384;
/// The most bytes the decoder may allocate for one image.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// An 8-bit RGB image, row-major, three bytes per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl RgbImage {
    /// Wrap a pixel buffer; it must hold `width * height * 3` bytes and the
    /// image must not be empty.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(RelevanceError::BadImage {
                name: "pixels".into(),
                reason: format!("empty image ({width}×{height}); expected at least 1×1 pixel"),
            });
        }
        let expected = width.checked_mul(height).and_then(|n| n.checked_mul(3));
        if expected != Some(pixels.len()) {
            return Err(RelevanceError::BadImage {
                name: "pixels".into(),
                reason: format!(
                    "buffer of {} bytes for {width}×{height} RGB, expected {}",
                    pixels.len(),
                    width.saturating_mul(height).saturating_mul(3)
                ),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Decode PNG or JPEG bytes (any colour type is converted to 8-bit RGB;
    /// alpha is dropped). `name` labels the input in errors.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Self> {
        let fail = |reason: String| RelevanceError::ImageDecode {
            name: name.to_string(),
            reason,
        };
        if bytes.is_empty() {
            return Err(fail("the file is empty".into()));
        }
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| fail(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
        let rgb = decoded.into_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        Self::new(w, h, rgb.into_raw()).map_err(|e| match e {
            RelevanceError::BadImage { reason, .. } => RelevanceError::BadImage {
                name: name.to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Encode as PNG.
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        image::RgbImage::from_raw(self.width as u32, self.height as u32, self.pixels.clone())
            .ok_or_else(|| RelevanceError::BadImage {
                name: "png".into(),
                reason: "buffer does not match the size".into(),
            })?
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .map_err(|e| RelevanceError::BadImage {
                name: "png".into(),
                reason: e.to_string(),
            })?;
        Ok(out)
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The interleaved RGB bytes, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixel at row `y`, column `x` (`None` outside the image).
    pub fn pixel(&self, y: usize, x: usize) -> Option<[u8; 3]> {
        if y >= self.height || x >= self.width {
            return None;
        }
        let i = 3 * (y * self.width + x);
        Some([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]])
    }

    /// A copy of the rectangle at (`top`, `left`) of `height`×`width`
    /// pixels; it must lie inside the image.
    pub fn crop(&self, top: usize, left: usize, height: usize, width: usize) -> Result<Self> {
        if top + height > self.height || left + width > self.width {
            return Err(RelevanceError::BadImage {
                name: "crop".into(),
                reason: format!(
                    "rectangle rows {top}..{} × columns {left}..{} outside the {}×{} image",
                    top + height,
                    left + width,
                    self.width,
                    self.height
                ),
            });
        }
        let mut pixels = Vec::with_capacity(3 * width * height);
        for y in top..top + height {
            let start = 3 * (y * self.width + left);
            pixels.extend_from_slice(&self.pixels[start..start + 3 * width]);
        }
        Self::new(width, height, pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_png() {
        let img = RgbImage::decode(&png_bytes(5, 3), "t.png").unwrap();
        assert_eq!((img.width(), img.height()), (5, 3));
        assert_eq!(img.pixel(2, 4), Some([4, 2, 7]));
        assert_eq!(img.pixel(3, 0), None);
        let again = RgbImage::decode(&img.encode_png().unwrap(), "again.png").unwrap();
        assert_eq!(again, img);
    }

    #[test]
    fn rejects_empty_and_garbage() {
        assert!(matches!(
            RgbImage::decode(&[], "e.png"),
            Err(RelevanceError::ImageDecode { .. })
        ));
        assert!(matches!(
            RgbImage::decode(b"not an image at all", "g.png"),
            Err(RelevanceError::ImageDecode { .. })
        ));
        assert!(RgbImage::new(0, 4, vec![]).is_err());
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_err());
    }

    #[test]
    fn rejects_a_header_claiming_a_huge_image() {
        // A valid PNG whose IHDR claims 60000×60000: patch the size fields
        // (and the IHDR checksum) of a real 1×1 PNG.
        let mut bytes = png_bytes(1, 1);
        bytes[16..20].copy_from_slice(&60000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = RgbImage::decode(&bytes, "huge.png").unwrap_err();
        assert!(matches!(err, RelevanceError::ImageDecode { .. }), "{err}");
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crops() {
        let img = RgbImage::decode(&png_bytes(6, 4), "t.png").unwrap();
        let c = img.crop(1, 2, 2, 3).unwrap();
        assert_eq!(c.pixel(0, 0), Some([2, 1, 7]));
        assert!(img.crop(3, 0, 2, 1).is_err());
    }
}
