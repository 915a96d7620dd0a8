//! The Orders subgraph: `Order @key(id)` with its items, whose `product` the Products
//! subgraph resolves, and `User.orders`. A customer sees only their own orders (another
//! customer's order is NOT_FOUND, so ids cannot be probed); ADMIN and SERVICE see all.
//! Subscriptions follow status changes live (`orderStatusChanged`, `myOrderUpdates`),
//! fed by the event bus through a [`LiveFeed`]. [`returns`]: the goods a customer
//! sends back.

pub mod returns;

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Error, ID, InputObject, MergedObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use kernel::{Identity, Money, Quantity, Role, Sku, TaxLine, TaxRate};
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::address::{PostalAddress, PostalAddressInput};
use kernel_infra::graphql::money::{MoneyInput, MoneyObject};
use kernel_infra::graphql::{PageInfo, bad_input, cursor, error, internal, not_found, page_size, request_meta};
use kernel_infra::identity::{require_any_role, require_user};
use orders_domain::{
    Delivery, Order, OrderId, OrderItem, OrderStatus, Placement, ShippingMethodSnapshot, StatusChange, Tax,
};

use kernel_infra::live::LiveFeed;

use crate::live::StatusUpdate;
use crate::orders::Orders;
use crate::returns::Returns;

pub type OrdersSchema = Schema<Query, Mutation, Subscription>;

pub fn schema(orders: Orders, returns: Returns, live: LiveFeed, dead_letters: DeadLetters) -> OrdersSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation::default(), Subscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new("orders", orders.db().clone()))
        .enable_subscription_in_federation()
        .data(DataLoader::new(OrderLoader(orders.clone()), tokio::spawn))
        .data(orders)
        .data(returns)
        .data(live)
        .data(dead_letters)
        .finish()
}

kernel_infra::status_field!("ordersStatus");

kernel_infra::dead_letter_fields!(
    list: "ordersDeadLetters",
    redrive: "redriveOrdersDeadLetter",
    redrive_all: "redriveAllOrdersDeadLetters",
    discard: "discardOrdersDeadLetter",
);

pub struct OrderLoader(pub(crate) Orders);

impl Loader<OrderId> for OrderLoader {
    type Value = Order;
    type Error = Error;

    async fn load(&self, keys: &[OrderId]) -> Result<HashMap<OrderId, Order>, Error> {
        self.0.get_many(keys).await.map_err(internal)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "OrderStatus")]
pub enum OrderStatusValue {
    Pending,
    AwaitingPayment,
    Paid,
    Fulfilling,
    Shipped,
    Delivered,
    Canceled,
    /// Delivered, and part of it returned and refunded.
    PartiallyRefunded,
    Refunded,
}

impl From<OrderStatus> for OrderStatusValue {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::AwaitingPayment => Self::AwaitingPayment,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Fulfilling => Self::Fulfilling,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Canceled => Self::Canceled,
            OrderStatus::PartiallyRefunded => Self::PartiallyRefunded,
            OrderStatus::Refunded => Self::Refunded,
        }
    }
}

/// A product as Orders refers to it; the Products subgraph resolves the rest.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductReference {
    id: ID,
}

pub struct OrderItemObject(OrderItem);

/// A line of an order, as it was described and priced when the order was placed.
#[Object(name = "OrderItem")]
impl OrderItemObject {
    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }
    /// The product's name when ordered.
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn unit_price(&self) -> MoneyObject {
        self.0.unit_price.into()
    }
    async fn quantity(&self) -> i32 {
        i32::try_from(self.0.quantity.get()).unwrap_or(i32::MAX)
    }
    async fn line_total(&self) -> Result<MoneyObject> {
        Ok(self.0.line_total().map_err(error)?.into())
    }
    /// The product today (from the catalog).
    async fn product(&self) -> ProductReference {
        ProductReference {
            id: ID(self.0.product_id.to_string()),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "OrderStatusChange")]
pub struct StatusChangeObject {
    from: Option<OrderStatusValue>,
    to: OrderStatusValue,
    reason: String,
    at: DateTime<Utc>,
}

impl From<StatusChange> for StatusChangeObject {
    fn from(change: StatusChange) -> Self {
        Self {
            from: change.from.map(Into::into),
            to: change.to.into(),
            reason: change.reason,
            at: change.at,
        }
    }
}

pub struct OrderObject(Order);

pub struct OrderDeliveryObject(Delivery);

/// An order's delivery: copies of the addresses and the method made when it was
/// placed, so a later change to the address book never changes the order.
#[Object(name = "OrderDelivery")]
impl OrderDeliveryObject {
    async fn shipping_address(&self) -> PostalAddress {
        PostalAddress::from(&self.0.shipping_address)
    }
    async fn billing_address(&self) -> PostalAddress {
        PostalAddress::from(&self.0.billing_address)
    }
    async fn method(&self) -> OrderShippingMethod {
        OrderShippingMethod {
            id: ID(self.0.method.id.to_string()),
            name: self.0.method.name.clone(),
            carrier: self.0.method.carrier.clone(),
        }
    }
    async fn cost(&self) -> MoneyObject {
        self.0.cost.into()
    }
}

/// The tax on one line of an order, or on its shipping.
#[derive(SimpleObject)]
pub struct OrderTaxLine {
    /// The line taxed; null for the shipping.
    sku: Option<String>,
    /// The rate, a percentage: `19`, `8.875`.
    percent: String,
    /// What was taxed: the line after its share of the discount, or the shipping.
    taxable: MoneyObject,
    amount: MoneyObject,
}

/// The shipping method an order ships with, as it was named then.
#[derive(SimpleObject)]
pub struct OrderShippingMethod {
    id: ID,
    name: String,
    carrier: String,
}

/// An order: the system of record of a purchase.
#[Object(name = "Order")]
impl OrderObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id().to_string())
    }
    async fn status(&self) -> OrderStatusValue {
        self.0.status().into()
    }
    async fn items(&self) -> Vec<OrderItemObject> {
        self.0.items().iter().cloned().map(OrderItemObject).collect()
    }
    async fn subtotal(&self) -> MoneyObject {
        self.0.subtotal().into()
    }
    async fn discount(&self) -> MoneyObject {
        self.0.discount().into()
    }
    /// What delivery costs; zero for an order without one.
    async fn shipping_cost(&self) -> MoneyObject {
        self.0.shipping().into()
    }
    /// The tax in all: the sum of `taxLines`; zero for an order without tax.
    async fn tax(&self) -> MoneyObject {
        self.0.tax_total().into()
    }
    /// Whether the prices and the shipping cost include the tax: then `tax` is shown but
    /// not added to the total.
    async fn prices_include_tax(&self) -> bool {
        self.0.tax().as_ref().is_some_and(|tax| tax.prices_include_tax)
    }
    /// The tax on each line and on the shipping taxed at a rate above zero.
    async fn tax_lines(&self) -> Vec<OrderTaxLine> {
        self.0
            .tax()
            .iter()
            .flat_map(|tax| tax.lines.iter())
            .map(|line| OrderTaxLine {
                sku: line.sku.as_ref().map(ToString::to_string),
                percent: line.rate.percent(),
                taxable: line.taxable.into(),
                amount: line.amount.into(),
            })
            .collect()
    }
    /// subtotal − discount + shippingCost + tax (without the tax where the prices
    /// include it).
    async fn total(&self) -> MoneyObject {
        self.0.total().into()
    }
    /// Where and how the order ships, as it was when the order was placed; null for an
    /// order placed without delivery.
    async fn delivery(&self) -> Option<OrderDeliveryObject> {
        self.0.delivery().cloned().map(OrderDeliveryObject)
    }
    async fn coupon_code(&self) -> Option<&str> {
        self.0.coupon_code()
    }
    async fn checkout_id(&self) -> Option<ID> {
        self.0.checkout_id().map(|id| ID(id.to_string()))
    }
    /// Every status the order has had, oldest first.
    async fn status_history(&self, ctx: &Context<'_>) -> Result<Vec<StatusChangeObject>> {
        let history = ctx
            .data_unchecked::<Orders>()
            .history(self.0.id())
            .await
            .map_err(error)?;
        Ok(history.into_iter().map(Into::into).collect())
    }
    /// The goods asked back, oldest first.
    async fn returns(&self, ctx: &Context<'_>) -> Result<Vec<returns::ReturnObject>> {
        let found = ctx
            .data_unchecked::<Returns>()
            .of_order(self.0.id())
            .await
            .map_err(error)?;
        Ok(found.into_iter().map(returns::ReturnObject).collect())
    }
    /// Until when a return may be asked for: the return window after delivery; null
    /// until the order is delivered, and once all of it has been given back.
    async fn returnable_until(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        ctx.data_unchecked::<Returns>()
            .returnable_until(&self.0)
            .await
            .map_err(error)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

#[derive(SimpleObject)]
pub struct OrderEdge {
    cursor: String,
    node: OrderObject,
}

#[derive(SimpleObject)]
pub struct OrderConnection {
    edges: Vec<OrderEdge>,
    page_info: PageInfo,
}

async fn orders_of(
    ctx: &Context<'_>,
    user_id: uuid::Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> Result<OrderConnection> {
    let limit = page_size(first)?;
    let after = after
        .map(|c| cursor::decode(&c).and_then(|key| OrderId::parse(&key).map_err(bad_input)))
        .transpose()?;
    let mut orders = ctx
        .data_unchecked::<Orders>()
        .for_user(user_id, after, limit + 1)
        .await
        .map_err(error)?;
    let has_next_page = orders.len() as u64 > limit;
    orders.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let edges: Vec<OrderEdge> = orders
        .into_iter()
        .map(|order| OrderEdge {
            cursor: cursor::encode(&order.id().to_string()),
            node: OrderObject(order),
        })
        .collect();
    Ok(OrderConnection {
        page_info: PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
    })
}

/// A user's orders, contributed to `User` (owned by Accounts).
pub struct UserOrders {
    id: uuid::Uuid,
}

#[Object(name = "User")]
impl UserOrders {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The user's orders, newest first. Only the user and staff may read them.
    #[graphql(directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn orders(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<OrderConnection> {
        let caller = require_user(ctx)?;
        if !caller.may_act_for(self.id) {
            return Err(kernel_infra::graphql::coded(
                kernel::ErrorKind::Forbidden,
                &"only the user and staff may read a user's orders",
            ));
        }
        orders_of(ctx, self.id, first, after).await
    }
}

pub(crate) fn parse_order_id(id: &ID) -> Result<OrderId> {
    OrderId::parse(id).map_err(bad_input)
}

/// The order if `caller` may see it; another customer's order is as if it did not
/// exist.
async fn visible_order(ctx: &Context<'_>, caller: &Identity, id: OrderId) -> Result<Option<OrderObject>> {
    let order = ctx.data_unchecked::<DataLoader<OrderLoader>>().load_one(id).await?;
    Ok(order.filter(|o| caller.may_act_for(o.user_id())).map(OrderObject))
}

/// Orders' queries, returns' and its dead letters' (staff).
#[derive(MergedObject, Default)]
pub struct Query(OrderQuery, returns::ReturnQuery, DeadLetterQuery, StatusQuery);

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// One of the caller's orders (any order for staff); null when there is none.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OrderObject>> {
        let caller = require_user(ctx)?;
        visible_order(ctx, caller, parse_order_id(&id)?).await
    }

    /// The caller's orders, newest first.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply(), directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn my_orders(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<OrderConnection> {
        let caller = require_user(ctx)?;
        orders_of(ctx, caller.user_id, first, after).await
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<OrderObject> {
        let caller = require_user(ctx)?;
        visible_order(ctx, caller, parse_order_id(&id)?)
            .await?
            .ok_or_else(|| not_found(format!("order {} does not exist", id.as_str())))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Result<UserOrders> {
        let id = uuid::Uuid::try_parse(&id).map_err(|_| bad_input("not a valid user id"))?;
        Ok(UserOrders { id })
    }
}

#[derive(InputObject)]
pub struct OrderItemInput {
    product_id: ID,
    sku: String,
    name: String,
    unit_price: MoneyInput,
    quantity: i32,
}

#[derive(InputObject)]
pub struct PlaceOrderInput {
    /// The same key and payload within 24 hours return the first order; the same key
    /// with another payload is a CONFLICT.
    idempotency_key: String,
    user_id: ID,
    items: Vec<OrderItemInput>,
    discount: Option<MoneyInput>,
    coupon_code: Option<String>,
    checkout_id: Option<ID>,
    /// True when the order waits for its payment from the start (a checkout about to
    /// pay): it is placed PENDING and moved to AWAITING_PAYMENT in the same step, both
    /// in its history.
    #[graphql(default)]
    awaiting_payment: bool,
    /// Where and how it ships; left out for goods that are not shipped.
    delivery: Option<OrderDeliveryInput>,
    /// Its tax, as the checkout computed it; left out where none is computed.
    tax: Option<OrderTaxInput>,
}

/// An order's tax, computed with the rates of its shipping address: per line after its
/// share of the discount, rounded half to even; each line's amount must be that.
#[derive(InputObject)]
pub struct OrderTaxInput {
    prices_include_tax: bool,
    /// At most one per SKU of the order, and one (without a SKU) for the shipping.
    lines: Vec<TaxLineInput>,
}

#[derive(InputObject)]
pub struct TaxLineInput {
    /// The order line taxed; left out for the shipping.
    sku: Option<String>,
    /// A percentage from 0 to 100 with at most four decimals.
    percent: String,
    taxable: MoneyInput,
    amount: MoneyInput,
}

impl OrderTaxInput {
    fn tax(&self) -> Result<Tax> {
        let lines = self
            .lines
            .iter()
            .map(|line| {
                Ok(TaxLine {
                    sku: line.sku.as_deref().map(Sku::parse).transpose().map_err(error)?,
                    rate: TaxRate::parse_percent(&line.percent).map_err(error)?,
                    taxable: Money::try_from(&line.taxable)?,
                    amount: Money::try_from(&line.amount)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Tax {
            prices_include_tax: self.prices_include_tax,
            lines,
        })
    }
}

/// An order's delivery as the checkout settled it.
#[derive(InputObject)]
pub struct OrderDeliveryInput {
    shipping_address: PostalAddressInput,
    /// The shipping address when left out.
    billing_address: Option<PostalAddressInput>,
    method: OrderShippingMethodInput,
    /// In the order's currency; 0 or more.
    cost: MoneyInput,
}

#[derive(InputObject)]
pub struct OrderShippingMethodInput {
    id: ID,
    /// 1 to 100 printable characters.
    name: String,
    /// 1 to 100 printable characters.
    carrier: String,
}

impl OrderDeliveryInput {
    fn delivery(&self) -> Result<Delivery> {
        let shipping_address = kernel::Address::try_from(self.shipping_address.clone())?;
        let billing_address = match &self.billing_address {
            Some(billing) => kernel::Address::try_from(billing.clone())?,
            None => shipping_address.clone(),
        };
        Ok(Delivery {
            shipping_address,
            billing_address,
            method: ShippingMethodSnapshot {
                id: uuid::Uuid::try_parse(&self.method.id)
                    .map_err(|_| bad_input("delivery.method.id is not a valid id"))?,
                name: self.method.name.clone(),
                carrier: self.method.carrier.clone(),
            },
            cost: Money::try_from(&self.cost)?,
        })
    }
}

impl PlaceOrderInput {
    fn placement(&self) -> Result<Placement> {
        let uuid =
            |id: &ID, what: &str| uuid::Uuid::try_parse(id).map_err(|_| bad_input(format!("{what} is not a valid id")));
        Ok(Placement {
            user_id: uuid(&self.user_id, "userId")?,
            items: self
                .items
                .iter()
                .map(|i| {
                    Ok(OrderItem {
                        product_id: uuid(&i.product_id, "productId")?,
                        sku: Sku::parse(&i.sku).map_err(error)?,
                        name: i.name.chars().take(200).collect(),
                        unit_price: Money::try_from(&i.unit_price)?,
                        quantity: Quantity::new(i64::from(i.quantity)).map_err(error)?,
                    })
                })
                .collect::<Result<_>>()?,
            discount: self.discount.as_ref().map(Money::try_from).transpose()?,
            coupon_code: self.coupon_code.clone(),
            checkout_id: self.checkout_id.as_ref().map(|id| uuid(id, "checkoutId")).transpose()?,
            awaiting_payment: self.awaiting_payment,
            delivery: self.delivery.as_ref().map(OrderDeliveryInput::delivery).transpose()?,
            tax: self.tax.as_ref().map(OrderTaxInput::tax).transpose()?,
        })
    }
}

#[derive(SimpleObject)]
pub struct PlaceOrderPayload {
    order: OrderObject,
    /// True when this answer repeats an earlier placement with the same key.
    replayed: bool,
}

/// Orders' commands, returns' and its staff's on dead letters.
#[derive(MergedObject, Default)]
pub struct Mutation(OrderMutation, returns::ReturnMutation, DeadLetterMutation);

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Places an order (SERVICE or ADMIN: customers check out through `checkout`).
    #[graphql(requires_scopes = "orders:write")]
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> Result<PlaceOrderPayload> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let placement = input.placement()?;
        let (order, replayed) = ctx
            .data_unchecked::<Orders>()
            .place(&input.idempotency_key, placement, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(PlaceOrderPayload {
            order: OrderObject(order),
            replayed,
        })
    }

    /// The order waits for its payment (SERVICE or ADMIN).
    #[graphql(requires_scopes = "orders:write")]
    async fn mark_order_awaiting_payment(&self, ctx: &Context<'_>, id: ID) -> Result<OrderObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let order = ctx
            .data_unchecked::<Orders>()
            .transition(
                parse_order_id(&id)?,
                OrderStatus::AwaitingPayment,
                "payment requested",
                None,
                &request_meta(ctx),
            )
            .await
            .map_err(error)?;
        Ok(OrderObject(order))
    }

    /// The order's payment is secured (SERVICE or ADMIN). Without a payment id for an
    /// order that costs nothing.
    #[graphql(requires_scopes = "orders:write")]
    async fn mark_order_paid(&self, ctx: &Context<'_>, id: ID, payment_id: Option<ID>) -> Result<OrderObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let payment_id = payment_id
            .map(|p| uuid::Uuid::try_parse(&p).map_err(|_| bad_input("paymentId is not a valid id")))
            .transpose()?;
        let order = ctx
            .data_unchecked::<Orders>()
            .transition(
                parse_order_id(&id)?,
                OrderStatus::Paid,
                "payment secured",
                payment_id,
                &request_meta(ctx),
            )
            .await
            .map_err(error)?;
        Ok(OrderObject(order))
    }

    /// Cancels an unpaid order: a customer their own, staff and services any.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn cancel_order(&self, ctx: &Context<'_>, id: ID, reason: Option<String>) -> Result<OrderObject> {
        let caller = require_user(ctx)?;
        let reason = reason.unwrap_or_else(|| "canceled by the customer".into());
        let order = ctx
            .data_unchecked::<Orders>()
            .cancel(parse_order_id(&id)?, caller, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(OrderObject(order))
    }
}

/// A status change of an order, with the order as it is now.
pub struct OrderStatusUpdateObject(StatusUpdate);

#[Object(name = "OrderStatusUpdate")]
impl OrderStatusUpdateObject {
    /// The event that carried the change; a client that sees an id twice may skip it.
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.to_string())
    }
    /// The W3C trace id of the request that caused this, carried by the event from the
    /// request through the outbox, the relay and the bus, so a client can follow its
    /// request to the update it caused.
    async fn trace_id(&self) -> &str {
        &self.0.trace_id
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.to_string())
    }
    /// The status before; null for a new order.
    async fn from(&self) -> Option<OrderStatusValue> {
        self.0.from.map(Into::into)
    }
    async fn to(&self) -> OrderStatusValue {
        self.0.to.into()
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The order as it is when the update is sent (it may have moved on since).
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<OrderObject>> {
        let caller = require_user(ctx)?;
        visible_order(ctx, caller, OrderId::from_uuid(self.0.order_id)).await
    }
}

pub struct Subscription;

#[async_graphql::Subscription]
impl Subscription {
    /// Every status change of one order from now on. A customer follows only their own
    /// orders (another customer's is NOT_FOUND); staff follow any. A client that
    /// reconnects passes the `eventId` of the last update it saw as `after`, and first
    /// receives what it missed, in order, then the live updates, each once.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = OrderStatusUpdateObject> + use<>> {
        let caller = require_user(ctx)?.clone();
        let id = parse_order_id(&order_id)?;
        if visible_order(ctx, &caller, id).await?.is_none() {
            return Err(not_found(format!("order {} does not exist", order_id.as_str())));
        }
        // Listen before reading what was missed, so nothing falls between the two.
        let live = ctx.data_unchecked::<LiveFeed>().events_of(id.to_string());
        let missed = kernel_infra::live::missed_of_key(
            ctx.data_unchecked::<Orders>().db(),
            &id.to_string(),
            &crate::live::EVENT_TYPES,
            after.as_ref().map(|id| id.as_str()),
            "an update of this order",
        )
        .await?;
        let events = kernel_infra::live::missed_then_live(missed, live);
        let order = id.as_uuid();
        Ok(updates(events, move |update| {
            update.order_id == order && caller.may_act_for(update.user_id)
        }))
    }

    /// Every status change of the caller's own orders from now on. A client that
    /// reconnects passes the `eventId` of the last update it saw as `after` and first
    /// receives what it missed, in order, then the live updates, each once. It may be
    /// up to 10,000 of its own updates behind.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn my_order_updates(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = OrderStatusUpdateObject> + use<>> {
        let user = require_user(ctx)?.user_id;
        // Listen before reading what was missed, so nothing falls between the two.
        let live = ctx.data_unchecked::<LiveFeed>().events();
        let orders = ctx.data_unchecked::<Orders>();
        let missed = kernel_infra::live::missed_of_keys(
            orders.db(),
            &crate::live::EVENT_TYPES,
            after.as_ref().map(|id| id.as_str()),
            "an order update",
            |since| async move {
                let changed = orders.changed_since(user, since).await?;
                Ok(changed.iter().map(uuid::Uuid::to_string).collect())
            },
        )
        .await?;
        let events = kernel_infra::live::missed_then_live(missed, live);
        Ok(updates(events, move |update| update.user_id == user))
    }
}

/// The status updates of `events` that `keep` accepts.
fn updates<S, F>(events: S, keep: F) -> impl Stream<Item = OrderStatusUpdateObject> + Send + use<S, F>
where
    S: Stream<Item = std::sync::Arc<kernel::EventEnvelope>> + Send,
    F: Fn(&StatusUpdate) -> bool + Send + 'static,
{
    events.filter_map(move |event| {
        let update = StatusUpdate::from_event(&event).filter(|update| keep(update));
        futures::future::ready(update.map(OrderStatusUpdateObject))
    })
}
