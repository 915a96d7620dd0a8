//! The outbox and inbox tables, created by each context's first migration, and the
//! dead letters of the contexts that consume events.
//!
//! Every context's database has its own copy: the outbox of the events it produces and
//! the inbox of the events it has consumed.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Seq,
    EventId,
    EventType,
    PartitionKey,
    Envelope,
    OccurredAt,
    PublishedAt,
    Attempts,
    LastError,
}

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    Consumer,
    EventId,
    EventType,
    ProcessedAt,
}

/// Creates `outbox_events` and `inbox_events` with their indexes.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn create_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(OutboxEvents::Table)
                .col(
                    ColumnDef::new(OutboxEvents::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(OutboxEvents::EventId).uuid().not_null().unique_key())
                .col(ColumnDef::new(OutboxEvents::EventType).string_len(200).not_null())
                .col(ColumnDef::new(OutboxEvents::PartitionKey).string_len(200).not_null())
                .col(ColumnDef::new(OutboxEvents::Envelope).text().not_null())
                .col(
                    ColumnDef::new(OutboxEvents::OccurredAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OutboxEvents::PublishedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(OutboxEvents::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(OutboxEvents::LastError).text().null())
                .to_owned(),
        )
        .await?;
    // The relay reads pending rows in order; the partial index keeps that read small
    // however long the published history grows.
    manager
        .get_connection()
        .execute_unprepared("CREATE INDEX idx_outbox_pending ON outbox_events (seq) WHERE published_at IS NULL")
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_outbox_partition_pending")
                .table(OutboxEvents::Table)
                .col(OutboxEvents::PartitionKey)
                .col(OutboxEvents::PublishedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(InboxEvents::Table)
                .col(ColumnDef::new(InboxEvents::Consumer).string_len(100).not_null())
                .col(ColumnDef::new(InboxEvents::EventId).uuid().not_null())
                .col(ColumnDef::new(InboxEvents::EventType).string_len(200).not_null())
                .col(
                    ColumnDef::new(InboxEvents::ProcessedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(Index::create().col(InboxEvents::Consumer).col(InboxEvents::EventId))
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Drops what [`create_outbox_and_inbox`] made.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn drop_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(InboxEvents::Table).to_owned())
        .await?;
    manager
        .drop_table(Table::drop().table(OutboxEvents::Table).to_owned())
        .await
}

/// Creates `dead_letters` (see [`crate::dead_letters`]): in the database of every
/// context whose consumers park the events they fail on.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn create_dead_letters(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use ddl::{column, index, primary_key, table};
    manager
        .create_table(
            table("dead_letters")
                .col(column("consumer").string_len(100).not_null())
                .col(column("event_id").uuid().not_null())
                .col(column("event_type").string_len(200).not_null())
                .col(column("envelope").text().not_null())
                .col(column("failures").integer().not_null())
                .col(column("last_error").text().not_null())
                .col(column("first_failed_at").timestamp_with_time_zone().not_null())
                .col(column("last_failed_at").timestamp_with_time_zone().not_null())
                .col(column("status").string_len(16).not_null())
                .col(column("settled_at").timestamp_with_time_zone().null())
                .col(column("settled_by").uuid().null())
                .col(column("reason").text().null())
                .primary_key(&mut primary_key(&["consumer", "event_id"]))
                .to_owned(),
        )
        .await?;
    index(manager, "dead_letters", &["status", "last_failed_at"], false).await
}

/// Drops what [`create_dead_letters`] made.
///
/// # Errors
/// When the database refuses the DDL.
pub async fn drop_dead_letters(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    ddl::drop_tables(manager, &["dead_letters"]).await
}

/// The migration that creates `dead_letters`: one and the same in the list of every
/// context whose consumers park events (see [`crate::dead_letters`]).
pub struct CreateDeadLetters;

impl MigrationName for CreateDeadLetters {
    fn name(&self) -> &str {
        "m20261209_000001_create_dead_letters"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDeadLetters {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_dead_letters(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_dead_letters(manager).await
    }
}

/// The migration that indexes `inbox_events` by consumer and time: what a consumer
/// handled last is then one index look-up (the context's status for staff,
/// [`crate::status`]), however long its inbox grows. In the list of every context
/// whose consumers park events, after [`CreateDeadLetters`].
pub struct IndexInboxByConsumer;

impl MigrationName for IndexInboxByConsumer {
    fn name(&self) -> &str {
        "m20261210_000001_index_inbox_by_consumer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexInboxByConsumer {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::index(manager, "inbox_events", &["consumer", "processed_at"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_index(manager, "inbox_events", &["consumer", "processed_at"]).await
    }
}

/// Helpers for the compact table definitions of each context's migrations.
pub mod ddl {
    use sea_orm_migration::prelude::*;

    /// `CREATE TABLE <name>` to add columns to.
    pub fn table(name: &str) -> TableCreateStatement {
        Table::create().table(Alias::new(name)).to_owned()
    }

    /// A column definition by name.
    pub fn column(name: &str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
    }

    /// A composite primary key.
    pub fn primary_key(columns: &[&str]) -> IndexCreateStatement {
        let mut index = Index::create();
        for column in columns {
            index.col(Alias::new(*column));
        }
        index.to_owned()
    }

    /// Creates an index (`unique` when asked) named `<table>_<columns>_idx`.
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn index(manager: &SchemaManager<'_>, table: &str, columns: &[&str], unique: bool) -> Result<(), DbErr> {
        let mut index = Index::create();
        index
            .name(format!("{table}_{}_idx", columns.join("_")))
            .table(Alias::new(table));
        for column in columns {
            index.col(Alias::new(*column));
        }
        if unique {
            index.unique();
        }
        manager.create_index(index.to_owned()).await
    }

    /// Drops the index [`index`] created on these columns.
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn drop_index(manager: &SchemaManager<'_>, table: &str, columns: &[&str]) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(format!("{table}_{}_idx", columns.join("_")))
                    .table(Alias::new(table))
                    .to_owned(),
            )
            .await
    }

    /// Makes `table` append-only: the database itself refuses UPDATE and DELETE on it
    /// (a PL/pgSQL trigger on PostgreSQL, `RAISE(ABORT)` triggers on SQLite).
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn append_only(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let sql = if conn.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            format!(
                "CREATE FUNCTION {table}_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION '{table} is append-only'; END $$; \
                 CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_is_append_only();"
            )
        } else {
            format!(
                "CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} \
                 BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END; \
                 CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} \
                 BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
            )
        };
        conn.execute_unprepared(&sql).await?;
        Ok(())
    }

    /// Adds columns to an existing table, one `ALTER TABLE` each (SQLite alters one
    /// column per statement).
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn add_columns(manager: &SchemaManager<'_>, table: &str, columns: Vec<ColumnDef>) -> Result<(), DbErr> {
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Drops columns by name, one `ALTER TABLE` each.
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn drop_columns(manager: &SchemaManager<'_>, table: &str, columns: &[&str]) -> Result<(), DbErr> {
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Drops tables by name, in the order given.
    ///
    /// # Errors
    /// When the database refuses the DDL.
    pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
        for name in tables {
            manager
                .drop_table(Table::drop().table(Alias::new(*name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
