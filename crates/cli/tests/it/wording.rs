//! The same things are called the same in every report, and counted alike.

use crate::util::*;

/// `inventory` splits the manifests without a tag of their own into index children and untagged
/// ones; `copy` and `verify` count the same manifests under the same words.
#[test]
fn copy_verify_and_inventory_count_manifests_without_a_tag_alike() {
    let (dir, _) = sample_layout(6, 2);
    let src = oci(dir.path());
    let inventory = json(&run(&["inventory", "--json", &src]));
    let totals = &inventory["totals"];
    let children = totals["index_children"].as_u64().unwrap();
    let untagged = totals["untagged_manifests"].as_u64().unwrap();
    assert!(children > 0 && untagged > 0, "{totals}");
    let without_tag = children + untagged;

    let text = stdout(&run(&["inventory", &src]));
    assert!(
        text.contains(&format!(
            "({without_tag} without a tag of their own: {children} index children, {untagged} untagged)"
        )),
        "{text}"
    );

    let out_dir = tempfile::tempdir().unwrap();
    let target = oci(out_dir.path());
    let copy = run(&["copy", &src, &target]);
    assert_success(&copy);
    assert!(
        stdout(&copy).contains(&format!(
            "{without_tag} manifests without a tag of their own"
        )),
        "{}",
        stdout(&copy)
    );
    let copy_json = json(&run(&["copy", "--json", &src, &target]));
    assert_eq!(copy_json["untagged"].as_u64(), Some(without_tag));

    let verify = run(&["verify", &src, &target]);
    assert_success(&verify);
    assert!(
        stdout(&verify).contains(&format!(
            "{without_tag} manifests without a tag of their own checked"
        )),
        "{}",
        stdout(&verify)
    );
}
