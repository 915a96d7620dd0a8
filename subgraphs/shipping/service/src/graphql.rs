//! The Shipping subgraph: `Shipment @key(id)` with its tracking events, and
//! `Order.shipment` through federation. Only the buyer and staff see a shipment.
//! The shop's shipping methods: staff manage them, anyone gets quotes
//! (`shippingOptions`).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptySubscription, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::{Currency, Money, Role};
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::address::{PostalAddress, PostalAddressInput};
use kernel_infra::graphql::money::{Long, MoneyInput, MoneyObject};
use kernel_infra::graphql::{bad_input, error, internal, not_found, request_meta};
use kernel_infra::identity::{is_privileged, require_any_role, require_role, require_user};
use shipping_domain::{
    DeliveryWindow, MethodError, MethodName, RateBand, Shipment, ShipmentId, ShipmentStatus, ShippingMethod,
    ShippingMethodId, ShippingMethodState, TrackingEvent, Zone,
};

use crate::shipping::Shipping;

pub type ShippingSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(shipping: Shipping, dead_letters: DeadLetters) -> ShippingSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation::default(), EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "shipping",
            shipping.db().clone(),
        ))
        .data(dead_letters)
        .data(DataLoader::new(ShipmentByOrder(shipping.clone()), tokio::spawn))
        .data(shipping)
        .finish()
}

kernel_infra::status_field!("shippingStatus");

kernel_infra::dead_letter_fields!(
    list: "shippingDeadLetters",
    redrive: "redriveShippingDeadLetter",
    redrive_all: "redriveAllShippingDeadLetters",
    discard: "discardShippingDeadLetter",
);

/// The subgraph's queries: the context's own, its dead letters and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(ShippingQuery, DeadLetterQuery, StatusQuery);

/// The subgraph's mutations: the context's own and its staff's on dead letters.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(ShippingMutation, DeadLetterMutation);

pub struct ShipmentByOrder(Shipping);

impl Loader<uuid::Uuid> for ShipmentByOrder {
    type Value = Shipment;
    type Error = Error;

    async fn load(&self, keys: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Shipment>, Error> {
        self.0.for_orders(keys).await.map_err(internal)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ShipmentStatus")]
pub enum ShipmentStatusValue {
    LabelCreated,
    InTransit,
    Delivered,
    /// Stopped before the carrier picked it up: the order was canceled.
    Canceled,
}

impl From<ShipmentStatus> for ShipmentStatusValue {
    fn from(status: ShipmentStatus) -> Self {
        match status {
            ShipmentStatus::LabelCreated => Self::LabelCreated,
            ShipmentStatus::InTransit => Self::InTransit,
            ShipmentStatus::Delivered => Self::Delivered,
            ShipmentStatus::Canceled => Self::Canceled,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "TrackingEvent")]
pub struct TrackingEventObject {
    status: ShipmentStatusValue,
    note: String,
    at: DateTime<Utc>,
}

impl From<TrackingEvent> for TrackingEventObject {
    fn from(e: TrackingEvent) -> Self {
        Self {
            status: e.status.into(),
            note: e.note,
            at: e.at,
        }
    }
}

pub struct ShipmentObject(Shipment);

/// The parcel of an order.
#[Object(name = "Shipment")]
impl ShipmentObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id().to_string())
    }
    async fn status(&self) -> ShipmentStatusValue {
        self.0.status().into()
    }
    async fn carrier(&self) -> &str {
        &self.0.carrier()
    }
    async fn tracking_number(&self) -> &str {
        &self.0.tracking_number()
    }
    /// Where the parcel goes: the order's shipping address as it was when the order
    /// was placed; null for an order paid without a delivery.
    async fn ship_to(&self) -> Option<PostalAddress> {
        self.0.destination().map(|d| PostalAddress::from(&d.address))
    }
    /// The shipping method the customer chose, by its name then.
    async fn method(&self) -> Option<&str> {
        self.0.destination().map(|d| d.method.as_str())
    }
    /// Every scan, oldest first.
    async fn tracking_events(&self, ctx: &Context<'_>) -> Result<Vec<TrackingEventObject>> {
        let events = ctx
            .data_unchecked::<Shipping>()
            .tracking(self.0.id())
            .await
            .map_err(internal)?;
        Ok(events.into_iter().map(Into::into).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

/// Shipping's part of `Order` (owned by Orders).
pub struct OrderShipment {
    id: uuid::Uuid,
}

#[Object(name = "Order")]
impl OrderShipment {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The order's shipment; null until the order is paid, and for anyone but the
    /// buyer and staff.
    async fn shipment(&self, ctx: &Context<'_>) -> Result<Option<ShipmentObject>> {
        let caller = require_user(ctx)?;
        let shipment = ctx
            .data_unchecked::<DataLoader<ShipmentByOrder>>()
            .load_one(self.id)
            .await?;
        Ok(shipment.filter(|s| caller.may_act_for(s.user_id())).map(ShipmentObject))
    }
}

async fn visible(ctx: &Context<'_>, id: &ID) -> Result<Option<ShipmentObject>> {
    let caller = require_user(ctx)?;
    let id = ShipmentId::parse(id).map_err(bad_input)?;
    let shipment = ctx.data_unchecked::<Shipping>().get(id).await.map_err(internal)?;
    Ok(shipment.filter(|s| caller.may_act_for(s.user_id())).map(ShipmentObject))
}

/// A rate of a zone: the price for orders worth less than `below` (every order
/// when `below` is null); the first rate an order is below applies.
#[derive(SimpleObject)]
pub struct ShippingRate {
    below: Option<MoneyObject>,
    price: MoneyObject,
}

/// Where a method ships (countries, ISO 3166-1 alpha-2) and its rates there.
#[derive(SimpleObject)]
pub struct ShippingZone {
    name: String,
    countries: Vec<String>,
    rates: Vec<ShippingRate>,
}

/// A way the shop ships: the carrier, where and at what price, how long it takes.
pub struct ShippingMethodObject(ShippingMethod);

#[Object(name = "ShippingMethod")]
impl ShippingMethodObject {
    async fn id(&self) -> ID {
        ID(self.0.state().id.to_string())
    }
    async fn name(&self) -> &str {
        self.0.state().name.as_str()
    }
    async fn carrier(&self) -> &str {
        self.0.state().carrier.as_str()
    }
    /// The currency of its rates; it quotes orders in this currency only.
    async fn currency(&self) -> &str {
        self.0.state().currency.code()
    }
    async fn zones(&self) -> Vec<ShippingZone> {
        let currency = self.0.state().currency;
        let money = |amount: i64| MoneyObject::from(Money::new(amount, currency));
        self.0
            .state()
            .zones
            .iter()
            .map(|zone| ShippingZone {
                name: zone.name().to_owned(),
                countries: zone.countries().map(|code| code.as_str().to_owned()).collect(),
                rates: zone
                    .bands()
                    .iter()
                    .map(|band| ShippingRate {
                        below: band.below.map(money),
                        price: money(band.price),
                    })
                    .collect(),
            })
            .collect()
    }
    /// Orders worth this much or more ship free.
    async fn free_from(&self) -> Option<MoneyObject> {
        let state = self.0.state();
        state.free_from.map(|amount| Money::new(amount, state.currency).into())
    }
    /// Business days to deliver, at least.
    async fn min_delivery_days(&self) -> i32 {
        self.0.state().delivery.min_days().into()
    }
    /// Business days to deliver, at most.
    async fn max_delivery_days(&self) -> i32 {
        self.0.state().delivery.max_days().into()
    }
    /// Whether customers are offered it.
    async fn active(&self) -> bool {
        self.0.state().active
    }
}

/// One method's price for an order and its destination.
#[derive(SimpleObject)]
pub struct ShippingOption {
    method: ShippingMethodObject,
    price: MoneyObject,
    min_delivery_days: i32,
    max_delivery_days: i32,
}

#[derive(InputObject)]
pub struct ShippingRateInput {
    /// Minor units of the method's currency; null for the rate without a bound (each
    /// zone has exactly one).
    below: Option<Long>,
    /// Minor units of the method's currency, 0 or more.
    price: Long,
}

#[derive(InputObject)]
pub struct ShippingZoneInput {
    name: String,
    /// ISO 3166-1 alpha-2 codes; a country is in at most one zone of a method.
    countries: Vec<String>,
    rates: Vec<ShippingRateInput>,
}

#[derive(InputObject)]
pub struct ShippingMethodInput {
    name: String,
    carrier: String,
    /// ISO 4217; the rates and `freeFrom` are minor units of it.
    currency: String,
    zones: Vec<ShippingZoneInput>,
    /// Orders worth this much or more ship free.
    free_from: Option<Long>,
    min_delivery_days: i32,
    max_delivery_days: i32,
}

impl ShippingMethodInput {
    /// The method this input describes, with `id` and `active`.
    fn into_method(self, id: ShippingMethodId, active: bool) -> Result<ShippingMethod> {
        let zones = self
            .zones
            .into_iter()
            .map(|zone| {
                let bands: Vec<RateBand> = zone
                    .rates
                    .iter()
                    .map(|rate| RateBand {
                        below: rate.below.map(|below| below.0),
                        price: rate.price.0,
                    })
                    .collect();
                Zone::from_codes(&zone.name, &zone.countries, &bands)
            })
            .collect::<Result<Vec<_>, MethodError>>()
            .map_err(error)?;
        let method = ShippingMethod::new(ShippingMethodState {
            id,
            name: MethodName::parse("name", &self.name).map_err(error)?,
            carrier: MethodName::parse("carrier", &self.carrier).map_err(error)?,
            currency: Currency::parse(&self.currency).map_err(bad_input)?,
            zones,
            free_from: self.free_from.map(|free| free.0),
            delivery: DeliveryWindow::new(self.min_delivery_days.into(), self.max_delivery_days.into())
                .map_err(error)?,
            active,
        });
        method.map_err(error)
    }
}

fn method_id(id: &ID) -> Result<ShippingMethodId> {
    ShippingMethodId::parse(id).map_err(bad_input)
}

#[derive(Default)]
pub struct ShippingQuery;

#[Object]
impl ShippingQuery {
    /// The shop's shipping methods by name: the active ones, and for staff with
    /// `includeInactive` the others too.
    async fn shipping_methods(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] include_inactive: bool,
    ) -> Result<Vec<ShippingMethodObject>> {
        let all = include_inactive && is_privileged(ctx);
        let methods = ctx.data_unchecked::<Shipping>().methods(all).await.map_err(internal)?;
        Ok(methods.into_iter().map(ShippingMethodObject).collect())
    }

    /// The methods that ship an order worth `orderValue` to `address`, with their
    /// price there, cheapest first. Checkout charges the price it quotes itself from
    /// the order's own value.
    async fn shipping_options(
        &self,
        ctx: &Context<'_>,
        address: PostalAddressInput,
        order_value: MoneyInput,
    ) -> Result<Vec<ShippingOption>> {
        let address = kernel::Address::try_from(address)?;
        let order_value = Money::try_from(&order_value)?;
        if order_value.is_negative() {
            return Err(bad_input("orderValue: must be 0 or more"));
        }
        let quotes = ctx
            .data_unchecked::<Shipping>()
            .quotes(address.country(), order_value)
            .await
            .map_err(internal)?;
        Ok(quotes
            .into_iter()
            .map(|(method, quote)| ShippingOption {
                method: ShippingMethodObject(method),
                price: quote.price.into(),
                min_delivery_days: quote.delivery.min_days().into(),
                max_delivery_days: quote.delivery.max_days().into(),
            })
            .collect())
    }

    /// A shipment of the caller's (any for staff); null when there is none.
    async fn shipment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ShipmentObject>> {
        visible(ctx, &id).await
    }

    #[graphql(entity)]
    async fn find_shipment_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<ShipmentObject> {
        visible(ctx, &id)
            .await?
            .ok_or_else(|| not_found(format!("shipment {} does not exist", id.as_str())))
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, id: ID) -> Result<OrderShipment> {
        let id = uuid::Uuid::try_parse(&id).map_err(|_| bad_input("not a valid order id"))?;
        Ok(OrderShipment { id })
    }
}

#[derive(Default)]
pub struct ShippingMutation;

#[Object]
impl ShippingMutation {
    /// Stops an order's shipment before the carrier picks it up: its order is being
    /// canceled (SERVICE, for the cancellation saga, or ADMIN). CONFLICT once the
    /// carrier has it; stopping again returns the stopped shipment.
    #[graphql(requires_scopes = "shipping:write")]
    async fn stop_shipment(&self, ctx: &Context<'_>, order_id: ID, user_id: ID) -> Result<ShipmentObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let parse = |id: &ID, field: &str| {
            uuid::Uuid::try_parse(id).map_err(|_| bad_input(format!("{field} is not a valid id")))
        };
        let shipment = ctx
            .data_unchecked::<Shipping>()
            .stop(
                parse(&order_id, "orderId")?,
                parse(&user_id, "userId")?,
                &request_meta(ctx),
            )
            .await
            .map_err(error)?;
        Ok(ShipmentObject(shipment))
    }

    /// Adds a shipping method, offered at once (ADMIN).
    #[graphql(requires_scopes = "shipping:write")]
    async fn create_shipping_method(
        &self,
        ctx: &Context<'_>,
        input: ShippingMethodInput,
    ) -> Result<ShippingMethodObject> {
        require_role(ctx, Role::Admin)?;
        let method = input.into_method(ShippingMethodId::new(), true)?;
        let method = ctx
            .data_unchecked::<Shipping>()
            .create_method(method)
            .await
            .map_err(error)?;
        Ok(ShippingMethodObject(method))
    }

    /// Replaces a method's name, carrier, zones, rates and delivery window (ADMIN); it
    /// stays offered or not as it was. Orders already placed keep what they paid.
    #[graphql(requires_scopes = "shipping:write")]
    async fn update_shipping_method(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ShippingMethodInput,
    ) -> Result<ShippingMethodObject> {
        require_role(ctx, Role::Admin)?;
        let shipping = ctx.data_unchecked::<Shipping>();
        let id = method_id(&id)?;
        let current = shipping
            .method(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("no such shipping method"))?;
        let method = input.into_method(id, current.state().active)?;
        Ok(ShippingMethodObject(
            shipping.replace_method(method).await.map_err(error)?,
        ))
    }

    /// Offers a method to customers, or stops offering it (ADMIN).
    #[graphql(requires_scopes = "shipping:write")]
    async fn set_shipping_method_active(
        &self,
        ctx: &Context<'_>,
        id: ID,
        active: bool,
    ) -> Result<ShippingMethodObject> {
        require_role(ctx, Role::Admin)?;
        let shipping = ctx.data_unchecked::<Shipping>();
        Ok(ShippingMethodObject(
            shipping
                .set_method_active(method_id(&id)?, active)
                .await
                .map_err(error)?,
        ))
    }
}
