//! What a hostile client cannot do to the HTTP server: make it read huge bodies, or grow its
//! metrics with invented methods, or hold connections with slow heads, idle sockets or sheer
//! numbers. Over a real socket wherever the connection itself is what is tested.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    http::{Method, StatusCode},
    listener::{Acceptor, Listener, TcpListener},
    test::TestClient,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{Location, WarehouseId, WarehouseSite},
};
use weshop_server::{
    api::{ApiState, limits::MAX_BODY_BYTES, routes},
    http_guard::{GuardedAcceptor, HttpLimits},
    metrics::Metrics,
};
use weshop_storage::memory::MemoryStore;

use crate::GUARD;

pub(crate) async fn state() -> ApiState {
    let shop = ShopBuilder::new(Arc::new(MemoryStore::new()))
        .warehouses([WarehouseSite {
            id: WarehouseId::new(1).unwrap(),
            location: Location::new(10, 10),
        }])
        .build()
        .await
        .unwrap();
    ApiState {
        shop: shop.shop().clone(),
        metrics: Arc::new(Metrics::new()),
        secure_cookies: false,
    }
}

/// The API on a free loopback port, with the default connection limits.
async fn serve() -> SocketAddr {
    serve_with(HttpLimits::default()).await
}

/// The API on a free loopback port behind the server's connection guard.
async fn serve_with(limits: HttpLimits) -> SocketAddr {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let acceptor = GuardedAcceptor::new(acceptor, limits);
    let api = routes(state().await);
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .idle_timeout(limits.idle_timeout)
            .run(api)
            .await;
    });
    addr
}

/// Reads until the peer closes the connection (or fails it); `None` if it stays open for
/// `wait`.
async fn closed_within(socket: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(wait, async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| seen)
}

#[tokio::test]
async fn a_slow_headers_client_is_dropped_after_the_header_timeout() {
    let addr = serve_with(HttpLimits {
        header_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    })
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // The start of a head, then a trickle that never ends it.
    socket.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if socket
                .write_all(format!("x-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    tokio::time::timeout(GUARD, trickle)
        .await
        .expect("the server drops the connection");
    // A client that sends its head in time is served as usual.
    let answer = exchange(addr, "GET /health HTTP/1.1\r\nhost: shop\r\n\r\n", b"").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let addr = serve_with(HttpLimits {
        idle_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    })
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nhost: shop\r\n\r\n")
        .await
        .unwrap();
    // Answered, then kept alive with nothing to do: closed after the idle timeout.
    let seen = closed_within(&mut socket, GUARD)
        .await
        .expect("the idle connection is closed");
    assert!(seen.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let addr = serve_with(HttpLimits {
        max_connections: 2,
        header_timeout: Duration::from_secs(60),
        ..HttpLimits::default()
    })
    .await;
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut third, Duration::from_millis(500))
            .await
            .is_none(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let answer = closed_within(&mut third, GUARD)
        .await
        .expect("served once a slot is free");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// Sends `head` and `body` on a fresh connection and reads the answer until the server
/// closes or has sent the head and a little more.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&answer);
                    if let Some(end) = text.find("\r\n\r\n") {
                        // The head and a complete small body are enough.
                        if text.len() > end + 4 && text[end..].contains('}') {
                            break;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the server answers without waiting for the body");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_50_mb_body_is_refused_with_413_before_it_is_read() {
    let addr = serve().await;
    // Announce 50 MB, send one byte: the answer must come without the other 49.99 MB.
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ncontent-length: 52428800\r\n\r\n";
    let answer = exchange(addr, head, b"{").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let addr = serve().await;
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    // A JSON string longer than the limit, in 16 KiB chunks, then the end of the body.
    let mut body = Vec::new();
    let chunk = vec![b'a'; 16 * 1024];
    let mut first = b"{\"email\":\"".to_vec();
    first.extend_from_slice(&chunk);
    body.extend_from_slice(format!("{:x}\r\n", first.len()).as_bytes());
    body.extend_from_slice(&first);
    body.extend_from_slice(b"\r\n");
    let chunks = (MAX_BODY_BYTES as usize / chunk.len()) + 2;
    for _ in 0..chunks {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(addr, head, &body).await;
    let status: u16 = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"));
    assert!(
        (400..500).contains(&status),
        "an over-long chunked body is a client error: {answer}"
    );
    assert!(
        answer.contains("larger than"),
        "the answer says the body was cut off: {answer}"
    );
}

#[tokio::test]
async fn invented_methods_add_no_metrics_series() {
    let client = TestClient::new(routes(state().await));
    let method = Method::from_bytes("X".repeat(60 * 1024).as_bytes()).unwrap();
    for _ in 0..3 {
        let response = client.request(method.clone(), "/health").send().await;
        assert_ne!(response.0.status(), StatusCode::OK);
    }
    let other = Method::from_bytes(b"PURGE").unwrap();
    client.request(other, "/api/v1/products").send().await;
    let metrics = client.get("/metrics").send().await;
    let text = metrics.0.into_body().into_string().await.unwrap();
    assert!(
        !text.contains("XXXX"),
        "the raw method is a label: {}",
        text.len()
    );
    assert!(!text.contains("PURGE"), "{text}");
    assert!(text.contains(r#"method="OTHER""#), "{text}");
    assert!(
        text.len() < 16 * 1024,
        "metrics page of {} bytes",
        text.len()
    );
}

/// Requests hyper refuses before the app sees them (a garbage request line, a URI or a head
/// too large) still get a problem body, and the connection is closed.
#[tokio::test]
async fn protocol_errors_are_problems_too() {
    let addr = serve().await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    for (name, request) in [
        ("garbage", "GARBAGE GARBAGE\r\n\r\n".to_string()),
        ("long uri", long_uri),
        ("huge header", huge_header),
    ] {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let _ = socket.write_all(request.as_bytes()).await;
        let response = closed_within(&mut socket, GUARD)
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).to_string())
            .unwrap_or_default();
        let status: u16 = response
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(
            (400..500).contains(&status),
            "{name}: {}",
            &response[..response.len().min(300)]
        );
        let lower = response.to_lowercase();
        assert!(
            lower.contains("content-type: application/problem+json"),
            "{name}: {}",
            &response[..response.len().min(300)]
        );
        assert!(
            response.contains(&format!("\"status\":{status}")),
            "{name}: {response}"
        );
    }
}
