//! Live order tracking over Server-Sent Events.
//!
//! The stream subscribes to the shop's order updates *before* reading the order, so no change can
//! fall between the read and the subscription; updates the read already covers are skipped
//! by comparing versions (the length of the order's history). The first event is the current
//! state; each later one is a newer state of the same order; the stream ends after a terminal
//! status (delivered, cancelled, failed).

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use poem::web::sse::Event;
use poem_openapi::{OpenApi, param::Path, payload::EventStream, types::ToJSON};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use weshop_core::{
    domain::{Order, OrderId, UserId},
    shop::OrderUpdate,
    shop::Shop,
};

use super::{
    ApiState, ApiTags,
    auth::Auth,
    orders::{OrderDto, order_id},
    problem::ApiResult,
};

/// How often an idle stream sends a comment, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE event name of every order state.
pub const STATUS_EVENT: &str = "status";

struct Follow {
    updates: Receiver<OrderUpdate>,
    shop: Arc<dyn Shop>,
    user: UserId,
    id: OrderId,
    first: Option<Order>,
    version: usize,
    done: bool,
}

impl Follow {
    /// The next newer state of the order, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Order> {
        if self.done {
            return None;
        }
        if let Some(order) = self.first.take() {
            return Some(self.sent(order));
        }
        loop {
            let order = match self.updates.recv().await {
                Ok(update) if update.order.id() == self.id => update.order,
                Ok(_) => continue,
                // Missed some updates: the store has the latest state.
                Err(RecvError::Lagged(_)) => match self.shop.order(self.user, self.id).await {
                    Ok(order) => order,
                    Err(error) => {
                        tracing::warn!(order = %self.id, "order stream ends: {error}");
                        return None;
                    }
                },
                Err(RecvError::Closed) => return None,
            };
            if order.version() > self.version {
                return Some(self.sent(order));
            }
        }
    }

    fn sent(&mut self, order: Order) -> Order {
        self.version = order.version();
        self.done = order.status().is_terminal();
        order
    }
}

/// Order tracking.
pub struct EventsApi(pub Arc<ApiState>);

#[OpenApi(tag = "ApiTags::Orders")]
impl EventsApi {
    /// Follows one of the caller's orders: Server-Sent Events named `status`, each carrying
    /// the order as JSON; the first is its current state, and the stream ends after a terminal
    /// status. Someone else's order is 404 before anything is streamed.
    #[oai(
        path = "/orders/:id/events",
        method = "get",
        operation_id = "followOrder"
    )]
    async fn events(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<EventStream<BoxStream<'static, OrderDto>>> {
        let id = order_id(id.0)?;
        let updates = self.0.shop.order_updates();
        let order = self.0.shop.order(auth.user_id(), id).await?;
        let follow = Follow {
            updates,
            shop: self.0.shop.clone(),
            user: auth.user_id(),
            id,
            version: 0,
            first: Some(order),
            done: false,
        };
        let stream = futures::stream::unfold(follow, |mut follow| async move {
            let order = follow.next().await?;
            let dto = OrderDto::of(&order, follow.shop.as_ref());
            Some((dto, follow))
        })
        .boxed();
        Ok(EventStream::new(stream)
            .keep_alive(KEEP_ALIVE)
            .to_event(|order| Event::message(order.to_json_string()).event_type(STATUS_EVENT)))
    }
}
