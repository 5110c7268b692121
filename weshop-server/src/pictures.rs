//! Turning an uploaded picture into the shop's own: the type is sniffed from the bytes (never
//! the file name or the declared type), the image is decoded under size limits, flattened onto
//! white and re-encoded as JPEG in the shop's two sizes. Nothing of the upload but its pixels
//! survives, so no uploaded bytes are ever served.

use std::io::Cursor;

use image::{
    DynamicImage, ImageFormat, ImageReader, Limits, Rgb, RgbImage, codecs::jpeg::JpegEncoder,
    imageops::FilterType,
};
use sha2::{Digest, Sha256};
use weshop_core::domain::{Picture, PictureId, PictureSize};

/// The largest picture upload accepted, in bytes (the body limit of the upload routes).
pub const MAX_UPLOAD_BYTES: u64 = 8 * 1024 * 1024;

/// Widest or tallest picture decoded, in pixels: a small file cannot claim a huge canvas.
pub const MAX_EDGE: u32 = 8_000;

/// Most memory one decode may take, in bytes.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// JPEG quality of the stored sizes.
const QUALITY: u8 = 85;

/// Why an upload is not a picture the shop takes; the message is fit to show the seller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// Nothing was uploaded.
    #[error("the picture file is empty")]
    Empty,
    /// Over [`MAX_UPLOAD_BYTES`].
    #[error("the picture is larger than {} MiB", MAX_UPLOAD_BYTES / (1024 * 1024))]
    TooLarge,
    /// Not PNG, JPEG, GIF or WebP by its content.
    #[error("the file is not a PNG, JPEG, GIF or WebP picture")]
    UnknownType,
    /// Wider or taller than [`MAX_EDGE`], or needing too much memory.
    #[error("the picture is larger than {MAX_EDGE} × {MAX_EDGE} pixels")]
    TooManyPixels,
    /// The bytes do not decode.
    #[error("the picture could not be read: it is damaged or incomplete")]
    Damaged,
}

/// The formats taken, by what the bytes start with.
fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {
            Some(format)
        }
        _ => None,
    }
}

/// Decodes `upload` and re-encodes it into a [`Picture`] named by the upload's SHA-256.
/// CPU-bound: call it off the async workers (`spawn_blocking`).
pub fn reencode(upload: &[u8]) -> Result<Picture, PictureError> {
    if upload.is_empty() {
        return Err(PictureError::Empty);
    }
    if upload.len() as u64 > MAX_UPLOAD_BYTES {
        return Err(PictureError::TooLarge);
    }
    let format = sniff(upload).ok_or(PictureError::UnknownType)?;
    let mut reader = ImageReader::with_format(Cursor::new(upload), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => PictureError::TooManyPixels,
        _ => PictureError::Damaged,
    })?;
    let flat = on_white(&image);
    let id =
        PictureId::from_digest(&Sha256::digest(upload)).expect("a SHA-256 digest names a picture");
    Ok(Picture {
        id,
        thumbnail: jpeg(&fit(&flat, PictureSize::Thumbnail.edge())),
        large: jpeg(&fit(&flat, PictureSize::Large.edge())),
    })
}

/// The image with any transparency laid over white (JPEG has no alpha).
fn on_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (x, y, pixel) in rgba.enumerate_pixels() {
        let [r, g, b, a] = pixel.0;
        let a = u16::from(a);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        out.put_pixel(x, y, Rgb([blend(r), blend(g), blend(b)]));
    }
    out
}

/// The image scaled down (never up) so its longest side is at most `edge`.
fn fit(image: &RgbImage, edge: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if w <= edge && h <= edge {
        return image.clone();
    }
    let scale = f64::from(edge) / f64::from(w.max(h));
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    image::imageops::resize(image, nw, nh, FilterType::Triangle)
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(image)
        .expect("encoding an RGB image into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use image::{ImageEncoder, RgbaImage, codecs::png::PngEncoder};

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                128,
                if x < 4 { 0 } else { 255 },
            ])
        });
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(&image, width, height, image::ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn decoded(bytes: &[u8]) -> DynamicImage {
        assert_eq!(image::guess_format(bytes).unwrap(), ImageFormat::Jpeg);
        image::load_from_memory(bytes).unwrap()
    }

    #[test]
    fn a_png_becomes_two_jpegs_scaled_down_and_flattened() {
        let upload = png(1600, 800);
        let picture = reencode(&upload).unwrap();
        let thumb = decoded(&picture.thumbnail);
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
        let large = decoded(&picture.large);
        assert_eq!((large.width(), large.height()), (1200, 600));
        // The transparent left edge is white now.
        let corner = large.to_rgb8().get_pixel(0, 300).0;
        assert!(corner.iter().all(|c| *c > 240), "{corner:?}");
        // Same upload, same id; another upload, another id.
        assert_eq!(reencode(&upload).unwrap().id, picture.id);
        assert_ne!(reencode(&png(1600, 801)).unwrap().id, picture.id);
    }

    #[test]
    fn small_pictures_are_not_scaled_up() {
        let picture = reencode(&png(40, 30)).unwrap();
        let large = decoded(&picture.large);
        assert_eq!((large.width(), large.height()), (40, 30));
    }

    #[test]
    fn anything_else_is_refused_in_words() {
        assert_eq!(reencode(b""), Err(PictureError::Empty));
        assert_eq!(
            reencode(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
            Err(PictureError::UnknownType)
        );
        // A GIF signature with garbage after it (which reads as a 28526-pixel-wide canvas).
        assert!(matches!(
            reencode(b"GIF89a not really"),
            Err(PictureError::Damaged | PictureError::TooManyPixels)
        ));
        let mut cut = png(64, 64);
        cut.truncate(cut.len() / 2);
        assert_eq!(reencode(&cut), Err(PictureError::Damaged));
        // A PNG header claiming 100000 × 100000 pixels.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(
            reencode(&bomb),
            Err(PictureError::TooManyPixels | PictureError::Damaged)
        ));
        let big = vec![0x89u8; MAX_UPLOAD_BYTES as usize + 1];
        assert_eq!(reencode(&big), Err(PictureError::TooLarge));
    }
}
