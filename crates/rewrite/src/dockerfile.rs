//! Finds image references in Dockerfiles: `FROM` (with `--platform` and stage names),
//! `COPY`/`ADD --from=` (also after `ONBUILD`), `RUN --mount=…,from=`, `ARG` defaults that hold
//! an image, and `ARG` defaults that hold only the registry when an image starts with that
//! argument (`ARG REG=myreg.azurecr.io` … `FROM $REG/app:1`).
//!
//! Lines are joined on the escape character (`\`, or the one a `# escape=` directive sets),
//! comment lines inside continuations are dropped as Docker drops them, and heredoc bodies are
//! skipped; mentions of the old registry in comments and heredoc bodies are listed. A stage name
//! used as an image (`FROM build AS test`) is not a reference. Unknown instructions, a `FROM`
//! without an image and an unterminated heredoc are errors, as in Docker.

use std::collections::HashSet;
use std::ops::Range;

use crate::azcli;
use crate::extract::string_reference;
use crate::model::{Findings, Lines, MentionPlace, Reference, ReferenceKind};
use crate::Registry;

/// Why a Dockerfile could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerfileError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

const INSTRUCTIONS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// A word of an instruction with the byte offset of its first character.
#[derive(Debug)]
struct Word {
    start: usize,
    text: String,
    /// The word's bytes are contiguous in the file (no continuation inside it).
    contiguous: bool,
}

/// Scans a Dockerfile.
pub(crate) fn scan(text: &str, registry: &Registry) -> Result<Findings, DockerfileError> {
    let lines = Lines::new(text);
    // BuildKit strips a UTF-8 byte order mark; the rewrite keeps it (edits are byte spans).
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let physical: Vec<(usize, &str)> = {
        let mut offset = bom;
        text[bom..]
            .split_inclusive('\n')
            .map(|l| {
                let start = offset;
                offset += l.len();
                (start, l)
            })
            .collect()
    };
    let escape = escape_directive(&physical);
    let err = |line: usize, message: String| DockerfileError { line, message };
    let mut out = Findings::default();
    if let Some(frontend) = syntax_directive(&physical) {
        reference(
            text,
            &frontend,
            registry,
            ReferenceKind::DockerfileSyntax,
            &lines,
            &mut out,
        );
    }
    let mut heredocs: Vec<Range<usize>> = Vec::new();
    let mut stages: HashSet<String> = HashSet::new();
    let mut registry_args = RegistryArgs::default();
    let mut seen_from = false;
    let mut i = 0;
    while i < physical.len() {
        let (start, line) = physical[i];
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            // A comment (or a parser directive, whose `syntax=` image is a reference).
            let span = start..start + line.len();
            out.mention(text, &lines, span, registry, MentionPlace::Comment);
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        // Join continuation lines; keep (file offset, char) pairs for the words.
        let first_line = i + 1;
        let mut chars: Vec<(usize, char)> = Vec::new();
        let mut spans = Vec::new();
        let mut comments = Vec::new();
        loop {
            let (start, line) = physical[i];
            let body = line.trim_end_matches(['\n', '\r']);
            let content = body.trim_end();
            i += 1;
            if chars.is_empty() || !content.trim_start().starts_with('#') {
                spans.push(start..start + body.len());
                let continued = content.ends_with(escape);
                let kept = if continued {
                    &content[..content.len() - escape.len_utf8()]
                } else {
                    body
                };
                chars.extend(kept.char_indices().map(|(o, c)| (start + o, c)));
                if !continued {
                    break;
                }
                chars.push((start + content.len(), ' '));
            } else {
                // A comment line inside a continuation: Docker drops it.
                comments.push(start..start + body.len());
            }
            if i >= physical.len() {
                break;
            }
        }
        let words = split_words(&chars);
        let Some(keyword) = words.first() else {
            continue;
        };
        // An `az acr` command whose registry option is on a continuation line is seen only in
        // the joined instruction (the lines are scanned one by one below).
        for (at, use_) in azcli::short_names_in_joined(&chars, registry) {
            let note = azcli::note(registry, use_);
            out.noted_mention(&lines, at, MentionPlace::Instruction, note);
        }
        let instruction = keyword.text.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&instruction.as_str()) {
            return Err(err(
                first_line,
                format!("unknown instruction `{}`", keyword.text),
            ));
        }
        if !seen_from && instruction != "FROM" && instruction != "ARG" {
            return Err(err(
                first_line,
                format!("`{instruction}` before the first FROM"),
            ));
        }
        let mut args = &words[1..];
        let mut instruction = instruction;
        if instruction == "ONBUILD" {
            if let Some((inner, rest)) = args.split_first() {
                instruction = inner.text.to_ascii_uppercase();
                args = rest;
            }
        }
        match instruction.as_str() {
            "FROM" => {
                seen_from = true;
                let rest: Vec<&Word> = args
                    .iter()
                    .skip_while(|w| w.text.starts_with("--"))
                    .collect();
                let Some(image) = rest.first() else {
                    return Err(err(first_line, "FROM needs an image".to_owned()));
                };
                let is_stage = stages.contains(&image.text.to_ascii_lowercase());
                match &rest[1..] {
                    [] => {}
                    [as_, name] if as_.text.eq_ignore_ascii_case("as") => {
                        stages.insert(name.text.to_ascii_lowercase());
                    }
                    _ => {
                        return Err(err(
                            first_line,
                            "FROM takes an image and an optional `AS name`".to_owned(),
                        ))
                    }
                }
                if !is_stage {
                    registry_args.note_use(&image.text);
                    reference(
                        text,
                        image,
                        registry,
                        ReferenceKind::DockerfileFrom,
                        &lines,
                        &mut out,
                    );
                }
            }
            "COPY" | "ADD" => {
                for w in args.iter().take_while(|w| w.text.starts_with("--")) {
                    if let Some(value) = w.text.strip_prefix("--from=") {
                        if stages.contains(&value.to_ascii_lowercase())
                            || value.bytes().all(|b| b.is_ascii_digit())
                        {
                            continue;
                        }
                        registry_args.note_use(value);
                        let image = Word {
                            start: w.start + 7,
                            text: value.to_owned(),
                            contiguous: w.contiguous,
                        };
                        reference(
                            text,
                            &image,
                            registry,
                            ReferenceKind::DockerfileCopyFrom,
                            &lines,
                            &mut out,
                        );
                    }
                }
                heredocs.extend(skip_heredocs(&physical, &mut i, &words, &err)?);
            }
            "RUN" => {
                for w in args.iter().take_while(|w| w.text.starts_with("--")) {
                    let Some(mount) = w.text.strip_prefix("--mount=") else {
                        continue;
                    };
                    let mut at = w.start + "--mount=".len();
                    for option in mount.split(',') {
                        let option_start = at;
                        at += option.len() + 1;
                        let Some(value) = option.strip_prefix("from=") else {
                            continue;
                        };
                        if stages.contains(&value.to_ascii_lowercase()) {
                            continue;
                        }
                        registry_args.note_use(value);
                        let image = Word {
                            start: option_start + "from=".len(),
                            text: value.to_owned(),
                            contiguous: w.contiguous,
                        };
                        reference(
                            text,
                            &image,
                            registry,
                            ReferenceKind::DockerfileRunMount,
                            &lines,
                            &mut out,
                        );
                    }
                }
                heredocs.extend(skip_heredocs(&physical, &mut i, &words, &err)?);
            }
            "ARG" => {
                for w in args {
                    let Some((name, value)) = w.text.split_once('=') else {
                        continue;
                    };
                    let offset = w.start + name.len() + 1;
                    let (offset, value) = match value.as_bytes().first() {
                        Some(q @ (b'"' | b'\''))
                            if value.len() >= 2 && value.ends_with(*q as char) =>
                        {
                            (offset + 1, &value[1..value.len() - 1])
                        }
                        _ => (offset, value),
                    };
                    if registry.matches(value) && w.contiguous {
                        registry_args.defaults.push(RegistryArg {
                            name: name.to_owned(),
                            span: offset..offset + value.len(),
                            line: lines.line(offset),
                            instruction: spans.clone(),
                        });
                        continue;
                    }
                    let image = Word {
                        start: offset,
                        text: value.to_owned(),
                        contiguous: w.contiguous,
                    };
                    let found = reference(
                        text,
                        &image,
                        registry,
                        ReferenceKind::DockerfileArg,
                        &lines,
                        &mut out,
                    );
                    if let Some(r) = found.filter(|r| r.tag.is_none() && r.digest.is_none()) {
                        // A repository the instructions add a tag to (`FROM ${BASE}:${TAG}`),
                        // not the image `:latest`.
                        r.checkable = false;
                    }
                }
            }
            _ => {}
        }
        for span in spans {
            out.mention(text, &lines, span, registry, MentionPlace::Instruction);
        }
        for span in comments {
            out.mention(text, &lines, span, registry, MentionPlace::Comment);
        }
        for span in heredocs.drain(..) {
            out.mention(text, &lines, span, registry, MentionPlace::Heredoc);
        }
    }
    // The lines of the registry defaults in use are scanned again once they are references.
    let arg_lines: HashSet<usize> = registry_args.used().map(|arg| arg.line).collect();
    out.retain_mentions(|m| !arg_lines.contains(&m.line));
    for arg in registry_args.used() {
        out.push_reference(Reference {
            line: arg.line,
            kind: ReferenceKind::DockerfileArg,
            original: text[arg.span.clone()].to_owned(),
            repository: String::new(),
            tag: None,
            digest: None,
            pinned: None,
            setting: None,
            registry_span: arg.span.clone(),
            repository_span: None,
            tag_span: None,
            checkable: false,
            insertion: None,
            pin: crate::model::Pin::Suffix,
            short_name: false,
        });
    }
    for arg in registry_args.used() {
        for span in &arg.instruction {
            out.mention(
                text,
                &lines,
                span.clone(),
                registry,
                MentionPlace::Instruction,
            );
        }
    }
    if !seen_from {
        return Err(err(physical.len().max(1), "no FROM instruction".to_owned()));
    }
    out.sort();
    Ok(out)
}

/// `ARG` defaults that hold only the old registry, and the arguments images start with.
#[derive(Default)]
struct RegistryArgs {
    defaults: Vec<RegistryArg>,
    used: HashSet<String>,
}

/// `ARG NAME=myreg.azurecr.io`: rewritten when an image starts with `$NAME/` or `${NAME}/`.
struct RegistryArg {
    name: String,
    /// The registry text.
    span: Range<usize>,
    line: usize,
    /// The lines of the instruction, to scan again for mentions once this is a reference.
    instruction: Vec<Range<usize>>,
}

impl RegistryArgs {
    /// Notes the argument an image starts with (`$REG/app`, `${REG}/app`).
    fn note_use(&mut self, image: &str) {
        let Some(rest) = image.strip_prefix('$') else {
            return;
        };
        let (name, after) = match rest.strip_prefix('{') {
            Some(braced) => match braced.split_once('}') {
                Some((name, after)) => (name, after),
                None => return,
            },
            None => {
                let len = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                (&rest[..len], &rest[len..])
            }
        };
        if after.starts_with('/') && !name.is_empty() {
            self.used.insert(name.to_owned());
        }
    }

    /// The registry defaults some image starts with.
    fn used(&self) -> impl Iterator<Item = &RegistryArg> {
        self.defaults.iter().filter(|a| self.used.contains(&a.name))
    }
}

/// Records a reference for `word` when it names the registry.
fn reference<'o>(
    text: &str,
    word: &Word,
    registry: &Registry,
    kind: ReferenceKind,
    lines: &Lines<'_>,
    out: &'o mut Findings,
) -> Option<&'o mut Reference> {
    if !word.contiguous {
        return None;
    }
    let raw = word.start..word.start + word.text.len();
    let mut r = string_reference(text, raw, &word.text, registry, kind, lines)?;
    if word.text.contains('$') {
        r.checkable = false;
    }
    Some(out.push_reference(r))
}

/// Splits joined instruction text into whitespace-separated words (quotes keep spaces).
fn split_words(chars: &[(usize, char)]) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut last_offset = 0;
    let mut quote: Option<char> = None;
    for &(offset, c) in chars {
        if quote.is_none() && c.is_whitespace() {
            if let Some(w) = current.take() {
                words.push(w);
            }
            continue;
        }
        match quote {
            Some(q) if q == c => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
        match &mut current {
            Some(w) => {
                if offset != last_offset + 1 {
                    w.contiguous = false;
                }
                w.text.push(c);
            }
            None => {
                current = Some(Word {
                    start: offset,
                    text: c.to_string(),
                    contiguous: true,
                })
            }
        }
        last_offset = offset + c.len_utf8() - 1;
    }
    words.extend(current);
    words
}

/// Reads a `# escape=` parser directive from the top of the file.
fn escape_directive(physical: &[(usize, &str)]) -> char {
    for (_, line) in physical {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            if let Some(c) = value.trim().chars().next() {
                return c;
            }
        }
    }
    '\\'
}

/// The image of a `# syntax=IMAGE` parser directive (the BuildKit frontend), if the file
/// starts with one: directives are the comment lines `# key=value` at the very top, before
/// any other line.
fn syntax_directive(physical: &[(usize, &str)]) -> Option<Word> {
    for (start, line) in physical {
        let body = line.trim_end_matches(['\n', '\r']);
        let directive = body.trim_start().strip_prefix('#')?;
        let (key, value) = directive.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("syntax") {
            continue;
        }
        let value_start = body.len() - value.len();
        let trimmed = value.trim_start();
        let value_start = value_start + (value.len() - trimmed.len());
        let image = trimmed.trim_end();
        if image.is_empty() || image.contains(char::is_whitespace) {
            return None;
        }
        return Some(Word {
            start: start + value_start,
            text: image.to_owned(),
            contiguous: true,
        });
    }
    None
}

/// Skips the bodies of heredocs opened on an instruction (`RUN <<EOF`, `COPY <<-EOT /x`) and
/// returns the byte range of each body, to be scanned for mentions (a script or a file's
/// content: not rewritten) as a whole, so that a command continued over lines is seen.
fn skip_heredocs(
    physical: &[(usize, &str)],
    i: &mut usize,
    words: &[Word],
    err: &impl Fn(usize, String) -> DockerfileError,
) -> Result<Vec<Range<usize>>, DockerfileError> {
    let mut bodies = Vec::new();
    for w in words {
        let Some(rest) = w.text.strip_prefix("<<") else {
            continue;
        };
        let (strip_tabs, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let delimiter = rest.trim_matches(['"', '\'']);
        if delimiter.is_empty() || !delimiter.chars().all(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let opened = *i;
        let mut body: Option<Range<usize>> = None;
        loop {
            let Some(&(start, line)) = physical.get(*i) else {
                return Err(err(
                    opened,
                    format!("heredoc `{delimiter}` is never closed"),
                ));
            };
            *i += 1;
            let line = line.trim_end_matches(['\n', '\r']);
            let content = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if content == delimiter {
                break;
            }
            let end = start + line.len();
            body.get_or_insert(start..end).end = end;
        }
        bodies.extend(body);
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        Registry::parse("myreg.azurecr.io").unwrap()
    }

    fn originals(text: &str) -> Vec<(usize, ReferenceKind, String)> {
        scan(text, &reg())
            .unwrap()
            .into_parts()
            .0
            .into_iter()
            .map(|r| (r.line, r.kind, r.original))
            .collect()
    }

    #[test]
    fn from_lines_with_platform_and_stages() {
        let text = "# syntax=docker/dockerfile:1\nARG BASE=myreg.azurecr.io/base:1\nFROM --platform=$BUILDPLATFORM myreg.azurecr.io/sdk:8.0 AS build\nRUN make\nFROM build AS test\nFROM myreg2.azurecr.io/x:1\nFROM nginx:1.25\nCOPY --from=build /out /app\nCOPY --from=myreg.azurecr.io/tools:2 /bin/t /bin/t\n";
        assert_eq!(
            originals(text),
            vec![
                (
                    2,
                    ReferenceKind::DockerfileArg,
                    "myreg.azurecr.io/base:1".into()
                ),
                (
                    3,
                    ReferenceKind::DockerfileFrom,
                    "myreg.azurecr.io/sdk:8.0".into()
                ),
                (
                    9,
                    ReferenceKind::DockerfileCopyFrom,
                    "myreg.azurecr.io/tools:2".into()
                ),
            ]
        );
    }

    #[test]
    fn continuations_comments_and_heredocs() {
        let text = "FROM \\\n  myreg.azurecr.io/a:1 \\\n# a comment inside\n  AS a\nRUN <<EOF\nFROM myreg.azurecr.io/not-an-instruction\nEOF\nRUN echo myreg.azurecr.io/in-a-command\n";
        let f = scan(text, &reg()).unwrap();
        assert_eq!(f.references().len(), 1);
        assert_eq!(f.references()[0].line, 2);
        let mentioned: Vec<_> = f.mentions().iter().map(|m| (m.line, m.place)).collect();
        assert_eq!(
            mentioned,
            vec![(6, MentionPlace::Heredoc), (8, MentionPlace::Instruction)],
            "a heredoc body is not an instruction, but its mentions are listed"
        );
    }

    #[test]
    fn the_syntax_directive_names_an_image_and_a_byte_order_mark_is_kept() {
        let text = "\u{feff}# syntax = myreg.azurecr.io/dockerfile/frontend:1.7\nFROM myreg.azurecr.io/base:1\n";
        let f = scan(text, &reg()).unwrap();
        let found: Vec<_> = f
            .references()
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.kind,
                    &text[r.registry_span.clone()],
                    r.original.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    1,
                    ReferenceKind::DockerfileSyntax,
                    "myreg.azurecr.io",
                    "myreg.azurecr.io/dockerfile/frontend:1.7"
                ),
                (
                    2,
                    ReferenceKind::DockerfileFrom,
                    "myreg.azurecr.io",
                    "myreg.azurecr.io/base:1"
                ),
            ]
        );
        let late = "FROM a\n# syntax=myreg.azurecr.io/frontend:1\n";
        assert!(
            scan(late, &reg()).unwrap().references().is_empty(),
            "a directive after the first instruction is a comment"
        );
    }

    #[test]
    fn broken_dockerfiles_name_the_line() {
        let line = |t: &str| scan(t, &reg()).unwrap_err().line;
        assert_eq!(line("FROM a\nFORM b\n"), 2);
        assert_eq!(line("FROM --platform=linux/amd64\n"), 1);
        assert_eq!(line("RUN x\n"), 1);
        assert_eq!(line("FROM a\nRUN <<EOF\nx\n"), 2);
        assert_eq!(line("# only a comment\n"), 1);
        assert_eq!(line("FROM a AS\n"), 1);
    }

    #[test]
    fn run_mounts_onbuild_copies_and_registry_args_are_references() {
        let text = "ARG REG=myreg.azurecr.io\nARG UNUSED=myreg.azurecr.io\nARG QUOTED=\"myreg.azurecr.io\"\nFROM $REG/app:1 AS build\nRUN --mount=type=bind,from=myreg.azurecr.io/tools:2,source=/t,target=/t make\nRUN --mount=type=cache,target=/c --mount=from=build,target=/b true\nONBUILD COPY --from=myreg.azurecr.io/x:3 /a /b\nCOPY --from=${QUOTED}/y:4 /a /b\n";
        assert_eq!(
            originals(text),
            vec![
                (1, ReferenceKind::DockerfileArg, "myreg.azurecr.io".into()),
                (3, ReferenceKind::DockerfileArg, "myreg.azurecr.io".into()),
                (
                    5,
                    ReferenceKind::DockerfileRunMount,
                    "myreg.azurecr.io/tools:2".into()
                ),
                (
                    7,
                    ReferenceKind::DockerfileCopyFrom,
                    "myreg.azurecr.io/x:3".into()
                ),
            ]
        );
        let f = scan(text, &reg()).unwrap();
        let mentioned: Vec<usize> = f.mentions().iter().map(|m| m.line).collect();
        assert_eq!(
            mentioned,
            vec![2],
            "an ARG no image starts with stays a mention"
        );
        let spans: Vec<&str> = f
            .references()
            .iter()
            .map(|r| &text[r.registry_span.clone()])
            .collect();
        assert!(spans.iter().all(|s| *s == "myreg.azurecr.io"));
    }
}
