//! Every difference between two supergraphs, each classified by what it does to
//! clients that already run against the old one:
//!
//! - BREAKING: an operation that worked may now fail validation or get a value it
//!   cannot read (a removed field, a stricter argument, a field that now needs a token).
//! - DANGEROUS: operations still validate, but behaviour may change (a new enum value
//!   a client's switch does not know, a changed default, a higher cost).
//! - SAFE: nothing a client did can go wrong (additions, descriptions, deprecations).
//!
//! Each change carries the schema coordinates that an operation must use to be hit by
//! it (`affects`); the report looks those up in the clients' operations.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::model::{FieldDef, InputValueDef, Schema, TypeDef, TypeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Breaking,
    Dangerous,
    Safe,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Breaking => "BREAKING",
            Severity::Dangerous => "DANGEROUS",
            Severity::Safe => "SAFE",
        }
    }
}

/// One difference between the committed and the proposed supergraph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    pub severity: Severity,
    /// What changed, e.g. `FIELD_REMOVED`; with `coordinate`, what an acknowledgement names.
    pub kind: &'static str,
    /// The schema coordinate of the changed element: `Type`, `Type.field`,
    /// `Type.field(argument:)`, `Enum.VALUE`, `@directive`.
    pub coordinate: String,
    pub message: String,
    /// The coordinates whose use in an operation makes the change hit that operation.
    #[serde(skip)]
    pub affects: Vec<String>,
}

/// The changes from `old` to `new`, sorted by severity, then coordinate.
pub fn diff(old: &Schema, new: &Schema) -> Vec<Change> {
    let mut changes = Changes::default();
    for (name, old_type) in &old.types {
        match new.types.get(name) {
            None => changes.push(
                Severity::Breaking,
                "TYPE_REMOVED",
                name,
                format!("Type `{name}` was removed"),
                [name.clone()],
            ),
            Some(new_type) if new_type.kind != old_type.kind => changes.push(
                Severity::Breaking,
                "TYPE_KIND_CHANGED",
                name,
                format!(
                    "`{name}` changed from `{}` to `{}`",
                    old_type.kind.keyword(),
                    new_type.kind.keyword()
                ),
                [name.clone()],
            ),
            Some(new_type) => diff_type(&mut changes, name, old_type, new_type),
        }
    }
    for (name, new_type) in &new.types {
        if !old.types.contains_key(name) {
            changes.push(
                Severity::Safe,
                "TYPE_ADDED",
                name,
                format!("Type `{name}` was added ({})", new_type.kind.keyword()),
                [],
            );
        }
    }
    diff_directives(&mut changes, old, new);
    let mut changes = changes.0;
    changes.sort();
    changes
}

#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn push(
        &mut self,
        severity: Severity,
        kind: &'static str,
        coordinate: &str,
        message: String,
        affects: impl IntoIterator<Item = String>,
    ) {
        self.0.push(Change {
            severity,
            kind,
            coordinate: coordinate.to_owned(),
            message,
            affects: affects.into_iter().collect(),
        });
    }
}

fn diff_type(changes: &mut Changes, name: &str, old: &TypeDef, new: &TypeDef) {
    if old.description != new.description {
        changes.push(
            Severity::Safe,
            "DESCRIPTION_CHANGED",
            name,
            format!("Description of `{name}` changed"),
            [],
        );
    }
    match old.kind {
        TypeKind::Object | TypeKind::Interface => diff_output_fields(changes, name, old, new),
        TypeKind::InputObject => diff_input_values(changes, &InputValues::fields_of(name), &old.inputs, &new.inputs),
        TypeKind::Enum => diff_enum(changes, name, old, new),
        TypeKind::Union => diff_members(changes, name, &old.members, &new.members),
        TypeKind::Scalar => {}
    }
    for interface in old.interfaces.difference(&new.interfaces) {
        changes.push(
            Severity::Breaking,
            "INTERFACE_REMOVED_FROM_OBJECT",
            name,
            format!("`{name}` no longer implements `{interface}`"),
            [interface.clone()],
        );
    }
    for interface in new.interfaces.difference(&old.interfaces) {
        changes.push(
            Severity::Dangerous,
            "INTERFACE_ADDED_TO_OBJECT",
            name,
            format!("`{name}` now implements `{interface}`: selections on `{interface}` may now return it"),
            [interface.clone()],
        );
    }
    for (graph, key) in old.keys.difference(&new.keys) {
        changes.push(
            Severity::Dangerous,
            "KEY_REMOVED",
            name,
            format!(
                "Subgraph {graph} no longer resolves `{name}` by key `{key}`: query plans that jumped through it change"
            ),
            [],
        );
    }
    for (graph, key) in new.keys.difference(&old.keys) {
        changes.push(
            Severity::Safe,
            "KEY_ADDED",
            name,
            format!("Subgraph {graph} now resolves `{name}` by key `{key}`"),
            [],
        );
    }
    diff_policies(changes, name, &old.policies, &new.policies, [name.to_owned()]);
}

fn diff_output_fields(changes: &mut Changes, type_name: &str, old: &TypeDef, new: &TypeDef) {
    for (field, old_field) in &old.fields {
        let coordinate = format!("{type_name}.{field}");
        let Some(new_field) = new.fields.get(field) else {
            let deprecated = if old_field.deprecated.is_some() {
                " (it was deprecated)"
            } else {
                ""
            };
            changes.push(
                Severity::Breaking,
                "FIELD_REMOVED",
                &coordinate,
                format!("Field `{coordinate}` was removed{deprecated}"),
                [coordinate.clone()],
            );
            continue;
        };
        if old_field.ty != new_field.ty {
            let severity = if is_safe_output_change(&old_field.ty, &new_field.ty) {
                Severity::Safe
            } else {
                Severity::Breaking
            };
            changes.push(
                severity,
                "FIELD_TYPE_CHANGED",
                &coordinate,
                format!(
                    "Field `{coordinate}` changed type from `{}` to `{}`",
                    old_field.ty, new_field.ty
                ),
                [coordinate.clone()],
            );
        }
        diff_input_values(
            changes,
            &InputValues::arguments_of(&coordinate),
            &old_field.arguments,
            &new_field.arguments,
        );
        diff_field_annotations(changes, &coordinate, old_field, new_field);
        if old_field.owners != new_field.owners && !old_field.owners.is_empty() && !new_field.owners.is_empty() {
            changes.push(
                Severity::Safe,
                "FIELD_OWNER_CHANGED",
                &coordinate,
                format!(
                    "Field `{coordinate}` is now resolved by {} instead of {}",
                    join(&new_field.owners),
                    join(&old_field.owners)
                ),
                [],
            );
        }
    }
    for field in new.fields.keys().filter(|f| !old.fields.contains_key(*f)) {
        let coordinate = format!("{type_name}.{field}");
        changes.push(
            Severity::Safe,
            "FIELD_ADDED",
            &coordinate,
            format!("Field `{coordinate}` was added"),
            [],
        );
    }
}

fn diff_field_annotations(changes: &mut Changes, coordinate: &str, old: &FieldDef, new: &FieldDef) {
    match (&old.deprecated, &new.deprecated) {
        (None, Some(reason)) => changes.push(
            Severity::Safe,
            "FIELD_DEPRECATED",
            coordinate,
            format!("Field `{coordinate}` is deprecated: {reason}"),
            [],
        ),
        (Some(_), None) => changes.push(
            Severity::Safe,
            "FIELD_DEPRECATION_REMOVED",
            coordinate,
            format!("Field `{coordinate}` is no longer deprecated"),
            [],
        ),
        (Some(a), Some(b)) if a != b => changes.push(
            Severity::Safe,
            "DEPRECATION_REASON_CHANGED",
            coordinate,
            format!("Deprecation reason of `{coordinate}` changed to: {b}"),
            [],
        ),
        _ => {}
    }
    if old.description != new.description {
        changes.push(
            Severity::Safe,
            "DESCRIPTION_CHANGED",
            coordinate,
            format!("Description of `{coordinate}` changed"),
            [],
        );
    }
    diff_policies(
        changes,
        coordinate,
        &old.authorization,
        &new.authorization,
        [coordinate.to_owned()],
    );
    if old.cost != new.cost {
        changes.push(
            Severity::Dangerous,
            "COST_CHANGED",
            coordinate,
            format!(
                "Cost directives of `{coordinate}` changed from {} to {}: operations near a client's budget may be refused",
                render_set(&old.cost),
                render_set(&new.cost)
            ),
            [coordinate.to_owned()],
        );
    }
}

/// Authorization directives (and, on types, cost directives) added, removed or changed.
fn diff_policies(
    changes: &mut Changes,
    coordinate: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
    affects: [String; 1],
) {
    if old == new {
        return;
    }
    let authorization = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|d| !d.starts_with("@cost") && !d.starts_with("@listSize"))
            .cloned()
            .collect()
    };
    let (old_auth, new_auth) = (authorization(old), authorization(new));
    if old_auth != new_auth {
        let (severity, kind) = if old_auth.is_empty() {
            (Severity::Breaking, "AUTHORIZATION_ADDED")
        } else if new_auth.is_empty() {
            (Severity::Safe, "AUTHORIZATION_REMOVED")
        } else {
            (Severity::Breaking, "AUTHORIZATION_CHANGED")
        };
        changes.push(
            severity,
            kind,
            coordinate,
            format!(
                "Authorization of `{coordinate}` changed from {} to {}",
                render_set(&old_auth),
                render_set(&new_auth)
            ),
            affects.clone(),
        );
    }
    let cost = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|d| d.starts_with("@cost") || d.starts_with("@listSize"))
            .cloned()
            .collect()
    };
    if cost(old) != cost(new) {
        changes.push(
            Severity::Dangerous,
            "COST_CHANGED",
            coordinate,
            format!(
                "Cost directives of `{coordinate}` changed from {} to {}",
                render_set(&cost(old)),
                render_set(&cost(new))
            ),
            affects,
        );
    }
}

/// Where input values live: the arguments of a field or directive, or the fields of
/// an input object. Both change the same way; only their names differ.
struct InputValues<'a> {
    /// The field, directive or input object that holds them.
    holder: &'a str,
    arguments: bool,
}

impl<'a> InputValues<'a> {
    fn arguments_of(holder: &'a str) -> Self {
        Self {
            holder,
            arguments: true,
        }
    }

    fn fields_of(holder: &'a str) -> Self {
        Self {
            holder,
            arguments: false,
        }
    }

    fn coordinate(&self, name: &str) -> String {
        if self.arguments {
            format!("{}({name}:)", self.holder)
        } else {
            format!("{}.{name}", self.holder)
        }
    }

    /// What messages call one, capitalised and not, and the kinds of its changes.
    fn names(&self) -> (&'static str, &'static str, ValueKinds) {
        if self.arguments {
            let kinds = ValueKinds {
                removed: "ARGUMENT_REMOVED",
                type_changed: "ARGUMENT_TYPE_CHANGED",
                default_changed: "ARGUMENT_DEFAULT_CHANGED",
                required_added: "REQUIRED_ARGUMENT_ADDED",
                optional_added: "OPTIONAL_ARGUMENT_ADDED",
            };
            ("Argument", "argument", kinds)
        } else {
            let kinds = ValueKinds {
                removed: "INPUT_FIELD_REMOVED",
                type_changed: "INPUT_FIELD_TYPE_CHANGED",
                default_changed: "INPUT_FIELD_DEFAULT_CHANGED",
                required_added: "REQUIRED_INPUT_FIELD_ADDED",
                optional_added: "OPTIONAL_INPUT_FIELD_ADDED",
            };
            ("Input field", "input field", kinds)
        }
    }
}

struct ValueKinds {
    removed: &'static str,
    type_changed: &'static str,
    default_changed: &'static str,
    required_added: &'static str,
    optional_added: &'static str,
}

/// Arguments or input fields removed, retyped, given another default, or added.
///
/// A value that becomes required hits every operation that uses its holder (those
/// that left it out fail too); any other change hits the operations that pass it.
fn diff_input_values(
    changes: &mut Changes,
    values: &InputValues<'_>,
    old: &BTreeMap<String, InputValueDef>,
    new: &BTreeMap<String, InputValueDef>,
) {
    let (label, lower, kinds) = values.names();
    let holder = values.holder.to_owned();
    for (name, old_value) in old {
        let coordinate = values.coordinate(name);
        let Some(new_value) = new.get(name) else {
            changes.push(
                Severity::Breaking,
                kinds.removed,
                &coordinate,
                format!("{label} `{coordinate}` was removed"),
                [coordinate.clone()],
            );
            continue;
        };
        if old_value.ty != new_value.ty {
            let (severity, affects) = if is_safe_input_change(&old_value.ty, &new_value.ty) {
                (Severity::Safe, coordinate.clone())
            } else if is_required(&new_value.ty, new_value.default.as_ref())
                && !is_required(&old_value.ty, old_value.default.as_ref())
            {
                (Severity::Breaking, holder.clone())
            } else {
                (Severity::Breaking, coordinate.clone())
            };
            changes.push(
                severity,
                kinds.type_changed,
                &coordinate,
                format!(
                    "{label} `{coordinate}` changed type from `{}` to `{}`",
                    old_value.ty, new_value.ty
                ),
                [affects],
            );
        }
        if old_value.default != new_value.default {
            changes.push(
                Severity::Dangerous,
                kinds.default_changed,
                &coordinate,
                format!(
                    "Default of `{coordinate}` changed from {} to {}",
                    old_value.default.as_deref().unwrap_or("none"),
                    new_value.default.as_deref().unwrap_or("none")
                ),
                [holder.clone()],
            );
        }
    }
    for (name, new_value) in new.iter().filter(|(name, _)| !old.contains_key(*name)) {
        let coordinate = values.coordinate(name);
        if is_required(&new_value.ty, new_value.default.as_ref()) {
            changes.push(
                Severity::Breaking,
                kinds.required_added,
                &coordinate,
                format!("Required {lower} `{coordinate}` was added"),
                [holder.clone()],
            );
        } else {
            changes.push(
                Severity::Safe,
                kinds.optional_added,
                &coordinate,
                format!("Optional {lower} `{coordinate}` was added"),
                [],
            );
        }
    }
}

fn diff_enum(changes: &mut Changes, name: &str, old: &TypeDef, new: &TypeDef) {
    for (value, old_value) in &old.values {
        let coordinate = format!("{name}.{value}");
        match new.values.get(value) {
            None => changes.push(
                Severity::Breaking,
                "ENUM_VALUE_REMOVED",
                &coordinate,
                format!("Enum value `{coordinate}` was removed"),
                // Operations that may send it; one that only reads the enum never gets it.
                [coordinate.clone(), format!("${name}")],
            ),
            Some(new_value) if old_value.deprecated.is_none() && new_value.deprecated.is_some() => changes.push(
                Severity::Safe,
                "ENUM_VALUE_DEPRECATED",
                &coordinate,
                format!("Enum value `{coordinate}` is deprecated"),
                [],
            ),
            _ => {}
        }
    }
    for value in new.values.keys().filter(|v| !old.values.contains_key(*v)) {
        let coordinate = format!("{name}.{value}");
        changes.push(
            Severity::Dangerous,
            "ENUM_VALUE_ADDED",
            &coordinate,
            format!("Enum value `{coordinate}` was added: clients that switch over `{name}` may not handle it"),
            [name.to_owned()],
        );
    }
}

fn diff_members(changes: &mut Changes, name: &str, old: &BTreeSet<String>, new: &BTreeSet<String>) {
    for member in old.difference(new) {
        changes.push(
            Severity::Breaking,
            "UNION_MEMBER_REMOVED",
            name,
            format!("`{member}` is no longer a member of union `{name}`"),
            [name.to_owned()],
        );
    }
    for member in new.difference(old) {
        changes.push(
            Severity::Dangerous,
            "UNION_MEMBER_ADDED",
            name,
            format!("`{member}` was added to union `{name}`: clients may receive a type they do not handle"),
            [name.to_owned()],
        );
    }
}

fn diff_directives(changes: &mut Changes, old: &Schema, new: &Schema) {
    for (name, old_directive) in &old.directives {
        let coordinate = format!("@{name}");
        let Some(new_directive) = new.directives.get(name) else {
            changes.push(
                Severity::Breaking,
                "DIRECTIVE_REMOVED",
                &coordinate,
                format!("Directive `{coordinate}` was removed"),
                [coordinate.clone()],
            );
            continue;
        };
        for location in old_directive.locations.difference(&new_directive.locations) {
            changes.push(
                Severity::Breaking,
                "DIRECTIVE_LOCATION_REMOVED",
                &coordinate,
                format!("Directive `{coordinate}` can no longer be used on {location}"),
                [coordinate.clone()],
            );
        }
        for location in new_directive.locations.difference(&old_directive.locations) {
            changes.push(
                Severity::Safe,
                "DIRECTIVE_LOCATION_ADDED",
                &coordinate,
                format!("Directive `{coordinate}` can now be used on {location}"),
                [],
            );
        }
        if old_directive.repeatable && !new_directive.repeatable {
            changes.push(
                Severity::Breaking,
                "DIRECTIVE_REPEATABLE_REMOVED",
                &coordinate,
                format!("Directive `{coordinate}` is no longer repeatable"),
                [coordinate.clone()],
            );
        }
        diff_input_values(
            changes,
            &InputValues::arguments_of(&coordinate),
            &old_directive.arguments,
            &new_directive.arguments,
        );
    }
    for name in new.directives.keys().filter(|d| !old.directives.contains_key(*d)) {
        let coordinate = format!("@{name}");
        changes.push(
            Severity::Safe,
            "DIRECTIVE_ADDED",
            &coordinate,
            format!("Directive `{coordinate}` was added"),
            [],
        );
    }
}

/// An argument or input field a client must pass: non-null with no default.
fn is_required(ty: &str, default: Option<&String>) -> bool {
    ty.ends_with('!') && default.is_none()
}

/// An output type may only get stricter: `String` to `String!`, `[A]` to `[A!]!`.
fn is_safe_output_change(old: &str, new: &str) -> bool {
    match (old.strip_suffix('!'), new.strip_suffix('!')) {
        (Some(old), Some(new)) => is_safe_output_change(old, new),
        (Some(_), None) => false,
        (None, Some(new)) => is_safe_output_change(old, new),
        (None, None) => match (list_item(old), list_item(new)) {
            (Some(old), Some(new)) => is_safe_output_change(old, new),
            (None, None) => old == new,
            _ => false,
        },
    }
}

/// An input type may only get looser: `String!` to `String`.
fn is_safe_input_change(old: &str, new: &str) -> bool {
    match (old.strip_suffix('!'), new.strip_suffix('!')) {
        (Some(old), Some(new)) => is_safe_input_change(old, new),
        (Some(old), None) => is_safe_input_change(old, new),
        (None, Some(_)) => false,
        (None, None) => match (list_item(old), list_item(new)) {
            (Some(old), Some(new)) => is_safe_input_change(old, new),
            (None, None) => old == new,
            _ => false,
        },
    }
}

fn list_item(ty: &str) -> Option<&str> {
    ty.strip_prefix('[')?.strip_suffix(']')
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn render_set(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        format!("`{}`", set.iter().cloned().collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_types_may_only_get_stricter_and_inputs_only_looser() {
        assert!(is_safe_output_change("String", "String!"));
        assert!(is_safe_output_change("[Int]", "[Int!]!"));
        assert!(!is_safe_output_change("String!", "String"));
        assert!(!is_safe_output_change("[Int!]", "[Int]"));
        assert!(!is_safe_output_change("Int", "Float"));
        assert!(!is_safe_output_change("Int", "[Int]"));
        assert!(is_safe_input_change("String!", "String"));
        assert!(is_safe_input_change("[ID!]!", "[ID]"));
        assert!(!is_safe_input_change("String", "String!"));
        assert!(!is_safe_input_change("ID", "String"));
    }
}
