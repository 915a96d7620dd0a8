//! Limits per client: depth, aliases, root fields and an estimated cost, checked on the
//! parsed operation before it is validated, planned or sent anywhere; and introspection
//! off in production mode.
//!
//! The cost follows the demand-control model of `@cost` / `@listSize` (IBM's GraphQL
//! cost specification, as Apollo and Hive use it):
//! - a field that returns an object, interface or union costs 1, a scalar or enum 0,
//!   unless `@cost(weight:)` on the field (or on its type) says otherwise;
//! - a list field multiplies what it and its selection cost by its size: the largest
//!   value of its `@listSize(slicingArguments:)` in the request, else its
//!   `assumedSize`, else `default_list_size`. `@listSize(sizedFields:)` hands that size
//!   to the named list fields below a connection (`edges`);
//! - each root field of a mutation adds `mutation_cost`.
//!
//! The engine's own global limits (router.config.yaml `limits:`) still apply on top.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use hive_router::GraphQLError;
use hive_router::executor::plugins::hooks::on_graphql_parse::{
    OnGraphQLParseHookResult, OnGraphQLParseStartHookPayload,
};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::hooks::on_supergraph_load::{
    OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult,
};
use hive_router::executor::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use hive_router::graphql_tools::parser::query as q;
use hive_router::graphql_tools::parser::schema as s;
use hive_router::http::StatusCode;
use serde::Deserialize;

use super::RequestClient;
use super::identity::VerifiedIdentity;

/// Walking stops this deep, whatever the limits say (the stack is finite).
const HARD_DEPTH: usize = 256;
/// Walking stops after this many selections: fragments spread twice in each of a chain
/// of fragments make an operation of a few hundred bytes select 2^N fields. Such an
/// operation is measured as costing `u64::MAX`.
const MAX_STEPS: u64 = 200_000;

/// A limit; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub max_depth: Option<u64>,
    #[serde(default)]
    pub max_aliases: Option<u64>,
    #[serde(default)]
    pub max_root_fields: Option<u64>,
    #[serde(default)]
    pub max_cost: Option<u64>,
}

impl Limits {
    /// `self`, with the limits `client` sets in place of these.
    fn overridden_by(self, client: &Limits) -> Limits {
        Limits {
            max_depth: client.max_depth.or(self.max_depth),
            max_aliases: client.max_aliases.or(self.max_aliases),
            max_root_fields: client.max_root_fields.or(self.max_root_fields),
            max_cost: client.max_cost.or(self.max_cost),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// Production mode; `GATEWAY_ENV=production` turns it on too.
    #[serde(default)]
    pub production: bool,
    /// Clients that may still introspect in production (e.g. schema review tooling):
    /// by the `client` claim of a verified token, never by a header. Staff (ADMIN) may
    /// always.
    #[serde(default)]
    pub allowed_clients: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationLimitsConfig {
    /// Every client's limits, unless it has its own.
    pub limits: Limits,
    #[serde(default)]
    pub clients: BTreeMap<String, Limits>,
    #[serde(default = "default_list_size")]
    pub default_list_size: u64,
    #[serde(default = "default_mutation_cost")]
    pub mutation_cost: u64,
    #[serde(default)]
    pub introspection: IntrospectionConfig,
}

fn default_list_size() -> u64 {
    10
}

fn default_mutation_cost() -> u64 {
    10
}

/// What the cost model knows of one field of the supergraph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldCost {
    /// The named type the field returns.
    output: String,
    is_list: bool,
    weight: Option<u64>,
    list_size: Option<ListSize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ListSize {
    assumed_size: Option<u64>,
    slicing_arguments: Vec<String>,
    sized_fields: Vec<String>,
}

/// The supergraph as the cost model sees it.
#[derive(Debug, Clone, Default)]
pub struct CostSchema {
    fields: HashMap<String, HashMap<String, FieldCost>>,
    /// `@cost` on a type: what a field returning it costs.
    type_weights: HashMap<String, u64>,
    /// Objects, interfaces and unions.
    composite: HashSet<String>,
    query: String,
    mutation: String,
    subscription: String,
}

fn named_type(ty: &s::Type<'static, String>) -> (String, bool) {
    match ty {
        s::Type::NamedType(name) => (name.clone(), false),
        s::Type::ListType(inner) => (named_type(inner).0, true),
        s::Type::NonNullType(inner) => named_type(inner),
    }
}

fn int_argument(directive: &s::Directive<'static, String>, name: &str) -> Option<u64> {
    directive
        .arguments
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            s::Value::Int(n) => n.as_i64().and_then(|n| u64::try_from(n).ok()),
            _ => None,
        })
}

fn strings_argument(directive: &s::Directive<'static, String>, name: &str) -> Vec<String> {
    match directive.arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
        Some(s::Value::List(items)) => items
            .iter()
            .filter_map(|item| match item {
                s::Value::String(text) => Some(text.clone()),
                _ => None,
            })
            .collect(),
        Some(s::Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

impl CostSchema {
    /// Reads types, list-ness, `@cost` and `@listSize` from a supergraph document.
    pub fn from_document(document: &s::Document<'static, String>) -> Self {
        let mut schema = CostSchema {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
            ..CostSchema::default()
        };
        for definition in &document.definitions {
            match definition {
                s::Definition::SchemaDefinition(roots) => {
                    if let Some(name) = &roots.query {
                        schema.query = name.clone();
                    }
                    if let Some(name) = &roots.mutation {
                        schema.mutation = name.clone();
                    }
                    if let Some(name) = &roots.subscription {
                        schema.subscription = name.clone();
                    }
                }
                s::Definition::TypeDefinition(s::TypeDefinition::Object(object)) => {
                    schema.add_type(&object.name, &object.directives, &object.fields);
                }
                s::Definition::TypeDefinition(s::TypeDefinition::Interface(interface)) => {
                    schema.add_type(&interface.name, &interface.directives, &interface.fields);
                }
                s::Definition::TypeDefinition(s::TypeDefinition::Union(union)) => {
                    schema.composite.insert(union.name.clone());
                }
                _ => {}
            }
        }
        schema
    }

    /// Parses a supergraph SDL.
    ///
    /// # Errors
    /// When the SDL does not parse.
    pub fn from_sdl(sdl: &str) -> anyhow::Result<Self> {
        let document = s::parse_schema::<String>(sdl)?.into_static();
        Ok(Self::from_document(&document))
    }

    fn add_type(
        &mut self,
        name: &str,
        directives: &[s::Directive<'static, String>],
        fields: &[s::Field<'static, String>],
    ) {
        self.composite.insert(name.to_owned());
        if let Some(weight) = directives
            .iter()
            .find(|d| d.name == "cost")
            .and_then(|d| int_argument(d, "weight"))
        {
            self.type_weights.insert(name.to_owned(), weight);
        }
        let entry = self.fields.entry(name.to_owned()).or_default();
        for field in fields {
            let (output, is_list) = named_type(&field.field_type);
            let weight = field
                .directives
                .iter()
                .find(|d| d.name == "cost")
                .and_then(|d| int_argument(d, "weight"));
            let list_size = field
                .directives
                .iter()
                .find(|d| d.name == "listSize")
                .map(|d| ListSize {
                    assumed_size: int_argument(d, "assumedSize"),
                    slicing_arguments: strings_argument(d, "slicingArguments"),
                    sized_fields: strings_argument(d, "sizedFields"),
                });
            entry.insert(
                field.name.clone(),
                FieldCost {
                    output,
                    is_list,
                    weight,
                    list_size,
                },
            );
        }
    }
}

/// What an operation asks for, by the measures the limits bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationShape {
    pub depth: u64,
    pub aliases: u64,
    pub root_fields: u64,
    pub cost: u64,
    pub introspects: bool,
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub code: &'static str,
    pub message: String,
}

/// Measures the operation that will run: `operation_name`, or the document's only
/// one. `variable` gives the integer value of a variable the request sent, for slicing
/// arguments; one it did not send counts at its declared default. Unknown fields and
/// missing fragments count nothing: validation refuses them later.
///
/// # Errors
/// A request error when no operation is chosen: the document has several and no
/// `operationName` says which (the GraphQL spec's GetOperation), or none of that name.
pub fn measure(
    document: &q::Document<'static, String>,
    operation_name: Option<&str>,
    schema: &CostSchema,
    default_list_size: u64,
    mutation_cost: u64,
    variable: &dyn Fn(&str) -> Option<u64>,
) -> Result<OperationShape, LimitExceeded> {
    let fragments: HashMap<&str, &q::FragmentDefinition<'static, String>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Fragment(f) => Some((f.name.as_str(), f)),
            q::Definition::Operation(_) => None,
        })
        .collect();
    let operations: Vec<&q::OperationDefinition<'static, String>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Operation(o) => Some(o),
            q::Definition::Fragment(_) => None,
        })
        .collect();
    let name_of = |o: &q::OperationDefinition<'static, String>| match o {
        q::OperationDefinition::SelectionSet(_) => None,
        q::OperationDefinition::Query(q) => q.name.clone(),
        q::OperationDefinition::Mutation(m) => m.name.clone(),
        q::OperationDefinition::Subscription(s) => s.name.clone(),
    };
    let operation = match operation_name {
        Some(name) => operations
            .iter()
            .find(|o| name_of(o).as_deref() == Some(name))
            .ok_or_else(|| LimitExceeded {
                code: "OPERATION_NOT_FOUND",
                message: format!("the document has no operation named `{name}`"),
            })?,
        None if operations.len() == 1 => operations[0],
        None if operations.is_empty() => {
            return Err(LimitExceeded {
                code: "OPERATION_NOT_FOUND",
                message: "the document has no operation".into(),
            });
        }
        None => {
            return Err(LimitExceeded {
                code: "OPERATION_NAME_REQUIRED",
                message: format!(
                    "the document has {} operations: say which to run with `operationName`",
                    operations.len()
                ),
            });
        }
    };
    let variable_definitions = match operation {
        q::OperationDefinition::SelectionSet(_) => &[][..],
        q::OperationDefinition::Query(q) => &q.variable_definitions[..],
        q::OperationDefinition::Mutation(m) => &m.variable_definitions[..],
        q::OperationDefinition::Subscription(s) => &s.variable_definitions[..],
    };
    let defaults: HashMap<&str, u64> = variable_definitions
        .iter()
        .filter_map(|definition| match &definition.default_value {
            Some(q::Value::Int(n)) => n
                .as_i64()
                .and_then(|n| u64::try_from(n).ok())
                .map(|n| (definition.name.as_str(), n)),
            _ => None,
        })
        .collect();
    let variable = &|name: &str| variable(name).or_else(|| defaults.get(name).copied());
    let (root, selection_set, is_mutation) = match operation {
        q::OperationDefinition::SelectionSet(set) => (&schema.query, set, false),
        q::OperationDefinition::Query(q) => (&schema.query, &q.selection_set, false),
        q::OperationDefinition::Mutation(m) => (&schema.mutation, &m.selection_set, true),
        q::OperationDefinition::Subscription(s) => (&schema.subscription, &s.selection_set, false),
    };
    let mut walk = Walk {
        schema,
        fragments,
        default_list_size,
        variable,
        shape: OperationShape::default(),
        in_fragments: Vec::new(),
        steps: 0,
    };
    let root_cost = walk.selection_set(root, selection_set, 1, None);
    walk.shape.root_fields = walk.root_fields(selection_set, 0);
    let mutation_cost = if is_mutation {
        walk.shape.root_fields.saturating_mul(mutation_cost)
    } else {
        0
    };
    walk.shape.cost = if walk.steps > MAX_STEPS {
        u64::MAX
    } else {
        root_cost.saturating_add(mutation_cost)
    };
    Ok(walk.shape)
}

struct Walk<'a> {
    schema: &'a CostSchema,
    fragments: HashMap<&'a str, &'a q::FragmentDefinition<'static, String>>,
    default_list_size: u64,
    variable: &'a dyn Fn(&str) -> Option<u64>,
    shape: OperationShape,
    /// The named fragments being walked: a cycle stops here (validation refuses it).
    in_fragments: Vec<&'a str>,
    /// Selections visited so far; past [`MAX_STEPS`] the walk stops.
    steps: u64,
}

impl<'a> Walk<'a> {
    /// The cost of `set` selected on `parent`, at `depth` (root fields are at 1).
    /// `sized` is a connection's slicing size and the list fields it applies to.
    fn selection_set(
        &mut self,
        parent: &str,
        set: &'a q::SelectionSet<'static, String>,
        depth: u64,
        sized: Option<(&'a [String], u64)>,
    ) -> u64 {
        if depth as usize > HARD_DEPTH {
            self.shape.depth = self.shape.depth.max(depth);
            return 0;
        }
        let mut cost: u64 = 0;
        for item in &set.items {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return cost;
            }
            let item_cost = match item {
                q::Selection::Field(field) => self.field(parent, field, depth, sized),
                q::Selection::InlineFragment(fragment) => {
                    let on = match &fragment.type_condition {
                        Some(q::TypeCondition::On(name)) => name.as_str(),
                        None => parent,
                    };
                    self.selection_set(on, &fragment.selection_set, depth, sized)
                }
                q::Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name.as_str();
                    match self.fragments.get(name).copied() {
                        Some(fragment) if !self.in_fragments.contains(&name) => {
                            let q::TypeCondition::On(on) = &fragment.type_condition;
                            self.in_fragments.push(name);
                            let cost = self.selection_set(on, &fragment.selection_set, depth, sized);
                            self.in_fragments.pop();
                            cost
                        }
                        _ => 0,
                    }
                }
            };
            cost = cost.saturating_add(item_cost);
        }
        cost
    }

    fn field(
        &mut self,
        parent: &str,
        field: &'a q::Field<'static, String>,
        depth: u64,
        sized: Option<(&'a [String], u64)>,
    ) -> u64 {
        self.shape.depth = self.shape.depth.max(depth);
        if field.alias.is_some() {
            self.shape.aliases += 1;
        }
        if depth == 1 && (field.name == "__schema" || field.name == "__type") {
            self.shape.introspects = true;
        }
        let Some(definition) = self
            .schema
            .fields
            .get(parent)
            .and_then(|fields| fields.get(&field.name))
        else {
            // `__typename`, introspection, or a field validation will refuse.
            return 0;
        };
        let own = definition
            .weight
            .or_else(|| self.schema.type_weights.get(&definition.output).copied())
            .unwrap_or_else(|| u64::from(self.schema.composite.contains(&definition.output)));
        let slicing_size = definition.list_size.as_ref().and_then(|list_size| {
            list_size
                .slicing_arguments
                .iter()
                .filter_map(|name| field.arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v))
                .filter_map(|value| match value {
                    q::Value::Int(n) => n.as_i64().and_then(|n| u64::try_from(n).ok()),
                    q::Value::Variable(name) => (self.variable)(name),
                    _ => None,
                })
                .max()
                .or(list_size.assumed_size)
        });
        let children_sized = definition
            .list_size
            .as_ref()
            .filter(|list_size| !list_size.sized_fields.is_empty())
            .map(|list_size| {
                (
                    list_size.sized_fields.as_slice(),
                    slicing_size.unwrap_or(self.default_list_size),
                )
            });
        let children = self.selection_set(&definition.output, &field.selection_set, depth + 1, children_sized);
        let multiplier = if let Some((names, size)) = sized
            && names.contains(&field.name)
        {
            size
        } else if definition.is_list {
            slicing_size.unwrap_or(self.default_list_size)
        } else {
            1
        };
        multiplier.saturating_mul(own.saturating_add(children))
    }

    /// Root fields, fragments spread out (a cycle counted once).
    fn root_fields(&mut self, set: &'a q::SelectionSet<'static, String>, nesting: usize) -> u64 {
        let mut count: u64 = 0;
        for item in &set.items {
            self.steps += 1;
            if self.steps > MAX_STEPS || nesting > HARD_DEPTH {
                return count;
            }
            let fields = match item {
                q::Selection::Field(field) => u64::from(field.name != "__typename"),
                q::Selection::InlineFragment(fragment) => self.root_fields(&fragment.selection_set, nesting + 1),
                q::Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name.as_str();
                    match self.fragments.get(name).copied() {
                        Some(fragment) if !self.in_fragments.contains(&name) => {
                            self.in_fragments.push(name);
                            let fields = self.root_fields(&fragment.selection_set, nesting + 1);
                            self.in_fragments.pop();
                            fields
                        }
                        _ => 0,
                    }
                }
            };
            count = count.saturating_add(fields);
        }
        count
    }
}

/// Checks `shape` against `limits`.
///
/// # Errors
/// The first limit exceeded.
pub fn check(shape: &OperationShape, limits: &Limits, introspection_allowed: bool) -> Result<(), LimitExceeded> {
    if shape.introspects && !introspection_allowed {
        return Err(LimitExceeded {
            code: "INTROSPECTION_DISABLED",
            message: "introspection is disabled on this gateway".into(),
        });
    }
    let bounds = [
        (shape.depth, limits.max_depth, "MAX_DEPTH_EXCEEDED", "depth"),
        (shape.aliases, limits.max_aliases, "MAX_ALIASES_EXCEEDED", "aliases"),
        (
            shape.root_fields,
            limits.max_root_fields,
            "MAX_ROOT_FIELDS_EXCEEDED",
            "root fields",
        ),
        (
            shape.cost,
            limits.max_cost,
            "COST_ESTIMATED_TOO_EXPENSIVE",
            "estimated cost",
        ),
    ];
    for (value, bound, code, what) in bounds {
        if let Some(bound) = bound
            && value > bound
        {
            return Err(LimitExceeded {
                code,
                message: format!("the operation's {what} is {value}, over this client's limit of {bound}"),
            });
        }
    }
    Ok(())
}

pub struct OperationLimits {
    config: OperationLimitsConfig,
    production: bool,
    schema: RwLock<Arc<CostSchema>>,
}

impl OperationLimits {
    pub fn new(config: OperationLimitsConfig) -> Self {
        let production = config.introspection.production
            || std::env::var("GATEWAY_ENV").is_ok_and(|mode| mode.eq_ignore_ascii_case("production"));
        Self {
            config,
            production,
            schema: RwLock::new(Arc::new(CostSchema::default())),
        }
    }

    /// The limits `client` gets: its own, each one it leaves out the default.
    pub fn limits_for(&self, client: Option<&str>) -> Limits {
        client
            .and_then(|name| self.config.clients.get(name))
            .map_or(self.config.limits, |own| self.config.limits.overridden_by(own))
    }

    /// May this caller introspect? Always outside production mode; in it, staff and
    /// the allowed clients, as their verified token says.
    pub fn introspection_allowed(&self, caller: Option<&VerifiedIdentity>) -> bool {
        !self.production
            || caller.is_some_and(|identity| {
                identity.role == "ADMIN"
                    || identity
                        .client
                        .as_ref()
                        .is_some_and(|client| self.config.introspection.allowed_clients.iter().any(|c| c == client))
            })
    }

    fn current_schema(&self) -> Arc<CostSchema> {
        self.schema
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn variable_as_u64(variables: &HashMap<String, hive_router::sonic_rs::Value>, name: &str) -> Option<u64> {
    use hive_router::sonic_rs::JsonValueTrait;
    variables.get(name).and_then(|value| value.as_u64())
}

#[hive_router::async_trait]
impl RouterPlugin for OperationLimits {
    type Config = OperationLimitsConfig;

    fn plugin_name() -> &'static str {
        "operation_limits"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let plugin = Self::new(config);
        if plugin.production {
            tracing::info!("production mode: introspection is off");
        }
        payload.initialize_plugin(plugin)
    }

    fn on_supergraph_reload<'exec>(
        &'exec self,
        payload: OnSupergraphLoadStartHookPayload,
    ) -> OnSupergraphLoadStartHookResult<'exec> {
        let schema = Arc::new(CostSchema::from_document(&payload.new_ast));
        *self.schema.write().unwrap_or_else(std::sync::PoisonError::into_inner) = schema;
        payload.proceed()
    }

    async fn on_graphql_parse<'exec>(
        &'exec self,
        payload: OnGraphQLParseStartHookPayload<'exec>,
    ) -> OnGraphQLParseHookResult<'exec> {
        let client = payload.context.get_ref::<RequestClient>().and_then(|c| c.0.clone());
        let limits = self.limits_for(client.as_deref());
        let introspection_allowed =
            self.introspection_allowed(payload.context.get_ref::<VerifiedIdentity>().as_deref());
        let params = payload.graphql_params;
        payload.on_end(move |end| {
            let schema = self.current_schema();
            let variable = |name: &str| variable_as_u64(&params.variables, name);
            let measured = measure(
                &end.document,
                params.operation_name.as_deref(),
                &schema,
                self.config.default_list_size,
                self.config.mutation_cost,
                &variable,
            );
            let shape = match measured {
                Ok(shape) => shape,
                Err(refused) => {
                    return end.end_with_graphql_error(
                        GraphQLError::from_message_and_code(refused.message, refused.code),
                        StatusCode::BAD_REQUEST,
                    );
                }
            };
            match check(&shape, &limits, introspection_allowed) {
                Ok(()) => end.proceed(),
                Err(refused) => {
                    tracing::info!(
                        client = client.as_deref().unwrap_or("anonymous"),
                        code = refused.code,
                        depth = shape.depth,
                        aliases = shape.aliases,
                        root_fields = shape.root_fields,
                        cost = shape.cost,
                        "operation refused"
                    );
                    end.end_with_graphql_error(
                        GraphQLError::from_message_and_code(refused.message, refused.code),
                        StatusCode::BAD_REQUEST,
                    )
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
        type Query {
          products(first: Int! = 20, after: String): ProductConnection! @listSize(assumedSize: 20, slicingArguments: ["first"], sizedFields: ["edges"])
          product(id: ID!): Product
          tags: [String!]!
        }
        type Mutation { checkout(id: ID!): Session! @cost(weight: 50) }
        type Session { id: ID! }
        type ProductConnection { edges: [ProductEdge!]! pageInfo: PageInfo! }
        type PageInfo { hasNextPage: Boolean! }
        type ProductEdge { node: Product! }
        type Product { id: ID! name: String! variants: [Variant!]! }
        type Variant { sku: String! stock: Stock }
        type Stock @cost(weight: 5) { available: Int! }
    "#;

    fn shape(query: &str, variables: &[(&str, u64)]) -> OperationShape {
        let schema = CostSchema::from_sdl(SCHEMA).unwrap();
        let document = q::parse_query::<String>(query).unwrap().into_static();
        let variable = |name: &str| variables.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        measure(&document, None, &schema, 10, 10, &variable).unwrap()
    }

    #[test]
    fn a_connection_multiplies_its_edges_by_the_page_asked_for() {
        // products 1 + 5 edges × (edge 1 + node 1 + 10 variants × (1 + stock 5)) = 1 + 5 × 62
        let asked = shape(
            "{ products(first: 5) { edges { node { name variants { sku stock { available } } } } } }",
            &[],
        );
        assert_eq!(asked.cost, 1 + 5 * (1 + 1 + 10 * (1 + 5)));
        assert_eq!(asked.depth, 6);
        let by_variable = shape(
            "query($n: Int!) { products(first: $n) { edges { node { name } } } }",
            &[("n", 100)],
        );
        assert_eq!(by_variable.cost, 1 + 100 * 2);
        let assumed = shape("{ products { edges { node { name } } } }", &[]);
        assert_eq!(assumed.cost, 1 + 20 * 2, "assumedSize without the argument");
    }

    #[test]
    fn aliases_root_fields_fragments_and_mutations_are_counted() {
        let aliased = shape(
            "{ a: product(id: 1) { ...P } b: product(id: 2) { ...P } __typename } fragment P on Product { name }",
            &[],
        );
        assert_eq!((aliased.aliases, aliased.root_fields, aliased.cost), (2, 2, 2));
        let mutation = shape("mutation { checkout(id: 1) { id } }", &[]);
        assert_eq!(mutation.cost, 50 + 10);
        assert!(shape("{ __schema { types { name } } }", &[]).introspects);
        assert!(!shape("{ tags }", &[]).introspects);
    }

    fn measure_named(query: &str, name: Option<&str>) -> Result<OperationShape, LimitExceeded> {
        let schema = CostSchema::from_sdl(SCHEMA).unwrap();
        let document = q::parse_query::<String>(query).unwrap().into_static();
        measure(&document, name, &schema, 10, 10, &|_| None)
    }

    #[test]
    fn the_operation_that_runs_is_measured_and_several_need_a_name() {
        let bomb = "query Bomb { products(first: 100) { edges { node { variants { stock { available } } } } } }";
        let document = format!("query Small {{ tags }} {bomb}");
        let ambiguous = measure_named(&document, None).unwrap_err();
        assert_eq!(ambiguous.code, "OPERATION_NAME_REQUIRED");
        assert_eq!(
            measure_named(&document, Some("Bomb")).unwrap().cost,
            measure_named(bomb, None).unwrap().cost
        );
        assert_eq!(measure_named(&document, Some("Small")).unwrap().cost, 0);
        assert_eq!(
            measure_named(&document, Some("Other")).unwrap_err().code,
            "OPERATION_NOT_FOUND"
        );
        assert_eq!(
            measure_named("fragment F on Query { tags }", None).unwrap_err().code,
            "OPERATION_NOT_FOUND"
        );
    }

    #[test]
    fn a_variable_not_sent_counts_at_its_declared_default() {
        let query = "query($n: Int = 100) { products(first: $n) { edges { node { variants { sku } } } } }";
        let unsent = shape(query, &[]).cost;
        assert_eq!(unsent, shape(query, &[("n", 100)]).cost);
        assert!(unsent > shape(query, &[("n", 1)]).cost, "the sent value wins");
        assert!(unsent > shape("{ products { edges { node { variants { sku } } } } }", &[]).cost);
    }

    #[test]
    fn a_fragment_cycle_ends_the_walk() {
        let cyclic = shape(
            "{ product(id: 1) { ...A } } fragment A on Product { variants { ...B } } fragment B on Variant { ...A }",
            &[],
        );
        assert!(cyclic.cost < 100);
    }

    #[test]
    fn fragments_that_multiply_past_the_walking_budget_cost_the_maximum() {
        // F0 spreads F1 twice, F1 spreads F2 twice, …: 2^40 selections in 40 lines.
        let mut query = "{ ...F0 }".to_owned();
        for i in 0..40 {
            query.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
        }
        query.push_str(" fragment F40 on Query { tags }");
        assert_eq!(shape(&query, &[]).cost, u64::MAX);
    }

    #[test]
    fn the_first_exceeded_limit_is_the_refusal() {
        let limits = Limits {
            max_depth: Some(4),
            max_cost: Some(100),
            ..Limits::default()
        };
        let deep = shape("{ products { edges { node { variants { sku } } } } }", &[]);
        assert_eq!(check(&deep, &limits, true).unwrap_err().code, "MAX_DEPTH_EXCEEDED");
        let costly = shape("{ products(first: 100) { edges { node { name } } } }", &[]);
        assert_eq!(
            check(&costly, &limits, true).unwrap_err().code,
            "COST_ESTIMATED_TOO_EXPENSIVE"
        );
        let introspection = shape("{ __type(name: \"Product\") { name } }", &[]);
        assert_eq!(
            check(&introspection, &limits, false).unwrap_err().code,
            "INTROSPECTION_DISABLED"
        );
        assert!(check(&introspection, &limits, true).is_ok());
    }

    #[test]
    fn a_client_overrides_only_the_limits_it_names() {
        let config = OperationLimitsConfig {
            limits: Limits {
                max_depth: Some(10),
                max_cost: Some(1000),
                ..Limits::default()
            },
            clients: [(
                "acme".to_owned(),
                Limits {
                    max_cost: Some(50),
                    ..Limits::default()
                },
            )]
            .into(),
            default_list_size: 10,
            mutation_cost: 10,
            introspection: IntrospectionConfig::default(),
        };
        let plugin = OperationLimits::new(config);
        assert_eq!(plugin.limits_for(Some("acme")).max_cost, Some(50));
        assert_eq!(plugin.limits_for(Some("acme")).max_depth, Some(10));
        assert_eq!(plugin.limits_for(Some("web")).max_cost, Some(1000));
        assert_eq!(plugin.limits_for(None).max_cost, Some(1000));
    }
}
