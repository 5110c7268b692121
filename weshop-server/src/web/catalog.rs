//! The catalog pages: home, search and one product.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use weshop_core::{
    domain::{Category, Money, PictureSize, Product, ProductId, Quantity},
    shop::QuoteFor,
    store::{ProductQuery, ProductSort},
};

use super::{
    PageResult,
    layout::{Layout, State, encode, price, viewer, words},
    product_in_path, shop_error,
};

/// Results per search page.
pub const PER_PAGE: usize = 12;
/// Products on the home page.
pub const NEWEST: usize = 8;

/// A product as a card in a list.
pub struct Card {
    /// Its page.
    pub href: String,
    /// Name.
    pub name: String,
    /// Price with currency.
    pub price: String,
    /// Category.
    pub category: String,
    /// The main picture's thumbnail, if any.
    pub image: Option<String>,
    /// The stock badge's class (`in`, `few`, `out`) and words.
    pub stock_class: &'static str,
    /// The stock badge's words.
    pub stock: String,
}

/// The products as cards, with their stock badges.
async fn cards(state: &State, products: &[Product]) -> poem::Result<Vec<Card>> {
    let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
    let units = state.shop.availabilities(&ids).await.map_err(shop_error)?;
    Ok(products
        .iter()
        .zip(units)
        .map(|(product, units)| {
            let (stock_class, stock) = stock_badge(units);
            Card {
                href: format!("/products/{}", product.id),
                name: product.name.to_string(),
                price: price(product.price),
                category: product.category.to_string(),
                image: product.images.first().map(PictureSize::thumbnail_of),
                stock_class,
                stock,
            }
        })
        .collect())
}

/// `/`.
#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    layout: Layout,
    categories: Vec<(String, u64)>,
    newest: Vec<Card>,
}

/// `GET /`: categories with counts, the newest products, the search box.
#[handler]
pub async fn home(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = viewer(&state, req).await;
    let categories = state.shop.categories().await.map_err(shop_error)?;
    let newest = state
        .shop
        .search(ProductQuery {
            sort: ProductSort::Newest,
            limit: NEWEST,
            ..ProductQuery::default()
        })
        .await
        .map_err(shop_error)?;
    Ok(HomePage {
        layout: Layout::new(&state, req, viewer.as_ref()),
        categories: categories
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect(),
        newest: cards(&state, &newest.items).await?,
    }
    .into_response())
}

/// The search form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    category: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

/// A link to another page of results.
pub struct PageLink {
    /// Its number.
    pub number: usize,
    /// Its URL.
    pub href: String,
    /// Whether it is this page.
    pub current: bool,
}

/// `/search`.
#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPage {
    layout: Layout,
    category: String,
    min_price: String,
    max_price: String,
    sort: String,
    sorts: Vec<(&'static str, &'static str)>,
    categories: Vec<String>,
    error: Option<String>,
    total: u64,
    cards: Vec<Card>,
    pages: Vec<PageLink>,
    previous: Option<String>,
    next: Option<String>,
}

fn text(value: &Option<String>) -> String {
    value.as_deref().unwrap_or("").trim().to_string()
}

impl SearchParams {
    fn url(&self, page: usize) -> String {
        let mut url = String::from("/search?");
        let fields = [
            ("q", text(&self.q)),
            ("category", text(&self.category)),
            ("min_price", text(&self.min_price)),
            ("max_price", text(&self.max_price)),
            ("sort", text(&self.sort)),
        ];
        for (name, value) in fields {
            if !value.is_empty() {
                url.push_str(&format!("{name}={}&", encode(&value)));
            }
        }
        url.push_str(&format!("page={page}"));
        url
    }

    /// The query, or what is wrong with the input, in words.
    fn query(
        &self,
        currency: weshop_core::domain::Currency,
    ) -> Result<(ProductQuery, usize), String> {
        let page = match text(&self.page).as_str() {
            "" => 1,
            p => p
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=10_000).contains(p))
                .ok_or("The page number must be a whole number from 1.")?,
        };
        let sort = match text(&self.sort).as_str() {
            "" => ProductSort::default(),
            s => ProductSort::from_name(s).ok_or("Choose a sort order from the list.")?,
        };
        let amount = |value: &Option<String>, what: &str| -> Result<Option<i64>, String> {
            match text(value).as_str() {
                "" => Ok(None),
                t => Money::parse(t, currency)
                    .map(|m| Some(m.minor()))
                    .map_err(|_| format!("The {what} price must be an amount like 9.99.")),
            }
        };
        let category = match text(&self.category).as_str() {
            "" => None,
            c => Some(Category::parse(c).map_err(|_| "There is no such category.".to_string())?),
        };
        let q = text(&self.q);
        Ok((
            ProductQuery {
                text: (!q.is_empty()).then_some(q),
                category,
                min_price: amount(&self.min_price, "lowest")?,
                max_price: amount(&self.max_price, "highest")?,
                sort,
                offset: (page - 1) * PER_PAGE,
                limit: PER_PAGE,
                ..ProductQuery::default()
            },
            page,
        ))
    }
}

const SORTS: [(&str, &str); 5] = [
    ("relevance", "Best match"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("name", "Name"),
    ("newest", "Newest"),
];

/// `GET /search?q=&category=&min_price=&max_price=&sort=&page=`.
#[handler]
pub async fn search(state: Data<&State>, req: &Request, params: Query<SearchParams>) -> PageResult {
    let viewer = viewer(&state, req).await;
    let mut layout = Layout::new(&state, req, viewer.as_ref());
    layout.q = text(&params.q);
    let categories = state.shop.categories().await.map_err(shop_error)?;
    let mut page = SearchPage {
        layout,
        category: text(&params.category),
        min_price: text(&params.min_price),
        max_price: text(&params.max_price),
        sort: text(&params.sort),
        sorts: SORTS.to_vec(),
        categories: categories.into_iter().map(|(c, _)| c.to_string()).collect(),
        error: None,
        total: 0,
        cards: Vec::new(),
        pages: Vec::new(),
        previous: None,
        next: None,
    };
    let (query, number) = match params.query(state.shop.currency()) {
        Ok(query) => query,
        Err(error) => {
            page.error = Some(error);
            return Ok(page.with_status(StatusCode::BAD_REQUEST).into_response());
        }
    };
    let found = state.shop.search(query).await.map_err(shop_error)?;
    let last = (found.total as usize).div_ceil(PER_PAGE).max(1);
    page.total = found.total;
    page.cards = cards(&state, &found.items).await?;
    let shown = number.saturating_sub(3).max(1)..=(number + 3).min(last);
    page.pages = shown
        .map(|n| PageLink {
            number: n,
            href: params.url(n),
            current: n == number,
        })
        .collect();
    page.previous = (number > 1).then(|| params.url(number - 1));
    page.next = (number < last).then(|| params.url(number + 1));
    Ok(page.into_response())
}

/// `/products/{id}`.
#[derive(Template, WebTemplate)]
#[template(path = "product.html")]
pub struct ProductPage {
    layout: Layout,
    id: i64,
    name: String,
    description: String,
    price: String,
    category: String,
    /// The seller's name.
    seller: String,
    images: Vec<String>,
    logged_in: bool,
    /// The stock badge's class (`in`, `few`, `out`) and words.
    stock_class: &'static str,
    stock: String,
    /// Delivery of one unit to the visitor's first saved address: where, then each option's
    /// shipping and estimate, in words.
    delivery: Option<(String, Vec<String>)>,
}

/// `GET /products/{id}`: pictures, description, price, seller, stock, and "Add to cart".
#[handler]
pub async fn show_product(state: Data<&State>, req: &Request, id: Path<String>) -> PageResult {
    let id = product_in_path(&id)?;
    let viewer = viewer(&state, req).await;
    let product = state.shop.product(id).await.map_err(shop_error)?;
    let units = state.shop.availability(id).await.map_err(shop_error)?;
    // Only the seller's name is shown; a seller whose account is gone shows as "a seller".
    let seller = match state.shop.profile(product.seller).await {
        Ok(user) => user.name.as_str().to_string(),
        Err(_) => "a seller".to_string(),
    };
    let (stock_class, stock) = stock_badge(units);
    // What one unit costs to ship to the visitor's first address, and when it would arrive.
    let mut delivery = None;
    if let Some(viewer) = &viewer
        && let Some(address) = viewer.user.addresses.first()
    {
        let what = QuoteFor::Product(id, Quantity::ONE);
        if let Ok(quotes) = state
            .shop
            .quote(viewer.user.id, what, address.location)
            .await
        {
            let options = quotes
                .iter()
                .map(|q| {
                    format!(
                        "{}: shipping {}, arrives {}",
                        words(q.delivery.as_str()),
                        price(q.shipping),
                        q.estimate.in_words()
                    )
                })
                .collect();
            let to = format!(
                "{} ({}, {})",
                address.label, address.location.x, address.location.y
            );
            delivery = Some((to, options));
        }
    }
    Ok(ProductPage {
        layout: Layout::new(&state, req, viewer.as_ref()),
        id: product.id.get(),
        name: product.name.to_string(),
        description: product.description.as_str().to_string(),
        price: price(product.price),
        category: product.category.to_string(),
        seller,
        images: product
            .images
            .iter()
            .map(|i| i.as_str().to_string())
            .collect(),
        logged_in: viewer.is_some(),
        stock_class,
        stock,
        delivery,
    }
    .into_response())
}

/// From this many units down, a product page says how many are left.
pub const FEW_LEFT: u64 = 5;

/// The stock badge: its CSS class and its words.
pub fn stock_badge(units: u64) -> (&'static str, String) {
    match units {
        0 => ("out", "Out of stock".into()),
        n if n <= FEW_LEFT => ("few", format!("Only {n} left")),
        _ => ("in", "In stock".into()),
    }
}
