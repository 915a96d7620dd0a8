//! E-mails to customers: a message written from its template for each event of an
//! order its buyer cares about (confirmed, shipped, delivered, canceled at their
//! request, refunded),
//! stored once per event in the same transaction as the inbox claim, and sent by the
//! sender job with `lettre`: over SMTP to the configured server, or, in the embedded
//! default, as `.eml` files under the data directory. A message the server does not
//! take is retried on the delivery schedule until it is sent or dead.
//!
//! The customer's address is learnt from Accounts' `user.registered` and looked up
//! when the message is sent, so a message made before its customer's address arrived
//! (the events come on different streams) waits for it.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::{EventEnvelope, Money};
use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use minijinja::value::ViaDeserialize;
use notifications_domain::{
    AttemptOutcome, CONTACT_EVENT, Delivery, DeliveryId, DeliveryStatus, MessageKind, NextStep, RetrySchedule, Written,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Deserialize;

use crate::entity::{customer_contact, customer_message};

/// How many due messages one pass sends.
const BATCH: u64 = 32;

/// Where messages go.
pub enum Mailer {
    /// An SMTP server, from a URL such as `smtp://mail.internal:25` or
    /// `smtps://user:password@smtp.example.com` (lettre's URL form).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per message in a directory: the embedded default.
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    /// An SMTP mailer for `url`, or files under `dir` when there is no URL.
    ///
    /// # Errors
    /// A URL lettre does not take, or a directory that cannot be made.
    pub fn new(smtp_url: Option<&str>, dir: PathBuf, timeout: Duration) -> anyhow::Result<Self> {
        match smtp_url.filter(|url| !url.trim().is_empty()) {
            Some(url) => Ok(Self::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| anyhow::anyhow!("notifications.smtp_url: {err}"))?
                    .timeout(Some(timeout))
                    .build(),
            )),
            None => {
                std::fs::create_dir_all(&dir)
                    .map_err(|err| anyhow::anyhow!("the mail directory {}: {err}", dir.display()))?;
                tracing::warn!(
                    dir = %dir.display(),
                    "customers' e-mails are written to files, not sent (set NOTIFICATIONS_SMTP_URL to send them)"
                );
                Ok(Self::Files(AsyncFileTransport::new(dir)))
            }
        }
    }

    async fn send(&self, message: Message) -> AttemptOutcome {
        let result = match self {
            Self::Smtp(transport) => transport
                .send(message)
                .await
                .map(|response| u16::from(response.code()))
                .map_err(|err| err.to_string()),
            Self::Files(transport) => transport
                .send(message)
                .await
                .map(|_| 250)
                .map_err(|err| err.to_string()),
        };
        match result {
            Ok(status) => AttemptOutcome::Accepted { status },
            Err(error) => AttemptOutcome::Failed { status: None, error },
        }
    }
}

/// How e-mails are written and sent.
pub struct EmailSettings {
    pub from: Mailbox,
    pub retry: RetrySchedule,
    /// How long a sender holds a message it is sending.
    pub lease: Duration,
}

/// The customer e-mail use cases.
#[derive(Clone)]
pub struct Emails {
    db: DatabaseConnection,
    mailer: std::sync::Arc<Mailer>,
    settings: std::sync::Arc<EmailSettings>,
    templates: std::sync::Arc<minijinja::Environment<'static>>,
    due: std::sync::Arc<tokio::sync::Notify>,
}

impl Emails {
    /// # Errors
    /// A template that does not parse (a bug the unit test catches).
    pub fn new(db: DatabaseConnection, mailer: Mailer, settings: EmailSettings) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            mailer: std::sync::Arc::new(mailer),
            settings: std::sync::Arc::new(settings),
            templates: std::sync::Arc::new(templates()?),
            due: std::sync::Arc::default(),
        })
    }

    /// The messages written for `user`, newest first (for staff and tests).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn messages_of(&self, user: uuid::Uuid) -> Result<Vec<customer_message::Model>, DbErr> {
        customer_message::Entity::find()
            .filter(customer_message::Column::UserId.eq(user))
            .order_by_desc(customer_message::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Writes the message `event` makes, once, in `txn` (the inbox claim's).
    async fn write(&self, txn: &DatabaseTransaction, kind: MessageKind, event: &EventEnvelope) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct AboutACustomer {
            user_id: uuid::Uuid,
            order_id: Option<uuid::Uuid>,
        }
        let about: AboutACustomer = event.payload_as()?;
        let written = self.render(kind, &event.payload)?;
        let now = Utc::now();
        customer_message::Entity::insert(customer_message::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            event_id: Set(event.event_id.as_uuid()),
            user_id: Set(about.user_id),
            order_id: Set(about.order_id),
            kind: Set(kind.as_str().to_owned()),
            subject: Set(written.subject().to_owned()),
            body: Set(written.text().to_owned()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            leased_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(customer_message::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }

    /// The message of `kind` for an event's payload.
    fn render(&self, kind: MessageKind, payload: &serde_json::Value) -> anyhow::Result<Written> {
        let output = self
            .templates
            .get_template(kind.template())?
            .render(minijinja::context! { event => payload })?;
        Ok(Written::from_template_output(&output)?)
    }

    /// Remembers a customer's address; the last one heard of stands.
    async fn remember(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Registered {
            user_id: uuid::Uuid,
            email: String,
        }
        let registered: Registered = event.payload_as()?;
        customer_contact::Entity::insert(customer_contact::ActiveModel {
            user_id: Set(registered.user_id),
            email: Set(registered.email),
            updated_at: Set(event.occurred_at),
        })
        .on_conflict(
            OnConflict::column(customer_contact::Column::UserId)
                .update_columns([customer_contact::Column::Email, customer_contact::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }

    /// Sends every due message this replica can claim; returns how many it tried.
    ///
    /// # Errors
    /// A database failure.
    pub async fn send_due(&self) -> Result<usize, DbErr> {
        let claimed = self.claim_due().await?;
        let count = claimed.len();
        for row in claimed {
            let id = row.id;
            if let Err(err) = self.attempt(row).await {
                tracing::warn!(message.id = %id, error = %err, "e-mail attempt not recorded; it is tried again when its lease ends");
            }
        }
        Ok(count)
    }

    /// Due messages, each leased to this replica.
    async fn claim_due(&self) -> Result<Vec<customer_message::Model>, DbErr> {
        let columns = crate::due::SendingColumns {
            id: customer_message::Column::Id,
            status: customer_message::Column::Status,
            attempts: customer_message::Column::Attempts,
            next_attempt_at: customer_message::Column::NextAttemptAt,
            leased_until: customer_message::Column::LeasedUntil,
        };
        crate::due::claim_due::<customer_message::Entity>(
            &self.db,
            &columns,
            |row| (row.id, row.attempts),
            self.settings.lease,
            BATCH,
        )
        .await
    }

    /// Sends one message and records what came of it.
    async fn attempt(&self, row: customer_message::Model) -> anyhow::Result<()> {
        let contact = customer_contact::Entity::find_by_id(row.user_id).one(&self.db).await?;
        let outcome = match contact {
            None => AttemptOutcome::Failed {
                status: None,
                error: "no e-mail address is known for the customer yet".into(),
            },
            Some(contact) => match self.message(&row, &contact.email) {
                Ok(message) => self.mailer.send(message).await,
                Err(error) => AttemptOutcome::Failed { status: None, error },
            },
        };
        let mut delivery = Delivery {
            id: DeliveryId::from_uuid(row.id),
            status: DeliveryStatus::Pending,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
        };
        let now = Utc::now();
        let Some(next) = delivery.record(&outcome, now, &self.settings.retry) else {
            return Ok(());
        };
        let (next_attempt_at, sent_at) = match next {
            NextStep::Delivered => (None, Some(now)),
            NextStep::RetryAt(at) => (Some(at), None),
            NextStep::Dead => (None, None),
        };
        let error = match &outcome {
            AttemptOutcome::Accepted { .. } => None,
            AttemptOutcome::Failed { error, .. } => Some(crate::due::short(error)),
        };
        if next == NextStep::Dead {
            tracing::warn!(message.id = %row.id, user.id = %row.user_id, error = ?error, "an e-mail to a customer could not be sent; giving up");
        }
        customer_message::Entity::update_many()
            .col_expr(customer_message::Column::Status, Expr::value(delivery.status.as_str()))
            .col_expr(
                customer_message::Column::Attempts,
                Expr::value(i32::try_from(delivery.attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(customer_message::Column::NextAttemptAt, Expr::value(next_attempt_at))
            .col_expr(
                customer_message::Column::LeasedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(customer_message::Column::LastError, Expr::value(error))
            .col_expr(customer_message::Column::SentAt, Expr::value(sent_at))
            .filter(customer_message::Column::Id.eq(row.id))
            // Another replica that took the message over after our lease ran out, and
            // recorded first, keeps its record.
            .filter(customer_message::Column::Attempts.eq(row.attempts))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The e-mail of a stored message to `to`. Its Message-ID is made from the event,
    /// so a message sent twice (a crash between sending and recording) is recognised
    /// as one by the receiving side.
    fn message(&self, row: &customer_message::Model, to: &str) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|err| format!("the customer's address {to:?} is not one: {err}"))?;
        Message::builder()
            .from(self.settings.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!("<{}@notifications.ecommerce>", row.event_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body.clone())
            .map_err(|err| err.to_string())
    }

    /// The sender: sends due messages every `interval`, and at once when a message is
    /// written, until `shutdown`.
    pub async fn run_sender(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.send_due().await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "e-mails sent or retried"),
                Err(err) => tracing::error!(error = %err, "sending e-mails failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.due.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The message templates, compiled in (`templates/email/`). Each writes
/// `Subject: …`, a blank line and the text, from the event's payload (`event`), with
/// the filters `money` (`{amount, currency}` as `12.34 USD`), `short` (an id's first
/// eight characters) and `address` (a postal address on its lines).
fn templates() -> anyhow::Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template(
        MessageKind::OrderConfirmed.template(),
        include_str!("../templates/email/order_confirmed.txt"),
    )?;
    env.add_template(
        MessageKind::Shipped.template(),
        include_str!("../templates/email/shipped.txt"),
    )?;
    env.add_template(
        MessageKind::Delivered.template(),
        include_str!("../templates/email/delivered.txt"),
    )?;
    env.add_template(
        MessageKind::Canceled.template(),
        include_str!("../templates/email/canceled.txt"),
    )?;
    env.add_template(
        MessageKind::Refunded.template(),
        include_str!("../templates/email/refunded.txt"),
    )?;
    env.add_template(
        MessageKind::ReturnRequested.template(),
        include_str!("../templates/email/return_requested.txt"),
    )?;
    env.add_template(
        MessageKind::ReturnApproved.template(),
        include_str!("../templates/email/return_approved.txt"),
    )?;
    env.add_template(
        MessageKind::ReturnRefused.template(),
        include_str!("../templates/email/return_refused.txt"),
    )?;
    env.add_filter("money", |money: ViaDeserialize<Money>| money.0.to_string());
    env.add_filter("short", |id: String| {
        id.chars().take(8).collect::<String>().to_ascii_uppercase()
    });
    env.add_filter("address", |address: ViaDeserialize<kernel::AddressInput>| {
        let a = address.0;
        let place = [a.postal_code.as_deref().unwrap_or(""), a.city.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        [
            Some(a.name),
            a.company,
            Some(a.line1),
            a.line2,
            Some(place),
            a.region,
            Some(a.country),
        ]
        .into_iter()
        .flatten()
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
    });
    Ok(env)
}

/// Customers' addresses from `user.registered`, and a message for each event of
/// [`MessageKind`], each claimed in the inbox with what it writes.
pub struct EmailCustomers {
    emails: Emails,
}

impl EmailCustomers {
    pub const CONSUMER: &'static str = "notifications.email-customers";

    pub fn subscription(emails: Emails) -> Subscription {
        let event_types = std::iter::once(CONTACT_EVENT)
            .chain(MessageKind::ALL.map(MessageKind::event_type))
            .map(str::to_owned)
            .collect();
        let db = emails.db.clone();
        InboxConsumer::subscription(Self::CONSUMER, event_types, db, Self { emails })
    }
}

#[async_trait]
impl ApplyEvent for EmailCustomers {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let event_type = event.event_type.as_str();
        if event_type == CONTACT_EVENT {
            return self.emails.remember(txn, event).await;
        }
        let Some(kind) = MessageKind::for_event(event_type) else {
            anyhow::bail!("unexpected event type {event_type}");
        };
        self.emails.write(txn, kind, event).await?;
        self.emails.due.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn money(amount: i64) -> serde_json::Value {
        json!({ "amount": amount, "currency": "USD" })
    }

    /// Every template renders a message from a payload shaped like its event's.
    #[test]
    fn every_template_writes_a_message_from_its_event() {
        let env = templates().unwrap();
        let order = "0193a6a8-0000-7000-8000-000000000001";
        let address = json!({
            "name": "Ann Example", "company": null, "line1": "1 Main St", "line2": null, "city": "Austin",
            "region": "TX", "postalCode": "73301", "country": "US", "phone": null,
        });
        let a_return = |status: &str, refusal: Option<&str>| {
            let mut payload = json!({
                "returnId": order, "orderId": order, "userId": order, "status": status, "reason": "chipped",
                "lines": [{ "sku": "MUG-1", "quantity": 1, "refund": money(1125) }],
                "shippingRefund": money(599), "refund": money(1724),
            });
            if let Some(refusal) = refusal {
                payload["refusal"] = refusal.into();
            }
            payload
        };
        let payloads = [
            (
                MessageKind::OrderConfirmed,
                json!({
                    "orderId": order, "userId": order, "paymentId": null,
                    "items": [{ "productId": order, "sku": "MUG-1", "name": "Mug", "unitPrice": money(1250), "quantity": 2 }],
                    "subtotal": money(2500), "discount": money(250), "shipping": money(599), "total": money(2849),
                    "delivery": { "shippingAddress": address, "billingAddress": address,
                        "method": { "id": order, "name": "Standard", "carrier": "UPS" }, "cost": money(599) },
                }),
            ),
            (
                MessageKind::Shipped,
                json!({ "shipmentId": order, "orderId": order, "userId": order, "status": "IN_TRANSIT",
                    "carrier": "UPS", "trackingNumber": "SIM123" }),
            ),
            (
                MessageKind::Delivered,
                json!({ "shipmentId": order, "orderId": order, "userId": order, "status": "DELIVERED",
                    "carrier": "UPS", "trackingNumber": "SIM123" }),
            ),
            (
                MessageKind::Canceled,
                json!({ "checkoutId": order, "cartId": order, "orderId": order, "userId": order,
                    "paymentId": null, "reason": "too slow" }),
            ),
            (
                MessageKind::Refunded,
                json!({ "refundId": order, "paymentId": order, "orderId": order, "userId": order,
                    "amount": money(2849), "reference": null, "refunded": money(2849), "status": "REFUNDED" }),
            ),
            (MessageKind::ReturnRequested, a_return("REQUESTED", None)),
            (MessageKind::ReturnApproved, a_return("APPROVED", None)),
            (MessageKind::ReturnRefused, a_return("REFUSED", Some("worn"))),
        ];
        for (kind, payload) in payloads {
            let output = env
                .get_template(kind.template())
                .unwrap()
                .render(minijinja::context! { event => payload })
                .unwrap();
            let written =
                Written::from_template_output(&output).unwrap_or_else(|err| panic!("{kind:?}: {err}\n{output}"));
            assert!(
                written.subject().contains("0193A6A8"),
                "{kind:?}: {}",
                written.subject()
            );
            assert!(
                written.text().contains(order),
                "{kind:?}: the order number is in the text"
            );
            match kind {
                MessageKind::OrderConfirmed => {
                    for part in [
                        "2 x Mug (MUG-1), 12.50 USD each",
                        "-2.50 USD",
                        "Total paid: 28.49 USD",
                        "Standard (UPS)",
                        "73301 Austin",
                    ] {
                        assert!(written.text().contains(part), "{part}:\n{}", written.text());
                    }
                }
                MessageKind::Shipped => assert!(written.text().contains("Tracking number: SIM123")),
                MessageKind::Canceled => assert!(written.text().contains("too slow")),
                MessageKind::Refunded => assert!(written.subject().starts_with("28.49 USD refunded")),
                MessageKind::Delivered => assert!(written.text().contains("UPS delivered")),
                MessageKind::ReturnRequested => {
                    for part in [
                        "- 1 x MUG-1: 11.25 USD",
                        "- Shipping: 5.99 USD",
                        "Reason: chipped",
                        "17.24 USD",
                    ] {
                        assert!(written.text().contains(part), "{part}:\n{}", written.text());
                    }
                }
                MessageKind::ReturnApproved => assert!(written.text().contains("we refund 17.24 USD")),
                MessageKind::ReturnRefused => assert!(written.text().contains("(worn)")),
            }
        }
        // Without a discount or a delivery, those lines are left out.
        let bare = json!({
            "orderId": order, "userId": order, "paymentId": null, "items": [],
            "subtotal": money(100), "discount": money(0), "shipping": money(0), "total": money(100), "delivery": null,
        });
        let output = env
            .get_template(MessageKind::OrderConfirmed.template())
            .unwrap()
            .render(minijinja::context! { event => bare })
            .unwrap();
        assert!(
            !output.contains("Discount") && !output.contains("ships with"),
            "{output}"
        );
    }
}
