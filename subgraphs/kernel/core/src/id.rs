//! Typed identifiers.
//!
//! Every aggregate id is a UUIDv7 (time-ordered, so index-friendly) wrapped in its own
//! type, so an inventory id can never be passed where a product id is expected. Ids of
//! other contexts are plain values: no foreign keys cross a context.

/// A string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

/// Declares a UUIDv7 id newtype: `typed_id!(ProductId, "product");`.
#[macro_export]
macro_rules! typed_id {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Parses the text form; anything but a UUID is rejected.
            pub fn parse(value: &str) -> Result<Self, $crate::IdError> {
                uuid::Uuid::try_parse(value.trim())
                    .map(Self)
                    .map_err(|_| $crate::IdError {
                        kind: $kind,
                        value: value.chars().take(64).collect(),
                    })
            }

            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(EventId, "event");
typed_id!(CorrelationId, "correlation");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_time_ordered() {
        let first = EventId::new();
        let second = EventId::new();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn parse_rejects_anything_but_a_uuid() {
        let err = EventId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.kind, "event");
        assert!(EventId::parse(&EventId::new().to_string()).is_ok());
    }
}
