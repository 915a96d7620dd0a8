//! A subgraph's SDL read for composition checks and error locations: its object and
//! interface types with their fields, keys and federation directives, each with the
//! line and column where it is written.

use std::collections::BTreeMap;

use async_graphql_parser::types::{BaseType, ConstDirective, TypeKind, TypeSystemDefinition};
use async_graphql_parser::{Pos, Positioned};
use async_graphql_value::ConstValue;

/// The types of one subgraph, by name.
#[derive(Debug, Default)]
pub struct SubgraphTypes {
    pub name: String,
    pub types: BTreeMap<String, TypeInfo>,
}

#[derive(Debug, Default)]
pub struct TypeInfo {
    pub pos: Option<Pos>,
    pub is_object: bool,
    pub fields: BTreeMap<String, FieldInfo>,
    pub keys: Vec<Key>,
    /// `extend type`, or `@extends`: Federation 1's way to add to another's entity.
    pub extension: bool,
    /// Union members, or interfaces an object implements.
    pub related: Vec<String>,
}

#[derive(Debug)]
pub struct FieldInfo {
    pub pos: Pos,
    /// The named type, without list and non-null wrappers.
    pub returns: String,
    pub external: bool,
    pub requires: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub fields: String,
    pub resolvable: bool,
}

impl SubgraphTypes {
    /// Reads a subgraph's SDL; `None` when it does not parse (composition reports that).
    pub fn parse(name: &str, sdl: &str) -> Option<Self> {
        let document = async_graphql_parser::parse_schema(sdl).ok()?;
        let mut types: BTreeMap<String, TypeInfo> = BTreeMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let info = types.entry(ty.name.node.to_string()).or_default();
            if !ty.extend || info.pos.is_none() {
                info.pos = Some(ty.name.pos);
            }
            info.extension |= ty.extend || has(&ty.directives, "extends");
            for directive in &ty.directives {
                if directive.node.name.node == "key" {
                    info.keys.push(Key {
                        fields: string_argument(&directive.node, "fields").unwrap_or_default(),
                        resolvable: !matches!(
                            directive.node.get_argument("resolvable").map(|v| &v.node),
                            Some(ConstValue::Boolean(false))
                        ),
                    });
                }
            }
            let fields = match ty.kind {
                TypeKind::Object(object) => {
                    info.is_object = true;
                    info.related
                        .extend(object.implements.iter().map(|i| i.node.to_string()));
                    object.fields
                }
                TypeKind::Interface(interface) => interface.fields,
                TypeKind::Union(union) => {
                    info.related.extend(union.members.iter().map(|m| m.node.to_string()));
                    Vec::new()
                }
                _ => Vec::new(),
            };
            for field in fields {
                let field = field.node;
                let directives = &field.directives;
                info.fields.insert(
                    field.name.node.to_string(),
                    FieldInfo {
                        pos: field.name.pos,
                        returns: named(&field.ty.node.base),
                        external: has(directives, "external") || (ty.extend && has(&ty.directives, "external")),
                        requires: directives
                            .iter()
                            .find(|d| d.node.name.node == "requires")
                            .and_then(|d| string_argument(&d.node, "fields")),
                    },
                );
            }
        }
        Some(SubgraphTypes {
            name: name.to_owned(),
            types,
        })
    }

    /// Whether this subgraph resolves `Type.field`: `None` when it does not name the
    /// field. An `@external` field is resolved elsewhere, except a key field of an
    /// extension (Federation 1: `extend type T @key(fields: "id") { id: ID! @external }`).
    pub fn resolves(&self, type_name: &str, field: &str) -> Option<bool> {
        let ty = self.types.get(type_name)?;
        let info = ty.fields.get(field)?;
        Some(
            !info.external
                || (ty.extension
                    && ty
                        .keys
                        .iter()
                        .any(|k| top_level_fields(&k.fields).iter().any(|f| f == field))),
        )
    }

    /// Where `Type` or `Type.field` is written, when it is.
    pub fn position(&self, type_name: &str, field: Option<&str>) -> Option<Pos> {
        let ty = self.types.get(type_name)?;
        match field {
            Some(field) => ty.fields.get(field).map(|f| f.pos),
            None => ty.pos,
        }
    }
}

fn has(directives: &[Positioned<ConstDirective>], name: &str) -> bool {
    directives.iter().any(|d| d.node.name.node == name)
}

fn string_argument(directive: &ConstDirective, name: &str) -> Option<String> {
    match &directive.get_argument(name)?.node {
        ConstValue::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn named(base: &BaseType) -> String {
    match base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named(&inner.base),
    }
}

/// The top-level field names of a field set: `id sku { code }` → `id`, `sku`.
pub fn top_level_fields(field_set: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut depth = 0usize;
    let mut word = String::new();
    let mut in_arguments = 0usize;
    for c in field_set.chars().chain(std::iter::once(' ')) {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '(' => in_arguments += 1,
            ')' => in_arguments = in_arguments.saturating_sub(1),
            c if c.is_ascii_alphanumeric() || c == '_' => {
                if depth == 0 && in_arguments == 0 {
                    word.push(c);
                }
                continue;
            }
            _ => {}
        }
        if !word.is_empty() {
            if word != "on" && !word.starts_with("__") {
                fields.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sets_are_read_to_their_top_level_names() {
        assert_eq!(top_level_fields("id"), ["id"]);
        assert_eq!(
            top_level_fields("id sku { code region { id } } upc"),
            ["id", "sku", "upc"]
        );
        assert_eq!(top_level_fields("price(currency: USD) { amount }"), ["price"]);
    }

    #[test]
    fn types_fields_and_keys_are_read_with_their_lines() {
        let sdl = "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\"])\n\ntype Product @key(fields: \"id\") @key(fields: \"sku\", resolvable: false) {\n  id: ID!\n  reviews: [Review!]! @requires(fields: \"id\")\n}\n";
        let subgraph = SubgraphTypes::parse("reviews", sdl).unwrap();
        let product = &subgraph.types["Product"];
        assert_eq!(product.pos.map(|p| p.line), Some(3));
        assert_eq!(product.keys.len(), 2);
        assert!(product.keys[0].resolvable && !product.keys[1].resolvable);
        let reviews = &product.fields["reviews"];
        assert_eq!((reviews.pos.line, reviews.pos.column), (5, 3));
        assert_eq!(reviews.returns, "Review");
        assert_eq!(reviews.requires.as_deref(), Some("id"));
    }
}
