//! The rows queries return, and their way back into the domain.

use surrealdb::types::SurrealValue;
use weshop_core::{
    domain::{Email, Order, Product, Stock, User, UserId, WarehouseId},
    store::StoreError,
};

use crate::{
    corrupt,
    documents::{OrderDoc, ProductDoc, UserDoc, from_json},
};

#[derive(SurrealValue)]
pub(super) struct DocRow {
    pub(super) doc: String,
}

#[derive(SurrealValue)]
pub(super) struct UserRow {
    pub(super) doc: String,
    pub(super) email: String,
}

#[derive(SurrealValue)]
pub(super) struct ProductRow {
    pub(super) doc: String,
    pub(super) seller: i64,
}

/// Sellable units of one product, summed over warehouses.
#[derive(SurrealValue)]
pub(super) struct UnitsRow {
    pub(super) product: i64,
    pub(super) count: i64,
}

#[derive(SurrealValue)]
pub(super) struct IdRow {
    pub(super) id: i64,
}

#[derive(SurrealValue)]
pub(super) struct StockRow {
    pub(super) warehouse: i64,
    pub(super) on_hand: i64,
    pub(super) incoming: i64,
    pub(super) reserved: i64,
}

/// A stock row with its product (several products' stock at once).
#[derive(SurrealValue)]
pub(super) struct ProductStockRow {
    pub(super) product: i64,
    pub(super) warehouse: i64,
    pub(super) on_hand: i64,
    pub(super) incoming: i64,
    pub(super) reserved: i64,
}

impl ProductStockRow {
    /// The row without its product.
    pub(super) fn stock(self) -> StockRow {
        StockRow {
            warehouse: self.warehouse,
            on_hand: self.on_hand,
            incoming: self.incoming,
            reserved: self.reserved,
        }
    }
}

#[derive(SurrealValue)]
pub(super) struct SessionRow {
    pub(super) user: i64,
    pub(super) expires: i64,
}

/// A session with its account (`NONE` if the account is gone).
#[derive(SurrealValue)]
pub(super) struct SessionUserRow {
    pub(super) user: i64,
    pub(super) expires: i64,
    pub(super) account: Option<UserRow>,
}

#[derive(SurrealValue)]
pub(super) struct WarehouseRow {
    pub(super) id: i64,
    pub(super) x: i64,
    pub(super) y: i64,
}

#[derive(SurrealValue)]
pub(super) struct CountRow {
    pub(super) count: i64,
}

#[derive(SurrealValue)]
pub(super) struct CategoryRow {
    pub(super) category: String,
    pub(super) count: i64,
}

#[derive(SurrealValue)]
pub(super) struct CartRow {
    pub(super) lines: Vec<Vec<i64>>,
}

/// One size of a picture, base64.
#[derive(SurrealValue)]
pub(super) struct PictureRow {
    pub(super) data: String,
}

#[derive(SurrealValue)]
pub(super) struct LinkRow {
    pub(super) state: String,
}

#[derive(SurrealValue)]
pub(super) struct PlacedRow {
    pub(super) placed: i64,
}

#[derive(SurrealValue)]
pub(super) struct VersionRow {
    pub(super) version: i64,
}

pub(super) fn int<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

/// One product's stock rows as the domain has them: by warehouse, in warehouse order.
pub(super) fn warehouse_stock(
    rows: impl IntoIterator<Item = StockRow>,
) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
    let mut out = rows
        .into_iter()
        .map(|r| {
            Ok((
                WarehouseId::new(int(r.warehouse, "warehouse id")?).map_err(corrupt)?,
                stock_of(&r)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by_key(|(w, _)| *w);
    Ok(out)
}

fn stock_of(row: &StockRow) -> Result<Stock, StoreError> {
    Stock::from_counts(
        int(row.on_hand, "on hand")?,
        int(row.incoming, "incoming")?,
        int(row.reserved, "reserved")?,
    )
    .map_err(corrupt)
}

/// A user from its row: the email column is the truth (it is the login and never changes).
pub(super) fn user_of(row: UserRow) -> Result<User, StoreError> {
    let mut user = from_json::<UserDoc>(&row.doc)?.parse()?;
    user.email = Email::parse(&row.email).map_err(corrupt)?;
    Ok(user)
}

/// A product from its row: the seller column is the truth (it never changes).
pub(super) fn product_of(row: ProductRow) -> Result<Product, StoreError> {
    let mut product = from_json::<ProductDoc>(&row.doc)?.parse()?;
    product.seller = UserId::new(row.seller).map_err(corrupt)?;
    Ok(product)
}

pub(super) fn orders_from(rows: Vec<DocRow>) -> Result<Vec<Order>, StoreError> {
    rows.into_iter()
        .map(|r| from_json::<OrderDoc>(&r.doc)?.parse())
        .collect()
}
