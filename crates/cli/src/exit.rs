//! Exit codes, decided in one place, and the one line an error is shown as.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything done (copied, verified, no blocking finding) |
//! | 1 | the job ran but some items failed, differ or are blocked (each one is listed) |
//! | 2 | usage, input or connection error: nothing useful could be done |
//! | 3 | a registry stopped answering during the run: what was written is complete (a `copy` prints its summary of it); run the same command again to resume |
//! | 4 | `--repo`/`--exclude-repo`/`--tag`, or a prefix of SOURCE, selected nothing: nothing was done (a misspelt filter is not a success); `rewrite` (and `plan`'s `[rewrite] paths`): the files name neither `--from` nor `--to` (a misspelt `--from`) |
//! | 5 | `apply`: the source would be deleted before every earlier step of the plan is done: nothing was done |
//! | 130 | interrupted by Ctrl-C (SIGINT); the summary says what was done, the same command resumes |
//! | 143 | stopped by SIGTERM (`kill`, `timeout`, systemd, Kubernetes), handled as Ctrl-C is |
//! | 129 | stopped by SIGHUP (its terminal or SSH session closed), handled as Ctrl-C is |
//! | 141 | stdout was closed by its reader (`inventory … \| head`): stopped quietly, as other tools are |

use std::process::ExitCode;

/// Everything done.
#[allow(dead_code)]
pub const SUCCESS: u8 = 0;
/// Some items failed, differ, or a blocking finding remains.
#[allow(dead_code)]
pub const FAILURES: u8 = 1;
/// Usage, input or connection error.
pub const ERROR: u8 = 2;
/// A registry stopped answering mid-run; the same command resumes.
pub const UNREACHABLE: u8 = 3;
/// The filters (or SOURCE's prefix) selected nothing.
pub const NOTHING_SELECTED: u8 = 4;
/// `apply`: the delete_source step was asked for before the plan's earlier steps were done.
pub const EARLIER_STEPS_NOT_DONE: u8 = 5;
/// Interrupted by the user: Ctrl-C, SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (128 + 15), handled as Ctrl-C is (see [`crate::interrupt`]).
pub const TERMINATED: u8 = 143;
/// Stopped by SIGHUP (128 + 1: the terminal or SSH session closed), handled as Ctrl-C is.
pub const HUNG_UP: u8 = 129;

/// Stdout was closed by the program reading it (128 + SIGPIPE, what a shell shows for a tool the
/// signal stopped).
pub const STDOUT_CLOSED: i32 = 141;

/// Makes a write to a closed stdout (`acr-relocate inventory SOURCE | head`) end the process
/// quietly with [`STDOUT_CLOSED`], as other command-line tools end, instead of the panic that
/// Rust's `print!` raises (which stopped the process at the same point). Every other panic is
/// reported as before.
pub fn quiet_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(STDOUT_CLOSED);
        }
        report(info)
    }));
}

/// Ends a run whose arguments clap refused, as one line on stderr (clap's own text spreads the
/// error, a tip and the usage over up to seven lines): `error: WHAT (tip: …); usage: …`, exit 2.
/// Help and version requests are printed as clap prints them.
pub fn usage(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit()
    }
    let args: Vec<String> = std::env::args().collect();
    let hint = peer_hint(&error, &args);
    eprintln!("{}", usage_line(&error.to_string(), hint.as_ref()));
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(ERROR))
}

/// What a user of skopeo, crane or regsync who typed their flag gets instead of clap's tip: the
/// answer, and the verb's usage (clap's names the flag its tip suggested).
#[derive(Debug)]
struct PeerHint {
    answer: String,
    usage: String,
}

/// The [`PeerHint`] for `error`, raised by the command line `args`, when a verb that reaches
/// registries was given a flag of skopeo, crane or regsync ([`peer_answer`]), or when
/// `--insecure` took SOURCE as its HOST (crane's `--insecure` is a switch).
fn peer_hint(error: &clap::Error, args: &[String]) -> Option<PeerHint> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    let verb = args.iter().skip(1).find(|a| !a.starts_with('-'))?;
    let mut command = crate::Cli::command();
    command.build();
    let command = command.find_subcommand_mut(verb)?;
    let has = |long: &str| {
        command
            .get_arguments()
            .any(|a| a.get_long() == Some(long) && !a.is_hide_set())
    };
    if !has("insecure") {
        return None;
    }
    let string = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let insecure_switch = || {
        let endpoints: Vec<String> = command
            .get_positionals()
            .map(|a| a.get_id().as_str().to_ascii_uppercase())
            .collect();
        format!(
            "--insecure takes a HOST[:PORT] (crane's --insecure is a switch): write --insecure HOST before {}",
            endpoints.join(" ")
        )
    };
    // `--insecure` written alone before an endpoint, as crane's switch is (not `--insecure=…`).
    let switch_like = args.iter().skip(1).any(|a| a == "--insecure");
    let answer = match error.kind() {
        ErrorKind::UnknownArgument => {
            let flag = string(ContextKind::InvalidArg)?;
            let flag = flag.split_once('=').map_or(flag, |(name, _)| name);
            format!("{flag}: {}", peer_answer(flag, has)?)
        }
        // `--insecure SOURCE TARGET`: SOURCE became the HOST and TARGET is missing.
        ErrorKind::MissingRequiredArgument if switch_like => insecure_switch(),
        // `--insecure https://SOURCE …`: an endpoint is no HOST.
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
            if switch_like
                && string(ContextKind::InvalidArg).is_some_and(|a| a.starts_with("--insecure"))
                && string(ContextKind::InvalidValue).is_some_and(|v| v.contains(['/', ':'])) =>
        {
            insecure_switch()
        }
        _ => return None,
    };
    let usage = command.render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim().to_string();
    Some(PeerHint { answer, usage })
}

/// What to write instead of `flag`, a flag of skopeo, crane or regsync, to a verb that reaches
/// registries and has the flags `has` says; `None` for a flag no peer has, or whose answer would
/// name a flag the verb lacks.
fn peer_answer(flag: &str, has: impl Fn(&str) -> bool) -> Option<String> {
    let side = |src: &str, dst: &str| match flag.starts_with("--src") {
        true => src.to_string(),
        false => dst.to_string(),
    };
    let answer = match flag {
        "--src-tls-verify" | "--dest-tls-verify" | "--tls-verify" => {
            "write http://HOST:PORT for a plain-HTTP registry, or --insecure HOST[:PORT] for a certificate that is not trusted".into()
        }
        "--authfile" | "--src-authfile" | "--dest-authfile" => {
            "set REGISTRY_AUTH_FILE=FILE instead (one file serves every registry, read before docker's config)".into()
        }
        "--all" | "--multi-arch" | "--preserve-digests" => {
            "always on: every platform is copied and digests are kept".into()
        }
        "--all-tags" if has("tag") => {
            "always on: every tag is copied unless --tag selects some".into()
        }
        "--platform" => {
            "every platform is copied: a relocation keeps indexes whole (their digests unchanged)".into()
        }
        "--scoped" => format!(
            "repository names are kept as in SOURCE: to put them under a prefix, give TARGET one (HOST/PREFIX){}",
            match has("map") {
                true => ", or rename them with --map FROM=TO",
                false => "",
            }
        ),
        // `inventory --map`: only the jobs with a target rename.
        "--map" if !has("map") => {
            "it gives repositories other names in TARGET, and only copy, verify, delete-source and rewrite take it; this command reads SOURCE's names as they are".into()
        }
        "--retry-times" => {
            "retries are automatic (with backoff, Retry-After honoured); --unreachable-after SECS bounds them".into()
        }
        "--keep-going" => {
            "the default: a failed item does not stop the others, and every failure is listed at the end (exit 1)".into()
        }
        "--format" if has("json") => {
            "write --json for JSON output (manifests are never converted: digests are kept)".into()
        }
        "--parallel" if has("jobs") => "write --jobs N".into(),
        // crane's --no-clobber, regsync's refusal to replace a tag.
        "--no-clobber" if has("no-overwrite") => "write --no-overwrite".into(),
        "--rate-limit" if has("jobs") => {
            "requests slow down by themselves when a registry answers 429 (Retry-After is honoured); --jobs N caps how many run at once".into()
        }
        "--dest-creds" if has("dst-creds") => "write --dst-creds USER[:PASSWORD]".into(),
        "--src-username" | "--src-password" | "--dest-username" | "--dest-password"
            if has(&side("src-creds", "dst-creds")) =>
        {
            side(
                "write --src-creds USER, the password in $ACR_RELOCATE_SRC_PASSWORD or on stdin (--src-password-stdin)",
                "write --dst-creds USER, the password in $ACR_RELOCATE_DST_PASSWORD or on stdin (--dst-password-stdin)",
            )
        }
        "--src-registry-token" | "--dest-registry-token" if has(&side("src-creds", "dst-creds")) => {
            side(
                "an ACR refresh token goes in --src-creds 00000000-0000-0000-0000-000000000000 with the token in $ACR_RELOCATE_SRC_PASSWORD; other registries take USER:PASSWORD, and their tokens are fetched and renewed here",
                "an ACR refresh token goes in --dst-creds 00000000-0000-0000-0000-000000000000 with the token in $ACR_RELOCATE_DST_PASSWORD; other registries take USER:PASSWORD, and their tokens are fetched and renewed here",
            )
        }
        "--src-cert-dir" | "--dest-cert-dir" if has(&side("src-ca-cert", "dst-ca-cert")) => {
            side(
                "name the files: --src-ca-cert FILE for the CA (*.crt), --src-cert FILE --src-key FILE for a client certificate",
                "name the files: --dst-ca-cert FILE for the CA (*.crt), --dst-cert FILE --dst-key FILE for a client certificate",
            )
        }
        "--allow-nondistributable-artifacts" if has("include-nondistributable") => {
            "write --include-nondistributable".into()
        }
        _ => return None,
    };
    Some(answer)
}

/// clap's rendering of a usage error, on one line; `hint` takes the place of clap's tips and
/// usage.
fn usage_line(rendered: &str, hint: Option<&PeerHint>) -> String {
    let mut what = String::new();
    let mut tips = Vec::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(tip) = line.strip_prefix("tip: ") {
            tips.push(tip.to_string());
        } else if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if line.starts_with("For more information") {
        } else if what.is_empty() {
            what = line.to_string();
        } else {
            // A continuation of the error (the values a flag takes, say).
            what.push(' ');
            what.push_str(line);
        }
    }
    if let Some(hint) = hint {
        tips = vec![hint.answer.clone()];
        usage = Some(hint.usage.clone());
    }
    let mut one = what;
    if !tips.is_empty() {
        one.push_str(&format!(" (tip: {})", tips.join("; ")));
    }
    if let Some(usage) = usage {
        one.push_str(&format!("; usage: {usage} (--help says more)"));
    }
    one
}
pub fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(code_of(&error))
        }
    }
}

/// The exit code of an error: [`UNREACHABLE`] for a registry that stopped answering mid-run,
/// [`ERROR`] otherwise.
pub fn code_of(error: &anyhow::Error) -> u8 {
    let stopped = error.chain().any(|cause| {
        cause
            .downcast_ref::<acr_relocate::error::Error>()
            .is_some_and(acr_relocate::error::Error::stopped_answering)
    });
    if stopped {
        UNREACHABLE
    } else {
        ERROR
    }
}

/// An error and its causes on one line, "what failed: why": each cause once (an io error whose
/// text its wrapper already shows is not repeated, nor a subject the context names), a cause
/// written over several lines (a TOML error's excerpt) folded, and no temporary file's path.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = without_temporary_path(&fold(&cause.to_string()));
        if text.is_empty() || parts.iter().any(|said| said.contains(&text)) {
            continue;
        }
        let text = match parts.last() {
            Some(context) => without_repeated_subject(context, &text).to_string(),
            None => text,
        };
        parts.push(text);
    }
    // A name or message from outside (a registry, a layout, a file tree) may hold control
    // characters: shown as escapes, never obeyed by the terminal.
    acr_relocate::log::printable(&parts.join(": ")).into_owned()
}

/// Text written over several lines on one: blank lines and source excerpts (`3 | jobs = "x"`,
/// `  |   ^^^`) left out, the other lines joined with `: `.
fn fold(text: &str) -> String {
    let is_excerpt = |line: &str| {
        let rest = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
        rest.trim_start().starts_with('|')
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_excerpt(line))
        .collect::<Vec<_>>()
        .join(": ")
}

/// `text` without `at path "…/.tmpXXXX"`, which names a temporary file the user never sees (the
/// context names the file they gave).
fn without_temporary_path(text: &str) -> String {
    let Some(at) = text.find(" at path \"") else {
        return text.to_string();
    };
    let quoted = &text[at + " at path \"".len()..];
    let Some(end) = quoted.find('"') else {
        return text.to_string();
    };
    let path = std::path::Path::new(&quoted[..end]);
    let temporary = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".tmp"));
    if temporary {
        format!("{}{}", &text[..at], &quoted[end + 1..])
    } else {
        text.to_string()
    }
}

/// `text` without a leading `subject: ` that `context` already names ("PLAN p.json" then
/// "plan: not a plan…" reads "PLAN p.json: not a plan…").
fn without_repeated_subject<'a>(context: &str, text: &'a str) -> &'a str {
    let Some((subject, rest)) = text.split_once(": ") else {
        return text;
    };
    if subject.is_empty() || subject.contains(char::is_whitespace) {
        return text;
    }
    let subject = subject.to_lowercase();
    let named = context
        .split(|c: char| c.is_whitespace() || c == '`')
        .any(|word| word.to_lowercase() == subject);
    if named {
        rest
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_error_is_one_line_with_its_tip_and_usage() {
        let rendered = "error: unexpected argument '-q' found\n\n  tip: to pass '-q' as a value, use '-- -q'\n\nUsage: acr-relocate sample [OPTIONS] <TARGET>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_line(rendered, None),
            "error: unexpected argument '-q' found (tip: to pass '-q' as a value, use '-- -q'); usage: acr-relocate sample [OPTIONS] <TARGET> (--help says more)"
        );
    }

    #[test]
    fn a_peer_hint_takes_the_place_of_clap_tip_and_of_the_usage_it_suggested() {
        let rendered = "error: unexpected argument '--scoped' found\n\n  tip: a similar argument exists: '--source-id'\n\nUsage: acr-relocate copy --source-id <REGISTRY_ID> <SOURCE> <TARGET>\n\nFor more information, try '--help'.\n";
        let hint = PeerHint {
            answer: "--scoped: give TARGET a prefix".into(),
            usage: "acr-relocate copy [OPTIONS] <SOURCE> <TARGET>".into(),
        };
        assert_eq!(
            usage_line(rendered, Some(&hint)),
            "error: unexpected argument '--scoped' found (tip: --scoped: give TARGET a prefix); usage: acr-relocate copy [OPTIONS] <SOURCE> <TARGET> (--help says more)"
        );
    }

    /// Each flag of skopeo, crane or regsync is answered on some verb, and an answer names only
    /// flags of the verb it is given for.
    #[test]
    fn a_peer_flags_answer_names_only_flags_the_verb_has() {
        use clap::CommandFactory;
        let peers = [
            "--src-tls-verify",
            "--dest-tls-verify",
            "--tls-verify",
            "--authfile",
            "--src-authfile",
            "--dest-authfile",
            "--all",
            "--multi-arch",
            "--preserve-digests",
            "--all-tags",
            "--platform",
            "--scoped",
            "--retry-times",
            "--keep-going",
            "--format",
            "--parallel",
            "--no-clobber",
            "--rate-limit",
            "--dest-creds",
            "--src-username",
            "--dest-password",
            "--src-registry-token",
            "--dest-registry-token",
            "--src-cert-dir",
            "--dest-cert-dir",
            "--allow-nondistributable-artifacts",
        ];
        let mut cli = crate::Cli::command();
        cli.build();
        let mut answered = std::collections::BTreeSet::new();
        for verb in cli.get_subcommands() {
            let longs: Vec<&str> = verb
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                .collect();
            if !longs.contains(&"insecure") {
                continue;
            }
            for flag in peers {
                let Some(answer) = peer_answer(flag, |l| longs.contains(&l)) else {
                    continue;
                };
                answered.insert(flag);
                let words = answer.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
                for named in words.filter_map(|w| w.strip_prefix("--")) {
                    assert!(
                        longs.contains(&named),
                        "{} {flag}: {answer}",
                        verb.get_name()
                    );
                }
            }
        }
        assert_eq!(answered.len(), peers.len(), "{answered:?}");
        assert!(peer_answer("--bogus", |_| true).is_none());
    }

    #[test]
    fn an_io_error_inside_its_wrapper_is_said_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let error = anyhow::Error::new(io)
            .context(format!("jdir: {}", std::io::Error::from_raw_os_error(21)));
        let error = error.context("--journal jdir");
        assert_eq!(
            one_line(&error),
            "--journal jdir: Is a directory (os error 21)"
        );
    }

    #[test]
    fn a_subject_the_context_names_is_not_repeated() {
        let error = anyhow::anyhow!("plan: not a plan written by `acr-relocate plan`")
            .context("PLAN bad.json");
        assert_eq!(
            one_line(&error),
            "PLAN bad.json: not a plan written by `acr-relocate plan`"
        );
    }

    #[test]
    fn a_toml_excerpt_is_folded_on_one_line() {
        let error = anyhow::anyhow!(
            "TOML parse error at line 6, column 8\n  |\n6 | jobs = \"x\"\n  |        ^^^\ninvalid type: string \"x\", expected usize\n"
        )
        .context("--config bad.toml");
        assert_eq!(
            one_line(&error),
            "--config bad.toml: TOML parse error at line 6, column 8: invalid type: string \"x\", expected usize"
        );
    }

    #[test]
    fn a_temporary_file_is_not_named() {
        let error = anyhow::anyhow!(
            "No such file or directory (os error 2) at path \"/nonexistent/.tmpEAU5Py\""
        )
        .context("-o /nonexistent/p.json");
        assert_eq!(
            one_line(&error),
            "-o /nonexistent/p.json: No such file or directory (os error 2)"
        );
        let kept = anyhow::anyhow!("denied at path \"/data/p.json\"");
        assert_eq!(one_line(&kept), "denied at path \"/data/p.json\"");
    }

    #[test]
    fn a_registry_that_stopped_answering_exits_3() {
        let stopped = acr_relocate::error::Error::Unreachable {
            side: "TARGET".into(),
            host: "reg.io".into(),
            reason: "unreachable since 10:00:00 UTC".into(),
            mid_run: true,
            mend: acr_relocate::error::Mend::Elsewhere,
        };
        assert_eq!(code_of(&anyhow::Error::new(stopped)), UNREACHABLE);
        let at_start = acr_relocate::error::Error::Unreachable {
            side: "TARGET".into(),
            host: "reg.io".into(),
            reason: "nothing listens on reg.io".into(),
            mid_run: false,
            mend: acr_relocate::error::Mend::Elsewhere,
        };
        assert_eq!(code_of(&anyhow::Error::new(at_start)), ERROR);
    }
}
