//! The durable gateway over each store when calls come at once: each is answered as if made
//! alone, the journal holds each once, and it replays to the same ledger — for one node and
//! for two sharing the store.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use futures::future::join_all;
use weshop_core::{
    domain::CardNumber,
    durable_gateway::DurableGateway,
    payments::{Authorization, Hold, IdempotencyKey, Payments},
    store::Store,
};

use super::{Interleaved, usd};

/// Calls at once per gateway.
const AT_ONCE: usize = 30;

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).expect("valid key")
}

/// Every hold in the gateway's ledger, with what was captured and voided of it.
fn holds(gateway: &DurableGateway) -> BTreeMap<String, Hold> {
    gateway.ledger().holds()
}

/// `AT_ONCE` authorizations made at once, the `n`-th through `gateway(n)` for `base + n`
/// cents under the key `prefix-n`; their answers, in that order.
async fn authorize_at_once<'g>(
    gateway: impl Fn(usize) -> &'g DurableGateway,
    token: &str,
    prefix: &str,
    base: i64,
) -> Vec<Authorization> {
    join_all((0..AT_ONCE).map(|n| {
        let gateway = gateway(n);
        async move {
            gateway
                .authorize(token, usd(base + n as i64), &key(&format!("{prefix}-{n}")))
                .await
                .unwrap()
        }
    }))
    .await
}

pub async fn payment_journal_at_once<S: Store + ?Sized + 'static>(store: Arc<S>) {
    // Every store call yields first, so the calls' turns interleave with their arrivals.
    let store: Arc<dyn Store> = Arc::new(Interleaved::new(store));
    let gateway = DurableGateway::open(store.clone()).await.unwrap();
    let card = gateway
        .tokenize(&CardNumber::parse("4242424242424242").unwrap())
        .await
        .unwrap();
    let authorized = authorize_at_once(|_| &gateway, &card.token, "a", 100).await;
    let ids: BTreeSet<String> = authorized.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids.len(), AT_ONCE, "each call has its own authorization");
    for (n, authorization) in authorized.iter().enumerate() {
        assert_eq!(
            authorization.amount,
            usd(100 + n as i64),
            "each its own answer"
        );
    }
    // A retry made at the same time as its first attempt answers the same.
    let twins = join_all(
        (0..2).map(|_| async { gateway.authorize(&card.token, usd(7), &key("twin")).await }),
    )
    .await;
    assert_eq!(twins[0], twins[1]);
    // Voids and captures at once, half each.
    let moved = join_all(authorized.iter().enumerate().map(|(n, a)| {
        let gateway = &gateway;
        async move {
            if n % 2 == 0 {
                gateway.void(&a.id, &key(&format!("v-{n}"))).await
            } else {
                gateway
                    .capture(&a.id, a.amount, &key(&format!("c-{n}")))
                    .await
            }
        }
    }))
    .await;
    assert!(moved.iter().all(Result::is_ok), "{moved:?}");

    let journal = store.payment_records().await.unwrap();
    assert_eq!(
        journal.len(),
        1 + AT_ONCE + 2 + AT_ONCE,
        "each call journaled once"
    );
    assert_eq!(
        gateway.open_authorizations().await.unwrap(),
        vec![twins[0].clone().unwrap().id],
        "only the twins' hold is left open"
    );
    let reopened = DurableGateway::open(store.clone()).await.unwrap();
    assert_eq!(
        holds(&reopened),
        holds(&gateway),
        "the journal replays to the same holds"
    );

    // Two nodes sharing the store: calls made at once on both are each answered, and each
    // node's ledger then has the other's calls too.
    let one = DurableGateway::open(store.clone()).await.unwrap().shared();
    let two = DurableGateway::open(store.clone()).await.unwrap().shared();
    let both = authorize_at_once(
        |n| if n % 2 == 0 { &one } else { &two },
        &card.token,
        "s",
        1_000,
    )
    .await;
    let ids: BTreeSet<String> = both.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        ids.len(),
        AT_ONCE,
        "each call on either node has its own authorization"
    );
    let open = one.open_authorizations().await.unwrap();
    assert_eq!(open, two.open_authorizations().await.unwrap());
    assert_eq!(holds(&one), holds(&two), "both nodes applied every call");
    assert_eq!(
        open.len(),
        1 + AT_ONCE,
        "the twins' hold and the two nodes' new ones"
    );
}
