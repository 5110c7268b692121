//! The stored product pictures, served at `/images/products/{id}/{thumb,large}.jpg`.
//!
//! A picture's id is derived from its content, so its bytes never change: browsers and
//! proxies may keep it for a year without asking again.

use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};
use weshop_core::{
    domain::{Picture, PictureId, PictureSize},
    shop::ShopError,
};

use super::{PageResult, fail, layout::State, shop_error};

/// `GET /images/products/{id}/{file}`.
#[handler]
pub async fn product_picture(
    state: Data<&State>,
    Path((id, file)): Path<(String, String)>,
) -> PageResult {
    let missing = || fail(StatusCode::NOT_FOUND, "no such picture");
    let id = PictureId::parse(&id).map_err(|_| missing())?;
    let size = PictureSize::from_file_name(&file).ok_or_else(missing)?;
    match state.shop.picture(&id, size).await {
        Ok(bytes) => Ok(Response::builder()
            .header(header::CONTENT_TYPE, Picture::MEDIA_TYPE)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header(header::ETAG, format!("\"{id}-{file}\""))
            .body(bytes)
            .into_response()),
        Err(ShopError::NotFound(_)) => Err(missing()),
        Err(error) => Err(shop_error(error)),
    }
}
