//! A partner's webhook subscription: where to send which events, and the secret that
//! signs them.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use kernel::typed_id;
use rand::Rng;

use crate::WebhookError;

typed_id!(WebhookSubscriptionId, "webhook subscription");

/// The event types a partner may subscribe to: what happens to orders, payments,
/// shipments, prices and stock. Checkout's process, carts, coupons and accounts stay
/// inside the shop.
pub const WEBHOOK_EVENT_TYPES: [&str; 26] = [
    "ecommerce.orders.order.created.v1",
    "ecommerce.orders.order.paid.v1",
    "ecommerce.orders.order.canceled.v1",
    "ecommerce.orders.order.fulfilled.v1",
    "ecommerce.orders.order.delivered.v1",
    "ecommerce.orders.order.refunded.v1",
    "ecommerce.orders.order.status_changed.v1",
    "ecommerce.orders.order.status_changed.v2",
    "ecommerce.orders.return.requested.v1",
    "ecommerce.orders.return.refunded.v1",
    "ecommerce.payments.payment.authorized.v1",
    "ecommerce.payments.payment.captured.v1",
    "ecommerce.payments.payment.declined.v1",
    "ecommerce.payments.payment.refunded.v1",
    "ecommerce.payments.payment.voided.v1",
    "ecommerce.payments.refund.completed.v1",
    "ecommerce.shipping.shipment.label_created.v1",
    "ecommerce.shipping.shipment.in_transit.v1",
    "ecommerce.shipping.shipment.delivered.v1",
    "ecommerce.shipping.shipment.canceled.v1",
    "ecommerce.product.product.published.v1",
    "ecommerce.product.product.unpublished.v1",
    "ecommerce.product.product.price_changed.v1",
    "ecommerce.pricing.flash_sale.started.v1",
    "ecommerce.pricing.flash_sale.ended.v1",
    "ecommerce.inventory.stock.adjusted.v1",
];

/// How many event types one subscription may name, and how long its URL may be.
pub const MAX_EVENT_TYPES: usize = WEBHOOK_EVENT_TYPES.len();
pub const MAX_URL_LENGTH: usize = 2048;

/// Which targets a subscription may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback, private, link-local and unspecified addresses, and `localhost`. Off in
    /// production, so a partner cannot make the shop call its own internal services.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    pub id: WebhookSubscriptionId,
    /// The partner's id (a plain value of Accounts).
    pub partner_id: uuid::Uuid,
    pub url: String,
    /// Sorted, without repeats.
    pub event_types: Vec<String>,
    pub secret: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl WebhookSubscription {
    /// A new, active subscription with a fresh secret.
    ///
    /// # Errors
    /// BAD_USER_INPUT for a URL that is not an absolute http(s) URL the policy allows,
    /// or event types that are empty or not in [`WEBHOOK_EVENT_TYPES`].
    pub fn new(
        partner_id: uuid::Uuid,
        url: &str,
        event_types: &[String],
        policy: TargetPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, WebhookError> {
        Ok(Self {
            id: WebhookSubscriptionId::new(),
            partner_id,
            url: target_url(url, policy)?,
            event_types: event_type_list(event_types)?,
            secret: new_secret(),
            active: true,
            created_at: now,
        })
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.event_types.iter().any(|wanted| wanted == event_type)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> WebhookError {
    WebhookError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The URL, checked: absolute http or https, a host, no credentials, not too long, and
/// not a private address unless the policy allows it.
///
/// # Errors
/// BAD_USER_INPUT naming what is wrong.
pub fn target_url(url: &str, policy: TargetPolicy) -> Result<String, WebhookError> {
    let url = url.trim();
    if url.len() > MAX_URL_LENGTH {
        return Err(invalid("url", format!("longer than {MAX_URL_LENGTH} characters")));
    }
    let parsed = url::Url::parse(url).map_err(|err| invalid("url", format!("not an absolute URL ({err})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("url", "must be http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("url", "must not carry credentials"));
    }
    let private = match parsed.host() {
        None => return Err(invalid("url", "has no host")),
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
    };
    if private && !policy.allow_private {
        return Err(invalid("url", "points at a private or loopback address"));
    }
    Ok(parsed.to_string())
}

/// True for an address a webhook must never reach: loopback, private, link-local,
/// shared (CGNAT, 100.64.0.0/10), "this network" (0.0.0.0/8), broadcast, multicast
/// and reserved IPv4; loopback, unspecified, unique-local, link-local, multicast and
/// NAT64 (64:ff9b::/96) IPv6, and IPv6 forms that carry an IPv4 address (mapped,
/// compatible, 6to4) when that address is one of these.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || a == 0 // "this network"
                || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT)
                || a >= 240 // reserved
        }
        IpAddr::V6(ip) => {
            let segments = ip.segments();
            let first = segments[0];
            let embedded_v4 = |high: u16, low: u16| {
                let [h1, h2] = high.to_be_bytes();
                let [l1, l2] = low.to_be_bytes();
                is_internal(IpAddr::V4(std::net::Ipv4Addr::new(h1, h2, l1, l2)))
            };
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64
                || ip.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
                || (segments[..6] == [0; 6] && embedded_v4(segments[6], segments[7])) // IPv4-compatible
                || (first == 0x2002 && embedded_v4(segments[1], segments[2])) // 6to4
        }
    }
}

/// The event types, checked, sorted and without repeats.
///
/// # Errors
/// BAD_USER_INPUT when none is given or one is not offered to partners.
pub fn event_type_list(event_types: &[String]) -> Result<Vec<String>, WebhookError> {
    if event_types.is_empty() {
        return Err(invalid("eventTypes", "name at least one event type"));
    }
    if event_types.len() > MAX_EVENT_TYPES {
        return Err(invalid("eventTypes", format!("at most {MAX_EVENT_TYPES}")));
    }
    let mut list = Vec::with_capacity(event_types.len());
    for event_type in event_types {
        if !WEBHOOK_EVENT_TYPES.contains(&event_type.as_str()) {
            return Err(invalid(
                "eventTypes",
                format!(
                    "`{}` is not an event type partners can subscribe to (see webhookEventTypes)",
                    event_type.chars().take(128).collect::<String>()
                ),
            ));
        }
        list.push(event_type.clone());
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// 256 random bits, hex, with a prefix that tells what it is when it leaks into a log.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: TargetPolicy = TargetPolicy { allow_private: true };
    const PUBLIC_ONLY: TargetPolicy = TargetPolicy { allow_private: false };

    fn types(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_subscription_has_a_fresh_secret_and_sorted_unique_types() {
        let wanted = types(&[
            "ecommerce.orders.order.paid.v1",
            "ecommerce.orders.order.created.v1",
            "ecommerce.orders.order.paid.v1",
        ]);
        let one = WebhookSubscription::new(
            uuid::Uuid::nil(),
            "https://partner.example/hook",
            &wanted,
            PUBLIC_ONLY,
            Utc::now(),
        )
        .unwrap();
        let two = WebhookSubscription::new(
            uuid::Uuid::nil(),
            "https://partner.example/hook",
            &wanted,
            PUBLIC_ONLY,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            one.event_types,
            types(&["ecommerce.orders.order.created.v1", "ecommerce.orders.order.paid.v1"])
        );
        assert!(one.secret.starts_with("whsec_") && one.secret.len() == 6 + 64);
        assert_ne!(one.secret, two.secret);
        assert!(one.wants("ecommerce.orders.order.paid.v1"));
        assert!(!one.wants("ecommerce.orders.order.refunded.v1"));
    }

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        let bad = [
            "partner.example/hook",
            "ftp://partner.example/hook",
            "https://user:pw@partner.example/hook",
            "file:///etc/passwd",
            "",
        ];
        for url in bad {
            assert!(target_url(url, OPEN).is_err(), "{url}");
        }
        let long = format!("https://partner.example/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(target_url(&long, OPEN).is_err());
        assert_eq!(
            target_url(" https://partner.example/hook ", OPEN).unwrap(),
            "https://partner.example/hook"
        );
    }

    #[test]
    fn private_targets_only_when_the_policy_allows_them() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[fd00::1]/hook",
            "http://0.0.0.0/hook",
            "http://100.64.0.1/hook",
            "http://100.127.255.254/hook",
            "http://224.0.0.1/hook",
            "http://[ff02::1]/hook",
            "http://[64:ff9b::a9fe:a9fe]/hook",
            "http://[::127.0.0.1]/hook",
            "http://[2002:7f00:1::]/hook",
            "http://0x7f.1/hook",
            "http://2130706433/hook",
        ] {
            assert!(target_url(url, PUBLIC_ONLY).is_err(), "{url}");
            assert!(target_url(url, OPEN).is_ok(), "{url}");
        }
        assert!(target_url("https://93.184.216.34/hook", PUBLIC_ONLY).is_ok());
        assert!(
            target_url("https://100.128.0.1/hook", PUBLIC_ONLY).is_ok(),
            "past CGNAT"
        );
        assert!(target_url("https://[2606:4700::1111]/hook", PUBLIC_ONLY).is_ok());
    }

    #[test]
    fn event_types_must_be_offered_to_partners() {
        assert!(event_type_list(&[]).is_err());
        assert!(event_type_list(&types(&["ecommerce.checkout.session.completed.v1"])).is_err());
        assert!(event_type_list(&types(&["nonsense"])).is_err());
        let all = types(&WEBHOOK_EVENT_TYPES);
        assert_eq!(event_type_list(&all).unwrap().len(), WEBHOOK_EVENT_TYPES.len());
        let contracts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../schema/events");
        for name in WEBHOOK_EVENT_TYPES {
            kernel::EventType::parse(name).unwrap();
            assert!(
                contracts.join(format!("{name}.json")).is_file(),
                "{name} has a contract"
            );
        }
    }
}
