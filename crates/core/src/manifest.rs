//! Raw manifests and the read-only view of what they reference.
//!
//! Manifests travel as the exact bytes the source served: they are pushed unchanged so their digest
//! never changes. The [`ManifestView`] parsed from them (with `oci-spec` types) is only used to learn
//! which blobs and child manifests must exist first.

use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
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
    serde_json::from_slice::<Own>(bytes)
        .ok()?
        .media_type
        .filter(|m| is_manifest_media_type(m))
}

fn sniff_media_type(bytes: &[u8]) -> Result<String, Error> {
    let shape: Shape = serde_json::from_slice(bytes)
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
    /// Its media type.
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

impl Reference {
    fn from_descriptor(d: &Descriptor, what: &str) -> Result<Self, Error> {
        let digest: Digest = d.digest().to_string().parse().map_err(|e: Error| {
            Error::invalid(what, format!("a descriptor has an unusable digest: {e}"))
        })?;
        let platform = d.platform().as_ref().map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        });
        Ok(Reference {
            digest,
            size: d.size(),
            media_type: d.media_type().to_string(),
            foreign: d.urls().as_ref().is_some_and(|u| !u.is_empty()),
            platform,
            artifact_type: d.artifact_type().as_ref().map(|a| a.to_string()),
        })
    }
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
        /// The manifest this one refers to.
        subject: Option<Reference>,
        /// The declared artifact type.
        artifact_type: Option<String>,
    },
}

impl ManifestView {
    /// Parses manifest bytes of the given media type.
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Self, Error> {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
                    Error::invalid("image manifest", format!("not a valid manifest: {e}"))
                })?;
                let what = "image manifest";
                Ok(ManifestView::Image {
                    config: Some(Reference::from_descriptor(m.config(), what)?),
                    layers: m
                        .layers()
                        .iter()
                        .map(|d| Reference::from_descriptor(d, what))
                        .collect::<Result<_, _>>()?,
                    subject: m
                        .subject()
                        .as_ref()
                        .map(|d| Reference::from_descriptor(d, what))
                        .transpose()?,
                    artifact_type: m.artifact_type().as_ref().map(|a| a.to_string()),
                })
            }
            OCI_INDEX | DOCKER_LIST => {
                let i: ImageIndex = serde_json::from_slice(bytes).map_err(|e| {
                    Error::invalid("image index", format!("not a valid index: {e}"))
                })?;
                let what = "image index";
                Ok(ManifestView::Index {
                    manifests: i
                        .manifests()
                        .iter()
                        .map(|d| Reference::from_descriptor(d, what))
                        .collect::<Result<_, _>>()?,
                    subject: i
                        .subject()
                        .as_ref()
                        .map(|d| Reference::from_descriptor(d, what))
                        .transpose()?,
                    artifact_type: i.artifact_type().as_ref().map(|a| a.to_string()),
                })
            }
            OCI_ARTIFACT_MANIFEST => {
                #[derive(serde::Deserialize)]
                struct ArtifactManifest {
                    #[serde(rename = "artifactType")]
                    artifact_type: Option<String>,
                    #[serde(default)]
                    blobs: Vec<Descriptor>,
                    subject: Option<Descriptor>,
                }
                let what = "artifact manifest";
                let m: ArtifactManifest = serde_json::from_slice(bytes).map_err(|e| {
                    Error::invalid(what, format!("not a valid artifact manifest: {e}"))
                })?;
                Ok(ManifestView::Image {
                    config: None,
                    layers: m
                        .blobs
                        .iter()
                        .map(|d| Reference::from_descriptor(d, what))
                        .collect::<Result<_, _>>()?,
                    subject: m
                        .subject
                        .as_ref()
                        .map(|d| Reference::from_descriptor(d, what))
                        .transpose()?,
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

    #[test]
    fn oversized_manifests_are_refused() {
        let big = Bytes::from(vec![b' '; MAX_MANIFEST_BYTES + 1]);
        assert!(RawManifest::new(big, Some(OCI_MANIFEST)).is_err());
    }
}
