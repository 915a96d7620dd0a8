//! Query paths the composer does not check: every field of an entity must be
//! reachable from every subgraph that can return the entity, by jumping through
//! resolvable `@key`s whose fields the current subgraph has. A field added to an
//! entity in a subgraph that no other subgraph can jump to is an unsatisfiable path.
//!
//! Also `@requires`: in Federation 2 the fields it names must be `@external` in the
//! same subgraph (they come from another one).

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostics::{Diagnostic, Location};
use super::subgraph::{SubgraphTypes, top_level_fields};

/// Unsatisfiable query paths: one diagnostic per entity and entering subgraph.
pub fn unsatisfiable(subgraphs: &[SubgraphTypes]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let entities: BTreeSet<&str> = subgraphs
        .iter()
        .flat_map(|s| s.types.iter())
        .filter(|(_, t)| t.is_object && !t.keys.is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    for entity in entities {
        // Every field of the entity and the subgraphs that resolve it.
        let mut resolvers: BTreeMap<&str, Vec<&SubgraphTypes>> = BTreeMap::new();
        for subgraph in subgraphs {
            if let Some(ty) = subgraph.types.get(entity) {
                for (field, info) in &ty.fields {
                    if !info.external {
                        resolvers.entry(field.as_str()).or_default().push(subgraph);
                    }
                }
            }
        }
        for (from, entered_at) in entries(subgraphs, entity) {
            let reachable = reachable_from(subgraphs, entity, from);
            let unreachable: Vec<(&str, &Vec<&SubgraphTypes>)> = resolvers
                .iter()
                .filter(|(_, owners)| !owners.iter().any(|o| reachable.contains(o.name.as_str())))
                .map(|(field, owners)| (*field, owners))
                .collect();
            if unreachable.is_empty() {
                continue;
            }
            let names: Vec<String> = unreachable.iter().map(|(f, _)| format!("`{entity}.{f}`")).collect();
            let owners: BTreeSet<&str> = unreachable
                .iter()
                .flat_map(|(_, owners)| owners.iter().map(|o| o.name.as_str()))
                .collect();
            let mut locations = vec![Location::new(from, &entered_at.0, Some(&entered_at.1))];
            for (field, field_owners) in &unreachable {
                for owner in *field_owners {
                    locations.push(Location::new(owner, entity, Some(field)));
                }
            }
            diagnostics.push(Diagnostic {
                message: format!(
                    "Unsatisfiable query path: {} cannot be reached from subgraph `{}` (which returns `{entity}` from `{}.{}`): no resolvable @key of `{entity}` in {} has fields that `{}` can provide",
                    names.join(", "),
                    from.name,
                    entered_at.0,
                    entered_at.1,
                    owners.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
                    from.name,
                ),
                locations: locations.into_iter().flatten().collect(),
            });
        }
    }
    diagnostics
}

/// The subgraphs that return `entity` from one of their own fields, each with the
/// first such field (`Type`, `field`).
fn entries<'s>(subgraphs: &'s [SubgraphTypes], entity: &str) -> Vec<(&'s SubgraphTypes, (String, String))> {
    let mut entries = Vec::new();
    for subgraph in subgraphs {
        if !subgraph.types.get(entity).is_some_and(|t| t.is_object) {
            continue;
        }
        let returns_entity = |returned: &str| {
            returned == entity
                || subgraph
                    .types
                    .get(returned)
                    .is_some_and(|t| !t.is_object && t.related.iter().any(|m| m == entity))
                || subgraph
                    .types
                    .get(entity)
                    .is_some_and(|t| t.related.iter().any(|interface| interface == returned))
        };
        // Name a root field when there is one: that is the path a reviewer knows.
        let mut types: Vec<(&String, _)> = subgraph.types.iter().collect();
        types.sort_by_key(|(name, _)| (name.as_str() != "Query", name.as_str() != "Mutation", name.as_str()));
        let entry = types.into_iter().find_map(|(type_name, ty)| {
            ty.fields
                .iter()
                .find(|(_, f)| !f.external && returns_entity(&f.returns))
                .map(|(field, _)| (type_name.clone(), field.clone()))
        });
        if let Some(entry) = entry {
            entries.push((subgraph, entry));
        }
    }
    entries
}

/// The subgraphs a query holding `entity` in `from` can get to. A planner builds the
/// representation it sends to a subgraph from every field fetched so far, so a
/// subgraph is reachable once some resolvable key of it consists of fields that the
/// subgraphs already reached resolve.
fn reachable_from<'s>(subgraphs: &'s [SubgraphTypes], entity: &str, from: &'s SubgraphTypes) -> BTreeSet<&'s str> {
    let mut reached = BTreeSet::from([from.name.as_str()]);
    let mut available: BTreeSet<String> = resolvable_fields(from, entity);
    loop {
        let next = subgraphs.iter().find(|next| {
            !reached.contains(next.name.as_str())
                && next.types.get(entity).is_some_and(|there| {
                    there
                        .keys
                        .iter()
                        .filter(|k| k.resolvable)
                        .any(|key| top_level_fields(&key.fields).iter().all(|f| available.contains(f)))
                })
        });
        let Some(next) = next else {
            return reached;
        };
        reached.insert(next.name.as_str());
        available.extend(resolvable_fields(next, entity));
    }
}

/// The fields of `entity` a subgraph can give: its own ones, and its key fields even
/// where it marks them @external (Federation 1 style).
fn resolvable_fields(subgraph: &SubgraphTypes, entity: &str) -> BTreeSet<String> {
    let Some(ty) = subgraph.types.get(entity) else {
        return BTreeSet::new();
    };
    let own_key_fields: BTreeSet<String> = ty.keys.iter().flat_map(|k| top_level_fields(&k.fields)).collect();
    ty.fields
        .iter()
        .filter(|(name, info)| !info.external || own_key_fields.contains(*name))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `@requires` naming a field that the same subgraph resolves itself.
pub fn requires_non_external(subgraphs: &[SubgraphTypes]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for subgraph in subgraphs {
        for (type_name, ty) in &subgraph.types {
            for (field, info) in &ty.fields {
                let Some(requires) = &info.requires else {
                    continue;
                };
                for required in top_level_fields(requires) {
                    let Some(required_info) = ty.fields.get(&required) else {
                        continue; // a missing field is the composer's error
                    };
                    // With a selection (`author { name }`) the leaves must be external,
                    // not the field that holds them.
                    if required_info.external || has_selection(requires, &required) {
                        continue;
                    }
                    diagnostics.push(Diagnostic {
                        message: format!(
                            "[{}] `{type_name}.{field}` has @requires(fields: \"{requires}\"), but `{type_name}.{required}` is not @external in `{}`: a required field must come from another subgraph, so mark it @external",
                            subgraph.name, subgraph.name
                        ),
                        locations: [
                            Location::new(subgraph, type_name, Some(field)),
                            Location::new(subgraph, type_name, Some(&required)),
                        ]
                        .into_iter()
                        .flatten()
                        .collect(),
                    });
                }
            }
        }
    }
    diagnostics
}

/// Whether `field` is followed by a selection set (or arguments and one) in a field set.
fn has_selection(field_set: &str, field: &str) -> bool {
    field_set.match_indices(field).any(|(at, _)| {
        let before = field_set[..at].chars().next_back();
        let boundary = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let mut rest = field_set[at + field.len()..].trim_start();
        if rest.starts_with('(') {
            rest = rest.find(')').map_or("", |end| rest[end + 1..].trim_start());
        }
        boundary && rest.starts_with('{')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_field_with_a_selection_is_not_itself_external() {
        assert!(has_selection("author { yearsOfExperience }", "author"));
        assert!(has_selection("comments(limit: 3) { authorId }", "comments"));
        assert!(!has_selection("weight", "weight"));
        assert!(!has_selection("coauthor { id } author", "author"));
    }

    #[test]
    fn a_key_can_be_built_from_fields_of_several_subgraphs() {
        let list = SubgraphTypes::parse(
            "list",
            "type Query { first: Product }\ntype Product @key(fields: \"id\") { id: ID! pid: ID! }",
        )
        .unwrap();
        let category = SubgraphTypes::parse(
            "category",
            "type Product @key(fields: \"id\") { id: ID! category: String }",
        )
        .unwrap();
        let price = SubgraphTypes::parse(
            "price",
            "type Product @key(fields: \"pid category\") { pid: ID! category: String price: Int }",
        )
        .unwrap();
        let all = [list, category, price];
        assert!(unsatisfiable(&all).is_empty(), "{:?}", unsatisfiable(&all));
        let without_category = [
            SubgraphTypes::parse(
                "list",
                "type Query { first: Product }\ntype Product @key(fields: \"id\") { id: ID! pid: ID! }",
            )
            .unwrap(),
            SubgraphTypes::parse(
                "price",
                "type Product @key(fields: \"pid category\") { pid: ID! category: String price: Int }",
            )
            .unwrap(),
        ];
        let diagnostics = unsatisfiable(&without_category);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].message.contains("`Product.price`"),
            "{}",
            diagnostics[0].message
        );
    }
}
