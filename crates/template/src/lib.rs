//! Rewrites an exported ARM template of an Azure Container Registry for its new home.
//!
//! Pure: text in, text and findings out. No network.
