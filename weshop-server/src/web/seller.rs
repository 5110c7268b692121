//! The seller's pages: their products with stock per warehouse (on hand, incoming, reserved)
//! and a low-stock badge, restocking from the world, and promotions to customers (with the
//! ones sent and how many each reached).

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;
use weshop_core::{
    domain::{PictureSize, Quantity, WarehouseId},
    shop::{SellerProduct, ShopError},
};

use super::{
    PageResult,
    layout::{Layout, State, Viewer, form_viewer, price, require_viewer, when, words},
    orders::label_href,
    product_in_path, see_other, sentence, shop_error,
};

/// One product row of the dashboard.
pub struct ProductRow {
    /// Its page.
    pub href: String,
    /// Its id (for the restock form).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its main picture's thumbnail.
    pub image: Option<String>,
    /// Its price.
    pub price: String,
    /// Per warehouse: id, on hand, incoming, reserved.
    pub stock: Vec<(i32, u64, u64, u64)>,
    /// Units that can still be sold.
    pub available: u64,
    /// Under the shop's low-stock threshold.
    pub low: bool,
}

/// One recent order with the seller's products.
pub struct SaleRow {
    /// The order's number.
    pub id: i64,
    /// When it was placed.
    pub placed: String,
    /// Its status in words.
    pub status: String,
    /// The seller's lines, in words ("2 × Blue mug").
    pub lines: Vec<String>,
    /// Their sum.
    pub amount: String,
    /// Its package's shipping label, once it has one.
    pub label: Option<String>,
}

/// A promotion the seller sent.
pub struct CampaignRow {
    /// When it went out.
    pub sent: String,
    /// What it said.
    pub text: String,
    /// How many customers it reached.
    pub recipients: u64,
    /// False while it is still going out.
    pub complete: bool,
}

/// Orders shown on the dashboard.
pub const RECENT_SALES: usize = 10;

/// Promotions shown on the dashboard.
pub const RECENT_CAMPAIGNS: usize = 10;

/// `/seller`.
#[derive(Template, WebTemplate)]
#[template(path = "seller.html")]
pub struct SellerPage {
    layout: Layout,
    products: Vec<ProductRow>,
    sales: Vec<SaleRow>,
    /// Delivered, on its way, units delivered, orders counted.
    revenue: String,
    in_progress: String,
    units: u64,
    orders: usize,
    campaigns: Vec<CampaignRow>,
    /// What happened last (a restock refused, a promotion sent), in words.
    notice: Option<String>,
    error: Option<String>,
}

fn row(p: SellerProduct) -> ProductRow {
    ProductRow {
        href: format!("/products/{}", p.product.id),
        id: p.product.id.get(),
        name: p.product.name.to_string(),
        image: p.product.images.first().map(PictureSize::thumbnail_of),
        price: price(p.product.price),
        stock: p
            .stock
            .iter()
            .map(|(w, s)| (w.get(), s.on_hand(), s.incoming(), s.reserved()))
            .collect(),
        available: p.available,
        low: p.low_stock,
    }
}

async fn page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    notice: Option<String>,
    error: Option<String>,
) -> poem::Result<SellerPage> {
    let products = state
        .shop
        .seller_products(viewer.user.id)
        .await
        .map_err(shop_error)?
        .into_iter()
        .map(row)
        .collect();
    let sales = state
        .shop
        .seller_sales(viewer.user.id, RECENT_SALES)
        .await
        .map_err(shop_error)?;
    let campaigns = state
        .shop
        .campaigns(viewer.user.id, RECENT_CAMPAIGNS)
        .await
        .map_err(shop_error)?
        .into_iter()
        .map(|c| CampaignRow {
            sent: when(c.at),
            text: c.text.to_string(),
            recipients: c.recipients,
            complete: c.sent,
        })
        .collect();
    Ok(SellerPage {
        layout: Layout::new(state, req, Some(viewer)),
        products,
        sales: sales
            .recent
            .iter()
            .map(|sale| SaleRow {
                id: sale.order.get(),
                placed: when(sale.placed_at),
                status: words(sale.status.as_str()),
                lines: sale
                    .lines
                    .iter()
                    .map(|l| format!("{} × {}", l.quantity.get(), l.name))
                    .collect(),
                amount: price(sale.amount),
                label: sale.has_label.then(|| label_href(sale.order)),
            })
            .collect(),
        revenue: price(sales.revenue),
        in_progress: price(sales.in_progress),
        units: sales.units,
        orders: sales.orders,
        campaigns,
        notice,
        error,
    })
}

/// `GET /seller`: a customer who is not a seller gets a 403 page.
#[handler]
pub async fn dashboard(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    Ok(page(&state, req, &viewer, None, None)
        .await?
        .into_response())
}

/// A restock.
#[derive(Debug, Deserialize)]
pub struct RestockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    warehouse: String,
    #[serde(default)]
    quantity: String,
}

/// `POST /seller/products/{id}/restock`: buys units from the world; they show as incoming
/// until they arrive.
#[handler]
pub async fn restock(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Form<RestockForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let product = product_in_path(&id)?;
    let parsed = (|| {
        let warehouse = form
            .warehouse
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(|w| WarehouseId::new(w).ok())
            .ok_or_else(|| ShopError::BadRequest("choose a warehouse".into()))?;
        let quantity = form
            .quantity
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|q| Quantity::new(q).ok())
            .ok_or_else(|| ShopError::BadRequest("the quantity is a whole number from 1".into()))?;
        Ok::<_, ShopError>((warehouse, quantity))
    })();
    let result = match parsed {
        Ok((warehouse, quantity)) => {
            state
                .shop
                .restock(viewer.user.id, product, warehouse, quantity)
                .await
        }
        Err(error) => Err(error),
    };
    refused_or_back(&state, req, &viewer, result.map(drop)).await
}

/// A promotion.
#[derive(Debug, Deserialize)]
pub struct PromotionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// `POST /seller/promotions`: sends the text to the shop's customers.
#[handler]
pub async fn promote(state: Data<&State>, req: &Request, form: Form<PromotionForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    match state.shop.promote(viewer.user.id, &form.text).await {
        Ok(sent) => {
            let notice = format!(
                "Promotion sent to {}.",
                crate::notices::plural(sent, "customer")
            );
            Ok(page(&state, req, &viewer, Some(notice), None)
                .await?
                .into_response())
        }
        Err(error) => refused_or_back(&state, req, &viewer, Err(error)).await,
    }
}

/// Back to the dashboard, or the dashboard with the reason in words.
async fn refused_or_back(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    result: Result<(), ShopError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other("/seller")),
        Err(
            error @ (ShopError::Invalid(_)
            | ShopError::BadRequest(_)
            | ShopError::NotFound(_)
            | ShopError::TooMany { .. }),
        ) => {
            let status = match error {
                ShopError::NotFound(_) => StatusCode::NOT_FOUND,
                ShopError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = Some(sentence(&error.to_string()));
            Ok(page(state, req, viewer, None, message)
                .await?
                .with_status(status)
                .into_response())
        }
        Err(error) => Err(shop_error(error)),
    }
}
