//! Text edits located by [`crate::jsonc`] spans, applied in one pass.
//!
//! Every change is a replacement of a byte range. Ranges never overlap: an edit that would
//! overlap one already recorded is refused (the first one wins), so a removed block is never also
//! patched inside. Helpers remove array items and object members together with the comma and
//! whitespace that belong to them, and insert members with the indentation of their neighbours.

use std::ops::Range;

use crate::jsonc::{Member, Node};

/// A set of non-overlapping replacements over one source text.
#[derive(Debug, Default)]
pub struct Edits {
    list: Vec<(Range<usize>, String)>,
}

impl Edits {
    /// Records a replacement; returns false (and records nothing) when it overlaps another edit.
    /// Two insertions at the same point are both kept, in the order given.
    pub fn replace(&mut self, range: Range<usize>, text: impl Into<String>) -> bool {
        if self.overlaps(&range) {
            return false;
        }
        self.list.push((range, text.into()));
        true
    }

    /// True when `range` overlaps a recorded edit (an empty range only when strictly inside one).
    pub fn overlaps(&self, range: &Range<usize>) -> bool {
        self.list.iter().any(|(r, _)| {
            if range.is_empty() || r.is_empty() {
                (r.start < range.start && range.start < r.end)
                    || (range.start < r.start && r.start < range.end)
            } else {
                r.start < range.end && range.start < r.end
            }
        })
    }

    /// Rewrites the replacement text of every recorded edit (e.g. to rename inside inserted text).
    pub fn map_texts(&mut self, mut f: impl FnMut(&str) -> Option<String>) {
        for (_, text) in &mut self.list {
            if let Some(new) = f(text) {
                *text = new;
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Applies every edit to `text` (whose offsets the ranges are); `base` is subtracted from
    /// every range, for when `text` is a slice that starts at `base` in the parsed source.
    pub fn apply(&self, text: &str, base: usize) -> String {
        let mut list: Vec<(usize, &(Range<usize>, String))> =
            self.list.iter().enumerate().collect();
        list.sort_by_key(|(i, (r, _))| (r.start, r.end, *i));
        let mut out = String::with_capacity(text.len() + 256);
        let mut pos = 0;
        for (_, (range, new)) in list {
            let (start, end) = (range.start - base, range.end - base);
            out.push_str(&text[pos..start]);
            out.push_str(new);
            pos = end;
        }
        out.push_str(&text[pos..]);
        out
    }
}

/// Layout facts of a source text: line ending and one indentation step.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `"\n"` or `"\r\n"`.
    pub newline: &'static str,
    /// One level of indentation (two spaces, four spaces or a tab).
    pub unit: String,
}

impl Layout {
    /// Detects the layout from the text.
    pub fn detect(text: &str) -> Layout {
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut best: Option<String> = None;
        for line in text.lines() {
            let indent: String = line
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            if indent.is_empty() || indent.len() == line.len() {
                continue;
            }
            if indent.starts_with('\t') {
                best = Some("\t".into());
                break;
            }
            match &best {
                Some(b) if b.len() <= indent.len() => {}
                _ => best = Some(indent),
            }
        }
        Layout {
            newline,
            unit: best.unwrap_or_else(|| "  ".into()),
        }
    }
}

/// The whitespace that starts the line on which byte `pos` lies.
pub fn indent_at(text: &str, pos: usize) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// Re-indents pretty JSON (two-space indented, as serde_json writes it) to `unit` steps on top of
/// `base`, with `newline` line ends. The first line gets no base indentation.
pub fn reindent(pretty: &str, base: &str, layout: &Layout) -> String {
    let mut out = String::new();
    for (i, line) in pretty.lines().enumerate() {
        if i > 0 {
            out.push_str(layout.newline);
            out.push_str(base);
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        for _ in 0..spaces / 2 {
            out.push_str(&layout.unit);
        }
        out.push_str(&line[spaces..]);
    }
    out
}

/// Pretty-prints a JSON value re-indented for a position whose line indentation is `base`.
pub fn render(value: &serde_json::Value, base: &str, layout: &Layout) -> String {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    reindent(&pretty, base, layout)
}

/// Records removal of the spans selected by `remove` out of a comma-separated list whose element
/// spans are `spans`, inside the brackets spanning `outer`. Runs of removed elements take their
/// separating comma along, so the list stays valid JSON.
fn remove_from_list(
    edits: &mut Edits,
    outer: &Range<usize>,
    spans: &[Range<usize>],
    remove: &[bool],
) {
    let n = spans.len();
    let mut i = 0;
    while i < n {
        if !remove[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < n && remove[j + 1] {
            j += 1;
        }
        let range = if i > 0 {
            spans[i - 1].end..spans[j].end
        } else if j + 1 < n {
            spans[i].start..spans[j + 1].start
        } else {
            outer.start + 1..outer.end - 1
        };
        edits.replace(range, "");
        i = j + 1;
    }
}

/// Removes the items of array `array` whose indexes are in `indexes`.
pub fn remove_items(edits: &mut Edits, array: &Node, indexes: &[usize]) {
    let Some(items) = array.items() else { return };
    let spans: Vec<_> = items.iter().map(|n| n.span.clone()).collect();
    let remove: Vec<bool> = (0..items.len()).map(|i| indexes.contains(&i)).collect();
    remove_from_list(edits, &array.span, &spans, &remove);
}

/// Removes the members of object `object` whose indexes are in `indexes`.
pub fn remove_members(edits: &mut Edits, object: &Node, indexes: &[usize]) {
    let Some(members) = object.members() else {
        return;
    };
    let spans: Vec<_> = members.iter().map(member_span).collect();
    let remove: Vec<bool> = (0..members.len()).map(|i| indexes.contains(&i)).collect();
    remove_from_list(edits, &object.span, &spans, &remove);
}

/// From the key's opening quote to the end of the value.
/// Removes the members at `indexes` of an object, or the items of an array.
pub fn remove_items_or_members(edits: &mut Edits, container: &Node, indexes: &[usize]) {
    if container.members().is_some() {
        remove_members(edits, container, indexes);
    } else {
        remove_items(edits, container, indexes);
    }
}

pub fn member_span(m: &Member) -> Range<usize> {
    m.key_span.start..m.value.span.end
}

/// Inserts a member `"key": <value_text>` at the end of `object`. `value_text` is already
/// indented for a member line (see [`render`]); `text` is the parsed source.
pub fn insert_member(
    edits: &mut Edits,
    text: &str,
    layout: &Layout,
    object: &Node,
    key: &str,
    value: &serde_json::Value,
) {
    let key_json = serde_json::to_string(key).unwrap_or_default();
    match object.members().and_then(|m| m.last()) {
        Some(last) => {
            let indent = indent_at(text, last.key_span.start);
            let rendered = render(value, &indent, layout);
            let at = last.value.span.end;
            let sep = if text[last.key_span.start..at].contains('\n')
                || text[object.span.start..last.key_span.start].contains('\n')
            {
                format!(",{}{indent}", layout.newline)
            } else {
                ", ".to_string()
            };
            edits.replace(at..at, format!("{sep}{key_json}: {rendered}"));
        }
        None => {
            let outer = indent_at(text, object.span.start);
            let inner = format!("{outer}{}", layout.unit);
            let rendered = render(value, &inner, layout);
            let at = object.span.start + 1;
            edits.replace(
                at..object.span.end - 1,
                format!(
                    "{nl}{inner}{key_json}: {rendered}{nl}{outer}",
                    nl = layout.newline
                ),
            );
        }
    }
}

/// Inserts `value` as a new last item of `array`.
pub fn append_item(
    edits: &mut Edits,
    text: &str,
    layout: &Layout,
    array: &Node,
    value: &serde_json::Value,
) {
    match array.items().and_then(|i| i.last()) {
        Some(last) => {
            let indent = indent_at(text, last.span.start);
            let rendered = render(value, &indent, layout);
            let at = last.span.end;
            // An array written on one line stays on one line.
            let sep = if text[array.span.start..at].contains('\n') {
                format!(",{}{indent}", layout.newline)
            } else {
                ", ".to_string()
            };
            edits.replace(at..at, format!("{sep}{rendered}"));
        }
        None => {
            let outer = indent_at(text, array.span.start);
            let inner = format!("{outer}{}", layout.unit);
            let rendered = render(value, &inner, layout);
            edits.replace(
                array.span.start + 1..array.span.end - 1,
                format!("{nl}{inner}{rendered}{nl}{outer}", nl = layout.newline),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonc::parse;

    fn run(text: &str, f: impl FnOnce(&mut Edits, &Node)) -> String {
        let root = parse(text).unwrap();
        let mut e = Edits::default();
        f(&mut e, &root);
        e.apply(text, 0)
    }

    #[test]
    fn removing_items_keeps_commas_right() {
        let t = "[1, 2, 3, 4]";
        assert_eq!(run(t, |e, r| remove_items(e, r, &[0, 1])), "[3, 4]");
        assert_eq!(run(t, |e, r| remove_items(e, r, &[1, 3])), "[1, 3]");
        assert_eq!(run(t, |e, r| remove_items(e, r, &[0, 1, 2, 3])), "[]");
        assert_eq!(run(t, |e, r| remove_items(e, r, &[0, 3])), "[2, 3]");
    }

    #[test]
    fn removing_members_keeps_layout() {
        let t = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}";
        assert_eq!(
            run(t, |e, r| remove_members(e, r, &[1])),
            "{\n  \"a\": 1,\n  \"c\": 3\n}"
        );
        assert_eq!(
            run(t, |e, r| remove_members(e, r, &[2])),
            "{\n  \"a\": 1,\n  \"b\": 2\n}"
        );
    }

    #[test]
    fn inserted_members_follow_neighbour_indentation() {
        let t = "{\n    \"a\": 1\n}";
        let layout = Layout::detect(t);
        let out = run(t, |e, r| {
            insert_member(e, t, &layout, r, "b", &serde_json::json!({"c": [1]}))
        });
        assert_eq!(
            out,
            "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": [\n            1\n        ]\n    }\n}"
        );
        let t = "{\n  \"x\": {}\n}";
        let root = parse(t).unwrap();
        let mut e = Edits::default();
        insert_member(
            &mut e,
            t,
            &Layout::detect(t),
            root.get("x").unwrap(),
            "k",
            &"v".into(),
        );
        assert_eq!(e.apply(t, 0), "{\n  \"x\": {\n    \"k\": \"v\"\n  }\n}");
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let mut e = Edits::default();
        assert!(e.replace(2..8, "x"));
        assert!(!e.replace(4..5, "y"));
        assert!(e.replace(8..8, "z"));
        assert!(e.replace(8..8, "w"));
        assert_eq!(e.apply("0123456789", 0), "01xzw89");
    }
}
