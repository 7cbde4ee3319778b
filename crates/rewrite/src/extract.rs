//! Finds the references in YAML files (by walking the span-keeping tree of [`crate::yaml`]) and in
//! Helm templates (line by line), and the mentions of the old registry elsewhere in them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::model::{Findings, Insertion, Lines, MentionPlace, Reference, ReferenceKind};
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
    Some(Reference {
        line: lines.line(start),
        kind,
        original: v.to_owned(),
        repository: parts.repository.to_owned(),
        tag: parts.tag.map(str::to_owned),
        digest: parts.digest.map(str::to_owned),
        pinned: None,
        registry_span: start..start + component.len(),
        tag_span,
        checkable: parts.is_literal(),
        insertion: None,
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

/// Scans a YAML file of the given kind.
///
/// `bases` are the repositories of the old registry that other files of the run rewrite: a
/// Kustomize `images:` name naming one of them is rewritten so that it keeps matching; any
/// other name stays (it matches resources outside the run) and gets a `newName:`.
pub(crate) fn scan_yaml(
    text: &str,
    kind: FileKind,
    registry: &Registry,
    bases: &HashSet<String>,
) -> Result<Findings, yaml::YamlError> {
    let docs = yaml::parse(text)?;
    let lines = Lines::new(text);
    let mut scan = YamlScan {
        text,
        lines: &lines,
        registry,
        kind,
        k8s: false,
        anchors: &HashMap::new(),
        bases,
        keys: Vec::new(),
        out: Findings::default(),
    };
    for doc in &docs {
        scan.k8s = doc.root.get("apiVersion").is_some() && doc.root.get("kind").is_some();
        scan.anchors = &doc.anchors;
        let mut path = Vec::new();
        scan.visit(&doc.root, &mut path);
    }
    for doc in &docs {
        scan.mentions(&doc.root);
    }
    let mut out = scan.out;
    out.references.sort_by_key(|r| r.registry_span.start);
    out.mentions.sort_by_key(|m| m.line);
    Ok(out)
}

struct YamlScan<'a> {
    text: &'a str,
    lines: &'a Lines<'a>,
    registry: &'a Registry,
    kind: FileKind,
    k8s: bool,
    anchors: &'a HashMap<String, Scalar>,
    bases: &'a HashSet<String>,
    /// Scalars that name the old registry as a match key only (Kustomize `name:` with a
    /// `newName:`): neither references nor mentions.
    keys: Vec<Range<usize>>,
    out: Findings,
}

impl<'a> YamlScan<'a> {
    fn push(&mut self, reference: Reference) {
        let start = reference.registry_span.start;
        if !self
            .out
            .references
            .iter()
            .any(|r| r.registry_span.start == start)
        {
            self.out.references.push(reference);
        }
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
        if scalar.style == Style::Block && scalar.value.trim().contains('\n') {
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
                self.image_map(node, path);
                for (key, value) in entries {
                    let key = key.as_str().unwrap_or("").to_owned();
                    self.entry(&key, value, path);
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
            _ => {}
        }
        let Some(scalar) = self.scalar(value) else {
            return;
        };
        let kind = match key {
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
            k if self.kind == FileKind::HelmValues
                && k.to_ascii_lowercase().ends_with("registry") =>
            {
                return self.registry_value(scalar, ReferenceKind::HelmRegistry, None);
            }
            _ => return,
        };
        if let Some(reference) = self.string_ref(scalar, kind) {
            self.push(reference);
        }
    }

    /// A value that holds only a registry (`registry: myreg.azurecr.io`).
    fn registry_value(
        &mut self,
        scalar: &Scalar,
        kind: ReferenceKind,
        rest: Option<(String, Option<String>, Option<String>)>,
    ) {
        let value = scalar.value.trim().trim_end_matches('/');
        if !self.registry.matches(value) || scalar.style == Style::Block {
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
            registry_span: start..start + value.len(),
            tag_span: None,
            checkable,
            insertion: None,
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
            self.registry_value(registry, ReferenceKind::HelmImageMap, Some(rest));
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
    /// the resources: it is rewritten when this run rewrites the resources it names (`bases`);
    /// otherwise it stays, and when there is no `newName` one is added under it. The effective
    /// image (`newName` or `name` with `newTag`/`digest`) is the one checked.
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
            let effective = |reference: &mut Reference| {
                if reference.tag.is_none() && reference.digest.is_none() {
                    reference.tag = tag.clone();
                    reference.digest = digest.clone();
                    reference.checkable = reference.checkable
                        && tag.as_deref().map_or(true, is_tag)
                        && (tag.is_some() || digest.is_some());
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
            if self.bases.contains(&reference.repository) {
                // The resources are rewritten too: the name follows them.
                if has_new_name {
                    reference.checkable = false;
                } else {
                    effective(&mut reference);
                }
                found.push(reference);
            } else if has_new_name {
                self.keys.push(name.body.clone());
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
        if !before_key.trim_start_matches([' ', '-']).is_empty() || name.style == Style::Block {
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

    /// Reports every scalar that mentions the old registry and was not taken as a reference.
    fn mentions(&mut self, node: &Node) {
        match node {
            Node::Scalar(s) if self.keys.contains(&s.body) => {}
            Node::Scalar(s) => {
                let place = if s.style == Style::Block {
                    MentionPlace::BlockScalar
                } else {
                    MentionPlace::Value
                };
                self.out
                    .mention(self.text, self.lines, s.body.clone(), self.registry, place);
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
/// references; any other non-comment line naming the registry is a mention.
pub(crate) fn scan_template(text: &str, registry: &Registry) -> Findings {
    let lines = Lines::new(text);
    let mut out = Findings::default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with("{{/*") {
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
                _ => {
                    let end = value.find([' ', '\t', '\r', '\n']).unwrap_or(value.len());
                    (value_start, &value[..end])
                }
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
                out.references.push(r);
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
    out
}

/// Scans a file of no understood kind: every mention of the registry, line by line.
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
    out
}
