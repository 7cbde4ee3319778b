//! Walking manifest graphs: a tag's manifest, its children, their blobs. Each manifest is fetched
//! once per repository and digest, shared by every tag that reaches it. Used by inventory and verify.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::{try_join_all, BoxFuture};
use futures::FutureExt;
use tokio::sync::OnceCell;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{ManifestView, RawManifest, Reference, MAX_INDEX_DEPTH};
use crate::transport::Source;

/// A manifest with everything below it.
#[derive(Clone, Debug)]
pub struct Node {
    /// The manifest.
    pub manifest: RawManifest,
    /// What it references.
    pub view: Arc<ManifestView>,
    /// Its child manifests (index entries), walked.
    pub children: Vec<Arc<Node>>,
}

impl Node {
    /// Every distributable blob below this node (configs and layers), by digest.
    pub fn blobs(&self) -> BTreeMap<Digest, Reference> {
        let mut out = BTreeMap::new();
        self.collect_blobs(&mut out);
        out
    }

    fn collect_blobs(&self, out: &mut BTreeMap<Digest, Reference>) {
        for b in self.view.blobs() {
            if !b.foreign {
                out.entry(b.digest.clone()).or_insert_with(|| b.clone());
            }
        }
        for c in &self.children {
            c.collect_blobs(out);
        }
    }

    /// Every manifest digest in this graph, this one included.
    pub fn manifests(&self) -> Vec<Digest> {
        let mut out = vec![self.manifest.digest.clone()];
        for c in &self.children {
            out.extend(c.manifests());
        }
        out
    }
}

type Cell = Arc<OnceCell<Arc<Node>>>;

/// Fetches and walks manifest graphs from one source, memoised by repository and digest.
pub struct Walker {
    source: Arc<dyn Source>,
    nodes: Mutex<BTreeMap<(String, Digest), Cell>>,
}

impl Walker {
    /// A walker over `source`.
    pub fn new(source: Arc<dyn Source>) -> Self {
        Walker {
            source,
            nodes: Mutex::new(BTreeMap::new()),
        }
    }

    /// Walks the graph of a tag.
    pub async fn tag(&self, repository: &str, tag: &str) -> Result<Arc<Node>> {
        let manifest = self.source.manifest(repository, tag).await?;
        self.node(repository, manifest, 0).await
    }

    /// Walks the graph of a manifest by digest.
    pub fn digest<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        depth: usize,
    ) -> BoxFuture<'a, Result<Arc<Node>>> {
        async move {
            let cell = self.cell(repository, digest);
            cell.get_or_try_init(|| async {
                let manifest = self.source.manifest(repository, digest.as_str()).await?;
                self.build(repository, manifest, depth).await
            })
            .await
            .cloned()
        }
        .boxed()
    }

    fn cell(&self, repository: &str, digest: &Digest) -> Cell {
        self.nodes
            .lock()
            .expect("walker lock")
            .entry((repository.to_string(), digest.clone()))
            .or_default()
            .clone()
    }

    async fn node(
        &self,
        repository: &str,
        manifest: RawManifest,
        depth: usize,
    ) -> Result<Arc<Node>> {
        let cell = self.cell(repository, &manifest.digest);
        cell.get_or_try_init(|| self.build(repository, manifest, depth))
            .await
            .cloned()
    }

    async fn build(
        &self,
        repository: &str,
        manifest: RawManifest,
        depth: usize,
    ) -> Result<Arc<Node>> {
        let view = manifest.view()?;
        if !view.children().is_empty() && depth >= MAX_INDEX_DEPTH {
            return Err(Error::invalid(
                format!("index {}", manifest.digest),
                format!("indexes nest deeper than {MAX_INDEX_DEPTH} levels"),
            ));
        }
        let children = try_join_all(
            view.children()
                .iter()
                .map(|c| self.digest(repository, &c.digest, depth + 1)),
        )
        .await?;
        Ok(Arc::new(Node {
            manifest,
            view: Arc::new(view),
            children,
        }))
    }
}
