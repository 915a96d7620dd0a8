//! The events Inventory publishes (contracts, v1).

use kernel::DomainEvent;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineSummary {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryEvent {
    StockItemCreated {
        sku: String,
        product_id: Option<uuid::Uuid>,
    },
    StockAdjusted {
        sku: String,
        delta: i64,
        on_hand: i64,
        reserved: i64,
        reason: String,
    },
    Reserved {
        reservation_id: String,
        lines: Vec<LineSummary>,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    Committed {
        reservation_id: String,
        lines: Vec<LineSummary>,
    },
    Released {
        reservation_id: String,
        lines: Vec<LineSummary>,
        expired: bool,
    },
    Returned {
        reservation_id: String,
        lines: Vec<LineSummary>,
    },
}

impl InventoryEvent {
    pub const STOCK_ITEM_CREATED: &'static str = "ecommerce.inventory.stock_item.created.v1";
    pub const STOCK_ADJUSTED: &'static str = "ecommerce.inventory.stock.adjusted.v1";
    pub const RESERVED: &'static str = "ecommerce.inventory.reservation.reserved.v1";
    pub const COMMITTED: &'static str = "ecommerce.inventory.reservation.committed.v1";
    pub const RELEASED: &'static str = "ecommerce.inventory.reservation.released.v1";
    pub const RETURNED: &'static str = "ecommerce.inventory.reservation.returned.v1";
    /// Every event type Inventory publishes.
    pub const ALL: [&'static str; 6] = [
        Self::STOCK_ITEM_CREATED,
        Self::STOCK_ADJUSTED,
        Self::RESERVED,
        Self::COMMITTED,
        Self::RELEASED,
        Self::RETURNED,
    ];
}

impl DomainEvent for InventoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InventoryEvent::StockItemCreated { .. } => Self::STOCK_ITEM_CREATED,
            InventoryEvent::StockAdjusted { .. } => Self::STOCK_ADJUSTED,
            InventoryEvent::Reserved { .. } => Self::RESERVED,
            InventoryEvent::Committed { .. } => Self::COMMITTED,
            InventoryEvent::Released { .. } => Self::RELEASED,
            InventoryEvent::Returned { .. } => Self::RETURNED,
        }
    }

    fn partition_key(&self) -> String {
        match self {
            InventoryEvent::StockItemCreated { sku, .. } | InventoryEvent::StockAdjusted { sku, .. } => sku.clone(),
            InventoryEvent::Reserved { reservation_id, .. }
            | InventoryEvent::Committed { reservation_id, .. }
            | InventoryEvent::Released { reservation_id, .. }
            | InventoryEvent::Returned { reservation_id, .. } => reservation_id.clone(),
        }
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            InventoryEvent::StockItemCreated { sku, product_id } => {
                serde_json::json!({ "sku": sku, "productId": product_id })
            }
            InventoryEvent::StockAdjusted {
                sku,
                delta,
                on_hand,
                reserved,
                reason,
            } => serde_json::json!({
                "sku": sku, "delta": delta, "onHand": on_hand, "reserved": reserved, "available": on_hand - reserved, "reason": reason,
            }),
            InventoryEvent::Reserved {
                reservation_id,
                lines,
                expires_at,
            } => serde_json::json!({
                "reservationId": reservation_id, "lines": lines, "expiresAt": expires_at,
            }),
            InventoryEvent::Committed { reservation_id, lines }
            | InventoryEvent::Returned { reservation_id, lines } => {
                serde_json::json!({ "reservationId": reservation_id, "lines": lines })
            }
            InventoryEvent::Released {
                reservation_id,
                lines,
                expired,
            } => serde_json::json!({
                "reservationId": reservation_id, "lines": lines, "expired": expired,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_follows_the_naming_contract() {
        for name in InventoryEvent::ALL {
            assert!(kernel::EventType::parse(name).is_ok(), "{name}");
        }
    }
}
