//! The Shipping tables as SeaORM entities.

pub mod shipment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shipments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub order_id: Uuid,
        pub user_id: Uuid,
        pub status: String,
        pub carrier: String,
        pub tracking_number: String,
        /// Where it goes: the order's shipping address as JSON (`kernel::Address`).
        #[sea_orm(column_type = "Text", nullable)]
        pub ship_to: Option<String>,
        /// The shipping method's name, as the order named it.
        pub method: Option<String>,
        pub next_step_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tracking {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tracking_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub shipment_id: Uuid,
        pub status: String,
        pub note: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod method {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shipping_methods")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub carrier: String,
        pub currency: String,
        /// The zones and their rates as JSON (`methods::StoredZone`).
        pub zones: String,
        pub free_from: Option<i64>,
        pub min_days: i32,
        pub max_days: i32,
        pub active: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
