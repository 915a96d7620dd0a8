//! The outcome of a schema check: every change, the client operations each breaking
//! one would hit, and whether it was acknowledged; rendered as Markdown for a review
//! comment and as JSON for tools.
//!
//! A check fails only on a BREAKING change that some client operation uses and that
//! no acknowledgement accepts. Other changes are reported so the reviewer sees them.

use std::fmt::Write as _;

use serde::Serialize;

use super::diff::{Change, Severity};

/// A client operation that uses a changed element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OperationUse {
    pub client: String,
    pub operation: String,
    /// The operation's file, relative to the contracts folder.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedChange {
    #[serde(flatten)]
    pub change: Change,
    pub used_by: Vec<OperationUse>,
    /// The reason given in the acknowledgements file, when one names this change.
    pub acknowledged: Option<String>,
}

impl ReportedChange {
    /// A breaking change that a client uses and nobody acknowledged.
    pub fn blocks(&self) -> bool {
        self.change.severity == Severity::Breaking && !self.used_by.is_empty() && self.acknowledged.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub passed: bool,
    pub summary: Summary,
    pub changes: Vec<ReportedChange>,
    /// Acknowledgements that match no change of this check (`KIND coordinate`).
    pub unused_acknowledgements: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub breaking: usize,
    pub dangerous: usize,
    pub safe: usize,
    /// Breaking changes used by a client operation and not acknowledged.
    pub blocking: usize,
}

impl Report {
    pub fn new(changes: Vec<ReportedChange>, unused_acknowledgements: Vec<String>) -> Self {
        let count = |severity| changes.iter().filter(|c| c.change.severity == severity).count();
        let summary = Summary {
            breaking: count(Severity::Breaking),
            dangerous: count(Severity::Dangerous),
            safe: count(Severity::Safe),
            blocking: changes.iter().filter(|c| c.blocks()).count(),
        };
        Report {
            passed: summary.blocking == 0,
            summary,
            changes,
            unused_acknowledgements,
        }
    }

    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let s = self.summary;
        let verdict = if self.changes.is_empty() {
            "no changes".to_owned()
        } else if self.passed {
            "passes".to_owned()
        } else {
            format!(
                "**fails**: {} breaking change{} used by client operations",
                s.blocking,
                if s.blocking == 1 { "" } else { "s" }
            )
        };
        let _ = writeln!(out, "## Schema check: {verdict}\n");
        if self.changes.is_empty() {
            let _ = writeln!(out, "The proposed supergraph is the committed one.");
            return out;
        }
        let _ = writeln!(
            out,
            "{} breaking, {} dangerous, {} safe.\n",
            s.breaking, s.dangerous, s.safe
        );
        for severity in [Severity::Breaking, Severity::Dangerous, Severity::Safe] {
            let group: Vec<&ReportedChange> = self.changes.iter().filter(|c| c.change.severity == severity).collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### {} ({})\n", severity.as_str(), group.len());
            for reported in group {
                let change = &reported.change;
                let _ = writeln!(out, "- `{}` {}: {}", change.kind, change.coordinate, change.message);
                if let Some(reason) = &reported.acknowledged {
                    let _ = writeln!(out, "  - acknowledged: {reason}");
                }
                if severity != Severity::Safe {
                    if reported.used_by.is_empty() {
                        let _ = writeln!(out, "  - used by no client operation");
                    } else {
                        for usage in &reported.used_by {
                            let _ = writeln!(
                                out,
                                "  - used by {} `{}` ({})",
                                usage.client, usage.operation, usage.file
                            );
                        }
                    }
                }
            }
            out.push('\n');
        }
        if !self.unused_acknowledgements.is_empty() {
            let _ = writeln!(out, "### Acknowledgements that match no change\n");
            for ack in &self.unused_acknowledgements {
                let _ = writeln!(out, "- {ack}");
            }
            out.push('\n');
        }
        out
    }
}
