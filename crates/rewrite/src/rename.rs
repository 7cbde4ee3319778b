//! Repositories renamed on the way to the new registry (`copy --map FROM=TO`): a reference
//! `OLD/web:1` becomes `NEW/frontend/web:1` when `web` was copied to `frontend/web`.
//!
//! The rewrite learns the names through a [`Renamer`] plugged into the
//! [`Rewriter`](crate::Rewriter) ([`Rewriter::with_renamer`](crate::Rewriter::with_renamer)).
//! Without one every repository keeps its name, as it always did. The repository text is
//! edited where the reference writes it (after the registry, or in the `repository:` of a Helm
//! image map); a reference that names a renamed repository somewhere the rewrite cannot edit
//! safely is listed with a note instead ([`renaming`] says why).

use std::ops::Range;

use crate::model::Reference;

/// Tells the rewrite the name each repository has in the new registry.
///
/// Names are relative: a repository as the old registry names it (below no prefix), and its
/// new name below the new registry's repository prefix, if any (`--to HOST/PREFIX`; the
/// rewrite adds the prefix itself, see [`Registry::in_target`](crate::Registry::in_target)).
pub trait Renamer {
    /// The new name of `repository` (as the old registry names it); the name itself when it
    /// is not renamed.
    fn renamed(&self, repository: &str) -> String;

    /// The inverse of [`Renamer::renamed`]: the repository of the old registry whose new name
    /// is `renamed`, or `None` when no repository becomes it (a name the renames took
    /// elsewhere). A name that no rename touches is its own.
    fn original(&self, renamed: &str) -> Option<String>;
}

/// How the repository text of a reference changes under the renames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Renaming {
    /// Not renamed: the repository keeps its name (also: no renamer).
    Unchanged,
    /// The bytes at the span are replaced by the text.
    Span(Range<usize>, String),
    /// The reference is an insertion (a Kustomize `newName:` added): its text after the login
    /// server is this one instead.
    After(String),
}

/// True for a repository given as a plain name (`team/app`), not through a template or a
/// variable (`{{ .Values.name }}`, `$APP`): only such a name can be renamed.
pub(crate) fn is_plain_name(repository: &str) -> bool {
    !repository.is_empty()
        && repository.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        })
}

/// How `reference` (found in `text`) is renamed by `renamer`, or why it cannot be rewritten
/// safely: the note of the mention it becomes, after what it holds (`{what}, ...`).
///
/// - A reference that holds the registry alone (a Helm `registry:` or `global.imageRegistry`
///   value, a Dockerfile `ARG` default used as `FROM $REG/...`, an `oci://` address of the
///   registry alone) is named with images whose repositories are written elsewhere, which the
///   renames may concern: it is not rewritten. Registry settings of pipelines and service
///   connections name where a pipeline logs in to and are not concerned.
/// - A repository written through a template or a variable may be renamed or not: it is not
///   rewritten.
/// - A renamed repository whose text is not written literally where the reference is (an
///   escaped string), or a chart whose own name would change (Helm takes it from `name:`), is
///   not rewritten.
pub(crate) fn renaming(
    text: &str,
    reference: &Reference,
    renamer: Option<&dyn Renamer>,
) -> Result<Renaming, String> {
    let Some(renamer) = renamer else {
        return Ok(Renaming::Unchanged);
    };
    if reference.kind.is_setting() || reference.short_name {
        return Ok(Renaming::Unchanged);
    }
    let repository = reference.repository.as_str();
    if repository.is_empty() {
        return Err("holds the old registry alone, and the images named with it may have been renamed by --map (their repositories are written elsewhere): not rewritten; point it at the new registry by hand, and give the renamed repositories their new names where they are written".to_owned());
    }
    if !is_plain_name(repository) {
        return Err(format!(
            "names its repository `{repository}` through a template or a variable, which --map may rename: not rewritten; point it at the new registry by hand, with the repository's new name"
        ));
    }
    let renamed = renamer.renamed(repository);
    if renamed == repository {
        return Ok(Renaming::Unchanged);
    }
    let cannot = |why: &str| {
        Err(format!(
            "renames `{repository}` to `{renamed}` (--map), and {why}: not rewritten; point it at the new registry by hand, with the new name"
        ))
    };
    if let Some(insertion) = &reference.insertion {
        let written = format!("/{repository}");
        let Some(tail) = insertion.after.strip_prefix(&written) else {
            return cannot("the name added for it does not spell the repository");
        };
        if !(tail.is_empty() || tail.starts_with(['\r', '\n', ':', '@'])) {
            return cannot("the name added for it does not spell the repository");
        }
        return Ok(Renaming::After(format!("/{renamed}{tail}")));
    }
    let Some(span) = reference.repository_span.clone() else {
        return cannot("the file does not spell the repository literally where the registry is");
    };
    let Some(written) = text.get(span.clone()) else {
        return cannot("the file does not spell the repository literally where the registry is");
    };
    // The part of the name written after the registry, and the part given elsewhere (a chart's
    // `name:`, which stays).
    let rest = if written == repository {
        ""
    } else if written.is_empty() {
        repository
    } else {
        match repository
            .strip_prefix(written)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(rest) => rest,
            None => {
                return cannot(
                    "the file does not spell the repository literally where the registry is",
                )
            }
        }
    };
    let path = if rest.is_empty() {
        renamed.as_str()
    } else if renamed == rest {
        ""
    } else {
        match renamed.strip_suffix(rest).and_then(|p| p.strip_suffix('/')) {
            Some(path) => path,
            None => {
                return cannot(&format!(
                    "its last part `{rest}` is written elsewhere (a chart's name), which the rewrite does not change"
                ))
            }
        }
    };
    let contiguous = span.start == reference.registry_span.end + usize::from(!written.is_empty());
    match (written.is_empty(), path.is_empty()) {
        (false, false) => Ok(Renaming::Span(span, path.to_owned())),
        (true, false) if contiguous => Ok(Renaming::Span(span, format!("/{path}"))),
        (false, true) if contiguous => Ok(Renaming::Span(span.start - 1..span.end, String::new())),
        (true, true) => Ok(Renaming::Unchanged),
        _ => cannot("the file does not spell the repository literally where the registry is"),
    }
}

/// The inverse of the target naming: the repository of the old registry that `repository`,
/// named in `to` (under its prefix), is the copy of; `None` when it is not under the prefix or
/// no repository is renamed to it.
pub(crate) fn source_name(
    to: &crate::Registry,
    renamer: Option<&dyn Renamer>,
    repository: &str,
) -> Option<String> {
    let below = to.below_prefix(repository)?;
    match renamer {
        Some(renamer) => renamer.original(below),
        None => Some(below.to_owned()),
    }
}
