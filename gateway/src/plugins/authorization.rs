//! `@authenticated` and `@requiresScopes` of the subgraph schemas, enforced at the
//! gateway before any subgraph is called.
//!
//! The rules are read from the supergraph each time it loads. A field the caller may
//! not see is removed from the operation and answered with an error at its path (the
//! rest of the operation runs): UNAUTHENTICATED for a field that needs a signed-in
//! caller, FORBIDDEN for one whose scopes the caller's token lacks. A mutation field
//! refused this way is never sent. The caller's scopes are the `scope` claim of the
//! token the identity plugin verified.
//!
//! `@requiresScopes(scopes: [["a", "b"], ["c"]])` is satisfied by a and b together, or
//! by c (Federation's reading: any one inner list, all of it). The engine's own
//! enforcement needs its own JWT validation, which we do not run (router.config.yaml
//! switches it off); this plugin takes its place.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hive_router::GraphQLError;
use hive_router::executor::plugins::hooks::on_graphql_analysis::{
    FilterDecision, OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult, Selection,
};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::hooks::on_supergraph_load::{
    OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult,
};
use hive_router::executor::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use hive_router::graphql_tools::parser::schema as s;
use serde::Deserialize;

use super::identity::VerifiedIdentity;

/// What a field or type asks of the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    pub authenticated: bool,
    /// Any one inner list, all of it; empty when no scopes are required.
    pub scopes: Vec<Vec<String>>,
}

impl Requirement {
    fn from_directives(directives: &[s::Directive<'static, String>]) -> Option<Self> {
        let mut requirement = Requirement::default();
        for directive in directives {
            match directive.name.as_str() {
                "authenticated" => requirement.authenticated = true,
                "requiresScopes" => {
                    if let Some((_, s::Value::List(groups))) = directive.arguments.iter().find(|(n, _)| n == "scopes") {
                        requirement.scopes = groups
                            .iter()
                            .map(|group| match group {
                                s::Value::List(scopes) => scopes
                                    .iter()
                                    .filter_map(|scope| match scope {
                                        s::Value::String(text) => Some(text.clone()),
                                        _ => None,
                                    })
                                    .collect(),
                                _ => Vec::new(),
                            })
                            .collect();
                    }
                }
                _ => {}
            }
        }
        (requirement != Requirement::default()).then_some(requirement)
    }
}

/// Every requirement of the supergraph, by type and by `Type.field`.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    types: HashMap<String, Requirement>,
    fields: HashMap<(String, String), Requirement>,
}

impl Rules {
    pub fn from_document(document: &s::Document<'static, String>) -> Self {
        let mut rules = Rules::default();
        for definition in &document.definitions {
            let (name, directives, fields) = match definition {
                s::Definition::TypeDefinition(s::TypeDefinition::Object(t)) => (&t.name, &t.directives, &t.fields),
                s::Definition::TypeDefinition(s::TypeDefinition::Interface(t)) => (&t.name, &t.directives, &t.fields),
                _ => continue,
            };
            if let Some(requirement) = Requirement::from_directives(directives) {
                rules.types.insert(name.clone(), requirement);
            }
            for field in fields {
                if let Some(requirement) = Requirement::from_directives(&field.directives) {
                    rules.fields.insert((name.clone(), field.name.clone()), requirement);
                }
            }
        }
        rules
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.fields.is_empty()
    }

    /// Why `caller` may not select `parent.field` (returning `output`), if it may not.
    pub fn refusal(&self, caller: &Caller, parent: &str, field: &str, output: &str) -> Option<GraphQLError> {
        let field_rule = self.fields.get(&(parent.to_owned(), field.to_owned()));
        let type_rule = self.types.get(output);
        for requirement in field_rule.into_iter().chain(type_rule) {
            if !caller.authenticated && (requirement.authenticated || !requirement.scopes.is_empty()) {
                return Some(GraphQLError::from_message_and_code(
                    format!("`{parent}.{field}` needs a signed-in caller"),
                    "UNAUTHENTICATED",
                ));
            }
            let satisfied = requirement.scopes.is_empty()
                || requirement
                    .scopes
                    .iter()
                    .any(|group| group.iter().all(|scope| caller.scopes.iter().any(|s| s == scope)));
            if !satisfied {
                let needed: Vec<String> = requirement.scopes.iter().map(|group| group.join(" and ")).collect();
                return Some(GraphQLError::from_message_and_code(
                    format!("`{parent}.{field}` needs the scope {}", needed.join(", or ")),
                    "FORBIDDEN",
                ));
            }
        }
        None
    }
}

/// Who is asking, as far as the rules care.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub authenticated: bool,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {}

pub struct Authorization {
    rules: RwLock<Arc<Rules>>,
}

#[hive_router::async_trait]
impl RouterPlugin for Authorization {
    type Config = AuthorizationConfig;

    fn plugin_name() -> &'static str {
        "authorization"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let _config = payload.config()?;
        payload.initialize_plugin(Self {
            rules: RwLock::new(Arc::new(Rules::default())),
        })
    }

    fn on_supergraph_reload<'exec>(
        &'exec self,
        payload: OnSupergraphLoadStartHookPayload,
    ) -> OnSupergraphLoadStartHookResult<'exec> {
        let rules = Rules::from_document(&payload.new_ast);
        tracing::info!(
            types = rules.types.len(),
            fields = rules.fields.len(),
            "authorization rules loaded"
        );
        *self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(rules);
        payload.proceed()
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        let rules = self
            .rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if rules.is_empty() {
            return OnGraphqlAnalysisHookResult::Proceed;
        }
        let caller = payload
            .context
            .get_ref::<VerifiedIdentity>()
            .map(|identity| Caller {
                authenticated: true,
                scopes: identity.scopes.clone(),
            })
            .unwrap_or_default();
        payload.filter_operation(move |selection| match selection {
            Selection::Field(field) => {
                match rules.refusal(
                    &caller,
                    field.parent_type_name,
                    field.field_name,
                    field.output_type_name,
                ) {
                    Some(error) => FilterDecision::Reject { error },
                    None => FilterDecision::Keep,
                }
            }
            Selection::Fragment(_) => FilterDecision::Keep,
        });
        OnGraphqlAnalysisHookResult::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        let document = s::parse_schema::<String>(
            r#"
            type Query { me: User @authenticated  products: [Product!]! }
            type Mutation {
              changePrice(id: ID!): Product! @requiresScopes(scopes: [["catalog:write"]])
              refund(id: ID!): ID! @requiresScopes(scopes: [["payments:write", "ledger:read"], ["root"]])
            }
            type User @authenticated { id: ID! }
            type Product { id: ID! }
            "#,
        )
        .unwrap()
        .into_static();
        Rules::from_document(&document)
    }

    fn code(error: Option<GraphQLError>) -> Option<String> {
        error.and_then(|e| e.extensions.code)
    }

    #[test]
    fn anonymous_callers_are_refused_what_needs_a_signed_in_caller() {
        let rules = rules();
        let anonymous = Caller::default();
        assert_eq!(
            code(rules.refusal(&anonymous, "Query", "me", "User")).as_deref(),
            Some("UNAUTHENTICATED")
        );
        assert_eq!(
            code(rules.refusal(&anonymous, "Mutation", "changePrice", "Product")).as_deref(),
            Some("UNAUTHENTICATED")
        );
        assert!(rules.refusal(&anonymous, "Query", "products", "Product").is_none());
        let customer = Caller {
            authenticated: true,
            scopes: vec![],
        };
        assert!(rules.refusal(&customer, "Query", "me", "User").is_none());
    }

    #[test]
    fn scopes_are_any_one_group_all_of_it() {
        let rules = rules();
        let with = |scopes: &[&str]| Caller {
            authenticated: true,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(
            code(rules.refusal(&with(&[]), "Mutation", "changePrice", "Product")).as_deref(),
            Some("FORBIDDEN")
        );
        assert!(
            rules
                .refusal(&with(&["catalog:write"]), "Mutation", "changePrice", "Product")
                .is_none()
        );
        assert!(
            rules
                .refusal(&with(&["payments:write"]), "Mutation", "refund", "ID")
                .is_some()
        );
        assert!(
            rules
                .refusal(&with(&["payments:write", "ledger:read"]), "Mutation", "refund", "ID")
                .is_none()
        );
        assert!(rules.refusal(&with(&["root"]), "Mutation", "refund", "ID").is_none());
    }
}
