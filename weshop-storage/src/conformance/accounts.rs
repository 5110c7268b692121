//! Accounts: users and login sessions.

use std::sync::Arc;

use weshop_core::{
    domain::{
        Address, CardBrand, Location, LoginSession, PasswordHash, PaymentMethod, PersonName, Roles,
        SessionToken, UserId,
    },
    store::{Store, StoreError},
};

use super::common::{at, customer_role, email, new_user, password_hash, seller_role, user_with};

/// Users: ids, duplicate emails, lookups, profiles round-tripping exactly, customers.
pub async fn users<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let hash = password_hash().await;
    let both = Roles::new(true, true).expect("roles");
    let ada = store
        .create_user(new_user("Ada@Example.COM", customer_role(), &hash, at(1)))
        .await
        .expect("create ada");
    assert_eq!(
        ada.email.as_str(),
        "ada@example.com",
        "addresses are case-insensitive"
    );
    assert_eq!(ada.name.as_str(), "Test User");
    assert_eq!(
        (ada.roles, &ada.password, ada.created),
        (customer_role(), &hash, at(1))
    );
    assert!(ada.addresses.is_empty() && ada.payment_methods.is_empty());
    let bob = user_with(&*store, "bob@example.com", seller_role()).await;
    let cy = user_with(&*store, "cy@example.com", both).await;
    assert!(ada.id < bob.id && bob.id < cy.id, "user ids increase");

    match store
        .create_user(new_user("Ada@EXAMPLE.com", seller_role(), &hash, at(2)))
        .await
    {
        Err(StoreError::Duplicate(_)) => {}
        other => panic!("a taken email must be Duplicate, got {other:?}"),
    }
    assert_eq!(store.user(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        store
            .user_by_email(&email("Ada@example.com"))
            .await
            .unwrap(),
        Some(ada.clone())
    );
    assert_eq!(
        store.user(UserId::new(999_999_999).unwrap()).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .user_by_email(&email("nobody@example.com"))
            .await
            .unwrap(),
        None
    );
    assert!(!ada.promotions, "nobody gets promotions without opting in");
    assert_eq!(store.promotion_audience().await.unwrap(), vec![]);

    // A profile round-trips exactly: name, roles, password, addresses, cards, in order.
    let mut profile = ada.clone();
    profile.name = PersonName::parse("Ada King, Countess of Lovelace").unwrap();
    profile.roles = both;
    profile.promotions = true;
    profile.password = PasswordHash::from_stored(
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
    )
    .unwrap();
    profile.addresses = vec![
        Address::new("home", Location::new(-5, 7)).unwrap(),
        Address::new("work – 2nd floor ✓", Location::new(i32::MAX, i32::MIN)).unwrap(),
        Address::new("\"quoted\"", Location::new(0, 0)).unwrap(),
    ];
    profile.payment_methods = vec![
        PaymentMethod {
            token: "tok_00000001".into(),
            brand: CardBrand::Visa,
            last4: "4242".into(),
        },
        PaymentMethod {
            token: "tok_00000002".into(),
            brand: CardBrand::Amex,
            last4: "0005".into(),
        },
        PaymentMethod {
            token: "tok_00000003".into(),
            brand: CardBrand::Mastercard,
            last4: "4444".into(),
        },
        PaymentMethod {
            token: "tok_00000004".into(),
            brand: CardBrand::Discover,
            last4: "1117".into(),
        },
    ];
    store.update_user(&profile).await.expect("update profile");
    assert_eq!(store.user(ada.id).await.unwrap(), Some(profile.clone()));
    assert_eq!(
        store.user_by_email(&ada.email).await.unwrap(),
        Some(profile.clone())
    );
    profile.addresses.truncate(1);
    profile.payment_methods.clear();
    store.update_user(&profile).await.expect("shrink profile");
    assert_eq!(store.user(ada.id).await.unwrap(), Some(profile.clone()));
    assert_eq!(
        store.user(bob.id).await.unwrap(),
        Some(bob.clone()),
        "others unchanged"
    );

    // The audience of promotions: customers who opted in (ada, above).
    assert_eq!(store.promotion_audience().await.unwrap(), vec![ada.id]);
    let mut cy_in = cy.clone();
    cy_in.promotions = true;
    store.update_user(&cy_in).await.expect("update cy");
    assert_eq!(
        store.promotion_audience().await.unwrap(),
        vec![ada.id, cy.id]
    );
    let mut cy_seller = cy_in.clone();
    cy_seller.roles = seller_role();
    store.update_user(&cy_seller).await.expect("update cy");
    let mut bob_both = bob.clone();
    bob_both.roles = both;
    bob_both.promotions = true;
    store.update_user(&bob_both).await.expect("update bob");
    assert_eq!(
        store.promotion_audience().await.unwrap(),
        vec![ada.id, bob.id],
        "customers only"
    );
    let mut ada_out = profile.clone();
    ada_out.promotions = false;
    store.update_user(&ada_out).await.expect("opt out");
    assert_eq!(store.promotion_audience().await.unwrap(), vec![bob.id]);
    store.update_user(&profile).await.expect("opt in again");

    let mut ghost = profile.clone();
    ghost.id = UserId::new(999_999_999).unwrap();
    match store.update_user(&ghost).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("updating a missing user must be NotFound, got {other:?}"),
    }
    assert_eq!(store.user(ghost.id).await.unwrap(), None);
}

/// Sessions: saved, found by token hash, deleted once.
pub async fn sessions<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let (one, two, other) = (
        SessionToken::generate(),
        SessionToken::generate(),
        SessionToken::generate(),
    );
    let first = LoginSession {
        user: ada.id,
        token: one.hash(),
        expires: at(3_600_000),
    };
    let second = LoginSession {
        user: ada.id,
        token: two.hash(),
        expires: at(7_200_000),
    };
    store.create_session(&first).await.expect("create session");
    store.create_session(&second).await.expect("create session");
    assert_eq!(
        store.session(&one.hash()).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.session(&two.hash()).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.session(&other.hash()).await.unwrap(), None);
    // A session with its user, as a request's authentication reads them; a session whose
    // account is gone comes without one.
    let stored_ada = store.user(ada.id).await.unwrap().expect("ada is stored");
    assert_eq!(
        store.session_user(&one.hash()).await.unwrap(),
        Some((first.clone(), Some(stored_ada)))
    );
    assert_eq!(store.session_user(&other.hash()).await.unwrap(), None);
    let orphan_token = SessionToken::generate();
    let orphan = LoginSession {
        user: UserId::new(999_999_998).unwrap(),
        token: orphan_token.hash(),
        expires: at(3_600_000),
    };
    store.create_session(&orphan).await.expect("create session");
    assert_eq!(
        store.session_user(&orphan_token.hash()).await.unwrap(),
        Some((orphan, None))
    );
    assert!(store.delete_session(&orphan_token.hash()).await.unwrap());
    assert!(store.delete_session(&one.hash()).await.unwrap());
    assert_eq!(store.session(&one.hash()).await.unwrap(), None);
    // Also as authentication reads it, which had just read it (a store may keep it).
    assert_eq!(store.session_user(&one.hash()).await.unwrap(), None);
    assert!(
        !store.delete_session(&one.hash()).await.unwrap(),
        "a deleted session is gone"
    );
    assert!(!store.delete_session(&other.hash()).await.unwrap());
    assert_eq!(
        store.session(&two.hash()).await.unwrap(),
        Some(second.clone()),
        "other sessions stay"
    );

    // Ending all of a user's sessions but one leaves the one, and other users' sessions.
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let (three, four, bobs) = (
        SessionToken::generate(),
        SessionToken::generate(),
        SessionToken::generate(),
    );
    for (user, token) in [(ada.id, &three), (ada.id, &four), (bob.id, &bobs)] {
        let session = LoginSession {
            user,
            token: token.hash(),
            expires: at(3_600_000),
        };
        store
            .create_session(&session)
            .await
            .expect("create session");
    }
    // Read as authentication reads them first: ending them must not leave them readable.
    for token in [&two, &three, &four] {
        assert!(store.session_user(&token.hash()).await.unwrap().is_some());
    }
    assert_eq!(
        store
            .delete_sessions_of(ada.id, &four.hash())
            .await
            .unwrap(),
        2,
        "two and three end"
    );
    assert_eq!(store.session(&two.hash()).await.unwrap(), None);
    assert_eq!(store.session(&three.hash()).await.unwrap(), None);
    assert!(store.session(&four.hash()).await.unwrap().is_some(), "kept");
    assert_eq!(store.session_user(&two.hash()).await.unwrap(), None);
    assert_eq!(store.session_user(&three.hash()).await.unwrap(), None);
    assert!(store.session_user(&four.hash()).await.unwrap().is_some());
    assert!(
        store.session(&bobs.hash()).await.unwrap().is_some(),
        "not ada's"
    );
}
