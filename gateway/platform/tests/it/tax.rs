//! Tax through the gateway: staff set rates per country, region and tax category (bad
//! ones refused, nothing written), a checkout is taxed at the rates of its shipping
//! address — per line after its share of the coupon, the shipping at the standard rate,
//! half to even — and the order shows its tax lines, its total with the tax and a
//! payment of that total; where prices include tax, the tax is shown and not added.

use serde_json::{Value, json};

use crate::shop::{Customer, add_to_cart, checkout_shipped_to, coupon, ok, shipping_method, stocked_product};
use crate::{Backend, TestPlatform, fast_jobs};

const SET_RATE: &str =
    "mutation($input: SetTaxRateInput!) { setTaxRate(input: $input) { country region category percent } }";

const ORDER: &str = r#"query($id: ID!) {
  order(id: $id) {
    subtotal { amount } discount { amount } shippingCost { amount }
    tax { amount } pricesIncludeTax total { amount currency }
    taxLines { sku percent taxable { amount } amount { amount } }
    payment { status amount { amount } }
  }
}"#;

async fn set_rate(
    platform: &TestPlatform,
    country: &str,
    region: Option<&str>,
    category: &str,
    percent: &str,
) -> Value {
    let input = json!({ "input": { "country": country, "region": region, "category": category, "percent": percent } });
    platform.post_admin(SET_RATE, input).await.1
}

/// Checks out `cart` to Austin, Texas (`tx`, as a customer may write it).
async fn checkout_to_texas(
    platform: &TestPlatform,
    customer: &Customer,
    cart: &str,
    coupon: Option<&str>,
    method: &str,
) -> String {
    let austin = json!({
        "name": "Tex Customer", "line1": "1 Congress Ave", "city": "Austin", "region": "tx",
        "postalCode": "73301", "country": "US",
    });
    checkout_shipped_to(platform, customer, cart, coupon, method, austin).await
}

#[tokio::test]
async fn a_checkout_is_taxed_at_the_rates_where_its_goods_go() {
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        taxed_checkout(&platform).await;
        platform.stop().await;
    }
}

async fn taxed_checkout(platform: &TestPlatform) {
    // Bad rates are refused with the field at fault, and a customer may set none.
    for (country, category, percent) in [("XX", "STANDARD", "5"), ("US", "STANDARD", "101"), ("US", "ZERO", "5")] {
        let refused = set_rate(platform, country, None, category, percent).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
    }
    let customer = Customer::new();
    let (_, forbidden) = platform
        .post_as(
            Some(&customer.token),
            SET_RATE,
            json!({ "input": { "country": "US", "category": "STANDARD", "percent": "1" } }),
        )
        .await;
    assert!(
        ["FORBIDDEN", "UNAUTHENTICATED"].contains(&forbidden["errors"][0]["extensions"]["code"].as_str().unwrap_or("")),
        "{forbidden}"
    );
    // Texas taxes goods at 6.25 %; the whole US taxes reduced-rate goods at 2 %.
    let set = set_rate(platform, "US", Some("tx"), "STANDARD", "6.25").await;
    assert_eq!(
        set["data"]["setTaxRate"],
        json!({ "country": "US", "region": "TX", "category": "STANDARD", "percent": "6.25" }),
        "{set}"
    );
    set_rate(platform, "US", None, "REDUCED", "2.0").await;
    let (_, rates) = platform
        .post(
            "query { taxRates(country: \"US\") { region category percent } }",
            json!({}),
        )
        .await;
    assert_eq!(
        rates["data"]["taxRates"],
        json!([
            { "region": null, "category": "REDUCED", "percent": "2" },
            { "region": "TX", "category": "STANDARD", "percent": "6.25" },
        ]),
        "only what was accepted is written: {rates}"
    );
    let (_, at) = platform
        .post(
            "query { taxRatesAt(country: \"us\", region: \"TX\") { pricesIncludeTax rates { category percent } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        at["data"]["taxRatesAt"],
        json!({ "pricesIncludeTax": false, "rates": [
            { "category": "STANDARD", "percent": "6.25" },
            { "category": "REDUCED", "percent": "2" },
            { "category": "ZERO", "percent": "0" },
        ] }),
        "{at}"
    );

    stocked_product(platform, "TAX-STD", 1_999, 10).await;
    let reduced = stocked_product(platform, "TAX-RED", 1_000, 10).await;
    let updated = ok(
        platform,
        &platform.admin_token(),
        "mutation($id: ID!) { updateProduct(id: $id, input: { taxCategory: REDUCED }) { taxCategory } }",
        json!({ "id": reduced }),
    )
    .await;
    assert_eq!(updated["updateProduct"]["taxCategory"], "REDUCED");
    coupon(platform, "TENOFF", 1_000, None).await;
    let method = shipping_method(platform).await;

    let cart = add_to_cart(platform, &customer, "TAX-STD", 2).await;
    add_to_cart(platform, &customer, "TAX-RED", 1).await;
    let order_id = checkout_to_texas(platform, &customer, &cart, Some("TENOFF"), &method).await;
    let order = ok(platform, &customer.token, ORDER, json!({ "id": order_id })).await["order"].clone();
    // 3998 + 1000, 10 % off: 499, split 399 and 100 by the lines' amounts.
    // 3599 × 6.25 % = 224.94 → 225; 900 × 2 % = 18; shipping 500 × 6.25 % = 31.25 → 31.
    assert_eq!(order["subtotal"]["amount"], 4_998, "{order}");
    assert_eq!(order["discount"]["amount"], 499, "{order}");
    let mut lines = order["taxLines"].as_array().unwrap().clone();
    lines.sort_by_key(|line| line["sku"].as_str().unwrap_or("~").to_owned());
    assert_eq!(
        lines,
        vec![
            json!({ "sku": "TAX-RED", "percent": "2", "taxable": { "amount": 900 }, "amount": { "amount": 18 } }),
            json!({ "sku": "TAX-STD", "percent": "6.25", "taxable": { "amount": 3_599 }, "amount": { "amount": 225 } }),
            json!({ "sku": null, "percent": "6.25", "taxable": { "amount": 500 }, "amount": { "amount": 31 } }),
        ],
        "{order}"
    );
    assert_eq!(order["tax"]["amount"], 274);
    assert_eq!(order["pricesIncludeTax"], false);
    assert_eq!(
        order["total"],
        json!({ "amount": 4_998 - 499 + 500 + 274, "currency": "USD" })
    );
    assert_eq!(
        order["payment"]["amount"]["amount"],
        4_998 - 499 + 500 + 274,
        "the customer pays the tax"
    );

    // Staff say US prices include tax: the next order shows the tax inside its prices.
    let (_, included) = platform
        .post_admin(
            "mutation { setPricesIncludeTax(country: \"US\", included: true) { pricesIncludeTax } }",
            json!({}),
        )
        .await;
    assert_eq!(
        included["data"]["setPricesIncludeTax"]["pricesIncludeTax"], true,
        "{included}"
    );
    let cart = add_to_cart(platform, &customer, "TAX-STD", 1).await;
    let order_id = checkout_to_texas(platform, &customer, &cart, None, &method).await;
    let order = ok(platform, &customer.token, ORDER, json!({ "id": order_id })).await["order"].clone();
    // 1999 × 6.25 / 106.25 = 117.65 → 118; 500 × 6.25 / 106.25 = 29.41 → 29.
    assert_eq!(order["pricesIncludeTax"], true, "{order}");
    assert_eq!(order["tax"]["amount"], 118 + 29, "{order}");
    assert_eq!(
        order["total"]["amount"],
        1_999 + 500,
        "the tax is in the prices: {order}"
    );
    assert_eq!(order["payment"]["amount"]["amount"], 1_999 + 500);
}
