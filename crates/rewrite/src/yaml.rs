//! A small YAML reader that records the byte span of every scalar.
//!
//! General YAML libraries give values, not positions, and re-serialising would lose comments,
//! quoting and layout. This reader covers what deployment files use — block and flow
//! collections, plain, quoted and block scalars, comments, multi-document streams, anchors,
//! aliases and tags — and builds a tree whose scalars know where they are, so a rewrite can edit
//! exactly those bytes. It is strict where real parsers are strict (bad indentation, tab
//! indentation, unterminated quotes and flow collections, `key: value` where a value was
//! expected) so that a broken file is reported with its line rather than half rewritten. Complex
//! keys (`? key`) are refused: deployment files do not use them.

use std::collections::HashMap;
use std::ops::Range;

/// How a scalar is written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Unquoted.
    Plain,
    /// `'single quoted'`.
    Single,
    /// `"double quoted"`.
    Double,
    /// A `|` literal block scalar.
    Literal,
    /// A `>` folded block scalar.
    Folded,
}

impl Style {
    /// True for block scalars (`|` or `>`).
    pub fn is_block(self) -> bool {
        matches!(self, Style::Literal | Style::Folded)
    }
}

/// A scalar with its place in the source.
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    /// The value after unquoting and folding (close enough for matching; never written back).
    pub value: String,
    /// The raw text of the value: inside the quotes, or the content lines of a block scalar.
    pub body: Range<usize>,
    /// How it is written.
    pub style: Style,
}

/// A node of the tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A mapping, entries in file order.
    Mapping(Vec<(Node, Node)>),
    /// A sequence.
    Sequence(Vec<Node>),
    /// `*name`.
    Alias(String),
    /// An empty value.
    Null,
}

impl Node {
    /// Moves every span of the tree `by` bytes further into the text.
    fn shift(&mut self, by: usize) {
        match self {
            Node::Scalar(scalar) => scalar.shift(by),
            Node::Mapping(entries) => entries.iter_mut().for_each(|(key, value)| {
                key.shift(by);
                value.shift(by);
            }),
            Node::Sequence(items) => items.iter_mut().for_each(|item| item.shift(by)),
            Node::Alias(_) | Node::Null => {}
        }
    }

    /// The scalar value, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(&s.value),
            _ => None,
        }
    }

    /// The value of `key` when this is a mapping with such a scalar key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Mapping(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl Scalar {
    /// Moves the span `by` bytes further into the text.
    fn shift(&mut self, by: usize) {
        self.body = self.body.start + by..self.body.end + by;
    }
}

/// One document of a stream.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The root node.
    pub root: Node,
    /// Scalars that carry an anchor, by anchor name.
    pub anchors: HashMap<String, Scalar>,
    /// The other nodes that carry an anchor (mappings, sequences), by anchor name: what a merge
    /// key `<<: *name` adds to a mapping.
    pub collections: HashMap<String, Node>,
}

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// True when the text nests collections deeper than [`MAX_DEPTH`]: it may be valid YAML
    /// (or JSON), but no deployment file is like it, and reading it would exhaust the stack.
    pub too_deep: bool,
}

/// How deeply collections may nest (block and flow alike, `- - x` counting twice). Kubernetes
/// manifests and Helm values rarely go past 20 levels; the reader, and every walk over the tree
/// it builds, recurses once per level, so a hostile file nested thousands deep (10 KB of `[`)
/// would overflow the stack and end the whole run. Deeper text is refused with a
/// [`YamlError`] whose `too_deep` is set, and the file is scanned as plain text instead.
pub(crate) const MAX_DEPTH: usize = 128;

/// Reads every document of a YAML stream.
///
/// A UTF-8 byte order mark at the start is not content (YAML allows one there, and
/// `kubectl` and Helm read such files): it is skipped, so the first key is read as written,
/// while every span still counts its bytes and so points into `src`.
pub(crate) fn parse(src: &str) -> std::result::Result<Vec<Document>, YamlError> {
    let text = src.strip_prefix('\u{feff}').unwrap_or(src);
    let bom = src.len() - text.len();
    let mut docs = Parser {
        s: text,
        b: text.as_bytes(),
        pos: 0,
        anchors: HashMap::new(),
        collections: HashMap::new(),
        depth: 0,
    }
    .stream()?;
    if bom > 0 {
        for doc in &mut docs {
            doc.root.shift(bom);
            for scalar in doc.anchors.values_mut() {
                scalar.shift(bom);
            }
            for node in doc.collections.values_mut() {
                node.shift(bom);
            }
        }
    }
    Ok(docs)
}

type Result<T> = std::result::Result<T, YamlError>;

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    anchors: HashMap<String, Scalar>,
    collections: HashMap<String, Node>,
    /// How many nodes are being read, one inside the other ([`MAX_DEPTH`] at most).
    depth: usize,
}

fn is_blank(b: Option<u8>) -> bool {
    matches!(b, None | Some(b' ' | b'\t' | b'\n' | b'\r'))
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn line_of(&self, pos: usize) -> usize {
        self.b[..pos.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
            + 1
    }

    fn line_start(&self, pos: usize) -> usize {
        self.b[..pos]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
    }

    fn col(&self, pos: usize) -> i32 {
        (pos - self.line_start(pos)) as i32
    }

    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T> {
        Err(YamlError {
            line: self.line_of(pos),
            message: message.into(),
            too_deep: false,
        })
    }

    /// Runs `read` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(&mut self, read: impl FnOnce(&mut Self) -> Result<Node>) -> Result<Node> {
        if self.depth >= MAX_DEPTH {
            return Err(YamlError {
                line: self.line_of(self.pos),
                message: format!("collections nested more than {MAX_DEPTH} levels deep"),
                too_deep: true,
            });
        }
        self.depth += 1;
        let node = read(self);
        self.depth -= 1;
        node
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// After spaces: end of line, end of input or a comment.
    fn at_line_end(&mut self) -> bool {
        self.skip_spaces();
        matches!(self.peek(), None | Some(b'\n' | b'#'))
    }

    /// Requires the rest of the line to be blank or a comment.
    fn expect_line_end(&mut self) -> Result<()> {
        if self.at_line_end() {
            Ok(())
        } else {
            self.err(
                self.pos,
                "unexpected text after a value (check indentation and quoting)",
            )
        }
    }

    fn is_doc_marker(&self, pos: usize) -> bool {
        (pos == 0 || self.b[pos - 1] == b'\n')
            && (self.s[pos..].starts_with("---") || self.s[pos..].starts_with("..."))
            && is_blank(self.at(pos + 3))
    }

    fn is_dash_entry(&self, pos: usize) -> bool {
        self.at(pos) == Some(b'-') && is_blank(self.at(pos + 1))
    }

    /// From a line end (rest of the line blank or comment), moves to the first character of the
    /// next line with content and returns its indentation; `None` at the end of input.
    fn next_content(&mut self) -> Result<Option<i32>> {
        loop {
            if !self.at_line_end() {
                return Ok(Some(self.col(self.pos)));
            }
            while !matches!(self.peek(), None | Some(b'\n')) {
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Ok(None);
            }
            self.pos += 1;
            let start = self.pos;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if self.peek() == Some(b'\t') {
                let mut p = self.pos;
                while matches!(self.at(p), Some(b' ' | b'\t' | b'\r')) {
                    p += 1;
                }
                if !matches!(self.at(p), None | Some(b'\n' | b'#')) {
                    return self.err(start, "tab character used for indentation");
                }
            }
            if !self.at_line_end() {
                return Ok(Some((self.pos - start) as i32));
            }
        }
    }

    fn stream(mut self) -> Result<Vec<Document>> {
        let mut docs = Vec::new();
        // Treat the start of input as a line start.
        let first = {
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if self.peek() == Some(b'\t') && !self.at_line_end() {
                return self.err(0, "tab character used for indentation");
            }
            if self.at_line_end() {
                self.next_content()?
            } else {
                Some(self.col(self.pos))
            }
        };
        let mut indent = first;
        while let Some(ind) = indent {
            let pos = self.pos;
            if ind == 0 && self.peek() == Some(b'%') {
                while !matches!(self.peek(), None | Some(b'\n')) {
                    self.pos += 1;
                }
                indent = self.next_content()?;
                continue;
            }
            self.anchors.clear();
            self.collections.clear();
            let root = if self.is_doc_marker(pos) && self.s[pos..].starts_with("---") {
                self.pos += 3;
                self.node(-1, false, false)?
            } else if self.is_doc_marker(pos) {
                self.pos += 3;
                self.expect_line_end()?;
                indent = self.next_content()?;
                continue;
            } else {
                self.node(-1, true, false)?
            };
            docs.push(Document {
                root,
                anchors: std::mem::take(&mut self.anchors),
                collections: std::mem::take(&mut self.collections),
            });
            self.expect_line_end()?;
            indent = self.next_content()?;
            if indent.is_some() && !self.is_doc_marker(self.pos) {
                return self.err(
                    self.pos,
                    "bad indentation: this line does not belong to any mapping or sequence",
                );
            }
        }
        Ok(docs)
    }

    /// Parses the properties `&anchor` and `!tag` in front of a node; returns the anchor.
    fn properties(&mut self) -> Result<Option<String>> {
        let mut anchor = None;
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'&') => {
                    self.pos += 1;
                    let start = self.pos;
                    while !is_blank(self.peek()) && !is_flow_indicator(self.peek().unwrap_or(b' '))
                    {
                        self.pos += 1;
                    }
                    if start == self.pos {
                        return self.err(start, "an anchor needs a name");
                    }
                    anchor = Some(self.s[start..self.pos].to_owned());
                }
                Some(b'!') => {
                    while !is_blank(self.peek()) && !is_flow_indicator(self.peek().unwrap_or(b' '))
                    {
                        self.pos += 1;
                    }
                }
                _ => return Ok(anchor),
            }
        }
    }

    fn remember(&mut self, anchor: Option<String>, node: &Node) {
        let Some(name) = anchor else {
            return;
        };
        // A later anchor of the same name replaces the earlier one, as for aliases.
        match node {
            Node::Scalar(s) => {
                self.collections.remove(&name);
                self.anchors.insert(name, s.clone());
            }
            _ => {
                self.anchors.remove(&name);
                self.collections.insert(name, node.clone());
            }
        }
    }

    /// Parses a block node that starts at the current position (after `key:`, `- `, `---`, or at
    /// the first character of a line). `parent` is the indentation of the enclosing collection;
    /// `compact` allows a collection to start on this line; `map_value` allows a sequence at the
    /// parent's own indentation (`key:` followed by `- item` lines at the same column).
    fn node(&mut self, parent: i32, compact: bool, map_value: bool) -> Result<Node> {
        self.nested(|parser| parser.node_at_depth(parent, compact, map_value))
    }

    fn node_at_depth(&mut self, parent: i32, compact: bool, map_value: bool) -> Result<Node> {
        let anchor = self.properties()?;
        let node = if self.at_line_end() {
            let save = self.pos;
            match self.next_content()? {
                Some(ind)
                    if !self.is_doc_marker(self.pos)
                        && (ind > parent
                            || (map_value && ind == parent && self.is_dash_entry(self.pos))) =>
                {
                    self.node_here(ind, parent, true)?
                }
                _ => {
                    self.pos = save;
                    Node::Null
                }
            }
        } else {
            let col = self.col(self.pos);
            self.node_here(col, parent, compact)?
        };
        self.remember(anchor, &node);
        Ok(node)
    }

    fn node_here(&mut self, col: i32, parent: i32, compact: bool) -> Result<Node> {
        let start = self.pos;
        match self.peek() {
            Some(b'|' | b'>') => self.block_scalar(parent),
            Some(b'*') => {
                let name = self.alias()?;
                if self.at_line_end() {
                    return Ok(Node::Alias(name));
                }
                if self.peek() == Some(b':') && compact {
                    self.pos = start;
                    return self.block_mapping(col);
                }
                self.err(self.pos, "unexpected text after an alias")
            }
            Some(b'[' | b'{') => {
                let node = self.flow_collection()?;
                self.skip_spaces();
                if self.peek() == Some(b':') && is_blank(self.at(self.pos + 1)) {
                    return self.err(start, "flow collections as mapping keys are not supported");
                }
                Ok(node)
            }
            Some(b'-') if is_blank(self.at(self.pos + 1)) => {
                if !compact {
                    return self.err(
                        start,
                        "a sequence entry is not allowed here (a `- item` must start its own line)",
                    );
                }
                self.block_sequence(col)
            }
            Some(b'?') if is_blank(self.at(self.pos + 1)) => {
                self.err(start, "complex mapping keys (`? key`) are not supported")
            }
            Some(b'"' | b'\'') => {
                let scalar = self.quoted()?;
                self.skip_spaces();
                if self.peek() == Some(b':') && is_blank(self.at(self.pos + 1)) {
                    if !compact {
                        return self
                            .err(start, "a mapping is not allowed here (check indentation)");
                    }
                    self.pos = start;
                    return self.block_mapping(col);
                }
                Ok(Node::Scalar(scalar))
            }
            Some(c) if self.can_start_plain(c) => {
                let end = self.plain_line(false);
                if self.peek() == Some(b':') {
                    if !compact {
                        return self.err(start, "mapping values are not allowed here (check indentation or quote the value)");
                    }
                    self.pos = start;
                    return self.block_mapping(col);
                }
                self.pos = end;
                self.plain_continuation(start, end, parent)
            }
            Some(c) => self.err(
                start,
                format!(
                    "found character `{}` that cannot start any token",
                    c as char
                ),
            ),
            None => Ok(Node::Null),
        }
    }

    fn can_start_plain(&self, c: u8) -> bool {
        match c {
            b'-' | b'?' | b':' => !is_blank(self.at(self.pos + 1)),
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' => false,
            _ => true,
        }
    }

    fn alias(&mut self) -> Result<String> {
        self.pos += 1;
        let start = self.pos;
        while !is_blank(self.peek()) && !is_flow_indicator(self.peek().unwrap_or(b' ')) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err(start, "an alias needs a name");
        }
        let name = self.s[start..self.pos].to_owned();
        let stored = self.anchors.contains_key(&name) || self.collections.contains_key(&name);
        if !stored && !self.known_anchor(&name) {
            return self.err(
                start,
                format!("alias `*{name}` refers to an unknown anchor"),
            );
        }
        Ok(name)
    }

    /// An alias inside the collection its anchor names (whose node is not stored yet): accepted
    /// when the anchor appears earlier.
    fn known_anchor(&self, name: &str) -> bool {
        let needle = format!("&{name}");
        self.s[..self.pos].match_indices(&needle).any(|(i, _)| {
            is_blank(self.at(i + needle.len()))
                || self.at(i + needle.len()).is_some_and(is_flow_indicator)
        })
    }

    /// Scans one line of a plain scalar from the current position; stops before `: `, ` #`, the
    /// line end, or (in flow context) a flow indicator. Leaves the position at the stop and
    /// returns the end of the text without trailing spaces.
    fn plain_line(&mut self, flow: bool) -> usize {
        let mut end = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'\n' => break,
                b':' if is_blank(self.at(self.pos + 1))
                    || (flow && self.at(self.pos + 1).is_some_and(is_flow_indicator)) =>
                {
                    break
                }
                b'#' if self.pos > 0 && matches!(self.b[self.pos - 1], b' ' | b'\t') => break,
                c if flow && is_flow_indicator(c) => break,
                b' ' | b'\t' | b'\r' => {}
                _ => end = self.pos + 1,
            }
            self.pos += 1;
        }
        end
    }

    /// Continues a plain scalar over following lines indented deeper than `parent`.
    fn plain_continuation(&mut self, start: usize, first_end: usize, parent: i32) -> Result<Node> {
        let mut value = self.s[start..first_end].to_owned();
        let mut end = first_end;
        loop {
            let save = self.pos;
            self.skip_spaces();
            if self.peek() != Some(b'\n') {
                self.pos = save;
                break;
            }
            // Look at the following lines.
            let mut p = self.pos + 1;
            let mut blank_lines = 0;
            let found = loop {
                let line = p;
                while self.at(p) == Some(b' ') {
                    p += 1;
                }
                let indent = (p - line) as i32;
                while matches!(self.at(p), Some(b' ' | b'\t' | b'\r')) {
                    p += 1;
                }
                match self.at(p) {
                    None => break None,
                    Some(b'\n') => {
                        blank_lines += 1;
                        p += 1;
                    }
                    Some(b'#') => break None,
                    Some(_) if self.is_doc_marker(line) || indent <= parent => break None,
                    Some(_) => break Some(p),
                }
            };
            let Some(p) = found else {
                self.pos = save;
                break;
            };
            self.pos = p;
            let line_end = self.plain_line(false);
            if self.peek() == Some(b':') {
                return self.err(
                    self.pos,
                    "mapping values are not allowed here (check indentation or quote the value)",
                );
            }
            if blank_lines > 0 {
                value.extend(std::iter::repeat('\n').take(blank_lines));
            } else {
                value.push(' ');
            }
            value.push_str(&self.s[p..line_end]);
            end = line_end;
            self.pos = line_end;
        }
        self.pos = end;
        Ok(Node::Scalar(Scalar {
            value,
            body: start..end,
            style: Style::Plain,
        }))
    }

    fn quoted(&mut self) -> Result<Scalar> {
        let open = self.pos;
        let quote = self.b[open];
        self.pos += 1;
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => {
                    return self.err(open, "unterminated quoted string");
                }
                Some(c) if c == quote => {
                    if quote == b'\'' && self.at(self.pos + 1) == Some(b'\'') {
                        raw.push('\'');
                        self.pos += 2;
                        continue;
                    }
                    break;
                }
                Some(b'\\') if quote == b'"' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return self.err(open, "unterminated quoted string");
                    };
                    let simple = match e {
                        b'0' => Some('\0'),
                        b'a' => Some('\x07'),
                        b'b' => Some('\x08'),
                        b't' | b'\t' => Some('\t'),
                        b'n' => Some('\n'),
                        b'v' => Some('\x0b'),
                        b'f' => Some('\x0c'),
                        b'r' => Some('\r'),
                        b'e' => Some('\x1b'),
                        b' ' => Some(' '),
                        b'"' => Some('"'),
                        b'/' => Some('/'),
                        b'\\' => Some('\\'),
                        b'N' => Some('\u{85}'),
                        b'_' => Some('\u{a0}'),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        raw.push(ch);
                        self.pos += 1;
                    } else if e == b'\n' || e == b'\r' {
                        // Escaped line break: join without a space.
                        while matches!(self.peek(), Some(b'\r' | b'\n' | b' ' | b'\t')) {
                            self.pos += 1;
                        }
                    } else if let Some(len) = match e {
                        b'x' => Some(2),
                        b'u' => Some(4),
                        b'U' => Some(8),
                        _ => None,
                    } {
                        let hex = self.s.get(self.pos + 1..self.pos + 1 + len).unwrap_or("");
                        match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                            Some(ch) if hex.len() == len => raw.push(ch),
                            _ => {
                                return self
                                    .err(self.pos, "invalid escape in a double-quoted string")
                            }
                        }
                        self.pos += 1 + len;
                    } else {
                        return self.err(
                            self.pos,
                            format!("invalid escape `\\{}` in a double-quoted string", e as char),
                        );
                    }
                }
                Some(b'\n') => {
                    // Line folding: trailing spaces trimmed, one break becomes a space.
                    while raw.ends_with([' ', '\t']) {
                        raw.pop();
                    }
                    let mut breaks = 0;
                    while matches!(self.peek(), Some(b'\n' | b' ' | b'\t' | b'\r')) {
                        if self.peek() == Some(b'\n') {
                            breaks += 1;
                        }
                        self.pos += 1;
                    }
                    if self.is_doc_marker(self.pos) {
                        return self.err(open, "unterminated quoted string");
                    }
                    if breaks == 1 {
                        raw.push(' ');
                    } else {
                        raw.extend(std::iter::repeat('\n').take(breaks - 1));
                    }
                }
                Some(_) => {
                    let ch = self.s[self.pos..].chars().next().unwrap_or(' ');
                    raw.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        let body = open + 1..self.pos;
        self.pos += 1;
        Ok(Scalar {
            value: raw,
            body,
            style: if quote == b'"' {
                Style::Double
            } else {
                Style::Single
            },
        })
    }

    fn block_scalar(&mut self, parent: i32) -> Result<Node> {
        let header = self.pos;
        let folded = self.peek() == Some(b'>');
        self.pos += 1;
        let mut explicit = None;
        for _ in 0..2 {
            match self.peek() {
                Some(b'+' | b'-') => self.pos += 1,
                Some(d @ b'1'..=b'9') => {
                    explicit = Some(i32::from(d - b'0'));
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if !self.at_line_end() {
            return self.err(header, "unexpected text after a block scalar indicator");
        }
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.pos += 1;
        }
        let header_end = self.pos;
        let base = parent.max(0);
        let mut content_indent = explicit.map(|m| base + m);
        let mut lines: Vec<Range<usize>> = Vec::new();
        let mut end = header_end;
        let mut p = header_end;
        while self.at(p) == Some(b'\n') {
            let line = p + 1;
            let mut q = line;
            while self.at(q) == Some(b' ') {
                q += 1;
            }
            let spaces = (q - line) as i32;
            let mut r = q;
            while matches!(self.at(r), Some(b' ' | b'\t' | b'\r')) {
                r += 1;
            }
            let blank = matches!(self.at(r), None | Some(b'\n'));
            let mut line_end = line;
            while !matches!(self.at(line_end), None | Some(b'\n')) {
                line_end += 1;
            }
            if blank {
                lines.push(line..line_end);
                p = line_end;
                continue;
            }
            let ci = *content_indent.get_or_insert(spaces);
            if spaces < ci || ci <= parent || (ci == 0 && self.is_doc_marker(line)) {
                break;
            }
            lines.push(line..line_end);
            end = line_end;
            p = line_end;
        }
        // Trailing blank lines belong to the following text, not to the span.
        while lines.last().is_some_and(|l| l.start > end) {
            lines.pop();
        }
        let ci = content_indent.unwrap_or(0).max(0) as usize;
        let first = lines
            .iter()
            .find(|l| !self.s[l.start..l.end].trim().is_empty())
            .map_or(end, |l| (l.start + ci).min(l.end));
        let text: Vec<&str> = lines
            .iter()
            .map(|l| {
                self.s
                    .get(l.start + ci..l.end)
                    .unwrap_or("")
                    .trim_end_matches('\r')
            })
            .collect();
        let value = if folded {
            text.join(" ")
        } else {
            text.join("\n")
        };
        self.pos = end;
        Ok(Node::Scalar(Scalar {
            value,
            body: first.min(end)..end,
            style: if folded {
                Style::Folded
            } else {
                Style::Literal
            },
        }))
    }

    fn block_mapping(&mut self, indent: i32) -> Result<Node> {
        let mut entries = Vec::new();
        loop {
            let key_pos = self.pos;
            self.properties()?;
            let key = match self.peek() {
                Some(b'"' | b'\'') => Node::Scalar(self.quoted()?),
                Some(b'*') => Node::Alias(self.alias()?),
                Some(b'?') if is_blank(self.at(self.pos + 1)) => {
                    return self.err(key_pos, "complex mapping keys (`? key`) are not supported")
                }
                Some(b'-') if is_blank(self.at(self.pos + 1)) => {
                    return self.err(
                        key_pos,
                        "expected a `key:` here, found a sequence entry (check indentation)",
                    )
                }
                Some(c) if self.can_start_plain(c) => {
                    let start = self.pos;
                    let end = self.plain_line(false);
                    Node::Scalar(Scalar {
                        value: self.s[start..end].to_owned(),
                        body: start..end,
                        style: Style::Plain,
                    })
                }
                _ => return self.err(key_pos, "expected a `key:` here"),
            };
            self.skip_spaces();
            if !(self.peek() == Some(b':') && is_blank(self.at(self.pos + 1))) {
                return self.err(key_pos, "could not find the expected `:` (a line that is not `key: value` inside a mapping)");
            }
            self.pos += 1;
            let value = self.node(indent, false, true)?;
            entries.push((key, value));
            self.expect_line_end()?;
            let save = self.pos;
            match self.next_content()? {
                Some(ind) if ind == indent && !self.is_doc_marker(self.pos) => {
                    if self.is_dash_entry(self.pos) {
                        self.pos = save;
                        break;
                    }
                }
                Some(ind) if ind > indent && !self.is_doc_marker(self.pos) => {
                    return self.err(self.pos, "bad indentation of a mapping entry");
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        Ok(Node::Mapping(entries))
    }

    fn block_sequence(&mut self, indent: i32) -> Result<Node> {
        let mut items = Vec::new();
        loop {
            // At `-`.
            self.pos += 1;
            let item = self.node(indent, true, false)?;
            items.push(item);
            self.expect_line_end()?;
            let save = self.pos;
            match self.next_content()? {
                Some(ind)
                    if ind == indent
                        && !self.is_doc_marker(self.pos)
                        && self.is_dash_entry(self.pos) => {}
                Some(ind) if ind > indent && !self.is_doc_marker(self.pos) => {
                    return self.err(self.pos, "bad indentation of a sequence entry");
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        Ok(Node::Sequence(items))
    }

    /// Skips spaces, line breaks and comments inside a flow collection.
    fn skip_flow_space(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'#')
                    if self.pos == 0 || matches!(self.b[self.pos - 1], b' ' | b'\t' | b'\n') =>
                {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn flow_collection(&mut self) -> Result<Node> {
        let open = self.pos;
        let is_map = self.b[open] == b'{';
        let close = if is_map { b'}' } else { b']' };
        self.pos += 1;
        let mut entries = Vec::new();
        let mut items = Vec::new();
        loop {
            self.skip_flow_space();
            match self.peek() {
                None => return self.err(open, "unterminated flow collection (missing `]` or `}`)"),
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                Some(c)
                    if self.is_doc_marker(self.pos)
                        || (is_flow_indicator(c) && c != b'[' && c != b'{') =>
                {
                    return self.err(
                        self.pos,
                        format!("unexpected `{}` in a flow collection", c as char),
                    );
                }
                _ => {}
            }
            let first = self.flow_item()?;
            self.skip_flow_space();
            let pair = if self.peek() == Some(b':') {
                self.pos += 1;
                self.skip_flow_space();
                let value = match self.peek() {
                    Some(b',') => Node::Null,
                    Some(c) if c == close => Node::Null,
                    _ => self.flow_item()?,
                };
                Some((first, value))
            } else if is_map {
                Some((first, Node::Null))
            } else {
                items.push(first);
                None
            };
            if let Some((k, v)) = pair {
                if is_map {
                    entries.push((k, v));
                } else {
                    items.push(Node::Mapping(vec![(k, v)]));
                }
            }
            self.skip_flow_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                None => return self.err(open, "unterminated flow collection (missing `]` or `}`)"),
                Some(_) => {
                    return self.err(
                        self.pos,
                        format!("expected `,` or `{}` in a flow collection", close as char),
                    );
                }
            }
        }
        Ok(if is_map {
            Node::Mapping(entries)
        } else {
            Node::Sequence(items)
        })
    }

    fn flow_item(&mut self) -> Result<Node> {
        self.nested(Self::flow_item_at_depth)
    }

    fn flow_item_at_depth(&mut self) -> Result<Node> {
        let anchor = self.properties()?;
        self.skip_flow_space();
        let node = match self.peek() {
            Some(b'[' | b'{') => self.flow_collection()?,
            Some(b'"' | b'\'') => Node::Scalar(self.quoted()?),
            Some(b'*') => Node::Alias(self.alias()?),
            Some(c) if self.can_start_plain(c) || c == b'-' || c == b':' => {
                let start = self.pos;
                let mut end = self.plain_line(true);
                // Multi-line plain scalars in flow context.
                loop {
                    let save = self.pos;
                    self.skip_spaces();
                    if self.peek() != Some(b'\n') {
                        self.pos = save;
                        break;
                    }
                    self.skip_flow_space();
                    match self.peek() {
                        Some(c)
                            if !is_flow_indicator(c)
                                && c != b':'
                                && c != b'#'
                                && !self.is_doc_marker(self.pos) =>
                        {
                            end = self.plain_line(true);
                        }
                        _ => {
                            self.pos = save;
                            break;
                        }
                    }
                }
                self.pos = end;
                let value = self.s[start..end]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                Node::Scalar(Scalar {
                    value,
                    body: start..end,
                    style: Style::Plain,
                })
            }
            Some(c) => {
                return self.err(
                    self.pos,
                    format!(
                        "found character `{}` that cannot start any token",
                        c as char
                    ),
                )
            }
            None => Node::Null,
        };
        self.remember(anchor, &node);
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let mut docs = parse(src).unwrap();
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).root
    }

    fn span<'a>(src: &'a str, n: &Node) -> &'a str {
        match n {
            Node::Scalar(s) => &src[s.body.clone()],
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn error_line(src: &str) -> usize {
        match parse(src) {
            Err(e) => e.line,
            Ok(d) => panic!("expected an error, parsed {d:?}"),
        }
    }

    #[test]
    fn nested_block_collections_keep_spans() {
        let src = "spec:\n  containers:\n  - name: web # the app\n    image: \"myreg.azurecr.io/web:1\"\n    args: [a, 'b']\n";
        let root = one(src);
        let c = root.get("spec").unwrap().get("containers").unwrap();
        let Node::Sequence(items) = c else { panic!() };
        let image = items[0].get("image").unwrap();
        assert_eq!(span(src, image), "myreg.azurecr.io/web:1");
        assert_eq!(items[0].get("name").unwrap().as_str(), Some("web"));
        let Node::Sequence(args) = items[0].get("args").unwrap() else {
            panic!()
        };
        assert_eq!(span(src, &args[1]), "b");
    }

    #[test]
    fn documents_are_split_on_markers() {
        let docs = parse("---\na: 1\n---\n# only a comment\nb: 2\n...\n---\n- x\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].root.get("b").unwrap().as_str(), Some("2"));
    }

    #[test]
    fn block_scalars_end_at_dedent() {
        let src = "a: |\n  line one\n    deeper\n\n  two\nb: >-\n  folded\n  text\nc: x\n";
        let root = one(src);
        assert_eq!(
            root.get("a").unwrap().as_str(),
            Some("line one\n  deeper\n\ntwo")
        );
        assert_eq!(span(src, root.get("b").unwrap()), "folded\n  text");
        assert_eq!(root.get("c").unwrap().as_str(), Some("x"));
    }

    #[test]
    fn anchors_and_aliases() {
        let src = "x: &img myreg.azurecr.io/a:1\nbase: &base\n  k: v\nother:\n  <<: *base\n  image: *img\n";
        let docs = parse(src).unwrap();
        assert_eq!(
            span(src, &Node::Scalar(docs[0].anchors["img"].clone())),
            "myreg.azurecr.io/a:1"
        );
        assert!(
            matches!(docs[0].root.get("other").unwrap().get("image"), Some(Node::Alias(a)) if a == "img")
        );
        assert_eq!(
            docs[0].collections["base"].get("k").and_then(Node::as_str),
            Some("v"),
            "a mapping's anchor keeps the mapping, for merge keys"
        );
    }

    #[test]
    fn flow_collections_span_lines() {
        let src = "a: {name: x, image: 'r.io/y:1',\n    # comment\n    ports: [80, 443]}\nb: [ ]\n";
        let root = one(src);
        assert_eq!(
            span(src, root.get("a").unwrap().get("image").unwrap()),
            "r.io/y:1"
        );
    }

    #[test]
    fn plain_scalars_keep_colons_and_hashes() {
        let src = "image: myreg.azurecr.io:5000/app:1.0#x # comment\nurl: http://a/b\n";
        let root = one(src);
        assert_eq!(
            span(src, root.get("image").unwrap()),
            "myreg.azurecr.io:5000/app:1.0#x"
        );
        assert_eq!(root.get("url").unwrap().as_str(), Some("http://a/b"));
    }

    #[test]
    fn multi_line_plain_and_quoted_scalars_fold() {
        let root = one("a: one\n  two\nb: \"x\n  y\"\nc: 'it''s'\n");
        assert_eq!(root.get("a").unwrap().as_str(), Some("one two"));
        assert_eq!(root.get("b").unwrap().as_str(), Some("x y"));
        assert_eq!(root.get("c").unwrap().as_str(), Some("it's"));
    }

    #[test]
    fn sequences_may_sit_at_their_key_indentation() {
        let root = one("items:\n- a\n- b\nnext: c\n");
        assert!(matches!(root.get("items"), Some(Node::Sequence(v)) if v.len() == 2));
        assert_eq!(root.get("next").unwrap().as_str(), Some("c"));
    }

    #[test]
    fn broken_files_are_named_with_their_line() {
        assert_eq!(
            error_line("a:\n  - name: x\n    image: y\n   ports: 1\n"),
            4
        );
        assert_eq!(error_line("a: 1\n    b: 2\n"), 2);
        assert_eq!(error_line("a:\n\tb: 1\n"), 2);
        assert_eq!(error_line("a: 1\nb: \"open\nc: 2\n"), 2);
        assert_eq!(error_line("a: [1, 2\nb: 3\n"), 1);
        assert_eq!(error_line("a: 1\njust text\n"), 2);
        assert_eq!(error_line("a: b: c\n"), 1);
        assert_eq!(error_line("a:\n  b: 1\n c: 2\n"), 3);
        assert_eq!(error_line("x: *nothing\n"), 1);
    }

    #[test]
    fn tabs_after_indentation_and_in_block_scalars_are_fine() {
        one("a:\tb\nc: |\n  x\ty\n");
    }

    #[test]
    fn crlf_line_ends_are_read() {
        let root = one("a: 1\r\nb:\r\n  - x\r\n");
        assert_eq!(root.get("a").unwrap().as_str(), Some("1"));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key_and_spans_still_count_it() {
        let src = "\u{feff}apiVersion: v1\nkind: Pod\nimage: &i r.io/a:1\nother: *i\n";
        let docs = parse(src).unwrap();
        let root = &docs[0].root;
        assert_eq!(root.get("apiVersion").unwrap().as_str(), Some("v1"));
        assert_eq!(span(src, root.get("image").unwrap()), "r.io/a:1");
        assert_eq!(
            span(src, &Node::Scalar(docs[0].anchors["i"].clone())),
            "r.io/a:1"
        );
        assert_eq!(error_line("\u{feff}a: 1\n  b: 2\n"), 2);
    }

    #[test]
    fn empty_values_and_empty_stream() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing\n").unwrap().is_empty());
        assert!(matches!(one("a:\nb: 1\n").get("a"), Some(Node::Null)));
    }
}
