//! The transactional outbox: events are rows written in the same transaction as the
//! state change that caused them, so a change and its events commit together or not
//! at all. The [`relay`](crate::relay) publishes them afterwards.
//!
//! Ordering per partition key holds because a context locks or writes its aggregate
//! row before it writes the outbox rows: two transactions on the same aggregate
//! serialize on that row, so the later one also takes the later `seq`.

use chrono::Utc;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, InsertStatement, Query};
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect};
use tracing::Instrument;

/// A row of `outbox_events`.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub event_id: Uuid,
        pub event_type: String,
        pub partition_key: String,
        #[sea_orm(column_type = "Text")]
        pub envelope: String,
        pub occurred_at: DateTimeUtc,
        pub published_at: Option<DateTimeUtc>,
        pub attempts: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Appends already-wrapped envelopes. Call it with the transaction that holds the
/// state change.
///
/// # Errors
/// When the insert fails; the caller's transaction must then roll back.
pub async fn append(conn: &impl ConnectionTrait, envelopes: &[EventEnvelope]) -> Result<(), DbErr> {
    if let Some(insert) = insert(envelopes) {
        conn.execute(&insert)
            .instrument(tracing::info_span!("outbox.append", events = envelopes.len()))
            .await?;
    }
    Ok(())
}

/// The columns an appended row sets; the others start empty (`published_at`,
/// `last_error`) or numbered (`seq`).
const COLUMNS: [entity::Column; 6] = [
    entity::Column::EventId,
    entity::Column::EventType,
    entity::Column::PartitionKey,
    entity::Column::Envelope,
    entity::Column::OccurredAt,
    entity::Column::Attempts,
];

/// The values of `COLUMNS` for one envelope.
fn row(envelope: &EventEnvelope) -> [Expr; 6] {
    [
        Expr::value(envelope.event_id.as_uuid()),
        Expr::value(envelope.event_type.to_string()),
        Expr::value(envelope.partition_key.clone()),
        Expr::value(serde_json::to_string(envelope).expect("an envelope always serializes")),
        Expr::value(envelope.occurred_at),
        Expr::value(0),
    ]
}

/// The insert that appends `envelopes` (None for none), for a change that writes its
/// events in the same statement as itself ([`crate::db::write_together`]).
pub fn insert(envelopes: &[EventEnvelope]) -> Option<InsertStatement> {
    if envelopes.is_empty() {
        return None;
    }
    let mut insert = Query::insert();
    insert.into_table(entity::Entity).columns(COLUMNS);
    for envelope in envelopes {
        insert.values_panic(row(envelope));
    }
    Some(insert)
}

/// The insert that appends `envelopes` (None for none) only if `condition` holds when
/// it runs: for a guarded change (a session saved only while its driver holds the
/// lease) that writes its events in the same statement as itself.
pub fn insert_when(envelopes: &[EventEnvelope], condition: &Expr) -> Option<InsertStatement> {
    crate::db::insert_rows_when(
        entity::Entity,
        COLUMNS,
        envelopes.iter().map(|e| row(e).to_vec()),
        condition,
    )
}

/// Wraps domain events in envelopes from `producer`. While spans are exported, the
/// envelopes name the current span as their writer (and its trace), so the relay and
/// the consumers continue that trace.
pub fn wrap<E: DomainEvent>(producer: &str, meta: &EventMeta, events: &[E]) -> Vec<EventEnvelope> {
    let now = Utc::now();
    let traced;
    let meta = match crate::telemetry::current_ids() {
        Some((trace_id, span_id)) => {
            traced = EventMeta {
                trace_id: Some(trace_id),
                span_id: Some(span_id),
                correlation_id: meta.correlation_id.clone(),
            };
            &traced
        }
        None => meta,
    };
    let envelopes: Vec<EventEnvelope> = events
        .iter()
        .map(|event| EventEnvelope::wrap(event, producer, meta, now))
        .collect();
    for envelope in &envelopes {
        // On the writer's span in a trace (see `telemetry`); a log line at debug level.
        tracing::debug!(event_id = %envelope.event_id, event_type = %envelope.event_type, "event written to the outbox");
    }
    envelopes
}

/// Wraps domain events in envelopes from `producer` and appends them.
///
/// # Errors
/// When the insert fails; the caller's transaction must then roll back.
pub async fn record<E: DomainEvent>(
    conn: &impl ConnectionTrait,
    producer: &str,
    meta: &EventMeta,
    events: &[E],
) -> Result<Vec<EventEnvelope>, DbErr> {
    let envelopes = wrap(producer, meta, events);
    append(conn, &envelopes).await?;
    Ok(envelopes)
}

/// Rows not yet published, oldest first (for tests and operators).
///
/// # Errors
/// When the query fails.
pub async fn pending(conn: &impl ConnectionTrait) -> Result<Vec<EventEnvelope>, DbErr> {
    let rows = entity::Entity::find()
        .filter(entity::Column::PublishedAt.is_null())
        .order_by_asc(entity::Column::Seq)
        .all(conn)
        .await?;
    rows.iter().map(|row| parse_envelope(&row.envelope)).collect()
}

/// Every row, published or not, oldest first: the retained event log.
///
/// # Errors
/// When the query fails.
pub async fn all(conn: &impl ConnectionTrait) -> Result<Vec<EventEnvelope>, DbErr> {
    let rows = entity::Entity::find()
        .order_by_asc(entity::Column::Seq)
        .all(conn)
        .await?;
    rows.iter().map(|row| parse_envelope(&row.envelope)).collect()
}

/// The events of one partition key and type recorded after the event `after`, oldest
/// first: what a subscriber that saw `after` missed. Rows the relay has not published
/// yet are included (they are committed), so none falls between this read and a live
/// feed: the relay may hand an event to the bus before it marks the row published.
/// `None` when `after` is not an event of that key and type.
///
/// # Errors
/// When the query fails.
pub async fn recorded_after(
    conn: &impl ConnectionTrait,
    partition_key: &str,
    event_types: &[&str],
    after: Uuid,
) -> Result<Option<Vec<EventEnvelope>>, DbErr> {
    let of_key = || {
        entity::Entity::find()
            .filter(entity::Column::PartitionKey.eq(partition_key))
            .filter(entity::Column::EventType.is_in(event_types.iter().copied()))
    };
    let Some(seen) = of_key().filter(entity::Column::EventId.eq(after)).one(conn).await? else {
        return Ok(None);
    };
    let rows = of_key()
        .filter(entity::Column::Seq.gt(seen.seq))
        .order_by_asc(entity::Column::Seq)
        .all(conn)
        .await?;
    rows.iter()
        .map(|row| parse_envelope(&row.envelope))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// What [`recorded_since`] found.
#[derive(Debug)]
pub enum Since {
    /// `after` is not an event of the type.
    Unknown,
    /// More than the scan limit was recorded since: too far behind to catch up here.
    TooFarBehind,
    /// The kept events, oldest first.
    Events(Vec<EventEnvelope>),
}

/// The events of `event_types` recorded after the event `after` (of one of them),
/// whatever their partition key, that `keep` accepts, oldest first. It reads at most
/// `scan_limit` rows, in pages. A reconnecting subscription that follows many keys
/// (e.g. a customer's orders) reads what it missed with it.
///
/// # Errors
/// When the database fails or a row is not an envelope.
pub async fn recorded_since(
    conn: &impl ConnectionTrait,
    event_types: &[&str],
    after: Uuid,
    scan_limit: u64,
    keep: impl Fn(&EventEnvelope) -> bool,
) -> Result<Since, DbErr> {
    const PAGE: u64 = 1_000;
    let of_type = || entity::Entity::find().filter(entity::Column::EventType.is_in(event_types.iter().copied()));
    let Some(seen) = of_type().filter(entity::Column::EventId.eq(after)).one(conn).await? else {
        return Ok(Since::Unknown);
    };
    let (mut from, mut scanned, mut kept) = (seen.seq, 0, Vec::new());
    loop {
        let rows = of_type()
            .filter(entity::Column::Seq.gt(from))
            .order_by_asc(entity::Column::Seq)
            .limit(PAGE)
            .all(conn)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(Since::Events(kept));
        };
        from = last.seq;
        scanned += rows.len() as u64;
        if scanned > scan_limit {
            return Ok(Since::TooFarBehind);
        }
        for row in &rows {
            let envelope = parse_envelope(&row.envelope)?;
            if keep(&envelope) {
                kept.push(envelope);
            }
        }
    }
}

/// The seq and time of the event `after` when it is of one of `event_types` (found by the
/// event id's unique index); `None` otherwise.
///
/// # Errors
/// When the query fails.
pub async fn position_of(
    conn: &impl ConnectionTrait,
    event_types: &[&str],
    after: Uuid,
) -> Result<Option<(i64, chrono::DateTime<Utc>)>, DbErr> {
    Ok(entity::Entity::find()
        .filter(entity::Column::EventId.eq(after))
        .filter(entity::Column::EventType.is_in(event_types.iter().copied()))
        .one(conn)
        .await?
        .map(|row| (row.seq, row.occurred_at)))
}

/// The events of `event_types` and the partition keys `keys` recorded after the outbox
/// position `seq`, oldest first; `None` when there are more than `limit`. Read by the
/// partition key's index, so the cost follows the keys' own events, not everyone's.
///
/// # Errors
/// When the database fails or a row is not an envelope.
pub async fn recorded_after_for_keys(
    conn: &impl ConnectionTrait,
    event_types: &[&str],
    keys: &[String],
    seq: i64,
    limit: u64,
) -> Result<Option<Vec<EventEnvelope>>, DbErr> {
    // Bound the parameters of one statement (SQLite allows 32,766).
    const KEYS_PER_QUERY: usize = 1_000;
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        rows.extend(
            entity::Entity::find()
                .filter(entity::Column::PartitionKey.is_in(chunk.iter().cloned()))
                .filter(entity::Column::EventType.is_in(event_types.iter().copied()))
                .filter(entity::Column::Seq.gt(seq))
                .order_by_asc(entity::Column::Seq)
                .limit(limit + 1)
                .all(conn)
                .await?,
        );
        if rows.len() as u64 > limit {
            return Ok(None);
        }
    }
    rows.sort_by_key(|row| row.seq);
    rows.iter()
        .map(|row| parse_envelope(&row.envelope))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// An outbox row's envelope.
///
/// # Errors
/// A row whose text is not an envelope.
pub fn parse_envelope(text: &str) -> Result<EventEnvelope, DbErr> {
    serde_json::from_str(text).map_err(|err| DbErr::Json(format!("outbox row is not an envelope: {err}")))
}
