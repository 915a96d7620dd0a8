//! The read models' tables as SeaORM entities. Mapped to and from the domain in
//! `projection`.

pub mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "product_search_view")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: Uuid,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub category: String,
        pub status: String,
        pub price_amount: i64,
        pub price_currency: String,
        /// The SKUs, space-separated.
        #[sea_orm(column_type = "Text")]
        pub skus: String,
        #[sea_orm(column_type = "Text")]
        pub search_text: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders_by_customer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        pub customer_id: Uuid,
        pub status: String,
        pub total_amount: i64,
        pub total_currency: String,
        pub item_count: i64,
        pub placed_at: DateTimeUtc,
        /// Returns asked for and not refused.
        pub returns: i64,
        /// What its returns refunded, in minor units of `total_currency`.
        pub refunded_amount: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
