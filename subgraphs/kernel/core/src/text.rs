//! Short texts people type: names, address lines, labels.

/// `value` without its surrounding blanks, if that has 1 to `max` characters and none
/// of them is a control character.
pub fn printable_line(value: &str, max: usize) -> Option<&str> {
    let value = value.trim();
    let length = value.chars().count();
    (length > 0 && length <= max && !value.chars().any(char::is_control)).then_some(value)
}

/// What a line [`printable_line`] refused is told.
pub fn printable_line_rule(max: usize) -> String {
    format!("must have 1 to {max} printable characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_trimmed_and_bounded_and_has_no_control_characters() {
        assert_eq!(printable_line("  Ann  ", 3), Some("Ann"));
        assert_eq!(printable_line("Åsa", 3), Some("Åsa"), "characters, not bytes");
        assert_eq!(printable_line("Anna", 3), None);
        assert_eq!(printable_line("   ", 3), None);
        assert_eq!(printable_line("a\u{0}b", 3), None);
        assert_eq!(printable_line("a\nb", 3), None);
    }
}
