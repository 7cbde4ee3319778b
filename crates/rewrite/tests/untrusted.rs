//! Files as they come, not as they should be: nested past any manifest, saved as UTF-16, reached
//! by several names, paths that are not files or cannot be read. Each is read without harm to the
//! run, and nothing is written while any path given was not read.

use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::{Encoding, Error, FileKind, Rewriter};

use crate::util::options;

fn rewriter() -> Rewriter<'static> {
    Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn yaml_and_json_nested_thousands_deep_are_scanned_as_text_without_exhausting_the_stack() {
    let deep = 5000;
    let flow = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    let block: String = "- ".repeat(deep) + "x\n";
    for (name, kind, text) in [
        (
            "flow.yaml",
            FileKind::Yaml,
            format!("a: {flow}\nimage: myreg.azurecr.io/x:1\n"),
        ),
        (
            "block.yaml",
            FileKind::Yaml,
            format!("{block}# myreg.azurecr.io/x:1\n"),
        ),
        (
            "deep.json",
            FileKind::Json,
            format!("{{\"a\": {flow}, \"image\": \"myreg.azurecr.io/x:1\"}}"),
        ),
    ] {
        let file = rewriter()
            .rewrite_text(Path::new(name), kind, &text)
            .unwrap();
        assert_eq!(file.rewritten, text, "{name}: nothing in it is rewritten");
        assert_eq!(file.mentions.len(), 1, "{name}: its mention is listed");
        let reason = &file.not_parsed.as_ref().unwrap().reason;
        assert_eq!(
            reason, "collections nested more than 128 levels deep",
            "{name}"
        );
    }
}

#[test]
fn nesting_as_deep_as_the_limit_allows_is_still_read_as_yaml() {
    let depth = 120;
    let text = format!(
        "a: {}{{image: myreg.azurecr.io/x:1}}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let file = rewriter()
        .rewrite_text(Path::new("values.yaml"), FileKind::HelmValues, &text)
        .unwrap();
    assert!(file.not_parsed.is_none());
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    std::iter::once('\u{feff}')
        .chain(text.chars())
        .collect::<String>()
        .encode_utf16()
        .flat_map(|unit| {
            if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            }
        })
        .collect()
}

#[test]
fn a_utf16_file_with_its_mark_is_read_rewritten_and_written_back_in_utf16() {
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/app:1\r\n# from myreg.azurecr.io\r\n";
    fs::write(dir.path().join("le.yaml"), utf16(text, false)).unwrap();
    fs::write(dir.path().join("be.yaml"), utf16(text, true)).unwrap();
    fs::write(
        dir.path().join("notes.txt"),
        utf16("see myreg.azurecr.io\n", false),
    )
    .unwrap();
    let plan = rewriter().plan(&[dir.path().to_path_buf()]).unwrap();
    let encodings: Vec<_> = plan.files.iter().map(|f| f.encoding).collect();
    assert_eq!(
        encodings,
        [Encoding::Utf16Be, Encoding::Utf16Le, Encoding::Utf16Le]
    );
    assert_eq!(
        plan.remaining(),
        5,
        "2 references, 2 comments, 1 line of text"
    );
    plan.write().unwrap();
    let written = text.replacen("myreg.azurecr.io/app", "newreg.azurecr.io/app", 1);
    assert_eq!(
        fs::read(dir.path().join("le.yaml")).unwrap(),
        utf16(&written, false)
    );
    assert_eq!(
        fs::read(dir.path().join("be.yaml")).unwrap(),
        utf16(&written, true)
    );
}

#[test]
fn a_file_reached_by_several_hard_links_is_planned_once_under_its_first_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/a.yaml", "image: myreg.azurecr.io/app:1\n");
    fs::hard_link(dir.path().join("k8s/a.yaml"), dir.path().join("k8s/z.yaml")).unwrap();
    fs::hard_link(dir.path().join("k8s/a.yaml"), dir.path().join("k8s/m.yaml")).unwrap();
    let plan = rewriter().plan(&[dir.path().join("k8s")]).unwrap();
    let names: Vec<_> = plan.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(names, [dir.path().join("k8s/a.yaml")]);
}

#[test]
fn symbolic_links_met_in_a_walk_are_listed_as_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = write(
        outside.path(),
        "values.yaml",
        "image: myreg.azurecr.io/app:1\n",
    );
    write(dir.path(), "k8s/a.yaml", "kind: x\n");
    std::os::unix::fs::symlink(&target, dir.path().join("k8s/values.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("k8s/more")).unwrap();
    let plan = rewriter().plan(&[dir.path().join("k8s")]).unwrap();
    assert_eq!(plan.remaining(), 0);
    assert_eq!(
        plan.skipped_links,
        [
            dir.path().join("k8s/more"),
            dir.path().join("k8s/values.yaml")
        ]
    );
}

#[test]
fn a_path_that_is_not_a_file_or_cannot_be_read_fails_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "a.yaml", "image: myreg.azurecr.io/app:1\n");
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let plan = rewriter()
        .plan(&[good.clone(), fifo.clone(), dir.path().join("missing.yaml")])
        .unwrap();
    assert_eq!(plan.files.len(), 1);
    assert!(matches!(&plan.failures[0], Error::NotAFile { path, .. } if *path == fifo));
    assert_eq!(
        plan.failures[0].to_string(),
        format!(
            "{} is a FIFO (named pipe), not a regular file: not read (name files and directories)",
            fifo.display()
        )
    );
    assert!(matches!(&plan.failures[1], Error::Read { .. }));
    assert!(matches!(plan.write(), Err(Error::Unread { count: 2 })));
    assert_eq!(
        fs::read_to_string(&good).unwrap(),
        "image: myreg.azurecr.io/app:1\n",
        "nothing is written while a path given was not read"
    );
}
