//! The login page under a password-guessing run: after a few wrong passwords the form comes
//! back with how long to wait (429, `Retry-After`), the same for a known and an unknown email.

use super::*;

#[tokio::test]
async fn the_login_page_makes_a_guesser_wait() {
    let app = app().await;
    let mut browser = app.browser();
    browser.register("lee@example.com", "Lee").await;
    let mut guesser = app.browser();
    for email in ["lee@example.com", "nobody@example.com"] {
        let csrf = guesser.get("/login").await.csrf();
        for _ in 0..5 {
            let wrong = guesser
                .post(
                    "/login",
                    &[
                        ("csrf", &csrf),
                        ("email", email),
                        ("password", "guess guess"),
                    ],
                )
                .await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        }
        let held = guesser
            .post(
                "/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert_eq!(held.headers[header::RETRY_AFTER], "1");
        assert!(
            held.body
                .contains("Too many failed logins; try again in 1 second."),
            "{}",
            held.body
        );
        assert!(
            held.body.contains(&format!(r#"value="{email}""#)),
            "the form is kept"
        );
    }
}
