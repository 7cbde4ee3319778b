//! Finds `az acr` commands that name the old registry by its short name (`az acr login -n
//! myacr`, `az acr build -r myacr .`), in scripts, pipeline steps and other text.
//!
//! The short name alone is an ordinary word, so it is never matched as free text: only as the
//! value of the option that names the registry of an `az acr` command, which is unambiguous.
//! Such a command is listed as a mention with a note, not rewritten.

use crate::Registry;

/// The options of `az acr` commands that take the registry's name.
const NAME_OPTIONS: [&str; 4] = ["--name", "-n", "--registry", "-r"];

/// A word of a shell command line and where it starts in the text.
struct Word<'a> {
    start: usize,
    text: &'a str,
}

/// Byte offsets in `text` of the short name of `registry` (see [`Registry::short_name`]) given
/// as the value of `--name`/`-n` or `--registry`/`-r` of an `az acr` command, spelled
/// `-n NAME`, `--name=NAME`, quoted or not. A command ends at a line end (unless the line ends
/// with a `\` or a PowerShell backtick), `;`, `&`, `|`, `(` or `)`. Empty for a registry without
/// a short name.
pub(crate) fn short_names(text: &str, registry: &Registry) -> Vec<usize> {
    let Some(name) = registry.short_name() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for command in commands(text) {
        let Some(at) = command
            .windows(2)
            .position(|w| is_az(unquoted(&w[0]).1) && unquoted(&w[1]).1 == "acr")
        else {
            continue;
        };
        let args = &command[at + 2..];
        for (i, word) in args.iter().enumerate() {
            let (word_start, word_text) = unquoted(word);
            let value = NAME_OPTIONS.iter().find_map(|option| {
                if word_text == *option {
                    args.get(i + 1).map(|next| (next.start, next.text))
                } else {
                    let rest = word_text.strip_prefix(option)?.strip_prefix('=')?;
                    Some((word_start + option.len() + 1, rest))
                }
            });
            let Some((start, value)) = value else {
                continue;
            };
            let (start, value) = unquote(start, value);
            if value.eq_ignore_ascii_case(name) {
                found.push(start);
            }
        }
    }
    found
}

/// [`short_names`] of a text given as its characters with the offset of each in the file
/// (a Dockerfile instruction with its continuation lines joined, as the shell receives it):
/// the offsets returned are the file's.
pub(crate) fn short_names_in_joined(chars: &[(usize, char)], registry: &Registry) -> Vec<usize> {
    let mut joined = String::with_capacity(chars.len());
    let mut starts = Vec::with_capacity(chars.len());
    for &(_, c) in chars {
        starts.push(joined.len());
        joined.push(c);
    }
    short_names(&joined, registry)
        .into_iter()
        .filter_map(|at| {
            let index = starts.binary_search(&at).ok()?;
            Some(chars[index].0)
        })
        .collect()
}

/// Why an `az acr` command naming `registry` by its short name is listed.
pub(crate) fn note(registry: &Registry) -> String {
    format!(
        "an `az acr` command naming {registry} by its short name {}: not rewritten; give it the new registry's name by hand",
        registry.short_name().unwrap_or_default()
    )
}

/// True for the Azure CLI as a command word: `az`, `az.cmd`, or a path ending in one.
fn is_az(word: &str) -> bool {
    let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
    base.eq_ignore_ascii_case("az") || base.eq_ignore_ascii_case("az.cmd")
}

/// A word without the quotes around it, and where it starts then: the words of an exec-form
/// array (`RUN ["az", "acr", …]`) come quoted.
fn unquoted<'t>(word: &Word<'t>) -> (usize, &'t str) {
    unquote(word.start, word.text)
}

/// `value` without the quotes around it, and where it starts then.
fn unquote(start: usize, value: &str) -> (usize, &str) {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return (start + 1, inner);
        }
    }
    (start, value)
}

/// The commands of `text`, each as its words.
fn commands(text: &str) -> Vec<Vec<Word<'_>>> {
    let mut commands = vec![Vec::new()];
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match c {
            // `[`, `]` and `,` also part the words of an exec-form JSON array.
            ' ' | '\t' | '\r' | '[' | ']' | ',' => {
                end_word(text, &mut commands, &mut word_start, i)
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                end_word(text, &mut commands, &mut word_start, i);
                let continued = c == '\n'
                    && text[..i]
                        .trim_end_matches([' ', '\t', '\r'])
                        .ends_with(['\\', '`']);
                if continued {
                    // The continuation mark is a word of its own or ends one: drop it.
                    if let Some(command) = commands.last_mut() {
                        if let Some(last) = command.last_mut() {
                            last.text = last.text.trim_end_matches(['\\', '`']);
                            if last.text.is_empty() {
                                command.pop();
                            }
                        }
                    }
                } else if commands.last().is_some_and(|c| !c.is_empty()) {
                    commands.push(Vec::new());
                }
            }
            _ => {
                word_start.get_or_insert(i);
            }
        }
    }
    end_word(text, &mut commands, &mut word_start, text.len());
    commands
}

/// Ends the word that started at `start` (if any) at `end`, adding it to the last command.
fn end_word<'a>(
    text: &'a str,
    commands: &mut [Vec<Word<'a>>],
    start: &mut Option<usize>,
    end: usize,
) {
    if let (Some(start), Some(command)) = (start.take(), commands.last_mut()) {
        command.push(Word {
            start,
            text: &text[start..end],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        let registry = Registry::parse("myacr.azurecr.io").unwrap();
        short_names(text, &registry)
            .into_iter()
            .map(|at| &text[at..at + 5])
            .collect()
    }

    #[test]
    fn the_registry_option_of_an_az_acr_command_is_found_in_every_spelling() {
        for text in [
            "az acr login -n myacr",
            "az acr login --name myacr --expose-token",
            "az acr login --name=myacr",
            "az acr build -r MyAcr -t web:1 .",
            "az acr build --registry \"myacr\" .",
            "TOKEN=$(az acr login -n 'myacr' --expose-token)",
            r#"["az", "acr", "login", "--name", "myacr"]"#,
            r#"["az","acr","build","--registry=myacr","."]"#,
            "set -e; az acr repository list -n myacr | jq .",
            "az acr login \\\n  --name myacr",
            "az acr login `\r\n  --name myacr",
            "az acr login -n \\\n myacr",
            "/usr/bin/az acr login -n myacr",
        ] {
            assert_eq!(names(text).len(), 1, "{text:?}");
        }
    }

    #[test]
    fn the_short_name_elsewhere_is_not_an_az_acr_registry() {
        for text in [
            "ACR=myacr",
            "echo myacr -n myacr",
            "az aks show -n myacr",
            "az acr login -n myacr2",
            "az acr login\n-n myacr",
            "az acr login -n $ACR_NAME",
            "az acr login -n myacr.azurecr.io",
        ] {
            assert!(names(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn joined_text_gives_the_offsets_of_the_file() {
        let registry = Registry::parse("myacr.azurecr.io").unwrap();
        // `RUN az acr login \` + newline + `  --name myacr`, the escape and line end dropped.
        let file = "RUN az acr login \\\n  --name myacr\n";
        let chars: Vec<(usize, char)> = file[..17]
            .char_indices()
            .chain(file[19..33].char_indices().map(|(o, c)| (19 + o, c)))
            .collect();
        let found = short_names_in_joined(&chars, &registry);
        assert_eq!(
            found
                .iter()
                .map(|&at| &file[at..at + 5])
                .collect::<Vec<_>>(),
            ["myacr"]
        );
    }

    #[test]
    fn a_registry_without_a_short_name_finds_nothing() {
        let registry = Registry::parse("registry.example.com").unwrap();
        assert!(short_names("az acr login -n registry", &registry).is_empty());
    }
}
