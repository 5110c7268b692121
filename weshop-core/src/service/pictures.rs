//! Product pictures: a seller stores one (already re-encoded by the caller into the shop's
//! sizes) and gets the path to put in a product; anyone may fetch a stored picture.

use crate::domain::{ImageRef, Picture, PictureId, PictureSize, UserId};
use crate::shop::ShopError;
use crate::store::Store;

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::add_picture`].
    pub(super) async fn add_picture_impl(
        &self,
        seller: UserId,
        picture: Picture,
    ) -> Result<ImageRef, ShopError> {
        self.seller(seller).await?;
        if picture.thumbnail.is_empty() || picture.large.is_empty() {
            return Err(ShopError::BadRequest("the picture is empty".into()));
        }
        if picture.thumbnail.len() + picture.large.len() > Picture::MAX_BYTES {
            return Err(ShopError::BadRequest(format!(
                "the picture takes more than {} MiB",
                Picture::MAX_BYTES / (1024 * 1024)
            )));
        }
        self.store.put_picture(&picture).await?;
        Ok(picture.id.image_ref(PictureSize::Large))
    }

    /// See [`crate::shop::Shop::picture`].
    pub(super) async fn picture_impl(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Vec<u8>, ShopError> {
        self.store
            .picture(id, size)
            .await?
            .ok_or_else(|| ShopError::NotFound(format!("picture {id}")))
    }
}
