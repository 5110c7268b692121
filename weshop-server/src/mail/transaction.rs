//! One mail's SMTP transaction on an open connection: MAIL, RCPT and DATA as one group when
//! the server offers PIPELINING (RFC 2920), else one command at a time; then the content and
//! its closing dot in one write.
//!
//! lettre's `AsyncSmtpConnection::send` writes each command and waits for its reply, then
//! writes the content and the closing dot apart: five writes and four round trips a mail.
//! Here it is two of each with a pipelining server (three round trips without). On loopback
//! a write is a system call that also runs the receiver's TCP work; to a distant server a
//! round trip is its latency. lettre keeps its raw write private, but its public `command`
//! writes whatever its argument displays and then reads one reply, and `read_response` reads
//! the next: a group is one `command` whose display is all of the group's lines.

use std::fmt::{self, Display, Formatter, Write as _};

use lettre::{
    address::{Address, Envelope},
    transport::smtp::{
        client::AsyncSmtpConnection,
        commands::{Data, Ehlo, Mail, Rcpt},
        extension::{ClientId, Extension, MailBodyParameter, MailParameter},
    },
};

use super::smtp::SendError;

/// Whether the server offers PIPELINING. lettre reads the EHLO reply only for the extensions
/// it knows, which PIPELINING is not, so the client says EHLO once more and reads it itself
/// (RFC 5321 allows a later EHLO; it resets the session as RSET would).
pub(super) async fn offers_pipelining(
    connection: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, SendError> {
    let reply = connection.command(Ehlo::new(hello.clone())).await?;
    // The first line is the server's name; each other line one extension and its arguments.
    Ok(reply.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    }))
}

/// Sends `content` to `envelope`'s recipients. Any error leaves the connection mid-exchange
/// (replies of a group may be unread): the caller closes it.
pub(super) async fn send(
    connection: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    content: &[u8],
) -> Result<(), SendError> {
    let mail = Mail::new(
        envelope.from().cloned(),
        parameters(connection, envelope, content)?,
    );
    let recipients: Vec<Rcpt> = envelope
        .to()
        .iter()
        .map(|to| Rcpt::new(to.clone(), Vec::new()))
        .collect();
    if pipelining {
        // The replies come in order; the first refusal ends the exchange (and the caller
        // closes the connection with the rest unread).
        connection
            .command(Group {
                mail: &mail,
                recipients: &recipients,
            })
            .await?;
        for _ in 0..=recipients.len() {
            connection.read_response().await?;
        }
    } else {
        connection.command(&mail).await?;
        for recipient in &recipients {
            connection.command(recipient).await?;
        }
        connection.command(Data).await?;
    }
    match std::str::from_utf8(content) {
        Ok(text) => connection.command(Content(text)).await?,
        // Not text (no mail composed here is): lettre's own way, the dot apart.
        Err(_) => connection.message(content).await?,
    };
    Ok(())
}

/// MAIL's parameters: what the envelope and the content need from the server, as lettre's
/// `send` asks for them (a server without them cannot take this mail, ever).
fn parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    content: &[u8],
) -> Result<Vec<MailParameter>, SendError> {
    let server = connection.server_info();
    let mut parameters = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|a: &Address| !AsRef::<str>::as_ref(a).is_ascii()) {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Unsupported(
                "an address is not ASCII and the server does not offer SMTPUTF8",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !content.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(SendError::Unsupported(
                "the mail is not ASCII and the server does not offer 8BITMIME",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// MAIL, each RCPT and DATA: one pipelined group (DATA must end a group).
struct Group<'a> {
    mail: &'a Mail,
    recipients: &'a [Rcpt],
}

impl Display for Group<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(self.mail, f)?;
        for recipient in self.recipients {
            Display::fmt(recipient, f)?;
        }
        Display::fmt(&Data, f)
    }
}

/// A mail's content as sent after DATA: every line that starts with a dot gets another one
/// (RFC 5321 4.5.2, lines ending in CRLF as lettre counts them), then CRLF, dot, CRLF.
struct Content<'a>(&'a str);

impl Display for Content<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest.starts_with('.') {
            f.write_char('.')?;
        }
        while let Some(at) = rest.find("\r\n.") {
            f.write_str(&rest[..at + 2])?;
            f.write_char('.')?;
            // `rest` now starts with the line's own dot, which the next slice writes.
            rest = &rest[at + 2..];
        }
        f.write_str(rest)?;
        f.write_str("\r\n.\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lines_starting_with_a_dot_are_stuffed_and_a_dot_line_ends_it() {
        let shown = |text| Content(text).to_string();
        assert_eq!(shown("plain"), "plain\r\n.\r\n");
        assert_eq!(shown(".first"), "..first\r\n.\r\n");
        assert_eq!(
            shown("a\r\n.\r\n..b\r\nc."),
            "a\r\n..\r\n...b\r\nc.\r\n.\r\n"
        );
        assert_eq!(shown("a\r\n\r\n.x"), "a\r\n\r\n..x\r\n.\r\n");
        // A bare LF starts no line here, as in lettre's codec.
        assert_eq!(shown("a\n.b"), "a\n.b\r\n.\r\n");
        assert_eq!(shown(""), "\r\n.\r\n");
    }

    #[test]
    fn a_group_is_its_commands_in_order_ending_with_data() {
        let mail = Mail::new(Some("shop@weshop.test".parse().unwrap()), Vec::new());
        let recipients = [
            Rcpt::new("a@example.com".parse().unwrap(), Vec::new()),
            Rcpt::new("b@example.com".parse().unwrap(), Vec::new()),
        ];
        let group = Group {
            mail: &mail,
            recipients: &recipients,
        };
        assert_eq!(
            group.to_string(),
            "MAIL FROM:<shop@weshop.test>\r\nRCPT TO:<a@example.com>\r\n\
             RCPT TO:<b@example.com>\r\nDATA\r\n"
        );
    }
}
