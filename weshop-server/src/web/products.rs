//! The seller's product forms: list a product with a picture, edit it, withdraw it.
//!
//! The forms are `multipart/form-data` (they carry a file). The picture's type is sniffed from
//! its bytes and it is re-encoded by [`crate::pictures`] off the async workers, so nothing
//! uploaded is served as sent; its size is capped by the upload routes' body limit
//! ([`crate::api::limits::is_upload`]). A refused form comes back filled in, with the reason.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Form, Multipart, Path},
};
use serde::Deserialize;
use weshop_core::{
    domain::{Category, Description, ImageRef, Money, Product, ProductName, Weight},
    shop::{ProductDraft, ProductPatch, ShopError},
};

use super::{
    PageResult, fail,
    layout::{Layout, State, Viewer, form_viewer, require_viewer},
    product_in_path, see_other, sentence, shop_error,
};
use crate::{api::types::amount, pictures};

/// The fields of a product form, as typed.
#[derive(Debug, Default, Clone)]
pub struct ProductFields {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category slug.
    pub category: String,
    /// Unit price, a decimal.
    pub price: String,
    /// Unit weight in grams.
    pub weight: String,
}

impl From<&Product> for ProductFields {
    fn from(product: &Product) -> Self {
        Self {
            name: product.name.to_string(),
            description: product.description.as_str().to_string(),
            category: product.category.to_string(),
            price: amount(product.price),
            weight: product.weight.get().to_string(),
        }
    }
}

/// `/seller/products/new` and `/seller/products/{id}/edit`.
#[derive(Template, WebTemplate)]
#[template(path = "product_form.html")]
pub struct ProductFormPage {
    layout: Layout,
    /// Where the form posts.
    action: String,
    /// The page's heading.
    heading: String,
    /// What is typed so far.
    fields: ProductFields,
    /// The shop's currency code.
    currency: String,
    /// The product's current main picture (editing).
    picture: Option<String>,
    /// The product being edited, for the withdraw form.
    editing: Option<i64>,
    /// Existing categories, as suggestions.
    categories: Vec<String>,
    error: Option<String>,
}

impl ProductFormPage {
    async fn new(
        state: &State,
        req: &Request,
        viewer: &Viewer,
        editing: Option<&Product>,
        fields: ProductFields,
    ) -> Self {
        let categories = state
            .shop
            .categories()
            .await
            .map(|all| all.into_iter().map(|(c, _)| c.to_string()).collect())
            .unwrap_or_default();
        Self {
            layout: Layout::new(state, req, Some(viewer)),
            action: match editing {
                Some(p) => format!("/seller/products/{}", p.id),
                None => "/seller/products".into(),
            },
            heading: match editing {
                Some(p) => format!("Edit {}", p.name),
                None => "List a product".into(),
            },
            fields,
            currency: state.shop.currency().to_string(),
            picture: editing
                .and_then(|p| p.images.first())
                .map(|i| i.as_str().to_string()),
            editing: editing.map(|p| p.id.get()),
            categories,
            error: None,
        }
    }
}

/// The form again, as posted, with the reason it was refused (400). Built only then: a
/// form that goes through needs no page.
async fn refuse(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    editing: Option<&Product>,
    fields: ProductFields,
    error: String,
) -> PageResult {
    let mut page = ProductFormPage::new(state, req, viewer, editing, fields).await;
    page.error = Some(error);
    Ok(page.with_status(StatusCode::BAD_REQUEST).into_response())
}

/// A refusal the form shows in words (`Ok(Err(..))`), or a failure shown as an error page.
type Refusable<T> = Result<Result<T, String>, poem::Error>;

/// The shop's refusal of a product write: in words for bad input, else an error page.
fn refusal(error: ShopError) -> Refusable<()> {
    match error {
        ShopError::BadRequest(_) | ShopError::Invalid(_) => Ok(Err(sentence(&error.to_string()))),
        error => Err(shop_error(error)),
    }
}

/// A product form as posted.
struct Posted {
    csrf: String,
    fields: ProductFields,
    /// The picture file's bytes, if one was chosen.
    picture: Option<Vec<u8>>,
}

/// Reads the multipart form (the body is already capped by the upload routes' limit).
async fn read_form(mut multipart: Multipart) -> poem::Result<Posted> {
    let malformed = |_| fail(StatusCode::BAD_REQUEST, "the form could not be read");
    let mut posted = Posted {
        csrf: String::new(),
        fields: ProductFields::default(),
        picture: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "picture" {
            let bytes = field.bytes().await.map_err(malformed)?;
            // A file input left empty still sends a part, with no bytes.
            if !bytes.is_empty() {
                posted.picture = Some(bytes);
            }
            continue;
        }
        let text = field.text().await.map_err(malformed)?;
        let f = &mut posted.fields;
        match name.as_str() {
            "csrf" => posted.csrf = text,
            "name" => f.name = text,
            "description" => f.description = text,
            "category" => f.category = text,
            "price" => f.price = text,
            "weight" => f.weight = text,
            _ => {}
        }
    }
    Ok(posted)
}

/// The typed fields as a draft (images left empty), or why not, in words.
fn draft(
    fields: &ProductFields,
    currency: weshop_core::domain::Currency,
) -> Result<ProductDraft, String> {
    let refused = |e: weshop_core::domain::DomainError| sentence(&e.to_string());
    let weight = fields
        .weight
        .trim()
        .parse::<i64>()
        .map_err(|_| "The weight is a whole number of grams.".to_string())?;
    Ok(ProductDraft {
        name: ProductName::parse(&fields.name).map_err(refused)?,
        description: Description::parse(&fields.description).map_err(refused)?,
        category: Category::parse(fields.category.trim()).map_err(refused)?,
        price: Money::parse(fields.price.trim(), currency).map_err(refused)?,
        weight: Weight::grams(weight).map_err(refused)?,
        images: Vec::new(),
    })
}

/// Re-encodes and stores an uploaded picture; its path, or why not, in words.
async fn store_picture(
    state: &State,
    viewer: &Viewer,
    upload: Vec<u8>,
) -> Result<Result<ImageRef, String>, poem::Error> {
    let encoded = tokio::task::spawn_blocking(move || pictures::reencode(&upload))
        .await
        .map_err(|_| {
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the picture could not be read",
            )
        })?;
    let picture = match encoded {
        Ok(picture) => picture,
        Err(error) => return Ok(Err(sentence(&error.to_string()))),
    };
    match state.shop.add_picture(viewer.user.id, picture).await {
        Ok(image) => Ok(Ok(image)),
        Err(error @ (ShopError::BadRequest(_) | ShopError::Invalid(_))) => {
            Ok(Err(sentence(&error.to_string())))
        }
        Err(error) => Err(shop_error(error)),
    }
}

/// The seller's product, or a 404 page (another seller's product looks missing).
async fn own_product(state: &State, viewer: &Viewer, id: &str) -> poem::Result<Product> {
    let missing = || fail(StatusCode::NOT_FOUND, "no such product");
    let id = product_in_path(id)?;
    match state.shop.product(id).await {
        Ok(product) if product.seller == viewer.user.id => Ok(product),
        Ok(_) | Err(ShopError::NotFound(_)) => Err(missing()),
        Err(error) => Err(shop_error(error)),
    }
}

/// A seller, or a 403 page.
fn must_sell(viewer: &Viewer) -> poem::Result<()> {
    if viewer.user.roles.seller {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "only sellers may list products",
        ))
    }
}

/// `GET /seller/products/new`.
#[handler]
pub async fn new_form(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    must_sell(&viewer)?;
    let fields = ProductFields {
        weight: "500".into(),
        ..ProductFields::default()
    };
    Ok(ProductFormPage::new(&state, req, &viewer, None, fields)
        .await
        .into_response())
}

/// `POST /seller/products`: lists the product, with its picture if one was chosen.
#[handler]
pub async fn create(state: Data<&State>, req: &Request, form: Multipart) -> PageResult {
    let posted = read_form(form).await?;
    let viewer = form_viewer(&state, req, &posted.csrf).await?;
    must_sell(&viewer)?;
    let outcome: Refusable<()> = async {
        let mut draft = match draft(&posted.fields, state.shop.currency()) {
            Ok(draft) => draft,
            Err(error) => return Ok(Err(error)),
        };
        if let Some(upload) = posted.picture {
            match store_picture(&state, &viewer, upload).await? {
                Ok(image) => draft.images.push(image),
                Err(error) => return Ok(Err(error)),
            }
        }
        match state.shop.create_product(viewer.user.id, draft).await {
            Ok(_) => Ok(Ok(())),
            Err(error) => refusal(error),
        }
    }
    .await;
    match outcome? {
        Ok(()) => Ok(see_other("/seller")),
        Err(error) => refuse(&state, req, &viewer, None, posted.fields, error).await,
    }
}

/// `GET /seller/products/{id}/edit`.
#[handler]
pub async fn edit_form(state: Data<&State>, req: &Request, id: Path<String>) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    let product = own_product(&state, &viewer, &id).await?;
    let fields = ProductFields::from(&product);
    Ok(
        ProductFormPage::new(&state, req, &viewer, Some(&product), fields)
            .await
            .into_response(),
    )
}

/// `POST /seller/products/{id}`: saves the fields; a new picture replaces the main one.
#[handler]
pub async fn update(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Multipart,
) -> PageResult {
    let posted = read_form(form).await?;
    let viewer = form_viewer(&state, req, &posted.csrf).await?;
    let product = own_product(&state, &viewer, &id).await?;
    let outcome: Refusable<()> = async {
        let draft = match draft(&posted.fields, state.shop.currency()) {
            Ok(draft) => draft,
            Err(error) => return Ok(Err(error)),
        };
        let images = match posted.picture {
            Some(upload) => match store_picture(&state, &viewer, upload).await? {
                Ok(image) => {
                    let mut images = product.images.clone();
                    match images.first_mut() {
                        Some(main) => *main = image,
                        None => images.push(image),
                    }
                    Some(images)
                }
                Err(error) => return Ok(Err(error)),
            },
            None => None,
        };
        let patch = ProductPatch {
            name: Some(draft.name),
            description: Some(draft.description),
            category: Some(draft.category),
            price: Some(draft.price),
            weight: Some(draft.weight),
            images,
        };
        match state
            .shop
            .update_product(viewer.user.id, product.id, patch)
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(error) => refusal(error),
        }
    }
    .await;
    match outcome? {
        Ok(()) => Ok(see_other("/seller")),
        Err(error) => refuse(&state, req, &viewer, Some(&product), posted.fields, error).await,
    }
}

/// The withdraw form.
#[derive(Debug, Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /seller/products/{id}/withdraw`: takes the product off sale (orders keep their copy).
#[handler]
pub async fn withdraw(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Form<WithdrawForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let product = own_product(&state, &viewer, &id).await?;
    state
        .shop
        .delete_product(viewer.user.id, product.id)
        .await
        .map_err(shop_error)?;
    Ok(see_other("/seller"))
}
