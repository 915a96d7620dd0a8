//! The lease that lets one driver at a time own a session: claimed, renewed while a
//! call is out and with every save, released when the driver stops.

use checkout_domain::CheckoutId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, ExprTrait, QueryFilter};

use crate::entity::session;

use super::{Saga, SagaSettings};

impl Saga {
    /// Extends the lease this driver holds.
    pub(super) async fn renew(&self, id: CheckoutId) -> Result<(), DbErr> {
        session::Entity::update_many()
            .col_expr(
                session::Column::LockedUntil,
                Expr::value(Some(Utc::now() + lease(&self.settings))),
            )
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::LockedBy.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Takes the lease of a session whose lease is free or ran out.
    pub(super) async fn claim(&self, id: CheckoutId) -> Result<bool, DbErr> {
        let now = Utc::now();
        let result = session::Entity::update_many()
            .col_expr(session::Column::LockedBy, Expr::value(self.driver.clone()))
            .col_expr(
                session::Column::LockedUntil,
                Expr::value(Some(now + lease(&self.settings))),
            )
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(
                session::Column::LockedUntil
                    .is_null()
                    .or(session::Column::LockedUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub(super) async fn release(&self, id: CheckoutId) -> Result<(), DbErr> {
        session::Entity::update_many()
            .col_expr(session::Column::LockedBy, Expr::value(Option::<String>::None))
            .col_expr(session::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::LockedBy.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

pub(super) fn lease(settings: &SagaSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(30))
}
