//! Deterministic sample content: a registry's worth of realistic repositories written to any
//! [`Destination`], for the README's first run, demos and tests.
//!
//! What it holds: nested names (`team/app/svc-N`, `team/svc-N`, `svcN`); base layers shared across
//! repositories; version tags with `latest` and `stable` aliases; Docker schema 2 and OCI image
//! manifests; OCI indexes and Docker manifest lists over two platforms; Helm chart artifacts
//! (`charts/chartN`); cosign-style `sha256-<hex>.sig` signature tags; and an OCI 1.1 referrer (an
//! SBOM with a `subject`) on the first image.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::json;

use crate::digest::Digest;
use crate::error::Result;
use crate::manifest::{
    RawManifest, Reference, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use crate::transport::Destination;

/// What was written: every tag with its manifest digest, and every blob.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// repository → tag → digest.
    pub tags: BTreeMap<String, BTreeMap<String, Digest>>,
    /// digest → size, for every config and layer.
    pub blobs: BTreeMap<Digest, u64>,
    /// Referrers written (repository, subject, referrer digest).
    pub referrers: Vec<(String, Digest, Digest)>,
}

impl Expected {
    /// Number of tags.
    pub fn tag_count(&self) -> usize {
        self.tags.values().map(|t| t.len()).sum()
    }

    /// Bytes of all distinct blobs.
    pub fn unique_bytes(&self) -> u64 {
        self.blobs.values().sum()
    }
}

struct Writer<'a> {
    target: &'a dyn Destination,
    /// Put in front of every repository name (a registry endpoint's `host/prefix`); the
    /// content, and so every digest, is the same with or without it.
    prefix: Option<&'a str>,
    expected: Expected,
    rng: rand::rngs::StdRng,
}

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

impl Writer<'_> {
    /// The name `repository` is written under.
    fn at(&self, repository: &str) -> String {
        match self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_string(),
        }
    }

    async fn blob(
        &mut self,
        repository: &str,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<serde_json::Value> {
        let digest = Digest::of(&bytes);
        let size = bytes.len() as u64;
        let reference = Reference {
            digest: digest.clone(),
            size,
            media_type: media_type.to_string(),
            foreign: false,
            platform: None,
            artifact_type: None,
        };
        let content: crate::digest::ByteStream =
            Box::pin(futures::stream::once(async move { Ok(Bytes::from(bytes)) }));
        self.target
            .put_blob(&self.at(repository), &reference, content)
            .await?;
        self.expected.blobs.insert(digest.clone(), size);
        Ok(json!({"mediaType": media_type, "digest": digest.to_string(), "size": size}))
    }

    fn random(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.rng.fill_bytes(&mut v);
        v
    }

    async fn manifest(
        &mut self,
        repository: &str,
        tag: Option<&str>,
        body: serde_json::Value,
        media_type: &str,
    ) -> Result<RawManifest> {
        let bytes = Bytes::from(serde_json::to_vec(&body).expect("json"));
        let manifest = RawManifest::new(bytes, Some(media_type))?;
        let name = self.at(repository);
        self.target.put_manifest(&name, tag, &manifest).await?;
        if let Some(tag) = tag {
            self.expected
                .tags
                .entry(name)
                .or_default()
                .insert(tag.to_string(), manifest.digest.clone());
        }
        Ok(manifest)
    }

    /// One single-platform image; returns its manifest.
    async fn image(
        &mut self,
        repository: &str,
        tag: Option<&str>,
        arch: &str,
        base: &[Vec<u8>],
        docker: bool,
        salt: &str,
    ) -> Result<RawManifest> {
        let (layer_type, config_type, manifest_type) = if docker {
            (DOCKER_LAYER, DOCKER_CONFIG, DOCKER_MANIFEST)
        } else {
            (LAYER, OCI_CONFIG, OCI_MANIFEST)
        };
        let mut layers = Vec::new();
        for b in base {
            layers.push(self.blob(repository, b.clone(), layer_type).await?);
        }
        let len = self.rng.gen_range(512..4096);
        let own = self.random(len);
        layers.push(self.blob(repository, own, layer_type).await?);
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| l["digest"].as_str().unwrap_or_default().to_string())
            .collect();
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/app"], "Labels": {"sample": salt}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "acr-relocate sample"}]
        });
        let config = self
            .blob(
                repository,
                serde_json::to_vec(&config).expect("json"),
                config_type,
            )
            .await?;
        let body = json!({"schemaVersion": 2, "mediaType": manifest_type, "config": config, "layers": layers});
        self.manifest(repository, tag, body, manifest_type).await
    }
}

/// Writes the sample into `target`: `repositories` image repositories (plus two chart
/// repositories), deterministic for a given `seed`.
pub async fn write(target: &dyn Destination, repositories: usize, seed: u64) -> Result<Expected> {
    write_under(target, None, repositories, seed).await
}

/// [`write`] with every repository under `prefix` (`mirror` writes `mirror/svc2`): the same
/// content and digests.
pub async fn write_under(
    target: &dyn Destination,
    prefix: Option<&str>,
    repositories: usize,
    seed: u64,
) -> Result<Expected> {
    let mut w = Writer {
        target,
        prefix,
        expected: Expected::default(),
        rng: rand::rngs::StdRng::seed_from_u64(seed),
    };
    // Base layers shared by many repositories, per architecture.
    let mut bases: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for arch in ["amd64", "arm64"] {
        let layers = (0..2).map(|_| w.random(8 * 1024)).collect();
        bases.insert(arch, layers);
    }
    let mut first_image: Option<(String, RawManifest)> = None;
    for i in 0..repositories {
        let repo = match i % 3 {
            0 => format!("team/app/svc-{i}"),
            1 => format!("team/svc-{i}"),
            _ => format!("svc{i}"),
        };
        let versions = ["v1.0.0", "v1.1.0"];
        let multi_arch = i % 4 == 1;
        let docker = i % 2 == 0;
        let mut last = None;
        for (v, version) in versions.iter().enumerate() {
            let salt = format!("{repo}:{version}");
            let manifest = if multi_arch {
                let mut children = Vec::new();
                for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
                    let base = bases[arch].clone();
                    let m = w.image(&repo, None, arch, &base, docker, &salt).await?;
                    let mut platform = json!({"architecture": arch, "os": "linux"});
                    if let Some(variant) = variant {
                        platform["variant"] = json!(variant);
                    }
                    children.push(json!({"mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.bytes.len(), "platform": platform}));
                }
                let index_type = if docker { DOCKER_LIST } else { OCI_INDEX };
                let body =
                    json!({"schemaVersion": 2, "mediaType": index_type, "manifests": children});
                w.manifest(&repo, Some(version), body, index_type).await?
            } else {
                let base = bases["amd64"][..1 + v % 2].to_vec();
                w.image(&repo, Some(version), "amd64", &base, docker, &salt)
                    .await?
            };
            last = Some(manifest);
        }
        let last = last.expect("at least one version");
        // Aliases: the same digest under another tag.
        for alias in ["latest", "stable"].iter().take(1 + i % 2) {
            w.manifest(
                &repo,
                Some(alias),
                serde_json::from_slice(&last.bytes).expect("json"),
                &last.media_type.clone(),
            )
            .await?;
        }
        // A cosign-style signature tag on every third repository.
        if i % 3 == 0 {
            let payload = json!({"critical": {"image": {"docker-manifest-digest": last.digest.to_string()}, "type": "cosign container image signature"}});
            let layer = w
                .blob(
                    &repo,
                    serde_json::to_vec(&payload).expect("json"),
                    "application/vnd.dev.cosign.simplesigning.v1+json",
                )
                .await?;
            let config = w.blob(&repo, b"{}".to_vec(), OCI_CONFIG).await?;
            let body = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]});
            let tag = format!("sha256-{}.sig", last.digest.hex());
            w.manifest(&repo, Some(&tag), body, OCI_MANIFEST).await?;
        }
        if first_image.is_none() && !multi_arch {
            first_image = Some((repo.clone(), last.clone()));
        }
    }
    // An OCI 1.1 referrer: an SBOM attached to the first image by `subject`, untagged.
    if let Some((repo, subject)) = first_image {
        let sbom = json!({"spdxVersion": "SPDX-2.3", "name": repo});
        let layer = w
            .blob(
                &repo,
                serde_json::to_vec(&sbom).expect("json"),
                "application/spdx+json",
            )
            .await?;
        let config = w
            .blob(&repo, b"{}".to_vec(), "application/vnd.oci.empty.v1+json")
            .await?;
        let body = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
            "config": config, "layers": [layer],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest.to_string(), "size": subject.bytes.len()}
        });
        let referrer = w.manifest(&repo, None, body, OCI_MANIFEST).await?;
        let name = w.at(&repo);
        w.expected
            .referrers
            .push((name, subject.digest.clone(), referrer.digest));
    }
    // Helm charts.
    for c in 0..2 {
        let repo = format!("charts/chart{c}");
        for version in ["0.1.0", "0.2.0"] {
            let chart_config =
                json!({"name": format!("chart{c}"), "version": version, "apiVersion": "v2"});
            let config = w
                .blob(
                    &repo,
                    serde_json::to_vec(&chart_config).expect("json"),
                    "application/vnd.cncf.helm.config.v1+json",
                )
                .await?;
            let len = w.rng.gen_range(1024..3072);
            let content = w.random(len);
            let layer = w
                .blob(
                    &repo,
                    content,
                    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                )
                .await?;
            let body = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer],
                "annotations": {"org.opencontainers.image.title": format!("chart{c}"), "org.opencontainers.image.version": version}});
            w.manifest(&repo, Some(version), body, OCI_MANIFEST).await?;
        }
    }
    target.finish().await?;
    Ok(w.expected)
}
