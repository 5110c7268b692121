//! Mail against a real SMTP server (the in-process catcher): sent once with a stable
//! Message-ID, sent after a "crash" by the next mailer, held while the server says "later",
//! recorded and never retried when it says "never"; and the SMTP client against other servers:
//! STARTTLS, SMTPS, and one that hangs up after each mail.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use mail_parser::MessageParser;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpListener,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{Email, Password, PersonName, Roles, User},
    inbox::{InboxNotifier, MailState},
    ports::SystemClock,
    shop::{Registration, Shop},
    store::{InboxStore, Store},
};
use weshop_server::mail::{
    catcher::MailCatcher,
    compose::Composer,
    mailer::{self, MailError, Mailer},
    settings::{SmtpSettings, SmtpTls},
    smtp::SmtpClient,
};
use weshop_storage::memory::MemoryStore;

use crate::{GUARD, PASSWORD};

const FROM: &str = "WeShop <shop@weshop.test>";
const PUBLIC: &str = "https://shop.example";

struct Setup {
    store: Arc<MemoryStore>,
    shop: Arc<dyn Shop>,
    catcher: MailCatcher,
}

async fn setup() -> Setup {
    let store = Arc::new(MemoryStore::new());
    let notifier = Arc::new(InboxNotifier::new(
        store.clone(),
        Arc::new(SystemClock),
        true,
    ));
    let shop = ShopBuilder::new(store.clone())
        .notifier(notifier)
        .build()
        .await
        .unwrap();
    let catcher = MailCatcher::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    Setup {
        store,
        shop: shop.shop().clone(),
        catcher,
    }
}

/// Settings for a server on this machine.
fn smtp(host: &str, port: u16, tls: SmtpTls, ca_file: Option<std::path::PathBuf>) -> SmtpSettings {
    SmtpSettings {
        host: host.into(),
        port: Some(port),
        user: None,
        password: None,
        from: FROM.into(),
        tls,
        ca_file,
    }
}

/// A mailer over `store` sending through `smtp`, woken by `queued`.
fn mailer_to(
    store: Arc<dyn Store>,
    smtp: &SmtpSettings,
    queued: Arc<tokio::sync::Notify>,
) -> Mailer {
    Mailer::new(
        store,
        Composer::new(FROM, PUBLIC).unwrap(),
        mailer::transport(smtp).unwrap(),
        Arc::new(SystemClock),
        queued,
    )
}

impl Setup {
    fn mailer(&self) -> Mailer {
        let smtp = smtp(
            "127.0.0.1",
            self.catcher.addr().port(),
            SmtpTls::Plain,
            None,
        );
        mailer_to(self.store.clone(), &smtp, Default::default())
    }

    async fn register(&self, email: &str) -> User {
        self.shop
            .register(Registration {
                email: Email::parse(email).unwrap(),
                password: Password::new(PASSWORD).unwrap(),
                name: PersonName::parse("Ada Lovelace").unwrap(),
                roles: Roles::new(true, false).unwrap(),
            })
            .await
            .unwrap()
    }

    async fn mail_state(&self, user: &User) -> MailState {
        self.store.notifications(user.id, None, 1).await.unwrap()[0]
            .mail
            .clone()
    }
}

#[tokio::test]
async fn a_welcome_goes_out_once_as_text_and_html_with_a_stable_message_id() {
    let setup = setup().await;
    let ada = setup.register("ada@example.com").await;
    let entry = setup.store.notifications(ada.id, None, 1).await.unwrap()[0].clone();
    assert_eq!(entry.mail, MailState::Pending);

    assert_eq!(setup.mailer().pass().await.unwrap(), 1);
    assert_eq!(setup.mailer().pass().await.unwrap(), 0, "sent once");
    let mails = setup.catcher.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ada@example.com"]);
    assert_eq!(mails[0].from, "shop@weshop.test");
    let mail = MessageParser::default().parse(&mails[0].data).unwrap();
    assert_eq!(mail.subject(), Some("Welcome to WeShop"));
    let expected_id = Composer::new(FROM, PUBLIC).unwrap().message_id(&entry);
    assert_eq!(
        mail.message_id().map(|id| format!("<{id}>")),
        Some(expected_id)
    );
    let text = mail.body_text(0).unwrap();
    let html = mail.body_html(0).unwrap();
    assert!(text.contains("Hello Ada Lovelace"), "{text}");
    assert!(text.contains("https://shop.example/account"), "{text}");
    assert!(html.contains("<h1"), "{html}");
    assert!(
        html.contains("href=\"https://shop.example/account\""),
        "{html}"
    );
    assert!(matches!(
        setup.mail_state(&ada).await,
        MailState::Sent { .. }
    ));
}

/// A seller's day goes out as one mail with the figures, the products running low and a
/// link to the dashboard.
#[tokio::test]
async fn a_seller_s_day_is_one_mail_with_what_sold_and_what_runs_low() {
    use weshop_core::domain::{Currency, Money, ProductId, Timestamp};
    use weshop_core::notify::{Notification, Notifier, SellerDay};
    let setup = setup().await;
    let ada = setup.register("ada@example.com").await;
    assert_eq!(setup.mailer().pass().await.unwrap(), 1, "the welcome");
    let notifier = InboxNotifier::new(setup.store.clone(), Arc::new(SystemClock), true);
    let day = SellerDay {
        day: Timestamp::from_millis(1_764_460_800_000), // 2025-11-30
        orders: 3,
        units: 7,
        amount: Money::from_minor(4_250, Currency::USD).unwrap(),
        delivered: 1,
        low_stock: vec![(ProductId::new(4).unwrap(), "Blue mug".into(), 2)],
    };
    notifier
        .notify("summary-x", ada.id, Notification::SellerSummary(day))
        .await
        .unwrap();
    assert_eq!(setup.mailer().pass().await.unwrap(), 1);
    let mails = setup.catcher.mails();
    let mail = MessageParser::default().parse(&mails[1].data).unwrap();
    assert_eq!(
        mail.subject(),
        Some("Your day on WeShop, 2025-11-30: 3 orders, 1 delivered")
    );
    let text = mail.body_text(0).unwrap();
    for said in [
        "On 2025-11-30 your products were in 3 new orders: 7 units for 42.50 USD.",
        "1 order with your products was delivered that day.",
        "Blue mug: 2 left to sell",
        "https://shop.example/seller",
    ] {
        assert!(text.contains(said), "{said:?} in {text}");
    }
}

/// The process dies after the notification is filed and before its mail went: the next
/// mailer (after a restart, over the same store) sends it, once. Had it died after the server
/// took the mail but before recording that, the mail goes again with the same Message-ID.
#[tokio::test]
async fn a_mail_not_sent_before_a_crash_is_sent_once_after_it_with_the_same_id() {
    let setup = setup().await;
    let ada = setup.register("ada@example.com").await;
    let first = setup.mailer();
    drop(first); // the process that filed it is gone before sending
    assert_eq!(setup.mailer().pass().await.unwrap(), 1);
    assert_eq!(setup.catcher.count(), 1);

    // Sent but not recorded: the entry is pending again, as a crash would leave it.
    setup
        .store
        .record_mail(
            setup.store.notifications(ada.id, None, 1).await.unwrap()[0].id,
            MailState::Pending,
        )
        .await
        .unwrap();
    assert_eq!(setup.mailer().pass().await.unwrap(), 1);
    let mails = setup.catcher.mails();
    assert_eq!(mails.len(), 2);
    let ids: Vec<_> = mails
        .iter()
        .map(|m| {
            MessageParser::default()
                .parse(&m.data)
                .unwrap()
                .message_id()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1], "the same mail, which receivers can tell");
}

#[tokio::test]
async fn a_server_that_says_later_gets_the_mail_later_and_one_that_says_never_is_recorded() {
    let setup = setup().await;
    let ada = setup.register("ada@example.com").await;
    setup.catcher.refuse(Some(451));
    for _ in 0..3 {
        assert!(matches!(
            setup.mailer().pass().await,
            Err(MailError::Unavailable(_))
        ));
    }
    assert_eq!(setup.mail_state(&ada).await, MailState::Pending);
    setup.catcher.refuse(None);
    assert_eq!(setup.mailer().pass().await.unwrap(), 1);
    assert_eq!(setup.catcher.wait_for(1, GUARD).await.len(), 1);

    let bob = setup.register("bob@example.com").await;
    setup.catcher.refuse(Some(550));
    assert_eq!(
        setup.mailer().pass().await.unwrap(),
        1,
        "recorded, not retried"
    );
    let MailState::Failed { reason } = setup.mail_state(&bob).await else {
        panic!("bob's welcome should have failed");
    };
    assert!(reason.contains("550"), "{reason}");
    setup.catcher.refuse(None);
    assert_eq!(setup.mailer().pass().await.unwrap(), 0, "never retried");
    assert_eq!(setup.catcher.count(), 1);
}

/// The mailer's own loop: woken by a filed notification, it sends without being asked.
#[tokio::test]
async fn the_running_mailer_sends_what_is_filed() {
    let setup = setup().await;
    let store: Arc<dyn Store> = setup.store.clone();
    let notifier = InboxNotifier::new(store.clone(), Arc::new(SystemClock), true);
    let queued = notifier.mail_queued();
    let smtp = smtp(
        "127.0.0.1",
        setup.catcher.addr().port(),
        SmtpTls::Plain,
        None,
    );
    let mailer = mailer_to(store, &smtp, queued);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(mailer.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let ada = setup.register("ada@example.com").await;
    use weshop_core::notify::{Notification, Notifier};
    notifier
        .notify("promo-1", ada.id, Notification::Welcome)
        .await
        .unwrap();
    let mails = setup.catcher.wait_for(2, GUARD).await;
    assert_eq!(
        mails.len(),
        2,
        "the registration's welcome and the one filed here"
    );
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Certificates for `localhost`, made with the `openssl` command: a CA and a leaf it signed.
/// Returns (CA, leaf certificate, leaf key) paths.
fn certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (Debian openssl) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=WeShop test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// A separate SMTP server process — Python's aiosmtpd (Debian `python3-aiosmtpd`, installed
/// by `.ci/run`) — on a free port, with the test certificates (made in `dir`) given as
/// `cert_flag` and `key_flag`; it prints each mail it takes. Also the CA to trust.
async fn aiosmtpd(
    dir: &std::path::Path,
    cert_flag: &str,
    key_flag: &str,
) -> (std::path::PathBuf, tokio::process::Child, u16) {
    let (ca, cert, key) = certificates(dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            cert_flag.as_ref(),
            cert.as_os_str(),
            key_flag.as_ref(),
            key.as_os_str(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let up = tokio::time::timeout(GUARD, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = server.try_wait() {
                return Err(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    })
    .await
    .expect("the SMTP server starts");
    if let Err(status) = up {
        let mut stderr = String::new();
        use tokio::io::AsyncReadExt;
        server
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        panic!(
            "aiosmtpd exited ({status}): {stderr}\n(install Debian python3-aiosmtpd; .ci/run does)"
        );
    }
    (ca, server, port)
}

/// Asserts that `server` (see [`aiosmtpd`]) printed a mail with this Message-ID.
async fn assert_printed(server: &mut tokio::process::Child, message_id: &str) {
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(GUARD, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let hit = line.contains(message_id);
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(
        found,
        "the server printed the mail with its Message-ID: {seen:#?}"
    );
}

/// A welcome mail over `tls` to the server at `port` (see [`aiosmtpd`]): not trusting the
/// server's CA, no mail, and it waits; trusting `ca`, it is sent and `server` prints it.
async fn sent_only_with_the_ca_trusted(
    setup: &Setup,
    server: &mut tokio::process::Child,
    port: u16,
    tls: SmtpTls,
    ca: std::path::PathBuf,
) {
    let ada = setup.register("ada@example.com").await;
    let entry = setup.store.notifications(ada.id, None, 1).await.unwrap()[0].clone();
    let mailer = |ca_file: Option<std::path::PathBuf>| {
        mailer_to(
            setup.store.clone(),
            &smtp("localhost", port, tls, ca_file),
            Default::default(),
        )
    };
    assert!(matches!(
        mailer(None).pass().await,
        Err(MailError::Unavailable(_))
    ));
    assert_eq!(setup.mail_state(&ada).await, MailState::Pending);
    assert_eq!(mailer(Some(ca)).pass().await.unwrap(), 1);
    assert!(matches!(
        setup.mail_state(&ada).await,
        MailState::Sent { .. }
    ));
    let expected_id = Composer::new(FROM, PUBLIC).unwrap().message_id(&entry);
    assert_printed(server, &expected_id).await;
}

/// A separate SMTP server that requires STARTTLS: the shop's mail goes over TLS to it,
/// checked against the server's private CA; without that CA the mail waits, and a shop set to
/// send in plain text is refused by the server and told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_smtp_server_requiring_starttls_gets_the_mail_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, mut server, port) = aiosmtpd(dir.path(), "--tlscert", "--tlskey").await;

    let setup = setup().await;
    sent_only_with_the_ca_trusted(&setup, &mut server, port, SmtpTls::Starttls, ca).await;

    // A shop told to send in plain text: the server refuses (530) and the refusal is kept.
    let bob = setup.register("bob@example.com").await;
    let plain = mailer_to(
        setup.store.clone(),
        &smtp("localhost", port, SmtpTls::Plain, None),
        Default::default(),
    );
    assert_eq!(plain.pass().await.unwrap(), 1);
    let MailState::Failed { reason } = setup.mail_state(&bob).await else {
        panic!("a plain-text mail to a STARTTLS-only server is refused");
    };
    assert!(
        reason.contains("530") || reason.to_lowercase().contains("starttls"),
        "{reason}"
    );
    server.kill().await.unwrap();
}

/// The same with TLS from the first byte (SMTPS), over the shop's own socket (see
/// `mail::smtp`): sent when the CA is trusted, waiting when it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_smtps_server_gets_the_mail_over_tls_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, mut server, port) = aiosmtpd(dir.path(), "--smtpscert", "--smtpskey").await;

    let setup = setup().await;
    sent_only_with_the_ca_trusted(&setup, &mut server, port, SmtpTls::Tls, ca).await;
    server.kill().await.unwrap();
}

/// An SMTP server on this machine that takes each mail and then hangs up, without waiting
/// for a QUIT (as some servers do after a mail or when a connection idles); its port, and how
/// many mails it took.
async fn hanging_up_server() -> (u16, Arc<AtomicUsize>) {
    let taken = Arc::new(AtomicUsize::new(0));
    let count = taken.clone();
    let port = scripted_server(move |read, mut write| {
        let count = count.clone();
        async move {
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"220 hangs up after each mail\r\n").await;
            let mut in_body = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let reply: &[u8] = if in_body {
                    if line != "." {
                        continue;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = write.write_all(b"250 taken\r\n").await;
                    return;
                } else if line.to_ascii_uppercase().starts_with("DATA") {
                    in_body = true;
                    b"354 go on\r\n"
                } else {
                    b"250 ok\r\n"
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (port, taken)
}

/// A scripted SMTP server on this machine: each connection, split, goes to `session` in a
/// task of its own. Its port.
async fn scripted_server<S, F>(session: S) -> u16
where
    S: Fn(OwnedReadHalf, OwnedWriteHalf) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (read, write) = socket.into_split();
            tokio::spawn(session(read, write));
        }
    });
    port
}

/// A client of the plain SMTP server on this machine's `port`.
fn loopback_client(port: u16) -> SmtpClient {
    mailer::transport(&smtp("127.0.0.1", port, SmtpTls::Plain, None)).unwrap()
}

/// Sends "Mail 1" … "Mail {count}" to ada through `client`, each accepted within 20 s (a
/// client that waited for replies a server holds until DATA would hang).
async fn send_numbered(client: &SmtpClient, count: usize) {
    for n in 1..=count {
        let mail = mail_to("ada@example.com", &format!("Mail {n}"));
        tokio::time::timeout(std::time::Duration::from_secs(20), client.send(&mail))
            .await
            .unwrap_or_else(|_| panic!("mail {n}: no answer in 20 s"))
            .unwrap_or_else(|e| panic!("mail {n}: {e}"));
    }
}

/// A mail on a pooled connection that the server has dropped goes at once on a new
/// connection, instead of failing and waiting for the mailer's retry.
#[tokio::test]
async fn a_pooled_connection_the_server_dropped_is_replaced_at_once() {
    let (port, taken) = hanging_up_server().await;
    send_numbered(&loopback_client(port), 3).await;
    assert_eq!(taken.load(Ordering::SeqCst), 3, "each mail taken once");
}

/// What a [`strict_server`] read between two of its writes: the commands, one per line, or
/// `content` for a mail's content, `ahead` when a command arrived with another behind it.
type Turns = Arc<std::sync::Mutex<Vec<String>>>;

/// An SMTP server on this machine that checks how it is spoken to. Offering PIPELINING, it
/// holds its replies to MAIL and RCPT until DATA comes, so a client that waited for each
/// reply would hang; not offering it, it answers each command at once and notes a command
/// that came with another already behind it. It refuses recipients named `nobody`.
async fn strict_server(pipelining: bool) -> (u16, Turns) {
    let turns = Turns::default();
    let log = turns.clone();
    let port =
        scripted_server(move |read, write| strict_session(pipelining, read, write, log.clone()))
            .await;
    (port, turns)
}

/// One connection to a [`strict_server`].
async fn strict_session(
    pipelining: bool,
    read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
    log: Turns,
) {
    let mut read = BufReader::new(read);
    let mut replies = String::from("220 strict\r\n");
    let mut turn: Vec<String> = Vec::new();
    let (mut line, mut recipients) = (String::new(), 0);
    loop {
        if !replies.is_empty()
            && (!pipelining || read.buffer().is_empty())
            && !answer(&mut write, &mut replies, &mut turn, &log).await
        {
            return;
        }
        line.clear();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap().to_ascii_uppercase();
        if verb == "EHLO" {
            replies += if pipelining {
                "250-strict\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
            } else {
                "250-strict\r\n250 8BITMIME\r\n"
            };
            continue;
        }
        if !pipelining && !read.buffer().is_empty() {
            turn.push("ahead".into());
        }
        turn.push(command.clone());
        let reply = match verb.as_str() {
            "MAIL" => {
                recipients = 0;
                "250 ok\r\n"
            }
            "RCPT" if command.contains("nobody") => "550 5.1.1 no such user\r\n",
            "RCPT" => {
                recipients += 1;
                "250 ok\r\n"
            }
            "DATA" if recipients == 0 => "503 no valid recipients\r\n",
            "DATA" => {
                // The replies held so far, and the one the content waits for.
                replies += "354 go on\r\n";
                if !answer(&mut write, &mut replies, &mut turn, &log).await {
                    return;
                }
                loop {
                    line.clear();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                turn.push("content".into());
                "250 taken\r\n"
            }
            "QUIT" => "221 bye\r\n",
            _ => "250 ok\r\n",
        };
        replies += reply;
        // With pipelining, MAIL's and RCPT's replies wait for the group's end: with nothing
        // behind them yet, the client must send the rest unasked.
        if pipelining && (verb == "MAIL" || verb == "RCPT") {
            while read.buffer().is_empty() {
                if read.fill_buf().await.map(|b| b.is_empty()).unwrap_or(true) {
                    return;
                }
            }
        }
    }
}

/// Writes the replies held, after logging the commands they answer as one turn; false once
/// the client is gone.
async fn answer(
    write: &mut OwnedWriteHalf,
    replies: &mut String,
    turn: &mut Vec<String>,
    log: &Turns,
) -> bool {
    if !turn.is_empty() {
        log.lock().unwrap().push(turn.join("|"));
        turn.clear();
    }
    let written = write.write_all(replies.as_bytes()).await.is_ok();
    replies.clear();
    written
}

fn mail_to(to: &str, subject: &str) -> lettre::Message {
    lettre::Message::builder()
        .from(FROM.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .body(String::from("Hello"))
        .unwrap()
}

/// With a server that offers PIPELINING, MAIL, RCPT and DATA go as one group (a server that
/// answers nothing before DATA still gets the mail), on a fresh connection and on a pooled
/// one; a refused recipient is a permanent failure and no content is sent.
#[tokio::test]
async fn a_pipelining_server_gets_mail_rcpt_and_data_as_one_group() {
    let (port, turns) = strict_server(true).await;
    let client = loopback_client(port);
    send_numbered(&client, 2).await;
    let group = "MAIL FROM:<shop@weshop.test>|RCPT TO:<ada@example.com>|DATA";
    assert_eq!(*turns.lock().unwrap(), [group, "content", group, "content"],);
    let refused = client
        .send(&mail_to("nobody@example.com", "Lost"))
        .await
        .expect_err("a refused recipient");
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.to_string().contains("no such user"), "{refused}");
    let turns = turns.lock().unwrap();
    assert_eq!(
        turns[4], "MAIL FROM:<shop@weshop.test>|RCPT TO:<nobody@example.com>|DATA",
        "{turns:?}"
    );
    // The client closes the connection (a QUIT the server may log or not).
    assert!(
        !turns[5..].iter().any(|t| t.contains("content")),
        "no content after a refusal: {turns:?}"
    );
}

/// With a server that does not offer PIPELINING, each command waits for its reply.
#[tokio::test]
async fn a_server_without_pipelining_gets_one_command_at_a_time() {
    let (port, turns) = strict_server(false).await;
    send_numbered(&loopback_client(port), 2).await;
    let one = [
        "MAIL FROM:<shop@weshop.test>",
        "RCPT TO:<ada@example.com>",
        "DATA",
        "content",
    ];
    assert_eq!(*turns.lock().unwrap(), [one, one].concat());
}

/// Lines of a mail that start with a dot, or are one, arrive as written through the
/// pipelined exchange with the catcher (the dots stuffed on the way and taken off on arrival).
#[tokio::test]
async fn lines_starting_with_a_dot_arrive_as_written() {
    let catcher = MailCatcher::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let client = mailer::transport(&smtp(
        "127.0.0.1",
        catcher.addr().port(),
        SmtpTls::Plain,
        None,
    ))
    .unwrap();
    let text = ".starts with a dot\r\n.\r\n..two\r\nends with a dot.";
    let message = lettre::Message::builder()
        .from(FROM.parse().unwrap())
        .to("ada@example.com".parse().unwrap())
        .subject("Dots")
        .header(lettre::message::header::ContentTransferEncoding::SevenBit)
        .body(String::from(text))
        .unwrap();
    client.send(&message).await.unwrap();
    let mails = catcher
        .wait_for(1, std::time::Duration::from_secs(20))
        .await;
    let data = String::from_utf8(mails[0].data.clone()).unwrap();
    assert!(data.ends_with(&format!("\r\n\r\n{text}\r\n")), "{data:?}");
}
