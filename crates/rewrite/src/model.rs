//! What a scan finds: references to the old registry (rewritable, with their byte spans) and
//! mentions of it that are left alone but still count for `--check`.

use std::collections::{BTreeMap, HashMap};
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
    /// Bytes holding the repository as the file writes it, which a rename ([`crate::Renamer`])
    /// replaces: right after the registry and its `/` (`web` of `OLD/web:1`; empty for
    /// `oci://OLD`), or a Helm image map's `repository:` value. Their text is `repository` or
    /// its first segments, the others given elsewhere (a chart's `name:`). `None` when the
    /// file does not spell it literally (escapes) or holds no repository there.
    #[serde(skip)]
    pub(crate) repository_span: Option<Range<usize>>,
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
    /// The line, trimmed, as it may be printed: its secrets (passwords, tokens, the user
    /// information of URLs) replaced by `***` and its control characters escaped
    /// ([`crate::printable_line`]).
    pub text: String,
    /// Why this mention needs a closer look, when there is more to say than its place (a
    /// regional endpoint of the old registry, a Kustomize name that cannot match every
    /// resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What one scan of one text found: the references that the rewrite changes, in file order,
/// and the mentions left alone, one per line.
///
/// Each list has an index beside it (references by the byte their registry text starts at,
/// mentions by line), so that a scan tells a duplicate without walking the list: a file
/// holding tens of thousands of references is scanned in time that grows with its size, not
/// with its square. The lists are read with [`Findings::references`] and
/// [`Findings::mentions`], or taken with [`Findings::into_parts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    references: Vec<Reference>,
    /// The position in `references` of the first reference whose registry text starts at
    /// each byte.
    reference_at: BTreeMap<usize, usize>,
    mentions: Vec<Mention>,
    /// The position in `mentions` of the mention of each line.
    mention_on: HashMap<usize, usize>,
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

    /// The trimmed text of the line holding `offset` (without a byte order mark), as it may be
    /// printed: secrets hidden and control characters escaped ([`crate::printable_line`]), and
    /// a long line cut around `offset` ([`crate::printed::printable_excerpt`]).
    pub fn text(&self, offset: usize) -> String {
        let line = self.line(offset);
        let start = self.starts[line - 1];
        let end = self.starts.get(line).map_or(self.text.len(), |&e| e);
        let whole = &self.text[start..end];
        let trimmed = whole.trim_start_matches('\u{feff}').trim();
        let lead = whole.len() - whole.trim_start_matches('\u{feff}').trim_start().len();
        crate::printed::printable_excerpt(trimmed, (offset - start).saturating_sub(lead))
    }
}

impl Findings {
    /// Findings that hold `mentions` (one per line) and no reference.
    pub(crate) fn with_mentions(mentions: Vec<Mention>) -> Self {
        let mut found = Findings {
            mentions,
            ..Findings::default()
        };
        found.reindex();
        found
    }

    /// The references, in the order they were found (file order once the scan is done).
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// The mentions, one per line, in the order they were found (line order once the scan is
    /// done).
    pub fn mentions(&self) -> &[Mention] {
        &self.mentions
    }

    /// The references and the mentions.
    pub fn into_parts(self) -> (Vec<Reference>, Vec<Mention>) {
        (self.references, self.mentions)
    }

    /// True when a reference's registry text starts at byte `at`.
    pub(crate) fn has_reference_at(&self, at: usize) -> bool {
        self.reference_at.contains_key(&at)
    }

    /// Adds `reference` at the end, even when another starts at the same byte.
    pub(crate) fn push_reference(&mut self, reference: Reference) -> &mut Reference {
        let at = self.references.len();
        self.reference_at
            .entry(reference.registry_span.start)
            .or_insert(at);
        self.references.push(reference);
        &mut self.references[at]
    }

    /// Adds `reference` at the end unless one already starts at the same byte (a value two
    /// rules of the scan take); false when it was a duplicate and dropped.
    pub(crate) fn push_new_reference(&mut self, reference: Reference) -> bool {
        if self.has_reference_at(reference.registry_span.start) {
            return false;
        }
        self.push_reference(reference);
        true
    }

    /// The reference whose registry text starts first inside `span` (of those starting at one
    /// byte, the first found) among those `wanted` accepts.
    pub(crate) fn reference_in_mut(
        &mut self,
        span: Range<usize>,
        wanted: impl Fn(&Reference) -> bool,
    ) -> Option<&mut Reference> {
        let at = self
            .reference_at
            .range(span)
            .map(|(_, &at)| at)
            .find(|&at| wanted(&self.references[at]))?;
        Some(&mut self.references[at])
    }

    /// Keeps only the mentions `keep` accepts.
    pub(crate) fn retain_mentions(&mut self, keep: impl FnMut(&Mention) -> bool) {
        self.mentions.retain(keep);
        self.reindex();
    }

    /// Puts the references in file order (by where their registry text starts) and the
    /// mentions in line order, as a finished scan gives them.
    pub(crate) fn sort(&mut self) {
        self.references.sort_by_key(|r| r.registry_span.start);
        self.mentions.sort_by_key(|m| m.line);
        self.reindex();
    }

    /// Builds the indexes again after the lists were reordered or shortened.
    fn reindex(&mut self) {
        self.reference_at.clear();
        for (at, reference) in self.references.iter().enumerate() {
            self.reference_at
                .entry(reference.registry_span.start)
                .or_insert(at);
        }
        self.mention_on.clear();
        for (at, mention) in self.mentions.iter().enumerate() {
            self.mention_on.entry(mention.line).or_insert(at);
        }
    }

    /// Adds a mention of a line that has none.
    fn push_mention(&mut self, mention: Mention) {
        self.mention_on.insert(mention.line, self.mentions.len());
        self.mentions.push(mention);
    }

    /// Records the mentions of `registry` inside `range` of `text`, skipping bytes already
    /// covered by a reference, one per line: its login server, and with a note its regional
    /// endpoints and the Azure commands that name it by its short name ([`crate::azcli`]).
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
            if self.has_reference_at(at) {
                continue;
            }
            let line = lines.line(at);
            if self.mention_on.contains_key(&line) {
                continue;
            }
            self.push_mention(Mention {
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
                    .map(|(offset, use_)| (offset, crate::azcli::note(registry, use_))),
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
        match self.mention_on.get(&line).map(|&at| &mut self.mentions[at]) {
            Some(mention) if replace => mention.note = Some(note),
            Some(mention) => {
                mention.note.get_or_insert(note);
            }
            None => self.push_mention(Mention {
                line,
                place,
                text: lines.text(at),
                note: Some(note),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    fn reference(start: usize, line: usize, repository: &str) -> Reference {
        Reference {
            line,
            kind: ReferenceKind::YamlImage,
            original: format!("myreg.azurecr.io/{repository}"),
            repository: repository.to_owned(),
            tag: None,
            digest: None,
            pinned: None,
            setting: None,
            registry_span: start..start + "myreg.azurecr.io".len(),
            repository_span: None,
            tag_span: None,
            pin: Pin::Suffix,
            short_name: false,
            checkable: true,
            insertion: None,
        }
    }

    fn registry() -> Registry {
        Registry::parse("myreg.azurecr.io").unwrap()
    }

    fn repositories(found: &Findings) -> Vec<&str> {
        found
            .references()
            .iter()
            .map(|r| r.repository.as_str())
            .collect()
    }

    #[test]
    fn a_reference_at_a_byte_already_taken_is_a_duplicate_and_the_list_keeps_its_order() {
        let mut found = Findings::default();
        assert!(found.push_new_reference(reference(40, 3, "b")));
        assert!(found.push_new_reference(reference(7, 1, "a")));
        assert!(!found.push_new_reference(reference(40, 3, "again")));
        assert!(found.push_new_reference(reference(20, 2, "c")));
        assert_eq!(repositories(&found), vec!["b", "a", "c"]);
        assert!(found.has_reference_at(7) && found.has_reference_at(40));
        assert!(!found.has_reference_at(8));
        found.push_reference(reference(7, 1, "pushed anyway")).tag = Some("1".to_owned());
        assert_eq!(repositories(&found), vec!["b", "a", "c", "pushed anyway"]);
        assert_eq!(found.references()[3].tag.as_deref(), Some("1"));
    }

    #[test]
    fn a_line_is_mentioned_once_and_keeps_the_place_of_its_first_mention() {
        let text = "a: myreg.azurecr.io/x\nb: myreg.azurecr.io/y myreg.azurecr.io/z\nc: plain\n";
        let lines = Lines::new(text);
        let mut found = Findings::default();
        let second = text.find("b:").unwrap()..text.find("c:").unwrap();
        found.mention(text, &lines, second, &registry(), MentionPlace::Value);
        found.mention(
            text,
            &lines,
            0..text.len(),
            &registry(),
            MentionPlace::Comment,
        );
        let mentioned: Vec<_> = found.mentions().iter().map(|m| (m.line, m.place)).collect();
        assert_eq!(
            mentioned,
            vec![(2, MentionPlace::Value), (1, MentionPlace::Comment)]
        );
        found.noted_mention(&lines, 25, MentionPlace::Value, "first".to_owned());
        found.noted_mention(&lines, 26, MentionPlace::Value, "kept".to_owned());
        found.mention_with_note(&lines, 3, MentionPlace::Value, "replaced".to_owned());
        let notes: Vec<_> = found.mentions().iter().map(|m| m.note.as_deref()).collect();
        assert_eq!(notes, vec![Some("first"), Some("replaced")]);
    }

    #[test]
    fn a_mention_where_a_reference_starts_is_not_listed() {
        let text = "image: myreg.azurecr.io/x\n";
        let lines = Lines::new(text);
        let mut found = Findings::default();
        found.push_new_reference(reference(7, 1, "x"));
        found.mention(
            text,
            &lines,
            0..text.len(),
            &registry(),
            MentionPlace::Value,
        );
        assert!(found.mentions().is_empty());
    }

    #[test]
    fn the_index_follows_the_lists_when_they_are_sorted_or_mentions_dropped() {
        let text = "one\ntwo\nthree\nfour\n";
        let lines = Lines::new(text);
        let mut found = Findings::default();
        found.push_new_reference(reference(40, 3, "b"));
        found.push_new_reference(reference(7, 1, "a"));
        for at in [14, 0, 4] {
            found.noted_mention(&lines, at, MentionPlace::Value, format!("at {at}"));
        }
        found.sort();
        assert_eq!(repositories(&found), vec!["a", "b"]);
        assert!(!found.push_new_reference(reference(40, 3, "again")));
        let mentioned: Vec<_> = found.mentions().iter().map(|m| m.line).collect();
        assert_eq!(mentioned, vec![1, 2, 4]);
        found.noted_mention(&lines, 5, MentionPlace::Value, "ignored".to_owned());
        found.retain_mentions(|m| m.line != 1);
        found.noted_mention(&lines, 1, MentionPlace::Value, "again".to_owned());
        found.mention_with_note(&lines, 15, MentionPlace::Value, "replaced".to_owned());
        let notes: Vec<_> = found
            .mentions()
            .iter()
            .map(|m| (m.line, m.note.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(notes, vec![(2, "at 4"), (4, "replaced"), (1, "again")]);
        let (references, mentions) = found.into_parts();
        assert_eq!((references.len(), mentions.len()), (2, 3));
    }

    #[test]
    fn the_reference_inside_a_span_is_found_by_where_it_starts() {
        let mut found = Findings::default();
        for (start, repository) in [(50, "late"), (10, "early"), (30, "tagged"), (31, "mid")] {
            found.push_new_reference(reference(start, 1, repository));
        }
        let untagged = |r: &Reference| r.repository != "tagged";
        let inside = found.reference_in_mut(25..40, untagged).unwrap();
        assert_eq!(inside.repository, "mid");
        inside.tag = Some("2".to_owned());
        assert_eq!(found.references()[3].tag.as_deref(), Some("2"));
        assert!(found.reference_in_mut(11..30, untagged).is_none());
        assert!(found.reference_in_mut(0..5, |_| true).is_none());
    }

    #[test]
    fn findings_made_from_mentions_know_their_lines() {
        let text = "one\ntwo\n";
        let lines = Lines::new(text);
        let mention = |line| Mention {
            line,
            place: MentionPlace::Value,
            text: String::new(),
            note: None,
        };
        let mut found = Findings::with_mentions(vec![mention(2)]);
        found.mention_with_note(&lines, 5, MentionPlace::Value, "noted".to_owned());
        found.mention_with_note(&lines, 0, MentionPlace::Value, "new".to_owned());
        let notes: Vec<_> = found
            .mentions()
            .iter()
            .map(|m| (m.line, m.note.clone()))
            .collect();
        assert_eq!(
            notes,
            vec![(2, Some("noted".to_owned())), (1, Some("new".to_owned()))]
        );
    }
}
