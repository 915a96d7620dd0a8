//! The saga's steps and a session's statuses.

/// A step of the saga: forward steps, then compensations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    ReserveStock,
    RedeemCoupon,
    PlaceOrder,
    AuthorizePayment,
    ConfirmStock,
    MarkOrderPaid,
    CommitCoupon,
    CapturePayment,
    VoidPayment,
    CancelOrder,
    ReleaseCoupon,
    ReleaseStock,
    ReturnStock,
    StopShipment,
    RefundPayment,
    GiveBackCoupon,
}

impl Step {
    pub const FORWARD: [Step; 8] = [
        Step::ReserveStock,
        Step::RedeemCoupon,
        Step::PlaceOrder,
        Step::AuthorizePayment,
        Step::ConfirmStock,
        Step::MarkOrderPaid,
        Step::CommitCoupon,
        Step::CapturePayment,
    ];

    /// A cancellation's steps, in the order they run (those that apply).
    pub const CANCELLATION: [Step; 5] = [
        Step::StopShipment,
        Step::CancelOrder,
        Step::RefundPayment,
        Step::ReturnStock,
        Step::GiveBackCoupon,
    ];

    pub const ALL: [Step; 16] = [
        Step::ReserveStock,
        Step::RedeemCoupon,
        Step::PlaceOrder,
        Step::AuthorizePayment,
        Step::ConfirmStock,
        Step::MarkOrderPaid,
        Step::CommitCoupon,
        Step::CapturePayment,
        Step::VoidPayment,
        Step::CancelOrder,
        Step::ReleaseCoupon,
        Step::ReleaseStock,
        Step::ReturnStock,
        Step::StopShipment,
        Step::RefundPayment,
        Step::GiveBackCoupon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::ReserveStock => "RESERVE_STOCK",
            Step::RedeemCoupon => "REDEEM_COUPON",
            Step::PlaceOrder => "PLACE_ORDER",
            Step::AuthorizePayment => "AUTHORIZE_PAYMENT",
            Step::ConfirmStock => "CONFIRM_STOCK",
            Step::MarkOrderPaid => "MARK_ORDER_PAID",
            Step::CommitCoupon => "COMMIT_COUPON",
            Step::CapturePayment => "CAPTURE_PAYMENT",
            Step::VoidPayment => "VOID_PAYMENT",
            Step::CancelOrder => "CANCEL_ORDER",
            Step::ReleaseCoupon => "RELEASE_COUPON",
            Step::ReleaseStock => "RELEASE_STOCK",
            Step::ReturnStock => "RETURN_STOCK",
            Step::StopShipment => "STOP_SHIPMENT",
            Step::RefundPayment => "REFUND_PAYMENT",
            Step::GiveBackCoupon => "GIVE_BACK_COUPON",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_compensation(self) -> bool {
        !Self::FORWARD.contains(&self)
    }

    /// Whether the session may be saved with a later step instead of right after this
    /// one. After a crash before that save the resumed saga runs this step again, and
    /// the ones after it up to the save: that is safe because every command is
    /// idempotent and the next step acts on another aggregate, so the repeat finds what
    /// the first run left.
    ///
    /// Placing the order (its id is what an operator looks for), marking it paid (the
    /// point of no return, after which nothing is undone: it is on record as soon as it
    /// happened) and every compensation are saved at once.
    pub fn may_defer_save(self) -> bool {
        matches!(
            self,
            Step::ReserveStock | Step::RedeemCoupon | Step::AuthorizePayment | Step::ConfirmStock | Step::CommitCoupon
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Going forward.
    Running,
    /// A step was refused; undoing what was done.
    Compensating,
    /// Every step done: the order is paid.
    Completed,
    /// Refused and fully compensated.
    Failed,
    /// A step after the point of no return was refused: needs an operator.
    Stuck,
    /// Completed, then its order's cancellation was asked for: undoing the purchase.
    Canceling,
    /// The order is canceled, refunded, its stock and coupon use given back.
    Canceled,
    /// Was STUCK; staff settled it by hand and said how.
    Resolved,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "RUNNING",
            SessionStatus::Compensating => "COMPENSATING",
            SessionStatus::Completed => "COMPLETED",
            SessionStatus::Failed => "FAILED",
            SessionStatus::Stuck => "STUCK",
            SessionStatus::Canceling => "CANCELING",
            SessionStatus::Canceled => "CANCELED",
            SessionStatus::Resolved => "RESOLVED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Compensating,
            Self::Completed,
            Self::Failed,
            Self::Stuck,
            Self::Canceling,
            Self::Canceled,
            Self::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed
                | SessionStatus::Failed
                | SessionStatus::Stuck
                | SessionStatus::Canceled
                | SessionStatus::Resolved
        )
    }

    /// Unfinished: a driver works on it, or the reconciler resumes it.
    pub const UNFINISHED: [SessionStatus; 3] = [
        SessionStatus::Running,
        SessionStatus::Compensating,
        SessionStatus::Canceling,
    ];
}
