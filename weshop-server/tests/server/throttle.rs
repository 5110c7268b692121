//! Login throttling over a real socket: per account (the shop's) and per client address (the
//! server's), each answered 429 with `Retry-After` and a problem body.

use std::{net::SocketAddr, time::Duration};

use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use weshop_core::{
    domain::{Email, Password, PersonName, Roles},
    shop::Registration,
};
use weshop_server::api::routes;

use crate::{GUARD, PASSWORD, limits::state};

/// The API on a free port, with one customer `ann@example.com`.
async fn serve() -> SocketAddr {
    let state = state().await;
    state
        .shop
        .register(Registration {
            email: Email::parse("ann@example.com").unwrap(),
            password: Password::new(PASSWORD).unwrap(),
            name: PersonName::parse("Ann").unwrap(),
            roles: Roles::new(true, false).unwrap(),
        })
        .await
        .unwrap();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let api = routes(state);
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(api).await;
    });
    addr
}

/// `POST /api/v1/auth/login`: the status and the whole response (head and body).
async fn login(addr: SocketAddr, email: &str, password: &str) -> (u16, String) {
    let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(GUARD, socket.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response)
}

#[tokio::test]
async fn wrong_passwords_make_an_account_wait_then_it_logs_in() {
    let addr = serve().await;
    for _ in 0..5 {
        assert_eq!(login(addr, "ann@example.com", "not it").await.0, 401);
    }
    // Now even the right password waits: the wait is what slows a guesser down.
    let (status, response) = login(addr, "ann@example.com", PASSWORD).await;
    assert_eq!(status, 429, "{response}");
    let lower = response.to_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{response}");
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{response}"
    );
    assert!(
        response.contains(r#""type":"urn:weshop:problem:too-many-requests""#),
        "{response}"
    );
    // Other accounts are not held up.
    assert_eq!(login(addr, "bob@example.com", "not it").await.0, 401);
    // After the wait, the right password works (and forgets the failures).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(addr, "ann@example.com", PASSWORD).await.0, 200);
    assert_eq!(login(addr, "ann@example.com", "not it").await.0, 401);
}

#[tokio::test]
async fn one_address_trying_many_accounts_waits() {
    let addr = serve().await;
    for n in 0..20 {
        let (status, response) = login(addr, &format!("guess{n}@example.com"), "x1234567").await;
        assert_eq!(status, 401, "{response}");
    }
    let (status, response) = login(addr, "guess-next@example.com", "x1234567").await;
    assert_eq!(status, 429, "{response}");
    assert!(
        response.to_lowercase().contains("\r\nretry-after: "),
        "{response}"
    );
}
