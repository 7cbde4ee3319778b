//! ARM templates (JSON with comments) of any shape: rewritten or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let input = acr_template::TemplateInput::new("fuzz.json", text);
        let options = acr_template::RewriteOptions {
            name: "newregistry1".into(),
            location: "westeurope".into(),
            ..Default::default()
        };
        let _ = acr_template::rewrite_template(&input, &options);
    }
});
