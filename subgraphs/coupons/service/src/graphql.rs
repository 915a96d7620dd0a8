//! The Coupons subgraph: coupons for signed-in customers to look up (throttled), ADMIN
//! to create, and the redemption commands the checkout saga sends (SERVICE or ADMIN).

use async_graphql::{Context, EmptySubscription, Enum, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use coupons_domain::{Coupon, CouponCode, CouponRules, Discount, Redemption, RedemptionId, RedemptionStatus};
use kernel::{Money, Role};
use kernel_infra::graphql::money::{MoneyInput, MoneyObject};
use kernel_infra::graphql::{bad_input, error, request_meta};
use kernel_infra::identity::{require_any_role, require_role, require_user};
use kernel_infra::throttle::Throttle;

use crate::coupons::Coupons;

pub type CouponsSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(coupons: Coupons) -> CouponsSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation, EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "coupons",
            coupons.db().clone(),
        ))
        .data(coupons)
        .data(CouponLookups(Throttle::new(
            "coupon-lookups",
            LOOKUPS_PER_WINDOW,
            LOOKUP_WINDOW,
        )))
        .finish()
}

/// How many coupon codes a customer may look up per [`LOOKUP_WINDOW`].
pub const LOOKUPS_PER_WINDOW: u64 = 30;
pub const LOOKUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Customers' coupon lookups, counted per customer.
struct CouponLookups(Throttle);

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "DiscountKind")]
pub enum DiscountKind {
    Percentage,
    FixedAmount,
}

pub struct CouponObject(Coupon);

/// A discount coupon and its rules.
#[Object(name = "Coupon")]
impl CouponObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn code(&self) -> &str {
        self.0.code().as_str()
    }
    async fn kind(&self) -> DiscountKind {
        match self.0.discount().fixed_amount() {
            Some(_) => DiscountKind::FixedAmount,
            None => DiscountKind::Percentage,
        }
    }
    /// For PERCENTAGE coupons: hundredths of a percent (1,000 = 10 %).
    async fn basis_points(&self) -> Option<i32> {
        self.0.discount().basis_points().and_then(|bp| i32::try_from(bp).ok())
    }
    /// For FIXED_AMOUNT coupons.
    async fn amount(&self) -> Option<MoneyObject> {
        self.0.discount().fixed_amount().map(Into::into)
    }
    async fn minimum_order(&self) -> Option<MoneyObject> {
        self.0.rules().minimum_order.map(Into::into)
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.rules().valid_from
    }
    async fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.0.rules().valid_until
    }
    async fn max_uses(&self) -> Option<i32> {
        self.0.rules().max_uses.and_then(|n| i32::try_from(n).ok())
    }
    async fn max_uses_per_user(&self) -> Option<i32> {
        self.0.rules().max_uses_per_user.and_then(|n| i32::try_from(n).ok())
    }
    /// Redemptions reserved or committed.
    async fn uses(&self) -> i32 {
        i32::try_from(self.0.uses()).unwrap_or(i32::MAX)
    }
    async fn active(&self) -> bool {
        self.0.active()
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "RedemptionStatus")]
pub enum RedemptionStatusValue {
    Reserved,
    Committed,
    Released,
    Returned,
}

#[derive(SimpleObject)]
#[graphql(name = "Redemption")]
pub struct RedemptionObject {
    id: ID,
    code: String,
    user_id: ID,
    order_amount: MoneyObject,
    /// What the coupon took off, fixed when it was reserved.
    discount: MoneyObject,
    status: RedemptionStatusValue,
    created_at: DateTime<Utc>,
}

impl From<Redemption> for RedemptionObject {
    fn from(r: Redemption) -> Self {
        Self {
            id: ID(r.id().to_string()),
            code: r.code().as_str().to_owned(),
            user_id: ID(r.user_id().to_string()),
            order_amount: r.order_amount().into(),
            discount: r.discount().into(),
            status: match r.status() {
                RedemptionStatus::Reserved => RedemptionStatusValue::Reserved,
                RedemptionStatus::Committed => RedemptionStatusValue::Committed,
                RedemptionStatus::Released => RedemptionStatusValue::Released,
                RedemptionStatus::Returned => RedemptionStatusValue::Returned,
            },
            created_at: r.created_at(),
        }
    }
}

#[derive(InputObject)]
pub struct CreateCouponInput {
    code: String,
    kind: DiscountKind,
    /// Required for PERCENTAGE: 1 to 10,000 (0.01 % to 100 %).
    basis_points: Option<i32>,
    /// Required for FIXED_AMOUNT.
    amount: Option<MoneyInput>,
    minimum_order: Option<MoneyInput>,
    /// Now when omitted.
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    max_uses: Option<i32>,
    max_uses_per_user: Option<i32>,
}

fn limit(value: Option<i32>, field: &str) -> Result<Option<u32>> {
    value
        .map(|n| u32::try_from(n).map_err(|_| bad_input(format!("{field} cannot be negative"))))
        .transpose()
}

impl CreateCouponInput {
    fn parse(&self) -> Result<(CouponCode, Discount, CouponRules)> {
        let code = CouponCode::parse(&self.code).map_err(error)?;
        let discount = match (self.kind, self.basis_points, &self.amount) {
            (DiscountKind::Percentage, Some(bp), None) => {
                let bp = u32::try_from(bp).map_err(|_| bad_input("basisPoints cannot be negative"))?;
                Discount::percentage(bp).map_err(error)?
            }
            (DiscountKind::FixedAmount, None, Some(amount)) => {
                Discount::fixed(Money::try_from(amount)?).map_err(error)?
            }
            _ => {
                return Err(bad_input(
                    "PERCENTAGE takes basisPoints, FIXED_AMOUNT takes amount (and not the other)",
                ));
            }
        };
        let rules = CouponRules {
            minimum_order: self.minimum_order.as_ref().map(Money::try_from).transpose()?,
            valid_from: self.valid_from.unwrap_or_else(Utc::now),
            valid_until: self.valid_until,
            max_uses: limit(self.max_uses, "maxUses")?,
            max_uses_per_user: limit(self.max_uses_per_user, "maxUsesPerUser")?,
        };
        Ok((code, discount, rules))
    }
}

#[derive(InputObject)]
pub struct ReserveRedemptionInput {
    /// The saga's id for this redemption: retrying with it cannot use the coupon twice.
    id: ID,
    code: String,
    user_id: ID,
    order_amount: MoneyInput,
}

fn redemption_id(id: &ID) -> Result<RedemptionId> {
    RedemptionId::parse(id).map_err(bad_input)
}

kernel_infra::status_field!("couponsStatus");

/// The subgraph's queries: the context's own and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CouponsQuery, StatusQuery);

#[derive(Default)]
pub struct CouponsQuery;

#[Object]
impl CouponsQuery {
    /// A coupon by code (any case); null when there is none. For signed-in callers; a
    /// customer may look up 30 codes per ten minutes, so codes cannot be guessed by
    /// trying them all.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn coupon(&self, ctx: &Context<'_>, code: String) -> Result<Option<CouponObject>> {
        let caller = require_user(ctx)?;
        if !caller.is_privileged() {
            ctx.data_unchecked::<CouponLookups>()
                .0
                .hit(&caller.user_id.to_string())
                .await
                .map_err(|throttled| throttled.error("too many coupon lookups"))?;
        }
        let code = CouponCode::parse(&code).map_err(error)?;
        let coupon = ctx.data_unchecked::<Coupons>().find(&code).await.map_err(error)?;
        Ok(coupon.map(CouponObject))
    }

    /// A redemption (SERVICE or ADMIN).
    async fn redemption(&self, ctx: &Context<'_>, id: ID) -> Result<Option<RedemptionObject>> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let redemption = ctx
            .data_unchecked::<Coupons>()
            .redemption(redemption_id(&id)?)
            .await
            .map_err(error)?;
        Ok(redemption.map(Into::into))
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a coupon (ADMIN).
    #[graphql(requires_scopes = "coupons:write")]
    async fn create_coupon(&self, ctx: &Context<'_>, input: CreateCouponInput) -> Result<CouponObject> {
        require_role(ctx, Role::Admin)?;
        let (code, discount, rules) = input.parse()?;
        let coupon = ctx
            .data_unchecked::<Coupons>()
            .create(code, discount, rules, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(CouponObject(coupon))
    }

    /// Takes one use of a coupon for an order (SERVICE or ADMIN).
    #[graphql(requires_scopes = "coupons:write")]
    async fn reserve_redemption(&self, ctx: &Context<'_>, input: ReserveRedemptionInput) -> Result<RedemptionObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let code = CouponCode::parse(&input.code).map_err(error)?;
        let user_id = uuid::Uuid::try_parse(&input.user_id).map_err(|_| bad_input("userId is not a valid user id"))?;
        let redemption = ctx
            .data_unchecked::<Coupons>()
            .reserve(
                redemption_id(&input.id)?,
                &code,
                user_id,
                Money::try_from(&input.order_amount)?,
                &request_meta(ctx),
            )
            .await
            .map_err(error)?;
        Ok(redemption.into())
    }

    /// The order was paid: the redemption stays (SERVICE or ADMIN).
    #[graphql(requires_scopes = "coupons:write")]
    async fn commit_redemption(&self, ctx: &Context<'_>, id: ID) -> Result<RedemptionObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let redemption = ctx
            .data_unchecked::<Coupons>()
            .commit(redemption_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(redemption.into())
    }

    /// The checkout failed: the use goes back to the coupon (SERVICE or ADMIN).
    #[graphql(requires_scopes = "coupons:write")]
    async fn release_redemption(&self, ctx: &Context<'_>, id: ID) -> Result<RedemptionObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let redemption = ctx
            .data_unchecked::<Coupons>()
            .release(redemption_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(redemption.into())
    }

    /// The paid order was canceled: a committed redemption gives its use back
    /// (SERVICE or ADMIN).
    #[graphql(requires_scopes = "coupons:write")]
    async fn return_redemption(&self, ctx: &Context<'_>, id: ID) -> Result<RedemptionObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let redemption = ctx
            .data_unchecked::<Coupons>()
            .give_back(redemption_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(redemption.into())
    }
}
