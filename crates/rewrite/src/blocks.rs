//! The lines of a configuration written in braces (Bicep, Terraform's HCL), each with where it
//! stands: whether it is at the top level of a block of interest (a registry resource), which is
//! where an attribute such as `name` names that block's own object.
//!
//! Written by hand: no crate parses both languages, and only the nesting of braces is needed to
//! tell a registry resource's own `name` from one of a block inside it.

/// A line of the text, its comment cut off.
pub(crate) struct Line<'a> {
    /// Byte offset of the line in the text.
    pub start: usize,
    /// The line without its comment.
    pub code: &'a str,
    /// `code` without its leading white space.
    pub trimmed: &'a str,
    /// True when the line is directly inside a block opened by a line that `opens` accepted.
    pub at_top_of_block: bool,
}

impl Line<'_> {
    /// Byte offset in the text of `at`, an offset in `trimmed`.
    pub fn offset_of(&self, at: usize) -> usize {
        self.start + (self.code.len() - self.trimmed.len()) + at
    }
}

/// The lines of `text`, `comment_free` cutting each line's comment off, and `opens` saying of a
/// trimmed line whether it opens a block of interest (blocks of interest do not nest: one
/// inside another is read as part of it).
pub(crate) fn lines<'a>(
    text: &'a str,
    comment_free: impl Fn(&'a str) -> &'a str,
    opens: impl Fn(&str) -> bool,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    // The depth of braces the block of interest being read opened at, if any.
    let mut block: Option<usize> = None;
    let mut depth = 0usize;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let code = comment_free(line);
        let trimmed = code.trim_start();
        if block.is_none() && opens(trimmed) {
            block = Some(depth);
        }
        lines.push(Line {
            start,
            code,
            trimmed,
            at_top_of_block: block.is_some_and(|d| depth == d + 1),
        });
        for byte in code.bytes().filter(|b| matches!(b, b'{' | b'}')) {
            if byte == b'{' {
                depth += 1;
            } else {
                depth = depth.saturating_sub(1);
                if block == Some(depth) {
                    block = None;
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_directly_inside_a_block_of_interest_are_at_its_top() {
        let text = "a {\n  x\n}\nreg {\n  x # c\n  inner {\n    x\n  }\n  x\n}\nx\n";
        let lines = lines(
            text,
            |l| l.split('#').next().unwrap(),
            |l| l.starts_with("reg"),
        );
        let tops: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.at_top_of_block)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(tops, [4, 5, 8, 9]);
        assert_eq!(lines[4].code, "  x ");
        assert_eq!(&text[lines[4].offset_of(0)..][..1], "x");
    }
}
