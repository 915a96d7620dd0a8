//! What a schema check compares: a supergraph read into plain maps, with the parts a
//! client sees (types, fields, arguments, enum values, deprecations, authorization and
//! cost directives) and the parts routing depends on (entity keys, field owners).
//!
//! Elements marked `@inaccessible` are left out of the client's view, so hiding a field
//! reads as removing it and revealing one as adding it. Federation machinery (`join__`,
//! `link__`, the `@link` schema) is left out altogether.

use std::collections::{BTreeMap, BTreeSet};

use hive_router::graphql_tools::parser::schema::{
    Definition, Directive, Document, EnumValue, Field, InputValue, TypeDefinition, parse_schema,
};

/// A supergraph as the check sees it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Schema {
    pub types: BTreeMap<String, TypeDef>,
    pub directives: BTreeMap<String, DirectiveDef>,
}

/// The kind of a named type, as SDL spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TypeKind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl TypeKind {
    pub fn keyword(self) -> &'static str {
        match self {
            TypeKind::Scalar => "scalar",
            TypeKind::Object => "type",
            TypeKind::Interface => "interface",
            TypeKind::Union => "union",
            TypeKind::Enum => "enum",
            TypeKind::InputObject => "input",
        }
    }
}

/// A named type. `fields` holds output fields (objects, interfaces), `inputs` an
/// input object's fields, `values` an enum's values, `members` a union's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    pub kind: TypeKind,
    pub description: Option<String>,
    pub fields: BTreeMap<String, FieldDef>,
    pub inputs: BTreeMap<String, InputValueDef>,
    pub values: BTreeMap<String, EnumValueDef>,
    pub members: BTreeSet<String>,
    pub interfaces: BTreeSet<String>,
    /// Entity keys as `(subgraph, fields)`, resolvable ones only.
    pub keys: BTreeSet<(String, String)>,
    /// Authorization and cost directives on the type, rendered.
    pub policies: BTreeSet<String>,
}

/// An output field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub ty: String,
    pub description: Option<String>,
    pub arguments: BTreeMap<String, InputValueDef>,
    pub deprecated: Option<String>,
    /// `@authenticated`, `@requiresScopes(…)`, `@policy(…)`, rendered.
    pub authorization: BTreeSet<String>,
    /// `@cost(…)` and `@listSize(…)`, rendered.
    pub cost: BTreeSet<String>,
    /// The subgraphs that resolve it (empty: every subgraph that has the type).
    pub owners: BTreeSet<String>,
}

/// An argument or an input object's field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputValueDef {
    pub ty: String,
    pub default: Option<String>,
    pub deprecated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValueDef {
    pub deprecated: Option<String>,
}

/// A directive definition a client or a tool can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveDef {
    pub arguments: BTreeMap<String, InputValueDef>,
    pub locations: BTreeSet<String>,
    pub repeatable: bool,
}

const AUTHORIZATION: [&str; 3] = ["authenticated", "requiresScopes", "policy"];
const COST: [&str; 2] = ["cost", "listSize"];

impl Schema {
    /// Reads a supergraph SDL.
    ///
    /// # Errors
    /// When the SDL does not parse.
    pub fn parse(sdl: &str) -> anyhow::Result<Self> {
        let document: Document<'_, String> = parse_schema(sdl).map_err(|err| anyhow::anyhow!("{err}"))?;
        let graphs = subgraph_names(&document);
        let mut schema = Schema::default();
        for definition in &document.definitions {
            match definition {
                Definition::TypeDefinition(ty) => {
                    if let Some((name, def)) = type_def(ty, &graphs) {
                        schema.types.insert(name, def);
                    }
                }
                Definition::DirectiveDefinition(directive) if !is_machinery(&directive.name) => {
                    schema.directives.insert(
                        directive.name.clone(),
                        DirectiveDef {
                            arguments: input_values(&directive.arguments),
                            locations: directive.locations.iter().map(|l| l.as_str().to_owned()).collect(),
                            repeatable: directive.repeatable,
                        },
                    );
                }
                _ => {}
            }
        }
        Ok(schema)
    }
}

/// The subgraph names of the `join__Graph` enum's values: `PRODUCTS` → `products`.
fn subgraph_names(document: &Document<'_, String>) -> BTreeMap<String, String> {
    document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::TypeDefinition(TypeDefinition::Enum(e)) if e.name == "join__Graph" => Some(e),
            _ => None,
        })
        .flat_map(|e| e.values.iter())
        .filter_map(|v| {
            let directive = v.directives.iter().find(|d| d.name == "join__graph")?;
            Some((v.name.clone(), argument(directive, "name")?))
        })
        .collect()
}

fn is_machinery(name: &str) -> bool {
    name.starts_with("join__")
        || name.starts_with("link__")
        || name == "link"
        || name == "inaccessible"
        || name == "core"
        || name.starts_with("core__")
}

type Graphs = BTreeMap<String, String>;

fn type_def(definition: &TypeDefinition<'_, String>, graphs: &Graphs) -> Option<(String, TypeDef)> {
    let (name, kind, description, directives) = match definition {
        TypeDefinition::Scalar(t) => (&t.name, TypeKind::Scalar, &t.description, &t.directives),
        TypeDefinition::Object(t) => (&t.name, TypeKind::Object, &t.description, &t.directives),
        TypeDefinition::Interface(t) => (&t.name, TypeKind::Interface, &t.description, &t.directives),
        TypeDefinition::Union(t) => (&t.name, TypeKind::Union, &t.description, &t.directives),
        TypeDefinition::Enum(t) => (&t.name, TypeKind::Enum, &t.description, &t.directives),
        TypeDefinition::InputObject(t) => (&t.name, TypeKind::InputObject, &t.description, &t.directives),
    };
    if is_machinery(name) || inaccessible(directives) {
        return None;
    }
    let mut def = TypeDef {
        kind,
        description: description.clone(),
        fields: BTreeMap::new(),
        inputs: BTreeMap::new(),
        values: BTreeMap::new(),
        members: BTreeSet::new(),
        interfaces: BTreeSet::new(),
        keys: keys(directives, graphs),
        policies: rendered(directives, &[&AUTHORIZATION[..], &COST[..]].concat()),
    };
    match definition {
        TypeDefinition::Object(t) => {
            def.fields = output_fields(&t.fields, graphs);
            def.interfaces = t.implements_interfaces.iter().cloned().collect();
        }
        TypeDefinition::Interface(t) => {
            def.fields = output_fields(&t.fields, graphs);
            def.interfaces = t.implements_interfaces.iter().cloned().collect();
        }
        TypeDefinition::Union(t) => def.members = t.types.iter().cloned().collect(),
        TypeDefinition::Enum(t) => def.values = enum_values(&t.values),
        TypeDefinition::InputObject(t) => def.inputs = input_values(&t.fields),
        TypeDefinition::Scalar(_) => {}
    }
    Some((name.clone(), def))
}

fn output_fields(fields: &[Field<'_, String>], graphs: &Graphs) -> BTreeMap<String, FieldDef> {
    fields
        .iter()
        .filter(|f| !inaccessible(&f.directives))
        .map(|f| {
            (
                f.name.clone(),
                FieldDef {
                    ty: f.field_type.to_string(),
                    description: f.description.clone(),
                    arguments: input_values(&f.arguments),
                    deprecated: deprecation(&f.directives),
                    authorization: rendered(&f.directives, &AUTHORIZATION),
                    cost: rendered(&f.directives, &COST),
                    owners: owners(&f.directives, graphs),
                },
            )
        })
        .collect()
}

fn input_values(values: &[InputValue<'_, String>]) -> BTreeMap<String, InputValueDef> {
    values
        .iter()
        .filter(|a| !inaccessible(&a.directives))
        .map(|a| {
            (
                a.name.clone(),
                InputValueDef {
                    ty: a.value_type.to_string(),
                    default: a.default_value.as_ref().map(ToString::to_string),
                    deprecated: deprecation(&a.directives),
                },
            )
        })
        .collect()
}

fn enum_values(values: &[EnumValue<'_, String>]) -> BTreeMap<String, EnumValueDef> {
    values
        .iter()
        .filter(|v| !inaccessible(&v.directives))
        .map(|v| {
            (
                v.name.clone(),
                EnumValueDef {
                    deprecated: deprecation(&v.directives),
                },
            )
        })
        .collect()
}

fn inaccessible(directives: &[Directive<'_, String>]) -> bool {
    directives.iter().any(|d| d.name == "inaccessible")
}

fn deprecation(directives: &[Directive<'_, String>]) -> Option<String> {
    let directive = directives.iter().find(|d| d.name == "deprecated")?;
    Some(
        directive
            .arguments
            .iter()
            .find(|(name, _)| name == "reason")
            .map(|(_, value)| value.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| "No longer supported".to_owned()),
    )
}

/// The directives named in `names`, each printed as SDL (`@cost(weight: 50)`).
fn rendered(directives: &[Directive<'_, String>], names: &[&str]) -> BTreeSet<String> {
    directives
        .iter()
        .filter(|d| names.contains(&d.name.as_str()))
        .map(|d| d.to_string().trim().to_owned())
        .collect()
}

fn argument(directive: &Directive<'_, String>, name: &str) -> Option<String> {
    directive
        .arguments
        .iter()
        .find(|(arg, _)| arg == name)
        .map(|(_, value)| value.to_string().trim_matches('"').to_owned())
}

/// Resolvable keys from `@join__type(graph: G, key: "…")`.
fn keys(directives: &[Directive<'_, String>], graphs: &Graphs) -> BTreeSet<(String, String)> {
    directives
        .iter()
        .filter(|d| d.name == "join__type")
        .filter(|d| argument(d, "resolvable").as_deref() != Some("false"))
        .filter_map(|d| Some((subgraph(graphs, argument(d, "graph")?), argument(d, "key")?)))
        .collect()
}

/// The subgraphs of a field's `@join__field(graph: G)`, leaving out `external` ones.
fn owners(directives: &[Directive<'_, String>], graphs: &Graphs) -> BTreeSet<String> {
    directives
        .iter()
        .filter(|d| d.name == "join__field")
        .filter(|d| argument(d, "external").as_deref() != Some("true"))
        .filter_map(|d| argument(d, "graph"))
        .map(|graph| subgraph(graphs, graph))
        .collect()
}

fn subgraph(graphs: &Graphs, graph: String) -> String {
    graphs.get(&graph).cloned().unwrap_or(graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
directive @join__type(graph: join__Graph, key: join__FieldSet, resolvable: Boolean = true) repeatable on OBJECT
directive @cost(weight: Int!) on FIELD_DEFINITION
enum join__Graph { A @join__graph(name: "a") B @join__graph(name: "b") }
scalar join__FieldSet
type Query @join__type(graph: A) { product(id: ID!, currency: String = "USD"): Product @join__field(graph: A) secret: String @inaccessible }
type Product @join__type(graph: A, key: "id") @join__type(graph: B, key: "id", resolvable: false) {
  id: ID!
  name: String! @deprecated(reason: "use title") @authenticated
  price: Int! @cost(weight: 5) @join__field(graph: B)
}
enum Status { OPEN CLOSED @inaccessible }
"#;

    #[test]
    fn reads_the_client_view_and_the_routing_facts() {
        let schema = Schema::parse(SDL).unwrap();
        assert_eq!(
            schema.types.keys().collect::<Vec<_>>(),
            ["Product", "Query", "Status"],
            "federation machinery is left out"
        );
        assert_eq!(schema.directives.keys().collect::<Vec<_>>(), ["cost"]);
        let query = &schema.types["Query"];
        assert!(!query.fields.contains_key("secret"), "inaccessible fields are hidden");
        assert_eq!(
            query.fields["product"].arguments["currency"].default.as_deref(),
            Some("\"USD\"")
        );
        let product = &schema.types["Product"];
        assert_eq!(product.keys, BTreeSet::from([("a".to_owned(), "id".to_owned())]));
        assert_eq!(product.fields["name"].deprecated.as_deref(), Some("use title"));
        assert_eq!(
            product.fields["name"].authorization,
            BTreeSet::from(["@authenticated".to_owned()])
        );
        assert_eq!(
            product.fields["price"].cost,
            BTreeSet::from(["@cost(weight: 5)".to_owned()])
        );
        assert_eq!(product.fields["price"].owners, BTreeSet::from(["b".to_owned()]));
        assert_eq!(schema.types["Status"].values.keys().collect::<Vec<_>>(), ["OPEN"]);
    }
}
