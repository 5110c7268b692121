//! Each operation's spec lists only the problem statuses it can answer with.
//!
//! Every handler fails with the one [`ApiError`](super::problem::ApiError) type, whose
//! poem-openapi metadata names every status the API uses; left as generated, each operation
//! would promise a client it might answer 402 or 429. The spec is rewritten once at start:
//! statuses that follow from an operation's shape (parameters, a body, authentication) are
//! kept where that shape is, and the rest only where [`SPECIFIC`] names them. Schemathesis'
//! status-code conformance check in CI holds the table to what the server really answers.

use std::collections::BTreeSet;

use serde_json::Value;

/// The statuses an operation answers beyond those of its shape, and why.
const SPECIFIC: &[(&str, &[u16])] = &[
    // An address taken, a too-common password.
    ("register", &[409, 422]),
    // A wrong email or password; failed logins are throttled per account and per address.
    ("logIn", &[401, 429]),
    // At most 20 saved.
    ("addAddress", &[409]),
    // A too-common new password; the current password's tries are throttled like logins.
    ("changePassword", &[422, 429]),
    // The gateway refuses the card, at most 20 saved, the network rules refuse the number.
    ("addPaymentMethod", &[402, 409, 422]),
    // Stock in a warehouse that does not exist.
    ("restockProduct", &[409]),
    // Bytes of a known picture type that do not decode.
    ("uploadPicture", &[422]),
    // One campaign per seller per interval.
    ("sendPromotion", &[429]),
    // An empty or too heavy cart; a product withdrawn since.
    ("quoteCart", &[404, 409]),
    // A product that does not exist; a line past its cap.
    ("addCartItem", &[404, 409]),
    ("setCartItem", &[409]),
    // A refused card, an unknown payment method, a changed cart or price or stock, a reused
    // idempotency key.
    ("placeOrder", &[402, 404, 409, 422]),
    // Too late to cancel; the void refused.
    ("cancelOrder", &[402, 409]),
    // No package to label yet, or the order was cancelled.
    ("getOrderLabel", &[409]),
];

/// Secured reads that any logged-in user may make (no role, no CSRF check): no 403.
const OPEN_TO_ANY_USER: &[&str] = &[
    "getProfile",
    "listAddresses",
    "listPaymentMethods",
    "listOrders",
    "listNotifications",
];

/// The problem statuses `operation` can answer with.
fn statuses(operation: &Value) -> BTreeSet<u16> {
    let id = operation["operationId"].as_str().unwrap_or_default();
    let has_body = operation.get("requestBody").is_some();
    let parameters = operation["parameters"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let has_path_parameter = parameters.iter().any(|p| p["in"] == "path");
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let mut statuses = BTreeSet::from([503]);
    if has_body || !parameters.is_empty() {
        statuses.insert(400);
    }
    if secured {
        statuses.insert(401);
        if !OPEN_TO_ANY_USER.contains(&id) {
            statuses.insert(403);
        }
    }
    if has_path_parameter {
        statuses.insert(404);
    }
    if has_body {
        statuses.extend([413, 415]);
    }
    if let Some((_, more)) = SPECIFIC.iter().find(|(name, _)| *name == id) {
        statuses.extend(more.iter().copied());
    }
    statuses
}

/// `spec` (OpenAPI JSON) with each operation's error responses cut down to its own.
pub fn document(spec: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    if let Some(paths) = document["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in operation.values_mut() {
                let keep = statuses(operation);
                if let Some(responses) = operation["responses"].as_object_mut() {
                    responses.retain(|status, _| match status.parse::<u16>() {
                        Ok(code) if code >= 400 => keep.contains(&code),
                        _ => true,
                    });
                }
            }
        }
    }
    serde_json::to_string(&document).unwrap_or_else(|_| spec.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_follow_the_shape_and_the_table() {
        let read = json!({"operationId": "listCategories"});
        assert_eq!(statuses(&read), BTreeSet::from([503]));
        let order = json!({"operationId": "placeOrder", "requestBody": {},
            "parameters": [{"in": "header"}], "security": [{"bearer": []}]});
        assert_eq!(
            statuses(&order),
            BTreeSet::from([400, 401, 402, 403, 404, 409, 413, 415, 422, 503])
        );
        let spec = json!({"paths": {"/categories": {"get": {"operationId": "listCategories",
            "responses": {"200": {}, "400": {}, "402": {}, "503": {}}}}}});
        let cut: Value = serde_json::from_str(&document(&spec.to_string())).unwrap();
        let kept: Vec<_> = cut["paths"]["/categories"]["get"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(kept, ["200", "503"]);
    }
}
