//! The consumer inbox: one row per (consumer, event id) processed.
//!
//! A handler claims the event in the same transaction as its own change. A redelivered
//! event finds its row already there and is skipped, so every handler is idempotent
//! however often the bus delivers.

use chrono::Utc;
use kernel::EventEnvelope;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait};

/// A row of `inbox_events`.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub event_type: String,
        pub processed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records that `consumer` processes `event`. Returns `false` when it already has:
/// the caller then skips its work and lets the transaction end.
///
/// # Errors
/// When the insert fails for another reason than a duplicate.
pub async fn claim(conn: &impl ConnectionTrait, consumer: &str, event: &EventEnvelope) -> Result<bool, DbErr> {
    let row = entity::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event.event_id.as_uuid()),
        event_type: Set(event.event_type.to_string()),
        processed_at: Set(Utc::now()),
    };
    let inserted = entity::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([entity::Column::Consumer, entity::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}
