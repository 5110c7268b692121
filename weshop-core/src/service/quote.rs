//! Pricing: what a cart or a product would cost delivered somewhere, with each delivery
//! option, and when it would arrive. Checkout prices an order the same way, so the total a
//! customer is quoted is the total checkout charges (unless a price changes in between, which
//! checkout's `expected_total` catches).

use crate::domain::{
    DeliveryEstimate, DeliveryOption, Location, Money, OrderLine, ProductId, Quantity, Stock,
    UserId, WarehouseId, WarehouseSite, Weight,
};
use crate::shop::{DeliveryQuote, QuoteFor, ShopError};
use crate::store::Store;

use super::ShopService;

/// Items priced for a destination: the lines at today's prices, their weight, and the
/// warehouse that would ship them.
pub(super) struct Priced {
    /// The lines, at today's prices.
    pub(super) lines: Vec<OrderLine>,
    /// Each line's seller.
    pub(super) sellers: Vec<UserId>,
    /// Their sum.
    pub(super) subtotal: Money,
    /// Their weight.
    pub(super) weight: Weight,
    /// The nearest warehouse that covers every line.
    pub(super) warehouse: WarehouseSite,
    /// True when some line's units are still incoming at that warehouse.
    pub(super) restock: bool,
}

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::quote`].
    pub(super) async fn quote_impl(
        &self,
        user: UserId,
        what: QuoteFor,
        destination: Location,
    ) -> Result<Vec<DeliveryQuote>, ShopError> {
        self.check_on_grid(destination)?;
        let items: Vec<(ProductId, Quantity)> = match what {
            QuoteFor::Cart => self.store.cart(user).await?.lines().collect(),
            QuoteFor::Product(product, quantity) => vec![(product, quantity)],
        };
        if items.is_empty() {
            return Err(ShopError::Conflict("the cart is empty".into()));
        }
        let priced = self.price_items(&items, destination).await?;
        let estimate: DeliveryEstimate =
            self.config
                .pace
                .estimate(priced.warehouse.location, destination, priced.restock);
        [DeliveryOption::Standard, DeliveryOption::Express]
            .into_iter()
            .map(|delivery| {
                let shipping = self.config.rates.quote(
                    priced.warehouse.location,
                    destination,
                    priced.weight,
                    delivery,
                )?;
                Ok(DeliveryQuote {
                    delivery,
                    shipping,
                    total: Money::sum(self.config.currency, [priced.subtotal, shipping])?,
                    estimate,
                })
            })
            .collect()
    }

    /// Prices `items` for `destination`: reads each product and its stock, and picks the
    /// warehouse (the nearest that covers every line; `OutOfStock` if none does).
    pub(super) async fn price_items(
        &self,
        items: &[(ProductId, Quantity)],
        destination: Location,
    ) -> Result<Priced, ShopError> {
        let mut lines = Vec::new();
        let mut sellers = Vec::new();
        let mut grams: u64 = 0;
        for &(id, quantity) in items {
            let product = self
                .priced_product(id)
                .await?
                .ok_or_else(|| ShopError::NotFound(format!("product {id}")))?;
            self.check_price(product.price)?;
            grams += u64::from(product.weight.get()) * u64::from(quantity.get());
            sellers.push(product.seller);
            lines.push(OrderLine {
                product: id,
                name: product.name.clone(),
                quantity,
                unit_price: product.price,
            });
        }
        let weight = Weight::grams(i64::try_from(grams).unwrap_or(i64::MAX)).map_err(|_| {
            ShopError::Conflict("the cart is too heavy for one package (1000 kg at most)".into())
        })?;
        let mut subtotal = Vec::new();
        for line in &lines {
            subtotal.push(line.unit_price.times(line.quantity)?);
        }
        let subtotal = Money::sum(self.config.currency, subtotal)?;
        // The sites this shop ships from (registered in the store at assembly): what
        // `Shop::warehouses` answers, without a read per checkout.
        let warehouses: Vec<_> = self.fulfilment.engine().warehouses().copied().collect();
        let mut stock = Vec::new();
        for line in &lines {
            stock.push(self.store.stock(line.product).await?);
        }
        let warehouse = self.choose_warehouse(&warehouses, &lines, &stock, destination)?;
        let restock = lines.iter().zip(&stock).any(|(line, stock)| {
            stock
                .iter()
                .find(|(w, _)| *w == warehouse.id)
                .is_some_and(|(_, s)| {
                    s.on_hand().saturating_sub(s.reserved()) < u64::from(line.quantity.get())
                })
        });
        Ok(Priced {
            lines,
            sellers,
            subtotal,
            weight,
            warehouse,
            restock,
        })
    }

    /// Picks the warehouse that ships an order: the nearest to the destination that can cover
    /// every line from its sellable units.
    fn choose_warehouse(
        &self,
        warehouses: &[WarehouseSite],
        lines: &[OrderLine],
        stock: &[Vec<(WarehouseId, Stock)>],
        destination: Location,
    ) -> Result<WarehouseSite, ShopError> {
        let available = |line: usize, warehouse: WarehouseId| {
            stock[line]
                .iter()
                .find(|(w, _)| *w == warehouse)
                .map(|(_, s)| s.available())
                .unwrap_or(0)
        };
        let best = warehouses
            .iter()
            .filter(|w| {
                lines
                    .iter()
                    .enumerate()
                    .all(|(i, l)| available(i, w.id) >= u64::from(l.quantity.get()))
            })
            .min_by(|a, b| {
                a.location
                    .distance(destination)
                    .total_cmp(&b.location.distance(destination))
                    .then(a.id.cmp(&b.id))
            });
        best.copied().ok_or_else(|| {
            // Name the line that is short, with the most one warehouse could ship of it.
            let (index, line) = lines
                .iter()
                .enumerate()
                .find(|(i, l)| {
                    warehouses
                        .iter()
                        .all(|w| available(*i, w.id) < u64::from(l.quantity.get()))
                })
                .unwrap_or((0, &lines[0]));
            ShopError::OutOfStock {
                product: line.product,
                available: warehouses
                    .iter()
                    .map(|w| available(index, w.id))
                    .max()
                    .unwrap_or(0),
            }
        })
    }
}
