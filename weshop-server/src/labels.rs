//! Shipping labels: one 4 × 6 inch PDF page per package, with a Code 128 barcode of the ship
//! id (what a warehouse scanner reads) and a QR code of the order's page (what a person's phone
//! reads).
//!
//! The barcode's bars and the QR's modules are vector rectangles, each code one filled path:
//! no raster image to scale, and no seams between touching modules when it is rasterised.
//! Text uses the PDF's built-in Helvetica, so nothing is embedded and a label is a few KiB.

use barcoders::sym::code128::Code128;
use printpdf::{
    BuiltinFont, Color, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, WindingOrder,
};
use qrcode::{EcLevel, QrCode};
use weshop_core::shop::ShippingLabel;

/// What goes on a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelData {
    /// The order.
    pub order_id: i64,
    /// The package's id in the world: the barcode.
    pub ship_id: i64,
    /// The warehouse it leaves from.
    pub warehouse_id: i32,
    /// Where that warehouse is.
    pub from: (i32, i32),
    /// Where it goes.
    pub to: (i32, i32),
    /// The buyer's UPS account, if they gave one.
    pub ups_account: Option<String>,
    /// The package's weight in grams, when every product in it is still known.
    pub weight_grams: Option<u64>,
    /// The delivery option, in words ("standard", "express").
    pub delivery: String,
    /// The order's page: the QR code.
    pub tracking_url: String,
}

impl LabelData {
    /// The label of what the shop answered, pointing at `tracking_url`.
    pub fn of(label: &ShippingLabel, tracking_url: String) -> Self {
        let order = &label.order;
        Self {
            order_id: order.id().get(),
            ship_id: label.ship_id.get(),
            warehouse_id: label.warehouse.id.get(),
            from: (label.warehouse.location.x, label.warehouse.location.y),
            to: (order.destination().x, order.destination().y),
            ups_account: order.ups_account().map(|a| a.as_str().to_string()),
            weight_grams: label.weight_grams,
            delivery: order.delivery().as_str().to_string(),
            tracking_url,
        }
    }
}

/// The page: 4 × 6 inches, the usual thermal label, in points.
const WIDTH: f32 = 288.0;
const HEIGHT: f32 = 432.0;
const MARGIN: f32 = 18.0;
/// Helvetica's digits are all this wide, in ems: enough to centre a number.
const DIGIT_EM: f32 = 0.556;
/// Narrowest bar kept: 0.35 mm, a bit over 4 pixels at 300 dpi.
const MIN_MODULE: f32 = 1.0;
/// Widest bar: longer ids get narrower bars, short ones do not sprawl.
const MAX_MODULE: f32 = 1.5;
/// Blank modules either side of the barcode, as Code 128 asks.
const QUIET_MODULES: f32 = 10.0;
/// The QR code's side, in points (about 35 mm).
const QR_SIDE: f32 = 100.0;

/// The label as a one-page PDF.
pub fn render_label(label: &LabelData) -> Vec<u8> {
    let mut page = Page::default();
    let left = MARGIN;
    let right_column = 150.0;

    page.text(left, 36.0, 18.0, true, "WeShop");
    page.text(
        left,
        58.0,
        14.0,
        true,
        &format!("{} DELIVERY", label.delivery.to_uppercase()),
    );
    page.rule(66.0);

    page.text(left, 80.0, 8.0, true, "FROM");
    page.text(
        left,
        95.0,
        12.0,
        false,
        &format!("Warehouse {}", label.warehouse_id),
    );
    page.text(
        left,
        109.0,
        10.0,
        false,
        &format!("at ({}, {})", label.from.0, label.from.1),
    );

    page.text(left, 126.0, 8.0, true, "TO");
    page.text(
        left,
        146.0,
        18.0,
        true,
        &format!("({}, {})", label.to.0, label.to.1),
    );
    match &label.ups_account {
        Some(account) => {
            page.text(left, 160.0, 8.0, false, "UPS account");
            page.text(left, 171.0, 9.0, true, &ellipsis(account, 48));
        }
        None => page.text(left, 160.0, 8.0, false, "No UPS account"),
    }
    page.rule(179.0);

    let weight = label.weight_grams.map_or("unknown".to_string(), kilograms);
    page.text(left, 193.0, 10.0, false, &format!("Weight: {weight}"));
    page.text(
        left,
        207.0,
        10.0,
        false,
        &format!("Delivery: {}", label.delivery),
    );
    page.text(
        right_column,
        193.0,
        10.0,
        false,
        &format!("Order: {}", label.order_id),
    );
    page.text(
        right_column,
        207.0,
        10.0,
        false,
        &format!("Ship id: {}", label.ship_id),
    );
    page.rule(215.0);

    page.barcode(225.0, 60.0, label.ship_id);
    page.rule(305.0);

    let qr_top = 320.0;
    let drew_qr = page.qr(left, qr_top, &label.tracking_url);
    let text_left = if drew_qr { left + QR_SIDE + 14.0 } else { left };
    let columns = if drew_qr { 26 } else { 56 };
    page.text(text_left, qr_top + 9.0, 9.0, true, "Track this package");
    for (n, line) in wrap(&label.tracking_url, columns, 7).iter().enumerate() {
        page.text(text_left, qr_top + 22.0 + 10.0 * n as f32, 8.0, false, line);
    }

    let mut document = PdfDocument::new(&format!("WeShop label, order {}", label.order_id));
    document.with_pages(vec![PdfPage::new(
        Mm(WIDTH * 25.4 / 72.0),
        Mm(HEIGHT * 25.4 / 72.0),
        page.ops,
    )]);
    let mut warnings = Vec::new();
    document.save(&PdfSaveOptions::default(), &mut warnings)
}

/// A page being drawn, with positions measured from its top left corner (PDF measures from
/// the bottom left).
#[derive(Default)]
struct Page {
    ops: Vec<Op>,
}

impl Page {
    /// One line of text whose baseline is `top` points below the page's top edge.
    fn text(&mut self, left: f32, top: f32, size: f32, bold: bool, text: &str) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: black() },
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(left),
                    y: Pt(HEIGHT - top),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(printable(text))],
            },
            Op::EndTextSection,
        ]);
    }

    /// A thin line across the page.
    fn rule(&mut self, top: f32) {
        let rule = rectangle(MARGIN, top, WIDTH - 2.0 * MARGIN, 0.8);
        self.fill(vec![rule]);
    }

    /// Fills the rectangles as one path, so touching ones leave no seam between them.
    fn fill(&mut self, rings: Vec<PolygonRing>) {
        if rings.is_empty() {
            return;
        }
        self.ops.extend([
            Op::SetFillColor { col: black() },
            Op::DrawPolygon {
                polygon: Polygon {
                    rings,
                    mode: PaintMode::Fill,
                    winding_order: WindingOrder::NonZero,
                },
            },
        ]);
    }

    /// The Code 128 barcode of `ship_id`, centred, `height` points tall, with the id printed
    /// under it.
    fn barcode(&mut self, top: f32, height: f32, ship_id: i64) {
        // "Ɓ" starts barcoders' character set B, which holds the digits.
        let Ok(code) = Code128::new(format!("\u{0181}{ship_id}")) else {
            return;
        };
        let modules = code.encode();
        let room = WIDTH - 2.0 * MARGIN;
        let module =
            (room / (modules.len() as f32 + 2.0 * QUIET_MODULES)).clamp(MIN_MODULE, MAX_MODULE);
        let left = (WIDTH - module * modules.len() as f32) / 2.0;
        let bars = runs(&modules)
            .map(|(start, length)| {
                rectangle(
                    left + module * start as f32,
                    top,
                    module * length as f32,
                    height,
                )
            })
            .collect();
        self.fill(bars);
        let digits = ship_id.to_string();
        let size = 11.0;
        let width = digits.len() as f32 * DIGIT_EM * size;
        self.text(
            (WIDTH - width) / 2.0,
            top + height + 13.0,
            size,
            false,
            &digits,
        );
    }

    /// The QR code of `data`, [`QR_SIDE`] points square; false if `data` is too long for one.
    fn qr(&mut self, left: f32, top: f32, data: &str) -> bool {
        let Ok(code) = QrCode::with_error_correction_level(data, EcLevel::M) else {
            return false;
        };
        let side = code.width();
        let module = QR_SIDE / side as f32;
        let dark: Vec<u8> = code
            .to_colors()
            .iter()
            .map(|c| u8::from(*c == qrcode::Color::Dark))
            .collect();
        let mut rings = Vec::new();
        for (row, cells) in dark.chunks(side).enumerate() {
            for (start, length) in runs(cells) {
                rings.push(rectangle(
                    left + module * start as f32,
                    top + module * row as f32,
                    module * length as f32,
                    module,
                ));
            }
        }
        self.fill(rings);
        true
    }
}

/// The runs of 1s in `modules`, as (start, length).
fn runs(modules: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < modules.len() && modules[at] == 0 {
            at += 1;
        }
        let start = at;
        while at < modules.len() && modules[at] != 0 {
            at += 1;
        }
        (at > start).then_some((start, at - start))
    })
}

/// A rectangle whose top left corner is `top` points below the page's top edge, as one ring
/// of a path (all drawn the same way round, so they add up under the non-zero rule).
fn rectangle(left: f32, top: f32, width: f32, height: f32) -> PolygonRing {
    let (bottom, upper) = (HEIGHT - top - height, HEIGHT - top);
    let corner = |x: f32, y: f32| LinePoint {
        p: Point { x: Pt(x), y: Pt(y) },
        bezier: false,
    };
    PolygonRing {
        points: vec![
            corner(left, upper),
            corner(left + width, upper),
            corner(left + width, bottom),
            corner(left, bottom),
        ],
    }
}

fn black() -> Color {
    Color::Rgb(Rgb {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        icc_profile: None,
    })
}

/// Grams as kilograms with three decimals ("1.250 kg").
fn kilograms(grams: u64) -> String {
    format!("{}.{:03} kg", grams / 1000, grams % 1000)
}

/// `text` with what the built-in fonts cannot show (they are WinAnsi-encoded; only ASCII is
/// certain) replaced by `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// At most `max` characters of `text`, the last three `...` when it was cut.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// `text` in lines of `columns` characters, at most `lines` of them (the last cut with `...`).
fn wrap(text: &str, columns: usize, lines: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = chars
        .chunks(columns.max(1))
        .map(|chunk| chunk.iter().collect())
        .collect();
    if out.len() > lines {
        out.truncate(lines);
        if let Some(last) = out.last_mut() {
            let kept: String = last.chars().take(columns.saturating_sub(3)).collect();
            *last = format!("{kept}...");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabelData {
        LabelData {
            order_id: 42,
            ship_id: 42,
            warehouse_id: 3,
            from: (30, 70),
            to: (-12, 45),
            ups_account: Some("ada-ups".into()),
            weight_grams: Some(1250),
            delivery: "express".into(),
            tracking_url: "https://shop.example/orders/42".into(),
        }
    }

    #[test]
    fn a_label_is_a_small_one_page_pdf_with_its_text() {
        let pdf = render_label(&sample());
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        assert!(pdf.len() < 64 * 1024, "{} bytes", pdf.len());
        let without = render_label(&LabelData {
            ups_account: None,
            weight_grams: None,
            ..sample()
        });
        assert!(without.starts_with(b"%PDF-"));
    }

    #[test]
    fn runs_are_the_stretches_of_ones() {
        let found: Vec<_> = runs(&[1, 1, 0, 1, 0, 0, 1, 1, 1]).collect();
        assert_eq!(found, vec![(0, 2), (3, 1), (6, 3)]);
        assert_eq!(runs(&[0, 0]).count(), 0);
    }

    #[test]
    fn text_fits_the_built_in_font_and_the_page() {
        assert_eq!(printable("café ✓"), "caf? ?");
        assert_eq!(kilograms(1250), "1.250 kg");
        assert_eq!(kilograms(7), "0.007 kg");
        assert_eq!(ellipsis("abcdefgh", 6), "abc...");
        assert_eq!(wrap("abcdefg", 3, 5), vec!["abc", "def", "g"]);
        let cut = wrap("abcdefghijkl", 3, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with("..."), "{cut:?}");
    }

    /// `cargo test -p weshop-server --release labels::tests::render_time -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn render_time() {
        let label = sample();
        let rounds = 500;
        let started = std::time::Instant::now();
        for n in 0..rounds {
            let pdf = render_label(&LabelData {
                ship_id: 1_000 + n,
                ..label.clone()
            });
            std::hint::black_box(pdf);
        }
        let each = started.elapsed() / rounds as u32;
        println!("render_label: {each:?} per label over {rounds} labels");
    }
}
