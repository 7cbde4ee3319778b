//! What `Plan::refusals` finds before anything is written: read-only files, files in read-only
//! directories, hard-linked files; and how `WriteOptions` changes that.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use acr_rewrite::{Error, Rewriter, WriteOptions};

use crate::util::options;

const OLD: &str = "image: myreg.azurecr.io/a:1\n";
const NEW: &str = "image: newreg.azurecr.io/a:1\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn plan_of(dir: &Path) -> acr_rewrite::Plan {
    Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"))
        .plan(&[dir.to_path_buf()])
        .unwrap()
}

#[test]
fn a_file_in_a_read_only_directory_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let open = write(dir.path(), "a/open.yaml", OLD);
    let locked = write(dir.path(), "b/locked.yaml", OLD);
    let locked_dir = dir.path().join("b");
    set_mode(&locked_dir, 0o555);
    let plan = plan_of(dir.path());

    let refusals = plan.refusals(WriteOptions::default());
    set_mode(&locked_dir, 0o755);
    assert_eq!(refusals.len(), 1);
    assert!(
        matches!(&refusals[0], Error::ReadOnlyDirectory { path, directory } if *path == locked && *directory == locked_dir)
    );
    assert_eq!(
        refusals[0].to_string(),
        format!(
            "{} is in a read-only directory ({}): the rewritten file cannot be put in its place",
            locked.display(),
            locked_dir.display()
        )
    );
    assert!(refusals[0].is_read_only() && !refusals[0].is_hard_linked());

    set_mode(&locked_dir, 0o555);
    let written = plan.write();
    set_mode(&locked_dir, 0o755);
    assert!(matches!(written, Err(Error::Refused { refused }) if refused.len() == 1));
    assert_eq!(
        fs::read_to_string(&open).unwrap(),
        OLD,
        "nothing is written"
    );
    assert_eq!(fs::read_to_string(&locked).unwrap(), OLD);
    assert_eq!(
        fs::read_dir(&locked_dir).unwrap().count(),
        1,
        "no temporary file is left"
    );
}

#[test]
fn every_refused_file_is_named_once_in_path_order_and_unchanged_files_are_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let read_only = write(dir.path(), "a/read-only.yaml", OLD);
    set_mode(&read_only, 0o444);
    let linked = write(dir.path(), "b/linked.yaml", OLD);
    fs::hard_link(&linked, dir.path().join("other-name.txt")).unwrap();
    // Read-only and hard-linked: named once, as read-only (in place would not help).
    let both = write(dir.path(), "c/both.yaml", OLD);
    set_mode(&both, 0o444);
    fs::hard_link(&both, dir.path().join("both-other-name.txt")).unwrap();
    let unchanged = write(dir.path(), "d/unchanged.yaml", NEW);
    set_mode(&unchanged, 0o444);

    let plan = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"))
        .plan(&["a", "b", "c", "d"].map(|d| dir.path().join(d)))
        .unwrap();
    let refusals = plan.refusals(WriteOptions::default());
    let named: Vec<(&Path, &str)> = refusals
        .iter()
        .map(|e| match e {
            Error::ReadOnly { path } => (path.as_path(), "read-only"),
            Error::HardLinked { path, .. } => (path.as_path(), "hard-linked"),
            other => panic!("unexpected refusal: {other}"),
        })
        .collect();
    assert_eq!(
        named,
        [
            (read_only.as_path(), "read-only"),
            (linked.as_path(), "hard-linked"),
            (both.as_path(), "read-only"),
        ]
    );
    let in_place = plan.refusals(WriteOptions {
        in_place_hard_links: true,
    });
    assert_eq!(
        in_place.len(),
        2,
        "written in place, the hard-linked file is no longer refused: {in_place:?}"
    );
    assert!(in_place.iter().all(Error::is_read_only));
}

#[test]
fn a_hard_linked_file_in_a_read_only_directory_is_written_in_place_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let linked = write(dir.path(), "k8s/linked.yaml", OLD);
    let other_name = dir.path().join("other-name.yaml");
    fs::hard_link(&linked, &other_name).unwrap();
    let locked_dir = dir.path().join("k8s");
    set_mode(&locked_dir, 0o555);
    let plan = plan_of(&locked_dir);
    let options = WriteOptions {
        in_place_hard_links: true,
    };
    let refusals = plan.refusals(options);
    let written_in_place = plan.written_in_place(options);
    let summary = plan.write_with(options);
    set_mode(&locked_dir, 0o755);

    assert!(refusals.is_empty(), "{refusals:?}");
    assert_eq!(written_in_place, [linked.as_path()]);
    let summary = summary.unwrap();
    assert_eq!(summary.written_in_place, [linked]);
    assert_eq!(fs::read_to_string(&other_name).unwrap(), NEW);
}
