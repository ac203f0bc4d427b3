//! The reference product's share-link query language, parsed into a `Filter` of the
//! `my_share_links` projection (so values are bound, never spliced into SQL).
//!
//! ```text
//! query      := or
//! or         := and ( "or" and )*
//! and        := primary ( "and" primary )*
//! primary    := "(" or ")" | condition
//! condition  := field operator value
//! field      := created_at | updated_at | expired_time | share_name_for_fuzzy | status
//! operator   := = | != | > | >= | < | <= | match | in
//! value      := string | "[" string ( "," string )* "]"
//! string     := '...' | "..."        (backslash escapes the quote and itself)
//! ```
//!
//! `and` binds tighter than `or`; keywords are case-insensitive. Times are RFC 3339, or
//! `YYYY-MM-DDTHH:MM:SS[.fff]` meaning UTC; `expired_time = '1970-01-01T00:00:00'` finds the
//! shares that never expire. `status` is `enabled` or `disabled` (cancelled).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use shareledger_projections::my_share_links::{Cmp, Filter, StoredStatus, TimeField};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 4096;
/// The deepest nesting of parentheses.
const MAX_DEPTH: usize = 32;
/// The most conditions in one query.
const MAX_CONDITIONS: usize = 100;

/// Why a query was refused, and where (a 1-based character position in the query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Op(Cmp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Op(_) => "an operator".to_owned(),
            Tok::LParen => "`(`".to_owned(),
            Tok::RParen => "`)`".to_owned(),
            Tok::LBracket => "`[`".to_owned(),
            Tok::RBracket => "`]`".to_owned(),
            Tok::Comma => "`,`".to_owned(),
            Tok::End => "the end of the query".to_owned(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }
}

/// Tokens with their 1-based positions.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |position: usize, message: String| QueryError { position, message };
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Op(Cmp::Eq)),
            _ => None,
        };
        if let Some(tok) = single {
            out.push((tok, at));
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        match c {
            '!' | '<' | '>' => {
                let (op, len) = match (c, next) {
                    ('!', Some('=')) => (Cmp::Ne, 2),
                    ('<', Some('>')) => (Cmp::Ne, 2),
                    ('<', Some('=')) => (Cmp::Le, 2),
                    ('>', Some('=')) => (Cmp::Ge, 2),
                    ('<', _) => (Cmp::Lt, 1),
                    ('>', _) => (Cmp::Gt, 1),
                    _ => return Err(err(at, "`!` must be followed by `=`".to_owned())),
                };
                out.push((Tok::Op(op), at));
                i += len;
            }
            '\'' | '"' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(at, "this string is not closed".to_owned())),
                        Some('\\') => match chars.get(i + 1) {
                            Some(&escaped) => {
                                value.push(escaped);
                                i += 2;
                            }
                            None => return Err(err(at, "this string is not closed".to_owned())),
                        },
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            value.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Str(value), at));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Word(chars[start..i].iter().collect()), at));
            }
            other => return Err(err(at, format!("unexpected character `{other}`"))),
        }
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

/// The operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Cmp(Cmp),
    Match,
    In,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
    conditions: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.peek().clone();
        if self.at < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn fail<T>(&self, position: usize, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            position,
            message: message.into(),
        })
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek().0.is_word("or") {
            self.bump();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Any(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.primary()?];
        while self.peek().0.is_word("and") {
            self.bump();
            parts.push(self.primary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::All(parts)
        })
    }

    fn primary(&mut self) -> Result<Filter, QueryError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::LParen => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.fail(pos, format!("parentheses are nested deeper than {MAX_DEPTH}"));
                }
                let inner = self.or()?;
                let (close, at) = self.bump();
                if close != Tok::RParen {
                    return self.fail(at, format!("expected `)` but found {}", close.describe()));
                }
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(field) => self.condition(&field, pos),
            other => self.fail(
                pos,
                format!("expected a field name or `(` but found {}", other.describe()),
            ),
        }
    }

    fn condition(&mut self, field: &str, field_pos: usize) -> Result<Filter, QueryError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return self.fail(field_pos, format!("a query has at most {MAX_CONDITIONS} conditions"));
        }
        let (tok, op_pos) = self.bump();
        let op = match tok {
            Tok::Op(cmp) => Operator::Cmp(cmp),
            Tok::Word(w) if w.eq_ignore_ascii_case("match") => Operator::Match,
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => Operator::In,
            other => {
                return self.fail(
                    op_pos,
                    format!(
                        "expected an operator (=, !=, >, >=, <, <=, match, in) but found {}",
                        other.describe()
                    ),
                );
            }
        };
        let values = self.values(op)?;
        let field_name = field.to_ascii_lowercase();
        match field_name.as_str() {
            "created_at" | "updated_at" | "expired_time" => {
                let time_field = match field_name.as_str() {
                    "created_at" => TimeField::Created,
                    "updated_at" => TimeField::Updated,
                    _ => TimeField::Expires,
                };
                let times = values
                    .iter()
                    .map(|(text, pos)| {
                        parse_time(text).ok_or_else(|| QueryError {
                            position: *pos,
                            message: format!("'{text}' is not a time (e.g. '2022-01-18T02:50:00')"),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let at = |t: DateTime<Utc>, cmp| Filter::Time {
                    field: time_field,
                    cmp,
                    at: t,
                };
                match op {
                    Operator::Cmp(cmp) => Ok(at(times[0], cmp)),
                    Operator::In => Ok(Filter::Any(times.into_iter().map(|t| at(t, Cmp::Eq)).collect())),
                    Operator::Match => self.fail(op_pos, format!("`match` does not apply to {field_name}")),
                }
            }
            "share_name_for_fuzzy" => match op {
                Operator::Match => {
                    let (text, pos) = &values[0];
                    if text.chars().count() > 128 {
                        return self.fail(*pos, "the name to match is at most 128 characters");
                    }
                    Ok(Filter::NameContains(text.clone()))
                }
                _ => self.fail(op_pos, "share_name_for_fuzzy takes `match` only"),
            },
            "status" => {
                let statuses = values
                    .iter()
                    .map(|(text, pos)| match text.as_str() {
                        "enabled" => Ok(StoredStatus::Active),
                        "disabled" => Ok(StoredStatus::Cancelled),
                        _ => self.fail(*pos, format!("status is 'enabled' or 'disabled', not '{text}'")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                match op {
                    Operator::Cmp(Cmp::Eq) | Operator::In => Ok(Filter::StatusIn(statuses)),
                    Operator::Cmp(Cmp::Ne) => Ok(Filter::Not(Box::new(Filter::StatusIn(statuses)))),
                    _ => self.fail(op_pos, "status takes =, != or in"),
                }
            }
            _ => self.fail(
                field_pos,
                format!("unknown field `{field}` (created_at, updated_at, expired_time, share_name_for_fuzzy, status)"),
            ),
        }
    }

    /// One string, or a bracketed list of them after `in`.
    fn values(&mut self, op: Operator) -> Result<Vec<(String, usize)>, QueryError> {
        let (tok, pos) = self.bump();
        if op != Operator::In {
            return match tok {
                Tok::Str(s) => Ok(vec![(s, pos)]),
                other => self.fail(pos, format!("expected a quoted value but found {}", other.describe())),
            };
        }
        if tok != Tok::LBracket {
            return self.fail(pos, format!("expected `[` after `in` but found {}", tok.describe()));
        }
        let mut values = Vec::new();
        loop {
            let (tok, pos) = self.bump();
            match tok {
                Tok::Str(s) => values.push((s, pos)),
                other => return self.fail(pos, format!("expected a quoted value but found {}", other.describe())),
            }
            let (tok, pos) = self.bump();
            match tok {
                Tok::Comma => continue,
                Tok::RBracket => return Ok(values),
                other => return self.fail(pos, format!("expected `,` or `]` but found {}", other.describe())),
            }
        }
    }
}

/// RFC 3339, or a date and time without offset taken as UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// Parses a query; an empty (or blank) one is no condition at all.
pub fn parse(text: &str) -> Result<Option<Filter>, QueryError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError {
            position: MAX_QUERY_CHARS + 1,
            message: format!("the query is longer than {MAX_QUERY_CHARS} characters"),
        });
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
        depth: 0,
        conditions: 0,
    };
    let filter = p.or()?;
    let (tok, pos) = p.bump();
    if tok != Tok::End {
        return Err(QueryError {
            position: pos,
            message: format!(
                "expected `and`, `or` or the end of the query but found {}",
                tok.describe()
            ),
        });
    }
    Ok(Some(filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    fn time(field: TimeField, cmp: Cmp, at: &str) -> Filter {
        Filter::Time { field, cmp, at: t(at) }
    }

    fn error(query: &str) -> QueryError {
        parse(query).expect_err(query)
    }

    #[test]
    fn the_reference_example_parses_into_three_conditions() {
        let f = parse(
            "created_at>='2022-01-18T02:50:00' and share_name_for_fuzzy match 'HD.mp4' and status in ['enabled']",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            f,
            Filter::All(vec![
                time(TimeField::Created, Cmp::Ge, "2022-01-18T02:50:00"),
                Filter::NameContains("HD.mp4".into()),
                Filter::StatusIn(vec![StoredStatus::Active]),
            ])
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override_it() {
        let a = || Filter::NameContains("a".into());
        let b = || Filter::NameContains("b".into());
        let c = || Filter::NameContains("c".into());
        let q = "share_name_for_fuzzy match 'a' or share_name_for_fuzzy match 'b' and share_name_for_fuzzy match 'c'";
        assert_eq!(
            parse(q).unwrap().unwrap(),
            Filter::Any(vec![a(), Filter::All(vec![b(), c()])])
        );
        let q = "(share_name_for_fuzzy match 'a' OR share_name_for_fuzzy match 'b') AND share_name_for_fuzzy MATCH 'c'";
        assert_eq!(
            parse(q).unwrap().unwrap(),
            Filter::All(vec![Filter::Any(vec![a(), b()]), c()])
        );
    }

    #[test]
    fn every_operator_and_field() {
        for (op, cmp) in [
            ("=", Cmp::Eq),
            ("!=", Cmp::Ne),
            ("<>", Cmp::Ne),
            (">", Cmp::Gt),
            (">=", Cmp::Ge),
            ("<", Cmp::Lt),
            ("<=", Cmp::Le),
        ] {
            let q = format!("updated_at {op} \"2022-01-18T02:50:00Z\"");
            assert_eq!(
                parse(&q).unwrap().unwrap(),
                time(TimeField::Updated, cmp, "2022-01-18T02:50:00Z")
            );
        }
        assert_eq!(
            parse("expired_time = '1970-01-01T00:00:00'").unwrap().unwrap(),
            time(TimeField::Expires, Cmp::Eq, "1970-01-01T00:00:00Z")
        );
        assert_eq!(
            parse("expired_time in ['2030-01-01T00:00:00+08:00', '2031-01-01 00:00:00.5']")
                .unwrap()
                .unwrap(),
            Filter::Any(vec![
                time(TimeField::Expires, Cmp::Eq, "2029-12-31T16:00:00Z"),
                time(TimeField::Expires, Cmp::Eq, "2031-01-01T00:00:00.5Z"),
            ])
        );
        assert_eq!(
            parse("status = 'disabled'").unwrap().unwrap(),
            Filter::StatusIn(vec![StoredStatus::Cancelled])
        );
        assert_eq!(
            parse("status != 'disabled'").unwrap().unwrap(),
            Filter::Not(Box::new(Filter::StatusIn(vec![StoredStatus::Cancelled])))
        );
        assert_eq!(
            parse("status in ['enabled', 'disabled']").unwrap().unwrap(),
            Filter::StatusIn(vec![StoredStatus::Active, StoredStatus::Cancelled])
        );
    }

    #[test]
    fn strings_take_escapes_and_wildcards_literally() {
        assert_eq!(
            parse(r"share_name_for_fuzzy match 'it\'s 100%_\\'").unwrap().unwrap(),
            Filter::NameContains(r"it's 100%_\".into())
        );
    }

    #[test]
    fn blank_queries_are_no_condition() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  \t").unwrap(), None);
    }

    #[test]
    fn errors_point_at_the_offending_position() {
        let e = error("created_at >= '2022-01-18T02:50:00' and");
        assert_eq!(e.position, 40);
        assert!(e.message.contains("end of the query"), "{e}");

        let e = error("share_name match 'x'");
        assert_eq!(e.position, 1);
        assert!(e.message.contains("unknown field `share_name`"), "{e}");

        let e = error("status = 'open'");
        assert_eq!(e.position, 10);
        assert!(e.message.contains("'enabled' or 'disabled'"), "{e}");

        let e = error("created_at >= 'yesterday'");
        assert_eq!((e.position, e.to_string().contains("is not a time")), (15, true));

        let e = error("created_at ~ '2022-01-18'");
        assert_eq!(e.position, 12);

        let e = error("(status = 'enabled'");
        assert_eq!(e.position, 20);
        assert!(e.message.contains("expected `)`"), "{e}");

        let e = error("status = 'enabled' status = 'disabled'");
        assert_eq!(e.position, 20);

        let e = error("share_name_for_fuzzy match 'abc");
        assert_eq!((e.position, e.message.as_str()), (28, "this string is not closed"));

        let e = error("status in 'enabled'");
        assert!(e.message.contains("expected `[`"), "{e}");
        let e = error("status in ['enabled' 'disabled']");
        assert_eq!(e.position, 22);
        let e = error("created_at match '2022-01-18T02:50:00'");
        assert_eq!(e.position, 12);
        let e = error("status > 'enabled'");
        assert_eq!(e.position, 8);
        let e = error("share_name_for_fuzzy = 'x'");
        assert_eq!(e.position, 22);
        let e = error("status = 'enabled' ; drop table events");
        assert_eq!((e.position, e.message.as_str()), (20, "unexpected character `;`"));
        let e = error("名前 = 'x'");
        assert_eq!(e.position, 1);
    }

    #[test]
    fn size_limits_hold() {
        let deep = format!("{}status = 'enabled'{}", "(".repeat(40), ")".repeat(40));
        assert!(error(&deep).message.contains("nested deeper"));
        let many = vec!["status = 'enabled'"; 101].join(" or ");
        assert!(error(&many).message.contains("at most 100 conditions"));
        let long = format!("share_name_for_fuzzy match '{}'", "x".repeat(5000));
        assert!(error(&long).message.contains("longer than"));
        let long_name = format!("share_name_for_fuzzy match '{}'", "x".repeat(129));
        assert!(error(&long_name).message.contains("at most 128"));
    }

    #[test]
    fn a_name_is_required_by_a_match_alone_or_in_an_and_never_under_or_or_not() {
        let name = |query: &str| {
            parse(query)
                .unwrap()
                .as_ref()
                .and_then(Filter::required_name)
                .map(str::to_owned)
        };
        assert_eq!(name("share_name_for_fuzzy match 'q1'").as_deref(), Some("q1"));
        assert_eq!(
            name("status = 'enabled' and (share_name_for_fuzzy match 'ab' and share_name_for_fuzzy match 'report')")
                .as_deref(),
            Some("report")
        );
        assert_eq!(name("status = 'enabled' or share_name_for_fuzzy match 'q1'"), None);
        let not = Filter::Not(Box::new(Filter::NameContains("q1".into())));
        assert_eq!(not.required_name(), None);
        assert_eq!(name("status = 'enabled'"), None);
    }
}
