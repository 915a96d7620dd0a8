//! Messages to customers: an e-mail at each step of an order that its buyer cares
//! about, made from the event that announces the step and sent once per event (the
//! inbox), retried like a webhook delivery ([`Delivery`](crate::Delivery)) when the
//! mail server does not take it.

/// The event that tells Notifications a customer's e-mail address.
pub const CONTACT_EVENT: &str = "ecommerce.accounts.user.registered.v1";

/// Which message, by the step of the order it tells about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The order is paid: what was bought, what it cost, where it goes.
    OrderConfirmed,
    /// The carrier has the parcel: who carries it and its tracking number.
    Shipped,
    Delivered,
    /// The customer canceled a paid order, with their reason. (An order canceled
    /// because its checkout failed is not mailed: the customer saw the checkout fail.)
    Canceled,
    /// Money went back to the customer: one message per refund, whole or part.
    Refunded,
    /// The customer asked to return goods: what, and what it refunds.
    ReturnRequested,
    /// Staff approved the return: send the goods back.
    ReturnApproved,
    /// Staff refused the return, saying why.
    ReturnRefused,
}

impl MessageKind {
    pub const ALL: [MessageKind; 8] = [
        MessageKind::OrderConfirmed,
        MessageKind::Shipped,
        MessageKind::Delivered,
        MessageKind::Canceled,
        MessageKind::Refunded,
        MessageKind::ReturnRequested,
        MessageKind::ReturnApproved,
        MessageKind::ReturnRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::OrderConfirmed => "ORDER_CONFIRMED",
            MessageKind::Shipped => "SHIPPED",
            MessageKind::Delivered => "DELIVERED",
            MessageKind::Canceled => "CANCELED",
            MessageKind::Refunded => "REFUNDED",
            MessageKind::ReturnRequested => "RETURN_REQUESTED",
            MessageKind::ReturnApproved => "RETURN_APPROVED",
            MessageKind::ReturnRefused => "RETURN_REFUSED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The event a message of this kind is made from: its payload is what the
    /// template reads.
    pub fn event_type(self) -> &'static str {
        match self {
            MessageKind::OrderConfirmed => "ecommerce.orders.order.paid.v2",
            MessageKind::Shipped => "ecommerce.shipping.shipment.in_transit.v1",
            MessageKind::Delivered => "ecommerce.shipping.shipment.delivered.v1",
            MessageKind::Canceled => "ecommerce.checkout.session.canceled.v1",
            MessageKind::Refunded => "ecommerce.payments.refund.completed.v1",
            MessageKind::ReturnRequested => "ecommerce.orders.return.requested.v1",
            MessageKind::ReturnApproved => "ecommerce.orders.return.approved.v1",
            MessageKind::ReturnRefused => "ecommerce.orders.return.refused.v1",
        }
    }

    /// The kind of message `event_type` makes, if any.
    pub fn for_event(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.event_type() == event_type)
    }

    /// The name of its template (`templates/email/<name>.txt` in the service).
    pub fn template(self) -> &'static str {
        match self {
            MessageKind::OrderConfirmed => "order_confirmed",
            MessageKind::Shipped => "shipped",
            MessageKind::Delivered => "delivered",
            MessageKind::Canceled => "canceled",
            MessageKind::Refunded => "refunded",
            MessageKind::ReturnRequested => "return_requested",
            MessageKind::ReturnApproved => "return_approved",
            MessageKind::ReturnRefused => "return_refused",
        }
    }
}

/// The most characters a subject keeps.
pub const SUBJECT_MAX: usize = 200;

/// A message as written: its subject and its plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    subject: String,
    text: String,
}

/// A template's output that is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a message template writes `Subject: …` (1 to {SUBJECT_MAX} characters on one line), a blank line, then the text: {0}"
)]
pub struct NotAMessage(&'static str);

impl Written {
    /// A template's output: its first line is `Subject: …`, then a blank line, then
    /// the text (trimmed; lines end in `\n`).
    ///
    /// # Errors
    /// No subject line, an empty or over-long subject, no blank line after it, or no
    /// text.
    pub fn from_template_output(output: &str) -> Result<Self, NotAMessage> {
        let (first, rest) = output.split_once('\n').ok_or(NotAMessage("no line break"))?;
        let subject = first
            .strip_prefix("Subject:")
            .ok_or(NotAMessage("the first line is not a subject"))?
            .trim();
        if subject.is_empty() || subject.chars().count() > SUBJECT_MAX || subject.chars().any(char::is_control) {
            return Err(NotAMessage("the subject is empty, too long or not one line"));
        }
        let text = rest
            .strip_prefix('\n')
            .ok_or(NotAMessage("no blank line after the subject"))?
            .trim();
        if text.is_empty() {
            return Err(NotAMessage("no text"));
        }
        Ok(Self {
            subject: subject.to_owned(),
            text: format!("{text}\n"),
        })
    }

    /// A message as stored.
    pub fn from_parts(subject: String, text: String) -> Self {
        Self { subject, text }
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_made_by_one_event_and_round_trips() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::for_event(kind.event_type()), Some(kind));
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
            assert!(kernel::EventType::parse(kind.event_type()).is_ok());
        }
        assert_eq!(MessageKind::for_event("ecommerce.orders.order.paid.v1"), None);
        assert_eq!(MessageKind::for_event(CONTACT_EVENT), None);
    }

    #[test]
    fn a_template_writes_a_subject_a_blank_line_and_the_text() {
        let written = Written::from_template_output("Subject:  Your order  \n\nHello,\nthanks.\n\n").unwrap();
        assert_eq!(written.subject(), "Your order");
        assert_eq!(written.text(), "Hello,\nthanks.\n");
        for broken in [
            "Your order\n\nHello",
            "Subject: Your order\nHello",
            "Subject: \n\nHello",
            "Subject: Your order\n\n  \n",
            "Subject: Your order",
        ] {
            assert!(Written::from_template_output(broken).is_err(), "{broken:?}");
        }
        let long = format!("Subject: {}\n\nHello", "x".repeat(SUBJECT_MAX + 1));
        assert!(Written::from_template_output(&long).is_err());
    }
}
