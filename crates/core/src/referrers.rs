//! The referrers tag schema (OCI distribution spec 1.1): on a registry without the referrers API,
//! the referrers of a manifest are listed in an OCI index tagged `sha256-<hex of the manifest>`,
//! its *fallback tag*, which clients (cosign, notation, oras, and this tool) read and extend.
//!
//! A copy meets such a tag twice: the source may hold one (written by oras, cosign or an earlier
//! copy), which the tag walk copies like any tag; and a copy to a registry without the referrers
//! API lists every referrer it pushes in the target's fallback tag. [`merge`] says what the target's
//! tag becomes when the source's index arrives: the source's bytes, unchanged, whenever they list
//! everything the target's tag listed, so digests stay what users expect; else the union, so no
//! referrer the target listed (or that the copy listed meanwhile) is dropped.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, OCI_INDEX};

/// The fallback tag of `subject`: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    subject.as_str().replacen(':', "-", 1)
}

/// True for a tag of the referrers tag schema: `sha256-` and 64 hexadecimal digits.
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The manifest a tag describes by its name: `sha256-<hex>` (its referrers fallback tag) or
/// `sha256-<hex>.<suffix>` (cosign's `.sig`, `.att` and `.sbom` tags of that manifest); `None`
/// for any other tag.
pub fn described_by_tag(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = match rest.split_once('.') {
        Some((hex, "sig" | "att" | "sbom")) => hex,
        Some(_) => return None,
        None => rest,
    };
    format!("sha256:{hex}").parse().ok()
}

/// The digests an OCI index lists; `None` for anything else (or an index that does not parse).
pub fn listed(index: &RawManifest) -> Option<BTreeSet<Digest>> {
    if index.media_type != OCI_INDEX {
        return None;
    }
    let view = index.view().ok()?;
    Some(view.children().iter().map(|c| c.digest.clone()).collect())
}

/// True when `holder` is an OCI index that lists every referrer `other` (an OCI index) lists: a
/// fallback tag holding `holder` leaves no referrer of `other` unfound, whatever its bytes.
pub fn lists_all_of(holder: &RawManifest, other: &RawManifest) -> bool {
    match (listed(holder), listed(other)) {
        (Some(held), Some(wanted)) => wanted.is_subset(&held),
        _ => false,
    }
}

/// What a fallback tag becomes when an index arrives for it.
#[derive(Debug)]
pub enum Merged {
    /// The tag already lists everything the arriving index lists: nothing is written.
    Unchanged,
    /// The arriving index, byte for byte.
    Arriving,
    /// The arriving index with the entries only the tag listed added after its own.
    Union(RawManifest),
}

/// What the fallback tag `tag` (holding `current`, if anything) becomes when the index `arriving`
/// is written to it. Anything that is not an OCI index on either side is replaced as a copy
/// replaces any tag.
pub fn merge(tag: &str, arriving: &RawManifest, current: Option<&RawManifest>) -> Result<Merged> {
    let Some(current) = current else {
        return Ok(Merged::Arriving);
    };
    if current.digest == arriving.digest {
        return Ok(Merged::Unchanged);
    }
    let (Some(wanted), Some(held)) = (listed(arriving), listed(current)) else {
        return Ok(Merged::Arriving);
    };
    if held.is_subset(&wanted) {
        return Ok(Merged::Arriving);
    }
    if wanted.is_subset(&held) {
        return Ok(Merged::Unchanged);
    }
    let what = || format!("referrers fallback tag {tag}");
    let parse = |m: &RawManifest| {
        crate::go_json::document(&m.bytes).map_err(|e| Error::invalid(what(), e.to_string()))
    };
    let mut union = parse(arriving)?;
    let extra: Vec<serde_json::Value> = parse(current)?["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["digest"]
                .as_str()
                .and_then(|d| d.parse::<Digest>().ok())
                .is_some_and(|d| !wanted.contains(&d))
        })
        .cloned()
        .collect();
    let Some(entries) = union["manifests"].as_array_mut() else {
        return Err(Error::invalid(what(), "an index without `manifests`"));
    };
    entries.extend(extra);
    let bytes = serde_json::to_vec(&union).map_err(|e| Error::invalid(what(), e.to_string()))?;
    Ok(Merged::Union(RawManifest::new(
        Bytes::from(bytes),
        Some(OCI_INDEX),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str)]) -> RawManifest {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(content, kind)| {
                let digest = Digest::of(content.as_bytes());
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest.as_str(),
                    "size": content.len(),
                    "artifactType": kind,
                })
            })
            .collect();
        let doc =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        RawManifest::new(Bytes::from(serde_json::to_vec(&doc).unwrap()), None).unwrap()
    }

    #[test]
    fn a_fallback_tag_is_sha256_dash_and_64_hex_digits() {
        let subject = Digest::of(b"subject");
        let tag = fallback_tag(&subject);
        assert!(is_fallback_tag(&tag));
        for other in ["sha256-abc", "latest", &format!("{tag}.sig"), "sha512-00"] {
            assert!(!is_fallback_tag(other), "{other}");
        }
    }

    #[test]
    fn a_tag_describes_a_manifest_by_name_as_a_fallback_tag_or_with_a_suffix() {
        let subject = Digest::of(b"subject");
        let tag = fallback_tag(&subject);
        for named in [
            tag.clone(),
            format!("{tag}.sig"),
            format!("{tag}.att"),
            format!("{tag}.sbom"),
        ] {
            assert_eq!(described_by_tag(&named), Some(subject.clone()), "{named}");
        }
        for other in [
            "v1",
            "sha256-abc.sig",
            &format!("{tag}."),
            &format!("{tag}.bak"),
            &format!("{tag}.sig.old"),
            "sha512-00.sig",
            &format!("x{tag}"),
        ] {
            assert_eq!(described_by_tag(other), None, "{other}");
        }
    }

    #[test]
    fn the_arriving_index_is_kept_byte_for_byte_when_it_lists_everything_the_tag_listed() {
        let arriving = index(&[("sbom", "spdx"), ("sig", "cosign")]);
        assert!(matches!(
            merge("t", &arriving, None).unwrap(),
            Merged::Arriving
        ));
        // The copy's own listing of one referrer, in other bytes: replaced by the source's.
        let partial = index(&[("sig", "cosign")]);
        assert!(matches!(
            merge("t", &arriving, Some(&partial)).unwrap(),
            Merged::Arriving
        ));
        assert!(matches!(
            merge("t", &arriving, Some(&arriving)).unwrap(),
            Merged::Unchanged
        ));
    }

    #[test]
    fn a_tag_that_lists_more_keeps_its_entries() {
        let arriving = index(&[("sbom", "spdx")]);
        let more = index(&[("sig", "cosign"), ("sbom", "spdx")]);
        assert!(matches!(
            merge("t", &arriving, Some(&more)).unwrap(),
            Merged::Unchanged
        ));
        let other = index(&[("notation", "notary")]);
        let Merged::Union(union) = merge("t", &arriving, Some(&other)).unwrap() else {
            panic!("a union");
        };
        let listed: Vec<Digest> = union
            .view()
            .unwrap()
            .children()
            .iter()
            .map(|c| c.digest.clone())
            .collect();
        // The arriving entries first, as they were, then those only the tag had.
        assert_eq!(listed, vec![Digest::of(b"sbom"), Digest::of(b"notation")]);
        assert!(lists_all_of(&union, &arriving) && lists_all_of(&union, &other));
        assert!(!lists_all_of(&arriving, &union));
    }
}
