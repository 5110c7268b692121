//! What a seller sold: the recent orders with their products (only their own lines), and the
//! revenue those orders brought.

use crate::domain::{Money, OrderStatus, ProductId, UserId};
use crate::shop::{SellerOrder, SellerSales, ShopError, label_ship_id};
use crate::store::Store;

use super::ShopService;

/// Most orders a seller's sales figures are summed over (the newest ones): a bound on the
/// work of one dashboard view.
pub const SALES_WINDOW: usize = 1_000;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::seller_sales`].
    pub(super) async fn seller_sales_impl(
        &self,
        seller: UserId,
        recent: usize,
    ) -> Result<SellerSales, ShopError> {
        self.seller(seller).await?;
        let products: Vec<ProductId> = self
            .products_of(seller)
            .await?
            .iter()
            .map(|p| p.id)
            .collect();
        let orders = self
            .store
            .orders_with_products(&products, SALES_WINDOW)
            .await?;
        let currency = self.config.currency;
        let mut sales = SellerSales {
            recent: Vec::new(),
            revenue: Money::zero(currency),
            in_progress: Money::zero(currency),
            units: 0,
            orders: orders.len(),
        };
        for order in &orders {
            let lines: Vec<_> = order
                .lines()
                .iter()
                .filter(|l| products.contains(&l.product))
                .cloned()
                .collect();
            let mut amount = Money::zero(currency);
            for line in &lines {
                amount = amount.checked_add(line.subtotal()?)?;
            }
            match order.status() {
                OrderStatus::Delivered => {
                    sales.revenue = sales.revenue.checked_add(amount)?;
                    sales.units += lines
                        .iter()
                        .map(|l| u64::from(l.quantity.get()))
                        .sum::<u64>();
                }
                OrderStatus::Cancelled | OrderStatus::Failed => {}
                _ => sales.in_progress = sales.in_progress.checked_add(amount)?,
            }
            if sales.recent.len() < recent {
                sales.recent.push(SellerOrder {
                    order: order.id(),
                    placed_at: order.placed_at(),
                    status: order.status(),
                    lines,
                    amount,
                    has_label: label_ship_id(order).is_some(),
                });
            }
        }
        Ok(sales)
    }
}
