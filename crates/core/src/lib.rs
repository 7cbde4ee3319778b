//! acr-relocate core.
