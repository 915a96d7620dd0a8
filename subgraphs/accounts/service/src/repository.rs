//! Loading and saving users and their address books.

use accounts_domain::{
    AddressBook, AddressBookState, AddressId, DisplayName, Email, PasswordHash, Role, SavedAddress, User, UserId,
    UserState,
};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{address, user};

fn to_domain(row: user::Model) -> anyhow::Result<User> {
    Ok(User::restore(UserState {
        id: UserId::from_uuid(row.id),
        email: Email::parse(&row.email)?,
        display_name: DisplayName::parse(&row.display_name)?,
        role: Role::parse(&row.role).with_context(|| format!("unknown role {}", row.role))?,
        password_hash: PasswordHash::new(row.password_hash),
        created_at: row.created_at,
    }))
}

pub async fn insert(conn: &impl ConnectionTrait, user: &User) -> Result<(), sea_orm::DbErr> {
    let state = user.state();
    user::Entity::insert(user::ActiveModel {
        id: Set(state.id.as_uuid()),
        email: Set(state.email.as_str().to_owned()),
        display_name: Set(state.display_name.as_str().to_owned()),
        role: Set(state.role.as_str().to_owned()),
        password_hash: Set(state.password_hash.as_str().to_owned()),
        created_at: Set(state.created_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub async fn find_by_email(conn: &impl ConnectionTrait, email: &Email) -> anyhow::Result<Option<User>> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

pub async fn find_many(conn: &impl ConnectionTrait, ids: &[UserId]) -> anyhow::Result<Vec<User>> {
    user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().map(UserId::as_uuid)))
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The address book of `owner`, or none when there is no such user. With `lock`, the
/// user's row is locked first (on PostgreSQL), so changes to one book happen one after
/// another.
pub async fn address_book(
    conn: &impl ConnectionTrait,
    owner: UserId,
    lock: bool,
) -> anyhow::Result<Option<AddressBook>> {
    let mut user = user::Entity::find_by_id(owner.as_uuid())
        .select_only()
        .column(user::Column::Id);
    if lock && kernel_infra::db::is_postgres(conn) {
        user = user.lock_exclusive();
    }
    if user.into_tuple::<uuid::Uuid>().one(conn).await?.is_none() {
        return Ok(None);
    }
    let rows = address::Entity::find()
        .filter(address::Column::UserId.eq(owner.as_uuid()))
        .order_by_asc(address::Column::CreatedAt)
        .order_by_asc(address::Column::Id)
        .all(conn)
        .await?;
    let default = |flag: fn(&address::Model) -> bool| {
        rows.iter()
            .find(|row| flag(row))
            .map(|row| AddressId::from_uuid(row.id))
    };
    let default_shipping = default(|row| row.is_default_shipping);
    let default_billing = default(|row| row.is_default_billing);
    let entries = rows
        .iter()
        .map(|row| {
            Ok(SavedAddress {
                id: AddressId::from_uuid(row.id),
                address: serde_json::from_str(&row.address).with_context(|| format!("address {}", row.id))?,
                created_at: row.created_at,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(AddressBook::restore(AddressBookState {
        owner,
        entries,
        default_shipping,
        default_billing,
    })))
}

/// Writes a whole address book in place of the stored one.
pub async fn save_address_book(conn: &impl ConnectionTrait, book: &AddressBook) -> anyhow::Result<()> {
    let state = book.state();
    address::Entity::delete_many()
        .filter(address::Column::UserId.eq(state.owner.as_uuid()))
        .exec(conn)
        .await?;
    if state.entries.is_empty() {
        return Ok(());
    }
    let rows = state
        .entries
        .iter()
        .map(|entry| {
            Ok(address::ActiveModel {
                id: Set(entry.id.as_uuid()),
                user_id: Set(state.owner.as_uuid()),
                address: Set(serde_json::to_string(&entry.address)?),
                is_default_shipping: Set(state.default_shipping == Some(entry.id)),
                is_default_billing: Set(state.default_billing == Some(entry.id)),
                created_at: Set(entry.created_at),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    address::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}
