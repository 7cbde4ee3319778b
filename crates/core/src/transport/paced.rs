//! A store whose requests wait for a permit of a [`LatencyLimit`] and report their round trips
//! to it: the requests `inventory` and `verify` make at once start at a floor and grow while the
//! registry answers as fast as it did alone (a distant registry), as a copy's blob transfers do.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Forward, Store};
use crate::error::Result;
use crate::limit::LatencyLimit;

/// `inner`, with each request that has a small answer (listings, manifests, existence checks)
/// holding a permit of `limit` while it runs and recording its round trip on `path`. Blob
/// transfers and pushes go straight through: this paces reading runs, not copies.
pub struct Paced {
    inner: Arc<dyn Store>,
    limit: Arc<LatencyLimit>,
    path: usize,
}

impl Paced {
    /// `inner` paced by `limit`, its round trips recorded as `path` of the limit.
    pub fn new(inner: Arc<dyn Store>, limit: Arc<LatencyLimit>, path: usize) -> Self {
        Paced { inner, limit, path }
    }
}

impl Forward for Paced {
    fn inner(&self) -> &dyn Store {
        self.inner.as_ref()
    }

    fn request<'a, T: Send + 'a>(
        &'a self,
        request: BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let _permit = self.limit.acquire().await;
            self.limit.timed(self.path, request).await
        })
    }
}

/// A source and a target paced together by one limit: requests at once start at four per job
/// and grow towards four per `max_jobs` (absent: [`crate::limit::DEFAULT_GROWTH`] × `jobs`) while
/// both answer steadily. The limit tells how far it may go ([`LatencyLimit::ceiling`]) and went
/// ([`LatencyLimit::peak`]).
pub fn pair(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    jobs: usize,
    max_jobs: Option<usize>,
) -> (Arc<dyn Store>, Arc<dyn Store>, Arc<LatencyLimit>) {
    let limit = limit_for(jobs, max_jobs, 2);
    (
        Arc::new(Paced::new(source, limit.clone(), 0)),
        Arc::new(Paced::new(target, limit.clone(), 1)),
        limit,
    )
}

/// One store paced alone (see [`pair`]).
pub fn single(
    store: Arc<dyn Store>,
    jobs: usize,
    max_jobs: Option<usize>,
) -> (Arc<dyn Store>, Arc<LatencyLimit>) {
    let limit = limit_for(jobs, max_jobs, 1);
    (Arc::new(Paced::new(store, limit.clone(), 0)), limit)
}

/// Requests made at once per job.
const REQUESTS_PER_JOB: usize = 4;

fn limit_for(jobs: usize, max_jobs: Option<usize>, paths: usize) -> Arc<LatencyLimit> {
    let jobs = jobs.max(1);
    let ceiling = crate::limit::ceiling(jobs, max_jobs);
    Arc::new(
        LatencyLimit::new(jobs * REQUESTS_PER_JOB, ceiling * REQUESTS_PER_JOB, paths)
            .counting("requests"),
    )
}
