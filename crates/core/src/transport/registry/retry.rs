//! How requests are retried: the [`RetryPolicy`] and its jittered backoff, the answers worth
//! asking again ([`is_transient_status`]), the wait a `Retry-After` asks for (seconds or an HTTP
//! date), the throttles one request waits out without spending an attempt, and the pause of an
//! [`Inner`] before each retry, never past the moment the registry would be given up.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::Inner;
use crate::secret::redact_url;

/// How requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (a 429 whose `Retry-After` was waited out does not
    /// count, up to 30 of them and 10 minutes of their waits per request).
    pub attempts: u32,
    /// First backoff.
    pub base_delay: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (1-based retries), with jitter, or the server's
    /// `Retry-After` when it gave one.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(r) = retry_after {
            return r.min(self.max_delay);
        }
        let exp = self.base_delay.saturating_mul(1 << attempt.min(16));
        let capped = exp.min(self.max_delay);
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        capped.mul_f64(jitter)
    }
}

/// 429 answers with a `Retry-After` that one request may wait out without spending an attempt
/// of its [`RetryPolicy`] on them: a throttle that outlasts the attempts does not fail requests
/// that waited as they were asked to.
const HONOURED_THROTTLES: u32 = 30;

/// The longest one request waits in all on `Retry-After`s that spend no attempt: past it, its
/// 429s count as attempts again, and a host that throttles for ever still ends the request.
const HONOURED_THROTTLE_TIME: Duration = Duration::from_secs(10 * 60);

/// The throttles (429 with a `Retry-After`) one request waited out without spending an attempt
/// on them, within a number and a time in all: for a registry request (the default), 30 of
/// them and 10 minutes; ARM's calls take bounds of their own ([`HonouredThrottles::within`]).
#[derive(Debug)]
pub struct HonouredThrottles {
    /// How many.
    count: u32,
    /// How long they made the request wait, in all.
    waited: Duration,
    /// The most that spend no attempt.
    most: u32,
    /// The longest they may make the request wait in all.
    most_time: Duration,
}

impl Default for HonouredThrottles {
    fn default() -> Self {
        HonouredThrottles::within(HONOURED_THROTTLES, HONOURED_THROTTLE_TIME)
    }
}

impl HonouredThrottles {
    /// None waited out yet, of at most `most` throttles and `most_time` of waiting in all.
    pub fn within(most: u32, most_time: Duration) -> Self {
        HonouredThrottles {
            count: 0,
            waited: Duration::ZERO,
            most,
            most_time,
        }
    }

    /// True when a 429 whose `Retry-After` makes the retry wait `wait` spends no attempt (and
    /// counts it as honoured): a wait it asked for, as long as the bounds allow. A 429 without
    /// `Retry-After` (or with 0) spends one, as any failure does.
    pub fn spare(&mut self, wait: Option<Duration>) -> bool {
        let Some(wait) = wait.filter(|w| !w.is_zero()) else {
            return false;
        };
        if self.count >= self.most || self.waited + wait > self.most_time {
            return false;
        }
        self.count += 1;
        self.waited += wait;
        true
    }
}

/// What a retried answer was, for the `-v` line of its retry: `HTTP 503`; a 429 whose
/// `Retry-After` was waited out without spending an attempt (`spared`) says so.
pub(super) fn retried_status(status: StatusCode, spared: bool) -> String {
    match spared {
        true => format!(
            "HTTP {}, waiting as its Retry-After asks (not counted as an attempt)",
            status.as_u16()
        ),
        false => format!("HTTP {}", status.as_u16()),
    }
}

/// True for the answers worth asking again: 429 (throttled) and 5xx.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date (then the time until it).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the one form
/// RFC 9110 asks senders to use. Written here rather than taken from a crate: it is one fixed
/// format, read in one place.
fn http_date(text: &str) -> Option<u64> {
    let rest = text.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

impl Inner {
    /// The host answered 429: fewer requests at once, and with `Retry-After`, none before the
    /// time it names (at most the retry policy's longest wait), said at `-v`.
    pub(super) fn throttled(&self, method: &Method, url: &str, headers: &HeaderMap) {
        self.throttle.throttled();
        if let Some(asked) = retry_after(headers) {
            let wait = asked.min(self.retry.max_delay);
            self.throttle.hold_off(wait);
            crate::log::emit(1, || {
                let capped = match wait < asked {
                    true => format!(
                        "; waiting {:.1} s, this tool's longest wait",
                        wait.as_secs_f64()
                    ),
                    false => String::new(),
                };
                format!(
                    "{method} {}: HTTP 429, the registry asks for {:.1} s without requests (Retry-After){capped}",
                    redact_url(url),
                    asked.as_secs_f64()
                )
            });
        }
    }

    /// How long to wait before retry `attempt` (or as `retry_after` asks), never past the moment
    /// the registry would be given up (`--unreachable-after`): a run stops when the window
    /// closes, not at the end of a backoff that began before.
    pub(super) fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        self.health.capped(self.retry.delay(attempt, retry_after))
    }

    /// Waits before retry `attempt` of `method url`, which ended in `failure` (`HTTP 503`), as
    /// long as `retry_after` asks or the backoff says ([`Self::retry_delay`]), said at `-v`.
    pub(super) async fn pause_before_retry(
        &self,
        method: &Method,
        url: &str,
        failure: &str,
        attempt: u32,
        retry_after: Option<Duration>,
    ) {
        let delay = self.retry_delay(attempt, retry_after);
        crate::log::emit(1, || {
            format!(
                "{method} {}: {failure}, retrying in {:.1} s (attempt {attempt})",
                redact_url(url),
                delay.as_secs_f64()
            )
        });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_throttle_waited_out_spends_no_attempt_within_its_bounds() {
        let mut honoured = HonouredThrottles::default();
        // No wait asked (or none at all): an attempt like any failure.
        assert!(!honoured.spare(None));
        assert!(!honoured.spare(Some(Duration::ZERO)));
        for _ in 0..HONOURED_THROTTLES {
            assert!(honoured.spare(Some(Duration::from_secs(1))));
        }
        assert!(
            !honoured.spare(Some(Duration::from_secs(1))),
            "at most {HONOURED_THROTTLES}"
        );
        // Long waits end sooner: their time in all is bounded too.
        let mut honoured = HonouredThrottles::default();
        let long = Duration::from_secs(25);
        let spared = std::iter::repeat_with(|| honoured.spare(Some(long)))
            .take_while(|spared| *spared)
            .count() as u64;
        assert_eq!(spared, HONOURED_THROTTLE_TIME.as_secs() / 25);
        assert!(spared < u64::from(HONOURED_THROTTLES));
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        h.insert(
            "retry-after",
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        assert!(!is_transient_status(StatusCode::NOT_IMPLEMENTED));
        assert!(is_transient_status(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, None) < Duration::from_secs(1));
        assert!(p.delay(30, None) <= p.max_delay.mul_f64(1.25));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(999))), p.max_delay);
    }
}
