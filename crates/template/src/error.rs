//! Errors for input the rewriter cannot use (the CLI exits with code 2 on any of them).

/// Why a template could not be rewritten. Every message says where, what and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text is not JSON (comments and trailing commas are accepted).
    #[error(
        "{source_name} is not JSON ({detail}); give the template.json of an export or the .zip"
    )]
    NotJson {
        /// File or label of the input.
        source_name: String,
        /// Parser message with line and column.
        detail: String,
    },
    /// JSON, but not an ARM deployment template.
    #[error("{source_name} is JSON but not an ARM template ({detail}); give a file with \"$schema\" and \"resources\", an exportTemplate response or the portal's .zip")]
    NotTemplate {
        /// File or label of the input.
        source_name: String,
        /// What is missing.
        detail: String,
    },
    /// A parameters file that is not a deployment parameters file.
    #[error("{source_name} is not a deployment parameters file ({detail}); give the parameters.json of the export")]
    BadParameters {
        /// File or label of the parameters.
        source_name: String,
        /// What is wrong.
        detail: String,
    },
    /// No `Microsoft.ContainerRegistry/registries` resource anywhere.
    #[error("{source_name} defines no Microsoft.ContainerRegistry/registries resource{detail}; give the template that creates the registry")]
    NoRegistry {
        /// File or label of the input.
        source_name: String,
        /// Extra context, if any.
        detail: String,
    },
    /// More than one registry and no choice made.
    #[error("{source_name} defines {count} registries ({names}); choose one with --only NAME")]
    SeveralRegistries {
        /// File or label of the input.
        source_name: String,
        /// How many.
        count: usize,
        /// Their names as written.
        names: String,
    },
    /// `--only` matched nothing.
    #[error("{source_name} has no registry named {wanted} (registries: {names}); fix --only")]
    OnlyNotFound {
        /// File or label of the input.
        source_name: String,
        /// The `--only` value.
        wanted: String,
        /// The names found.
        names: String,
    },
    /// A zip archive without `template.json`.
    #[error("{source_name}: {detail}; give the portal's \"Export template\" .zip, which holds template.json")]
    BadZip {
        /// File name of the archive.
        source_name: String,
        /// What is wrong.
        detail: String,
    },
    /// The options are unusable (for example an empty target region).
    #[error("invalid option {option}: {detail}")]
    BadOption {
        /// The option.
        option: &'static str,
        /// What is wrong and what is expected.
        detail: String,
    },
}
