//! Prometheus metrics of the server: HTTP requests, the world and UPS links, and orders.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabels {
    link: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkMessageLabels {
    link: String,
    direction: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// Request durations from 1 ms to about 16 s.
fn http_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric of the server, in one registry.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    link_up: Family<LinkLabels, Gauge>,
    link_messages: Family<LinkMessageLabels, Counter>,
    orders_placed: Counter,
    order_transitions: Family<StatusLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "weshop_http_requests",
            "HTTP requests by method, matched route template and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                http_histogram,
            );
        registry.register(
            "weshop_http_request_duration_seconds",
            "Time to answer HTTP requests (to the response head)",
            http_duration.clone(),
        );
        let link_up = Family::<LinkLabels, Gauge>::default();
        registry.register(
            "weshop_link_up",
            "1 while the link (world, ups) is connected",
            link_up.clone(),
        );
        let link_messages = Family::<LinkMessageLabels, Counter>::default();
        registry.register(
            "weshop_link_messages",
            "Messages over the links, by link and direction (in, out)",
            link_messages.clone(),
        );
        let orders_placed = Counter::default();
        registry.register(
            "weshop_orders_placed",
            "Orders placed",
            orders_placed.clone(),
        );
        let order_transitions = Family::<StatusLabels, Counter>::default();
        registry.register(
            "weshop_order_transitions",
            "Orders reaching each status",
            order_transitions.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            link_up,
            link_messages,
            orders_placed,
            order_transitions,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Records one answered HTTP request; `route` is the matched route template.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_string(),
            route: route.to_string(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&labels).observe(seconds);
    }

    /// Sets whether a link is connected (gauge `weshop_link_up{link}`).
    pub fn set_link_up(&self, link: &str, up: bool) {
        let labels = LinkLabels {
            link: link.to_string(),
        };
        self.link_up.get_or_create(&labels).set(i64::from(up));
    }

    /// Counts one message over a link (`weshop_link_messages_total{link,direction}`).
    pub fn link_message(&self, link: &str, direction: &str) {
        let labels = LinkMessageLabels {
            link: link.to_string(),
            direction: direction.to_string(),
        };
        self.link_messages.get_or_create(&labels).inc();
    }

    /// Counts one placed order (`weshop_orders_placed_total`).
    pub fn order_placed(&self) {
        self.orders_placed.inc();
    }

    /// Counts an order reaching `status` (`weshop_order_transitions_total{status}`).
    pub fn order_status(&self, status: &str) {
        let labels = StatusLabels {
            status: status.to_string(),
        };
        self.order_transitions.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.observe_http("GET", "/api/v1/products/:id", 200, 0.01);
        metrics.set_link_up("world", true);
        metrics.link_message("ups", "in");
        metrics.order_placed();
        metrics.order_status("delivered");
        let text = metrics.render();
        for expected in [
            r#"weshop_http_requests_total{method="GET",route="/api/v1/products/:id",status="200"} 1"#,
            r#"weshop_link_up{link="world"} 1"#,
            r#"weshop_link_messages_total{link="ups",direction="in"} 1"#,
            "weshop_orders_placed_total 1",
            r#"weshop_order_transitions_total{status="delivered"} 1"#,
            "weshop_http_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }
}
