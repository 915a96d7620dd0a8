//! The Accounts subgraph: `User @key(fields: "id")`, `me`, `register` and `login`,
//! and each user's address book.

use std::collections::HashMap;

use accounts_domain::{
    AddressBook, AddressId, DisplayName, Email, Password, Purpose, Role, SavedAddress, User, UserId,
};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptySubscription, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel_infra::graphql::address::{PostalAddress, PostalAddressInput};
use kernel_infra::graphql::{bad_input, client_address, coded, error, internal, request_meta};
use kernel_infra::identity::require_user;
use sea_orm::DatabaseConnection;

use crate::accounts::{AccessToken, Accounts, AccountsError, Registration};
use crate::repository;

pub type AccountsSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(accounts: Accounts) -> AccountsSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation, EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "accounts",
            accounts.db().clone(),
        ))
        .data(DataLoader::new(UserLoader(accounts.db().clone()), tokio::spawn))
        .data(accounts)
        .extension(OneSignInPerRequest)
        .finish()
}

/// How many sign-ins (`login` or `register`) a request has asked for so far.
struct SignInsInRequest(std::sync::atomic::AtomicUsize);

/// Gives each request a [`SignInsInRequest`]: one request signs in at most once, so
/// aliases cannot try ten passwords in one go.
struct OneSignInPerRequest;

impl async_graphql::extensions::ExtensionFactory for OneSignInPerRequest {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(OneSignInPerRequest)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for OneSignInPerRequest {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        next.run(
            ctx,
            request.data(SignInsInRequest(std::sync::atomic::AtomicUsize::new(0))),
        )
        .await
    }
}

/// BAD_USER_INPUT for the second sign-in of a request; the first goes on.
fn one_sign_in(ctx: &Context<'_>) -> Result<()> {
    let counted = ctx
        .data_opt::<SignInsInRequest>()
        .map_or(0, |count| count.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    if counted > 0 {
        return Err(bad_input("one `login` or `register` per request"));
    }
    Ok(())
}

/// An Accounts error as GraphQL: RATE_LIMITED with `retryAfter` when throttled.
fn accounts_error(err: AccountsError) -> Error {
    match err {
        AccountsError::Throttled(throttled) => throttled.error("too many failed attempts"),
        other => error(other),
    }
}

pub struct UserLoader(DatabaseConnection);

impl Loader<UserId> for UserLoader {
    type Value = User;
    type Error = Error;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, Error> {
        let users = repository::find_many(&self.0, keys).await.map_err(internal)?;
        Ok(users.into_iter().map(|u| (u.state().id, u)).collect())
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Role")]
pub enum RoleValue {
    Customer,
    Admin,
    Partner,
    /// Another context acting for the shop (service tokens); never a user's role.
    Service,
}

impl From<Role> for RoleValue {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Self::Customer,
            Role::Admin => Self::Admin,
            Role::Partner => Self::Partner,
            Role::Service => Self::Service,
        }
    }
}

pub struct UserObject(User);

/// A user of the shop.
#[Object(name = "User")]
impl UserObject {
    async fn id(&self) -> ID {
        ID(self.0.state().id.to_string())
    }
    /// Visible to the user and to admins only.
    async fn email(&self, ctx: &Context<'_>) -> Result<&str> {
        self.only_for_the_user_and_admins(ctx, "an e-mail address")?;
        Ok(self.0.state().email.as_str())
    }
    /// The user's saved addresses: visible to the user and to staff only (and to the
    /// contexts that act for the shop: Checkout reads the address a customer chose).
    async fn address_book(&self, ctx: &Context<'_>) -> Result<AddressBookObject> {
        let caller = require_user(ctx)?;
        if !caller.may_act_for(self.0.state().id.as_uuid()) {
            return Err(coded(
                kernel::ErrorKind::Forbidden,
                &"only the user and staff see an address book",
            ));
        }
        let book = ctx
            .data_unchecked::<Accounts>()
            .address_book(self.0.state().id)
            .await
            .map_err(accounts_error)?;
        Ok(AddressBookObject(book))
    }
    async fn display_name(&self) -> &str {
        self.0.state().display_name.as_str()
    }
    async fn role(&self) -> RoleValue {
        self.0.state().role.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.state().created_at
    }
}

impl UserObject {
    fn only_for_the_user_and_admins(&self, ctx: &Context<'_>, what: &str) -> Result<()> {
        let caller = require_user(ctx)?;
        if caller.user_id != self.0.state().id.as_uuid() && caller.role != Role::Admin {
            return Err(coded(
                kernel::ErrorKind::Forbidden,
                &format!("only the user and admins see {what}"),
            ));
        }
        Ok(())
    }
}

/// What an address is a default for.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AddressPurpose")]
pub enum PurposeValue {
    Shipping,
    Billing,
}

impl From<PurposeValue> for Purpose {
    fn from(purpose: PurposeValue) -> Self {
        match purpose {
            PurposeValue::Shipping => Purpose::Shipping,
            PurposeValue::Billing => Purpose::Billing,
        }
    }
}

/// A user's saved addresses, oldest first, and their defaults.
pub struct AddressBookObject(AddressBook);

impl AddressBookObject {
    fn saved(&self, entry: &SavedAddress) -> SavedAddressObject {
        SavedAddressObject {
            id: ID(entry.id.to_string()),
            address: PostalAddress::from(&entry.address),
            is_default_shipping: self.0.is_default(entry.id, Purpose::Shipping),
            is_default_billing: self.0.is_default(entry.id, Purpose::Billing),
            created_at: entry.created_at,
        }
    }

    fn find(&self, id: AddressId) -> Result<SavedAddressObject> {
        self.0
            .get(id)
            .map(|entry| self.saved(entry))
            .ok_or_else(|| error(accounts_domain::AccountError::UnknownAddress))
    }
}

/// A user's saved addresses and their defaults.
#[Object(name = "AddressBook")]
impl AddressBookObject {
    /// Oldest first; at most 20.
    async fn addresses(&self) -> Vec<SavedAddressObject> {
        self.0.state().entries.iter().map(|entry| self.saved(entry)).collect()
    }
    /// Where orders ship unless the checkout says otherwise.
    async fn default_shipping(&self) -> Option<SavedAddressObject> {
        self.0.default_for(Purpose::Shipping).map(|entry| self.saved(entry))
    }
    /// Where orders are billed unless the checkout says otherwise.
    async fn default_billing(&self) -> Option<SavedAddressObject> {
        self.0.default_for(Purpose::Billing).map(|entry| self.saved(entry))
    }
}

/// An address of a user's address book.
#[derive(SimpleObject)]
#[graphql(name = "SavedAddress")]
pub struct SavedAddressObject {
    id: ID,
    address: PostalAddress,
    is_default_shipping: bool,
    is_default_billing: bool,
    created_at: DateTime<Utc>,
}

fn address_id(id: &ID) -> Result<AddressId> {
    AddressId::parse(id).map_err(bad_input)
}

/// The signed-in caller's user id, for changes to their own address book.
fn own_book<'a>(ctx: &Context<'a>) -> Result<(UserId, &'a Accounts)> {
    let identity = require_user(ctx)?;
    Ok((UserId::from_uuid(identity.user_id), ctx.data_unchecked::<Accounts>()))
}

/// A signed-in session: send `token` as `Authorization: Bearer <token>`.
#[derive(SimpleObject)]
pub struct AuthPayload {
    token: String,
    /// Seconds until the token expires.
    expires_in: i32,
    user: UserObject,
}

fn payload((user, token): (User, AccessToken)) -> AuthPayload {
    AuthPayload {
        token: token.token,
        expires_in: i32::try_from(token.expires_in).unwrap_or(i32::MAX),
        user: UserObject(user),
    }
}

/// An access token of a partner application.
#[derive(SimpleObject)]
pub struct PartnerToken {
    partner: String,
    token: String,
    /// Seconds until the token expires.
    expires_in: i32,
}

#[derive(InputObject)]
pub struct RegisterInput {
    email: String,
    /// 10 to 128 characters.
    password: String,
    display_name: String,
}

impl TryFrom<RegisterInput> for Registration {
    type Error = Error;
    fn try_from(input: RegisterInput) -> Result<Self> {
        Ok(Registration {
            email: Email::parse(&input.email).map_err(error)?,
            display_name: DisplayName::parse(&input.display_name).map_err(error)?,
            password: Password::new(&input.password).map_err(error)?,
            role: Role::Customer,
        })
    }
}

async fn load(ctx: &Context<'_>, id: UserId) -> Result<Option<UserObject>> {
    Ok(ctx
        .data_unchecked::<DataLoader<UserLoader>>()
        .load_one(id)
        .await?
        .map(UserObject))
}

kernel_infra::status_field!("accountsStatus");

/// The subgraph's queries: the context's own and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(AccountsQuery, StatusQuery);

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        let identity = require_user(ctx)?;
        load(ctx, UserId::from_uuid(identity.user_id)).await
    }

    /// A user by id (ADMIN, or another context acting for the shop); null when there
    /// is none.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UserObject>> {
        kernel_infra::identity::require_any_role(ctx, &[kernel::Role::Admin, kernel::Role::Service])?;
        load(ctx, UserId::parse(&id).map_err(bad_input)?).await
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UserObject>> {
        load(ctx, UserId::parse(&id).map_err(bad_input)?).await
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a customer account and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        one_sign_in(ctx)?;
        let registration = Registration::try_from(input)?;
        let accounts = ctx.data_unchecked::<Accounts>();
        Ok(payload(
            accounts
                .register(registration, &request_meta(ctx), client_address(ctx))
                .await
                .map_err(accounts_error)?,
        ))
    }

    /// Issues an access token for a partner application (ADMIN): the gateway runs only
    /// the operations of that partner's manifest for it.
    #[graphql(requires_scopes = "partners:write")]
    async fn issue_partner_token(&self, ctx: &Context<'_>, partner: String) -> Result<PartnerToken> {
        kernel_infra::identity::require_role(ctx, Role::Admin)?;
        let token = ctx
            .data_unchecked::<Accounts>()
            .partner_token(&partner)
            .map_err(error)?;
        Ok(PartnerToken {
            partner,
            token: token.token,
            expires_in: i32::try_from(token.expires_in).unwrap_or(i32::MAX),
        })
    }

    /// Saves an address in the caller's address book. It becomes the default for each
    /// purpose in `defaultFor`, and for any purpose that has no default yet.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn add_address(
        &self,
        ctx: &Context<'_>,
        address: PostalAddressInput,
        default_for: Option<Vec<PurposeValue>>,
    ) -> Result<SavedAddressObject> {
        let address = kernel::Address::try_from(address)?;
        let defaults: Vec<Purpose> = default_for.unwrap_or_default().into_iter().map(Purpose::from).collect();
        let (owner, accounts) = own_book(ctx)?;
        let (book, id) = accounts
            .change_address_book(owner, |book| book.add(address, &defaults, Utc::now()))
            .await
            .map_err(accounts_error)?;
        AddressBookObject(book).find(id)
    }

    /// Replaces one of the caller's addresses (it keeps its id and defaults). Orders
    /// already placed keep the address they were placed with.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn update_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        address: PostalAddressInput,
    ) -> Result<SavedAddressObject> {
        let id = address_id(&id)?;
        let address = kernel::Address::try_from(address)?;
        let (owner, accounts) = own_book(ctx)?;
        let (book, ()) = accounts
            .change_address_book(owner, |book| book.update(id, address))
            .await
            .map_err(accounts_error)?;
        AddressBookObject(book).find(id)
    }

    /// Removes one of the caller's addresses; a default it was passes to their oldest
    /// address left.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn remove_address(&self, ctx: &Context<'_>, id: ID) -> Result<AddressBookObject> {
        let id = address_id(&id)?;
        let (owner, accounts) = own_book(ctx)?;
        let (book, ()) = accounts
            .change_address_book(owner, |book| book.remove(id))
            .await
            .map_err(accounts_error)?;
        Ok(AddressBookObject(book))
    }

    /// Makes one of the caller's addresses their default for `purpose`.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn set_default_address(&self, ctx: &Context<'_>, id: ID, purpose: PurposeValue) -> Result<AddressBookObject> {
        let id = address_id(&id)?;
        let (owner, accounts) = own_book(ctx)?;
        let (book, ()) = accounts
            .change_address_book(owner, |book| book.make_default(id, purpose.into()))
            .await
            .map_err(accounts_error)?;
        Ok(AddressBookObject(book))
    }

    /// Signs in with e-mail and password: once per request. After too many failures
    /// for the e-mail or from the client's address, RATE_LIMITED (with `retryAfter`)
    /// until the window ends, whatever the password.
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> Result<AuthPayload> {
        one_sign_in(ctx)?;
        Ok(payload(
            ctx.data_unchecked::<Accounts>()
                .login(&email, &password, client_address(ctx))
                .await
                .map_err(accounts_error)?,
        ))
    }
}
