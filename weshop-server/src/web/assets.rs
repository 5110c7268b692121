//! Static assets embedded in the binary, served under `/static` with `Cache-Control`.

use poem::{
    Endpoint, IntoResponse, Response, Route, get, handler,
    http::{StatusCode, header},
    web::Path,
};

/// The shop's stylesheet.
pub const CSS: &str = include_str!("../../static/shop.css");
/// The logo.
pub const LOGO: &str = include_str!("../../static/logo.svg");
/// The favicon.
pub const FAVICON: &str = include_str!("../../static/favicon.svg");
/// htmx 2.0.x, vendored from the npm registry.
pub const HTMX: &str = include_str!("../../static/vendor/htmx.min.js");
/// htmx's SSE extension, vendored from the npm registry.
pub const HTMX_SSE: &str = include_str!("../../static/vendor/sse.min.js");

/// One embedded file: its body and media type.
fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "shop.css" => (CSS, "text/css; charset=utf-8"),
        "logo.svg" => (LOGO, "image/svg+xml"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        "vendor/htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "vendor/sse.min.js" => (HTMX_SSE, "text/javascript; charset=utf-8"),
        _ => return None,
    })
}

#[handler]
fn serve(Path(path): Path<String>) -> poem::Result<Response> {
    let (body, media_type) =
        asset(&path).ok_or_else(|| poem::Error::from_status(StatusCode::NOT_FOUND))?;
    Ok(body
        .with_content_type(media_type)
        .with_header(header::CACHE_CONTROL, "public, max-age=86400")
        .into_response())
}

/// `/static/*path`.
pub fn routes() -> impl Endpoint + 'static {
    Route::new().at("/*path", get(serve))
}
