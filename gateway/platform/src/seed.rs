//! The demo data: on first start, products with variants and stock, created through
//! the same use cases (and events) as any client's, so Inventory learns of every SKU
//! from `product.created` before its stock is set.

use std::time::{Duration, Instant};

use inventory_domain::MovementReason;
use kernel::{Currency, EventMeta, Money};
use products_domain::{Attribute, Category, Description, NewProduct, NewVariant, ProductName, Sku};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::Contexts;

const CATEGORIES: &[&str] = &[
    "electronics/phones",
    "electronics/laptops",
    "electronics/audio",
    "home/kitchen",
    "home/garden",
    "fashion/shoes",
    "fashion/bags",
    "toys",
    "books",
    "sports/outdoor",
    "beauty",
];
const ADJECTIVES: &[&str] = &[
    "Classic", "Smart", "Compact", "Pro", "Eco", "Ultra", "Vintage", "Travel", "Wireless", "Deluxe",
];
const NOUNS: &[&str] = &[
    "Phone",
    "Laptop",
    "Headphones",
    "Kettle",
    "Planter",
    "Sneakers",
    "Backpack",
    "Robot",
    "Novel",
    "Tent",
    "Serum",
    "Lamp",
];
const COLORS: &[&str] = &["BLACK", "WHITE", "RED", "BLUE", "GREEN"];

/// The demo data on first start: the catalog, a welcome coupon, two shipping methods
/// and the sales tax of a few places they ship to. Returns how many products it created (0 when the catalog was there
/// already).
///
/// # Errors
/// As [`demo_catalog`], or when the coupon cannot be created.
pub async fn demo(contexts: &Contexts, products: usize) -> anyhow::Result<usize> {
    let created = demo_catalog(contexts, products).await?;
    let code = coupons_domain::CouponCode::parse("WELCOME10")?;
    if contexts.coupons.coupons.find(&code).await?.is_none() {
        let usd = Currency::parse("USD")?;
        let rules = coupons_domain::CouponRules {
            minimum_order: Some(Money::new(1000, usd)),
            valid_from: chrono::Utc::now() - chrono::Duration::days(1),
            valid_until: None,
            max_uses: None,
            max_uses_per_user: Some(1),
        };
        let discount = coupons_domain::Discount::percentage(1000)?;
        contexts
            .coupons
            .coupons
            .create(code, discount, rules, &EventMeta::internal())
            .await?;
    }
    demo_shipping_methods(contexts).await?;
    demo_tax_rates(contexts).await?;
    Ok(created)
}

/// Sales tax where the demo ships, when the shop has no rates: the standard rate of a
/// few US states (Texas 6.25 %, California 7.25 %, New York 4 %) and Canada's GST (5 %).
/// Prices exclude tax, as in North America.
///
/// # Errors
/// When a rate cannot be saved.
async fn demo_tax_rates(contexts: &Contexts) -> anyhow::Result<()> {
    use products_domain::{Region, TaxRateEntry};
    let tax_rates = &contexts.products.tax_rates;
    if !tax_rates.list(None).await?.is_empty() {
        return Ok(());
    }
    for (country, region, percent) in [
        ("US", Some("TX"), "6.25"),
        ("US", Some("CA"), "7.25"),
        ("US", Some("NY"), "4"),
        ("CA", None, "5"),
    ] {
        let entry = TaxRateEntry::new(
            kernel::CountryCode::parse(country)?,
            region.map(Region::parse).transpose()?,
            kernel::TaxCategory::Standard,
            kernel::TaxRate::parse_percent(percent)?,
        )?;
        tax_rates.set(&entry).await?;
    }
    Ok(())
}

/// Two shipping methods in dollars when the shop has none: Standard (domestic and to
/// Canada and Mexico, free from 50.00) and Express (domestic).
///
/// # Errors
/// When a method cannot be saved.
async fn demo_shipping_methods(contexts: &Contexts) -> anyhow::Result<()> {
    use shipping_domain::{
        DeliveryWindow, MethodName, RateBand, ShippingMethod, ShippingMethodId, ShippingMethodState, Zone,
    };
    let shipping = &contexts.shipping.shipping;
    if !shipping.methods(true).await?.is_empty() {
        return Ok(());
    }
    let countries = |codes: &[&str]| {
        codes
            .iter()
            .map(|code| kernel::CountryCode::parse(code))
            .collect::<Result<Vec<_>, _>>()
    };
    let flat = |price: i64| RateBand { below: None, price };
    let usd = Currency::parse("USD")?;
    let methods = [
        (
            "Standard",
            "UPS",
            vec![
                Zone::new(
                    "Domestic",
                    &countries(&["US"])?,
                    &[
                        RateBand {
                            below: Some(2_500),
                            price: 799,
                        },
                        flat(499),
                    ],
                )?,
                Zone::new("North America", &countries(&["CA", "MX"])?, &[flat(1_500)])?,
            ],
            Some(5_000),
            (3, 5),
        ),
        (
            "Express",
            "FedEx",
            vec![Zone::new("Domestic", &countries(&["US"])?, &[flat(1_999)])?],
            None,
            (1, 2),
        ),
    ];
    for (name, carrier, zones, free_from, (min_days, max_days)) in methods {
        let method = ShippingMethod::new(ShippingMethodState {
            id: ShippingMethodId::new(),
            name: MethodName::parse("name", name)?,
            carrier: MethodName::parse("carrier", carrier)?,
            currency: usd,
            zones,
            free_from,
            delivery: DeliveryWindow::new(min_days, max_days)?,
            active: true,
        })?;
        shipping.create_method(method).await?;
    }
    Ok(())
}

/// Seeds `count` products (with 1 to 3 variants each) when the catalog is empty.
/// Returns how many products it created.
///
/// # Errors
/// When a use case fails, or Inventory does not learn of the SKUs within a minute.
pub async fn demo_catalog(contexts: &Contexts, count: usize) -> anyhow::Result<usize> {
    let existing = products_service::entity::product::Entity::find()
        .count(contexts.products.catalog.db())
        .await?;
    if existing > 0 {
        return Ok(0);
    }
    let mut rng = StdRng::seed_from_u64(42);
    let usd = Currency::parse("USD")?;
    let meta = EventMeta::internal();
    let mut stock = Vec::new();
    for index in 0..count {
        let name = format!(
            "{} {} {}",
            ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
            NOUNS[rng.random_range(0..NOUNS.len())],
            index + 1
        );
        let variant_count = rng.random_range(1..=3);
        let variants = (0..variant_count)
            .map(|v| {
                let color = COLORS[v];
                Ok(NewVariant {
                    sku: Sku::parse(&format!("SKU-{:05}-{color}", index + 1))?,
                    name: ProductName::parse(&format!("{name} ({})", color.to_lowercase()))?,
                    attributes: vec![Attribute::new("color", &color.to_lowercase())?],
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let command = NewProduct {
            name: ProductName::parse(&name)?,
            description: Description::parse(&format!("{name}: a demo product."))?,
            category: Category::parse(CATEGORIES[rng.random_range(0..CATEGORIES.len())])?,
            attributes: vec![Attribute::new("brand", "Demo")?],
            variants,
            price: Money::new(rng.random_range(199..=99_999), usd),
            tax_category: kernel::TaxCategory::Standard,
        };
        let product = contexts.products.catalog.create_product(command, &meta).await?;
        if rng.random_bool(0.9) {
            contexts.products.catalog.publish(product.id(), &meta).await?;
        }
        for variant in &product.state().variants {
            stock.push((variant.sku.as_str().to_owned(), rng.random_range(0..=200)));
        }
    }
    wait_for_stock_items(contexts, stock.iter().map(|(sku, _)| sku.clone()).collect()).await?;
    let reason = MovementReason::adjustment("demo seed")?;
    for (sku, units) in stock.into_iter().filter(|(_, units)| *units > 0) {
        let sku = inventory_domain::Sku::parse(&sku)?;
        contexts
            .inventory
            .stock
            .adjust(&sku, units, reason.clone(), &meta)
            .await?;
    }
    Ok(count)
}

/// Inventory creates stock items as it consumes `product.created`: wait for all.
async fn wait_for_stock_items(contexts: &Contexts, skus: Vec<String>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let known = inventory_service::repository::items(contexts.inventory.stock.db(), &skus).await?;
        if known.len() == skus.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("inventory knows {} of {} SKUs after a minute", known.len(), skus.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
