//! Which schema coordinates an operation uses, read against the committed supergraph:
//! the types it selects on, every field (`Type.field`) and argument
//! (`Type.field(arg:)`) it names, the enum values it writes (`Enum.VALUE`), the input
//! fields of its literals (`Input.field`) and the directives it applies (`@name`).
//!
//! A variable of an input type may carry any of the type's fields, so it counts as a
//! use of all of them; a variable or a field of an enum type counts as a use of the
//! enum (`Enum`), and a variable that may carry one of its values also as `$Enum`.

use std::collections::{BTreeMap, BTreeSet};

use hive_router::graphql_tools::parser::query::{
    Definition, Directive, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet, Value,
    parse_query,
};

use super::model::{Schema, TypeKind};

/// The coordinates one operation document uses.
///
/// # Errors
/// When the document does not parse.
pub fn coordinates(schema: &Schema, document: &str) -> anyhow::Result<BTreeSet<String>> {
    let document: Document<'_, String> = parse_query(document).map_err(|err| anyhow::anyhow!("{err}"))?;
    let fragments: BTreeMap<&str, &FragmentDefinition<'_, String>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect();
    let mut walk = Walk {
        schema,
        fragments,
        used: BTreeSet::new(),
        visited_fragments: BTreeSet::new(),
    };
    for definition in &document.definitions {
        let Definition::Operation(operation) = definition else {
            continue;
        };
        let (root, variables, directives, selection_set) = match operation {
            OperationDefinition::Query(q) => ("Query", &q.variable_definitions[..], &q.directives, &q.selection_set),
            OperationDefinition::Mutation(m) => {
                ("Mutation", &m.variable_definitions[..], &m.directives, &m.selection_set)
            }
            OperationDefinition::Subscription(s) => (
                "Subscription",
                &s.variable_definitions[..],
                &s.directives,
                &s.selection_set,
            ),
            OperationDefinition::SelectionSet(s) => ("Query", &[][..], &Vec::new(), s),
        };
        for variable in variables {
            walk.use_input_type(named(&variable.var_type.to_string()));
        }
        walk.use_directives(directives);
        walk.selection_set(root, selection_set);
    }
    Ok(walk.used)
}

/// The named type inside list and non-null wrappers: `[Order!]!` → `Order`.
pub fn named(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

struct Walk<'s, 'd> {
    schema: &'s Schema,
    fragments: BTreeMap<&'d str, &'d FragmentDefinition<'d, String>>,
    used: BTreeSet<String>,
    visited_fragments: BTreeSet<String>,
}

impl Walk<'_, '_> {
    fn selection_set(&mut self, parent: &str, selection_set: &SelectionSet<'_, String>) {
        self.used.insert(parent.to_owned());
        for selection in &selection_set.items {
            match selection {
                Selection::Field(field) => {
                    self.use_directives(&field.directives);
                    if field.name.starts_with("__") {
                        continue;
                    }
                    let coordinate = format!("{parent}.{}", field.name);
                    let definition = self.schema.types.get(parent).and_then(|t| t.fields.get(&field.name));
                    for (argument, value) in &field.arguments {
                        self.used.insert(format!("{coordinate}({argument}:)"));
                        if let Some(arg) = definition.and_then(|d| d.arguments.get(argument)) {
                            self.value(named(&arg.ty), value);
                        }
                    }
                    self.used.insert(coordinate);
                    if let Some(definition) = definition {
                        let returned = named(&definition.ty).to_owned();
                        self.selection_set(&returned, &field.selection_set);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.use_directives(&inline.directives);
                    let on = match &inline.type_condition {
                        Some(hive_router::graphql_tools::parser::query::TypeCondition::On(on)) => on.clone(),
                        None => parent.to_owned(),
                    };
                    self.selection_set(&on, &inline.selection_set);
                }
                Selection::FragmentSpread(spread) => {
                    self.use_directives(&spread.directives);
                    let Some(fragment) = self.fragments.get(spread.fragment_name.as_str()).copied() else {
                        continue;
                    };
                    if self.visited_fragments.insert(spread.fragment_name.clone()) {
                        let hive_router::graphql_tools::parser::query::TypeCondition::On(on) = &fragment.type_condition;
                        self.selection_set(on, &fragment.selection_set);
                    }
                }
            }
        }
    }

    fn use_directives(&mut self, directives: &[Directive<'_, String>]) {
        for directive in directives {
            self.used.insert(format!("@{}", directive.name));
        }
    }

    /// A literal (or a variable) given where `ty` is expected.
    fn value(&mut self, ty: &str, value: &Value<'_, String>) {
        let Some(definition) = self.schema.types.get(ty) else {
            return;
        };
        match value {
            Value::Enum(name) => {
                self.used.insert(format!("{ty}.{name}"));
            }
            Value::List(items) => {
                for item in items {
                    self.value(ty, item);
                }
            }
            Value::Object(fields) if definition.kind == TypeKind::InputObject => {
                self.used.insert(ty.to_owned());
                for (name, field_value) in fields {
                    self.used.insert(format!("{ty}.{name}"));
                    if let Some(field) = definition.inputs.get(name) {
                        let field_type = named(&field.ty).to_owned();
                        self.value(&field_type, field_value);
                    }
                }
            }
            // Variables are covered by their declared types.
            _ => {}
        }
    }

    /// A variable's type: the type, and for input objects every field, recursively.
    fn use_input_type(&mut self, ty: &str) {
        if !self.used.insert(ty.to_owned()) {
            return;
        }
        let Some(definition) = self.schema.types.get(ty) else {
            return;
        };
        if definition.kind == TypeKind::Enum {
            // The client may send any of its values.
            self.used.insert(format!("${ty}"));
        }
        if definition.kind == TypeKind::InputObject {
            for (name, field) in &definition.inputs {
                self.used.insert(format!("{ty}.{name}"));
                self.use_input_type(named(&field.ty));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
type Query { product(id: ID!): Product products(filter: Filter, sort: Sort = NAME): [Product!]! node: Node }
interface Node { id: ID! }
type Product implements Node { id: ID! name: String! status: Status! price(currency: String): Int }
enum Status { DRAFT PUBLISHED }
enum Sort { NAME PRICE }
input Filter { status: Status range: Range }
input Range { min: Int max: Int }
"#;

    fn used(document: &str) -> Vec<String> {
        coordinates(&Schema::parse(SDL).unwrap(), document)
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn fields_arguments_and_fragments_are_read_with_their_parent_types() {
        let used = used(
            "query P($id: ID!) { product(id: $id) { ...Name price(currency: \"EUR\") } node { ... on Product { status } } }
             fragment Name on Product { name }",
        );
        for expected in [
            "Query.product",
            "Query.product(id:)",
            "Product.name",
            "Product.price(currency:)",
            "Query.node",
            "Product.status",
            "ID",
        ] {
            assert!(used.contains(&expected.to_owned()), "{expected} missing from {used:?}");
        }
        assert!(!used.contains(&"Product.id".to_owned()), "{used:?}");
    }

    #[test]
    fn literals_name_their_enum_values_and_input_fields_and_variables_their_whole_type() {
        let literal = used("{ products(filter: { status: PUBLISHED }, sort: PRICE) { id } }");
        for expected in ["Filter.status", "Status.PUBLISHED", "Sort.PRICE"] {
            assert!(
                literal.contains(&expected.to_owned()),
                "{expected} missing from {literal:?}"
            );
        }
        assert!(!literal.contains(&"Filter.range".to_owned()), "{literal:?}");
        assert!(!literal.contains(&"$Status".to_owned()), "{literal:?}");
        let variable = used("query Q($f: Filter) { products(filter: $f) { id } }");
        for expected in [
            "Filter",
            "Filter.status",
            "Filter.range",
            "Range.min",
            "Status",
            "$Status",
        ] {
            assert!(
                variable.contains(&expected.to_owned()),
                "{expected} missing from {variable:?}"
            );
        }
    }
}
