//! One event on its way to one subscription, or one message on its way to one
//! customer's mail server ([`crate::customer_message`]; an SMTP reply code stands in
//! for the HTTP status). The first attempt is made at once; after
//! a failed one the [`RetrySchedule`] says when to try again, and when it has nothing
//! more to say the delivery is dead: it is kept, with its attempts, and Notifications
//! announces it ([`NotificationEvent::WebhookDeliveryFailed`](crate::NotificationEvent)).

use std::time::Duration;

use chrono::{DateTime, Utc};
use kernel::typed_id;

typed_id!(DeliveryId, "webhook delivery");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet delivered; due at its `next_attempt_at`.
    Pending,
    Delivered,
    /// Every attempt failed; no more will be made.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Dead => "DEAD",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(Self::Pending),
            "DELIVERED" => Some(Self::Delivered),
            "DEAD" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// The waits before each retry: the first retry comes `waits[0]` after the first
/// failure, and so on; after the last, the delivery is dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// 30 s, 2 min, 5 min, 15 min, 30 min: six attempts over about 52 minutes.
    fn default() -> Self {
        Self::new([30, 120, 300, 900, 1800].map(Duration::from_secs).to_vec())
    }
}

impl RetrySchedule {
    pub fn new(waits: Vec<Duration>) -> Self {
        Self { waits }
    }

    /// The waits, in order.
    pub fn waits(&self) -> &[Duration] {
        &self.waits
    }

    /// Every attempt a delivery gets: the first and one per wait.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.waits.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The wait after the `failed`-th failed attempt (1-based), or `None` when that
    /// was the last attempt.
    pub fn wait_after(&self, failed: u32) -> Option<Duration> {
        let index = usize::try_from(failed.checked_sub(1)?).ok()?;
        self.waits.get(index).copied()
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The partner answered 2xx.
    Accepted { status: u16 },
    /// Another status, or no answer (`status` is `None`: refused, timed out, …).
    Failed { status: Option<u16>, error: String },
}

impl AttemptOutcome {
    /// The outcome of an HTTP answer: any 2xx accepts the delivery.
    pub fn of_status(status: u16) -> Self {
        if (200..300).contains(&status) {
            Self::Accepted { status }
        } else {
            Self::Failed {
                status: Some(status),
                error: format!("the partner answered HTTP {status}"),
            }
        }
    }
}

/// What happens after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

/// A delivery as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
}

impl Delivery {
    /// Records an attempt made at `now`: the delivery's new state and what comes next.
    /// Only a pending delivery is attempted; for another, nothing changes.
    pub fn record(
        &mut self,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
        schedule: &RetrySchedule,
    ) -> Option<NextStep> {
        if self.status != DeliveryStatus::Pending {
            return None;
        }
        self.attempts += 1;
        let next = match outcome {
            AttemptOutcome::Accepted { .. } => NextStep::Delivered,
            AttemptOutcome::Failed { .. } => match schedule.wait_after(self.attempts) {
                Some(wait) => {
                    NextStep::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
                }
                None => NextStep::Dead,
            },
        };
        self.status = match next {
            NextStep::Delivered => DeliveryStatus::Delivered,
            NextStep::RetryAt(_) => DeliveryStatus::Pending,
            NextStep::Dead => DeliveryStatus::Dead,
        };
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> AttemptOutcome {
        AttemptOutcome::Failed {
            status: Some(503),
            error: "down".into(),
        }
    }

    #[test]
    fn retries_at_30s_2m_5m_15m_30m_then_dies() {
        let schedule = RetrySchedule::default();
        let start = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut delivery = Delivery {
            id: DeliveryId::new(),
            status: DeliveryStatus::Pending,
            attempts: 0,
        };
        let mut now = start;
        let mut waits = Vec::new();
        loop {
            match delivery.record(&failed(), now, &schedule).unwrap() {
                NextStep::RetryAt(at) => {
                    waits.push((at - now).num_seconds());
                    now = at;
                }
                NextStep::Dead => break,
                NextStep::Delivered => unreachable!("every attempt failed"),
            }
        }
        assert_eq!(waits, [30, 120, 300, 900, 1800]);
        assert_eq!((delivery.attempts, delivery.status), (6, DeliveryStatus::Dead));
        assert_eq!(schedule.max_attempts(), 6);
        assert_eq!(
            delivery.record(&failed(), now, &schedule),
            None,
            "a dead delivery stays dead"
        );
        assert_eq!(delivery.attempts, 6);
    }

    #[test]
    fn a_2xx_delivers_and_anything_else_fails() {
        let mut delivery = Delivery {
            id: DeliveryId::new(),
            status: DeliveryStatus::Pending,
            attempts: 2,
        };
        let next = delivery.record(&AttemptOutcome::of_status(204), Utc::now(), &RetrySchedule::default());
        assert_eq!(next, Some(NextStep::Delivered));
        assert_eq!((delivery.attempts, delivery.status), (3, DeliveryStatus::Delivered));
        for status in [199, 301, 400, 410, 500] {
            assert!(
                matches!(AttemptOutcome::of_status(status), AttemptOutcome::Failed { status: Some(s), .. } if s == status)
            );
        }
    }

    #[test]
    fn statuses_round_trip() {
        for status in [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Dead] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("pending"), None);
    }
}
