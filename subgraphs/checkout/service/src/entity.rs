//! The Checkout tables as SeaORM entities.

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "checkout_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub cart_id: Uuid,
        pub coupon_code: Option<String>,
        pub payment_method: String,
        pub idempotency_key: String,
        pub fingerprint: String,
        #[sea_orm(column_type = "Text")]
        pub lines: String,
        /// What the customer asked about delivery, as JSON (`DeliveryRequest`).
        #[sea_orm(column_type = "Text", nullable)]
        pub delivery_request: Option<String>,
        /// The delivery settled before the first step, as JSON (`Delivery`).
        #[sea_orm(column_type = "Text", nullable)]
        pub delivery: Option<String>,
        /// The tax rates at the shipping address, settled with the delivery, as JSON
        /// (`TaxRates`).
        #[sea_orm(column_type = "Text", nullable)]
        pub tax_rates: Option<String>,
        pub status: String,
        pub step: Option<String>,
        pub failed_step: Option<String>,
        pub failure: Option<String>,
        pub reservation_id: Uuid,
        pub redemption_id: Uuid,
        pub order_id: Option<Uuid>,
        pub payment_id: Option<Uuid>,
        pub currency: String,
        pub discount: Option<i64>,
        pub total: Option<i64>,
        /// Why the customer canceled the order, once they asked.
        pub cancel_reason: Option<String>,
        /// The step that was refused when it became STUCK.
        pub stuck_step: Option<String>,
        /// How staff settled it by hand, when RESOLVED.
        pub resolution: Option<String>,
        pub locked_by: Option<String>,
        pub locked_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod step_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "checkout_steps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub session_id: Uuid,
        pub step: String,
        pub outcome: String,
        pub detail: Option<String>,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod return_process {
    use sea_orm::entity::prelude::*;

    /// The return saga's process of one return (`checkout_domain::returns`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "return_processes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub order_id: Option<Uuid>,
        pub payment_id: Option<Uuid>,
        /// What the return refunds, in minor units of `currency`.
        pub refund: Option<i64>,
        pub currency: Option<String>,
        /// The returned units as JSON (`ReturnedUnits`).
        #[sea_orm(column_type = "Text", nullable)]
        pub lines: Option<String>,
        pub status: String,
        pub step: Option<String>,
        pub failed_step: Option<String>,
        pub failure: Option<String>,
        pub locked_by: Option<String>,
        pub locked_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
