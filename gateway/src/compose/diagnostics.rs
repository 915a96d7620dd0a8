//! Composition errors a reviewer can act on: each message with the places in the
//! subgraph files that it is about, as `file:line:column (Type.field in subgraph)`.
//!
//! The composer's messages name subgraphs, types and fields but carry no positions;
//! [`locate`] finds the elements a message names (`Type`, `Type.field`, "field `f`
//! on `T`") in the subgraphs it names, or in all of them when it names none.

use std::fmt;

use super::subgraph::SubgraphTypes;

/// One composition error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub locations: Vec<Location>,
}

/// A place in a subgraph's SDL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub subgraph: String,
    pub line: usize,
    pub column: usize,
    /// `Type` or `Type.field`.
    pub element: String,
}

impl Location {
    /// Where `Type` (or `Type.field`) is written in `subgraph`, if it is.
    pub fn new(subgraph: &SubgraphTypes, type_name: &str, field: Option<&str>) -> Option<Location> {
        let pos = subgraph.position(type_name, field)?;
        Some(Location {
            subgraph: subgraph.name.clone(),
            line: pos.line,
            column: pos.column,
            element: match field {
                Some(field) => format!("{type_name}.{field}"),
                None => type_name.to_owned(),
            },
        })
    }
}

impl Diagnostic {
    /// The message and its locations, each subgraph's file named by `file_of`.
    pub fn render(&self, file_of: &dyn Fn(&str) -> String) -> String {
        let mut out = format!("error: {}", self.message);
        for location in &self.locations {
            out.push_str(&format!(
                "\n  --> {}:{}:{} ({} in {})",
                file_of(&location.subgraph),
                location.line,
                location.column,
                location.element,
                location.subgraph
            ));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|subgraph| format!("{subgraph}.graphql")))
    }
}

/// A composer's message with the locations of the elements it names.
pub fn locate(message: &str, subgraphs: &[SubgraphTypes]) -> Diagnostic {
    let words = words(message);
    let named_subgraphs: Vec<&SubgraphTypes> = subgraphs
        .iter()
        .filter(|s| words.iter().any(|w| w.eq_ignore_ascii_case(&s.name)))
        .collect();
    let candidates: Vec<&SubgraphTypes> = if named_subgraphs.is_empty() {
        subgraphs.iter().collect()
    } else {
        named_subgraphs
    };

    // Elements: `Type.field`, "`field` on `Type`", and bare `Type`s.
    let mut elements: Vec<(String, Option<String>)> = Vec::new();
    for word in &words {
        if let Some((ty, field)) = word.split_once('.') {
            let field = field.split('(').next().unwrap_or(field);
            elements.push((ty.to_owned(), Some(field.to_owned())));
        }
    }
    for pair in words.windows(3) {
        if pair[1] == "on" {
            elements.push((pair[2].clone(), Some(pair[0].clone())));
        }
    }
    for word in words.iter().filter(|w| !w.contains('.')) {
        elements.push((word.clone(), None));
    }

    let mut locations = Vec::new();
    for subgraph in &candidates {
        for (ty, field) in &elements {
            if let Some(location) = Location::new(subgraph, ty, field.as_deref())
                && !locations.contains(&location)
            {
                locations.push(location);
            }
        }
    }
    // A message about fields is about those fields: the types it also names (their
    // parents, or the types in a conflict such as `Int!` against `Long!`) add noise.
    if locations.iter().any(|l| l.element.contains('.')) {
        locations.retain(|l| l.element.contains('.'));
    }
    locations.sort();
    Diagnostic {
        message: message.to_owned(),
        locations,
    }
}

/// The identifiers of a message: words of letters, digits, `_`, `.` and `(`…`:)`,
/// with surrounding quotes, backticks and brackets removed.
fn words(message: &str) -> Vec<String> {
    message
        .split(|c: char| c.is_whitespace() || c == ',' || c == '`' || c == '"' || c == '[' || c == ']')
        .map(|w| w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subgraphs() -> Vec<SubgraphTypes> {
        vec![
            SubgraphTypes::parse(
                "products",
                "type Query { product: Product }\ntype Product {\n  id: ID!\n  name: String\n}\n",
            )
            .unwrap(),
            SubgraphTypes::parse("reviews", "type Product {\n  id: ID!\n  name: Int\n}\n").unwrap(),
        ]
    }

    #[test]
    fn a_message_naming_a_field_points_at_it_in_each_subgraph() {
        let diagnostic = locate(
            "The field `Product.name` has conflicting types in products and reviews",
            &subgraphs(),
        );
        let places: Vec<String> = diagnostic
            .locations
            .iter()
            .map(|l| format!("{}:{}:{}", l.subgraph, l.line, l.column))
            .collect();
        assert_eq!(places, ["products:4:3", "reviews:3:3"]);
    }

    #[test]
    fn types_named_beside_a_field_are_left_out() {
        let diagnostic = locate(
            "The Product.name field has conflicting types in different subgraphs: String in products but Product in reviews",
            &subgraphs(),
        );
        let elements: Vec<&str> = diagnostic.locations.iter().map(|l| l.element.as_str()).collect();
        assert_eq!(elements, ["Product.name", "Product.name"], "{diagnostic}");
    }

    #[test]
    fn field_on_type_phrasing_and_named_subgraphs_narrow_the_places() {
        let diagnostic = locate("[reviews] field `name` on `Product` is wrong", &subgraphs());
        assert_eq!(diagnostic.locations.len(), 1, "{diagnostic}");
        assert_eq!(diagnostic.locations[0].element, "Product.name");
        assert_eq!(diagnostic.locations[0].subgraph, "reviews");
        assert!(
            diagnostic
                .to_string()
                .ends_with("--> reviews.graphql:3:3 (Product.name in reviews)"),
            "{diagnostic}"
        );
    }
}
