//! The demo's catalog: three sellers, their products and pictures, and a demo customer with
//! an address and a card, seeded through the [`Shop`] port.

use tracing::info;
use weshop_core::{
    domain::{
        Address, CardNumber, Category, Description, Email, ImageRef, Location, Money, Password,
        PersonName, ProductName, Quantity, Roles, UserId, Weight,
    },
    service::ShopConfig,
    shop::{ProductDraft, Registration, Shop, ShopError},
};

use crate::config::default_warehouses;

/// The demo customer's login.
pub const DEMO_EMAIL: &str = "demo@weshop.test";
/// The demo customer's password.
pub const DEMO_PASSWORD: &str = "demo-password";
/// The demo sellers' password.
pub const SELLER_PASSWORD: &str = "seller-password";
/// The demo customer's card.
pub const DEMO_CARD: &str = "4242 4242 4242 4242";

/// Products of the demo catalog: name, category, price, grams, description.
pub(super) const CATALOG: &[(&str, &str, &str, i64, &str)] = &[
    (
        "Stoneware mug",
        "kitchen",
        "12.50",
        350,
        "A 350 ml mug, glazed by hand.",
    ),
    (
        "Chef's knife",
        "kitchen",
        "54.00",
        220,
        "20 cm carbon-steel blade.",
    ),
    (
        "Cast-iron pan",
        "kitchen",
        "39.90",
        2400,
        "28 cm, pre-seasoned.",
    ),
    (
        "Electric kettle",
        "kitchen",
        "29.99",
        1100,
        "1.7 l, boils in three minutes.",
    ),
    (
        "Pour-over coffee set",
        "kitchen",
        "24.00",
        600,
        "Dripper, filters and a glass jug.",
    ),
    (
        "Bamboo cutting board",
        "kitchen",
        "18.75",
        900,
        "Reversible, with a juice groove.",
    ),
    (
        "Trail running shoes",
        "sports",
        "89.00",
        620,
        "Grippy soles for wet rock.",
    ),
    (
        "Yoga mat",
        "sports",
        "22.00",
        1500,
        "6 mm, non-slip, with a strap.",
    ),
    (
        "Water bottle",
        "sports",
        "15.00",
        300,
        "750 ml insulated steel, cold for a day.",
    ),
    (
        "Cycling gloves",
        "sports",
        "19.50",
        120,
        "Padded palms, touchscreen fingertips.",
    ),
    (
        "Tennis balls (4)",
        "sports",
        "8.99",
        240,
        "Pressurised, all-court.",
    ),
    (
        "Climbing chalk bag",
        "sports",
        "16.00",
        150,
        "With a drawstring and a brush loop.",
    ),
    (
        "Wireless headphones",
        "electronics",
        "129.00",
        260,
        "Noise cancelling, 30 h battery.",
    ),
    (
        "USB-C charger",
        "electronics",
        "25.00",
        110,
        "65 W, two ports.",
    ),
    (
        "Mechanical keyboard",
        "electronics",
        "95.00",
        900,
        "Tactile switches, hot-swappable.",
    ),
    (
        "E-reader",
        "electronics",
        "109.00",
        190,
        "6 inch glare-free screen.",
    ),
    (
        "Bluetooth speaker",
        "electronics",
        "49.00",
        540,
        "Waterproof, 12 h of music.",
    ),
    (
        "Webcam",
        "electronics",
        "59.00",
        160,
        "1080p with a privacy shutter.",
    ),
    (
        "Rust in Action",
        "books",
        "39.99",
        700,
        "Systems programming explained by building things.",
    ),
    (
        "The Pragmatic Programmer",
        "books",
        "42.00",
        650,
        "Twentieth-anniversary edition.",
    ),
    (
        "Designing Data-Intensive Applications",
        "books",
        "45.00",
        900,
        "Reliable, scalable systems.",
    ),
    (
        "Database Internals",
        "books",
        "48.00",
        850,
        "How storage engines and distributed databases work.",
    ),
    (
        "A field guide to birds",
        "books",
        "21.00",
        500,
        "Eight hundred species, illustrated.",
    ),
    (
        "Linen shirt",
        "clothing",
        "49.00",
        250,
        "Breathable, relaxed fit.",
    ),
    (
        "Wool socks (3 pairs)",
        "clothing",
        "18.00",
        180,
        "Merino blend, cushioned heel.",
    ),
    (
        "Rain jacket",
        "clothing",
        "79.00",
        420,
        "Packs into its own pocket.",
    ),
    (
        "Canvas tote",
        "clothing",
        "14.00",
        200,
        "Heavy cotton with an inner pocket.",
    ),
    (
        "Desk lamp",
        "home",
        "34.00",
        1300,
        "Dimmable LED, warm to cool light.",
    ),
    (
        "Houseplant pot",
        "home",
        "11.00",
        800,
        "Terracotta with a saucer.",
    ),
    (
        "Scented candle",
        "home",
        "16.50",
        400,
        "Cedar and bergamot, 40 hours.",
    ),
    (
        "Throw blanket",
        "home",
        "45.00",
        1200,
        "Knitted cotton, 130 x 170 cm.",
    ),
    ("Wall clock", "home", "27.00", 700, "Silent sweep movement."),
];

/// Seeds the catalog: three sellers with the products above, stock bought from the world in
/// every warehouse, and a demo customer with an address and a card. Returns the customer.
pub async fn seed(shop: &dyn Shop, stock_per_warehouse: u32) -> Result<UserId, ShopError> {
    let currency = ShopConfig::default().currency;
    let sellers = [
        ("kitchen@weshop.test", "Kim's Kitchen"),
        ("sports@weshop.test", "Sam's Sports"),
        ("general@weshop.test", "General Goods"),
    ];
    let mut seller_ids = Vec::new();
    for (email, name) in sellers {
        let user = shop
            .register(Registration {
                email: Email::parse(email)?,
                password: Password::new(SELLER_PASSWORD)?,
                name: PersonName::parse(name)?,
                roles: Roles::new(false, true)?,
            })
            .await?;
        seller_ids.push(user.id);
    }
    for (i, (name, category, price, grams, description)) in CATALOG.iter().enumerate() {
        let seller = match *category {
            "kitchen" | "home" => seller_ids[0],
            "sports" | "clothing" => seller_ids[1],
            _ => seller_ids[2],
        };
        let product = shop
            .create_product(
                seller,
                ProductDraft {
                    name: ProductName::parse(name)?,
                    description: Description::parse(description)?,
                    category: Category::parse(category)?,
                    price: Money::parse(price, currency)?,
                    weight: Weight::grams(*grams)?,
                    images: vec![ImageRef::parse(&picture(i + 1))?],
                },
            )
            .await?;
        if let Some(quantity) = std::num::NonZeroU32::new(stock_per_warehouse) {
            for site in default_warehouses() {
                shop.restock(
                    seller,
                    product.id,
                    site.id,
                    Quantity::new(i64::from(quantity.get()))?,
                )
                .await?;
            }
        }
    }
    let customer = shop
        .register(Registration {
            email: Email::parse(DEMO_EMAIL)?,
            password: Password::new(DEMO_PASSWORD)?,
            name: PersonName::parse("Dana Demo")?,
            roles: Roles::new(true, false)?,
        })
        .await?;
    shop.add_address(
        customer.id,
        Address::new("home", Location { x: 40, y: 45 })?,
    )
    .await?;
    shop.add_payment_method(customer.id, CardNumber::parse(DEMO_CARD)?)
        .await?;
    info!(
        "demo: seeded {} products from {} sellers",
        CATALOG.len(),
        seller_ids.len()
    );
    Ok(customer.id)
}

/// Where the demo's product pictures are served (see [`super::assets`]).
pub const PICTURES: &str = "/images/demo";

/// The picture of the `number`th product (from 1) of [`CATALOG`].
fn picture(number: usize) -> String {
    format!("{PICTURES}/{number}.svg")
}
