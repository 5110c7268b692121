//! The web shop in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! with fantoccini, against the whole system on free ports.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them these
//! tests fail, saying what to install: a browser test that skips would pass without testing.
//! `WESHOP_CHROMEDRIVER` and `WESHOP_CHROMIUM` override where they are looked for.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::support::{PATIENCE, System};

/// Guards against a hang only (a page that never shows what it should).
const GUARD: Duration = Duration::from_secs(60);

/// A world pace at which an order takes seconds, so its page sees it move.
const WATCHABLE: u32 = 100;

/// A headless Chromium session, with its chromedriver and a fresh profile; both go when the
/// session is closed or dropped.
pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn program(variable: &str, names: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on PATH (nor in ${variable}): the browser tests need Debian's chromium \
         and chromium-driver (apt-get install chromium chromium-driver)",
        names.join(" or ")
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().unwrap().port()
}

impl Browser {
    /// Opens a browser on the shop at `base` (`http://host:port`).
    pub async fn open(base: &str) -> Browser {
        let chromedriver = program("WESHOP_CHROMEDRIVER", &["chromedriver"]);
        let chromium = program("WESHOP_CHROMIUM", &["chromium", "chromium-browser"]);
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&url).await {
                Ok(client) => break client,
                // chromedriver takes a moment to listen, Chromium a moment to start.
                Err(_) if started.elapsed() < GUARD => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!(
                    "no browser session from {}: {error}",
                    chromedriver.display()
                ),
            }
        };
        Browser {
            client,
            base: base.to_string(),
            driver,
            _profile: profile,
        }
    }

    /// Goes to `path` on the shop.
    pub async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// The element `css` finds, once it is there.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(GUARD)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("{css} never appeared on {}: {e}", self.url().await),
        }
    }

    /// Types `text` into the field `css` finds (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks what `css` finds.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// The page's address path.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_string())
            .unwrap_or_default()
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap_or_default()
    }

    /// Waits until the text of `css` satisfies `done`; returns every distinct text it showed.
    pub async fn watch(
        &self,
        css: &str,
        within: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let started = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let text = self.find(css).await.text().await.unwrap_or_default();
            if seen.last() != Some(&text) {
                seen.push(text.clone());
            }
            if done(&text) {
                return seen;
            }
            assert!(
                started.elapsed() < within,
                "{css} never got there; it showed {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs out and waits for the logged-out page: a navigation started before the logout's
    /// redirect lands would be overtaken by it.
    pub async fn log_out(&self) {
        self.click("form[action='/logout'] button").await;
        self.find("a[href='/login']").await;
    }

    /// Registers and ends logged in.
    pub async fn register(&self, email: &str, name: &str, seller: bool) {
        self.go("/register").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=name]", name).await;
        self.fill("input[name=password]", "correct horse battery")
            .await;
        if seller {
            self.click("input[name=seller]").await;
        }
        self.click("form[action='/register'] button[type=submit]")
            .await;
        self.find("form[action='/logout']").await;
    }

    /// Searches from the header's search box; returns the result count line.
    pub async fn search(&self, words: &str) -> String {
        self.fill("form[role=search] input[name=q]", words).await;
        self.click("form[role=search] button[type=submit]").await;
        self.find("#result-count").await.text().await.unwrap()
    }

    /// Opens the first search result whose name contains `name` and adds `quantity` to the cart.
    pub async fn add_to_cart(&self, name: &str, quantity: u32) {
        let cards = self
            .client
            .find_all(Locator::Css("li.card a"))
            .await
            .unwrap();
        let mut href = None;
        for card in cards {
            if card.text().await.unwrap_or_default().contains(name) {
                href = card.attr("href").await.unwrap();
                break;
            }
        }
        let href = href.unwrap_or_else(|| panic!("no result named {name}"));
        self.go(&href).await;
        self.fill("form.buy input[name=quantity]", &quantity.to_string())
            .await;
        self.click("form.buy button[type=submit]").await;
        self.find("a[href='/checkout']").await;
    }

    /// Saves a screenshot of the page as `target/screenshots/NAME.png` (the README shows
    /// copies of them from `docs/screenshots/`).
    pub async fn snap(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Closes the session and stops its chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test still stops its chromedriver (and so its Chromium).
        let _ = self.driver.kill();
    }
}

/// Flow 1 (and 4): a new customer registers, searches, adds two products, checks out with a
/// new address and card — twice, as a double submit would — and watches the order page reach
/// "Delivered" without reloading it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_shops_in_the_browser_and_watches_the_order_arrive() {
    let data = tempfile::tempdir().unwrap();
    // Slow enough that the order page is open before the order is delivered.
    let system = System::start_at(&data.path().join("db"), 0, 20, WATCHABLE).await;
    let browser = Browser::open(&system.base).await;
    browser
        .register("carol@example.com", "Carol Customer", false)
        .await;
    browser.go("/").await;
    browser.snap("home").await;
    // Readable at a phone's width too.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.snap("home-phone").await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    let count = browser.search("mug").await;
    assert!(count.contains("found"), "{count}");
    browser.snap("search").await;
    browser.add_to_cart("Stoneware mug", 2).await;
    browser.client.back().await.unwrap();
    browser.snap("product").await;
    browser.search("kettle").await;
    browser.add_to_cart("Electric kettle", 1).await;
    browser.go("/cart").await;
    let cart = browser.text().await;
    assert!(
        cart.contains("Stoneware mug") && cart.contains("Electric kettle"),
        "{cart}"
    );
    browser.snap("cart").await;

    browser.go("/checkout").await;
    browser.click("input[name=address][value='']").await;
    browser.fill("input[name=x]", "12").await;
    browser.fill("input[name=y]", "34").await;
    // What each delivery option costs there, and when it arrives, before paying.
    browser.click("button[name=action][value=quote]").await;
    let standard = browser.find("#option-standard").await.text().await.unwrap();
    assert!(
        standard.contains("shipping")
            && standard.contains("arrives in")
            && standard.contains("total"),
        "{standard}"
    );
    browser.find("#option-express").await;
    browser.click("input[name=payment][value='']").await;
    browser
        .fill("input[name=card_number]", "4242 4242 4242 4242")
        .await;
    browser.snap("checkout").await;
    // A double submit: the same form, with the same idempotency key, posted twice.
    browser
        .client
        .execute(
            "const f = document.querySelector(\"form[action='/checkout']\"); \
             const data = new URLSearchParams(new FormData(f)); \
             return fetch('/checkout', {method: 'POST', body: data, redirect: 'manual'}) \
               .then(() => 'sent');",
            vec![],
        )
        .await
        .expect("the first submit is sent");
    browser.click("#place-order").await;
    let status = browser.find("#order-status").await;
    let order_path = browser.url().await;
    assert!(order_path.starts_with("/orders/"), "{order_path}");
    drop(status);

    // Live: no reload from here on; the page's SSE swaps the status in.
    let seen = browser
        .watch("#order-status", PATIENCE, |s| {
            s.eq_ignore_ascii_case("delivered")
        })
        .await;
    assert!(
        seen.len() >= 2,
        "the page never changed its status by itself: {seen:?}"
    );
    // The history list is swapped in live too.
    browser
        .watch("#order-history", GUARD, |h| h.contains("Delivered"))
        .await;
    assert_eq!(browser.url().await, order_path, "the page was never left");
    // The map followed too: the truck is drawn at the door now.
    let map = browser.find("#order-map").await;
    map.find(Locator::Css("#truck"))
        .await
        .expect("the delivered truck on the map");
    browser.snap("order").await;

    browser.go("/orders").await;
    let orders = browser
        .client
        .find_all(Locator::Css("a[href^='/orders/']"))
        .await
        .unwrap();
    assert_eq!(orders.len(), 1, "two submits of one form make one order");

    // Flow 3: another customer opening that order's page gets a 404 page.
    browser.log_out().await;
    browser
        .register("dave@example.com", "Dave Customer", false)
        .await;
    browser.go(&order_path).await;
    let text = browser.text().await;
    assert!(text.to_lowercase().contains("not found"), "{text}");

    browser.close().await;
    system.shutdown().await;
}

/// Flow 2: a seller lists a product with a PNG picture, restocks it and sees the units arrive
/// (incoming, then on hand); a customer then finds it by search, picture and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_lists_a_product_with_a_picture_and_a_customer_finds_it() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start_at(&data.path().join("db"), 0, 5, WATCHABLE).await;
    let browser = Browser::open(&system.base).await;
    browser
        .register("sara@example.com", "Sara Seller", true)
        .await;
    browser.go("/seller").await;
    browser.click("a[href='/seller/products/new']").await;

    // A real PNG file, chosen in the file input as a person would.
    let picture = data.path().join("lamp.png");
    let image = image::RgbImage::from_fn(900, 600, |x, y| {
        image::Rgb([(x / 4) as u8, (y / 3) as u8, 160])
    });
    image.save(&picture).unwrap();
    browser.fill("input[name=name]", "Brass reading lamp").await;
    browser
        .fill("textarea[name=description]", "A lamp for long evenings.")
        .await;
    browser.fill("input[name=category]", "lighting").await;
    browser.fill("input[name=price]", "64.00").await;
    browser.fill("input[name=weight]", "1800").await;
    browser
        .find("input[name=picture]")
        .await
        .send_keys(picture.to_str().unwrap())
        .await
        .unwrap();
    browser.snap("seller-product").await;
    browser.click("#product-form button[type=submit]").await;
    browser.find("#seller-products").await;
    assert_eq!(browser.url().await, "/seller");

    // Restock the new product's row: the units show as incoming, then on hand.
    let row = "//tr[td/a[contains(., 'Brass reading lamp')]]";
    let restock = |field: &'static str| format!("{row}//input[@name='{field}']");
    for (field, value) in [("warehouse", "1"), ("quantity", "7")] {
        let input = browser
            .client
            .find(Locator::XPath(&restock(field)))
            .await
            .expect("the product's restock form");
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser
        .client
        .find(Locator::XPath(&format!("{row}//button[@type='submit']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Empty while the page is between two loads (no cell yet, or a stale one).
    let stock = || async {
        match browser
            .client
            .find(Locator::XPath(&format!("{row}/td[3]")))
            .await
        {
            Ok(cell) => cell.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    // The click navigates (POST, then the dashboard again): read the cell once the new page
    // has it. On a busy machine the world may already have delivered the units by then.
    let started = Instant::now();
    loop {
        let now = stock().await;
        if now.contains("#1: 0 / 7 / 0") || now.contains("#1: 7 / 0 / 0") {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the 7 units, incoming or arrived: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The dashboard is a plain page: a seller reloads it to see the units arrive.
    let started = Instant::now();
    loop {
        browser.go("/seller").await;
        let now = stock().await;
        if now.contains("#1: 7 / 0 / 0") {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the units never arrived: {now}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.snap("seller").await;

    // A customer finds it, with its (re-encoded) picture loaded.
    browser.log_out().await;
    browser
        .register("tom@example.com", "Tom Customer", false)
        .await;
    let count = browser.search("brass lamp").await;
    assert!(count.contains("found"), "{count}");
    let loaded = browser
        .client
        .execute(
            "const card = [...document.querySelectorAll('li.card')]                .find(c => c.textContent.includes('Brass reading lamp'));              const img = card && card.querySelector('img');              if (!img) { return 'no picture'; }              return img.decode().then(() => img.naturalWidth + ' ' + img.getAttribute('src'));",
            vec![],
        )
        .await
        .unwrap();
    let loaded = loaded.as_str().unwrap_or_default().to_string();
    assert!(
        loaded.starts_with("320 /images/products/") && loaded.ends_with("/thumb.jpg"),
        "the result's picture: {loaded}"
    );
    browser.close().await;
    system.shutdown().await;
}

/// Flow 5: a form posted from another site, without the CSRF token, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_form_post_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start(&data.path().join("db"), 0, 5).await;
    let browser = Browser::open(&system.base).await;
    browser
        .register("erin@example.com", "Erin Customer", false)
        .await;
    // Another origin (a data: page) posting a form to the shop, as an attacker's page would.
    let target = format!("{}/cart/items", system.base);
    let page = format!(
        "data:text/html,<form id=f method=post action='{target}'>\
         <input name=csrf value=forged><input name=product_id value=1><input name=quantity value=5></form>\
         <script>document.getElementById('f').submit()</script>"
    );
    browser.client.goto(&page).await.unwrap();
    let started = Instant::now();
    loop {
        let text = browser.find("body").await.text().await.unwrap_or_default();
        if text.contains("403") || text.to_lowercase().contains("forbidden") {
            break;
        }
        assert!(started.elapsed() < GUARD, "not refused: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.go("/cart").await;
    let cart = browser.text().await;
    assert!(
        cart.to_lowercase().contains("empty"),
        "the cross-site post changed the cart: {cart}"
    );
    browser.close().await;
    system.shutdown().await;
}
