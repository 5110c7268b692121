//! Notifications through the outbox's path and out as mail: how fast the inbox files them (in
//! batches of 100, as an outbox pass does) and how fast the mailer sends them to an SMTP server
//! on loopback (the in-process catcher), composing each from its templates and recording it.
//!
//! `cargo bench --bench mail -- [NOTIFICATIONS] [memory|mem|surrealkv]` (default 2000 on
//! memory; `surrealkv` is SurrealDB on disk with a sync per commit).

use std::{sync::Arc, time::Instant};

use weshop::core::{
    domain::{Email, Password, PasswordHash, PersonName, Roles, Timestamp},
    inbox::InboxNotifier,
    notify::{Notification, Notifier},
    ports::SystemClock,
    store::{NewUser, Store},
};
use weshop::server::mail::{
    catcher::MailCatcher,
    compose::Composer,
    mailer::{self, Mailer},
};

const FROM: &str = "WeShop <shop@weshop.test>";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let count: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let backend = args.get(1).map(String::as_str).unwrap_or("memory");
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        "memory" => "memory://".to_string(),
        "mem" => "mem://".to_string(),
        "surrealkv" => format!("surrealkv://{}", dir.path().join("db").display()),
        other => panic!("unknown backend {other}: memory, mem or surrealkv"),
    };
    let store: Arc<dyn Store> = weshop::storage::open(&url).await.unwrap();

    // One user per 10 notifications (an account's welcome, its orders' news).
    let hash = tokio::task::spawn_blocking(|| {
        PasswordHash::create(&Password::new("benchmark password").unwrap())
    })
    .await
    .unwrap();
    let mut users = Vec::new();
    for i in 0..count.div_ceil(10) {
        let user = store
            .create_user(NewUser {
                email: Email::parse(&format!("u{i}@example.com")).unwrap(),
                name: PersonName::parse("Bench User").unwrap(),
                roles: Roles::new(true, false).unwrap(),
                password: hash.clone(),
                created: Timestamp(0),
            })
            .await
            .unwrap();
        users.push(user.id);
    }

    let notifier = InboxNotifier::new(store.clone(), Arc::new(SystemClock), true);
    let started = Instant::now();
    let batch: Vec<_> = (0..count)
        .map(|i| {
            (
                format!("outbox-{i}"),
                users[i % users.len()],
                Notification::Welcome,
            )
        })
        .collect();
    for chunk in batch.chunks(100) {
        notifier.notify_all(chunk.to_vec()).await.unwrap();
    }
    let filing = started.elapsed();

    let catcher = MailCatcher::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let smtp = catcher.settings(FROM);
    let mailer = Mailer::new(
        store.clone(),
        Composer::new(FROM, "https://shop.example").unwrap(),
        mailer::transport(&smtp).unwrap(),
        Arc::new(SystemClock),
        notifier.mail_queued(),
    );
    let started = Instant::now();
    let sent = mailer.pass().await.unwrap();
    let mailing = started.elapsed();
    assert_eq!(sent, count);
    assert_eq!(catcher.count(), count);
    println!(
        "{backend}: {count} notifications filed in {:.2} s ({:.0}/s, batches of 100); \
         mailed in {:.2} s ({:.0} mails/s: compose, SMTP on loopback, record)",
        filing.as_secs_f64(),
        count as f64 / filing.as_secs_f64(),
        mailing.as_secs_f64(),
        count as f64 / mailing.as_secs_f64(),
    );
    store.close().await.unwrap();
}
