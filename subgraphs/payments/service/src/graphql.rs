//! The Payments subgraph: `Order.payment` through federation, payment commands for the
//! checkout saga (SERVICE or ADMIN), refunds and the ledger's balance for ADMIN.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptySubscription, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::{Money, Role};
use kernel_infra::graphql::money::{Long, MoneyInput, MoneyObject};
use kernel_infra::graphql::{bad_input, error, internal, request_meta};
use kernel_infra::identity::{require_any_role, require_user};
use payments_domain::{Payment, PaymentId, PaymentStatus, Transaction};

use crate::payments::{AuthorizationRequest, Payments};

pub type PaymentsSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(payments: Payments) -> PaymentsSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation, EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "payments",
            payments.db().clone(),
        ))
        .data(DataLoader::new(PaymentByOrder(payments.clone()), tokio::spawn))
        .data(payments)
        .finish()
}

pub struct PaymentByOrder(Payments);

impl Loader<uuid::Uuid> for PaymentByOrder {
    type Value = Payment;
    type Error = Error;

    async fn load(&self, keys: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Payment>, Error> {
        self.0.for_orders(keys).await.map_err(internal)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "PaymentStatus")]
pub enum PaymentStatusValue {
    Pending,
    Authorized,
    Declined,
    Captured,
    Voided,
    /// Part of what was captured was given back; more may follow.
    PartiallyRefunded,
    Refunded,
}

impl From<PaymentStatus> for PaymentStatusValue {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Authorized,
            PaymentStatus::Declined => Self::Declined,
            PaymentStatus::Captured => Self::Captured,
            PaymentStatus::Voided => Self::Voided,
            PaymentStatus::PartiallyRefunded => Self::PartiallyRefunded,
            PaymentStatus::Refunded => Self::Refunded,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PaymentTransaction")]
pub struct TransactionObject {
    id: ID,
    kind: String,
    amount: MoneyObject,
    provider_reference: String,
    /// A refund's reference (e.g. the return it pays back); null for other kinds.
    reference: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Transaction> for TransactionObject {
    fn from(t: Transaction) -> Self {
        Self {
            id: ID(t.id.to_string()),
            kind: t.kind.as_str().to_owned(),
            amount: t.amount.into(),
            provider_reference: t.provider_ref,
            reference: t.reference,
            created_at: t.created_at,
        }
    }
}

pub struct PaymentObject(Payment);

/// A payment of an order.
#[Object(name = "Payment")]
impl PaymentObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id().to_string())
    }
    async fn amount(&self) -> MoneyObject {
        self.0.amount().into()
    }
    /// What refunds gave back so far.
    async fn refunded(&self) -> MoneyObject {
        self.0.refunded().into()
    }
    /// What is left to refund: captured and not yet given back.
    async fn refundable(&self) -> MoneyObject {
        self.0.refundable().into()
    }
    async fn method(&self) -> &str {
        &self.0.method()
    }
    async fn status(&self) -> PaymentStatusValue {
        self.0.status().into()
    }
    /// Why a DECLINED payment was declined.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason()
    }
    /// The movements confirmed by the provider, oldest first.
    async fn transactions(&self, ctx: &Context<'_>) -> Result<Vec<TransactionObject>> {
        let list = ctx
            .data_unchecked::<Payments>()
            .transactions(self.0.id())
            .await
            .map_err(error)?;
        Ok(list.into_iter().map(Into::into).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

/// Payments' part of `Order` (owned by Orders).
pub struct OrderPayment {
    id: uuid::Uuid,
}

#[Object(name = "Order")]
impl OrderPayment {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The order's latest payment; null before checkout reached payment, and for
    /// anyone but the buyer and staff.
    async fn payment(&self, ctx: &Context<'_>) -> Result<Option<PaymentObject>> {
        let caller = require_user(ctx)?;
        let payment = ctx
            .data_unchecked::<DataLoader<PaymentByOrder>>()
            .load_one(self.id)
            .await?;
        Ok(payment.filter(|p| caller.may_act_for(p.user_id())).map(PaymentObject))
    }
}

#[derive(SimpleObject)]
pub struct LedgerBalance {
    currency: String,
    /// The sum of every entry: zero when the books balance.
    imbalance: Long,
}

fn parse_payment_id(id: &ID) -> Result<PaymentId> {
    PaymentId::parse(id).map_err(bad_input)
}

kernel_infra::status_field!("paymentsStatus");

/// The subgraph's queries: the context's own and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(PaymentsQuery, StatusQuery);

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// A payment: the payer's own, or any for staff.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PaymentObject>> {
        let caller = require_user(ctx)?;
        let payment = ctx
            .data_unchecked::<Payments>()
            .get(parse_payment_id(&id)?)
            .await
            .map_err(error)?;
        Ok(payment.filter(|p| caller.may_act_for(p.user_id())).map(PaymentObject))
    }

    /// The ledger's sum per currency (ADMIN): every entry of every transaction.
    #[graphql(requires_scopes = "ledger:read")]
    async fn ledger_balance(&self, ctx: &Context<'_>) -> Result<Vec<LedgerBalance>> {
        require_any_role(ctx, &[Role::Admin])?;
        let sums = ctx
            .data_unchecked::<Payments>()
            .ledger_imbalance()
            .await
            .map_err(error)?;
        Ok(sums
            .into_iter()
            .map(|(currency, sum)| LedgerBalance {
                currency,
                imbalance: Long(sum),
            })
            .collect())
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, id: ID) -> Result<OrderPayment> {
        let id = uuid::Uuid::try_parse(&id).map_err(|_| bad_input("not a valid order id"))?;
        Ok(OrderPayment { id })
    }
}

#[derive(InputObject)]
pub struct AuthorizePaymentInput {
    /// One payment per key: a retry with the same key returns the same payment.
    idempotency_key: String,
    order_id: ID,
    user_id: ID,
    amount: MoneyInput,
    /// The payment method token. The simulated provider declines `card_declined`
    /// and cannot be reached for `card_unavailable`.
    payment_method: String,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Authorizes a payment (SERVICE or ADMIN). A decline is answered as a DECLINED
    /// payment, not an error.
    #[graphql(requires_scopes = "payments:write")]
    async fn authorize_payment(&self, ctx: &Context<'_>, input: AuthorizePaymentInput) -> Result<PaymentObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let uuid =
            |id: &ID, what: &str| uuid::Uuid::try_parse(id).map_err(|_| bad_input(format!("{what} is not a valid id")));
        let request = AuthorizationRequest {
            idempotency_key: &input.idempotency_key,
            order_id: uuid(&input.order_id, "orderId")?,
            user_id: uuid(&input.user_id, "userId")?,
            amount: Money::try_from(&input.amount)?,
            method: &input.payment_method,
        };
        let payment = ctx
            .data_unchecked::<Payments>()
            .authorize(request, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(PaymentObject(payment))
    }

    /// Takes an authorized payment (SERVICE or ADMIN).
    #[graphql(requires_scopes = "payments:write")]
    async fn capture_payment(&self, ctx: &Context<'_>, id: ID) -> Result<PaymentObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let payment = ctx
            .data_unchecked::<Payments>()
            .capture(parse_payment_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(PaymentObject(payment))
    }

    /// Lets an authorization go (SERVICE or ADMIN).
    #[graphql(requires_scopes = "payments:write")]
    async fn void_payment(&self, ctx: &Context<'_>, id: ID) -> Result<PaymentObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let payment = ctx
            .data_unchecked::<Payments>()
            .void(parse_payment_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(PaymentObject(payment))
    }

    /// Refunds a captured payment (ADMIN, or SERVICE for the sagas): `amount` of it, or
    /// all that is left to refund when `amount` is left out. Refunds follow one
    /// another until all is given back; the order follows by event. A refund with a
    /// `reference` is made once: asking again with it returns the payment as it is.
    /// Without one, refunding all of a refunded payment again returns it.
    #[graphql(requires_scopes = "payments:write")]
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        amount: Option<MoneyInput>,
        reference: Option<String>,
    ) -> Result<PaymentObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let amount = amount.as_ref().map(Money::try_from).transpose()?;
        let payment = ctx
            .data_unchecked::<Payments>()
            .refund(parse_payment_id(&id)?, amount, reference.as_deref(), &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(PaymentObject(payment))
    }
}
