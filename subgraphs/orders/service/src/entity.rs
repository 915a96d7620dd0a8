//! The Orders tables as SeaORM entities.

pub mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub status: String,
        pub currency: String,
        pub subtotal: i64,
        pub discount: i64,
        pub total: i64,
        pub coupon_code: Option<String>,
        pub checkout_id: Option<Uuid>,
        pub payment_id: Option<Uuid>,
        /// The delivery's cost in minor units; 0 without one. Written for queries over
        /// orders; the order itself reads its cost from `delivery`.
        pub shipping: i64,
        /// The delivery snapshot as JSON (`orders_domain::Delivery`).
        #[sea_orm(column_type = "Text", nullable)]
        pub delivery: Option<String>,
        /// The tax in all, in minor units; 0 without any. Written for queries over orders;
        /// the order itself reads it from `tax_lines`.
        pub tax: i64,
        /// The order's tax as JSON (`orders_domain::Tax`).
        #[sea_orm(column_type = "Text", nullable)]
        pub tax_lines: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub line: i32,
        pub product_id: Uuid,
        pub sku: String,
        pub name: String,
        pub unit_price: i64,
        pub quantity: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_status_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: Uuid,
        pub from_status: Option<String>,
        pub to_status: String,
        pub reason: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub request_hash: String,
        pub order_id: Uuid,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_return {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_returns")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub order_id: Uuid,
        pub user_id: Uuid,
        pub status: String,
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// The returned lines as JSON (`orders_domain::returns::ReturnLine`s).
        #[sea_orm(column_type = "Text")]
        pub lines: String,
        pub currency: String,
        pub shipping_refund: i64,
        /// What the return refunds in all, lines and shipping, for queries over returns.
        pub refund: i64,
        #[sea_orm(column_type = "Text", nullable)]
        pub refusal: Option<String>,
        /// Why the refund was refused the last time the goods were received.
        #[sea_orm(column_type = "Text", nullable)]
        pub failure: Option<String>,
        pub requested_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
