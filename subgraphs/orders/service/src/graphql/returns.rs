//! Returns in the Orders subgraph: `Order.returns`, a customer's `requestReturn`, and
//! staff's queue (`returns`) with `approveReturn` and `refuseReturn`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::{Quantity, Role, Sku};
use kernel_infra::graphql::money::MoneyObject;
use kernel_infra::graphql::{bad_input, error, page_size, request_meta};
use kernel_infra::identity::{require_any_role, require_user};
use orders_domain::returns::{Return, ReturnId, ReturnLine, ReturnRequest, ReturnStatus};

use super::OrderLoader;
use crate::returns::Returns;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ReturnStatus")]
pub enum ReturnStatusValue {
    /// Asked for by the customer; staff decide.
    Requested,
    /// Staff agreed: the customer sends the goods.
    Approved,
    /// Staff said no (see `refusal`).
    Refused,
    /// The goods arrived: the refund and the restock are under way.
    Received,
    /// The payment is refunded for the lines and their units are back on hand.
    Refunded,
}

impl From<ReturnStatus> for ReturnStatusValue {
    fn from(status: ReturnStatus) -> Self {
        match status {
            ReturnStatus::Requested => Self::Requested,
            ReturnStatus::Approved => Self::Approved,
            ReturnStatus::Refused => Self::Refused,
            ReturnStatus::Received => Self::Received,
            ReturnStatus::Refunded => Self::Refunded,
        }
    }
}

impl From<ReturnStatusValue> for ReturnStatus {
    fn from(status: ReturnStatusValue) -> Self {
        match status {
            ReturnStatusValue::Requested => Self::Requested,
            ReturnStatusValue::Approved => Self::Approved,
            ReturnStatusValue::Refused => Self::Refused,
            ReturnStatusValue::Received => Self::Received,
            ReturnStatusValue::Refunded => Self::Refunded,
        }
    }
}

/// Units of one order line sent back, and what they refund.
#[derive(SimpleObject)]
#[graphql(name = "ReturnLine")]
pub struct ReturnLineObject {
    sku: String,
    quantity: i32,
    /// Their share of the line after its discount, with its tax where prices do not
    /// include it.
    refund: MoneyObject,
}

impl From<&ReturnLine> for ReturnLineObject {
    fn from(line: &ReturnLine) -> Self {
        Self {
            sku: line.sku.to_string(),
            quantity: i32::try_from(line.quantity.get()).unwrap_or(i32::MAX),
            refund: line.refund.into(),
        }
    }
}

pub struct ReturnObject(pub Return);

/// Units of a delivered order that the customer sends back.
#[Object(name = "Return")]
impl ReturnObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id().to_string())
    }
    async fn status(&self) -> ReturnStatusValue {
        self.0.status().into()
    }
    /// The customer's reason.
    async fn reason(&self) -> &str {
        self.0.reason()
    }
    async fn lines(&self) -> Vec<ReturnLineObject> {
        self.0.lines().iter().map(Into::into).collect()
    }
    /// The shipping (and its tax) given back: all of it with the return that brings the
    /// last unit of the order back, nothing otherwise.
    async fn shipping_refund(&self) -> MoneyObject {
        self.0.shipping_refund().into()
    }
    /// What the return refunds in all: its lines and the shipping refund.
    async fn refund(&self) -> MoneyObject {
        self.0.refund().into()
    }
    /// Why staff refused it; null unless REFUSED.
    async fn refusal(&self) -> Option<&str> {
        self.0.refusal()
    }
    /// Why its refund was refused the last time the goods were received (it went back
    /// to APPROVED); null otherwise.
    async fn failure(&self) -> Option<&str> {
        self.0.failure()
    }
    /// The order's payment, which the return refunds; null for an order without one.
    async fn payment_id(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        let order = ctx
            .data_unchecked::<DataLoader<OrderLoader>>()
            .load_one(self.0.order_id())
            .await?;
        Ok(order.and_then(|o| o.payment_id()).map(|id| ID(id.to_string())))
    }
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at()
    }
}

#[derive(InputObject)]
pub struct ReturnLineInput {
    sku: String,
    quantity: i32,
}

#[derive(InputObject)]
pub struct RequestReturnInput {
    order_id: ID,
    /// Each a SKU of the order, once, with at most the units not yet returned.
    lines: Vec<ReturnLineInput>,
    /// Why the goods go back: 1 to 500 characters.
    reason: String,
}

impl TryFrom<&RequestReturnInput> for ReturnRequest {
    type Error = async_graphql::Error;

    fn try_from(input: &RequestReturnInput) -> Result<Self> {
        let lines = input
            .lines
            .iter()
            .map(|line| {
                Ok((
                    Sku::parse(&line.sku).map_err(error)?,
                    Quantity::new(i64::from(line.quantity)).map_err(error)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(ReturnRequest {
            lines,
            reason: input.reason.clone(),
        })
    }
}

fn return_id(id: &ID) -> Result<ReturnId> {
    ReturnId::parse(id).map_err(|_| bad_input("id is not a valid return id"))
}

#[derive(Default)]
pub struct ReturnQuery;

#[Object]
impl ReturnQuery {
    /// Returns with `status`, oldest first: staff's queue (ADMIN).
    #[graphql(requires_scopes = "returns:write")]
    async fn returns(
        &self,
        ctx: &Context<'_>,
        status: ReturnStatusValue,
        first: Option<i32>,
    ) -> Result<Vec<ReturnObject>> {
        require_any_role(ctx, &[Role::Admin])?;
        let found = ctx
            .data_unchecked::<Returns>()
            .with_status(status.into(), page_size(first)?)
            .await
            .map_err(error)?;
        Ok(found.into_iter().map(ReturnObject).collect())
    }
}

#[derive(Default)]
pub struct ReturnMutation;

#[Object]
impl ReturnMutation {
    /// Asks to send back units of a delivered order within its return window: a
    /// customer for their own order, staff for anyone's.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn request_return(&self, ctx: &Context<'_>, input: RequestReturnInput) -> Result<ReturnObject> {
        let caller = require_user(ctx)?;
        let order_id = super::parse_order_id(&input.order_id)?;
        let request = ReturnRequest::try_from(&input)?;
        let asked = ctx
            .data_unchecked::<Returns>()
            .request(order_id, caller, request, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(asked))
    }

    /// Agrees to take the goods back (ADMIN).
    #[graphql(requires_scopes = "returns:write")]
    async fn approve_return(&self, ctx: &Context<'_>, id: ID) -> Result<ReturnObject> {
        require_any_role(ctx, &[Role::Admin])?;
        let approved = ctx
            .data_unchecked::<Returns>()
            .approve(return_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(approved))
    }

    /// The goods arrived (the return saga, SERVICE or ADMIN): APPROVED → RECEIVED.
    /// Staff receive a return with Checkout's `receiveReturn`, which runs the saga.
    #[graphql(requires_scopes = "returns:write")]
    async fn mark_return_received(&self, ctx: &Context<'_>, id: ID) -> Result<ReturnObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let received = ctx
            .data_unchecked::<Returns>()
            .receive(return_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(received))
    }

    /// The return is refunded and restocked (the return saga, SERVICE or ADMIN):
    /// RECEIVED → REFUNDED, and the order PARTIALLY_REFUNDED or REFUNDED.
    #[graphql(requires_scopes = "returns:write")]
    async fn mark_return_refunded(&self, ctx: &Context<'_>, id: ID) -> Result<ReturnObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let refunded = ctx
            .data_unchecked::<Returns>()
            .complete(return_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(refunded))
    }

    /// The refund was refused after the goods arrived (the return saga's compensation,
    /// SERVICE or ADMIN): RECEIVED → APPROVED, with the reason as `failure`.
    #[graphql(requires_scopes = "returns:write")]
    async fn reopen_return(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<ReturnObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let reopened = ctx
            .data_unchecked::<Returns>()
            .reopen(return_id(&id)?, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(reopened))
    }

    /// Refuses the return, saying why; its units may be asked for again (ADMIN).
    #[graphql(requires_scopes = "returns:write")]
    async fn refuse_return(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<ReturnObject> {
        require_any_role(ctx, &[Role::Admin])?;
        let refused = ctx
            .data_unchecked::<Returns>()
            .refuse(return_id(&id)?, &reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReturnObject(refused))
    }
}
