//! Finds and rewrites image references in deployment files, editing spans only.
