//! The Cart subgraph: the caller's cart with a price estimate, and the commands that
//! change it. A signed-in customer uses their own cart; an anonymous visitor passes the
//! session id their client keeps (without one, the commands are UNAUTHENTICATED).

use async_graphql::{Context, EmptySubscription, Enum, ID, Object, Result, Schema, SimpleObject};
use cart_domain::{Cart, CartId, CartOwner, CartStatus, KnownPrice, LineQuantity, SessionToken};
use chrono::{DateTime, Utc};
use kernel::{ErrorKind, Role, Sku};
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::money::MoneyObject;
use kernel_infra::graphql::{bad_input, coded, error, request_meta};
use kernel_infra::identity::{Caller, require_user};

use crate::carts::Carts;

pub type CartSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(carts: Carts, dead_letters: DeadLetters) -> CartSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation::default(), EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new("cart", carts.db().clone()))
        .data(dead_letters)
        .data(carts)
        .finish()
}

kernel_infra::status_field!("cartStatus");

kernel_infra::dead_letter_fields!(
    list: "cartDeadLetters",
    redrive: "redriveCartDeadLetter",
    redrive_all: "redriveAllCartDeadLetters",
    discard: "discardCartDeadLetter",
);

/// The subgraph's queries: the context's own, its dead letters and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CartQuery, DeadLetterQuery, StatusQuery);

/// The subgraph's mutations: the context's own and its staff's on dead letters.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(CartMutation, DeadLetterMutation);

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CartStatus")]
pub enum CartStatusValue {
    Active,
    CheckedOut,
    Expired,
}

/// A product as Cart refers to it; Products resolves the rest.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductReference {
    id: ID,
}

#[derive(SimpleObject)]
#[graphql(name = "CartItem")]
pub struct CartItemObject {
    sku: String,
    quantity: i32,
    /// The name the cart knows; null until Products' events reached it.
    name: Option<String>,
    /// The estimated unit price; checkout prices from the catalog.
    unit_price: Option<MoneyObject>,
    line_total: Option<MoneyObject>,
    product: ProductReference,
}

pub struct CartObject {
    cart: Cart,
    prices: Vec<KnownPrice>,
}

/// A shopping cart.
#[Object(name = "Cart")]
impl CartObject {
    async fn id(&self) -> ID {
        ID(self.cart.id().to_string())
    }
    async fn status(&self) -> CartStatusValue {
        match self.cart.status() {
            CartStatus::Active => CartStatusValue::Active,
            CartStatus::CheckedOut => CartStatusValue::CheckedOut,
            CartStatus::Expired => CartStatusValue::Expired,
        }
    }
    /// The owner's user id; null for an anonymous session's cart.
    async fn user_id(&self) -> Option<ID> {
        self.cart.owner().user_id().map(|id| ID(id.to_string()))
    }
    async fn items(&self) -> Vec<CartItemObject> {
        self.cart
            .lines()
            .iter()
            .map(|line| {
                let known = self.prices.iter().find(|p| &p.sku == line.sku());
                let quantity = line.quantity().get();
                CartItemObject {
                    sku: line.sku().as_str().to_owned(),
                    quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
                    name: known.map(|k| k.name.clone()),
                    unit_price: known.map(|k| k.price.into()),
                    line_total: known.and_then(|k| k.price.checked_mul(quantity).ok()).map(Into::into),
                    product: ProductReference {
                        id: ID(line.product_id().to_string()),
                    },
                }
            })
            .collect()
    }
    /// The sum of the known prices; null for an empty cart.
    async fn estimated_total(&self) -> Result<Option<MoneyObject>> {
        let (total, _) = self.cart.estimate(&self.prices).map_err(error)?;
        Ok(total.map(Into::into))
    }
    async fn item_count(&self) -> i32 {
        i32::try_from(self.cart.units()).unwrap_or(i32::MAX)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.cart.created_at()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.cart.updated_at()
    }
}

async fn with_prices(ctx: &Context<'_>, cart: Cart) -> Result<CartObject> {
    let prices = ctx
        .data_unchecked::<Carts>()
        .prices(&cart.skus())
        .await
        .map_err(error)?;
    Ok(CartObject { cart, prices })
}

/// Whose cart a request means: the signed-in user's, or the anonymous session's.
fn owner(ctx: &Context<'_>, session_id: Option<&str>) -> Result<CartOwner> {
    kernel_infra::cache::mark_private(ctx);
    match (ctx.data_opt::<Caller>(), session_id) {
        (Some(Caller::User(identity)), _) => Ok(CartOwner::User(identity.user_id)),
        (Some(Caller::Rejected(_)), _) => Err(require_user(ctx).err().unwrap_or_else(|| bad_input("token rejected"))),
        (_, Some(session)) => Ok(CartOwner::Session(SessionToken::parse(session).map_err(error)?)),
        _ => Err(coded(
            ErrorKind::Unauthenticated,
            &"sign in, or pass the sessionId of an anonymous cart",
        )),
    }
}

#[derive(Default)]
pub struct CartQuery;

#[Object]
impl CartQuery {
    /// The caller's active cart (or the anonymous session's); null when there is none.
    async fn my_cart(&self, ctx: &Context<'_>, session_id: Option<String>) -> Result<Option<CartObject>> {
        let owner = owner(ctx, session_id.as_deref())?;
        match ctx.data_unchecked::<Carts>().active(&owner).await.map_err(error)? {
            Some(cart) => Ok(Some(with_prices(ctx, cart).await?)),
            None => Ok(None),
        }
    }

    /// A cart by id: its owner's, or any for staff and services.
    async fn cart(&self, ctx: &Context<'_>, id: ID) -> Result<Option<CartObject>> {
        let caller = require_user(ctx)?;
        let id = CartId::parse(&id).map_err(bad_input)?;
        let cart = ctx.data_unchecked::<Carts>().get(id).await.map_err(error)?;
        let visible = cart.filter(|c| match *c.owner() {
            CartOwner::User(owner) => caller.may_act_for(owner),
            CartOwner::Session(_) => matches!(caller.role, Role::Admin | Role::Service),
        });
        match visible {
            Some(cart) => Ok(Some(with_prices(ctx, cart).await?)),
            None => Ok(None),
        }
    }
}

#[derive(Default)]
pub struct CartMutation;

#[Object]
impl CartMutation {
    /// Adds units of a SKU to the cart (creating the cart when needed).
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        sku: String,
        #[graphql(default = 1)] quantity: i32,
        session_id: Option<String>,
    ) -> Result<CartObject> {
        let sku = Sku::parse(&sku).map_err(error)?;
        let quantity = LineQuantity::new(i64::from(quantity)).map_err(error)?;
        let owner = owner(ctx, session_id.as_deref())?;
        let cart = ctx
            .data_unchecked::<Carts>()
            .add(&owner, &sku, quantity, &request_meta(ctx))
            .await
            .map_err(error)?;
        with_prices(ctx, cart).await
    }

    /// Sets the quantity of a line; zero removes it.
    async fn change_cart_item_quantity(
        &self,
        ctx: &Context<'_>,
        sku: String,
        quantity: i32,
        session_id: Option<String>,
    ) -> Result<CartObject> {
        let sku = Sku::parse(&sku).map_err(error)?;
        let quantity = match quantity {
            0 => None,
            n => Some(LineQuantity::new(i64::from(n)).map_err(error)?),
        };
        let owner = owner(ctx, session_id.as_deref())?;
        let cart = ctx
            .data_unchecked::<Carts>()
            .set_quantity(&owner, &sku, quantity, &request_meta(ctx))
            .await
            .map_err(error)?;
        with_prices(ctx, cart).await
    }

    /// Removes a line.
    async fn remove_from_cart(&self, ctx: &Context<'_>, sku: String, session_id: Option<String>) -> Result<CartObject> {
        let sku = Sku::parse(&sku).map_err(error)?;
        let owner = owner(ctx, session_id.as_deref())?;
        let cart = ctx
            .data_unchecked::<Carts>()
            .set_quantity(&owner, &sku, None, &request_meta(ctx))
            .await
            .map_err(error)?;
        with_prices(ctx, cart).await
    }

    /// After signing in: the anonymous session's cart joins the customer's own.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn merge_session_cart(&self, ctx: &Context<'_>, session_id: String) -> Result<CartObject> {
        let caller = require_user(ctx)?;
        let session = CartOwner::Session(SessionToken::parse(&session_id).map_err(error)?);
        let cart = ctx
            .data_unchecked::<Carts>()
            .merge(caller.user_id, &session, &request_meta(ctx))
            .await
            .map_err(error)?;
        with_prices(ctx, cart).await
    }
}
