//! What a scan finds: references to the old registry (rewritable, with their byte spans) and
//! mentions of it that are left alone but still count for `--check`.

use std::ops::Range;

use serde::Serialize;

/// Where a reference was found, which decides how it is rewritten and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReferenceKind {
    /// `image:` of a container, init container or ephemeral container in a Kubernetes manifest.
    KubernetesImage,
    /// `image: registry/repo:tag` as a string in a Helm values file.
    HelmImage,
    /// A Helm values map `image: {registry:, repository:, tag:}`; the registry (or the registry
    /// part of `repository`) is rewritten.
    HelmImageMap,
    /// A Helm value that holds only a registry, such as `global.imageRegistry`.
    HelmRegistry,
    /// A `Chart.yaml` dependency whose `repository:` is `oci://registry/path`.
    ChartDependency,
    /// `name:` of a Kustomize `images:` entry (the image to replace in the resources). The name
    /// is the key matched against the images of the resources that kustomization includes, so
    /// it stays and a `newName:` naming the new registry is added under it; it is rewritten
    /// itself only when every image it matches is at the new registry after the run (so that
    /// it keeps matching them).
    KustomizeName,
    /// `newName:` of a Kustomize `images:` entry.
    KustomizeNewName,
    /// The image of a Dockerfile `FROM` line.
    DockerfileFrom,
    /// The BuildKit frontend image of a Dockerfile `# syntax=` parser directive.
    DockerfileSyntax,
    /// The image of a Dockerfile `COPY --from=` (or `ADD --from=`).
    DockerfileCopyFrom,
    /// The default value of a Dockerfile `ARG` that holds an image, or only the registry when an
    /// image starts with that argument (`FROM $REG/app`).
    DockerfileArg,
    /// The `from=` image of a Dockerfile `RUN --mount=type=…,from=`.
    DockerfileRunMount,
    /// `image:` of a docker-compose service.
    ComposeImage,
    /// `container:` or `image:` of an Azure Pipelines or GitHub Actions job, service or
    /// container resource, or `uses: docker://` of a GitHub Actions step.
    PipelineImage,
    /// `url: oci://registry/path` of a Flux `OCIRepository` or `HelmRepository` (any YAML
    /// `url:` holding an `oci://` address).
    OciUrl,
    /// `image:` in a Helm chart template (found line by line, templates are not YAML).
    HelmTemplateImage,
    /// `image:` in any other YAML file.
    YamlImage,
    /// `repoURL:` of an Argo CD application source that takes a Helm chart (`chart:`) from an
    /// OCI registry: `OLD/path`, `oci://OLD/path` or the registry alone.
    ArgoChart,
    /// A pipeline variable or input, or a `.env` entry, that holds only the registry (or the
    /// registry and a repository prefix): GitHub Actions `env: REGISTRY:` (workflow, job or
    /// step) and `with: registry:` / `login-server:` of a login action, Azure Pipelines and
    /// GitLab CI `variables:`, template `parameters:` defaults, `.env` `REGISTRY=`. It names the
    /// registry the pipeline logs in to and pushes to; references built from it
    /// (`${{ env.REGISTRY }}/app:1`) follow it. It may hold an Azure registry's short name
    /// (`REGISTRY_NAME=myacr`, see [`Reference::is_short_name`]).
    RegistrySetting,
    /// An image Argo CD Image Updater watches: an item of the
    /// `argocd-image-updater.argoproj.io/image-list` annotation (`alias=registry/repo:~1.2`)
    /// or the `imageName` of an `ImageUpdater`. What follows `:` is a version constraint, not
    /// a tag, so it is not checked.
    ImageUpdater,
    /// An Azure Pipelines registry service connection named after the registry
    /// (`dockerRegistryServiceConnection: OLD`, `containerRegistry:` of a `Docker@2` task). It
    /// is renamed to the new login server, so a service connection of that name must exist.
    ServiceConnection,
}

impl ReferenceKind {
    /// A short human name.
    pub fn describe(self) -> &'static str {
        match self {
            ReferenceKind::KubernetesImage => "Kubernetes container image",
            ReferenceKind::HelmImage => "Helm image string",
            ReferenceKind::HelmImageMap => "Helm image map",
            ReferenceKind::HelmRegistry => "Helm registry value",
            ReferenceKind::ChartDependency => "chart dependency oci://",
            ReferenceKind::KustomizeName => "Kustomize images name",
            ReferenceKind::KustomizeNewName => "Kustomize images newName",
            ReferenceKind::DockerfileFrom => "Dockerfile FROM",
            ReferenceKind::DockerfileSyntax => "Dockerfile syntax directive",
            ReferenceKind::DockerfileCopyFrom => "Dockerfile COPY --from",
            ReferenceKind::DockerfileArg => "Dockerfile ARG default",
            ReferenceKind::DockerfileRunMount => "Dockerfile RUN --mount from",
            ReferenceKind::OciUrl => "oci:// url",
            ReferenceKind::ComposeImage => "compose service image",
            ReferenceKind::PipelineImage => "pipeline container",
            ReferenceKind::HelmTemplateImage => "Helm template image",
            ReferenceKind::YamlImage => "YAML image",
            ReferenceKind::ArgoChart => "Argo CD chart source",
            ReferenceKind::RegistrySetting => "registry setting",
            ReferenceKind::ServiceConnection => "registry service connection",
            ReferenceKind::ImageUpdater => "Argo CD Image Updater image",
        }
    }

    /// True for the kinds that name where a pipeline logs in and pushes (a registry setting or
    /// a service connection) rather than an image; the summary lists them.
    pub fn is_setting(self) -> bool {
        matches!(
            self,
            ReferenceKind::RegistrySetting | ReferenceKind::ServiceConnection
        )
    }
}

/// A reference to the old registry that the rewrite changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// 1-based line of the registry text.
    pub line: usize,
    /// Where it was found.
    pub kind: ReferenceKind,
    /// The reference as the file states it (for maps, assembled from the map's values).
    pub original: String,
    /// The repository inside the registry (`team/app`); for a chart dependency
    /// `path/chart-name`; empty when the file names only a registry.
    pub repository: String,
    /// The tag, when stated.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), when stated.
    pub digest: Option<String>,
    /// The digest the tag was pinned to, when `--pin-digests` replaced the tag.
    pub pinned: Option<String>,
    /// For a registry setting or service connection: the variable or input that holds it
    /// (`REGISTRY`, `registry`, `dockerRegistryServiceConnection`).
    pub setting: Option<String>,
    /// Bytes holding the registry name, replaced by the new login server.
    #[serde(skip)]
    pub(crate) registry_span: Range<usize>,
    /// Bytes holding `:tag`, replaced by `@digest` when pinning (or a Kustomize entry's
    /// `newTag: TAG`, see [`Pin`]); `None` when the file shape does not allow it (maps, escaped
    /// strings).
    #[serde(skip)]
    pub(crate) tag_span: Option<Range<usize>>,
    /// How a pinned digest is written over `tag_span`.
    #[serde(skip)]
    pub(crate) pin: Pin,
    /// `registry_span` holds the registry's short name (`myacr` of `myacr.azurecr.io`, in a
    /// registry setting such as `REGISTRY_NAME`), replaced by the new registry's short name.
    #[serde(skip)]
    pub(crate) short_name: bool,
    /// Repository and tag are plain values that a registry can be asked about.
    #[serde(skip)]
    pub(crate) checkable: bool,
    /// Text to insert instead of replacing `registry_span` (a Kustomize `newName:` added under
    /// `name:`).
    #[serde(skip)]
    pub(crate) insertion: Option<Insertion>,
}

/// How `--pin-digests` writes a digest over a reference's `tag_span`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Pin {
    /// `:tag` becomes `@digest`.
    #[default]
    Suffix,
    /// A Kustomize `images:` entry's `newTag: TAG` becomes `digest: DIGEST`: Kustomize sets
    /// that tag over every image the entry matches, so a digest pinned in the resource alone
    /// would be replaced by the tag again when the kustomization is built.
    KustomizeDigest,
}

impl Pin {
    /// The text written over `tag_span` for `digest`.
    pub(crate) fn text(self, digest: &str) -> String {
        match self {
            Pin::Suffix => format!("@{digest}"),
            Pin::KustomizeDigest => format!("digest: {digest}"),
        }
    }
}

/// Text inserted at a byte offset: `before`, the new login server, `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Insertion {
    /// Where the text goes.
    pub at: usize,
    /// What comes before the login server.
    pub before: String,
    /// What comes after it.
    pub after: String,
}

impl Reference {
    /// True when repository and tag (or digest) are literal, so the target can be asked about
    /// them; templated references (`$VAR`, `{{ }}`) and registry-only values are not checked.
    pub fn is_checkable(&self) -> bool {
        self.checkable
    }

    /// True when `--pin-digests` can replace the tag in place.
    pub fn is_pinnable(&self) -> bool {
        self.tag_span.is_some() && self.digest.is_none()
    }

    /// True when the reference is the registry's short name (`REGISTRY_NAME: myacr` for
    /// `myacr.azurecr.io`), rewritten to the new registry's short name.
    pub fn is_short_name(&self) -> bool {
        self.short_name
    }
}

/// Where a mention that is not rewritten sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MentionPlace {
    /// Inside a `|` or `>` block scalar (scripts, embedded config).
    BlockScalar,
    /// In a YAML value that is not an image field (environment values, arguments).
    Value,
    /// In a Dockerfile instruction other than `FROM`, `COPY --from` or `ARG`.
    Instruction,
    /// In the body of a Dockerfile heredoc (`RUN <<EOF` ... `EOF`): a script or a file's
    /// content.
    Heredoc,
    /// In a line of a Helm template that is not an `image:` line.
    TemplateLine,
    /// In a file whose kind the rewrite does not understand (scripts, `.env`, Terraform, docs):
    /// every line is scanned, comments included.
    OtherFile,
    /// In a comment of a YAML file, a Dockerfile or a Helm template (`# ...`, `{{/* ... */}}`):
    /// no tool reads it, but people do, and a commented-out line may come back.
    Comment,
}

/// The old registry named somewhere the rewrite does not touch; listed so that a human looks,
/// and counted by `--check`. Comments are scanned too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mention {
    /// 1-based line.
    pub line: usize,
    /// Where it sits.
    pub place: MentionPlace,
    /// The line, trimmed.
    pub text: String,
    /// Why this mention needs a closer look, when there is more to say than its place (a
    /// regional endpoint of the old registry, a Kustomize name that cannot match every
    /// resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What one scan of one text found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// References that the rewrite changes, in file order.
    pub references: Vec<Reference>,
    /// Mentions left alone.
    pub mentions: Vec<Mention>,
}

/// Maps byte offsets to 1-based line numbers and line text.
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The trimmed text of the line holding `offset` (without a byte order mark).
    pub fn text(&self, offset: usize) -> String {
        let line = self.line(offset);
        let start = self.starts[line - 1];
        let end = self.starts.get(line).map_or(self.text.len(), |&e| e);
        self.text[start..end]
            .trim_start_matches('\u{feff}')
            .trim()
            .to_owned()
    }
}

impl Findings {
    /// Records the mentions of `registry` inside `range` of `text`, skipping bytes already
    /// covered by a reference, one per line: its login server, and with a note its regional
    /// endpoints and `az acr` commands that name it by its short name.
    pub(crate) fn mention(
        &mut self,
        text: &str,
        lines: &Lines<'_>,
        range: Range<usize>,
        registry: &crate::Registry,
        place: MentionPlace,
    ) {
        for offset in registry.mentions(&text[range.clone()]) {
            let at = range.start + offset;
            if self.references.iter().any(|r| r.registry_span.start == at) {
                continue;
            }
            let line = lines.line(at);
            if self.mentions.iter().any(|m| m.line == line) {
                continue;
            }
            self.mentions.push(Mention {
                line,
                place,
                text: lines.text(at),
                note: None,
            });
        }
        let noted = registry
            .regional_endpoints(&text[range.clone()])
            .into_iter()
            .map(|(offset, endpoint)| (offset, endpoint.note(registry)))
            .chain(
                crate::azcli::short_names(&text[range.clone()], registry)
                    .into_iter()
                    .map(|offset| (offset, crate::azcli::note(registry))),
            );
        for (offset, note) in noted {
            self.noted_mention(lines, range.start + offset, place, note);
        }
    }

    /// Records a mention at `at` with `note`, unless its line already has one (which then
    /// keeps its note, or gets this one when it had none).
    pub(crate) fn noted_mention(
        &mut self,
        lines: &Lines<'_>,
        at: usize,
        place: MentionPlace,
        note: String,
    ) {
        self.record_mention(lines, at, place, note, false);
    }

    /// Records a mention of the old registry at `at` with a note saying why it is left alone
    /// (one per line, as [`Findings::mention`] does).
    pub(crate) fn mention_with_note(
        &mut self,
        lines: &Lines<'_>,
        at: usize,
        place: MentionPlace,
        note: String,
    ) {
        self.record_mention(lines, at, place, note, true);
    }

    /// One mention per line: a line already mentioned gets `note` when `replace` (or when it had
    /// none).
    fn record_mention(
        &mut self,
        lines: &Lines<'_>,
        at: usize,
        place: MentionPlace,
        note: String,
        replace: bool,
    ) {
        let line = lines.line(at);
        match self.mentions.iter_mut().find(|m| m.line == line) {
            Some(mention) if replace => mention.note = Some(note),
            Some(mention) => {
                mention.note.get_or_insert(note);
            }
            None => self.mentions.push(Mention {
                line,
                place,
                text: lines.text(at),
                note: Some(note),
            }),
        }
    }
}
