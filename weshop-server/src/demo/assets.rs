//! The demo's assets: product pictures generated on request (a coloured tile with the
//! product's initials), so the demo needs no files. The demo mounts them on its server
//! through [`AppOptions`].

use poem::{
    Response, get, handler,
    http::{StatusCode, header},
    web::Path,
};

use super::catalog::{CATALOG, PICTURES};
use crate::app::AppOptions;

/// The server options that serve the demo's pictures at `/images/demo/N.svg`.
pub fn app_options() -> AppOptions {
    AppOptions::new().route(&format!("{PICTURES}/:file"), get(demo_image))
}

/// Serves a demo product picture: a coloured tile with the product's number (images are
/// generated, so the demo needs no files).
#[handler]
pub fn demo_image(Path(file): Path<String>) -> Response {
    let Some(number) = file
        .strip_suffix(".svg")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=CATALOG.len()).contains(n))
    else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("application/problem+json")
            .body(r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no such image"}"#);
    };
    let (name, ..) = CATALOG[number - 1];
    let hue = (number * 47) % 360;
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .collect();
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240"><rect width="240" height="240" rx="24" fill="hsl({hue},55%,55%)"/><text x="120" y="140" font-family="sans-serif" font-size="72" text-anchor="middle" fill="white">{initials}</text></svg>"#
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "image/svg+xml")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(svg)
}
