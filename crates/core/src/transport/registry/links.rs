//! Manifest PUTs of one run that must not be in flight together in one repository.
//!
//! Distribution writes a manifest's revision link on every PUT of that manifest (by digest or
//! under a tag), and its filesystem storage writes a link by truncating the file, then writing
//! it. A PUT of an index checks that every manifest it lists is there by reading those links: one
//! read in that window finds an empty link and the index is answered `400 DIGEST_INVALID`. A run
//! meets this whenever a manifest is both listed by an index and pushed under a tag of its own: a
//! referrer with a tag beside the fallback index (`sha256-<hex>`) that lists it, a platform image
//! with a tag beside its multi-platform index.
//!
//! [`ManifestPuts::hold`] keeps them apart: a PUT holds its own manifest's digest alone, a PUT of
//! an index holds the digests it lists together with other indexes. Digests are taken in one
//! order, so two PUTs never wait for each other in a cycle. Entries go once nobody holds them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::digest::Digest;

type Key = (String, Digest);

/// The manifests of each repository that a PUT in flight writes or reads (see the module).
#[derive(Default)]
pub(super) struct ManifestPuts {
    locks: Mutex<HashMap<Key, Arc<RwLock<()>>>>,
}

/// What a PUT holds until it is dropped.
enum Guard {
    /// The manifest it writes.
    Writes(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
    /// A manifest it lists.
    Lists(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
}

/// The digests one PUT holds; released (and forgotten once unused) when dropped.
pub(super) struct Held<'a> {
    puts: &'a ManifestPuts,
    keys: Vec<Key>,
    guards: Vec<Guard>,
}

impl ManifestPuts {
    /// Waits until a PUT of `manifest` into `repository`, listing `children` (an index's entries;
    /// none for an image), may go, and holds what it writes and reads until the result is dropped.
    pub(super) async fn hold<'a>(
        &'a self,
        repository: &str,
        manifest: &Digest,
        children: impl IntoIterator<Item = &'a Digest>,
    ) -> Held<'a> {
        let mut wanted: BTreeMap<&Digest, bool> =
            children.into_iter().map(|d| (d, false)).collect();
        wanted.insert(manifest, true);
        let mut held = Held {
            puts: self,
            keys: Vec::with_capacity(wanted.len()),
            guards: Vec::with_capacity(wanted.len()),
        };
        for (digest, writes) in wanted {
            let key = (repository.to_string(), digest.clone());
            let lock = self
                .locks
                .lock()
                .expect("manifest puts lock")
                .entry(key.clone())
                .or_default()
                .clone();
            // Recorded before the wait: a PUT dropped while waiting still forgets its entries.
            held.keys.push(key);
            held.guards.push(if writes {
                Guard::Writes(lock.write_owned().await)
            } else {
                Guard::Lists(lock.read_owned().await)
            });
        }
        held
    }

    /// Entries in use (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().expect("manifest puts lock").len()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.guards.clear();
        let mut locks = self.puts.locks.lock().expect("manifest puts lock");
        for key in &self.keys {
            if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
                locks.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_index_waits_for_the_put_of_a_manifest_it_lists_and_not_for_other_indexes() {
        let puts = Arc::new(ManifestPuts::default());
        let (sbom, index, other) = (Digest::of(b"sbom"), Digest::of(b"i"), Digest::of(b"o"));
        let tagged = puts.hold("app", &sbom, []).await;
        // Two indexes listing the SBOM may go together...
        let first = puts.hold("app", &index, [&sbom]);
        let waiting = tokio::time::timeout(Duration::from_millis(50), first).await;
        assert!(waiting.is_err(), "an index went while the SBOM was written");
        drop(tagged);
        let first = puts.hold("app", &index, [&sbom]).await;
        let second = puts.hold("app", &other, [&sbom]).await;
        // ...and keep the SBOM's next PUT waiting; another repository is not concerned.
        let again = tokio::time::timeout(Duration::from_millis(50), puts.hold("app", &sbom, []));
        assert!(again.await.is_err());
        drop(puts.hold("elsewhere", &sbom, []).await);
        drop((first, second));
        drop(puts.hold("app", &sbom, []).await);
        assert_eq!(puts.len(), 0, "entries are forgotten once unused");
    }
}
