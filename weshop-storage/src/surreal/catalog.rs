//! Products, search, categories, warehouses and stock.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use surrealdb::types::{SurrealValue, Value};
use weshop_core::{
    domain::{
        Category, Location, Picture, PictureId, PictureSize, Product, ProductId, Stock, StockDelta,
        WarehouseId, WarehouseSite, coalesce,
    },
    store::{CatalogStore, NewProduct, Page, ProductQuery, ProductSort, StoreError, search_terms},
};

use super::{
    ProductStock, SurrealStore, TxError, backend,
    cache::Writing,
    changes::{Touched, push_change},
    message,
    query::{Sql, upsert},
    rows::{
        CategoryRow, CountRow, PictureRow, ProductRow, ProductStockRow, StockRow, UnitsRow,
        WarehouseRow, int, product_of, warehouse_stock,
    },
    written,
};
use crate::{
    corrupt,
    documents::{ProductDoc, to_json},
};

/// The words a product is found by: its name, description and category.
fn product_terms(name: &str, description: &str, category: &str) -> String {
    let mut terms = search_terms(name);
    terms.extend(search_terms(description));
    terms.extend(search_terms(category));
    terms.join(" ")
}

/// One stock change, bound as one value of an array (see `push_stock`).
#[derive(SurrealValue)]
struct StockWrite {
    warehouse: i64,
    product: i64,
    on_hand: i64,
    incoming: i64,
    reserved: i64,
    /// What the change adds to the units available (for the out-of-stock report).
    net: i64,
}

impl SurrealStore {
    /// Appends stock changes to a block: each upserts its row and throws
    /// `stock:PRODUCT:WAREHOUSE:AVAILABLE_BEFORE` if its counts would break the invariant.
    /// One statement and one bound value for all of them: SurrealDB copies every variable
    /// of the query into each statement it runs, so a statement and variables per change made
    /// a step of hundreds of changes cost their square.
    pub(super) fn push_stock(sql: &mut Sql, deltas: &[StockDelta]) {
        if deltas.is_empty() {
            return;
        }
        let writes = sql.var(
            deltas
                .iter()
                .map(|d| StockWrite {
                    warehouse: i64::from(d.warehouse.get()),
                    product: d.product.get(),
                    on_hand: d.on_hand,
                    incoming: d.incoming,
                    reserved: d.reserved,
                    net: d.on_hand + d.incoming - d.reserved,
                })
                .collect::<Vec<_>>(),
        );
        let row = upsert(
            "type::record('stock', [$d.warehouse, $d.product])",
            "on_hand += $d.on_hand, incoming += $d.incoming, reserved += $d.reserved",
            "warehouse = $d.warehouse, product = $d.product, on_hand = $d.on_hand, \
             incoming = $d.incoming, reserved = $d.reserved",
            "AFTER",
        );
        sql.push(&format!(
            "FOR $d IN {writes} {{ \
             LET $row = {row}; \
             IF $row.on_hand < 0 OR $row.incoming < 0 OR $row.reserved < 0 \
             OR $row.reserved > $row.on_hand + $row.incoming {{ \
             THROW 'stock:' + <string>$d.product + ':' + <string>$d.warehouse + ':' + \
             <string>($row.on_hand + $row.incoming - $row.reserved - $d.net) }} }}"
        ));
    }

    /// Runs a block that moves `deltas`, which `build` writes with [`Self::push_stock`]: first
    /// with each row's runs of deltas merged ([`coalesce`]: a row written once per run, not
    /// once per delta, so a placement batch's reservations of one product are one write), and
    /// if that is refused for stock after merging changed something and the caller reports
    /// the refusal (`named`), again with every delta on its own, so that the refusal names the
    /// delta and availability it would have named.
    pub(super) async fn transact_moving(
        &self,
        deltas: &[StockDelta],
        named: bool,
        mut build: impl FnMut(&[StockDelta]) -> Sql,
    ) -> Result<surrealdb::IndexedResults, TxError> {
        let merged = coalesce(deltas);
        if merged.len() < deltas.len() {
            match self.transact(|| build(&merged)).await {
                Err(TxError::Thrown(text)) if named && text.starts_with("stock:") => {}
                other => return other,
            }
        }
        self.transact(|| build(deltas)).await
    }

    /// Appends a read of the stock rows of the products `deltas` move, as the block leaves
    /// them, and returns its statement's index: the stock cache is filled with what the write
    /// returns ([`stock_committed`]) instead of being read again after it (the driver read a
    /// product's stock after nearly every step that moved it, inside its single writer).
    pub(super) fn push_stock_read(sql: &mut Sql, deltas: &[StockDelta]) -> usize {
        let products: BTreeSet<i64> = deltas.iter().map(|d| d.product.get()).collect();
        let products = sql.var(products.into_iter().collect::<Vec<_>>());
        sql.push(&format!(
            "SELECT product, warehouse, on_hand, incoming, reserved FROM stock \
             WHERE product IN {products}"
        ))
    }
}

/// Ends the cache's stock writes of a block: if it committed, with the rows its
/// [`SurrealStore::push_stock_read`] (statement `at`) returned, which are returned by product;
/// if not, as [`written`] ends any write whose transaction failed (and none are returned).
pub(super) fn stock_written(
    writings: Vec<(i64, Writing<i64, ProductStock>)>,
    result: &mut Result<surrealdb::IndexedResults, TxError>,
    at: Option<usize>,
) -> Result<BTreeMap<ProductId, ProductStock>, StoreError> {
    let (Ok(response), Some(at)) = (result.as_mut(), at) else {
        for (_, writing) in writings {
            written(writing, result, || None);
        }
        return Ok(BTreeMap::new());
    };
    let rows: Vec<ProductStockRow> = response.take(at).map_err(backend)?;
    let mut by_product: BTreeMap<i64, Vec<StockRow>> = BTreeMap::new();
    for row in rows {
        by_product.entry(row.product).or_default().push(row.stock());
    }
    let stock: BTreeMap<ProductId, ProductStock> = by_product
        .into_iter()
        .map(|(product, rows)| {
            Ok((
                ProductId::new(product).map_err(corrupt)?,
                warehouse_stock(rows)?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    for (product, writing) in writings {
        match ProductId::new(product).ok().and_then(|id| stock.get(&id)) {
            Some(rows) => writing.committed(rows.clone()),
            None => writing.forgotten(),
        }
    }
    Ok(stock)
}

#[async_trait]
impl CatalogStore for SurrealStore {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        let id = ProductId::new(self.next_id("product_seq").await?).map_err(corrupt)?;
        let product = product.with_id(id);
        let writing = self.products.writing(id.get());
        let result = self
            .transact(|| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                let statement = product_write(&mut sql, &product, "CREATE");
                sql.push(&statement);
                push_change(&mut sql, &self.feed, &Touched::default().product(id));
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        written(writing, &result, || Some(product.clone()));
        result.map_err(Self::failure)?;
        Ok(product)
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let seen = match self.products.get(id.get()) {
            Ok(product) => return Ok(Some(product)),
            Err(seen) => seen,
        };
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc, seller FROM type::record('product', {v})"
        ));
        let rows: Vec<ProductRow> = self.read(sql).await?;
        let product = rows.into_iter().next().map(product_of).transpose()?;
        if let Some(product) = &product {
            self.products.fill(id.get(), seen, product.clone());
        }
        Ok(product)
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut updated = 0;
        // The stored seller is kept whatever `product` says: the next read fetches the record.
        let writing = self.products.writing(product.id.get());
        let result = self
            .transact(|| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                let statement = product_write(&mut sql, product, "UPDATE");
                updated = sql.push(&format!("{statement} RETURN VALUE record::id(id)"));
                push_change(
                    &mut sql,
                    &self.feed,
                    &Touched::default().product(product.id),
                );
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        written(writing, &result, || None);
        let mut response = result.map_err(Self::failure)?;
        let ids: Vec<i64> = response.take(updated).map_err(backend)?;
        if ids.is_empty() {
            return Err(StoreError::NotFound(format!("product {}", product.id)));
        }
        Ok(())
    }

    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        let mut deleted = 0;
        let writing = self.products.writing(id.get());
        let result = self
            .transact(|| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                let v = sql.var(id.get());
                deleted = sql.push(&format!(
                    "DELETE type::record('product', {v}) RETURN BEFORE"
                ));
                push_change(&mut sql, &self.feed, &Touched::default().product(id));
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        written(writing, &result, || None);
        let mut response = result.map_err(Self::failure)?;
        let rows: Vec<Value> = response.take(deleted).map_err(backend)?;
        Ok(!rows.is_empty())
    }

    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let mut sql = Sql::default();
        let mut filters = Vec::new();
        let terms = query.text.as_deref().map(search_terms).unwrap_or_default();
        let text = !terms.is_empty();
        if text {
            let q = sql.var(terms.join(" "));
            filters.push(format!("terms @1@ {q}"));
        }
        if let Some(category) = &query.category {
            let v = sql.var(category.as_str().to_string());
            filters.push(format!("category = {v}"));
        }
        if let Some(seller) = query.seller {
            let v = sql.var(seller.get());
            filters.push(format!("seller = {v}"));
        }
        if let Some(min) = query.min_price {
            let v = sql.var(min);
            filters.push(format!("price >= {v}"));
        }
        if let Some(max) = query.max_price {
            let v = sql.var(max);
            filters.push(format!("price <= {v}"));
        }
        let filter = if filters.is_empty() {
            "true".to_string()
        } else {
            filters.join(" AND ")
        };
        let order = match query.sort {
            ProductSort::Relevance if text => "score DESC, pid DESC",
            ProductSort::Relevance | ProductSort::Newest => "pid DESC",
            ProductSort::PriceAsc => "price ASC, pid ASC",
            ProductSort::PriceDesc => "price DESC, pid ASC",
            ProductSort::Name => "name_key ASC, pid ASC",
        };
        let score = if text {
            ", search::score(1) AS score"
        } else {
            ""
        };
        let limit = sql.var(query.limit as i64);
        let start = sql.var(query.offset as i64);
        let rows_at = sql.push(&format!(
            "SELECT doc, seller, record::id(id) AS pid, price, name_key{score} FROM product \
             WHERE {filter} ORDER BY {order} LIMIT {limit} START {start}"
        ));
        let count_at = sql.push(&format!(
            "SELECT count() AS count FROM product WHERE {filter} GROUP ALL"
        ));
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let rows: Vec<ProductRow> = response.take(rows_at).map_err(backend)?;
        let count: Option<CountRow> = response.take(count_at).map_err(backend)?;
        let items = rows
            .into_iter()
            .map(product_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: count.map(|c| c.count.max(0) as u64).unwrap_or(0),
        })
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT category, count() AS count FROM product GROUP BY category");
        let rows: Vec<CategoryRow> = self.read(sql).await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok((
                    Category::parse(&r.category).map_err(corrupt)?,
                    r.count.max(0) as u64,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(out)
    }

    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError> {
        let mut sql = Sql::default();
        let products_at = sql.push("SELECT doc, seller FROM product");
        let stock_at = sql.push(
            "SELECT product, math::sum(on_hand + incoming - reserved) AS count FROM stock \
             GROUP BY product",
        );
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let rows: Vec<ProductRow> = response.take(products_at).map_err(backend)?;
        let units: Vec<UnitsRow> = response.take(stock_at).map_err(backend)?;
        let units: std::collections::HashMap<i64, u64> = units
            .into_iter()
            .map(|r| (r.product, r.count.max(0) as u64))
            .collect();
        let mut out = rows
            .into_iter()
            .map(|row| {
                let product = product_of(row)?;
                let available = units.get(&product.id.get()).copied().unwrap_or(0);
                Ok((product, available))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|(p, _)| p.id);
        Ok(out)
    }

    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        // Every node puts the same sites when it starts: nodes starting together conflict on
        // them, so the write is retried like any transaction.
        self.transact(|| {
            let mut sql = Sql::default();
            let id = sql.var(i64::from(warehouse.id.get()));
            let x = sql.var(i64::from(warehouse.location.x));
            let y = sql.var(i64::from(warehouse.location.y));
            sql.push(&format!(
                "UPSERT type::record('warehouse', {id}) SET x = {x}, y = {y}"
            ));
            sql
        })
        .await
        .map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT record::id(id) AS id, x, y FROM warehouse");
        let rows: Vec<WarehouseRow> = self.read(sql).await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(WarehouseSite {
                    id: WarehouseId::new(int(r.id, "warehouse id")?).map_err(corrupt)?,
                    location: Location::new(int(r.x, "x")?, int(r.y, "y")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|w| w.id);
        Ok(out)
    }

    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        let seen = match self.stock.get(product.get()) {
            Ok(stock) => return Ok(stock),
            Err(seen) => seen,
        };
        let mut sql = Sql::default();
        let v = sql.var(product.get());
        sql.push(&format!(
            "SELECT warehouse, on_hand, incoming, reserved FROM stock WHERE product = {v}"
        ));
        let rows: Vec<StockRow> = self.read(sql).await?;
        let stock = warehouse_stock(rows)?;
        self.stock.fill(product.get(), seen, stock.clone());
        Ok(stock)
    }

    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        let writing = self.stock_writing(deltas);
        let result = self
            .transact_moving(deltas, true, |writes| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                Self::push_stock(&mut sql, writes);
                push_change(&mut sql, &self.feed, &Touched::default().stock(deltas));
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        for (_, writing) in writing {
            written(writing, &result, || None);
        }
        result.map_err(Self::failure)?;
        Ok(())
    }

    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let id = sql.var(picture.id.as_str().to_string());
        let thumbnail = sql.var(BASE64.encode(&picture.thumbnail));
        let large = sql.var(BASE64.encode(&picture.large));
        // Ids come from content: a picture stored twice is the same picture.
        sql.push(&format!(
            "UPSERT type::record('picture', {id}) SET thumbnail = {thumbnail}, large = {large} \
             RETURN NONE"
        ));
        self.run(&sql).await.map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.as_str().to_string());
        let field = match size {
            PictureSize::Thumbnail => "thumbnail",
            PictureSize::Large => "large",
        };
        sql.push(&format!(
            "SELECT {field} AS data FROM type::record('picture', {v})"
        ));
        let rows: Vec<PictureRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| {
                BASE64
                    .decode(r.data)
                    .map_err(|e| StoreError::Corrupt(format!("picture {id}: {e}")))
            })
            .transpose()
    }
}

/// A CREATE or UPDATE of a product record, without its terminator.
fn product_write(sql: &mut Sql, product: &Product, verb: &str) -> String {
    let id = sql.var(product.id.get());
    let seller = sql.var(product.seller.get());
    let category = sql.var(product.category.as_str().to_string());
    let price = sql.var(product.price.minor());
    let name_key = sql.var(product.name.as_str().to_lowercase());
    let terms = sql.var(product_terms(
        product.name.as_str(),
        product.description.as_str(),
        product.category.as_str(),
    ));
    let doc = sql.var(to_json(&ProductDoc::from(product)));
    // The seller of a product never changes: only CREATE sets it.
    let seller = if verb == "CREATE" {
        format!("seller = {seller}, ")
    } else {
        String::new()
    };
    format!(
        "{verb} type::record('product', {id}) SET {seller}category = {category}, \
         price = {price}, name_key = {name_key}, terms = {terms}, doc = {doc}"
    )
}
