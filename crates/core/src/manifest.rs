//! Raw manifests and the read-only view of what they reference.
//!
//! Manifests travel as the exact bytes the source served: they are pushed unchanged so their digest
//! never changes. The [`ManifestView`] parsed from them is only used to learn which blobs and child
//! manifests must exist first, and is read as leniently as the registries that store them.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::digest::Digest;
use crate::error::Error;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (signed): recognised only to be refused.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1 (unsigned): recognised only to be refused.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// The OCI artifact manifest of image-spec 1.1's release candidates (withdrawn from the final
/// spec, yet held by ACR and zot for what ORAS and notation pushed then): `blobs` and a
/// `subject`, no config. Copied as it is.
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// The `Accept` header that asks for every manifest type this tool copies.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.artifact.manifest.v1+json, application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, application/vnd.docker.distribution.manifest.v1+json;q=0.5";

/// The largest manifest accepted (registries commonly refuse more than 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// How deep indexes may nest (an index of indexes of ...): deeper is treated as hostile.
pub const MAX_INDEX_DEPTH: usize = 8;

/// A manifest exactly as served, with its media type and digest.
#[derive(Clone, Debug)]
pub struct RawManifest {
    /// The bytes, never re-serialised.
    pub bytes: Bytes,
    /// Its media type.
    pub media_type: String,
    /// The SHA-256 of `bytes`.
    pub digest: Digest,
}

impl RawManifest {
    /// Wraps bytes, hashing them and settling the media type: the document's own `mediaType` when
    /// it names a manifest type (a registry may serve an OCI manifest under a Docker
    /// `Content-Type`, and the target checks the two agree), else the `Content-Type` the server
    /// gave, else guessed from the document's shape.
    pub fn new(bytes: Bytes, content_type: Option<&str>) -> Result<Self, Error> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::invalid(
                "manifest",
                format!(
                    "{} bytes is larger than the {} bytes a manifest may have",
                    bytes.len(),
                    MAX_MANIFEST_BYTES
                ),
            ));
        }
        let digest = Digest::of(&bytes);
        let declared = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| is_manifest_media_type(c));
        let media_type = match (own_media_type(&bytes), declared) {
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) => sniff_media_type(&bytes)?,
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Parses what the manifest references.
    pub fn view(&self) -> Result<ManifestView, Error> {
        ManifestView::parse(&self.media_type, &self.bytes)
    }
}

/// True for the media types of manifests (as opposed to blobs).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST
            | OCI_INDEX
            | DOCKER_MANIFEST
            | DOCKER_LIST
            | OCI_ARTIFACT_MANIFEST
            | DOCKER_SCHEMA1
            | DOCKER_SCHEMA1_SIGNED
    )
}

/// True for an index or a manifest list.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

#[derive(serde::Deserialize)]
struct Shape {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<serde_json::Value>,
}

/// The document's own `mediaType`, when it is one of a manifest.
fn own_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Own {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    crate::go_json::document(bytes)
        .and_then(serde_json::from_value::<Own>)
        .ok()?
        .media_type
        .filter(|m| is_manifest_media_type(m))
}

fn sniff_media_type(bytes: &[u8]) -> Result<String, Error> {
    let shape: Shape = crate::go_json::document(bytes)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::invalid("manifest", format!("not a JSON manifest: {e}")))?;
    if let Some(m) = shape.media_type.filter(|m| is_manifest_media_type(m)) {
        return Ok(m);
    }
    if shape.schema_version == Some(1) || shape.fs_layers.is_some() {
        return Ok(DOCKER_SCHEMA1_SIGNED.into());
    }
    if shape.manifests.is_some() {
        return Ok(OCI_INDEX.into());
    }
    if shape.config.is_some() {
        return Ok(OCI_MANIFEST.into());
    }
    Err(Error::invalid(
        "manifest",
        "no media type, and neither `manifests` nor `config`: not an image manifest or index",
    ))
}

/// A blob or child manifest that a manifest references.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes, as the descriptor announces.
    pub size: u64,
    /// Its media type (empty when the descriptor gives none, which Distribution accepts).
    pub media_type: String,
    /// True for non-distributable content (a descriptor with `urls`): not fetched, not pushed.
    pub foreign: bool,
    /// `os/architecture[/variant]` of an index entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The `artifactType` of an index entry or referrer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The annotation by which buildx marks an index entry as the attestations of another entry.
pub const DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// Its value on a buildx attestation manifest (platform `unknown/unknown`).
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

// The view is read with the hand-written, lenient types below rather than `oci_spec`'s
// `ImageManifest`, `ImageIndex` and `Descriptor`: those refuse what CNCF Distribution stores and
// `skopeo copy` carries byte for byte (a descriptor without `mediaType`, an image manifest without
// `layers`, a key given twice), and the view only has to learn what to copy first. The bytes are
// pushed unchanged, so reading them the way Go's `encoding/json` reads them into Distribution's
// types (absent or `null` fields empty, the last of duplicate keys wins, unknown fields ignored) is
// what keeps the copy as faithful as the registry that accepted them. What the copy cannot do
// without is still required: a descriptor's `digest` and `size`, an image manifest's `config`.

/// A descriptor, as far as the copy reads one.
#[derive(serde::Deserialize)]
struct LenientDescriptor {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    digest: String,
    size: u64,
    urls: Option<Vec<String>>,
    platform: Option<LenientPlatform>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    annotations: Option<serde_json::Value>,
}

/// An index entry's platform; `os` and `architecture` may be absent too.
#[derive(serde::Deserialize)]
struct LenientPlatform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    /// Windows images of one architecture differ by it (`10.0.17763.5458`, `10.0.20348.2227`).
    #[serde(rename = "os.version")]
    os_version: Option<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(serde::Deserialize)]
struct LenientManifest {
    config: LenientDescriptor,
    layers: Option<Vec<LenientDescriptor>>,
    /// Present only in an index: refused here (see [`ambiguous`]).
    manifests: Option<serde::de::IgnoredAny>,
    subject: Option<LenientDescriptor>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// An image index or Docker manifest list.
#[derive(serde::Deserialize)]
struct LenientIndex {
    manifests: Option<Vec<LenientDescriptor>>,
    /// Present only in an image manifest: refused here (see [`ambiguous`]).
    config: Option<serde::de::IgnoredAny>,
    /// Present only in an image manifest: refused here (see [`ambiguous`]).
    layers: Option<serde::de::IgnoredAny>,
    subject: Option<LenientDescriptor>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// The OCI 1.1-rc artifact manifest.
#[derive(serde::Deserialize)]
struct LenientArtifactManifest {
    blobs: Option<Vec<LenientDescriptor>>,
    subject: Option<LenientDescriptor>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// The refusal of a document that reads as both an image manifest and an index (the ambiguity of
/// CVE-2021-41190, which Distribution refuses since 2.8): read as the type it is labelled, the
/// copy would leave behind what the other reading references, and a verify would pass.
fn ambiguous(what: &str, has: &str) -> Error {
    Error::invalid(
        what,
        format!("ambiguous: labelled so, it also has {has} (CVE-2021-41190): not copied; push it again with its own `mediaType`"),
    )
}

/// Reads a manifest document into `T` as Go's `encoding/json` would: through a JSON value read by
/// [`crate::go_json`], whose objects name their fields as Go matches them (case folded, the last
/// key of a field winning), so `T`'s derived reader never sees a duplicate or misses a field.
/// `what` names the document in errors, `noun` what it is not (`not a valid manifest: …`).
fn lenient<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    noun: &str,
) -> Result<T, Error> {
    crate::go_json::document(bytes)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::invalid(what, format!("not a valid {noun}: {e}")))
}

impl LenientDescriptor {
    fn reference(self, what: &str) -> Result<Reference, Error> {
        let digest = descriptor_digest(&self.digest, what)?;
        let platform = self.platform.map(|p| {
            let mut s = format!(
                "{}/{}",
                p.os.as_deref().unwrap_or("unknown"),
                p.architecture.as_deref().unwrap_or("unknown")
            );
            if let Some(v) = p.variant.filter(|v| !v.is_empty()) {
                s.push('/');
                s.push_str(&v);
            }
            if let Some(v) = p.os_version.filter(|v| !v.is_empty()) {
                s.push(' ');
                s.push_str(&v);
            }
            s
        });
        Ok(Reference {
            digest,
            size: self.size,
            media_type: self.media_type.unwrap_or_default(),
            foreign: self.urls.is_some_and(|u| !u.is_empty()),
            // Shown only (inventory's platforms, artifact types): any JSON string may come here.
            platform: platform.map(|p| crate::log::printable(&p).into_owned()),
            artifact_type: self
                .artifact_type
                .map(|a| crate::log::printable(&a).into_owned()),
        })
    }

    /// Its annotations with string values (the only ones Go reads into `map[string]string`).
    fn annotations(&self) -> BTreeMap<String, String> {
        match &self.annotations {
            Some(serde_json::Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}

/// A descriptor's digest: a sha256 one, or else refused, as unsupported when it is a well-formed
/// digest of another registered algorithm (sha512 content is skipped with that reason, as schema 1
/// is), as invalid otherwise.
fn descriptor_digest(text: &str, what: &str) -> Result<Digest, Error> {
    text.parse()
        .map_err(|e: Error| match crate::digest::other_algorithm(text) {
            Some(algorithm) => Error::Unsupported {
                what: format!("{what} referencing `{}`", crate::digest::truncate(text)),
                reason: format!("the {algorithm} digest algorithm is not supported, only sha256"),
            },
            None => Error::invalid(what, format!("a descriptor has an unusable digest: {e}")),
        })
}

fn references(list: Option<Vec<LenientDescriptor>>, what: &str) -> Result<Vec<Reference>, Error> {
    list.unwrap_or_default()
        .into_iter()
        .map(|d| d.reference(what))
        .collect()
}

fn subject(d: Option<LenientDescriptor>, what: &str) -> Result<Option<Reference>, Error> {
    d.map(|d| d.reference(what)).transpose()
}

/// What a manifest references.
#[derive(Clone, Debug)]
pub enum ManifestView {
    /// An image or artifact manifest.
    Image {
        /// The config blob (none in an [`OCI_ARTIFACT_MANIFEST`]).
        config: Option<Reference>,
        /// The layers, in order.
        layers: Vec<Reference>,
        /// The manifest this one refers to (signatures, SBOMs, attestations).
        subject: Option<Reference>,
        /// The declared artifact type.
        artifact_type: Option<String>,
    },
    /// An image index or manifest list.
    Index {
        /// The child manifests.
        manifests: Vec<Reference>,
        /// The children's annotations, in the order of `manifests` (empty maps for those
        /// without).
        annotations: Vec<BTreeMap<String, String>>,
        /// The manifest this one refers to.
        subject: Option<Reference>,
        /// The declared artifact type.
        artifact_type: Option<String>,
    },
}

impl ManifestView {
    /// Parses manifest bytes of the given media type, leniently (as Go's `encoding/json` reads
    /// them into CNCF Distribution's types).
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Self, Error> {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let what = "image manifest";
                let m: LenientManifest = lenient(bytes, what, "manifest")?;
                if m.manifests.is_some() {
                    return Err(ambiguous(what, "`manifests`, which only an index has"));
                }
                Ok(ManifestView::Image {
                    config: Some(m.config.reference(what)?),
                    layers: references(m.layers, what)?,
                    subject: subject(m.subject, what)?,
                    artifact_type: m.artifact_type,
                })
            }
            OCI_INDEX | DOCKER_LIST => {
                let what = "image index";
                let i: LenientIndex = lenient(bytes, what, "index")?;
                if i.config.is_some() || i.layers.is_some() {
                    return Err(ambiguous(
                        what,
                        "`config` or `layers`, which only an image manifest has",
                    ));
                }
                let entries = i.manifests.unwrap_or_default();
                let annotations = entries.iter().map(|d| d.annotations()).collect();
                Ok(ManifestView::Index {
                    manifests: references(Some(entries), what)?,
                    annotations,
                    subject: subject(i.subject, what)?,
                    artifact_type: i.artifact_type,
                })
            }
            OCI_ARTIFACT_MANIFEST => {
                let what = "artifact manifest";
                let m: LenientArtifactManifest = lenient(bytes, what, what)?;
                Ok(ManifestView::Image {
                    config: None,
                    layers: references(m.blobs, what)?,
                    subject: subject(m.subject, what)?,
                    artifact_type: m.artifact_type,
                })
            }
            DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(Error::Schema1 {
                media_type: media_type.to_string(),
            }),
            other => Err(Error::Unsupported {
                what: format!("manifest media type `{}`", crate::digest::truncate(other)),
                reason: "not an OCI or Docker schema 2 manifest".into(),
            }),
        }
    }

    /// The entries of an index that buildx made to hold the attestations of another entry
    /// (annotation `vnd.docker.reference.type: attestation-manifest`, platform
    /// `unknown/unknown`): not platforms the index serves.
    pub fn attestation_children(&self) -> Vec<&Reference> {
        match self {
            ManifestView::Index {
                manifests,
                annotations,
                ..
            } => manifests
                .iter()
                .zip(annotations)
                .filter(|(_, a)| {
                    a.get(DOCKER_REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
                })
                .map(|(m, _)| m)
                .collect(),
            ManifestView::Image { .. } => Vec::new(),
        }
    }

    /// The blobs (config and layers) of an image manifest; empty for an index.
    pub fn blobs(&self) -> Vec<&Reference> {
        match self {
            ManifestView::Image { config, layers, .. } => {
                config.iter().chain(layers.iter()).collect()
            }
            ManifestView::Index { .. } => Vec::new(),
        }
    }

    /// The child manifests of an index; empty for an image.
    pub fn children(&self) -> &[Reference] {
        match self {
            ManifestView::Index { manifests, .. } => manifests,
            ManifestView::Image { .. } => &[],
        }
    }

    /// The subject, for referrers.
    pub fn subject(&self) -> Option<&Reference> {
        match self {
            ManifestView::Image { subject, .. } | ManifestView::Index { subject, .. } => {
                subject.as_ref()
            }
        }
    }
}

/// What a tagged manifest is, for inventories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A container image.
    Image,
    /// A multi-platform index or manifest list.
    MultiArchIndex,
    /// The referrers of a manifest listed under its `sha256-<hex>` tag, for registries without
    /// the referrers API (the OCI 1.1 fallback).
    ReferrersIndex,
    /// A Helm chart.
    HelmChart,
    /// A signature (cosign, notation).
    Signature,
    /// An attestation (in-toto, DSSE).
    Attestation,
    /// A software bill of materials.
    Sbom,
    /// Any other OCI artifact.
    Artifact,
    /// A Docker schema 1 manifest: listed, never copied (see [`Error::Schema1`]).
    Schema1,
}

impl ArtifactKind {
    /// Classifies a manifest from its view and the tag it was found under.
    pub fn classify(view: &ManifestView, tag: Option<&str>) -> Self {
        let tag = tag.unwrap_or("");
        let (artifact_type, config_type, first_layer) = match view {
            ManifestView::Index {
                artifact_type,
                manifests,
                ..
            } => {
                if artifact_type.is_none() && manifests.iter().any(|m| m.platform.is_some()) {
                    return ArtifactKind::MultiArchIndex;
                }
                if artifact_type.is_none() && crate::referrers::is_fallback_tag(tag) {
                    return ArtifactKind::ReferrersIndex;
                }
                (artifact_type.clone(), String::new(), String::new())
            }
            ManifestView::Image {
                artifact_type,
                config,
                layers,
                ..
            } => (
                artifact_type.clone(),
                config
                    .as_ref()
                    .map(|c| c.media_type.clone())
                    .unwrap_or_default(),
                layers
                    .first()
                    .map(|l| l.media_type.clone())
                    .unwrap_or_default(),
            ),
        };
        let all = format!(
            "{} {} {}",
            artifact_type.as_deref().unwrap_or(""),
            config_type,
            first_layer
        );
        if all.contains("helm") {
            ArtifactKind::HelmChart
        } else if tag.ends_with(".sig") || all.contains("signature") || all.contains("notary") {
            ArtifactKind::Signature
        } else if tag.ends_with(".sbom")
            || all.contains("spdx")
            || all.contains("cyclonedx")
            || all.contains("sbom")
        {
            ArtifactKind::Sbom
        } else if tag.ends_with(".att") || all.contains("in-toto") || all.contains("dsse") {
            ArtifactKind::Attestation
        } else if matches!(view, ManifestView::Index { .. }) {
            if artifact_type.is_some() {
                ArtifactKind::Artifact
            } else {
                ArtifactKind::MultiArchIndex
            }
        } else if artifact_type.is_none()
            && (config_type.contains("container.image") || config_type.contains("image.config"))
        {
            ArtifactKind::Image
        } else {
            ArtifactKind::Artifact
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
      "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5},
                {"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7","size":5,"urls":["https://example.com/l"]}]}"#;

    #[test]
    fn the_documents_own_media_type_wins_over_the_content_type() {
        let m = RawManifest::new(Bytes::from_static(IMAGE.as_bytes()), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.digest, Digest::of(IMAGE.as_bytes()));
        // A registry serving an OCI manifest under a Docker type: pushed as what it says it is.
        let m =
            RawManifest::new(Bytes::from_static(IMAGE.as_bytes()), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        // Without a `mediaType` of its own, the Content-Type decides.
        let bare = IMAGE.replace(
            r#""mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            "",
        );
        let m = RawManifest::new(Bytes::from(bare), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
    }

    #[test]
    fn an_oci_artifact_manifest_lists_its_blobs_and_subject() {
        let doc = r#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json",
          "artifactType":"application/vnd.cncf.notary.signature",
          "blobs":[{"mediaType":"application/jose+json","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5}],
          "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#;
        let m = RawManifest::new(Bytes::from_static(doc.as_bytes()), None).unwrap();
        assert_eq!(m.media_type, OCI_ARTIFACT_MANIFEST);
        let v = m.view().unwrap();
        assert_eq!(v.blobs().len(), 1);
        assert_eq!(v.subject().unwrap().size, 2);
        assert_eq!(ArtifactKind::classify(&v, None), ArtifactKind::Signature);
    }

    #[test]
    fn the_referrers_fallback_index_is_its_own_kind() {
        let doc = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
          "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5,"artifactType":"application/spdx+json"}]}"#;
        let v = ManifestView::parse(OCI_INDEX, doc.as_bytes()).unwrap();
        let fallback = format!("sha256-{}", "a".repeat(64));
        assert_eq!(
            ArtifactKind::classify(&v, Some(&fallback)),
            ArtifactKind::ReferrersIndex
        );
        // Under another tag the same index is not taken for one.
        assert_ne!(
            ArtifactKind::classify(&v, Some(&format!("{fallback}.sig"))),
            ArtifactKind::ReferrersIndex
        );
        assert_ne!(
            ArtifactKind::classify(&v, Some("v1")),
            ArtifactKind::ReferrersIndex
        );
    }

    #[test]
    fn a_generic_content_type_falls_back_to_the_document() {
        let m = RawManifest::new(
            Bytes::from_static(IMAGE.as_bytes()),
            Some("application/json"),
        )
        .unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
    }

    #[test]
    fn an_image_lists_config_and_layers_and_marks_foreign_layers() {
        let v = ManifestView::parse(OCI_MANIFEST, IMAGE.as_bytes()).unwrap();
        let blobs = v.blobs();
        assert_eq!(blobs.len(), 3);
        assert!(!blobs[1].foreign);
        assert!(blobs[2].foreign);
        assert_eq!(ArtifactKind::classify(&v, Some("v1")), ArtifactKind::Image);
    }

    #[test]
    fn schema1_is_refused_with_a_reason() {
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let m = RawManifest::new(Bytes::from_static(s1), None).unwrap();
        let e = m.view().unwrap_err().to_string();
        assert!(e.contains("schema 1"), "{e}");
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        for bad in [&b"not json"[..], b"{}", b"[]", b"{\"config\":3}"] {
            let r = RawManifest::new(Bytes::copy_from_slice(bad), None).and_then(|m| m.view());
            assert!(r.is_err());
        }
    }

    const LAYER_DIGEST: &str =
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    /// What Distribution stores and skopeo copies byte for byte is read, not refused: Go's
    /// `encoding/json` keeps the last of duplicate keys, leaves absent fields empty and ignores
    /// unknown ones.
    #[test]
    fn manifests_are_read_as_leniently_as_distribution_stores_them() {
        let config = r#""config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
        let layer = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{LAYER_DIGEST}","size":5}}"#
        );
        let other = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7","size":7}"#;
        let image = |rest: &str| {
            let doc =
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{config}{rest}}}"#);
            let m = RawManifest::new(Bytes::from(doc.clone()), Some(OCI_MANIFEST)).unwrap();
            assert_eq!(m.digest, Digest::of(doc.as_bytes()), "the bytes are kept");
            m.view().unwrap_or_else(|e| panic!("{rest}: {e}"))
        };
        // A key given twice: the last one counts.
        let v = image(&format!(
            r#","layers":[{layer}],"annotations":{{"a":"1"}},"annotations":{{"b":"2"}}"#
        ));
        assert_eq!(v.blobs().len(), 2);
        let v = image(&format!(
            r#","layers":[{layer}],"layers":[{other},{layer}]"#
        ));
        assert_eq!(v.blobs()[1].size, 7);
        assert_eq!(v.blobs().len(), 3);
        // A layer without `mediaType`.
        let v = image(&format!(
            r#","layers":[{{"digest":"{LAYER_DIGEST}","size":5}}]"#
        ));
        assert_eq!(v.blobs()[1].digest.as_str(), LAYER_DIGEST);
        assert_eq!(v.blobs()[1].media_type, "");
        // No `layers`, or `null` ones.
        for rest in ["", r#","layers":null"#, r#","layers":[]"#] {
            assert_eq!(image(rest).blobs().len(), 1, "{rest}");
        }
        // Fields the view does not read, whatever their shape.
        image(&format!(
            r#","layers":[{layer}],"vendor":{{"x":[1,2]}},"annotations":{{"n":3}}"#
        ));

        // An index entry without `mediaType` (or platform fields).
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{LAYER_DIGEST}","size":5,"platform":{{"architecture":"arm64"}}}}],"manifests":[{{"digest":"{LAYER_DIGEST}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let v = RawManifest::new(Bytes::from(index), None)
            .unwrap()
            .view()
            .unwrap();
        assert_eq!(v.children().len(), 1);
        assert_eq!(v.children()[0].platform.as_deref(), Some("linux/amd64"));
        // Windows images of one architecture, told apart by their OS version.
        let windows = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{LAYER_DIGEST}","size":5,"platform":{{"os":"windows","architecture":"amd64","os.version":"10.0.17763.5458"}}}}]}}"#
        );
        let v = RawManifest::new(Bytes::from(windows), None)
            .unwrap()
            .view()
            .unwrap();
        assert_eq!(
            v.children()[0].platform.as_deref(),
            Some("windows/amd64 10.0.17763.5458")
        );
        // An index without `manifests` lists no children.
        let empty = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#);
        let v = ManifestView::parse(OCI_INDEX, empty.as_bytes()).unwrap();
        assert!(v.children().is_empty());
    }

    /// What the copy cannot do without is still required: a descriptor's digest and size, an
    /// image manifest's config.
    #[test]
    fn what_the_copy_needs_is_still_required() {
        for (doc, missing) in [
            (r#"{"schemaVersion":2,"layers":[]}"#.to_string(), "config"),
            (
                format!(r#"{{"schemaVersion":2,"config":{{"digest":"{LAYER_DIGEST}"}}}}"#),
                "size",
            ),
            (
                r#"{"schemaVersion":2,"config":{"size":5}}"#.to_string(),
                "digest",
            ),
        ] {
            let e = ManifestView::parse(OCI_MANIFEST, doc.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(missing), "{doc}: {e}");
        }
    }

    /// A document that reads as both kinds is refused whichever it is labelled (an image
    /// manifest labelled an index would otherwise be read as an empty index, and its config and
    /// layers left behind with a verify that passes).
    #[test]
    fn a_document_that_is_both_a_manifest_and_an_index_is_refused_as_ambiguous() {
        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{LAYER_DIGEST}","size":5}},"layers":[{{"digest":"{LAYER_DIGEST}","size":5}}]}}"#
        );
        let e = ManifestView::parse(OCI_INDEX, image.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ambiguous") && e.contains("CVE-2021-41190"),
            "{e}"
        );
        let both = image.replacen('{', r#"{"manifests":[],"#, 1);
        let e = ManifestView::parse(OCI_MANIFEST, both.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ambiguous"), "{e}");
        // Through a layout entry that labels it an index, as the reviewer's layout did.
        let raw = RawManifest::new(Bytes::from(image), Some(OCI_INDEX)).unwrap();
        assert!(raw.view().is_err());
    }

    /// A sha512 descriptor is refused on one line naming the algorithm, as unsupported content
    /// (a copy skips it with that reason, as it does schema 1), not as a malformed manifest.
    #[test]
    fn a_sha512_descriptor_is_refused_by_name() {
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        let doc = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{LAYER_DIGEST}","size":5}},"layers":[{{"digest":"{sha512}","size":3}}]}}"#
        );
        let e = ManifestView::parse(OCI_MANIFEST, doc.as_bytes()).unwrap_err();
        assert!(e.is_unsupported(), "{e:?}");
        let line = e.to_string();
        assert!(
            line.contains("sha512 digest algorithm is not supported, only sha256")
                && !line.contains('\n'),
            "{line}"
        );
        // A digest that is no digest at all (or of no registered algorithm) stays invalid: its
        // tag fails.
        for bad in ["sha256:nothex", "md5:00", "sha512:00"] {
            let doc = doc.replace(&sha512, bad);
            let e = ManifestView::parse(OCI_MANIFEST, doc.as_bytes()).unwrap_err();
            assert!(!e.is_unsupported(), "{bad}: {e:?}");
        }
    }

    #[test]
    fn buildx_attestation_manifests_are_told_apart_from_platforms() {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{LAYER_DIGEST}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7","size":5,
                "platform":{{"os":"unknown","architecture":"unknown"}},
                "annotations":{{"vnd.docker.reference.digest":"{LAYER_DIGEST}","vnd.docker.reference.type":"attestation-manifest"}}}}]}}"#
        );
        let v = ManifestView::parse(OCI_INDEX, doc.as_bytes()).unwrap();
        let attestations = v.attestation_children();
        assert_eq!(attestations.len(), 1);
        assert_eq!(attestations[0].platform.as_deref(), Some("unknown/unknown"));
        assert_eq!(v.children().len(), 2, "still copied as children");
    }

    #[test]
    fn oversized_manifests_are_refused() {
        let big = Bytes::from(vec![b' '; MAX_MANIFEST_BYTES + 1]);
        assert!(RawManifest::new(big, Some(OCI_MANIFEST)).is_err());
    }
}
