//! The commands and reads the saga sends to the contexts that own the business truth,
//! each a GraphQL operation on that context's subgraph under Checkout's service
//! identity. Every command carries an id or key chosen by the saga, so repeating it
//! after a crash or a lost answer does not act twice.

use std::sync::Arc;

use checkout_domain::returns::{ReceivedReturn, ReturnOutcome, ReturnProcess, ReturnStep, ReturnedUnits};
use checkout_domain::{CheckoutSession, ChosenMethod, Line, Outcome, SessionStatus, Step, TaxRates};
use kernel::{Currency, EventMeta, Money, Quantity, Sku, TaxCategory, TaxRate};
use kernel_infra::client::{CallError, SubgraphClient};
use kernel_infra::identity::ServiceSigner;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::contract::operation;

/// Where the other subgraphs listen.
#[derive(Debug, Clone)]
pub struct RemoteUrls {
    pub accounts: String,
    pub shipping: String,
    pub cart: String,
    pub products: String,
    pub inventory: String,
    pub coupons: String,
    pub orders: String,
    pub payments: String,
}

/// How long a saga holds stock for its checkout.
pub const HOLD_SECONDS: i64 = 900;

/// Clients for every context the saga talks to.
pub struct Remotes {
    accounts: SubgraphClient,
    shipping: SubgraphClient,
    cart: SubgraphClient,
    products: SubgraphClient,
    inventory: SubgraphClient,
    coupons: SubgraphClient,
    orders: SubgraphClient,
    payments: SubgraphClient,
}

fn money(value: &Value) -> Result<Money, CallError> {
    let bad = || CallError::Unavailable {
        service: "checkout".into(),
        reason: format!("not an amount of money: {value}"),
    };
    let amount = value["amount"].as_i64().ok_or_else(bad)?;
    let currency = Currency::parse(value["currency"].as_str().ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(Money::new(amount, currency))
}

fn money_input(money: Money) -> Value {
    json!({ "amount": money.amount(), "currency": money.currency().code() })
}

fn id(value: &Value) -> Result<uuid::Uuid, CallError> {
    value
        .as_str()
        .and_then(|s| uuid::Uuid::try_parse(s).ok())
        .ok_or_else(|| CallError::Unavailable {
            service: "checkout".into(),
            reason: format!("not an id: {value}"),
        })
}

fn refused(service: &str, code: &str, message: impl Into<String>) -> CallError {
    CallError::Refused {
        service: service.into(),
        code: code.into(),
        message: message.into(),
    }
}

/// A cart as the saga reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    pub status: String,
    pub user_id: Option<String>,
    pub items: Vec<CartItemView>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItemView {
    pub sku: String,
    pub quantity: Quantity,
}

impl Remotes {
    /// # Errors
    /// When an HTTP client cannot be built.
    pub fn new(urls: &RemoteUrls, token: Arc<ServiceSigner>) -> anyhow::Result<Self> {
        let client = |name: &str, url: &str| SubgraphClient::new(name, url, token.clone());
        Ok(Self {
            accounts: client("accounts", &urls.accounts)?,
            shipping: client("shipping", &urls.shipping)?,
            cart: client("cart", &urls.cart)?,
            products: client("products", &urls.products)?,
            inventory: client("inventory", &urls.inventory)?,
            coupons: client("coupons", &urls.coupons)?,
            orders: client("orders", &urls.orders)?,
            payments: client("payments", &urls.payments)?,
        })
    }

    /// The cart, if it exists.
    ///
    /// # Errors
    /// When Cart refuses or cannot be reached.
    pub async fn cart(&self, cart_id: uuid::Uuid, meta: &EventMeta) -> Result<Option<CartView>, CallError> {
        let data: Value = self
            .cart
            .execute(operation("CheckoutCart"), json!({ "id": cart_id }), meta)
            .await?;
        serde_json::from_value(data["cart"].clone()).map_err(|err| CallError::Unavailable {
            service: "cart".into(),
            reason: err.to_string(),
        })
    }

    /// Prices the cart's items from the catalog: name, price and product of each SKU.
    /// A SKU that is unknown or whose product is not published is refused.
    ///
    /// # Errors
    /// When Products cannot be reached, or a SKU cannot be sold.
    pub async fn price(&self, items: &[CartItemView], meta: &EventMeta) -> Result<Vec<Line>, CallError> {
        let skus: Vec<&str> = items.iter().map(|item| item.sku.as_str()).collect();
        let data: Value = self
            .products
            .execute(operation("PriceCartItems"), json!({ "skus": skus }), meta)
            .await?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let variant = &data["variantsBySku"][i];
                if variant.is_null() || variant["product"]["status"] != "PUBLISHED" {
                    return Err(refused(
                        "products",
                        "BAD_USER_INPUT",
                        format!("SKU {} is not for sale", item.sku),
                    ));
                }
                let not_for_sale = |reason: String| refused("products", "BAD_USER_INPUT", reason);
                let sku = Sku::parse(&item.sku).map_err(|err| not_for_sale(err.to_string()))?;
                let tax_category = variant["product"]["taxCategory"]
                    .as_str()
                    .and_then(|category| TaxCategory::parse(category).ok())
                    .ok_or_else(|| CallError::Unavailable {
                        service: "products".into(),
                        reason: format!("a product without its tax category: {variant}"),
                    })?;
                Ok(Line {
                    sku,
                    product_id: id(&variant["product"]["id"])?,
                    name: format!(
                        "{} – {}",
                        variant["product"]["name"].as_str().unwrap_or_default(),
                        variant["name"].as_str().unwrap_or_default()
                    ),
                    unit_price: money(&variant["price"])?,
                    quantity: item.quantity,
                    tax_category,
                })
            })
            .collect()
    }

    /// The address saved in `user`'s address book under `id`; None when the book has
    /// no such address (or there is no such user).
    ///
    /// # Errors
    /// When Accounts refuses or cannot be reached, or answers an address that does not
    /// parse.
    pub async fn saved_address(
        &self,
        user: uuid::Uuid,
        id: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<Option<kernel::Address>, CallError> {
        let data: Value = self
            .accounts
            .execute(operation("CustomerAddressBook"), json!({ "id": user }), meta)
            .await?;
        let wanted = id.to_string();
        let Some(entry) = data["user"]["addressBook"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entry| entry["id"].as_str() == Some(wanted.as_str()))
        else {
            return Ok(None);
        };
        serde_json::from_value(entry["address"].clone())
            .map(Some)
            .map_err(|err| CallError::Unavailable {
                service: "accounts".into(),
                reason: format!("a saved address that does not parse: {err}"),
            })
    }

    /// What shipping an order worth `order_value` to `address` costs with the method
    /// `method`; None when that method does not serve the address (or is not active).
    ///
    /// # Errors
    /// When Shipping refuses or cannot be reached.
    pub async fn quote_shipping(
        &self,
        address: &kernel::Address,
        order_value: Money,
        method: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<Option<(ChosenMethod, Money)>, CallError> {
        let variables = json!({ "address": address, "orderValue": money_input(order_value) });
        let data: Value = self
            .shipping
            .execute(operation("QuoteShipping"), variables, meta)
            .await?;
        let wanted = method.to_string();
        let Some(option) = data["shippingOptions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|option| option["method"]["id"].as_str() == Some(wanted.as_str()))
        else {
            return Ok(None);
        };
        let text = |field: &str| {
            option["method"][field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| CallError::Unavailable {
                    service: "shipping".into(),
                    reason: format!("a shipping option without its method's {field}: {option}"),
                })
        };
        let chosen = ChosenMethod {
            id: method,
            name: text("name")?,
            carrier: text("carrier")?,
        };
        Ok(Some((chosen, money(&option["price"])?)))
    }

    /// The tax rates at `address`: its region's, else its country's, per category.
    ///
    /// # Errors
    /// When Products refuses or cannot be reached, or answers what does not parse.
    pub async fn tax_rates_at(&self, address: &kernel::Address, meta: &EventMeta) -> Result<TaxRates, CallError> {
        let variables = json!({ "country": address.country().as_str(), "region": address.region() });
        let data: Value = self.products.execute(operation("TaxRatesAt"), variables, meta).await?;
        let at = &data["taxRatesAt"];
        let bad = || CallError::Unavailable {
            service: "products".into(),
            reason: format!("tax rates that do not parse: {at}"),
        };
        let rates = at["rates"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|rate| {
                let category = TaxCategory::parse(rate["category"].as_str().unwrap_or_default()).map_err(|_| bad())?;
                let percent =
                    TaxRate::parse_percent(rate["percent"].as_str().unwrap_or_default()).map_err(|_| bad())?;
                Ok((category, percent))
            })
            .collect::<Result<_, CallError>>()?;
        Ok(TaxRates {
            prices_include_tax: at["pricesIncludeTax"].as_bool().ok_or_else(bad)?,
            rates,
        })
    }

    /// Runs one saga step against the context that owns it.
    ///
    /// # Errors
    /// A refusal (compensate) or an outage (retry later).
    pub async fn run(&self, session: &CheckoutSession, step: Step, meta: &EventMeta) -> Result<Outcome, CallError> {
        let reference = format!("checkout:{}", session.id());
        match step {
            Step::ReserveStock => {
                let lines: Vec<Value> = session
                    .lines()
                    .iter()
                    .map(|l| json!({ "sku": l.sku, "quantity": l.quantity }))
                    .collect();
                let input = json!({
                    "id": session.reservation_id(), "lines": lines, "ttlSeconds": HOLD_SECONDS, "reference": reference,
                });
                self.inventory
                    .execute::<Value>(operation("ReserveStock"), json!({ "input": input }), meta)
                    .await?;
                Ok(Outcome::Done)
            }
            Step::RedeemCoupon => {
                let subtotal = session
                    .subtotal()
                    .ok_or_else(|| refused("checkout", "BAD_USER_INPUT", "the cart's prices do not add up"))?;
                let input = json!({
                    "id": session.redemption_id(), "code": session.request().coupon(),
                    "userId": session.request().user_id, "orderAmount": money_input(subtotal),
                });
                let data: Value = self
                    .coupons
                    .execute(operation("ReserveRedemption"), json!({ "input": input }), meta)
                    .await?;
                Ok(Outcome::CouponRedeemed {
                    discount: money(&data["reserveRedemption"]["discount"])?,
                })
            }
            Step::PlaceOrder => {
                let items: Vec<Value> = session
                    .lines()
                    .iter()
                    .map(|l| {
                        json!({
                            "productId": l.product_id, "sku": l.sku, "name": l.name,
                            "unitPrice": money_input(l.unit_price), "quantity": l.quantity,
                        })
                    })
                    .collect();
                // An order with something to pay waits for its payment from the start,
                // which saves a call to mark it so before authorizing.
                let mut input = json!({
                    "idempotencyKey": reference, "userId": session.request().user_id, "items": items,
                    "discount": session.discount().map(money_input), "couponCode": session.request().coupon(),
                    "checkoutId": session.id(), "awaitingPayment": session.has_something_to_pay(),
                });
                // Only when there is one, so that a placement without one is the same
                // request it was before deliveries existed.
                if let Some(delivery) = &session.delivery() {
                    input["delivery"] = serde_json::to_value(delivery).map_err(|err| CallError::Unavailable {
                        service: "checkout".into(),
                        reason: err.to_string(),
                    })?;
                }
                // Likewise only when computed: a session without tax rates has none.
                let tax = session
                    .tax()
                    .map_err(|err| refused("checkout", "BAD_USER_INPUT", err.to_string()))?;
                if let Some(tax) = tax {
                    input["tax"] = serde_json::to_value(tax).map_err(|err| CallError::Unavailable {
                        service: "checkout".into(),
                        reason: err.to_string(),
                    })?;
                }
                let data: Value = self
                    .orders
                    .execute(operation("PlaceOrder"), json!({ "input": input }), meta)
                    .await?;
                let order = &data["placeOrder"]["order"];
                Ok(Outcome::OrderPlaced {
                    order_id: id(&order["id"])?,
                    total: money(&order["total"])?,
                })
            }
            Step::AuthorizePayment => {
                let (order_id, total) = (session.order_id(), session.total());
                let (Some(order_id), Some(total)) = (order_id, total) else {
                    return Err(refused("checkout", "INTERNAL", "no order to pay"));
                };
                let input = json!({
                    "idempotencyKey": reference, "orderId": order_id, "userId": session.request().user_id,
                    "amount": money_input(total), "paymentMethod": session.request().payment_method.as_str(),
                });
                let data: Value = self
                    .payments
                    .execute(operation("AuthorizePayment"), json!({ "input": input }), meta)
                    .await?;
                let payment = &data["authorizePayment"];
                if payment["status"] != "AUTHORIZED" {
                    return Err(refused(
                        "payments",
                        "PAYMENT_DECLINED",
                        payment["failureReason"].as_str().unwrap_or("the payment was declined"),
                    ));
                }
                Ok(Outcome::PaymentAuthorized {
                    payment_id: id(&payment["id"])?,
                })
            }
            Step::ConfirmStock => {
                self.command(&self.inventory, "CommitReservation", session.reservation_id(), meta)
                    .await
            }
            Step::MarkOrderPaid => {
                self.orders
                    .execute::<Value>(
                        operation("MarkOrderPaid"),
                        json!({ "id": session.order_id(), "paymentId": session.payment_id() }),
                        meta,
                    )
                    .await?;
                Ok(Outcome::Done)
            }
            Step::CommitCoupon => {
                self.command(&self.coupons, "CommitRedemption", session.redemption_id(), meta)
                    .await
            }
            Step::CapturePayment => {
                self.command(&self.payments, "CapturePayment", payment(session)?, meta)
                    .await
            }
            Step::VoidPayment => {
                self.command(&self.payments, "VoidPayment", payment(session)?, meta)
                    .await
            }
            Step::CancelOrder => {
                let reason = match &session.cancel_reason() {
                    Some(reason) if session.status() == SessionStatus::Canceling => {
                        format!("canceled by the customer: {reason}")
                    }
                    _ => format!("checkout failed: {}", session.failure().unwrap_or("a step was refused")),
                };
                self.orders
                    .execute::<Value>(
                        operation("CancelOrder"),
                        json!({ "id": session.order_id(), "reason": reason.chars().take(200).collect::<String>() }),
                        meta,
                    )
                    .await?;
                Ok(Outcome::Done)
            }
            Step::ReleaseCoupon => forgiving(
                self.command(&self.coupons, "ReleaseRedemption", session.redemption_id(), meta)
                    .await,
            ),
            Step::ReleaseStock => forgiving(
                self.command(&self.inventory, "ReleaseReservation", session.reservation_id(), meta)
                    .await,
            ),
            Step::ReturnStock => {
                self.command(&self.inventory, "ReturnReservation", session.reservation_id(), meta)
                    .await
            }
            Step::StopShipment => {
                self.shipping
                    .execute::<Value>(
                        operation("StopShipment"),
                        json!({ "orderId": session.order_id(), "userId": session.request().user_id }),
                        meta,
                    )
                    .await?;
                Ok(Outcome::Done)
            }
            Step::RefundPayment => {
                self.command(&self.payments, "RefundPayment", payment(session)?, meta)
                    .await
            }
            Step::GiveBackCoupon => {
                self.command(&self.coupons, "ReturnRedemption", session.redemption_id(), meta)
                    .await
            }
        }
    }

    /// Runs one step of a return's process against the context that owns it.
    ///
    /// # Errors
    /// A refusal (compensate, or an operator past the refund) or an outage (retry).
    pub async fn run_return(
        &self,
        process: &ReturnProcess,
        step: ReturnStep,
        meta: &EventMeta,
    ) -> Result<ReturnOutcome, CallError> {
        let reference = format!("return:{}", process.id());
        let received = || {
            process
                .received()
                .ok_or_else(|| refused("checkout", "INTERNAL", "the goods were not marked received"))
        };
        match step {
            ReturnStep::MarkReceived => {
                let data: Value = self
                    .orders
                    .execute(operation("MarkReturnReceived"), json!({ "id": process.id() }), meta)
                    .await?;
                let answer = &data["markReturnReceived"];
                let unreadable = |what: &str| CallError::Unavailable {
                    service: "orders".into(),
                    reason: format!("a received return without its {what}: {answer}"),
                };
                let lines = answer["lines"]
                    .as_array()
                    .ok_or_else(|| unreadable("lines"))?
                    .iter()
                    .map(|line| {
                        Ok(ReturnedUnits {
                            sku: Sku::parse(line["sku"].as_str().unwrap_or_default()).map_err(|_| unreadable("SKU"))?,
                            quantity: line["quantity"]
                                .as_i64()
                                .and_then(|n| Quantity::new(n).ok())
                                .ok_or_else(|| unreadable("quantity"))?,
                        })
                    })
                    .collect::<Result<_, CallError>>()?;
                Ok(ReturnOutcome::Received(ReceivedReturn {
                    order_id: id(&answer["orderId"])?,
                    payment_id: answer["paymentId"]
                        .as_str()
                        .map(|_| id(&answer["paymentId"]))
                        .transpose()?,
                    refund: money(&answer["refund"])?,
                    lines,
                }))
            }
            ReturnStep::RefundReturn => {
                let received = received()?;
                // Nothing to give back (a free order, or all of it discounted).
                let Some(payment) = received.payment_id.filter(|_| received.refund.amount() > 0) else {
                    return Ok(ReturnOutcome::Done);
                };
                let variables =
                    json!({ "id": payment, "amount": money_input(received.refund), "reference": reference });
                self.payments
                    .execute::<Value>(operation("RefundReturn"), variables, meta)
                    .await?;
                Ok(ReturnOutcome::Done)
            }
            ReturnStep::RestockReturn => {
                let lines: Vec<Value> = received()?
                    .lines
                    .iter()
                    .map(|line| json!({ "sku": line.sku, "quantity": line.quantity }))
                    .collect();
                let input = json!({ "reference": reference, "lines": lines });
                self.inventory
                    .execute::<Value>(operation("RestockReturn"), json!({ "input": input }), meta)
                    .await?;
                Ok(ReturnOutcome::Done)
            }
            ReturnStep::MarkRefunded => {
                self.orders
                    .execute::<Value>(operation("MarkReturnRefunded"), json!({ "id": process.id() }), meta)
                    .await?;
                Ok(ReturnOutcome::Done)
            }
            ReturnStep::ReopenReturn => {
                let variables = json!({ "id": process.id(), "reason": process.reopen_reason() });
                self.orders
                    .execute::<Value>(operation("ReopenReturn"), variables, meta)
                    .await?;
                Ok(ReturnOutcome::Done)
            }
        }
    }

    /// The contract's operation `name`, a mutation of one `$id`, on `client`.
    async fn command(
        &self,
        client: &SubgraphClient,
        name: &str,
        id: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<Outcome, CallError> {
        client
            .execute::<Value>(operation(name), json!({ "id": id }), meta)
            .await?;
        Ok(Outcome::Done)
    }
}

fn payment(session: &CheckoutSession) -> Result<uuid::Uuid, CallError> {
    session
        .payment_id()
        .ok_or_else(|| refused("checkout", "INTERNAL", "no payment was authorized"))
}

/// A compensation whose target never came to exist (the forward call was refused or
/// never arrived) has nothing to undo.
fn forgiving(result: Result<Outcome, CallError>) -> Result<Outcome, CallError> {
    match result {
        Err(err) if err.code() == Some("NOT_FOUND") => Ok(Outcome::Done),
        other => other,
    }
}
