//! Mail: notifications from the inbox sent over SMTP (lettre), and the mail catcher the demo
//! and the tests receive them with.
//!
//! - [`settings`]: the `[smtp]` settings and `WESHOP_SMTP_*`;
//! - [`compose`]: an inbox entry as a multipart (text + HTML) mail with a stable Message-ID;
//! - [`mailer`]: the loop that sends the queue, with backoff, recording each mail's fate;
//! - [`smtp`]: the SMTP client it sends with (lettre's protocol, pooled, Nagle off);
//! - `transaction`: one mail's exchange on a connection, pipelined where the server allows;
//! - [`catcher`]: a small in-memory SMTP server (the demo's, shown at `/demo/mailbox`).

pub mod catcher;
pub mod compose;
pub mod mailer;
pub mod settings;
pub mod smtp;
mod transaction;
