//! Errors of the Azure operations. Each one is a single line that names what failed and, for ARM,
//! ARM's own error code and message. No token or secret is ever part of one: what ARM writes is
//! masked (`arm::masked`) before it becomes an error, since a service may echo the request's
//! `Authorization` header.

/// What went wrong talking to Azure.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// A resource ID that does not parse or is not of the expected type.
    #[error("{input:?} is not a valid {expected} resource ID: {reason} (expected {shape})")]
    BadResourceId {
        /// What was given.
        input: String,
        /// The kind of resource expected (`container registry`, `AKS cluster`).
        expected: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The shape expected.
        shape: &'static str,
    },
    /// Signing in to Azure AD failed.
    #[error("Azure sign-in with {credential} failed: {message}")]
    SignIn {
        /// The credential tried (`environment service principal`, `Azure CLI`, ...).
        credential: String,
        /// Why, as azure_identity says it (no secret in it).
        message: String,
    },
    /// ARM answered an error envelope (`{"error":{"code","message"}}`).
    #[error("ARM {operation}: {code}: {message} (HTTP {status})")]
    Arm {
        /// What was asked (`GET registry myreg`, `deployment validate`...).
        operation: String,
        /// HTTP status.
        status: u16,
        /// ARM's error code (`AuthorizationFailed`, `InvalidTemplate`, ...).
        code: String,
        /// ARM's message.
        message: String,
    },
    /// A long-running operation ended in `Failed` or `Canceled`.
    #[error("{operation} ended {status}: {code}: {message}")]
    OperationFailed {
        /// The operation.
        operation: String,
        /// `Failed` or `Canceled`.
        status: String,
        /// Error code of the operation (or of its failing sub-operation).
        code: String,
        /// Its message.
        message: String,
    },
    /// The connection to ARM failed (after retries).
    #[error("ARM {operation}: {message}")]
    Connection {
        /// The operation.
        operation: String,
        /// What failed.
        message: String,
    },
    /// ARM answered something this client does not understand.
    #[error("ARM {operation}: unexpected answer: {message}")]
    Protocol {
        /// The operation.
        operation: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// A bad argument or input file.
    #[error("{0}")]
    Invalid(String),
    /// The registry data plane failed (listing tags, verifying).
    #[error(transparent)]
    Registry(#[from] acr_relocate::error::Error),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, AzureError>;
