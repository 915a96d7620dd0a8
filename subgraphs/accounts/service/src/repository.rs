//! Loading and saving users.

use accounts_domain::{DisplayName, Email, PasswordHash, Role, User, UserId, UserState};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::user;

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
