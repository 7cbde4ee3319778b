//! A store seen through a fixed list of repositories: the catalog it lists is that list, everything
//! else goes to the store underneath. `apply` copies and verifies a batch of repositories (or a
//! shard's share) this way without listing the whole catalog for each batch.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::transport::{Forward, Store};

/// `inner` with its catalog replaced by `repositories` (full names in `inner`).
pub struct Scoped {
    inner: Arc<dyn Store>,
    repositories: Vec<String>,
}

impl Scoped {
    /// Wraps `inner`.
    pub fn store(inner: Arc<dyn Store>, repositories: Vec<String>) -> Arc<dyn Store> {
        Arc::new(Scoped {
            inner,
            repositories,
        })
    }
}

#[async_trait]
impl Forward for Scoped {
    fn inner(&self) -> &dyn Store {
        self.inner.as_ref()
    }
    async fn repositories(&self) -> Result<Vec<String>> {
        Ok(self.repositories.clone())
    }
}
