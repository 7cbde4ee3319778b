//! Finds the references in YAML files (by walking the span-keeping tree of [`crate::yaml`]) and in
//! Helm templates (line by line), and the mentions of the old registry elsewhere in them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::kustomize::KustomizeScope;
use crate::model::{Findings, Insertion, Lines, MentionPlace, Pin, Reference, ReferenceKind};
use crate::registry::{is_tag, ImageRef};
use crate::yaml::{self, Node, Scalar, Style};
use crate::{FileKind, Registry};

/// Builds a reference from a string value whose raw text is `text[raw]`.
///
/// `value` is the decoded value. A `docker://` or `oci://` prefix is allowed, and so is a shell
/// default expansion in front (`${REG:-myreg.azurecr.io}/app:1`, `${IMAGE:-myreg.azurecr.io/app:1}`,
/// as compose and Dockerfiles use): its default is the reference, and is what is rewritten.
/// Returns `None` when the value does not name `registry`, or when its raw text does not spell
/// the registry literally (escapes), in which case the caller's mention scan reports it.
pub(crate) fn string_reference(
    text: &str,
    raw: Range<usize>,
    value: &str,
    registry: &Registry,
    kind: ReferenceKind,
    lines: &Lines<'_>,
) -> Option<Reference> {
    let v = value.trim();
    let (skip, after, expanded) = match shell_default(v) {
        Some((skip, effective)) => (skip, effective, true),
        None => {
            let prefix_len = ["docker://", "oci://"]
                .iter()
                .find(|p| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p))
                .map_or(0, |p| p.len());
            (prefix_len, v[prefix_len..].to_owned(), false)
        }
    };
    let after = after.as_str();
    let component = match after.split_once('/') {
        Some((component, _)) => component,
        // A chart repository may be the registry alone: `oci://myreg.azurecr.io`.
        None if v[..skip].eq_ignore_ascii_case("oci://") => after,
        None => return None,
    };
    if !registry.matches(component) {
        return None;
    }
    let raw_text = &text[raw.clone()];
    let raw_off = raw_text.len() - raw_text.trim_start().len();
    let head = skip + component.len();
    let literal_head = raw_text[raw_off..].get(..head)?;
    if !literal_head.eq_ignore_ascii_case(&v[..head]) {
        return None;
    }
    let start = raw.start + raw_off + skip;
    let parts = if component.len() == after.len() {
        ImageRef {
            registry: Some(after),
            repository: "",
            tag: None,
            digest: None,
        }
    } else {
        ImageRef::split(after)
    };
    let tag_span = match parts.tag {
        Some(tag) if !expanded && parts.digest.is_none() && raw_text[raw_off..].starts_with(v) => {
            let name_len = after.split_once('@').map_or(after.len(), |(n, _)| n.len());
            let tag_start = start + name_len - tag.len() - 1;
            Some(tag_start..tag_start + 1 + tag.len())
        }
        _ => None,
    };
    let registry_end = start + component.len();
    let repository_span = if parts.repository.is_empty() {
        Some(registry_end..registry_end)
    } else {
        let written = text
            .get(registry_end..)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| rest.starts_with(parts.repository));
        written.then(|| registry_end + 1..registry_end + 1 + parts.repository.len())
    };
    Some(Reference {
        line: lines.line(start),
        kind,
        original: v.to_owned(),
        repository: parts.repository.to_owned(),
        tag: parts.tag.map(str::to_owned),
        digest: parts.digest.map(str::to_owned),
        pinned: None,
        setting: None,
        registry_span: start..registry_end,
        repository_span,
        tag_span,
        checkable: parts.is_literal(),
        insertion: None,
        pin: Pin::Suffix,
        short_name: false,
    })
}

/// A value that starts with a shell default expansion, `${NAME:-default}rest` (also `-`, `:=`,
/// `=`): the offset of the default in `value` and the reference it stands for when `NAME` is
/// unset, `default` followed by `rest`.
fn shell_default(value: &str) -> Option<(usize, String)> {
    let inner = value.strip_prefix("${")?;
    let name_len = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let operator = [":-", ":=", "-", "="]
        .into_iter()
        .find(|op| inner[name_len..].starts_with(op))?;
    let skip = 2 + name_len + operator.len();
    let close = value[skip..].find('}')? + skip;
    let default = &value[skip..close];
    if default.is_empty() || default.contains(['$', '{']) {
        return None;
    }
    Some((skip, format!("{default}{}", &value[close + 1..])))
}

/// What a pipeline variable or input named `key` holds when its value is the old registry:
/// [`ReferenceKind::RegistrySetting`] for the registry logged in to and pushed to,
/// [`ReferenceKind::ServiceConnection`] for a registry service connection, `None` for a name
/// that says neither (its mentions stay listed).
///
/// The name is compared without case and separators (`CONTAINER_REGISTRY`, `containerRegistry`
/// and `container-registry` are one name). It must end with `registry`, `loginserver`,
/// `registryserver`, `registryhost`, `registryname` or `acrname`; a name that says the registry
/// is the origin of a copy (`SOURCE_REGISTRY`, `OLD_REGISTRY`, `MIRROR_REGISTRY`, ...) is left
/// alone, since pointing it at the new registry would change what it means.
pub(crate) fn setting_kind(key: &str) -> Option<ReferenceKind> {
    if names_an_origin(key) {
        return None;
    }
    let name = squashed(key);
    if name.contains("registry") && (name.ends_with("connection") || name.ends_with("endpoint")) {
        return Some(ReferenceKind::ServiceConnection);
    }
    const ENDINGS: [&str; 6] = [
        "registry",
        "loginserver",
        "registryserver",
        "registryhost",
        "registryname",
        "acrname",
    ];
    ENDINGS
        .iter()
        .any(|e| name.ends_with(e))
        .then_some(ReferenceKind::RegistrySetting)
}

/// `key` in lower case without separators (`CONTAINER_REGISTRY` is `containerregistry`).
fn squashed(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// True for a name that says the registry it holds is the origin of a copy (`SOURCE_REGISTRY`,
/// `srcRegistry`, `mirrorRegistry`, `OLD_REGISTRY`, ...): pointing it at the new registry
/// would change what it means, so its value is left alone and listed.
pub(crate) fn names_an_origin(key: &str) -> bool {
    const ORIGINS: [&str; 11] = [
        "source", "src", "from", "old", "origin", "upstream", "mirror", "legacy", "backup",
        "previous", "cache",
    ];
    let name = squashed(key);
    ORIGINS.iter().any(|o| name.starts_with(o))
}

/// True for a key whose values name the origin of a copy or the credentials to reach a
/// registry, whatever is below it: a section whose first word is `source`, `src`, `from`,
/// `origin` or `upstream` (`source:`, `sourceImage:`, `src:` of a sync or import list), or one
/// named `creds`, `credentials`, `auths` or `logins` (regsync's `creds:`, a Docker config's
/// `auths`). Pointing what is below it at the new registry would turn a copy against itself.
fn names_an_origin_section(key: &str) -> bool {
    const ORIGINS: [&str; 5] = ["source", "src", "from", "origin", "upstream"];
    const CREDENTIALS: [&str; 4] = ["creds", "credentials", "auths", "logins"];
    let first = key
        .char_indices()
        .find(|&(i, c)| !c.is_ascii_alphanumeric() || (i > 0 && c.is_ascii_uppercase()))
        .map_or(key, |(i, _)| &key[..i])
        .to_ascii_lowercase();
    ORIGINS.contains(&first.as_str()) || CREDENTIALS.contains(&squashed(key).as_str())
}

/// Why a value naming `registry` under (or as) the key `key` is listed and not rewritten.
fn origin_note(key: &str, registry: &Registry) -> String {
    format!(
        "{registry} under `{key}`, the origin of a copy or its credentials: not rewritten (a copy from it still needs it); change it by hand if it should name the new registry"
    )
}

/// A registry setting: the value `text[raw]` (decoded `value`) is the old registry alone,
/// `OLD/` or (for [`ReferenceKind::RegistrySetting`]) `OLD/prefix`, a repository prefix the
/// pipeline pushes below, or (also for a registry setting only) exactly the old registry's
/// short name (`REGISTRY_NAME: myacr` for `myacr.azurecr.io`). Only the registry is rewritten.
/// `None` when the value is anything else or does not spell the registry literally (escapes).
pub(crate) fn setting_reference(
    text: &str,
    raw: Range<usize>,
    value: &str,
    setting: (&str, ReferenceKind),
    registry: &Registry,
    lines: &Lines<'_>,
) -> Option<Reference> {
    let (key, kind) = setting;
    let value = value.trim().trim_end_matches('/');
    let (host, prefix) = value.split_once('/').unwrap_or((value, ""));
    let short_name = kind == ReferenceKind::RegistrySetting
        && registry
            .short_name()
            .is_some_and(|name| value.eq_ignore_ascii_case(name));
    if !registry.matches(host) && !short_name {
        return None;
    }
    let prefix_ok = prefix.split('/').all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if !prefix.is_empty() && (kind != ReferenceKind::RegistrySetting || !prefix_ok) {
        return None;
    }
    let raw_text = &text[raw.clone()];
    let off = raw_text.len() - raw_text.trim_start().len();
    if !raw_text[off..]
        .get(..value.len())
        .is_some_and(|r| r.eq_ignore_ascii_case(value))
    {
        return None;
    }
    let start = raw.start + off;
    Some(Reference {
        line: lines.line(start),
        kind,
        original: value.to_owned(),
        repository: prefix.to_owned(),
        tag: None,
        digest: None,
        pinned: None,
        setting: Some(key.to_owned()),
        registry_span: start..start + host.len(),
        repository_span: None,
        tag_span: None,
        checkable: false,
        insertion: None,
        pin: Pin::Suffix,
        short_name,
    })
}

/// Scans a `.env` file: `KEY=VALUE` lines (an `export ` in front, spaces around `=`, quoted or
/// plain values with a ` #` comment after them) whose key names a registry setting
/// ([`setting_kind`]) and whose value is the old registry are references; every other mention
/// of it, comments included, is listed.
pub(crate) fn scan_dotenv(text: &str, registry: &Registry) -> Findings {
    let lines = Lines::new(text);
    let mut out = Findings::default();
    let body = without_bom(text);
    let mut offset = text.len() - body.len();
    for line in body.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if let Some(reference) = dotenv_setting(text, start, line, registry, &lines) {
            out.push_reference(reference);
        }
    }
    out.mention(
        text,
        &lines,
        0..text.len(),
        registry,
        MentionPlace::OtherFile,
    );
    out
}

/// The registry setting on one `.env` line starting at byte `start` of `text`, if any.
fn dotenv_setting(
    text: &str,
    start: usize,
    line: &str,
    registry: &Registry,
    lines: &Lines<'_>,
) -> Option<Reference> {
    let body = line.trim_end_matches(['\n', '\r']);
    let trimmed = body.trim_start();
    let trimmed = trimmed.strip_prefix("export ").unwrap_or(trimmed);
    let (key, rest) = trimmed.split_once('=')?;
    let key = key.trim_end();
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !key_ok || key.starts_with('#') {
        return None;
    }
    let kind = setting_kind(key).filter(|k| *k == ReferenceKind::RegistrySetting)?;
    let value_at = body.len() - rest.len();
    let value = rest.trim_start();
    let value_at = start + value_at + (rest.len() - value.len());
    let (raw, decoded) = match value.as_bytes().first() {
        Some(q @ (b'"' | b'\'')) => {
            let inner = &value[1..];
            let end = inner.find(*q as char)?;
            let after = inner[end + 1..].trim_start();
            if !(after.is_empty() || after.starts_with('#')) {
                return None;
            }
            (value_at + 1..value_at + 1 + end, &inner[..end])
        }
        _ => {
            let end = value.find(" #").unwrap_or(value.len());
            let plain = value[..end].trim_end();
            if plain.contains(char::is_whitespace) {
                return None;
            }
            (value_at..value_at + plain.len(), plain)
        }
    };
    setting_reference(text, raw, decoded, (key, kind), registry, lines)
}

/// Scans a YAML file of the given kind.
///
/// `scope` says what the resources of a Kustomize file name after the run: an `images:` name
/// is rewritten when every image it matches will be at the new registry; otherwise it stays
/// (it matches images still at the old registry) and gets a `newName:`.
pub(crate) fn scan_yaml(
    text: &str,
    kind: FileKind,
    registry: &Registry,
    scope: &KustomizeScope,
) -> Result<Findings, yaml::YamlError> {
    let docs = yaml::parse(text)?;
    let lines = Lines::new(text);
    let mut scan = YamlScan {
        text,
        lines: &lines,
        registry,
        kind,
        k8s: false,
        argo: false,
        group: String::new(),
        resource: String::new(),
        anchors: &HashMap::new(),
        collections: &HashMap::new(),
        scope,
        keys: HashSet::new(),
        origin: None,
        out: Findings::default(),
    };
    for doc in &docs {
        scan.k8s = doc.root.get("apiVersion").is_some() && doc.root.get("kind").is_some();
        scan.argo = is_argo_application(&doc.root);
        let text_of = |key: &str| doc.root.get(key).and_then(Node::as_str).map(str::trim);
        scan.group = text_of("apiVersion")
            .and_then(|v| v.split_once('/'))
            .map_or_else(String::new, |(group, _)| group.to_owned());
        scan.resource = text_of("kind").unwrap_or_default().to_owned();
        scan.anchors = &doc.anchors;
        scan.collections = &doc.collections;
        let mut path = Vec::new();
        scan.visit(&doc.root, &mut path);
    }
    for doc in &docs {
        scan.mentions(&doc.root);
    }
    scan.comments(&docs);
    let mut out = scan.out;
    out.sort();
    Ok(out)
}

/// The Kustomize `images:` entries of `text` that already name `target` (by `newName`, or by
/// `name` when there is none) and set their tag by `newTag`, made ready for pinning as the
/// entries the run renames are: `--pin-digests` turns their `newTag:` into `digest:` too, else
/// Kustomize would set the tag again over the digest pinned in the resources. They are found
/// by the scan of `images:` itself, looking for `target` instead of the old registry; nothing
/// in them is renamed (a `newName` the scan would add is dropped).
///
/// Their repository is named as the old registry names it (through `renamer`'s inverse), as
/// every reference's is.
pub(crate) fn kustomize_entries_at(
    text: &str,
    target: &Registry,
    renamer: Option<&dyn crate::Renamer>,
) -> Vec<Reference> {
    let scope = KustomizeScope::unknown();
    let Ok(found) = scan_yaml(text, FileKind::Kustomization, target, &scope) else {
        return Vec::new();
    };
    let (references, _) = found.into_parts();
    references
        .into_iter()
        .filter(|r| r.pin == Pin::KustomizeDigest && r.is_pinnable())
        .filter_map(|mut r| {
            // Named as the old registry names it: below `target`'s prefix, if any, and by the
            // name it had before the renames.
            r.repository = crate::rename::source_name(target, renamer, &r.repository)?;
            r.repository_span = None;
            r.insertion = None;
            Some(r)
        })
        .collect()
}

struct YamlScan<'a> {
    text: &'a str,
    lines: &'a Lines<'a>,
    registry: &'a Registry,
    kind: FileKind,
    k8s: bool,
    /// The document is an Argo CD `Application` or `ApplicationSet`.
    argo: bool,
    /// The API group of the document (`tekton.dev` of `tekton.dev/v1`), empty for none.
    group: String,
    /// The `kind:` of the document, empty for none.
    resource: String,
    anchors: &'a HashMap<String, Scalar>,
    /// The mappings and sequences of the document that carry an anchor, for merge keys.
    collections: &'a HashMap<String, Node>,
    scope: &'a KustomizeScope,
    /// Scalars that name the old registry as a match key only (Kustomize `name:` with a
    /// `newName:`): neither references nor mentions.
    keys: HashSet<Range<usize>>,
    /// The key naming the origin of a copy or credentials ([`names_an_origin_section`], or a
    /// `*Registry` key that [`names_an_origin`]) that the values being visited sit under:
    /// what would be a reference there is listed with a note instead.
    origin: Option<String>,
    out: Findings,
}

impl<'a> YamlScan<'a> {
    /// Takes `reference` unless another rule of the scan took the same value already; under a
    /// key naming the origin of a copy ([`YamlScan::origin`]) lists it with a note instead.
    fn push(&mut self, reference: Reference) {
        match &self.origin {
            Some(key) => {
                let note = origin_note(key, self.registry);
                let at = reference.registry_span.start;
                self.out
                    .mention_with_note(self.lines, at, MentionPlace::Value, note);
            }
            None => {
                self.out.push_new_reference(reference);
            }
        }
    }

    /// The innermost key of `path` naming the origin of a copy or credentials
    /// ([`names_an_origin_section`]); none in an Argo CD application, whose `source:` is where
    /// its manifests come from.
    fn origin_on(&self, path: &[String]) -> Option<String> {
        if self.argo {
            return None;
        }
        path.iter()
            .rev()
            .find(|key| names_an_origin_section(key))
            .cloned()
    }

    /// An ARM template's registry resource (`"type": "Microsoft.ContainerRegistry/registries"`)
    /// whose `name` is the old registry's short name, or a template parameter whose
    /// `defaultValue` is: listed with a note, as Bicep and Terraform definitions are.
    fn arm_registry(&mut self, node: &Node, path: &[String]) {
        let Some(short_name) = self.registry.short_name() else {
            return;
        };
        let get = |key: &str| node.get(key).and_then(|n| self.scalar(n));
        let is_registry = get("type").is_some_and(|t| {
            t.value
                .trim()
                .eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries")
        });
        let value = if is_registry {
            get("name")
        } else if path.iter().rev().nth(1).is_some_and(|k| k == "parameters") {
            get("defaultValue")
        } else {
            None
        };
        let Some(value) = value.filter(|v| v.value.trim().eq_ignore_ascii_case(short_name)) else {
            return;
        };
        let note = crate::terraform::note(self.registry, "an ARM template definition");
        let at = value.body.start;
        self.out
            .mention_with_note(self.lines, at, MentionPlace::Value, note);
    }

    /// A `*Registry:` value named `key`: rewritten, unless the name says it is the origin of a
    /// copy (`sourceRegistry`), which is listed with a note.
    fn named_registry_value(&mut self, key: &str, scalar: &Scalar) {
        let outer = self.origin.clone();
        if names_an_origin(key) && self.origin.is_none() {
            self.origin = Some(key.to_owned());
        }
        self.registry_value(scalar, ReferenceKind::HelmRegistry, None, None);
        self.origin = outer;
    }

    /// True when the mapping `node` (or the one an alias names) has `key`, itself or through a
    /// merge key (`<<: *anchor`, `<<: [*a, *b]`, `<<: {...}`, merged mappings merging others
    /// up to `depth` deep), as Compose reads a service whose `build:` comes from an
    /// `x-` extension.
    fn has_key(&self, node: &Node, key: &str, depth: usize) -> bool {
        let node = match node {
            Node::Alias(name) => match self.collections.get(name) {
                Some(node) => node,
                None => return false,
            },
            node => node,
        };
        let Node::Mapping(entries) = node else {
            return false;
        };
        if node.get(key).is_some() {
            return true;
        }
        let merged = |value: &Node| depth > 0 && self.has_key(value, key, depth - 1);
        entries
            .iter()
            .filter(|(k, _)| k.as_str() == Some("<<"))
            .any(|(_, value)| match value {
                Node::Sequence(items) => items.iter().any(merged),
                value => merged(value),
            })
    }

    /// The scalar behind a node, following an alias.
    fn scalar<'n>(&self, node: &'n Node) -> Option<&'n Scalar>
    where
        'a: 'n,
    {
        match node {
            Node::Scalar(s) => Some(s),
            Node::Alias(name) => self.anchors.get(name),
            _ => None,
        }
    }

    fn string_ref(&self, scalar: &Scalar, kind: ReferenceKind) -> Option<Reference> {
        if scalar.style.is_block() && scalar.value.trim().contains('\n') {
            return None;
        }
        string_reference(
            self.text,
            scalar.body.clone(),
            &scalar.value,
            self.registry,
            kind,
            self.lines,
        )
    }

    fn image_kind(&self) -> ReferenceKind {
        match self.kind {
            FileKind::Compose => ReferenceKind::ComposeImage,
            FileKind::Pipeline => ReferenceKind::PipelineImage,
            FileKind::HelmValues => ReferenceKind::HelmImage,
            _ if self.k8s => ReferenceKind::KubernetesImage,
            _ => ReferenceKind::YamlImage,
        }
    }

    fn visit(&mut self, node: &Node, path: &mut Vec<String>) {
        match node {
            Node::Mapping(entries) => {
                let origin = self.origin_on(path);
                self.origin.clone_from(&origin);
                self.image_map(node, path);
                self.arm_registry(node, path);
                if self.argo && is_argo_source(path) {
                    self.argo_chart(node);
                }
                for (key, value) in entries {
                    self.origin.clone_from(&origin);
                    let key = key.as_str().unwrap_or("").to_owned();
                    if self.argo && key == "helm" && is_argo_source(path) {
                        self.argo_helm(value);
                        continue;
                    }
                    if key == "values" && self.is_helm_release() && path.as_slice() == ["spec"] {
                        self.values_object(value);
                        continue;
                    }
                    if key == "image"
                        && self.kind == FileKind::Compose
                        && self.has_key(node, "build", MERGE_DEPTH)
                    {
                        self.built_image(value);
                        continue;
                    }
                    self.entry(&key, value, path);
                    if key == "image" && self.reads_values() {
                        self.values_image_tag(node, value);
                    }
                    path.push(key);
                    self.visit(value, path);
                    path.pop();
                }
            }
            Node::Sequence(items) => {
                for item in items {
                    path.push("[]".to_owned());
                    self.visit(item, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn entry(&mut self, key: &str, value: &Node, path: &[String]) {
        let at_root = path.is_empty();
        match (self.kind, key) {
            (FileKind::Kustomization, "images") if at_root => return self.kustomize(value),
            (FileKind::HelmChart, "dependencies") if at_root => return self.chart(value),
            (FileKind::HelmChart | FileKind::Kustomization, _) => return,
            (FileKind::Pipeline, "env" | "variables" | "with" | "inputs") => {
                return self.settings(key, value)
            }
            (FileKind::Pipeline, "parameters") => return self.parameters(value),
            _ => {}
        }
        if self.kind == FileKind::Pipeline {
            match (key, value) {
                // GitLab CI `image: {name: ...}`.
                ("image", Node::Mapping(_)) => return self.pipeline_image(value.get("name")),
                // GitLab CI `services:` as a list of images or `- name:` maps.
                ("services", Node::Sequence(items)) => {
                    for item in items {
                        match item {
                            Node::Mapping(_) => self.pipeline_image(item.get("name")),
                            other => self.pipeline_image(Some(other)),
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        if self.group == TEKTON && key == "params" {
            return self.tekton_params(value);
        }
        let Some(scalar) = self.scalar(value) else {
            return;
        };
        let kind = match key {
            IMAGE_LIST_ANNOTATION => return self.image_list(scalar),
            "imageName" if self.group == IMAGE_UPDATER => return self.image_list(scalar),
            "image" if self.group == FLUX_IMAGE && self.resource == "ImageRepository" => {
                // The repository Flux scans for tags: no tag of it is meant.
                if let Some(mut reference) = self.string_ref(scalar, self.image_kind()) {
                    reference.checkable = false;
                    reference.tag_span = None;
                    self.push(reference);
                }
                return;
            }
            // A Tekton bundle (`taskRef.bundle`, the old form of the bundles resolver).
            "bundle" if self.group == TEKTON => self.image_kind(),
            "image" => self.image_kind(),
            "container" if self.kind == FileKind::Pipeline => ReferenceKind::PipelineImage,
            "uses" if self.kind == FileKind::Pipeline && scalar.value.starts_with("docker://") => {
                ReferenceKind::PipelineImage
            }
            "url"
                if scalar
                    .value
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("oci://") =>
            {
                if let Some(mut reference) = self.string_ref(scalar, ReferenceKind::OciUrl) {
                    // A repository or a prefix of them; the tag is set elsewhere (`ref.tag`).
                    reference.checkable = false;
                    reference.tag_span = None;
                    self.push(reference);
                }
                return;
            }
            k if self.reads_values() && k.to_ascii_lowercase().ends_with("registry") => {
                return self.named_registry_value(k, scalar);
            }
            _ => return,
        };
        if let Some(reference) = self.string_ref(scalar, kind) {
            self.push(reference);
        }
    }

    /// The `image:` of a docker-compose service that has a `build:`: the name Compose tags
    /// the image it builds with (and pushes by `docker compose push`), a tag the build
    /// creates. It is rewritten, but neither checked against the target nor pinned (a digest
    /// cannot name a built image).
    fn built_image(&mut self, value: &Node) {
        let Some(scalar) = self.scalar(value) else {
            return;
        };
        if let Some(mut reference) = self.string_ref(scalar, ReferenceKind::ComposeImage) {
            reference.checkable = false;
            reference.tag_span = None;
            self.push(reference);
        }
    }

    /// The `argocd-image-updater.argoproj.io/image-list` annotation of an Argo CD application
    /// (`[alias=]image[:constraint]` items separated by commas), or one such item as the
    /// `imageName` of an `ImageUpdater`: each image at the old registry is a reference. What
    /// follows its `:` is a version constraint, not a tag: it is not checked.
    fn image_list(&mut self, scalar: &Scalar) {
        if scalar.style.is_block() {
            return;
        }
        let mut found = Vec::new();
        let mut at = scalar.body.start;
        for item in self.text[scalar.body.clone()].split(',') {
            let item_start = at;
            at += item.len() + 1;
            let (skip, image) = match item.split_once('=') {
                Some((alias, image)) => (alias.len() + 1, image),
                None => (0, item),
            };
            let start = item_start + skip;
            let raw = start..start + image.len();
            let kind = ReferenceKind::ImageUpdater;
            if let Some(mut reference) =
                string_reference(self.text, raw, image, self.registry, kind, self.lines)
            {
                reference.checkable = false;
                reference.tag_span = None;
                found.push(reference);
            }
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// The `params:` of a Tekton resource (`- name: IMAGE` with `value:` or `default:`): a
    /// parameter named for an image (`IMAGE`, `builder-image`, ...) or a bundle (`bundle` of
    /// the bundles resolver) whose value is an image at the old registry is a reference; so is
    /// each item of an array parameter named for images (`images`, `extra-images`).
    fn tekton_params(&mut self, params: &Node) {
        let Node::Sequence(items) = params else {
            return;
        };
        let mut found = Vec::new();
        for item in items {
            let get = |key: &str| item.get(key).and_then(|n| self.scalar(n));
            let Some(name) = get("name") else { continue };
            let name = squashed(&name.value);
            if !(name.ends_with("image") || name.ends_with("images") || name == "bundle") {
                continue;
            }
            let pushed = TEKTON_PUSHED_IMAGE_PARAMS.contains(&name.as_str());
            // A string parameter, or an array one (`type: array`: each item an image).
            let values = ["value", "default"]
                .into_iter()
                .filter_map(|key| item.get(key))
                .flat_map(|node| match node {
                    Node::Sequence(list) => list.iter().filter_map(|n| self.scalar(n)).collect(),
                    other => self.scalar(other).into_iter().collect::<Vec<_>>(),
                });
            for value in values {
                let Some(mut reference) = self.string_ref(value, self.image_kind()) else {
                    continue;
                };
                if pushed {
                    // Where the build pushes: a tag it creates, and no digest can go there.
                    reference.checkable = false;
                    reference.tag_span = None;
                }
                found.push(reference);
            }
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// An `image:` string of a values file written without a tag (`image: OLD/es`): the
    /// chart adds one, from a `tag:` or `imageTag:` beside it (as Elastic's charts take them
    /// apart) or from the chart's `appVersion`, so it is not the image `:latest`. It is checked
    /// with the tag beside it, or not at all.
    fn values_image_tag(&mut self, map: &Node, value: &Node) {
        let Some(body) = self.scalar(value).map(|s| s.body.clone()) else {
            return;
        };
        let tag = ["tag", "imageTag"]
            .iter()
            .find_map(|key| map.get(key).and_then(|n| self.scalar(n)))
            .map(|s| s.value.trim().to_owned())
            .filter(|t| !t.is_empty());
        let untagged = |r: &Reference| r.tag.is_none() && r.digest.is_none();
        let Some(reference) = self.out.reference_in_mut(body, untagged) else {
            return;
        };
        if reference.repository.is_empty() {
            return;
        }
        reference.checkable = reference.checkable && tag.as_deref().is_some_and(is_tag);
        reference.tag = tag;
    }

    /// True when `*Registry:` values are read as a Helm values file's: in a values file, and
    /// in any other YAML document that is not a Kubernetes manifest (a values file named
    /// otherwise, such as `helm/env/prod.yaml`), as image maps are.
    fn reads_values(&self) -> bool {
        self.kind == FileKind::HelmValues || (self.kind == FileKind::Yaml && !self.k8s)
    }

    /// A pipeline image given as a node (`image: {name: ...}`, a `services:` entry).
    fn pipeline_image(&mut self, node: Option<&Node>) {
        let Some(scalar) = node.and_then(|n| self.scalar(n)) else {
            return;
        };
        if let Some(reference) = self.string_ref(scalar, ReferenceKind::PipelineImage) {
            self.push(reference);
        }
    }

    /// The `helm:` of an Argo CD application source: the Helm values it passes are read as a
    /// values file. `values` is a YAML document inside a `|` block scalar: it is scanned as
    /// one, with its references mapped back into the block (indentation and formatting stay);
    /// a folded (`>`) or unreadable one is left as mentions. `valuesObject` is a values
    /// mapping. `parameters` are `--set` pairs: a name ending in `registry` holding the old
    /// registry, or one ending in `image` or `.repository` holding an image of it, is a
    /// reference.
    fn argo_helm(&mut self, helm: &Node) {
        if let Some(values) = helm.get("values").and_then(|n| self.scalar(n)) {
            if values.style == Style::Literal {
                self.embedded_values(values);
            }
        }
        if let Some(object) = helm.get("valuesObject") {
            self.values_object(object);
        }
        let Some(Node::Sequence(parameters)) = helm.get("parameters") else {
            return;
        };
        let mut found = Vec::new();
        for parameter in parameters {
            let get = |key: &str| parameter.get(key).and_then(|n| self.scalar(n));
            let (Some(name), Some(value)) = (get("name"), get("value")) else {
                continue;
            };
            let last = name
                .value
                .rsplit('.')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if last.ends_with("registry") {
                self.named_registry_value(&last, value);
            } else if last == "repository" || last.ends_with("image") {
                if let Some(mut reference) = self.string_ref(value, ReferenceKind::HelmImage) {
                    // The tag, if any, is another parameter: not checked as `latest`.
                    reference.checkable &= reference.tag.is_some() || reference.digest.is_some();
                    found.push(reference);
                }
            }
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// The chart of an Argo CD Helm source kept in an OCI registry: `repoURL: OLD/path` (or
    /// `oci://OLD/path`, or the registry alone) with `chart:` and `targetRevision:`. Git and
    /// HTTP sources have no `chart:` or are not registries, and are left alone.
    fn argo_chart(&mut self, source: &Node) {
        let get = |key: &str| source.get(key).and_then(|n| self.scalar(n));
        let (Some(url), Some(chart)) = (get("repoURL"), get("chart")) else {
            return;
        };
        let chart = chart.value.trim().to_owned();
        let version = get("targetRevision").map(|s| s.value.trim().to_owned());
        let exact = version.as_deref().is_some_and(is_exact_version) && !chart.is_empty();
        // Helm stores `1.2.3+build` under the tag `1.2.3_build`.
        let tag = version.filter(|_| exact).map(|v| v.replace('+', "_"));
        let Some(mut reference) = self.string_ref(url, ReferenceKind::ArgoChart) else {
            let rest = (chart, tag, None);
            return self.registry_value(url, ReferenceKind::ArgoChart, Some(rest), None);
        };
        let path = reference.repository.trim_end_matches('/');
        reference.repository = if path.is_empty() {
            chart
        } else {
            format!("{path}/{chart}")
        };
        reference.checkable = reference.checkable && reference.tag.is_none() && exact;
        reference.tag = tag;
        reference.tag_span = None;
        self.push(reference);
    }

    /// A Helm values mapping inside another document (an Argo CD `valuesObject`, a Flux
    /// `HelmRelease`'s `spec.values`): read as a values file, so image maps and `*Registry:`
    /// values (`global.imageRegistry`) are rewritten.
    fn values_object(&mut self, object: &Node) {
        let outer = (self.kind, self.k8s);
        (self.kind, self.k8s) = (FileKind::HelmValues, false);
        self.visit(object, &mut Vec::new());
        (self.kind, self.k8s) = outer;
    }

    /// True for a Flux `HelmRelease` document.
    fn is_helm_release(&self) -> bool {
        self.group == "helm.toolkit.fluxcd.io" && self.resource == "HelmRelease"
    }

    /// Scans a `|` block scalar holding a Helm values document and takes its references, their
    /// spans moved from the document to the block's bytes.
    fn embedded_values(&mut self, block: &Scalar) {
        let (document, origins) = unindent(self.text, block.body.clone());
        let Ok(found) = scan_yaml(&document, FileKind::HelmValues, self.registry, self.scope)
        else {
            // Not a YAML document: its mentions of the old registry are listed.
            return;
        };
        let outer = |offset: usize| {
            let i = origins.partition_point(|&(inner, _)| inner <= offset) - 1;
            origins[i].1 + (offset - origins[i].0)
        };
        let moved = |span: &Range<usize>| outer(span.start)..outer(span.start) + span.len();
        for mut reference in found.into_parts().0 {
            if reference.insertion.is_some() {
                continue;
            }
            reference.registry_span = moved(&reference.registry_span);
            reference.repository_span = reference.repository_span.as_ref().map(moved);
            reference.tag_span = reference.tag_span.as_ref().map(moved);
            reference.line = self.lines.line(reference.registry_span.start);
            self.push(reference);
        }
    }

    /// The variables or inputs of a pipeline (`env:`, `variables:`, `with:`, `inputs:`): a
    /// mapping `NAME: value` (GitLab also `NAME: {value: ...}`) or an Azure Pipelines list of
    /// `- name: NAME` / `value:` entries. A registry setting ([`setting_kind`]) whose value is
    /// the old registry is a reference. In a task's `inputs:`, `containerRegistry` names a
    /// service connection (as `Docker@2` takes it).
    fn settings(&mut self, container: &str, node: &Node) {
        let mut found = Vec::new();
        let mut consider = |this: &Self, name: &str, value: Option<&Node>| {
            let Some(scalar) = value.and_then(|v| this.scalar(v)) else {
                return;
            };
            if container == "with" && IMAGE_INPUTS.contains(&name) {
                found.extend(this.image_input(scalar));
                return;
            }
            let kind = match setting_kind(name) {
                Some(ReferenceKind::RegistrySetting)
                    if container == "inputs" && name.eq_ignore_ascii_case("containerRegistry") =>
                {
                    ReferenceKind::ServiceConnection
                }
                Some(kind) => kind,
                None => return,
            };
            if scalar.style.is_block() {
                return;
            }
            found.extend(setting_reference(
                this.text,
                scalar.body.clone(),
                &scalar.value,
                (name, kind),
                this.registry,
                this.lines,
            ));
        };
        match node {
            Node::Mapping(entries) => {
                for (key, value) in entries {
                    let Some(name) = key.as_str() else { continue };
                    // GitLab `NAME: {value: ...}`; a reusable workflow's input `default:`.
                    let value = match value {
                        Node::Mapping(_) => value.get("value").or_else(|| value.get("default")),
                        other => Some(other),
                    };
                    consider(self, name, value);
                }
            }
            Node::Sequence(items) => {
                for item in items {
                    if let Some(name) = item.get("name").and_then(|n| self.scalar(n)) {
                        consider(self, &name.value.clone(), item.get("value"));
                    }
                }
            }
            _ => {}
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// The images of an action input that lists images to push (`tags:` of
    /// `docker/build-push-action`, `images:` of `docker/metadata-action`) or a cache
    /// (`cache-from: type=registry,ref=IMAGE`): items separated by line ends or commas, a
    /// `ref=` or `name=` in front allowed. They are pushed by the run, not pulled: not checked.
    fn image_input(&self, scalar: &Scalar) -> Vec<Reference> {
        let mut found = Vec::new();
        let raw = &self.text[scalar.body.clone()];
        let mut at = scalar.body.start;
        for item in raw.split_inclusive(['\n', ',']) {
            let item_start = at;
            at += item.len();
            let item = item.trim_end_matches([',', '\n', '\r']);
            let trimmed = item.trim_start();
            let (skip, image) = match ["ref=", "name="].iter().find(|p| trimmed.starts_with(*p)) {
                Some(prefix) => (
                    item.len() - trimmed.len() + prefix.len(),
                    &trimmed[prefix.len()..],
                ),
                None => (0, item),
            };
            if image.contains('=') {
                continue;
            }
            let start = item_start + skip;
            let kind = ReferenceKind::PipelineImage;
            let raw = start..start + image.len();
            if let Some(mut reference) =
                string_reference(self.text, raw, image, self.registry, kind, self.lines)
            {
                reference.checkable = false;
                reference.tag_span = None;
                found.push(reference);
            }
        }
        found
    }

    /// Azure Pipelines template `parameters:` (`- name: containerRegistry` / `default: OLD`):
    /// a registry setting's default is a reference.
    fn parameters(&mut self, node: &Node) {
        let Node::Sequence(items) = node else {
            return;
        };
        let mut found = Vec::new();
        for item in items {
            let (Some(name), Some(default)) = (
                item.get("name").and_then(|n| self.scalar(n)),
                item.get("default").and_then(|n| self.scalar(n)),
            ) else {
                continue;
            };
            let Some(kind) = setting_kind(&name.value) else {
                continue;
            };
            if default.style.is_block() {
                continue;
            }
            found.extend(setting_reference(
                self.text,
                default.body.clone(),
                &default.value,
                (&name.value, kind),
                self.registry,
                self.lines,
            ));
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// The bytes of a one-line scalar's trimmed value when the file spells it literally (no
    /// escapes), else `None`.
    fn literal_value(&self, scalar: &Scalar) -> Option<Range<usize>> {
        let value = scalar.value.trim();
        if scalar.style.is_block() || value.is_empty() {
            return None;
        }
        let raw = &self.text[scalar.body.clone()];
        let off = raw.len() - raw.trim_start().len();
        let start = scalar.body.start + off;
        (self.text.get(start..start + value.len()) == Some(value))
            .then(|| start..start + value.len())
    }

    /// A value that holds only a registry (`registry: myreg.azurecr.io`).
    fn registry_value(
        &mut self,
        scalar: &Scalar,
        kind: ReferenceKind,
        rest: Option<(String, Option<String>, Option<String>)>,
        repository_span: Option<Range<usize>>,
    ) {
        let value = scalar.value.trim().trim_end_matches('/');
        if !self.registry.matches(value) || scalar.style.is_block() {
            return;
        }
        let raw = &self.text[scalar.body.clone()];
        let off = raw.len() - raw.trim_start().len();
        if !raw[off..]
            .get(..value.len())
            .is_some_and(|r| r.eq_ignore_ascii_case(value))
        {
            return;
        }
        let start = scalar.body.start + off;
        let end = start + value.len();
        // An Argo CD chart's path goes right after the registry, when a rename gives it one.
        let repository_span =
            repository_span.or_else(|| (kind == ReferenceKind::ArgoChart).then_some(end..end));
        let (repository, tag, digest) = rest.clone().unwrap_or_default();
        let mut original = value.to_owned();
        if rest.is_some() {
            original = format!("{value}/{repository}");
            if let Some(t) = &tag {
                original.push(':');
                original.push_str(t);
            }
            if let Some(d) = &digest {
                original.push('@');
                original.push_str(d);
            }
        }
        let checkable = rest.is_some()
            && ImageRef {
                registry: None,
                repository: &repository,
                tag: tag.as_deref(),
                digest: digest.as_deref(),
            }
            .is_literal()
            && (tag.is_some() || digest.is_some());
        self.push(Reference {
            line: self.lines.line(start),
            kind,
            original,
            repository,
            tag,
            digest,
            pinned: None,
            setting: None,
            registry_span: start..end,
            repository_span,
            tag_span: None,
            checkable,
            insertion: None,
            pin: Pin::Suffix,
            short_name: false,
        });
    }

    /// A Helm image map: `{registry, repository, tag, digest}` or `{repository, tag}` with the
    /// registry inside `repository`.
    fn image_map(&mut self, node: &Node, path: &[String]) {
        if matches!(self.kind, FileKind::HelmChart | FileKind::Kustomization) {
            return;
        }
        let get = |key: &str| node.get(key).and_then(|n| self.scalar(n));
        let Some(repository) = get("repository") else {
            return;
        };
        let under_image = path
            .last()
            .is_some_and(|k| k.to_ascii_lowercase().ends_with("image"));
        if !(under_image
            || get("registry").is_some()
            || get("tag").is_some()
            || get("digest").is_some())
        {
            return;
        }
        let text_of = |s: Option<&Scalar>| {
            s.map(|s| s.value.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let tag = text_of(get("tag"));
        let digest = text_of(get("digest"));
        if let Some(registry) = get("registry") {
            let rest = (repository.value.trim().to_owned(), tag, digest);
            let repository_span = self.literal_value(repository);
            self.registry_value(
                registry,
                ReferenceKind::HelmImageMap,
                Some(rest),
                repository_span,
            );
        } else if let Some(mut reference) = self.string_ref(repository, ReferenceKind::HelmImageMap)
        {
            if reference.tag.is_none() && reference.digest.is_none() {
                if let Some(t) = &tag {
                    reference.original = format!("{}:{t}", reference.original);
                }
                reference.tag = tag;
                if let Some(d) = &digest {
                    reference.original = format!("{}@{d}", reference.original);
                }
                reference.digest = digest;
            }
            reference.tag_span = None;
            reference.checkable = reference.checkable
                && reference.tag.as_deref().map_or(true, is_tag)
                && (reference.tag.is_some() || reference.digest.is_some());
            self.push(reference);
        }
    }

    /// Kustomize `images:` entries. `newName` is rewritten. `name` is the key matched against
    /// the resources: it is rewritten when every image it matches is at the new registry after
    /// the run (`scope`); otherwise it stays, and when there is no `newName` one is added under
    /// it, so `newTag`/`digest` keep applying. A name whose images end up at both registries is
    /// also listed with a note. The effective image (`newName` or `name` with
    /// `newTag`/`digest`) is the one checked.
    fn kustomize(&mut self, images: &Node) {
        let Node::Sequence(items) = images else {
            return;
        };
        let mut found = Vec::new();
        for item in items {
            let get = |key: &str| item.get(key).and_then(|n| self.scalar(n));
            let tag = get("newTag")
                .map(|s| s.value.trim().to_owned())
                .filter(|v| !v.is_empty());
            let digest = get("digest")
                .map(|s| s.value.trim().to_owned())
                .filter(|v| !v.is_empty());
            // With --pin-digests, `newTag: TAG` becomes `digest: DIGEST`: Kustomize would set
            // the tag again over a digest pinned in the resources.
            let new_tag_entry = match &digest {
                None => self.entry_span(item, "newTag"),
                Some(_) => None,
            };
            let effective = |reference: &mut Reference| {
                if reference.tag.is_none() && reference.digest.is_none() {
                    reference.tag = tag.clone();
                    reference.digest = digest.clone();
                    reference.checkable = reference.checkable
                        && tag.as_deref().map_or(true, is_tag)
                        && (tag.is_some() || digest.is_some());
                    reference.tag_span = new_tag_entry.clone().filter(|_| tag.is_some());
                    reference.pin = Pin::KustomizeDigest;
                } else {
                    reference.checkable = false;
                }
            };
            let new_name =
                get("newName").and_then(|s| self.string_ref(s, ReferenceKind::KustomizeNewName));
            let has_new_name = get("newName").is_some();
            if let Some(mut reference) = new_name {
                reference.tag_span = None;
                effective(&mut reference);
                found.push(reference);
            }
            let Some(name) = get("name") else { continue };
            let Some(mut reference) = self.string_ref(name, ReferenceKind::KustomizeName) else {
                continue;
            };
            reference.tag_span = None;
            // Some resources name the image at the new registry and others (or remote ones)
            // may name it at the old one: one name cannot match both. Unless the entry only
            // sends the old name to the new registry (which the moved resources already name),
            // it is split: a new entry before it sends the old name there, and the entry itself
            // takes the new name, so its newName/newTag/digest apply to every resource
            // (Kustomize applies the entries one after the other, each to every image).
            let mut redirect = None;
            if self.scope.is_mixed(&reference.repository) && !self.only_redirects(item, &reference)
            {
                redirect = self.redirect_before(item, name, &reference);
                if redirect.is_none() {
                    let note = format!(
                        "some resources of this kustomization name {repo} at the new registry and others (or remote ones) may name it at {old}: one name cannot match both, so the entry stops applying to some; split it by hand: add before it an entry with name {old}/{repo} and newName {new}/{new_repo}, and give this one the name {new}/{new_repo}",
                        repo = reference.repository,
                        new_repo = self.scope.new_name(&reference.repository),
                        old = self.registry,
                        new = self.scope.new_registry.as_ref().map_or("NEW".to_owned(), |r| r.to_string()),
                    );
                    self.out.mention_with_note(
                        self.lines,
                        reference.registry_span.start,
                        MentionPlace::Value,
                        note,
                    );
                }
            }
            if self.scope.follows_new(&reference.repository) || redirect.is_some() {
                // Every image it matches is at the new registry (the others sent there by the
                // redirect): the name follows them.
                if has_new_name {
                    reference.checkable = false;
                } else {
                    effective(&mut reference);
                }
                found.push(reference);
                found.extend(redirect);
            } else if has_new_name {
                self.keys.insert(name.body.clone());
            } else if let Some(insertion) = self.new_name_after(item, name, &reference) {
                effective(&mut reference);
                reference.insertion = Some(insertion);
                found.push(reference);
            } else {
                // A layout the insertion cannot follow: left as a mention.
            }
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// The bytes of `key: value` in the mapping `item`, quotes included, when the value is a
    /// one-line scalar (what `--pin-digests` replaces in a Kustomize entry).
    fn entry_span(&self, item: &Node, key: &str) -> Option<Range<usize>> {
        let Node::Mapping(entries) = item else {
            return None;
        };
        let (Node::Scalar(k), Node::Scalar(v)) = entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))?
        else {
            return None;
        };
        if v.style.is_block() || self.text[v.body.clone()].contains('\n') {
            return None;
        }
        let bytes = self.text.as_bytes();
        let start = match (k.style, k.body.start.checked_sub(1)) {
            (Style::Single | Style::Double, Some(before)) => before,
            _ => k.body.start,
        };
        let end = match v.style {
            Style::Single | Style::Double if bytes.get(v.body.end).is_some() => v.body.end + 1,
            _ => v.body.end,
        };
        Some(start..end)
    }

    /// True when the Kustomize entry `item`, whose name is `reference`, does nothing but send
    /// the old name to the same repository at the new registry (after the run): no
    /// `newTag`/`digest`, and a `newName` that is (or becomes) the new registry's repository of
    /// the same path. Resources already at the new registry lose nothing by not matching it.
    fn only_redirects(&self, item: &Node, reference: &Reference) -> bool {
        let get = |key: &str| item.get(key).and_then(|n| self.scalar(n));
        if get("newTag").is_some() || get("digest").is_some() {
            return false;
        }
        let (Some(new_name), Some(to)) = (get("newName"), &self.scope.new_registry) else {
            return false;
        };
        // Both named as they are after the run: renamed ([`KustomizeScope::new_name`]).
        let renamed = |r: &Reference| {
            let rest = r.original.get(r.registry_span.len()..)?;
            let tail = rest
                .strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(r.repository.as_str()));
            Some(match tail {
                Some(tail) => format!("/{}{tail}", self.scope.new_name(&r.repository)),
                None => rest.to_owned(),
            })
        };
        let path = renamed(reference);
        let after_run = match self.string_ref(new_name, ReferenceKind::KustomizeNewName) {
            Some(moved) => renamed(&moved).map(|rest| format!("{to}{rest}")),
            None => Some(new_name.value.trim().to_owned()),
        };
        match (after_run, path) {
            (Some(after_run), Some(path)) => after_run.eq_ignore_ascii_case(&format!("{to}{path}")),
            _ => false,
        }
    }

    /// The Kustomize entry to add before `item` when it is split (see
    /// [`KustomizeScope::is_mixed`]): `- name: OLD/repo` as `name:` is written, with
    /// `newName: NEW/repo`, in the block layout of `item` (whose first key must follow its
    /// `- `). `None` for a flow-style entry or another layout.
    fn redirect_before(
        &self,
        item: &Node,
        name: &Scalar,
        reference: &Reference,
    ) -> Option<Reference> {
        let Node::Mapping(entries) = item else {
            return None;
        };
        let Some((Node::Scalar(first_key), _)) = entries.first() else {
            return None;
        };
        if name.style.is_block() || self.text[name.body.clone()].contains('\n') {
            return None;
        }
        let key_start = self.quoted(first_key).start;
        let line_start = self.text[..key_start].rfind('\n').map_or(0, |i| i + 1);
        let prefix = &self.text[line_start..key_start];
        let dash = prefix.trim_start_matches(' ');
        if !(dash.starts_with('-') && dash[1..].bytes().all(|b| b == b' ') && dash.len() > 1) {
            return None;
        }
        let path = reference.original.get(reference.registry_span.len()..)?;
        let line_end = self.text[key_start..].find('\n').map(|i| key_start + i);
        let eol = match line_end {
            Some(end) if self.text[..end].ends_with('\r') => "\r\n",
            _ => "\n",
        };
        let indent = " ".repeat(prefix.len());
        let mut redirect = reference.clone();
        redirect.kind = ReferenceKind::KustomizeNewName;
        redirect.line = self.lines.line(line_start);
        redirect.registry_span = line_start..line_start;
        redirect.tag = None;
        redirect.digest = None;
        redirect.tag_span = None;
        redirect.checkable = false;
        redirect.pin = Pin::Suffix;
        redirect.insertion = Some(Insertion {
            at: line_start,
            before: format!(
                "{prefix}name: {}{eol}{indent}newName: ",
                &self.text[self.quoted(name)]
            ),
            after: format!("{path}{eol}"),
        });
        Some(redirect)
    }

    /// The bytes of `scalar` with its quotes, if it has any.
    fn quoted(&self, scalar: &Scalar) -> Range<usize> {
        let bytes = self.text.as_bytes();
        match scalar.style {
            Style::Single | Style::Double => {
                let start = scalar.body.start.saturating_sub(1);
                let end = (scalar.body.end + 1).min(bytes.len());
                start..end
            }
            _ => scalar.body.clone(),
        }
    }

    /// The `newName:` to add after the `name:` of a Kustomize entry: on the next line at the
    /// key's column (block style), or after the value (flow style).
    fn new_name_after(
        &self,
        item: &Node,
        name: &Scalar,
        reference: &Reference,
    ) -> Option<Insertion> {
        let Node::Mapping(entries) = item else {
            return None;
        };
        let key = entries.iter().find_map(|(k, _)| match k {
            Node::Scalar(k) if k.value == "name" => Some(k),
            _ => None,
        })?;
        let path = reference.original.get(reference.registry_span.len()..)?;
        let bytes = self.text.as_bytes();
        let key_start = match bytes.get(key.body.start.checked_sub(1)?) {
            Some(b'"' | b'\'') => key.body.start - 1,
            _ => key.body.start,
        };
        let line_start = self.text[..key_start].rfind('\n').map_or(0, |i| i + 1);
        let before_key = self.text[line_start..key_start].trim_end_matches([' ', '\t']);
        if before_key.ends_with(['{', ',']) {
            let end = match bytes.get(name.body.end) {
                Some(b'"' | b'\'') if name.style != Style::Plain => name.body.end + 1,
                _ => name.body.end,
            };
            return Some(Insertion {
                at: end,
                before: ", newName: ".to_owned(),
                after: path.to_owned(),
            });
        }
        if !before_key.trim_start_matches([' ', '-']).is_empty() || name.style.is_block() {
            return None;
        }
        let indent = " ".repeat(key_start - line_start);
        let after_value = name.body.end;
        Some(match self.text[after_value..].find('\n') {
            Some(i) => {
                let crlf = self.text[..after_value + i].ends_with('\r');
                let eol = if crlf { "\r\n" } else { "\n" };
                Insertion {
                    at: after_value + i + 1,
                    before: format!("{indent}newName: "),
                    after: format!("{path}{eol}"),
                }
            }
            None => Insertion {
                at: self.text.len(),
                before: format!("\n{indent}newName: "),
                after: path.to_owned(),
            },
        })
    }

    /// `Chart.yaml` dependencies with `repository: oci://registry/path`.
    fn chart(&mut self, dependencies: &Node) {
        let Node::Sequence(items) = dependencies else {
            return;
        };
        let mut found = Vec::new();
        for item in items {
            let get = |key: &str| item.get(key).and_then(|n| self.scalar(n));
            let Some(repository) = get("repository") else {
                continue;
            };
            if !repository
                .value
                .trim()
                .to_ascii_lowercase()
                .starts_with("oci://")
            {
                continue;
            }
            let Some(mut reference) = self.string_ref(repository, ReferenceKind::ChartDependency)
            else {
                continue;
            };
            let name = get("name")
                .map(|s| s.value.trim().to_owned())
                .unwrap_or_default();
            let version = get("version").map(|s| s.value.trim().to_owned());
            let path = reference.repository.trim_end_matches('/');
            reference.repository = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            reference.checkable = reference.checkable
                && !name.is_empty()
                && reference.tag.is_none()
                && version.as_deref().is_some_and(is_exact_version);
            // Helm stores `1.2.3+build` under the tag `1.2.3_build`.
            reference.tag = version.map(|v| v.replace('+', "_"));
            reference.tag_span = None;
            found.push(reference);
        }
        found.into_iter().for_each(|r| self.push(r));
    }

    /// Reports the mentions of the old registry outside every scalar of `docs`: in comments
    /// (a host name has no other place there but a directive, tag or anchor name).
    fn comments(&mut self, docs: &[yaml::Document]) {
        let mut spans = Vec::new();
        for doc in docs {
            scalar_spans(&doc.root, &mut spans);
        }
        spans.sort_by_key(|span| span.start);
        let mut at = 0;
        let mut gaps = Vec::new();
        for span in spans {
            if span.start > at {
                gaps.push(at..span.start);
            }
            at = at.max(span.end);
        }
        gaps.push(at..self.text.len());
        for gap in gaps {
            self.out.mention(
                self.text,
                self.lines,
                gap,
                self.registry,
                MentionPlace::Comment,
            );
        }
    }

    /// Lists a double-quoted scalar that names the old registry only once its escapes are read
    /// (`"\x6fldacr.azurecr.io/app:1"`, `"\u006fldacr…"` in JSON): its text does not spell the
    /// host, so it is neither rewritten nor found by the mention scan, yet it is a reference.
    fn escaped_mention(&mut self, scalar: &Scalar, place: MentionPlace) {
        let raw = &self.text[scalar.body.clone()];
        if scalar.style != Style::Double
            || !raw.contains('\\')
            || self.registry.mentions(&scalar.value).is_empty()
            || !self.registry.mentions(raw).is_empty()
        {
            return;
        }
        let note = format!(
            "names {} once its escapes are read: not rewritten; write it without escapes, or edit it by hand",
            self.registry
        );
        self.out
            .noted_mention(self.lines, scalar.body.start, place, note);
    }

    /// Reports every scalar that mentions the old registry and was not taken as a reference.
    fn mentions(&mut self, node: &Node) {
        match node {
            Node::Scalar(s) if self.keys.contains(&s.body) => {}
            Node::Scalar(s) => {
                let place = if s.style.is_block() {
                    MentionPlace::BlockScalar
                } else {
                    MentionPlace::Value
                };
                self.out
                    .mention(self.text, self.lines, s.body.clone(), self.registry, place);
                self.escaped_mention(s, place);
            }
            Node::Mapping(entries) => {
                for (k, v) in entries {
                    self.mentions(k);
                    self.mentions(v);
                }
            }
            Node::Sequence(items) => items.iter().for_each(|i| self.mentions(i)),
            Node::Alias(_) | Node::Null => {}
        }
    }
}

/// How deep merge keys are followed (a merged mapping that merges another, ...); an alias
/// inside the mapping its anchor names would otherwise be followed for ever.
const MERGE_DEPTH: usize = 8;

/// Action inputs (`with:`) that list images: pushed tags, metadata images, registry caches.
const IMAGE_INPUTS: [&str; 4] = ["tags", "images", "cache-from", "cache-to"];

/// The API group of Tekton resources.
const TEKTON: &str = "tekton.dev";

/// Tekton parameters (squashed names) that name the image a build pushes: `IMAGE` of the
/// catalog's buildah, kaniko, s2i and jib tasks, `APP_IMAGE` and `CACHE_IMAGE` of buildpacks,
/// and the like. Such a reference is rewritten but not checked against the target nor pinned.
const TEKTON_PUSHED_IMAGE_PARAMS: [&str; 6] = [
    "image",
    "appimage",
    "cacheimage",
    "outputimage",
    "targetimage",
    "destinationimage",
];
/// The API group of Flux's image automation (`ImageRepository`, `ImagePolicy`).
const FLUX_IMAGE: &str = "image.toolkit.fluxcd.io";
/// The API group of Argo CD Image Updater's `ImageUpdater` resources.
const IMAGE_UPDATER: &str = "argocd-image-updater.argoproj.io";
/// The annotation listing the images Argo CD Image Updater watches for an application.
const IMAGE_LIST_ANNOTATION: &str = "argocd-image-updater.argoproj.io/image-list";

/// Adds the byte spans of every scalar below `node` (keys and values) to `spans`.
fn scalar_spans(node: &Node, spans: &mut Vec<Range<usize>>) {
    match node {
        Node::Scalar(s) => spans.push(s.body.clone()),
        Node::Mapping(entries) => entries.iter().for_each(|(k, v)| {
            scalar_spans(k, spans);
            scalar_spans(v, spans);
        }),
        Node::Sequence(items) => items.iter().for_each(|i| scalar_spans(i, spans)),
        Node::Alias(_) | Node::Null => {}
    }
}

/// True for an Argo CD `Application` or `ApplicationSet` document.
fn is_argo_application(root: &Node) -> bool {
    root.get("apiVersion")
        .and_then(Node::as_str)
        .is_some_and(|v| v.trim().starts_with("argoproj.io/"))
        && root
            .get("kind")
            .and_then(Node::as_str)
            .is_some_and(|k| matches!(k.trim(), "Application" | "ApplicationSet"))
}

/// True when `path` (keys from the document root, `[]` for a sequence item) is an Argo CD
/// application source: `spec.source`, `spec.sources[]`, or the same under an
/// `ApplicationSet`'s `spec.template`.
fn is_argo_source(path: &[String]) -> bool {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let source = match path.as_slice() {
        ["spec", "template", rest @ ..] => rest,
        rest => rest,
    };
    matches!(source, ["spec", "source"] | ["spec", "sources", "[]"])
}

/// The text of a block scalar whose content is `text[body]`, its indentation removed (as YAML
/// reads it), and for each of its lines where that line starts in the document and in `text`.
fn unindent(text: &str, body: Range<usize>) -> (String, Vec<(usize, usize)>) {
    let line_start = text[..body.start].rfind('\n').map_or(0, |i| i + 1);
    let indent = body.start - line_start;
    let mut document = String::with_capacity(body.len() + 1);
    let mut origins = Vec::new();
    let mut at = body.start;
    for (i, line) in text[body.clone()].split_inclusive('\n').enumerate() {
        let spaces = if i == 0 {
            0
        } else {
            line.bytes().take(indent).take_while(|&b| b == b' ').count()
        };
        origins.push((document.len(), at + spaces));
        document.push_str(&line[spaces..]);
        at += line.len();
    }
    if !document.ends_with('\n') {
        document.push('\n');
    }
    (document, origins)
}

/// True for an exact chart version (`1.2.3`, `v1.2.3-rc.1+build`), not a range (`2.x.x`, `^1.2`).
fn is_exact_version(version: &str) -> bool {
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && is_tag(&version.replace('+', "_"))
}

/// Scans a Helm template line by line: `image:` lines whose value starts with the registry are
/// references; any other line naming the registry is a mention, a comment line (`# ...`,
/// `{{/* ... */}}`) too.
pub(crate) fn scan_template(text: &str, registry: &Registry) -> Findings {
    let lines = Lines::new(text);
    let mut out = Findings::default();
    let body = without_bom(text);
    let mut offset = text.len() - body.len();
    // A `{{/* ... */}}` comment may go on over several lines (commented-out containers): every
    // line of it is a comment.
    let mut in_comment = false;
    let mut comment_lines = HashSet::new();
    for line in body.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let commented = in_comment || is_template_comment(trimmed);
        if in_comment {
            in_comment = !line.contains("*/");
        } else if let Some(rest) = ["{{/*", "{{- /*"]
            .iter()
            .find_map(|open| trimmed.strip_prefix(open))
        {
            in_comment = !rest.contains("*/");
        }
        if commented {
            comment_lines.insert(lines.line(start));
            out.mention(text, &lines, start..offset, registry, MentionPlace::Comment);
            continue;
        }
        let item = trimmed.strip_prefix("- ").map_or(trimmed, str::trim_start);
        if let Some(rest) = item.strip_prefix("image:") {
            let value_start = start + (line.len() - rest.len());
            let value = rest.trim_start();
            let value_start = value_start + (rest.len() - value.len());
            let (value_start, value) = match value.as_bytes().first() {
                Some(q @ (b'"' | b'\'')) => {
                    let inner = &value[1..];
                    let end = inner.find(*q as char).unwrap_or(inner.len());
                    (value_start + 1, &inner[..end])
                }
                _ => (value_start, plain_template_value(value)),
            };
            let raw = value_start..value_start + value.len();
            if let Some(r) = string_reference(
                text,
                raw,
                value,
                registry,
                ReferenceKind::HelmTemplateImage,
                &lines,
            ) {
                out.push_reference(r);
            }
        }
        out.mention(
            text,
            &lines,
            start..offset,
            registry,
            MentionPlace::TemplateLine,
        );
    }
    // An `az acr` command continued over lines (a script in a ConfigMap or a Job's `args`) is
    // seen only in the whole text.
    for (at, use_) in crate::azcli::short_names(text, registry) {
        let place = if comment_lines.contains(&lines.line(at)) {
            MentionPlace::Comment
        } else {
            MentionPlace::TemplateLine
        };
        out.noted_mention(&lines, at, place, crate::azcli::note(registry, use_));
    }
    out.sort();
    out
}

/// The plain (unquoted) value at the start of `rest` of a template line: up to the line end or
/// a ` #` comment, the spaces inside `{{ ... }}` actions kept (`OLD/app:{{ .Chart.AppVersion
/// }}` is one value).
fn plain_template_value(rest: &str) -> &str {
    let line = rest.split(['\r', '\n']).next().unwrap_or(rest);
    let mut depth = 0usize;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        if line[i..].starts_with("{{") {
            depth += 1;
        } else if line[i..].starts_with("}}") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && c.is_whitespace() {
            let after = line[i..].trim_start();
            if after.is_empty() || after.starts_with('#') {
                end = i;
                break;
            }
        }
    }
    &line[..end]
}

/// True for a Helm template line that is a comment (`# ...`, `{{/* ... */}}`).
fn is_template_comment(trimmed: &str) -> bool {
    trimmed.starts_with('#') || trimmed.starts_with("{{/*") || trimmed.starts_with("{{- /*")
}

/// `text` without a UTF-8 byte order mark at its start.
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Scans a file of no understood kind: every mention of the registry, line by line, and the
/// Terraform attributes and Bicep definitions that name it by its short name (see
/// [`crate::terraform`], [`crate::bicep`]).
pub(crate) fn scan_text(text: &str, registry: &Registry) -> Findings {
    let lines = Lines::new(text);
    let mut out = Findings::default();
    out.mention(
        text,
        &lines,
        0..text.len(),
        registry,
        MentionPlace::OtherFile,
    );
    for at in crate::terraform::short_names(text, registry) {
        let note = crate::terraform::note(registry, "a Terraform attribute");
        out.noted_mention(&lines, at, MentionPlace::OtherFile, note);
    }
    for at in crate::bicep::short_names(text, registry) {
        let note = crate::terraform::note(registry, "a Bicep definition");
        out.noted_mention(&lines, at, MentionPlace::OtherFile, note);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_settings_are_named_like_a_registry_and_not_like_an_origin() {
        let setting = Some(ReferenceKind::RegistrySetting);
        for name in [
            "REGISTRY",
            "registry",
            "CONTAINER_REGISTRY",
            "containerRegistry",
            "login-server",
            "ACR_LOGIN_SERVER",
            "REGISTRY_HOST",
            "docker.registry",
        ] {
            assert_eq!(setting_kind(name), setting, "{name}");
        }
        for name in ["dockerRegistryServiceConnection", "REGISTRY_ENDPOINT"] {
            assert_eq!(
                setting_kind(name),
                Some(ReferenceKind::ServiceConnection),
                "{name}"
            );
        }
        for name in [
            "SOURCE_REGISTRY",
            "srcRegistry",
            "OLD_REGISTRY",
            "MIRROR_REGISTRY",
            "IMAGE",
            "IMAGE_PREFIX",
            "REGISTRY_URL",
            "registry-url",
            "NOTE",
        ] {
            assert_eq!(setting_kind(name), None, "{name}");
        }
    }

    #[test]
    fn a_merge_key_naming_the_mapping_it_is_in_is_followed_only_so_deep() {
        let registry = Registry::parse("old.io").unwrap();
        let text = "services:\n  web: &web\n    <<: *web\n    image: old.io/web:1\n";
        let found = scan_yaml(
            text,
            FileKind::Compose,
            &registry,
            &KustomizeScope::unknown(),
        );
        let found = found.unwrap();
        assert_eq!(found.references().len(), 1);
        assert!(found.references()[0].is_checkable(), "no build: anywhere");
    }

    #[test]
    fn env_lines_keep_their_quoting_and_comments() {
        let registry = Registry::parse("old.io").unwrap();
        let text = "A_REGISTRY='old.io' # c\nB_REGISTRY=old.io/team\nC_REGISTRY=old.io x\n#REGISTRY=old.io\nD_REGISTRY=\"old.io\" tail\n";
        let found = scan_dotenv(text, &registry);
        let spans: Vec<_> = found
            .references()
            .iter()
            .map(|r| {
                (
                    r.line,
                    &text[r.registry_span.clone()],
                    r.repository.as_str(),
                )
            })
            .collect();
        assert_eq!(spans, vec![(1, "old.io", ""), (2, "old.io", "team")]);
        let mentioned: Vec<_> = found.mentions().iter().map(|m| m.line).collect();
        assert_eq!(mentioned, vec![3, 4, 5]);
    }
}
