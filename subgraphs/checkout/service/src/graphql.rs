//! The Checkout subgraph: `checkout` turns the caller's cart into a paid order through
//! the saga, and `checkoutSession` shows where a checkout is. The order itself is
//! resolved by Orders through federation.

use async_graphql::{Context, EmptySubscription, Enum, ID, InputObject, Object, Result, Schema, SimpleObject};
use checkout_domain::{
    AddressChoice, AskedCoupon, CheckoutId, CheckoutRequest, CheckoutSession, DeliveryRequest, IdempotencyKey,
    PaymentMethod, SessionStatus,
};
use chrono::{DateTime, Utc};
use kernel::Role;
use kernel_infra::graphql::address::PostalAddressInput;
use kernel_infra::graphql::money::MoneyObject;
use kernel_infra::graphql::{bad_input, error, request_meta};
use kernel_infra::identity::{require_role, require_user};

use crate::saga::{CheckoutServiceError, Saga, SagaStep, StepRecord};
use checkout_domain::returns::{ReturnProcess, ReturnStep};

pub type CheckoutSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(saga: Saga) -> CheckoutSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation, EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new("checkout", saga.db().clone()))
        .data(saga)
        .finish()
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CheckoutStatus")]
pub enum CheckoutStatusValue {
    /// Still going forward (a context was unreachable; it resumes by itself).
    Running,
    /// A step was refused; what was done is being undone.
    Compensating,
    /// The order is placed and paid.
    Completed,
    /// A step was refused and everything done before it was undone.
    Failed,
    /// Stopped past the point of no return; an operator is needed.
    Stuck,
    /// The order's cancellation runs: shipment stopped, order canceled, payment
    /// refunded, stock and coupon use given back.
    Canceling,
    /// The order was canceled and everything it took was given back.
    Canceled,
    /// Was STUCK; staff settled it by hand (`resolution` says how).
    Resolved,
}

impl From<SessionStatus> for CheckoutStatusValue {
    fn from(status: SessionStatus) -> Self {
        match status {
            SessionStatus::Running => Self::Running,
            SessionStatus::Compensating => Self::Compensating,
            SessionStatus::Completed => Self::Completed,
            SessionStatus::Failed => Self::Failed,
            SessionStatus::Stuck => Self::Stuck,
            SessionStatus::Canceling => Self::Canceling,
            SessionStatus::Canceled => Self::Canceled,
            SessionStatus::Resolved => Self::Resolved,
        }
    }
}

/// An order as Checkout refers to it; Orders resolves the rest.
#[derive(SimpleObject)]
#[graphql(name = "Order", unresolvable = "id")]
pub struct OrderReference {
    id: ID,
}

#[derive(SimpleObject)]
#[graphql(name = "CheckoutStep")]
pub struct StepObject {
    step: String,
    /// DONE, REFUSED or UNAVAILABLE (retried later).
    outcome: String,
    detail: Option<String>,
    at: DateTime<Utc>,
}

impl<S: SagaStep> From<StepRecord<S>> for StepObject {
    fn from(record: StepRecord<S>) -> Self {
        Self {
            step: record.step.name().to_owned(),
            outcome: record.outcome,
            detail: record.detail,
            at: record.at,
        }
    }
}

pub struct SessionObject(CheckoutSession);

/// A checkout: the saga's progress from a cart to a paid order.
#[Object(name = "CheckoutSession")]
impl SessionObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn status(&self) -> CheckoutStatusValue {
        self.0.status().into()
    }
    /// The step it runs next; null when finished.
    async fn current_step(&self) -> Option<&str> {
        self.0.step().map(|s| s.as_str())
    }
    /// The forward step that was refused.
    async fn failed_step(&self) -> Option<&str> {
        self.0.failed_step().map(|s| s.as_str())
    }
    /// Why it failed, as the refusing context said.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure()
    }
    async fn cart_id(&self) -> ID {
        ID(self.0.request().cart_id.to_string())
    }
    async fn coupon_code(&self) -> Option<&str> {
        self.0.request().coupon()
    }
    /// The order, once placed (it stays, canceled, when the checkout failed later).
    async fn order(&self) -> Option<OrderReference> {
        self.0.order_id().map(|id| OrderReference { id: ID(id.to_string()) })
    }
    async fn payment_id(&self) -> Option<ID> {
        self.0.payment_id().map(|id| ID(id.to_string()))
    }
    async fn subtotal(&self) -> Option<MoneyObject> {
        self.0.subtotal().map(Into::into)
    }
    async fn discount(&self) -> Option<MoneyObject> {
        self.0.discount().map(Into::into)
    }
    /// What shipping costs, as quoted when the checkout started; null without a
    /// delivery.
    async fn shipping_cost(&self) -> Option<MoneyObject> {
        self.0.shipping_cost().map(Into::into)
    }
    async fn total(&self) -> Option<MoneyObject> {
        self.0.total().map(Into::into)
    }
    /// Why the customer canceled the order, once they asked.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason()
    }
    /// The step that was refused when it became STUCK; `resumeCheckout` runs it again.
    async fn stuck_step(&self) -> Option<&str> {
        self.0.stuck_step().map(|s| s.as_str())
    }
    /// How staff settled it by hand, when RESOLVED.
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution()
    }
    /// Every step run so far and how it went, oldest first.
    async fn steps(&self, ctx: &Context<'_>) -> Result<Vec<StepObject>> {
        let steps = ctx.data_unchecked::<Saga>().steps(self.0.id()).await.map_err(error)?;
        Ok(steps.into_iter().map(Into::into).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

#[derive(InputObject)]
pub struct CheckoutInput {
    cart_id: ID,
    coupon_code: Option<String>,
    /// The payment method token (the simulated provider declines `card_declined`).
    payment_method: String,
    /// One checkout per key: submitting again returns the same checkout.
    idempotency_key: String,
    /// Where and how to ship; left out for goods that are not shipped.
    delivery: Option<CheckoutDeliveryInput>,
}

/// Where and how a checkout's order ships.
#[derive(InputObject)]
pub struct CheckoutDeliveryInput {
    shipping_address: CheckoutAddressInput,
    /// The shipping address when left out.
    billing_address: Option<CheckoutAddressInput>,
    /// A method of `shippingOptions` for this address; one that does not ship there is
    /// refused.
    shipping_method_id: ID,
}

/// An address for a checkout: exactly one of `savedAddressId` (from the caller's
/// address book) and `address` (written here).
#[derive(InputObject)]
pub struct CheckoutAddressInput {
    saved_address_id: Option<ID>,
    address: Option<PostalAddressInput>,
}

impl CheckoutAddressInput {
    fn choice(self, field: &str) -> Result<AddressChoice> {
        match (self.saved_address_id, self.address) {
            (Some(id), None) => uuid::Uuid::try_parse(&id)
                .map(AddressChoice::Saved)
                .map_err(|_| bad_input(format!("{field}.savedAddressId is not a valid id"))),
            (None, Some(address)) => Ok(AddressChoice::Written(kernel::Address::try_from(address)?)),
            _ => Err(bad_input(format!(
                "{field}: give exactly one of savedAddressId and address"
            ))),
        }
    }
}

impl CheckoutDeliveryInput {
    fn request(self) -> Result<DeliveryRequest> {
        Ok(DeliveryRequest {
            shipping_address: self.shipping_address.choice("delivery.shippingAddress")?,
            billing_address: self
                .billing_address
                .map(|billing| billing.choice("delivery.billingAddress"))
                .transpose()?,
            method_id: uuid::Uuid::try_parse(&self.shipping_method_id)
                .map_err(|_| bad_input("delivery.shippingMethodId is not a valid id"))?,
        })
    }
}

pub struct ReturnProcessObject(ReturnProcess);

/// The return saga of one return, run when staff receive its goods: mark it received,
/// refund the payment for it, put its units back on hand, mark it refunded.
#[Object(name = "ReturnProcess")]
impl ReturnProcessObject {
    /// The return's id.
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    /// COMPLETED (refunded and restocked), FAILED (refused before or at the refund,
    /// nothing changed: the return is APPROVED again), STUCK (refused after the
    /// refund: an operator is needed), or RUNNING/COMPENSATING while it goes on.
    async fn status(&self) -> CheckoutStatusValue {
        self.0.status().into()
    }
    async fn current_step(&self) -> Option<&str> {
        self.0.step().map(ReturnStep::as_str)
    }
    async fn failed_step(&self) -> Option<&str> {
        self.0.failed_step().map(ReturnStep::as_str)
    }
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure()
    }
    /// What the return refunds, once the goods were marked received.
    async fn refund(&self) -> Option<MoneyObject> {
        self.0.received().as_ref().map(|r| r.refund.into())
    }
    async fn order(&self) -> Option<OrderReference> {
        self.0.received().as_ref().map(|r| OrderReference {
            id: ID(r.order_id.to_string()),
        })
    }
    /// Every step run so far and how it went, oldest first.
    async fn steps(&self, ctx: &Context<'_>) -> Result<Vec<StepObject>> {
        let steps = ctx
            .data_unchecked::<Saga>()
            .return_steps(self.0.id())
            .await
            .map_err(error)?;
        Ok(steps.into_iter().map(Into::into).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

fn return_id(id: &ID) -> Result<uuid::Uuid> {
    uuid::Uuid::try_parse(id).map_err(|_| bad_input("id is not a valid return id"))
}

kernel_infra::status_field!("checkoutStatus");

/// The subgraph's queries: the context's own and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CheckoutQuery, StatusQuery);

#[derive(Default)]
pub struct CheckoutQuery;

#[Object]
impl CheckoutQuery {
    /// Return processes staff should look at (ADMIN): STUCK ones (refused after the
    /// refund), and unfinished ones that have not moved for `quietForSeconds` (default
    /// 300), oldest first, at most 100.
    #[graphql(requires_scopes = "returns:write")]
    async fn returns_needing_attention(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 300)] quiet_for_seconds: i32,
    ) -> Result<Vec<ReturnProcessObject>> {
        require_role(ctx, Role::Admin)?;
        let quiet_for = std::time::Duration::from_secs(u64::try_from(quiet_for_seconds).unwrap_or(0));
        let processes = ctx
            .data_unchecked::<Saga>()
            .returns_needing_attention(quiet_for)
            .await
            .map_err(error)?;
        Ok(processes.into_iter().map(ReturnProcessObject).collect())
    }

    /// The return saga of a return (ADMIN); null before its goods were received.
    #[graphql(requires_scopes = "returns:write")]
    async fn return_process(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ReturnProcessObject>> {
        require_role(ctx, Role::Admin)?;
        let process = ctx
            .data_unchecked::<Saga>()
            .return_process(return_id(&id)?)
            .await
            .map_err(error)?;
        Ok(process.map(ReturnProcessObject))
    }

    /// One of the caller's checkouts (any for staff); null when there is none.
    async fn checkout_session(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SessionObject>> {
        let caller = require_user(ctx)?;
        let id = CheckoutId::parse(&id).map_err(bad_input)?;
        let session = ctx.data_unchecked::<Saga>().get(id).await.map_err(error)?;
        Ok(session
            .filter(|s| caller.may_act_for(s.request().user_id))
            .map(SessionObject))
    }

    /// Checkouts staff should look at (ADMIN): STUCK ones, and unfinished ones that
    /// have not moved for `quietForSeconds` (default 300), oldest first, at most 100.
    #[graphql(requires_scopes = "orders:write")]
    async fn checkouts_needing_attention(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 300)] quiet_for_seconds: i32,
    ) -> Result<Vec<SessionObject>> {
        require_role(ctx, Role::Admin)?;
        let quiet_for = std::time::Duration::from_secs(u64::try_from(quiet_for_seconds).unwrap_or(0));
        let sessions = ctx
            .data_unchecked::<Saga>()
            .needing_attention(quiet_for)
            .await
            .map_err(error)?;
        Ok(sessions.into_iter().map(SessionObject).collect())
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Checks out the caller's cart: stock, coupon, order and payment, all or nothing.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply(), directive = kernel_infra::graphql::directives::cost::apply(50))]
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> Result<SessionObject> {
        let caller = require_user(ctx)?;
        let cart_id = uuid::Uuid::try_parse(&input.cart_id).map_err(|_| bad_input("cartId is not a valid id"))?;
        let request = CheckoutRequest {
            user_id: caller.user_id,
            cart_id,
            coupon_code: input
                .coupon_code
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .map(|c| AskedCoupon::parse(&c))
                .transpose()
                .map_err(error)?,
            payment_method: PaymentMethod::parse(&input.payment_method).map_err(error)?,
            idempotency_key: IdempotencyKey::parse(&input.idempotency_key).map_err(error)?,
            delivery: input.delivery.map(CheckoutDeliveryInput::request).transpose()?,
        };
        let session = ctx
            .data_unchecked::<Saga>()
            .checkout(caller, request, &request_meta(ctx))
            .await
            .map_err(|err| match err {
                CheckoutServiceError::TooManyFailures(retry_after) => {
                    kernel_infra::throttle::Throttled { retry_after }.error("too many failed checkouts")
                }
                other => error(other),
            })?;
        Ok(SessionObject(session))
    }

    /// Resumes a checkout (ADMIN): a STUCK one runs its refused step again, once its
    /// cause is fixed; an unfinished one is driven now. Audited
    /// (`checkout.session.resumed`).
    #[graphql(requires_scopes = "orders:write")]
    async fn resume_checkout(&self, ctx: &Context<'_>, id: ID) -> Result<SessionObject> {
        let staff = require_role(ctx, Role::Admin)?;
        let id = CheckoutId::parse(&id).map_err(bad_input)?;
        let session = ctx
            .data_unchecked::<Saga>()
            .resume_by_staff(staff, id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(SessionObject(session))
    }

    /// Undoes a checkout STUCK on its way forward (ADMIN), saying why: the shipment
    /// stopped, the payment voided (it was never captured), the order canceled, the
    /// coupon and stock given back; it ends FAILED. Compensating again answers it as it
    /// is. Audited (`checkout.session.compensated`).
    #[graphql(requires_scopes = "orders:write")]
    async fn compensate_checkout(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<SessionObject> {
        let staff = require_role(ctx, Role::Admin)?;
        let id = CheckoutId::parse(&id).map_err(bad_input)?;
        let session = ctx
            .data_unchecked::<Saga>()
            .compensate_by_staff(staff, id, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(SessionObject(session))
    }

    /// Marks a STUCK checkout settled by hand (ADMIN), saying how: RESOLVED, never
    /// driven again. Audited (`checkout.session.resolved`).
    #[graphql(requires_scopes = "orders:write")]
    async fn resolve_checkout(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<SessionObject> {
        let staff = require_role(ctx, Role::Admin)?;
        let id = CheckoutId::parse(&id).map_err(bad_input)?;
        let session = ctx
            .data_unchecked::<Saga>()
            .resolve(staff, id, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(SessionObject(session))
    }

    /// Staff have the goods of an APPROVED return in hand (ADMIN): the return saga runs
    /// now — marked received, the payment refunded for it, its units back on hand, the
    /// order PARTIALLY_REFUNDED or REFUNDED. Receiving again answers the same process;
    /// one that FAILED (its refund was refused, the return reopened) runs again.
    #[graphql(requires_scopes = "returns:write", directive = kernel_infra::graphql::directives::cost::apply(50))]
    async fn receive_return(&self, ctx: &Context<'_>, id: ID) -> Result<ReturnProcessObject> {
        require_role(ctx, Role::Admin)?;
        let process = ctx
            .data_unchecked::<Saga>()
            .receive_return(return_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnProcessObject(process))
    }

    /// Cancels a paid order that has not been handed to the carrier: the shipment is
    /// stopped, the order canceled, the payment refunded, the stock put back on sale
    /// and the coupon use given back. The customer cancels their own orders, staff
    /// any; an unpaid order is canceled with `cancelOrder`. CONFLICT once the goods are
    /// on their way; asking again returns the same cancellation.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply(), directive = kernel_infra::graphql::directives::cost::apply(50))]
    async fn cancel_paid_order(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        reason: Option<String>,
    ) -> Result<SessionObject> {
        let caller = require_user(ctx)?;
        let order_id = uuid::Uuid::try_parse(&order_id).map_err(|_| bad_input("orderId is not a valid id"))?;
        let reason = reason.unwrap_or_else(|| "no reason given".into());
        let session = ctx
            .data_unchecked::<Saga>()
            .cancel_paid_order(caller, order_id, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(SessionObject(session))
    }
}
