//! Component variable values: literal text with `{{ app_variable }}` references, and Spin's
//! rule for variable names.

/// A component variable value: literal text with `{{ app_variable }}` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Vec<TemplatePart>);

/// Piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// The value of an application variable.
    Variable(String),
}

impl Template {
    /// Parses `text {{ name }} text`; `None` describes a malformed reference.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in {text:?}"))?;
            let name = after[..end].trim();
            if !is_variable_name(name) {
                return Err(format!(
                    "{name:?} is not a variable name (lowercase letters, digits and `_`)"
                ));
            }
            parts.push(TemplatePart::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Self(parts))
    }

    /// Application variables this template reads.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            TemplatePart::Variable(v) => Some(v.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and underscores, starting
/// with a letter.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_literals_and_references() {
        let t = Template::parse("a {{ x }}{{y_2}} b").unwrap();
        assert_eq!(
            t.0,
            [
                TemplatePart::Literal("a ".into()),
                TemplatePart::Variable("x".into()),
                TemplatePart::Variable("y_2".into()),
                TemplatePart::Literal(" b".into()),
            ]
        );
        assert_eq!(t.references().collect::<Vec<_>>(), ["x", "y_2"]);
        assert!(Template::parse("{{ x").is_err());
        assert!(Template::parse("{{ X }}").is_err());
    }
}
