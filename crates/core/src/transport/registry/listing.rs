//! Paginated listings (catalog, tags; the referrers API and ACR's listings use the same parts):
//! pages read one after another by their `Link` headers, kept on the registry's origin, bounded in
//! pages and entries so that a registry whose links loop cannot exhaust memory, and read again
//! with the registry's own page size when it refuses the one asked.

use reqwest::header::HeaderMap;

use super::auth::Scope;
use super::origin::same_origin_url;
use super::Inner;
use crate::error::{Error, Result};
use crate::secret::redact_url;

/// The `rel="next"` target of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_link_value)
}

/// Longest run of listing pages before the `Link` headers are taken to loop.
const MAX_LISTING_PAGES: usize = 100_000;

/// Most entries one listing may hold: memory stays bounded whatever a registry's `Link` headers
/// say (2,000,000 names of at most 255 characters: half a gigabyte at worst).
const MAX_LISTING_ENTRIES: usize = 2_000_000;

/// The error of a listing that went on past [`MAX_LISTING_PAGES`] pages, at `url`.
fn too_many_pages(url: &str) -> Error {
    Error::invalid(
        redact_url(url),
        "more than 100,000 pages: the registry's Link headers loop",
    )
}

/// What one listing has read so far: a page asked again (a `Link` header that leads back), more
/// than [`MAX_LISTING_PAGES`] pages or [`MAX_LISTING_ENTRIES`] entries end it with an error,
/// before memory runs out.
#[derive(Default)]
pub(super) struct ListingPages {
    seen: std::collections::HashSet<String>,
    pages: usize,
    entries: usize,
}

impl ListingPages {
    /// Records that the page at `url` is read next; returns its number (the first is 1).
    pub(super) fn visit(&mut self, url: &str) -> Result<usize> {
        self.pages += 1;
        if self.pages > MAX_LISTING_PAGES {
            return Err(too_many_pages(url));
        }
        if !self.seen.insert(url.to_string()) {
            return Err(Error::invalid(
                redact_url(url),
                "the registry's Link header leads back to a page already read: its listing loops (ask its operator; nothing was copied from this listing)",
            ));
        }
        Ok(self.pages)
    }

    /// Reads the listing again from its first page (at another URL).
    pub(super) fn restart(&mut self) {
        self.pages = 0;
    }

    /// Counts `entries` more of the listing whose page is at `url`.
    pub(super) fn add(&mut self, url: &str, entries: usize) -> Result<()> {
        self.entries = self.entries.saturating_add(entries);
        if self.entries > MAX_LISTING_ENTRIES {
            return Err(Error::invalid(
                redact_url(url),
                "more than 2,000,000 entries in one listing: the registry's Link headers loop, or the listing is more than this tool reads",
            ));
        }
        Ok(())
    }
}

/// The URL of a listing's next page: the `Link` target `link` of the page at `current`, resolved
/// against it. A target on another origin is refused, since credentials would follow it.
pub fn next_page_url(current: &str, link: &str) -> Result<String> {
    same_origin_url(current, link, "Link header")
}

/// The `rel="next"` target in one `Link` header value (`<url>; rel="next", ...`).
pub fn parse_link_value(value: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        if let (Some(start), Some(end)) = (part.find('<'), part.find('>')) {
            if start >= end {
                continue;
            }
            let params = &part[end + 1..];
            if params.contains("rel=\"next\"") || params.contains("rel=next") {
                return Some(part[start + 1..end].to_string());
            }
        }
    }
    None
}

/// True for a listing refused for the page size it asked (`400 PAGINATION_NUMBER_INVALID`).
fn is_page_size_refused(e: &Error) -> bool {
    matches!(e, Error::Status { status: 400, code: Some(code), .. } if code == "PAGINATION_NUMBER_INVALID")
}

/// `url` without the query parameter `key` (and without a `?` left empty).
fn without_query_key(url: &str, key: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(key))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

impl Inner {
    /// Lists a paginated resource, following `Link` headers; with `missing_is_empty`, a 404 on the
    /// first page is an empty list.
    pub(super) async fn paginate<T, F>(
        &self,
        scope: Scope,
        first: String,
        missing_is_empty: bool,
        mut extract: F,
    ) -> Result<Vec<String>>
    where
        T: serde::de::DeserializeOwned,
        F: FnMut(T) -> Vec<String>,
    {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut page_size_refused = false;
        let mut listing = ListingPages::default();
        while let Some(url) = next.take() {
            let pages = listing.visit(&url)?;
            let fetched = self
                .fetch_small(scope.clone(), || self.http.get(&url), &url)
                .await;
            // A repository without tags may answer 404 at once; a 404 on a later page is an
            // error, not the end of the list (a cursor the registry no longer knows).
            let (_, headers, body) = match fetched {
                Err(e) if e.is_not_found() && pages == 1 && missing_is_empty => {
                    return Ok(Vec::new())
                }
                // A registry whose pages are smaller than `n` asks (Distribution's
                // `catalog: maxentries`): its own page size, and its `Link` headers, instead.
                Err(e) if pages == 1 && !page_size_refused && is_page_size_refused(&e) => {
                    page_size_refused = true;
                    listing.restart();
                    let own = without_query_key(&url, "n");
                    crate::log::emit(1, || {
                        format!(
                            "GET {}: the registry refuses pages of {} entries; reading its own page size",
                            redact_url(&url),
                            self.page_size
                        )
                    });
                    next = Some(own);
                    continue;
                }
                other => other?,
            };
            let link = next_link(&headers);
            let page: T = serde_json::from_slice(&body).map_err(|e| {
                Error::invalid(
                    format!("GET {}", redact_url(&url)),
                    self.masked(&format!("not a valid listing: {e}")),
                )
            })?;
            let items = extract(page);
            let empty = items.is_empty();
            listing.add(&url, items.len())?;
            out.extend(items);
            if let Some(link) = link {
                if empty {
                    break;
                }
                next = Some(next_page_url(&url, &link)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_listing_is_bounded_in_entries_and_refuses_a_page_read_again() {
        let url = "http://127.0.0.1:5000/v2/_catalog?n=1000";
        let mut pages = ListingPages::default();
        pages.visit(url).unwrap();
        pages.add(url, MAX_LISTING_ENTRIES).unwrap();
        assert!(pages
            .add(url, 1)
            .unwrap_err()
            .to_string()
            .contains("more than 2,000,000 entries"));
        assert!(pages.visit(url).is_err());
        pages
            .visit("http://127.0.0.1:5000/v2/_catalog?n=1000&last=b")
            .unwrap();
    }

    #[test]
    fn a_refused_page_size_is_left_out_of_the_query() {
        assert_eq!(
            without_query_key("http://r/v2/_catalog?n=1000", "n"),
            "http://r/v2/_catalog"
        );
        assert_eq!(
            without_query_key("http://r/v2/a/tags/list?last=x&n=1000", "n"),
            "http://r/v2/a/tags/list?last=x"
        );
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static("</v2/_catalog?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
