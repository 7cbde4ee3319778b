//! Endpoints, repository names, tags and digests: any text parses or is refused, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = acr_relocate::endpoint::parse(text);
        let _ = acr_relocate::endpoint::validate_repository(text);
        let _ = acr_relocate::endpoint::validate_tag(text);
        let _ = text.parse::<acr_relocate::digest::Digest>();
    }
});
