//! `WWW-Authenticate` headers and `Link` headers from any server.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = acr_relocate::transport::registry::Challenge::parse(text);
        if let Ok(value) = reqwest_free_header(text) {
            let _ = value;
        }
    }
});

/// The Link parser takes a header map; exercise it through the public helper when the text is a
/// valid header value.
fn reqwest_free_header(text: &str) -> Result<(), ()> {
    acr_relocate::transport::registry::parse_link_value(text);
    Ok(())
}
