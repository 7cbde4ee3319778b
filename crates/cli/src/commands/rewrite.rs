//! `acr-relocate rewrite`: points image references in deployment files at the new registry.
//!
//! The work is done by the `acr_rewrite` library; this module turns flags into a mode, prints
//! what was found and chooses the exit code: 0 done, 1 `--check` found references to the old
//! registry (or the target cannot serve some reference), 2 when any file failed or would be
//! refused (read-only, in a read-only directory, hard-linked), in the previews too, 4 when the
//! files name neither registry (a misspelt `--from`: nothing to rewrite, and not a run over
//! files already rewritten), 141 when the reader of stdout closed it.

use std::io::Write;
use std::path::PathBuf;

use std::sync::Arc;

use acr_relocate::endpoint::Endpoint;
use acr_relocate::rename::Renames;
use acr_relocate::transport::{self, Access, Store};
use acr_rewrite::{
    FilePlan, NothingMatched, Options, Plan, ReferenceKind, Registry, Renamer, Rewriter,
    TargetResolver, WriteOptions,
};
use anyhow::Context;

use crate::args::{ConnectArgs, Side};
use crate::exit;

const MODES: &str = "\
Modes:
  (default)        rewrite the files in place and print a summary
  --check          change nothing; list every remaining reference to the old registry as
                   FILE:LINE and exit 1 when there is any (for CI); exit 4 when the files
                   name neither OLD nor NEW (a misspelt --from)
  --diff           print a unified diff and change nothing (a preview);
                   add --write to also write the files
  --dry-run        print the summary of what would change and change nothing

Only the registry part of a reference changes; comments, quoting, key order and indentation
are kept byte for byte. Files read: Kubernetes manifests and other YAML (`image:`), JSON
manifests (`\"image\":`), Helm values (`image:` strings and registry/repository/tag maps,
`*Registry:` values), Chart.yaml `oci://` dependencies, chart templates and helpers (`image:`
lines), Kustomize `images:` (newName; a name is the key matched against the images of the
resources that kustomization includes, so it is rewritten only when all of them are at the new
registry after the run, and otherwise stays and gets a newName; an entry matching images at
both registries is split: a redirect from the old name, then the entry under the new name), Dockerfiles (FROM, COPY
--from, RUN --mount from=, ARG defaults, also a bare registry used as `FROM $REG/...`, and the
`# syntax=` frontend image; heredoc bodies are listed), Flux `url: oci://`, Argo CD Applications and ApplicationSets (the Helm
values of `spec.source(s)`: the `helm.values` block string read as a values file, its
formatting kept, `valuesObject`, `parameters` naming an image or registry, and an OCI chart
`repoURL`), docker-compose files, Azure Pipelines, GitHub Actions
and GitLab CI (`container:`, `image:`, GitLab `image: {name:}` and `services:`, `uses: docker://`,
`with:` `tags:`/`images:`/`cache-from:`/`cache-to:` of Docker actions), Flux `ImageRepository`
and `HelmRelease` values,
Argo CD Image Updater `image-list` annotations and Tekton bundles and image `params`.
Pipelines are recognised by place (azure-pipelines*.yml, .azure-pipelines/, azure-pipelines/,
.pipelines/, eng/pipelines/, .github/workflows/, .github/actions/, .gitlab-ci.yml, .gitlab/) and
elsewhere by content (Azure Pipelines `trigger:`/`stages:`/`jobs:`/`steps:` with `- task:`
items or a `parameters:` list, GitHub `on:`+`jobs:` or `runs: using:`, GitLab jobs with
`script:`). What sits below a key naming the origin of a copy (`source:`, `src:`, `from:`,
`origin:`, `upstream:`) or credentials (`creds:`, `auths:`, ...) is listed with a note, not
rewritten (sync and import configs keep copying from OLD).

--to HOST/PREFIX follows a `copy` under a prefix: OLD/repo becomes HOST/PREFIX/repo and the
target check looks up PREFIX/repo; a setting holding OLD alone is then listed with a note.

--map FROM=TO follows a `copy` that renamed repositories (give the same --map): OLD/web:1
becomes NEW/frontend/web:1 with --map web=frontend/web (NEW/PREFIX/frontend/web:1 under a
prefix), team-a/x becomes platform/team-a/x with --map team-a/=platform/team-a/; the target
check looks up the new name, and a reference already at NEW under its new name is done. The
repository is renamed where the reference writes it (after the registry, a Helm map's
`repository:`, a Kustomize newName, a chart dependency's path). A value holding OLD alone
whose images are named elsewhere (a Helm `registry:` or `global.imageRegistry`, a Dockerfile
`ARG REG=OLD` used as `FROM $REG/...`), a repository written through a template or a variable,
and a chart whose own name would change are listed with a note and left alone: edit them by
hand. Pipeline registry settings and service connections name where pipelines log in and are
rewritten as without --map.

Registry settings: in a pipeline, a variable or input whose name says it holds the registry
(`REGISTRY`, `CONTAINER_REGISTRY`, `containerRegistry`, `ACR_LOGIN_SERVER`, `login-server`, ...,
but not `SOURCE_/OLD_/MIRROR_...REGISTRY`) and whose value is OLD (or OLD/prefix) is rewritten:
GitHub Actions `env:` and `with: registry:` of a login action, Azure Pipelines and GitLab CI
`variables:`, template `parameters:` defaults, and `REGISTRY=OLD` in `.env` files. A setting
that holds exactly OLD's short name (`REGISTRY_NAME=myacr` or `ACR_NAME=myacr` for
myacr.azurecr.io) gets NEW's short name, when both are Azure registries. The summary
lists them, since they change where pipelines log in and push. An Azure Pipelines registry
service connection named OLD (`dockerRegistryServiceConnection`, `containerRegistry:` of a
Docker@2 task) is renamed to NEW: create a service connection of that name. `OLD:443` is OLD (443 is the HTTPS default) and becomes NEW; a shell default
such as `${REG:-OLD}/app:1` has its default rewritten. Directories are walked honouring
.gitignore (not ripgrep's .ignore); a file reached twice is read once.

Every other text file of the walk (scripts, the rest of .env files, Terraform, docs; binary files, with a NUL
byte in their first 8 KiB, are skipped) is scanned too: its mentions
of the old registry are listed and left alone, as are mentions in YAML that are not image fields
(block scalars, commands, environment values) and in comments of YAML files, Dockerfiles and
chart templates; --check counts them all. An `az acr` command naming OLD by its short name
(`az acr login -n myacr`, `-r`/`--registry` too, also continued over lines) is listed with a
note, as are AKS attachments (`az aks ... --attach-acr myacr`, `-AcrNameToAttach`), PowerShell
registry cmdlets (`Connect-AzContainerRegistry -Name myacr`), a Terraform
`azurerm_container_registry` `name` (or `registry_name`), and Bicep/ARM registry resource names
and parameters holding it. A value naming OLD only through escapes (`\\x6f...`) is listed. Docker Hub short names
(`nginx`) never match. Regional endpoints of an Azure registry (NAME.REGION.geo.azurecr.io,
NAME.REGION.data.azurecr.io) are listed with a note, not rewritten. A YAML file or a
Dockerfile that cannot be parsed is scanned as text (its mentions listed, nothing rewritten)
with one warning naming it; the warning alone does not change the exit code. Every changed file is checked before
any is written: a read-only file, a file in a read-only directory (the atomic replace needs a
temporary file beside it) and a file with several hard links (a rename would leave its other
names with the old content) are each named, and nothing is written (exit 2).
--in-place-hard-links writes hard-linked files in place instead. --check, --dry-run and a --diff
preview name the files a real run would refuse and exit 2 too (give them --in-place-hard-links
to preview a run with it). A symbolic link named on the command line is followed: the file it
points to is rewritten and the link stays; links met in a directory walk are not followed (each
is noted on stderr, and --check's last line counts them). Nothing is written unless every path
given was read (a missing or unreadable path, a FIFO: each named, exit 2). A link met in a walk
that points to a file read anyway is noted as such and not counted. UTF-16 files (with
their byte order mark) are read and written back in UTF-16. Listed lines hide secrets (`***`:
URL user-info, -p/--password values, what is fed to --password-stdin by `<<<` or an echo pipe,
password/secret/token/auth keys) and escape control characters; a line over 240 bytes is shown
as the part around the mention, cuts marked `…`.

Target check: --target-check (or --pin-digests, or --target ENDPOINT) looks every rewritten
reference up in the target registry (`https://` + --to unless --target names it) before anything
is written; a tag or digest the target lacks is listed with its line, with what to copy first
(`acr-relocate copy OLD NEW --repo REPO`), and nothing is written (exit 1); --check lists
them too. --pin-digests also replaces `:tag` by `@digest` where the file shape allows, and a
Kustomize images: entry's `newTag: TAG` by `digest: DIGEST` (else its tag would replace the
digest pinned in the resources), also in an entry that already names NEW (listed after the
counts, which are of references to OLD).

Exit codes: 0 done (also a run over files already rewritten, which name only NEW); 1 --check
found references, or the target lacks a reference (nothing written); 2 a file failed, a file
would be refused (also in --check and --dry-run) or the invocation is unusable; 4 the files
name neither OLD nor NEW (a misspelt --from, or the wrong paths): nothing to rewrite, and a
warning on stderr names the registries their image references name instead (every mode,
--check included); 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP: before the writing, nothing is written;
during it, the files are written first.";

/// Arguments of `acr-relocate rewrite`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = MODES)]
pub struct RewriteArgs {
    /// Files or directories to rewrite (directories are walked, honouring .gitignore).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The login server the references point at now, e.g. myreg.azurecr.io.
    #[arg(long, value_name = "OLD_LOGIN_SERVER")]
    pub from: String,

    /// The login server they should point at, e.g. newreg.azurecr.io.
    #[arg(long, value_name = "NEW_LOGIN_SERVER")]
    pub to: String,

    /// Change nothing; exit 1 when references to the old registry remain (for CI), 4 when the
    /// files name neither --from nor --to (a misspelt --from).
    #[arg(long, conflicts_with_all = ["write", "dry_run"])]
    pub check: bool,

    /// Print a unified diff of the changes; nothing is written unless --write is given too.
    #[arg(long)]
    pub diff: bool,

    /// With --diff: write the files as well as printing the diff.
    #[arg(long, requires = "diff")]
    pub write: bool,

    /// Print what would change and change nothing.
    #[arg(long, conflicts_with = "write")]
    pub dry_run: bool,

    /// Check every rewritten reference against the target registry first: a tag or digest it
    /// lacks blocks the rewrite and nothing is written.
    #[arg(long)]
    pub target_check: bool,

    /// Replace `:tag` by `@digest`, the digest read from the target registry (implies
    /// --target-check); a Kustomize images: entry's `newTag` becomes `digest`.
    #[arg(long)]
    pub pin_digests: bool,

    /// Write a file that has several hard links in place (through its name, so every name sees
    /// the rewrite) instead of refusing it. Such a file cannot be replaced atomically: a rename
    /// would give this name a new file and leave the others with the old content; written in
    /// place, a crash mid-write can leave it partly written. With --check or --dry-run: preview
    /// a run with it (hard-linked files are not counted as refused).
    #[arg(long)]
    pub in_place_hard_links: bool,

    /// A repository renamed on the way, as `copy --map` renamed it (repeatable): give the same
    /// --map the copy was given. Names are relative to --from and to --to's prefix:
    /// `web=frontend/web` points OLD/web at NEW/frontend/web, and both sides ending with `/`
    /// rename a namespace (`team-a/=platform/team-a/`). References that cannot be renamed
    /// safely are listed with a note.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,

    /// The registry to check, when it is not `https://` + --to (e.g. `http://127.0.0.1:5000` for
    /// a test registry). Implies --target-check. Credentials: --dst-creds.
    #[arg(long, value_name = "ENDPOINT")]
    pub target: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Looks references up in the target registry for `acr_rewrite`. The library calls it
/// synchronously; each lookup runs on this command's runtime (the rewriter caches answers per
/// repository and tag, so each is asked once).
pub struct TargetLookup {
    /// Runs the lookups; from a thread that is not inside the runtime (the rewrite command's
    /// thread, or a `spawn_blocking` thread of `apply`).
    handle: tokio::runtime::Handle,
    /// The runtime when this lookup owns it.
    _runtime: Option<tokio::runtime::Runtime>,
    store: Arc<dyn Store>,
}

impl TargetLookup {
    /// Opens the target of `args` (`--target`, else `https://` + `to`) when the run checks it.
    /// The repositories are looked up with `to`'s prefix (see [`Registry::in_target`]), so a
    /// `--target` naming a prefix must name that one, and the store opened is the registry's.
    fn connect(args: &RewriteArgs, to: &Registry) -> anyhow::Result<Option<Self>> {
        if !(args.target_check || args.pin_digests || args.target.is_some()) {
            return Ok(None);
        }
        let text = args.target.clone().unwrap_or_else(|| args.to.clone());
        let mut endpoint = crate::args::endpoint(&text, "--target")?;
        match &mut endpoint {
            Endpoint::Registry(r) if r.prefix.is_some() && r.prefix.as_deref() != to.prefix() => {
                anyhow::bail!(
                    "--target `{text}`: its repository prefix must be the one --to {to} names: give both the prefix the images were copied under (`--to HOST/PREFIX`)"
                )
            }
            Endpoint::Registry(r) => r.prefix = None,
            Endpoint::Layout(_) | Endpoint::Archive(_) => anyhow::bail!(
                "--target `{text}`: references are checked against a registry, not an OCI layout"
            ),
        }
        let runtime = crate::runtime()?;
        let options = args.connect.options(Side::Target)?;
        let store = runtime
            .block_on(transport::open(&endpoint, Access::Read, &options))
            .map_err(anyhow::Error::from)
            .with_context(|| format!("--target {text}"))?;
        Ok(Some(TargetLookup {
            handle: runtime.handle().clone(),
            _runtime: Some(runtime),
            store,
        }))
    }

    /// A lookup in `store` through a runtime that already runs (used by `apply`).
    pub fn with_store(handle: tokio::runtime::Handle, store: Arc<dyn Store>) -> Self {
        TargetLookup {
            handle,
            _runtime: None,
            store,
        }
    }

    fn digest(&self, repository: &str, reference: &str) -> Result<Option<String>, String> {
        self.handle
            .block_on(self.store.manifest_digest(repository, reference))
            .map(|d| d.map(|d| d.to_string()))
            .map_err(|e| e.to_string())
    }
}

impl TargetResolver for TargetLookup {
    fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, String> {
        self.digest(repository, tag)
    }

    fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, String> {
        Ok(self.digest(repository, digest)?.is_some())
    }
}

/// The renames of a `copy --map` ([`Renames`]) as the rewrite takes them ([`Renamer`]):
/// `OLD/web:1` becomes `NEW/frontend/web:1` for `--map web=frontend/web`. Plug it into a
/// rewriter with [`Rewriter::with_renamer`] (only when there are renames: without a renamer the
/// rewrite is exactly as it always was):
///
/// ```ignore
/// let renamer = MapRenamer::new(renames);
/// let rewriter = Rewriter::new(options).with_renamer(&renamer);
/// ```
#[derive(Debug, Clone)]
pub struct MapRenamer {
    renames: Renames,
    /// `renames` the other way, from a name in the target to the source name.
    inverted: Renames,
    /// The source's prefix (`[source] registry = "HOST/team"`): a plan's renames are relative
    /// to it, and a path outside it is renamed by none of them.
    prefix: Option<String>,
}

impl MapRenamer {
    /// The renamer of `renames` (forward: as `copy` applied them).
    pub fn new(renames: Renames) -> Self {
        let inverted = renames.inverted();
        MapRenamer {
            renames,
            inverted,
            prefix: None,
        }
    }

    /// The renamer of a plan's `[scope] map`, relative to the source's `prefix` as the copy
    /// applies them (`team/web` is `web` to `map = ["web=frontend/web"]` under the prefix
    /// `team`, and becomes `team/frontend/web`), `None` when it renames nothing (a rewrite then
    /// behaves as without renames).
    pub fn of_scope(
        scope: &acr_relocate::relocation::plan::Scope,
        prefix: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        let renames = Renames::parse(&scope.map, "[scope] map")?;
        Ok((!renames.is_empty()).then(|| MapRenamer {
            prefix: prefix.map(str::to_string),
            ..MapRenamer::new(renames)
        }))
    }

    /// `path` with `rename` applied to its part under the prefix; `None` outside the prefix or
    /// when `rename` renames nothing.
    fn under_prefix(&self, path: &str, rename: &Renames) -> Option<String> {
        match &self.prefix {
            None => rename.apply(path),
            Some(prefix) => {
                let name = path.strip_prefix(prefix.as_str())?.strip_prefix('/')?;
                Some(format!("{prefix}/{}", rename.apply(name)?))
            }
        }
    }

    /// The renames, as given.
    pub fn renames(&self) -> &Renames {
        &self.renames
    }
}

impl Renamer for MapRenamer {
    fn renamed(&self, repository: &str) -> String {
        self.under_prefix(repository, &self.renames)
            .unwrap_or_else(|| repository.to_string())
    }

    fn original(&self, renamed: &str) -> Option<String> {
        self.under_prefix(renamed, &self.inverted)
    }
}

/// Runs `acr-relocate rewrite`. A reader that closes stdout (`rewrite ... | head -1`) ends it
/// quietly with [`exit::STDOUT_CLOSED`], as the other commands end (what a real run wrote stays
/// written).
pub fn run(args: RewriteArgs) -> anyhow::Result<u8> {
    match rewrite(args) {
        Err(error) if StdoutClosed::caused(&error) => Ok(exit::STDOUT_CLOSED as u8),
        result => result,
    }
}

/// Stdout was closed by its reader while the report was written.
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

impl StdoutClosed {
    /// True when `error` comes from a write to a closed stdout through [`Report`].
    fn caused(error: &anyhow::Error) -> bool {
        error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.is::<StdoutClosed>())
        })
    }
}

/// The locked stdout the report is written to: a write that fails because the reader closed it
/// fails with [`StdoutClosed`] inside, which [`run`] tells from every other io error (a file
/// the rewrite reads or writes).
struct Report<'a>(std::io::StdoutLock<'a>);

impl Report<'_> {
    fn closed(error: std::io::Error) -> std::io::Error {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
        } else {
            error
        }
    }
}

impl Write for Report<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(Report::closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(Report::closed)
    }
}

/// Held while the files are written: Ctrl-C then lets the writing finish (a rewrite is never
/// half done across files) and the run end with [`exit::INTERRUPTED`] afterwards.
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Set by Ctrl-C during the writing.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Watches for Ctrl-C: before the writing starts the run ends at once, saying nothing was
/// written; during it, the interruption waits for the writing to finish.
fn watch_interrupts() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            loop {
                let signal = crate::interrupt::received().await;
                match WRITING.try_lock() {
                    Ok(_not_writing) => {
                        eprintln!(
                            "{}",
                            crate::interrupt::line(
                                "rewrite",
                                signal,
                                "before any file was written: nothing was written"
                            )
                        );
                        std::process::exit(i32::from(signal.exit_code()));
                    }
                    Err(_) => {
                        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                        eprintln!("rewrite: interrupted by {}: the files are written first (a rewrite is never half done across files)", signal.shown());
                    }
                }
            }
        });
    });
}

fn rewrite(args: RewriteArgs) -> anyhow::Result<u8> {
    watch_interrupts();
    let from = Registry::parse(&args.from).context("--from")?;
    let to = Registry::parse_target(&args.to).context("--to")?;
    if from == to {
        anyhow::bail!("--from and --to are the same registry ({from}); nothing to rewrite");
    }
    if from == to.without_prefix() {
        anyhow::bail!(
            "--to {to} is a prefix inside --from {from}: a second run would add the prefix again; rewrite moves references between registries only"
        );
    }
    let renames = Renames::parse(&args.map, "--map")?;
    let renamer = (!renames.is_empty()).then(|| MapRenamer::new(renames));
    let lookup = TargetLookup::connect(&args, &to)?;
    let mut rewriter = Rewriter::new(Options {
        from: from.clone(),
        to: to.clone(),
        pin_digests: args.pin_digests,
    });
    if let Some(lookup) = &lookup {
        rewriter = rewriter.with_resolver(lookup);
    }
    if let Some(renamer) = &renamer {
        rewriter = rewriter.with_renamer(renamer);
    }
    let plan = rewriter.plan(&args.paths)?;
    // Files that name neither registry: a misspelt --from (or the wrong paths) must not pass
    // as a run with nothing left to do, which files already rewritten are.
    let nothing_matched = rewriter.nothing_matched(&plan);

    let mut out = Report(std::io::stdout().lock());
    for failure in &plan.failures {
        eprintln!("error: {}", printable(&failure.to_string()));
    }
    for warning in plan.files.iter().filter_map(FilePlan::not_parsed_warning) {
        eprintln!("warning: {warning}");
    }
    for (link, file) in &plan.links_to_files_read {
        eprintln!(
            "note: {}: a symbolic link met in the directory walk, not followed: it points to {}, which is read",
            shown(link),
            shown(file)
        );
    }
    for link in &plan.skipped_links {
        eprintln!(
            "note: {}: a symbolic link met in the directory walk, not followed: the file it points to is not read (name the link on the command line to rewrite that file)",
            shown(link)
        );
    }
    let failed = !plan.failures.is_empty();
    let writing = !args.check && !args.dry_run && (!args.diff || args.write);
    if failed && (writing || plan.files.is_empty()) {
        // Every path given is read before anything is written: a path that could not be read
        // may hold references too, so writing the others would leave the rewrite half done.
        // When nothing was read, a summary ("0 references") would only hide the errors.
        report_unread(&mut out, &plan, writing)?;
        return Ok(2);
    }

    if args.diff {
        out.write_all(plan.diff().as_bytes())?;
    }

    let write_options = WriteOptions {
        in_place_hard_links: args.in_place_hard_links,
    };
    // Checked for every changed file before any is written, so nothing is half done across
    // files; the previews (--check, --dry-run, --diff) say what a real run would refuse.
    let refused = plan.refusals(write_options);

    if args.check {
        report_remaining(&mut out, &plan, &from)?;
        report_problems(
            &mut out,
            &plan,
            (&from, &to, renamer.as_ref()),
            args.target.as_deref(),
            false,
        )?;
        report_refusals(&mut out, &refused, false)?;
        report_unread(&mut out, &plan, false)?;
        warn_nothing_matched(&mut out, nothing_matched.as_ref(), &from, &to)?;
        let code = if failed || !refused.is_empty() {
            2
        } else if plan.remaining() > 0 {
            1
        } else if nothing_matched.is_some() {
            exit::NOTHING_SELECTED
        } else {
            0
        };
        return Ok(code);
    }

    if plan.is_blocked() {
        report_problems(
            &mut out,
            &plan,
            (&from, &to, renamer.as_ref()),
            args.target.as_deref(),
            true,
        )?;
        return Ok(if failed { 2 } else { 1 });
    }

    if writing && !refused.is_empty() {
        report_refusals(&mut out, &refused, true)?;
        return Ok(2);
    }
    let changed: Vec<_> = plan.files.iter().filter(|f| f.is_changed()).collect();
    let references: usize = changed.iter().map(|f| f.references.len()).sum();
    let mut write_errors = Vec::new();
    if writing {
        let summary = {
            let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
            plan.write_with(write_options)?
        };
        writeln!(
            out,
            "rewrote {} reference(s) in {} file(s): {from} -> {to}",
            summary.references_rewritten, summary.files_written
        )?;
        if !summary.leftovers_removed.is_empty() {
            writeln!(
                out,
                "removed {} temporary file(s) a killed run had left",
                summary.leftovers_removed.len()
            )?;
        }
        if !args.diff {
            for (path, count) in &summary.written {
                let how = if summary.written_in_place.contains(path) {
                    " (written in place: it has other hard links)"
                } else {
                    ""
                };
                writeln!(out, "  {}: {count}{how}", shown(path))?;
            }
        }
        let written: Vec<_> = changed
            .iter()
            .filter(|f| summary.written.iter().any(|(path, _)| *path == f.path))
            .copied()
            .collect();
        report_settings(&mut out, &written, &to, true)?;
        report_pinned_at_target(&mut out, &written, &rewriter, true)?;
        write_errors = summary.errors;
    } else if !args.diff || args.dry_run {
        writeln!(out, "would rewrite {references} reference(s) in {} file(s): {from} -> {to} (nothing written)", changed.len())?;
        let in_place = plan.written_in_place(write_options);
        for file in &changed {
            let how = if in_place.contains(&file.path.as_path()) {
                " (would be written in place: it has other hard links)"
            } else {
                ""
            };
            writeln!(
                out,
                "  {}: {}{how}",
                shown(&file.path),
                file.references.len()
            )?;
        }
        report_settings(&mut out, &changed, &to, false)?;
        report_pinned_at_target(&mut out, &changed, &rewriter, false)?;
    }
    let mentions: Vec<_> = plan
        .files
        .iter()
        .flat_map(|f| f.mentions.iter().map(move |m| (f, m)))
        .collect();
    if !mentions.is_empty() {
        writeln!(
            out,
            "left alone ({} mention(s) of {from} that are not image fields; check them by hand):",
            mentions.len()
        )?;
        for (file, mention) in mentions {
            writeln!(
                out,
                "  {}:{}: {}{}",
                shown(&file.path),
                mention.line,
                printable_line(&mention.text),
                note_of(mention)
            )?;
        }
    }
    if !writing {
        report_refusals(&mut out, &refused, false)?;
        report_unread(&mut out, &plan, false)?;
    }
    if !write_errors.is_empty() {
        out.flush()?;
        eprintln!(
            "error: {} file(s) not written, left as they were:",
            write_errors.len()
        );
        for error in &write_errors {
            eprintln!("error: {}", printable(&error.to_string()));
        }
    }
    warn_nothing_matched(&mut out, nothing_matched.as_ref(), &from, &to)?;
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        out.flush()?;
        eprintln!("rewrite: interrupted after the writing ended: every file above was written");
        return Ok(crate::interrupt::exit_code(exit::INTERRUPTED));
    }
    Ok(
        if failed || !write_errors.is_empty() || !refused.is_empty() {
            2
        } else if nothing_matched.is_some() {
            exit::NOTHING_SELECTED
        } else {
            0
        },
    )
}

/// How many of the registries the files reference the warning of [`warn_nothing_matched`]
/// names; the others are counted.
const REGISTRIES_SHOWN: usize = 5;

/// When the files name neither registry ([`Rewriter::nothing_matched`]), says so on one
/// stderr line (after flushing `out`, so it follows the report): both registries, and the
/// registries the files' image references name instead, the most named first, so that a
/// misspelt `--from` shows. The caller exits with [`exit::NOTHING_SELECTED`].
fn warn_nothing_matched(
    out: &mut impl Write,
    nothing_matched: Option<&NothingMatched>,
    from: &Registry,
    to: &Registry,
) -> std::io::Result<()> {
    let Some(nothing_matched) = nothing_matched else {
        return Ok(());
    };
    out.flush()?;
    eprintln!(
        "rewrite: warning: {}",
        nothing_matched_line(nothing_matched, from, to)
    );
    Ok(())
}

/// What files that name neither registry reference instead, for the "names neither" refusals
/// of `rewrite` and `plan`: the registries most named, with their counts, or that they name
/// none.
pub fn what_they_name(nothing_matched: &NothingMatched) -> String {
    let referenced = &nothing_matched.referenced;
    if referenced.is_empty() {
        return "they hold no image reference that names a registry (a Docker Hub short name such as `nginx` names none)".to_owned();
    }
    let mut named: Vec<String> = referenced
        .iter()
        .take(REGISTRIES_SHOWN)
        .map(|(registry, count)| format!("{registry} ({count})"))
        .collect();
    if referenced.len() > REGISTRIES_SHOWN {
        let others = &referenced[REGISTRIES_SHOWN..];
        let references: usize = others.iter().map(|(_, count)| count).sum();
        named.push(format!(
            "{} other registr{} ({references})",
            others.len(),
            if others.len() == 1 { "y" } else { "ies" }
        ));
    }
    format!("their image references name {}", named.join(", "))
}

/// The text of the warning of [`warn_nothing_matched`], after `rewrite: warning: `.
fn nothing_matched_line(
    nothing_matched: &NothingMatched,
    from: &Registry,
    to: &Registry,
) -> String {
    let code = exit::NOTHING_SELECTED;
    if nothing_matched.files == 0 {
        return format!(
            "no file was read from the paths given (binary files are skipped, and in a directory walk what .gitignore excludes), so nothing names --from {from} or --to {to} and there is nothing to rewrite: check the paths; exit code {code}"
        );
    }
    let instead = what_they_name(nothing_matched);
    format!(
        "the {} file(s) read name neither --from {from} nor --to {to}, so there is nothing to rewrite: check the spelling of --from (and the paths); {instead}; exit code {code}",
        nothing_matched.files
    )
}

/// ` (NOTE)` for a mention that carries a note, else nothing.
fn note_of(mention: &acr_rewrite::Mention) -> String {
    mention
        .note
        .as_deref()
        .map(|note| format!(" ({note})"))
        .unwrap_or_default()
}

/// Names each reference the target cannot serve on its own `error:` line (after flushing
/// `out`), then one line saying that nothing was written (`written` true) or that a real run
/// would write nothing, and what to do: copy the missing images to the target first (to
/// `target`, the `--target` endpoint, when one names how to reach it), by their source names
/// and with the renames (`registries` holds `--from`, `--to` and the renames, if any).
fn report_problems(
    out: &mut impl Write,
    plan: &Plan,
    registries: (&Registry, &Registry, Option<&MapRenamer>),
    target: Option<&str>,
    written: bool,
) -> std::io::Result<()> {
    let (from, to, renamer) = registries;
    let problems: Vec<_> = plan.problems().collect();
    if problems.is_empty() {
        return Ok(());
    }
    out.flush()?;
    for (path, problem) in &problems {
        eprintln!(
            "error: {}:{}: {}",
            shown(path),
            problem.line,
            printable_line(&problem.to_string())
        );
    }
    let what = if written {
        "nothing was written"
    } else {
        "a real run would write nothing"
    };
    let mut repositories: Vec<String> = problems
        .iter()
        .filter(|(_, p)| !matches!(p.issue, acr_rewrite::Issue::Lookup(_)))
        .filter_map(|(_, p)| {
            let name = p
                .target_reference
                .strip_prefix(&to.to_string())?
                .strip_prefix('/')?;
            let name = name.split(['@', ':']).next().unwrap_or(name);
            // The copy takes the source name, and renames it by --map.
            Some(match renamer {
                Some(renamer) => renamer.original(name).unwrap_or_else(|| name.to_owned()),
                None => name.to_owned(),
            })
        })
        .collect();
    repositories.sort_unstable();
    repositories.dedup();
    let remedy = if repositories.is_empty() {
        "check that the target answers and run again".to_owned()
    } else {
        let mut repos: String = repositories
            .iter()
            .map(|r| format!(" --repo {r}"))
            .collect();
        if let Some(renamer) = renamer {
            for spec in renamer.renames().specs() {
                repos.push_str(&format!(" --map {spec}"));
            }
        }
        let to = target.map_or_else(|| to.to_string(), str::to_owned);
        format!(
            "copy the missing images to the target first (`acr-relocate copy {from} {to}{repos}`), then run again"
        )
    };
    eprintln!(
        "error: {what}: {} reference(s) are missing from the target or could not be checked; {remedy}",
        problems.len()
    );
    Ok(())
}

/// When some paths or files could not be read (each named on its own `error:` line already),
/// says on one line (after flushing `out`) that nothing was written (`written` true: a real
/// run) or that a real run would write nothing, and what to do.
fn report_unread(out: &mut impl Write, plan: &Plan, written: bool) -> std::io::Result<()> {
    if plan.failures.is_empty() {
        return Ok(());
    }
    out.flush()?;
    let what = if written {
        "nothing was written"
    } else {
        "a real run would write nothing"
    };
    eprintln!(
        "error: {what}: {} of the paths given could not be read in full (above), and they may hold references too; correct those paths (or make them readable), or leave them out, and run again",
        plan.failures.len()
    );
    Ok(())
}

/// What the last line of `--check` adds when part of the paths given was not read: paths that
/// failed, symbolic links a directory walk did not follow.
fn unread_parts(plan: &Plan) -> String {
    let mut parts = Vec::new();
    if !plan.failures.is_empty() {
        parts.push(format!(
            "{} path(s) could not be read (above)",
            plan.failures.len()
        ));
    }
    if !plan.skipped_links.is_empty() {
        parts.push(format!(
            "{} symbolic link(s) met in the directory walk were not followed (see the notes above)",
            plan.skipped_links.len()
        ));
    }
    parts.join("; ")
}

/// Names each refused file on its own `error:` line (after flushing `out`, so the lines follow
/// what was printed), then one line saying that nothing was written (`written` true) or that a
/// real run would write nothing, and what to do.
fn report_refusals(
    out: &mut impl Write,
    refused: &[acr_rewrite::Error],
    written: bool,
) -> std::io::Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    out.flush()?;
    for error in refused {
        eprintln!("error: {}", printable(&error.to_string()));
    }
    let what = if written {
        "nothing was written"
    } else {
        "a real run would write nothing"
    };
    eprintln!(
        "error: {what}: {} file(s) cannot be written safely; {}",
        refused.len(),
        refusal_remedy(
            refused,
            "pass --in-place-hard-links to write hard-linked files in place",
            "run again"
        )
    );
    Ok(())
}

/// What to do about `refused` files: `in_place` names the setting that writes hard-linked files
/// in place for the command that ran (`rewrite` has a flag, `apply` a config key), `again` how
/// to run it again once read-only files and directories are made writable.
pub(crate) fn refusal_remedy(
    refused: &[acr_rewrite::Error],
    in_place: &str,
    again: &str,
) -> String {
    let mut remedies = Vec::new();
    if refused.iter().any(acr_rewrite::Error::is_read_only) {
        remedies.push(format!(
            "make the read-only files and directories writable and {again}"
        ));
    }
    if refused.iter().any(acr_rewrite::Error::is_hard_linked) {
        remedies.push(format!("{in_place} (or break their links with `cp` first)"));
    }
    remedies.join("; ")
}

/// Lists the registry settings among the rewritten references (pipeline variables and inputs,
/// `.env` entries): they change where pipelines log in and push, which the user should know.
fn report_settings(
    out: &mut impl Write,
    files: &[&FilePlan],
    to: &Registry,
    written: bool,
) -> std::io::Result<()> {
    let settings: Vec<_> = files
        .iter()
        .flat_map(|f| f.references.iter().map(move |r| (f, r)))
        .filter(|(_, r)| r.kind.is_setting())
        .collect();
    if settings.is_empty() {
        return Ok(());
    }
    let (were, push) = if written {
        ("rewritten", "now log in and push to")
    } else {
        ("to rewrite", "would log in and push to")
    };
    writeln!(
        out,
        "registry settings {were} ({} variable(s) or input(s); pipelines {push} {to}):",
        settings.len()
    )?;
    for (file, reference) in settings {
        let name = printable_line(reference.setting.as_deref().unwrap_or(""));
        let note = if reference.kind == ReferenceKind::ServiceConnection {
            format!(" (a service connection named {to} must exist)")
        } else if reference.is_short_name() {
            format!(
                " (the registry's short name: {})",
                to.short_name().unwrap_or_default()
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {}:{}: {name}{note}",
            shown(&file.path),
            reference.line
        )?;
    }
    Ok(())
}

/// Lists the Kustomize `images:` entries already at the new registry whose `newTag` was (or
/// would be) replaced by the digest: they change although they are not references to the old
/// registry, so the counts above do not include them.
fn report_pinned_at_target(
    out: &mut impl Write,
    files: &[&FilePlan],
    rewriter: &Rewriter,
    written: bool,
) -> std::io::Result<()> {
    let to = &rewriter.options().to;
    let pinned: Vec<_> = files
        .iter()
        .flat_map(|f| f.pinned_at_target.iter().map(move |r| (f, r)))
        .collect();
    if pinned.is_empty() {
        return Ok(());
    }
    let were = if written { "pinned" } else { "to pin" };
    writeln!(
        out,
        "Kustomize images: entries already at {to} whose newTag became a digest ({} {were}):",
        pinned.len()
    )?;
    for (file, reference) in pinned {
        writeln!(
            out,
            "  {}:{}: {to}/{}@{}",
            shown(&file.path),
            reference.line,
            printable_line(&rewriter.renamed(&reference.repository)),
            reference.pinned.as_deref().unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Lists every reference and mention of the old registry as `FILE:LINE: ...`.
fn report_remaining(out: &mut impl Write, plan: &Plan, from: &Registry) -> std::io::Result<()> {
    for file in &plan.files {
        let mut lines: Vec<(usize, String)> = file
            .references
            .iter()
            .map(|r| {
                let what = match &r.setting {
                    Some(setting) => {
                        format!("{} {}", r.kind.describe(), printable_line(setting))
                    }
                    None => r.kind.describe().to_owned(),
                };
                (r.line, format!("{what}: {}", printable_line(&r.original)))
            })
            .chain(file.mentions.iter().map(|m| {
                (
                    m.line,
                    format!(
                        "mention (not rewritten): {}{}",
                        printable_line(&m.text),
                        note_of(m)
                    ),
                )
            }))
            .collect();
        lines.sort();
        for (line, what) in lines {
            writeln!(out, "{}:{line}: {what}", shown(&file.path))?;
        }
    }
    let remaining = plan.remaining();
    let unread = unread_parts(plan);
    match (remaining, unread.is_empty()) {
        (0, true) => writeln!(out, "no references to {from} remain")?,
        (0, false) => writeln!(
            out,
            "no references to {from} remain in the files read, but not everything was read: {unread}"
        )?,
        (_, true) => writeln!(out, "{remaining} reference(s) to {from} remain")?,
        (_, false) => writeln!(
            out,
            "{remaining} reference(s) to {from} remain in the files read, and not everything was read: {unread}"
        )?,
    }
    Ok(())
}

/// A path of the user's tree as printed: its control characters (a file name may hold any)
/// written as escapes, never obeyed by the terminal.
fn shown(path: &std::path::Path) -> String {
    printable(&path.display().to_string())
}

/// A message naming the user's files (an error, a path) as printed: control characters escaped.
fn printable(text: &str) -> String {
    acr_relocate::log::printable(text).into_owned()
}

/// Text taken from the user's files (a line, a reference, a key) as printed: secrets hidden
/// (`***`) and control characters escaped (mentions come so from the library already).
fn printable_line(text: &str) -> String {
    acr_rewrite::printable_line(text)
}
