//! Concurrency limits that change while a run goes on.
//!
//! - [`Limit`]: a semaphore whose size can be set at any time (it grows at once and shrinks as
//!   permits come back).
//! - [`LatencyLimit`]: a [`Limit`] sized from the round trips of the requests it is told about,
//!   one latency record per path (the source's host, the target's host). While the round trips of
//!   every path stay close to the fastest seen on it, requests are not queueing anywhere: the run
//!   is bound by the round trip itself (a distant registry), and more transfers at once go faster,
//!   so the limit grows. When the round trips stretch, a host is busy (two local registries on a
//!   small machine), and the limit goes back towards its floor. This is TCP Vegas's idea applied
//!   to requests in flight: the delay, not a failure, is the signal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most transfers (or requests) at once a run takes: far above what any registry serves one
/// client, and small enough for every limit built from it (four requests per job).
pub const MOST_AT_ONCE: usize = 4096;

/// A semaphore whose number of permits can be changed while permits are held.
#[derive(Debug)]
pub struct Limit {
    permits: Arc<Semaphore>,
    size: Mutex<usize>,
}

impl Limit {
    /// A limit of `size` permits (at least one).
    pub fn new(size: usize) -> Self {
        // Bounded as the semaphore must be (a size beyond it would be no limit anyway).
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Limit {
            permits: Arc::new(Semaphore::new(size)),
            size: Mutex::new(size),
        }
    }

    /// Waits for a permit; hold it for the length of the work it stands for.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("limit semaphore is never closed")
    }

    /// The current size.
    pub fn size(&self) -> usize {
        *self.size.lock().expect("limit lock")
    }

    /// Permits free right now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Sets the size to `change(current)` (at least one) and returns it. Growing adds permits at
    /// once; shrinking takes the difference out of circulation as held permits come back.
    pub fn update(&self, change: impl FnOnce(usize) -> usize) -> usize {
        let mut size = self.size.lock().expect("limit lock");
        let current = *size;
        let target = change(current).clamp(1, Semaphore::MAX_PERMITS / 2);
        *size = target;
        if target > current {
            self.permits.add_permits(target - current);
        } else if target < current {
            let permits = self.permits.clone();
            let remove = (current - target) as u32;
            tokio::spawn(async move {
                if let Ok(p) = permits.acquire_many_owned(remove).await {
                    p.forget();
                }
            });
        }
        target
    }
}

/// The range a changing limit moves in: at least one, the ceiling never below the floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The least permits.
    pub floor: usize,
    /// The most permits.
    pub ceiling: usize,
}

impl Bounds {
    /// `floor..=ceiling`, made sane (a floor of at least one, a ceiling of at least the floor).
    pub fn new(floor: usize, ceiling: usize) -> Self {
        let floor = floor.max(1);
        Bounds {
            floor,
            ceiling: ceiling.max(floor),
        }
    }

    /// `size` brought within the bounds.
    pub fn clamp(&self, size: usize) -> usize {
        size.clamp(self.floor, self.ceiling)
    }
}

/// How far a run's work at once may grow by default over slow links: this many times `--jobs`.
pub const DEFAULT_GROWTH: usize = 4;

/// The most work at once for a run that starts at `jobs`: `max_jobs` when given, else
/// [`DEFAULT_GROWTH`] × `jobs`.
pub fn ceiling(jobs: usize, max_jobs: Option<usize>) -> usize {
    max_jobs.unwrap_or(jobs.max(1) * DEFAULT_GROWTH)
}

/// Growth while round trips stay within this factor of the fastest seen: up to 25 % longer is
/// noise of the way (a busy host answers several times slower).
const GROW_BELOW: f64 = 1.25;
/// Round trips this many times the fastest seen mean requests wait in a queue: shrink.
const SHRINK_ABOVE: f64 = 2.0;
/// A path votes in a round only with this many samples in it.
const MIN_PATH_SAMPLES: usize = 4;
/// A round lasts at least this many samples (else the limit's size).
const MIN_ROUND: usize = 8;

/// The round-trip record of one path (one host).
#[derive(Debug, Default)]
struct PathRecord {
    fastest: Option<Duration>,
    round: Vec<Duration>,
}

impl PathRecord {
    /// This round's median round trip over the fastest ever seen, when the round has enough
    /// samples to tell.
    fn stretch(&mut self) -> Option<f64> {
        if self.round.len() < MIN_PATH_SAMPLES {
            return None;
        }
        let fastest = self.fastest?.as_secs_f64().max(1e-6);
        self.round.sort_unstable();
        let median = self.round[self.round.len() / 2].as_secs_f64();
        Some(median / fastest)
    }
}

/// A concurrency limit between a floor and a ceiling that follows the round trips of its paths
/// (see the module's documentation).
#[derive(Debug)]
pub struct LatencyLimit {
    limit: Limit,
    bounds: Bounds,
    paths: Mutex<(Vec<PathRecord>, usize)>,
    peak: AtomicUsize,
    unit: &'static str,
}

impl LatencyLimit {
    /// Starts at `floor` permits, never below it nor above `ceiling`, with `paths` latency
    /// records (numbered from 0).
    pub fn new(floor: usize, ceiling: usize, paths: usize) -> Self {
        let bounds = Bounds::new(floor, ceiling);
        LatencyLimit {
            limit: Limit::new(bounds.floor),
            bounds,
            paths: Mutex::new(((0..paths).map(|_| PathRecord::default()).collect(), 0)),
            peak: AtomicUsize::new(bounds.floor),
            unit: "transfers",
        }
    }

    /// Names what is counted in the `-vv` log line of each change (default: "transfers").
    pub fn counting(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The most permits it may grow to.
    pub fn ceiling(&self) -> usize {
        self.bounds.ceiling
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        self.limit.acquire().await
    }

    /// The current size.
    pub fn size(&self) -> usize {
        self.limit.size()
    }

    /// The largest size reached so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Runs `request` and records its round trip on `path` (see [`record`](Self::record));
    /// failures are left out, their time says nothing of the way (a refused connection answers at
    /// once).
    pub async fn timed<T, E>(
        &self,
        path: usize,
        request: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = std::time::Instant::now();
        let outcome = request.await;
        if outcome.is_ok() {
            self.record(path, started.elapsed());
        }
        outcome
    }

    /// Records the round trip of a request on `path` (the time to its answer's headers, bodies
    /// left out). Every round of samples, the most stretched path decides: grow by a quarter,
    /// shrink by one, or hold.
    pub fn record(&self, path: usize, round_trip: Duration) {
        if self.bounds.floor == self.bounds.ceiling {
            return;
        }
        let mut guard = self.paths.lock().expect("latency lock");
        let (paths, samples) = &mut *guard;
        let Some(record) = paths.get_mut(path) else {
            return;
        };
        record.fastest = Some(record.fastest.map_or(round_trip, |f| f.min(round_trip)));
        record.round.push(round_trip);
        *samples += 1;
        if *samples < self.limit.size().max(MIN_ROUND) {
            return;
        }
        *samples = 0;
        let worst = paths
            .iter_mut()
            .filter_map(PathRecord::stretch)
            .fold(None, |worst: Option<f64>, s| {
                Some(worst.map_or(s, |w| w.max(s)))
            });
        for record in paths.iter_mut() {
            record.round.clear();
        }
        drop(guard);
        let Some(worst) = worst else { return };
        let bounds = self.bounds;
        let step: fn(usize) -> usize = if worst < GROW_BELOW {
            |size| size + size.div_ceil(4)
        } else if worst > SHRINK_ABOVE {
            |size| size.saturating_sub(1)
        } else {
            return;
        };
        let mut before = 0;
        let size = self.limit.update(|size| {
            before = size;
            bounds.clamp(step(size))
        });
        if size != before {
            self.peak.fetch_max(size, Ordering::Relaxed);
            let unit = self.unit;
            crate::log::emit(2, || {
                format!("{unit} at once: {size} (round trips {worst:.2} × the fastest)")
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `rounds` rounds of samples; `latency(size)` is the round trip at the current size.
    fn feed(limit: &LatencyLimit, rounds: usize, latency: impl Fn(usize) -> Duration) {
        for _ in 0..rounds {
            let size = limit.size().max(MIN_ROUND);
            for i in 0..size {
                limit.record(i % 2, latency(limit.size()));
            }
        }
    }

    #[tokio::test]
    async fn a_distant_host_that_answers_in_constant_time_gets_more_transfers_up_to_the_ceiling() {
        let limit = LatencyLimit::new(8, 32, 2);
        feed(&limit, 20, |_| ms(20));
        assert_eq!(limit.size(), 32);
        assert_eq!(limit.peak(), 32);
        assert_eq!(limit.limit.permits.available_permits(), 32);
    }

    #[tokio::test]
    async fn round_trips_that_stretch_with_load_stop_the_growth() {
        // 20 ms of way, plus 1 ms of queueing per transfer beyond 12.
        let limit = LatencyLimit::new(8, 64, 2);
        feed(&limit, 30, |size| ms(20 + size.saturating_sub(12) as u64));
        let size = limit.size();
        assert!((12..=20).contains(&size), "settled at {size}");
    }

    #[tokio::test]
    async fn a_busy_host_keeps_the_floor() {
        // A local registry: 0.2 ms alone, several ms once busy.
        let limit = LatencyLimit::new(8, 32, 2);
        limit.record(0, Duration::from_micros(200));
        limit.record(1, Duration::from_micros(200));
        feed(&limit, 10, |size| ms(size as u64 / 2));
        assert_eq!(limit.size(), 8);
        assert_eq!(limit.peak(), 8);
    }

    #[tokio::test]
    async fn the_slowest_path_decides() {
        // The source is far and steady, the target near and busy: no growth.
        let limit = LatencyLimit::new(4, 16, 2);
        limit.record(1, Duration::from_micros(100));
        for _ in 0..10 {
            for _ in 0..8 {
                limit.record(0, ms(30));
                limit.record(1, ms(3));
            }
        }
        assert_eq!(limit.size(), 4);
    }

    #[tokio::test]
    async fn a_fixed_limit_never_moves() {
        let limit = LatencyLimit::new(8, 8, 2);
        feed(&limit, 10, |_| ms(20));
        assert_eq!(limit.size(), 8);
    }

    #[tokio::test]
    async fn shrinking_takes_permits_out_as_they_come_back() {
        let limit = Limit::new(4);
        let held: Vec<_> = futures::future::join_all((0..4).map(|_| limit.acquire())).await;
        assert_eq!(limit.update(|_| 2), 2);
        drop(held);
        tokio::time::sleep(ms(20)).await;
        assert_eq!(limit.permits.available_permits(), 2);
        assert_eq!(limit.update(|s| s + 3), 5);
        assert_eq!(limit.permits.available_permits(), 5);
    }
}
