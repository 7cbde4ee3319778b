//! Finds Azure commands that name the old registry by its short name, in scripts, pipeline
//! steps and other text: `az acr` commands (`az acr login -n myacr`, `az acr build -r myacr .`),
//! the AKS attachment that grants a cluster pull rights (`az aks create|update --attach-acr
//! myacr`, `--detach-acr`, `az aks check-acr --acr`, PowerShell's `Set-AzAksCluster` /
//! `New-AzAksCluster -AcrNameToAttach myacr`) and PowerShell's registry cmdlets
//! (`Connect-AzContainerRegistry -Name myacr`, `Get-AzContainerRegistry -Name`,
//! `-RegistryName` of the others).
//!
//! The short name alone is an ordinary word, so it is never matched as free text: only as the
//! value of the option that names the registry of such a command, which is unambiguous.
//! Such a command is listed as a mention with a note, not rewritten.

use crate::Registry;

/// The options of `az acr` commands that take the registry's name.
const NAME_OPTIONS: [&str; 4] = ["--name", "-n", "--registry", "-r"];

/// The options of `az aks` commands that take a registry's name.
const AKS_OPTIONS: [&str; 3] = ["--attach-acr", "--detach-acr", "--acr"];

/// The parameters of PowerShell's `*-AzContainerRegistry*` cmdlets that take the registry's
/// name (lower case: PowerShell compares them without case).
const CMDLET_OPTIONS: [&str; 3] = ["-name", "-registryname", "-containerregistryname"];

/// The parameters of `Set-AzAksCluster` and `New-AzAksCluster` that take a registry's name.
const AKS_CMDLET_OPTIONS: [&str; 2] = ["-acrnametoattach", "-acrnametodetach"];

/// What a command naming the registry by its short name does with it, which its note says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// An `az acr` command.
    Registry,
    /// A PowerShell registry cmdlet (`Connect-AzContainerRegistry`, ...).
    Cmdlet,
    /// An AKS cluster attached to (or detached from) the registry: what gives it pull rights.
    Attachment,
}

/// A word of a shell command line and where it starts in the text.
struct Word<'a> {
    start: usize,
    text: &'a str,
}

/// Byte offsets in `text` of the short name of `registry` (see [`Registry::short_name`]) given
/// as the value of the option naming the registry of an `az acr` command (`--name`/`-n`,
/// `--registry`/`-r`), an `az aks` command ([`AKS_OPTIONS`]) or a PowerShell cmdlet
/// ([`CMDLET_OPTIONS`], [`AKS_CMDLET_OPTIONS`]), spelled `-n NAME`, `--name=NAME`,
/// `-Name:NAME`, quoted or not (a registry's resource ID ending in `/registries/NAME` too),
/// each with what the command does with it. A command ends at a line end (unless the line
/// ends with a `\` or a PowerShell backtick), `;`, `&`, `|`, `(` or `)`. Empty for a registry
/// without a short name.
pub(crate) fn short_names(text: &str, registry: &Registry) -> Vec<(usize, Use)> {
    let Some(name) = registry.short_name() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for command in commands(text) {
        let word = |i: usize| command.get(i).map_or("", |w| unquoted(w).1);
        for at in 0..command.len() {
            let first = word(at);
            let lower = first.to_ascii_lowercase();
            let (args, options, separator, use_): (_, &[&str], char, Use) =
                if is_az(first) && word(at + 1) == "acr" {
                    (&command[at + 2..], &NAME_OPTIONS, '=', Use::Registry)
                } else if is_az(first) && word(at + 1) == "aks" {
                    (&command[at + 2..], &AKS_OPTIONS, '=', Use::Attachment)
                } else if lower.contains("-azcontainerregistry") {
                    (&command[at + 1..], &CMDLET_OPTIONS, ':', Use::Cmdlet)
                } else if matches!(lower.as_str(), "set-azakscluster" | "new-azakscluster") {
                    (
                        &command[at + 1..],
                        &AKS_CMDLET_OPTIONS,
                        ':',
                        Use::Attachment,
                    )
                } else {
                    continue;
                };
            for (start, value) in option_values(args, options, separator) {
                let (start, value) = unquote(start, value);
                let (start, value) = match value.to_ascii_lowercase().rfind("/registries/") {
                    Some(i) => (start + i + 12, &value[i + 12..]),
                    None => (start, value),
                };
                if value.eq_ignore_ascii_case(name) {
                    found.push((start, use_));
                }
            }
            // The first command word of the command decides what its options mean.
            break;
        }
    }
    found
}

/// The values of `options` among `args` (`-n NAME`, `--name=NAME` with `separator` `=`,
/// `-Name:NAME` with `:`), compared without case, with where each starts.
fn option_values<'t>(
    args: &[Word<'t>],
    options: &[&str],
    separator: char,
) -> Vec<(usize, &'t str)> {
    let mut values = Vec::new();
    for (i, word) in args.iter().enumerate() {
        let (word_start, word_text) = unquoted(word);
        for option in options {
            if word_text.eq_ignore_ascii_case(option) {
                values.extend(args.get(i + 1).map(|next| (next.start, next.text)));
            } else if word_text.len() > option.len()
                && word_text.is_char_boundary(option.len())
                && word_text[..option.len()].eq_ignore_ascii_case(option)
            {
                if let Some(rest) = word_text[option.len()..].strip_prefix(separator) {
                    values.push((word_start + option.len() + 1, rest));
                }
            }
        }
    }
    values
}

/// [`short_names`] of a text given as its characters with the offset of each in the file
/// (a Dockerfile instruction with its continuation lines joined, as the shell receives it):
/// the offsets returned are the file's.
pub(crate) fn short_names_in_joined(
    chars: &[(usize, char)],
    registry: &Registry,
) -> Vec<(usize, Use)> {
    let mut joined = String::with_capacity(chars.len());
    let mut starts = Vec::with_capacity(chars.len());
    for &(_, c) in chars {
        starts.push(joined.len());
        joined.push(c);
    }
    short_names(&joined, registry)
        .into_iter()
        .filter_map(|(at, use_)| {
            let index = starts.binary_search(&at).ok()?;
            Some((chars[index].0, use_))
        })
        .collect()
}

/// Why a command naming `registry` by its short name is listed.
pub(crate) fn note(registry: &Registry, use_: Use) -> String {
    let name = registry.short_name().unwrap_or_default();
    match use_ {
        Use::Registry => format!(
            "an `az acr` command naming {registry} by its short name {name}: not rewritten; give it the new registry's name by hand"
        ),
        Use::Cmdlet => format!(
            "a PowerShell registry cmdlet naming {registry} by its short name {name}: not rewritten; give it the new registry's name by hand"
        ),
        Use::Attachment => format!(
            "an AKS cluster attached to {registry} by its short name {name}: not rewritten; attach the new registry by hand (it grants the cluster pull rights: without them, pods rewritten to it cannot pull)"
        ),
    }
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
        found(text).into_iter().map(|(name, _)| name).collect()
    }

    fn found(text: &str) -> Vec<(&str, Use)> {
        let registry = Registry::parse("myacr.azurecr.io").unwrap();
        short_names(text, &registry)
            .into_iter()
            .map(|(at, use_)| (&text[at..at + 5], use_))
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
                .map(|&(at, _)| &file[at..at + 5])
                .collect::<Vec<_>>(),
            ["myacr"]
        );
    }

    #[test]
    fn aks_attachments_and_powershell_registry_cmdlets_naming_the_short_name_are_found() {
        for (text, use_) in [
            ("az aks update -g rg -n aks --attach-acr myacr", Use::Attachment),
            ("az aks create -g rg -n aks --attach-acr=myacr --generate-ssh-keys", Use::Attachment),
            ("az aks update -n aks --detach-acr myacr", Use::Attachment),
            ("az aks check-acr -n aks --acr myacr", Use::Attachment),
            (
                "az aks update -n aks --attach-acr /subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myacr",
                Use::Attachment,
            ),
            ("Set-AzAksCluster -ResourceGroupName rg -Name aks -AcrNameToAttach myacr", Use::Attachment),
            ("New-AzAksCluster -Name aks -acrnametoattach:'myacr'", Use::Attachment),
            ("Connect-AzContainerRegistry -Name myacr", Use::Cmdlet),
            ("$acr = Get-AzContainerRegistry -ResourceGroupName rg -Name \"MyAcr\"", Use::Cmdlet),
            ("New-AzContainerRegistryWebhook -RegistryName myacr -Name hook", Use::Cmdlet),
        ] {
            let found: Vec<_> = found(text)
                .into_iter()
                .map(|(name, use_)| (name.to_ascii_lowercase(), use_))
                .collect();
            assert_eq!(found, [("myacr".to_owned(), use_)], "{text:?}");
        }
        for text in [
            "az aks update -n myacr --attach-acr other",
            "Set-AzAksCluster -Name myacr",
            "Get-AzContainerRegistry -ResourceGroupName myacr",
            "Connect-AzAccount -Name myacr",
        ] {
            assert!(names(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn a_registry_without_a_short_name_finds_nothing() {
        let registry = Registry::parse("registry.example.com").unwrap();
        assert!(short_names("az acr login -n registry", &registry).is_empty());
    }
}
