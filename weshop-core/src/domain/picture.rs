//! Product pictures the shop stores and serves itself. An upload is never served as sent: the
//! server decodes it and re-encodes it into the two sizes below, so a picture's bytes are always
//! ones the shop produced (no polyglot files, no scripts in SVG, no oversized originals).

use std::fmt;

use super::{DomainError, ImageRef};

/// Where the shop serves its stored pictures: `/images/products/{id}/{size file}`.
pub const PICTURE_PATH: &str = "/images/products";

/// A stored picture's name: 32 lower-case hex digits (the server derives it from the upload's
/// content, so uploading the same file twice stores it once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PictureId(String);

impl PictureId {
    /// Length, in hex digits.
    pub const LENGTH: usize = 32;

    /// Parses a picture id.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.len() == Self::LENGTH
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::PictureId(text.chars().take(64).collect()))
        }
    }

    /// The id made of the first 16 bytes of a digest, in hex.
    pub fn from_digest(digest: &[u8]) -> Result<Self, DomainError> {
        Self::parse(&hex::encode(&digest[..digest.len().min(Self::LENGTH / 2)]))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path the shop serves one size of this picture at.
    pub fn image_ref(&self, size: PictureSize) -> ImageRef {
        ImageRef::parse(&format!("{PICTURE_PATH}/{}/{}", self.0, size.file_name()))
            .expect("a picture id and a size file name make a valid image path")
    }
}

impl fmt::Display for PictureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sizes every stored picture has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureSize {
    /// For result lists and carts (at most [`PictureSize::THUMBNAIL_EDGE`] pixels a side).
    Thumbnail,
    /// For the product page (at most [`PictureSize::LARGE_EDGE`] pixels a side).
    Large,
}

impl PictureSize {
    /// Longest side of a thumbnail, in pixels.
    pub const THUMBNAIL_EDGE: u32 = 320;
    /// Longest side of a large picture, in pixels.
    pub const LARGE_EDGE: u32 = 1200;

    /// The file name this size is served under.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Thumbnail => "thumb.jpg",
            Self::Large => "large.jpg",
        }
    }

    /// The size a served file name stands for.
    pub fn from_file_name(name: &str) -> Option<Self> {
        match name {
            "thumb.jpg" => Some(Self::Thumbnail),
            "large.jpg" => Some(Self::Large),
            _ => None,
        }
    }

    /// Longest side, in pixels.
    pub fn edge(self) -> u32 {
        match self {
            Self::Thumbnail => Self::THUMBNAIL_EDGE,
            Self::Large => Self::LARGE_EDGE,
        }
    }

    /// The thumbnail of a product image, when it is one of the shop's stored pictures (other
    /// images, such as the demo's generated ones, are their own thumbnail).
    pub fn thumbnail_of(image: &ImageRef) -> String {
        let large = format!("/{}", Self::Large.file_name());
        match image.as_str().strip_suffix(&large) {
            Some(base) if base.starts_with(PICTURE_PATH) => {
                format!("{base}/{}", Self::Thumbnail.file_name())
            }
            _ => image.as_str().to_string(),
        }
    }
}

/// A picture ready to store: both sizes, as JPEG bytes the shop encoded itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    /// Its name.
    pub id: PictureId,
    /// The thumbnail's JPEG bytes.
    pub thumbnail: Vec<u8>,
    /// The large picture's JPEG bytes.
    pub large: Vec<u8>,
}

impl Picture {
    /// Largest stored picture (both sizes together), in bytes: what a re-encoded 1200-pixel
    /// JPEG fits in with room to spare, and a bound on what one upload may store.
    pub const MAX_BYTES: usize = 4 * 1024 * 1024;

    /// Media type of every stored size.
    pub const MEDIA_TYPE: &'static str = "image/jpeg";

    /// The bytes of one size.
    pub fn bytes(&self, size: PictureSize) -> &[u8] {
        match size {
            PictureSize::Thumbnail => &self.thumbnail,
            PictureSize::Large => &self.large,
        }
    }
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Picture")
            .field("id", &self.id)
            .field("thumbnail", &self.thumbnail.len())
            .field("large", &self.large.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lower_hex_digits() {
        assert!(PictureId::parse("0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdeg",
            "../../../../etc/passwd/aaaaaaaaa",
        ] {
            assert!(PictureId::parse(bad).is_err(), "{bad:?}");
        }
        let id = PictureId::from_digest(&[0xab; 32]).unwrap();
        assert_eq!(id.as_str(), "ab".repeat(16));
    }

    #[test]
    fn stored_pictures_have_a_thumbnail_and_others_are_their_own() {
        let id = PictureId::parse("0123456789abcdef0123456789abcdef").unwrap();
        let large = id.image_ref(PictureSize::Large);
        assert_eq!(
            large.as_str(),
            "/images/products/0123456789abcdef0123456789abcdef/large.jpg"
        );
        assert_eq!(
            PictureSize::thumbnail_of(&large),
            "/images/products/0123456789abcdef0123456789abcdef/thumb.jpg"
        );
        let demo = ImageRef::parse("/images/demo/3.svg").unwrap();
        assert_eq!(PictureSize::thumbnail_of(&demo), "/images/demo/3.svg");
        let elsewhere = ImageRef::parse("/static/x/large.jpg").unwrap();
        assert_eq!(PictureSize::thumbnail_of(&elsewhere), "/static/x/large.jpg");
        for size in [PictureSize::Thumbnail, PictureSize::Large] {
            assert_eq!(PictureSize::from_file_name(size.file_name()), Some(size));
        }
        assert_eq!(PictureSize::from_file_name("large.png"), None);
    }
}
