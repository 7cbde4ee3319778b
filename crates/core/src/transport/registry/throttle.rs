//! Per-host concurrency that backs off while the host throttles: every request holds a permit; a
//! 429 halves the number of permits (down to a floor), and each run of successes gives one back
//! (up to the ceiling). Additive increase, multiplicative decrease, as TCP does with its window.
//! A 429's `Retry-After` holds every request to the host until the time it names (an upload
//! whose body cannot be sent again, retried by the copy engine from the start, waits too).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use crate::limit::{Bounds, Limit};

/// Successes needed to grow the limit by one permit.
const GROWTH_STREAK: usize = 16;

/// How far apart requests held by a `Retry-After` go out once it ends: in turn, not all in the
/// same instant (a throttling host would answer most of them 429 again, and each would spend a
/// retry on it).
const STAGGER: Duration = Duration::from_millis(20);

/// Turns after which the stagger starts over: the last request held waits at most
/// `STAGGER_TURNS × STAGGER` after the hold.
const STAGGER_TURNS: u32 = 64;

/// The concurrency limiter of one host.
#[derive(Debug)]
pub struct Throttle {
    limit: Limit,
    bounds: Bounds,
    streak: AtomicUsize,
    /// No request goes out before this moment (a 429's `Retry-After`), and how many requests
    /// were given a turn after it ([`Self::wait_turn`]).
    not_before: Mutex<Option<(Instant, u32)>>,
}

impl Throttle {
    /// A limiter starting (and capped) at `ceiling` requests at once, never below `floor`.
    pub fn new(floor: usize, ceiling: usize) -> Self {
        let bounds = Bounds::new(floor, ceiling);
        Throttle {
            limit: Limit::new(bounds.ceiling),
            bounds,
            streak: AtomicUsize::new(0),
            not_before: Mutex::new(None),
        }
    }

    /// The host asked (`Retry-After`) that no request come for `wait`.
    pub fn hold_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut not_before = self.not_before.lock().expect("throttle lock");
        if not_before.is_none_or(|(t, _)| t < until) {
            *not_before = Some((until, 0));
        }
    }

    /// Waits until the host takes requests again (see [`Self::hold_off`]): the requests held go
    /// out one [`STAGGER`] apart after the hold, and one whose turn comes after a new hold (the
    /// first ones were answered 429 again) waits for that one too.
    pub async fn wait_turn(&self) {
        loop {
            let turn = {
                let mut not_before = self.not_before.lock().expect("throttle lock");
                match not_before.as_mut() {
                    Some((until, given)) if *until > Instant::now() => {
                        let turn = *until + STAGGER * (*given % STAGGER_TURNS);
                        *given += 1;
                        turn
                    }
                    _ => return,
                }
            };
            tokio::time::sleep_until(turn.into()).await;
            // A hold set while this one slept (its end still ahead) is waited for as well.
            let renewed = self
                .not_before
                .lock()
                .expect("throttle lock")
                .is_some_and(|(until, _)| until > Instant::now());
            if !renewed {
                return;
            }
        }
    }

    /// Waits for a permit; hold it for the length of the request.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        self.limit.acquire().await
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit.size()
    }

    /// The host answered 429: halve the limit.
    pub fn throttled(&self) {
        self.streak.store(0, Ordering::Relaxed);
        let bounds = self.bounds;
        self.limit.update(|size| bounds.clamp(size / 2));
    }

    /// A request succeeded: after a streak, grow the limit by one.
    pub fn succeeded(&self) {
        if self.limit.size() >= self.bounds.ceiling {
            return;
        }
        if self.streak.fetch_add(1, Ordering::Relaxed) + 1 >= GROWTH_STREAK {
            self.streak.store(0, Ordering::Relaxed);
            let bounds = self.bounds;
            self.limit.update(|size| bounds.clamp(size + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttling_halves_and_successes_grow_back() {
        let t = Throttle::new(2, 64);
        assert_eq!(t.limit(), 64);
        t.throttled();
        assert_eq!(t.limit(), 32);
        for _ in 0..10 {
            t.throttled();
        }
        assert_eq!(t.limit(), 2, "never below the floor");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(t.limit.available(), 2, "permits follow the limit");
        for _ in 0..GROWTH_STREAK * 3 {
            t.succeeded();
        }
        assert_eq!(t.limit(), 5);
        assert_eq!(t.limit.available(), 5);
    }

    #[tokio::test]
    async fn a_retry_after_holds_every_request_to_the_host_until_it_ends() {
        let t = Throttle::new(1, 8);
        let started = Instant::now();
        t.wait_turn().await;
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "nothing to wait for"
        );
        t.hold_off(Duration::from_millis(200));
        t.hold_off(Duration::from_millis(10));
        t.wait_turn().await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "a shorter hold does not cut a longer one"
        );
    }

    /// Requests held by a `Retry-After` go out in turn once it ends, not all in one instant; one
    /// whose turn comes after a new hold waits for that one.
    #[tokio::test]
    async fn requests_held_go_out_in_turn_and_wait_for_a_new_hold() {
        let t = std::sync::Arc::new(Throttle::new(1, 8));
        let started = Instant::now();
        t.hold_off(Duration::from_millis(100));
        let waits: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move {
                    t.wait_turn().await;
                    started.elapsed()
                })
            })
            .collect();
        let mut out = Vec::new();
        for w in waits {
            out.push(w.await.unwrap());
        }
        out.sort();
        // The k-th goes out no sooner than k turns after the hold's end (a timer never fires
        // early; how late each wakes is the machine's, so only lower bounds are asserted).
        for (k, waited) in out.iter().enumerate() {
            let turn = Duration::from_millis(100) + STAGGER * k as u32;
            assert!(*waited >= turn, "staggered: {out:?}");
        }

        // A turn that comes after a renewed hold waits for its end.
        t.hold_off(Duration::from_millis(50));
        let renewing = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            renewing.hold_off(Duration::from_millis(150));
        });
        let again = Instant::now();
        t.wait_turn().await;
        assert!(
            again.elapsed() >= Duration::from_millis(190),
            "{:?}",
            again.elapsed()
        );
    }

    #[tokio::test]
    async fn requests_wait_for_a_permit() {
        let t = Throttle::new(1, 1);
        let held = t.acquire().await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), t.acquire()).await;
        assert!(
            waiting.is_err(),
            "a second request waits while the only permit is held"
        );
        drop(held);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), t.acquire())
            .await
            .expect("free again");
    }
}
