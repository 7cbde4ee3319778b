//! A small JSON parser that records the byte span of every value and key.
//!
//! ARM accepts `//` and `/* */` comments in templates (and trailing commas), so this parser does
//! too. The rewriter never re-serialises the file: it locates what to change with these spans and
//! edits the original text, so everything it does not touch stays byte for byte.

use std::ops::Range;

/// A parsed value with the byte range it covers in the source text.
#[derive(Debug, Clone)]
pub struct Node {
    /// Byte range of the value in the source, quotes and brackets included.
    pub span: Range<usize>,
    /// The value itself.
    pub value: Value,
}

/// One member of an object: key, where the key is, and the value.
#[derive(Debug, Clone)]
pub struct Member {
    /// The decoded key.
    pub key: String,
    /// Byte range of the key, quotes included.
    pub key_span: Range<usize>,
    /// The member's value.
    pub value: Node,
}

/// The kinds of JSON value.
#[derive(Debug, Clone)]
pub enum Value {
    /// `{ ... }`, members in source order (duplicates kept).
    Object(Vec<Member>),
    /// `[ ... ]`.
    Array(Vec<Node>),
    /// A string, decoded.
    String(String),
    /// A number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// Where and why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl Node {
    /// The members if this is an object.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.value {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The items if this is an array.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The decoded string if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean if this is `true`/`false`.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The member named `key` (ARM keys are case-insensitive; the first match wins).
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members()?
            .iter()
            .find(|m| m.key.eq_ignore_ascii_case(key))
    }

    /// The value of member `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.member(key).map(|m| &m.value)
    }

    /// The string value of member `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// Follows a path of member keys.
    pub fn at(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    /// Every string node below (and including) this one, keys excluded.
    pub fn walk_strings<'a>(&'a self, out: &mut Vec<&'a Node>) {
        match &self.value {
            Value::String(_) => out.push(self),
            Value::Object(ms) => ms.iter().for_each(|m| m.value.walk_strings(out)),
            Value::Array(items) => items.iter().for_each(|n| n.walk_strings(out)),
            _ => {}
        }
    }

    /// Every object member below this one (depth first), with its key span.
    pub fn walk_members<'a>(&'a self, out: &mut Vec<&'a Member>) {
        match &self.value {
            Value::Object(ms) => ms.iter().for_each(|m| {
                out.push(m);
                m.value.walk_members(out)
            }),
            Value::Array(items) => items.iter().for_each(|n| n.walk_members(out)),
            _ => {}
        }
    }
}

/// Parses JSON with comments and trailing commas; a leading UTF-8 BOM is skipped.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws()?;
    let node = p.value(0)?;
    p.skip_ws()?;
    if p.pos < p.src.len() {
        return Err(p.error("unexpected text after the end of the document"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
}

const MAX_DEPTH: usize = 256;

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        let before = &self.text[..self.pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ParseError {
            line,
            column,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'/') => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.pos;
                    self.pos += 2;
                    loop {
                        match self.peek() {
                            None => {
                                self.pos = start;
                                return Err(self.error("unterminated /* comment"));
                            }
                            Some(b'*') if self.src.get(self.pos + 1) == Some(&b'/') => {
                                self.pos += 2;
                                break;
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.word("true", Value::Bool(true))?,
            Some(b'f') => self.word("false", Value::Bool(false))?,
            Some(b'n') => self.word("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            None => return Err(self.error("unexpected end of text")),
            Some(_) => return Err(self.error("expected a JSON value")),
        };
        Ok(Node {
            span: start..self.pos,
            value,
        })
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, ParseError> {
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let text = &self.text[start..self.pos];
        if text.parse::<f64>().is_err() {
            self.pos = start;
            return Err(self.error("malformed number"));
        }
        Ok(Value::Number(text.to_string()))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return Err(self.error("unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let esc = self.src.get(self.pos + 1).copied();
                    self.pos += 2;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            if (0xd800..0xdc00).contains(&hi)
                                && self.src[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
                                let lo = self.hex4()?;
                                let c = 0x10000 + ((hi - 0xd800) << 10) + (lo.wrapping_sub(0xdc00));
                                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            } else {
                                out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                            }
                        }
                        _ => {
                            self.pos -= 2;
                            return Err(self.error("invalid escape in string"));
                        }
                    }
                }
                b'\n' => return Err(self.error("line break inside a string")),
                _ => {
                    // Copy one whole UTF-8 character.
                    let len = utf8_len(c);
                    out.push_str(&self.text[self.pos..self.pos + len]);
                    self.pos += len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut members = Vec::new();
        loop {
            self.skip_ws()?;
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                Some(b'"') => {}
                _ => return Err(self.error("expected a quoted key or '}'")),
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.skip_ws()?;
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after the key"));
            }
            self.pos += 1;
            self.skip_ws()?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_values_and_keys() {
        let text = r#"{ "a": [1, "x"], "b": {"c": true} }"#;
        let root = parse(text).unwrap();
        let a = root.member("a").unwrap();
        assert_eq!(&text[a.key_span.clone()], "\"a\"");
        assert_eq!(&text[a.value.span.clone()], "[1, \"x\"]");
        assert_eq!(root.at(&["b", "c"]).unwrap().as_bool(), Some(true));
    }

    #[test]
    fn comments_and_trailing_commas_are_accepted() {
        let text = "// head\n{ /* a */ \"a\": 1, // tail\n \"b\": [2,], }\n";
        let root = parse(text).unwrap();
        assert_eq!(root.members().unwrap().len(), 2);
    }

    #[test]
    fn escapes_are_decoded() {
        let root = parse(r#"["a\"b\u00e9\ud83d\ude00/"]"#).unwrap();
        assert_eq!(root.items().unwrap()[0].as_str(), Some("a\"bé😀/"));
    }

    #[test]
    fn errors_say_where() {
        let err = parse("{\n  \"a\": tru\n}").unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
        assert!(parse("{} x").is_err());
        assert!(parse("/* open").is_err());
        assert!(parse("").is_err());
    }
}
