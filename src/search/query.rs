//! The search language: text → [`Node`] tree, or a [`QueryError`] that names the
//! problem and where it is. Pure (no tantivy); `search` turns the tree into a query.
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*          adjacent clauses must all match
//! unary   := ("NOT" | "-") unary | "+"? primary
//! primary := "(" or ")" | [field ":"] value
//! value   := word | word "~" N | word "*" | '"' phrase '"' ["~" N]
//!          | (">" | ">=" | "<" | "<=") word | word ".." word
//! ```

use std::fmt;

use crate::lead::Millis;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Most clauses (field:value pairs and words) in one query.
pub const MAX_CLAUSES: usize = 256;
/// Deepest parenthesis nesting.
const MAX_DEPTH: usize = 32;
/// Largest fuzzy edit distance (tantivy's automata stop at 2).
const MAX_FUZZY: u8 = 2;

/// What a clause searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Tokenised full text.
    Text,
    /// One exact, case-insensitive value (possibly several per lead).
    Keyword,
    /// A number compared with ranges.
    Number,
    /// A time compared with ranges (dates or relative ages).
    Time,
    /// `has:email` and friends.
    Has,
}

/// The fields a query may name: (name, aliases, kind). The order is the help order.
pub const FIELDS: &[(&str, &[&str], FieldKind)] = &[
    ("name", &[], FieldKind::Text),
    ("title", &["job_title"], FieldKind::Text),
    ("company", &[], FieldKind::Text),
    ("location", &[], FieldKind::Text),
    ("email", &[], FieldKind::Text),
    ("vendor", &["source"], FieldKind::Keyword),
    ("workflow", &[], FieldKind::Keyword),
    ("domain", &[], FieldKind::Keyword),
    ("seniority", &[], FieldKind::Keyword),
    ("email_status", &[], FieldKind::Keyword),
    ("city", &[], FieldKind::Keyword),
    ("region", &["state"], FieldKind::Keyword),
    ("country", &[], FieldKind::Keyword),
    ("linkedin", &[], FieldKind::Keyword),
    ("quality", &["score"], FieldKind::Number),
    ("id", &[], FieldKind::Number),
    ("created", &[], FieldKind::Time),
    ("has", &[], FieldKind::Has),
    ("is", &[], FieldKind::Has),
];

/// What `has:` accepts.
pub const HAS_VALUES: &[&str] = &["email", "linkedin", "phone", "title", "company", "location"];
/// What `is:` accepts: `review` (keys contradict), `merged` (other leads were merged into it).
pub const IS_VALUES: &[&str] = &["review", "merged"];

/// The lead ids `node` names one by one (`id:42`), for resolving merged ids.
pub fn exact_ids(node: &Node) -> Vec<u64> {
    match node {
        Node::All => Vec::new(),
        Node::And(parts) | Node::Or(parts) => parts.iter().flat_map(exact_ids).collect(),
        Node::Not(inner) => exact_ids(inner),
        Node::Clause(Clause { field: Some("id"), value: Value::Range { from: Some(a), to: Some(b) } })
            if a == b && *a >= 0 =>
        {
            vec![*a as u64]
        }
        Node::Clause(_) => Vec::new(),
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Everything (the empty query or `*`).
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Clause(Clause),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The canonical field name (from [`FIELDS`]); `None` searches every text field.
    pub field: Option<&'static str>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Word(String),
    Phrase {
        text: String,
        slop: u32,
    },
    Fuzzy {
        word: String,
        distance: u8,
    },
    Prefix(String),
    /// Inclusive bounds, already resolved to numbers (times in epoch milliseconds).
    Range {
        from: Option<i64>,
        to: Option<i64>,
    },
}

/// A query the language cannot read: what is wrong, and the 1-based character column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct QueryError {
    pub message: String,
    pub column: usize,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query syntax, column {}: {}", self.column, self.message)
    }
}

/// Parses `input`; `now` resolves relative times such as `created:>2h`.
pub fn parse(input: &str, now: Millis) -> Result<Node, QueryError> {
    check_input(input)?;
    let tokens = lex(input)?;
    let mut parser = Parser { tokens, pos: 0, now, clauses: 0, end: input.chars().count() + 1 };
    if parser.tokens.is_empty() {
        return Ok(Node::All);
    }
    let node = parser.or(0)?;
    match parser.tokens.get(parser.pos) {
        None => Ok(node),
        Some(t) if t.kind == Tok::Close => Err(err(t.column, "')' without a matching '(' — remove it")),
        Some(t) => Err(err(t.column, "unexpected text here")),
    }
}

fn err(column: usize, message: impl Into<String>) -> QueryError {
    QueryError { message: message.into(), column }
}

fn check_input(input: &str) -> Result<(), QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        let message = format!(
            "the query is {} bytes long; the limit is {MAX_QUERY_BYTES} — shorten it or split it in parts",
            input.len()
        );
        return Err(err(1, message));
    }
    if let Some((i, c)) = input.chars().enumerate().find(|(_, c)| c.is_control() && !c.is_whitespace()) {
        let message = format!("control character U+{:04X} is not allowed — remove it", c as u32);
        return Err(err(i + 1, message));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Not,
    /// `+` before a clause: required, as every clause already is.
    Plus,
    /// A field prefix `name:` followed directly by its value.
    Field(String),
    Word(String),
    Phrase {
        text: String,
        slop: Option<u32>,
    },
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    column: usize,
}

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let kind = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Tok::Open,
            ')' => Tok::Close,
            '"' => {
                let (kind, next) = lex_phrase(&chars, i)?;
                out.push(Token { kind, column });
                i = next;
                continue;
            }
            '-' | '!' if starts_clause(chars.get(i + 1)) => Tok::Not,
            '+' if starts_clause(chars.get(i + 1)) => Tok::Plus,
            _ => {
                let (tokens, next) = lex_word(&chars, i);
                out.extend(tokens);
                i = next;
                continue;
            }
        };
        out.push(Token { kind, column });
        i += 1;
    }
    Ok(out)
}

fn starts_clause(next: Option<&char>) -> bool {
    next.is_some_and(|c| !c.is_whitespace() && *c != ')')
}

/// A quoted phrase from `chars[start] == '"'`, with an optional `~N` slop.
fn lex_phrase(chars: &[char], start: usize) -> Result<(Tok, usize), QueryError> {
    let Some(len) = chars[start + 1..].iter().position(|c| *c == '"') else {
        return Err(err(start + 1, "this quote is never closed — add the closing \" or remove it"));
    };
    let text: String = chars[start + 1..start + 1 + len].iter().collect();
    let mut next = start + len + 2;
    let mut slop = None;
    if chars.get(next) == Some(&'~') {
        let digits: String = chars[next + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
        let n = digits
            .parse::<u32>()
            .map_err(|_| err(next + 1, "'~' after a phrase needs a number, e.g. \"vp marketing\"~2"))?;
        slop = Some(n.min(100));
        next += 1 + digits.len();
    }
    Ok((Tok::Phrase { text, slop }, next))
}

/// A bare word from `chars[start]`, split into a field prefix when it has one.
fn lex_word(chars: &[char], start: usize) -> (Vec<Token>, usize) {
    let len = chars[start..].iter().position(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"'));
    let end = len.map_or(chars.len(), |n| start + n);
    let word: String = chars[start..end].iter().collect();
    let token = |kind| Token { kind, column: start + 1 };
    let keyword = match word.as_str() {
        "AND" | "&&" => Some(Tok::And),
        "OR" | "||" => Some(Tok::Or),
        "NOT" => Some(Tok::Not),
        _ => None,
    };
    if let Some(kind) = keyword {
        return (vec![token(kind)], end);
    }
    match word.split_once(':') {
        // A URL is a word, not a field.
        Some((field, rest)) if !field.is_empty() && !rest.starts_with("//") => {
            let mut tokens = vec![token(Tok::Field(field.to_owned()))];
            if !rest.is_empty() {
                let column = start + field.chars().count() + 2;
                tokens.push(Token { kind: Tok::Word(rest.to_owned()), column });
            }
            (tokens, end)
        }
        _ => (vec![token(Tok::Word(word))], end),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    now: Millis,
    clauses: usize,
    /// The column just past the input, for "expected more" errors.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.column)
    }

    fn or(&mut self, depth: usize) -> Result<Node, QueryError> {
        let mut parts = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::Or(parts) })
    }

    fn and(&mut self, depth: usize) -> Result<Node, QueryError> {
        let mut parts = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                None | Some(Tok::Or | Tok::Close) => break,
                Some(Tok::And) => self.pos += 1,
                Some(_) => {}
            }
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::And(parts) })
    }

    fn unary(&mut self, depth: usize) -> Result<Node, QueryError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.unary(depth)?)))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.primary(depth)
            }
            _ => self.primary(depth),
        }
    }

    fn primary(&mut self, depth: usize) -> Result<Node, QueryError> {
        let column = self.column();
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Err(err(column, "the query ends where a search term was expected"));
        };
        self.pos += 1;
        match token.kind {
            Tok::Open => self.group(column, depth),
            Tok::Field(name) => self.field_clause(&name, column),
            Tok::Word(word) if word == "*" => Ok(Node::All),
            Tok::Word(_) | Tok::Phrase { .. } => self.clause(None, token.kind, column),
            Tok::Close => Err(err(column, "')' without a matching '(' — remove it")),
            Tok::And | Tok::Or => Err(err(column, "AND/OR needs a search term on both sides")),
            Tok::Not | Tok::Plus => Err(err(column, "NOT needs a search term after it")),
        }
    }

    fn group(&mut self, column: usize, depth: usize) -> Result<Node, QueryError> {
        if depth >= MAX_DEPTH {
            return Err(err(column, format!("parentheses nest deeper than {MAX_DEPTH} levels")));
        }
        if self.peek() == Some(&Tok::Close) {
            return Err(err(column, "empty parentheses — put a search term inside or remove them"));
        }
        let inner = self.or(depth + 1)?;
        if self.peek() != Some(&Tok::Close) {
            return Err(err(column, "this '(' is never closed — add ')'"));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn field_clause(&mut self, name: &str, column: usize) -> Result<Node, QueryError> {
        let field = lookup_field(name).map_err(|message| err(column, message))?;
        let value_column = self.column();
        match self.tokens.get(self.pos).map(|t| t.kind.clone()) {
            Some(kind @ (Tok::Word(_) | Tok::Phrase { .. })) => {
                self.pos += 1;
                self.clause(Some(field), kind, value_column)
            }
            _ => Err(err(
                column,
                format!("'{name}:' needs a value right after the colon, e.g. {}", example(field)),
            )),
        }
    }

    fn clause(&mut self, field: Option<&'static str>, token: Tok, column: usize) -> Result<Node, QueryError> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(err(column, format!("more than {MAX_CLAUSES} search terms — narrow the query")));
        }
        let kind = field.map_or(FieldKind::Text, field_kind);
        let value = match token {
            Tok::Phrase { text, slop } => phrase_value(kind, field, text, slop),
            Tok::Word(word) => word_value(kind, field, &word, self.now),
            _ => Err("expected a value".to_owned()),
        }
        .map_err(|message| err(column, message))?;
        Ok(Node::Clause(Clause { field, value }))
    }
}

fn lookup_field(name: &str) -> Result<&'static str, String> {
    let lower = name.to_lowercase();
    if let Some((canonical, _, _)) =
        FIELDS.iter().find(|(n, aliases, _)| *n == lower || aliases.contains(&lower.as_str()))
    {
        return Ok(canonical);
    }
    let known: Vec<&str> = FIELDS.iter().map(|(n, _, _)| *n).collect();
    let closest = known
        .iter()
        .min_by_key(|k| strsim::levenshtein(k, &lower))
        .filter(|k| strsim::levenshtein(k, &lower) <= 2);
    let hint = closest.map(|k| format!(" — did you mean '{k}'?")).unwrap_or_default();
    Err(format!("unknown field '{name}'{hint} Known fields: {}", known.join(", ")))
}

fn field_kind(name: &str) -> FieldKind {
    FIELDS.iter().find(|(n, _, _)| *n == name).map_or(FieldKind::Text, |(_, _, k)| *k)
}

fn example(field: &str) -> String {
    match field_kind(field) {
        FieldKind::Number => format!("{field}:>=80"),
        FieldKind::Time => format!("{field}:>2026-11-01"),
        FieldKind::Has if field == "is" => "is:review".to_owned(),
        FieldKind::Has => "has:email".to_owned(),
        _ => format!("{field}:\"some value\""),
    }
}

fn phrase_value(
    kind: FieldKind,
    field: Option<&str>,
    text: String,
    slop: Option<u32>,
) -> Result<Value, String> {
    match kind {
        FieldKind::Text => Ok(Value::Phrase { text, slop: slop.unwrap_or(0) }),
        FieldKind::Keyword if slop.is_none() => Ok(Value::Word(text)),
        _ => Err(format!("'{}:' does not take a quoted phrase", field.unwrap_or("text"))),
    }
}

fn word_value(kind: FieldKind, field: Option<&str>, word: &str, now: Millis) -> Result<Value, String> {
    let name = field.unwrap_or("text");
    match kind {
        FieldKind::Number | FieldKind::Time => range_value(kind, name, word, now),
        FieldKind::Has => {
            let lower = word.to_lowercase();
            let known = if name == "is" { IS_VALUES } else { HAS_VALUES };
            if known.contains(&lower.as_str()) {
                // Both live in the index's `has` field; `is:` values carry their prefix.
                Ok(Value::Word(if name == "is" { format!("is-{lower}") } else { lower }))
            } else {
                Err(format!("{name}:{word} is not known; use one of {}", known.join(", ")))
            }
        }
        FieldKind::Text | FieldKind::Keyword => text_value(kind, name, word),
    }
}

fn text_value(kind: FieldKind, name: &str, word: &str) -> Result<Value, String> {
    if let Some((stem, distance)) = word.rsplit_once('~') {
        let distance = distance.parse::<u8>().unwrap_or(u8::MAX);
        if stem.is_empty() || distance > MAX_FUZZY {
            return Err(format!("fuzzy terms look like markting~1 (edit distance 0 to {MAX_FUZZY})"));
        }
        return Ok(Value::Fuzzy { word: stem.to_owned(), distance });
    }
    if let Some(stem) = word.strip_suffix('*') {
        if stem.is_empty() || stem.contains('*') {
            return Err("a prefix search needs letters before the '*', e.g. market*".to_owned());
        }
        return Ok(Value::Prefix(stem.to_owned()));
    }
    if kind == FieldKind::Text && word.starts_with(['>', '<']) {
        return Err(format!("'{name}' is text; ranges work on quality, id and created"));
    }
    Ok(Value::Word(word.to_owned()))
}

/// `>=80`, `<2026-11-01`, `10..20`, `80`, `created:>2h` (within the last two hours).
fn range_value(kind: FieldKind, name: &str, word: &str, now: Millis) -> Result<Value, String> {
    let point = |text: &str| -> Result<(i64, i64), String> {
        match kind {
            FieldKind::Number => {
                let n = text.parse::<i64>().map_err(|_| format!("'{name}' needs a whole number, got '{text}'"))?;
                Ok((n, n))
            }
            _ => time_span(text, now).ok_or_else(|| {
                format!("'{name}' needs a date (2026-11-01), a time (2026-11-01T09:30) or an age (30m, 2h, 7d); got '{text}'")
            }),
        }
    };
    let (from, to) = if let Some(rest) = word.strip_prefix(">=") {
        (Some(point(rest)?.0), None)
    } else if let Some(rest) = word.strip_prefix("<=") {
        (None, Some(point(rest)?.1))
    } else if let Some(rest) = word.strip_prefix('>') {
        (Some(point(rest)?.1.saturating_add(1)), None)
    } else if let Some(rest) = word.strip_prefix('<') {
        (None, Some(point(rest)?.0.saturating_sub(1)))
    } else if let Some((lo, hi)) = word.split_once("..") {
        (Some(point(lo)?.0), Some(point(hi)?.1))
    } else {
        let (lo, hi) = point(word)?;
        (Some(lo), Some(hi))
    };
    Ok(Value::Range { from, to })
}

/// The span of time a value names, inclusive, in epoch milliseconds: a whole day for a
/// date, a minute for `THH:MM`, a second for `THH:MM:SS`; an age (`2h`) is the
/// instant that long before `now`.
fn time_span(text: &str, now: Millis) -> Option<(i64, i64)> {
    if let Some(age) = age_millis(text) {
        let at = now.saturating_sub(age);
        return Some((at, at));
    }
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t.trim_end_matches(['Z', 'z']))),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day_start = days_from_civil(y, m, d) * 86_400_000;
    let Some(time) = time else { return Some((day_start, day_start + 86_399_999)) };
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (hms.next()??, hms.next()??, hms.next());
    if !(0..24).contains(&h) || !(0..60).contains(&min) {
        return None;
    }
    let start = day_start + (h * 60 + min) * 60_000;
    match sec {
        Some(s) => {
            let s = s?;
            (0..60).contains(&s).then_some((start + s * 1000, start + s * 1000 + 999))
        }
        None => Some((start, start + 59_999)),
    }
}

fn age_millis(text: &str) -> Option<i64> {
    let unit = match text.chars().last()? {
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    let n = text[..text.len() - 1].parse::<i64>().ok()?;
    n.checked_mul(unit)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
