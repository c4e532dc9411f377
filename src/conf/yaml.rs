//! Reading the YAML document (the `conf_pre_validate` token pass and the
//! `conf_parse` event pass of dyn_conf.c): YAML features the original
//! refuses are rejected first, then the one document is read into a pool
//! name and its directives in file order, as scalars or lists of scalars.
//!
//! ```text
//!   check_tokens   scanner pass: no ---/..., %YAML/%TAG, flow, &anchor, *alias, !tag
//!   read_tree      event pass: one document, root -> pool -> directive -> scalar | [scalar]
//! ```
//!
//! What a directive means is not looked at here ([`super::directives`]).

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, Scanner, TokenType};

/// Rejects the YAML features the original's token check disallows, before
/// the document is looked at.
pub(super) fn check_tokens(text: &str) -> Result<(), String> {
    let mut scanner = Scanner::new(text.chars());
    loop {
        let token = match scanner.next_token() {
            Ok(Some(token)) => token,
            Ok(None) => return Ok(()),
            Err(e) => return Err(syntax_error(&e)),
        };
        let kind = match token.1 {
            TokenType::VersionDirective(..) => "a %YAML directive",
            TokenType::TagDirective(..) => "a %TAG directive",
            TokenType::DocumentStart => "a document start marker '---'",
            TokenType::DocumentEnd => "a document end marker '...'",
            TokenType::FlowSequenceStart | TokenType::FlowSequenceEnd => "a flow sequence '[...]'",
            TokenType::FlowMappingStart | TokenType::FlowMappingEnd => "a flow mapping '{...}'",
            TokenType::FlowEntry => "a flow entry ','",
            TokenType::Alias(_) => "an alias '*'",
            TokenType::Anchor(_) => "an anchor '&'",
            TokenType::Tag(..) => "a tag '!'",
            TokenType::StreamStart(_) | TokenType::StreamEnd => continue,
            TokenType::BlockSequenceStart
            | TokenType::BlockMappingStart
            | TokenType::BlockEnd
            | TokenType::BlockEntry
            | TokenType::Key
            | TokenType::Value
            | TokenType::Scalar(..) => continue,
        };
        return Err(format!(
            "has {kind} at {}, which is not allowed",
            at(&token.0)
        ));
    }
}

fn syntax_error(e: &yaml_rust2::ScanError) -> String {
    format!("is not valid YAML: {} at {}", e.info(), at(e.marker()))
}

fn at(mark: &Marker) -> String {
    format!("line {} column {}", mark.line(), mark.col() + 1)
}

/// A directive value: a scalar or a block sequence of scalars.
#[derive(Debug)]
pub(super) enum RawValue {
    Scalar(String),
    Seq(Vec<String>),
}

/// One `key: value` of the pool mapping.
#[derive(Debug)]
pub(super) struct RawDirective {
    pub(super) key: String,
    pub(super) value: RawValue,
}

/// The pool: its name and its directives in file order.
#[derive(Debug)]
pub(super) struct RawPool {
    pub(super) name: String,
    pub(super) directives: Vec<RawDirective>,
}

/// A structural error, about the file or about one key.
pub(super) enum TreeError {
    File(String),
    Key(String, String),
}

struct Events<'a> {
    parser: Parser<std::str::Chars<'a>>,
}

impl Events<'_> {
    fn next(&mut self) -> Result<(Event, Marker), TreeError> {
        self.parser
            .next_token()
            .map_err(|e| TreeError::File(syntax_error(&e)))
    }
}

/// Reads the one document: root mapping -> one pool -> mapping of directives
/// -> scalar or sequence of scalars. Nothing deeper.
pub(super) fn read_tree(text: &str) -> Result<RawPool, TreeError> {
    let mut events = Events {
        parser: Parser::new_from_str(text),
    };
    let mut documents = 0usize;
    let mut pool = None;
    loop {
        match events.next()?.0 {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(TreeError::File(
                        "must contain only 1 document; found more".into(),
                    ));
                }
                pool = Some(read_root(&mut events)?);
            }
            _ => return Err(TreeError::File("has an unexpected YAML event".into())),
        }
    }
    pool.ok_or_else(|| TreeError::File("must contain only 1 document; found 0 documents".into()))
}

fn read_root(events: &mut Events<'_>) -> Result<RawPool, TreeError> {
    let (event, mark) = events.next()?;
    match event {
        Event::MappingStart(..) => {}
        Event::Scalar(..) => {
            return Err(TreeError::File(format!(
                "has a scalar at the root ({}); the root must be a mapping with the pool name as its one key",
                at(&mark)
            )))
        }
        _ => {
            return Err(TreeError::File(format!(
                "has a sequence at the root ({}); the root must be a mapping with the pool name as its one key",
                at(&mark)
            )))
        }
    }
    let mut pool: Option<RawPool> = None;
    loop {
        let (event, mark) = events.next()?;
        let name = match event {
            Event::MappingEnd => break,
            Event::Scalar(name, ..) => name,
            _ => {
                return Err(TreeError::File(format!(
                    "has a complex key at {}",
                    at(&mark)
                )))
            }
        };
        if let Some(first) = &pool {
            return Err(TreeError::File(format!(
                "has more than one pool ('{}' and '{}' at {}); only one pool is supported",
                first.name,
                name,
                at(&mark)
            )));
        }
        if name.is_empty() {
            return Err(TreeError::File(format!(
                "has an empty pool name at {}",
                at(&mark)
            )));
        }
        let (event, mark) = events.next()?;
        match event {
            Event::MappingStart(..) => {}
            Event::Scalar(v, ..) if v.is_empty() => {
                return Err(TreeError::File(format!(
                    "pool '{name}' has no directives ({})",
                    at(&mark)
                )))
            }
            _ => {
                return Err(TreeError::File(format!(
                    "pool '{name}' must be a mapping of directives ({})",
                    at(&mark)
                )))
            }
        }
        let directives = read_directives(events)?;
        pool = Some(RawPool { name, directives });
    }
    pool.ok_or_else(|| TreeError::File("has no pool".into()))
}

fn read_directives(events: &mut Events<'_>) -> Result<Vec<RawDirective>, TreeError> {
    let mut directives = Vec::new();
    loop {
        let (event, mark) = events.next()?;
        let key = match event {
            Event::MappingEnd => return Ok(directives),
            Event::Scalar(key, ..) => key,
            _ => {
                return Err(TreeError::File(format!(
                    "has a complex key at {}",
                    at(&mark)
                )))
            }
        };
        let (event, mark) = events.next()?;
        let value = match event {
            Event::Scalar(v, ..) => RawValue::Scalar(v),
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, mark) = events.next()?;
                    match event {
                        Event::SequenceEnd => break,
                        Event::Scalar(v, ..) => items.push(v),
                        _ => {
                            return Err(TreeError::Key(
                                key,
                                format!(
                                    "has a depth greater than 2 at {}: list elements must be scalars",
                                    at(&mark)
                                ),
                            ))
                        }
                    }
                }
                RawValue::Seq(items)
            }
            _ => {
                return Err(TreeError::Key(
                    key,
                    format!(
                        "has a mapping as its value at {}: a directive takes a scalar or a list of scalars",
                        at(&mark)
                    ),
                ))
            }
        };
        directives.push(RawDirective { key, value });
    }
}

#[cfg(test)]
mod tests {
    use crate::conf::testing::{err, ok};
    use crate::conf::Consistency;

    /// Whole-file structure errors: the text, and a piece of the reason.
    #[test]
    fn structure_errors() {
        let pool = "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n";
        let table: Vec<(String, &str)> = vec![
            (
                String::new(),
                "must contain only 1 document; found 0 documents",
            ),
            ("# only a comment\n".into(), "found 0 documents"),
            (
                format!("---\n{pool}"),
                "has a document start marker '---' at line 1",
            ),
            (format!("{pool}...\n"), "has a document end marker '...'"),
            (format!("%YAML 1.1\n---\n{pool}"), "has a %YAML directive"),
            (
                format!("%TAG ! tag:x,2000:\n---\n{pool}"),
                "has a %TAG directive",
            ),
            (
                format!("{pool}  rack: [a]\n"),
                "has a flow sequence '[...]' at line 5 column 9",
            ),
            (
                "dyn_o_mite: {listen: 127.0.0.1:8102}\n".into(),
                "has a flow mapping '{...}'",
            ),
            (format!("{pool}  rack: &r a\n"), "has an anchor '&'"),
            (
                format!("{pool}  rack: &r a\n  env: *r\n"),
                "has an anchor '&'",
            ),
            (format!("{pool}  rack: !!str a\n"), "has a tag '!'"),
            ("just a scalar\n".into(), "has a scalar at the root"),
            ("- a\n- b\n".into(), "has a sequence at the root"),
            (
                "dyn_o_mite:\n".into(),
                "pool 'dyn_o_mite' has no directives",
            ),
            (
                "dyn_o_mite: x\n".into(),
                "pool 'dyn_o_mite' must be a mapping of directives",
            ),
            (
                "dyn_o_mite:\n  - listen\n".into(),
                "pool 'dyn_o_mite' must be a mapping of directives",
            ),
            (
                format!("{pool}other:\n  listen: 127.0.0.1:9102\n"),
                "has more than one pool ('dyn_o_mite' and 'other'",
            ),
            (format!("{pool}  rack: 'a\n"), "is not valid YAML"),
            ("a:\n  b: c\n d: e\n".into(), "is not valid YAML"),
        ];
        for (text, reason) in &table {
            let e = err(text);
            assert_eq!(e.key, None, "{text:?}: {e}");
            assert!(
                e.reason.contains(reason),
                "{text:?}: got {:?}, want {reason:?}",
                e.reason
            );
            assert!(e.to_string().starts_with("conf: 'test.yml': "), "{e}");
        }
    }

    #[test]
    fn scalar_styles_and_spacing() {
        let text = "dyn_o_mite:\n    listen: \"127.0.0.1:8102\"\n    servers:\n        - '127.0.0.1:6379:1'\n    \
                    read_consistency : DC_SAFE_QUORUM\n    tokens: 437425602   # trailing comment\n";
        let conf = ok(text);
        assert_eq!(conf.pool.tokens, [437_425_602]);
        assert_eq!(conf.pool.read_consistency, Consistency::DcSafeQuorum);
        // A sequence at the same indentation as its key, as the samples write it.
        let conf = ok("p:\n listen: 127.0.0.1:8102\n servers:\n - 127.0.0.1:6379:1\n");
        assert_eq!(conf.pool.name, "p");
    }
}
