//! Temporary: runs the reviewer's inputs (removed before hand-off).
use acr_template::{rewrite_template, to_table, RewriteOptions, TemplateInput};

#[test]
#[ignore = "scratch"]
fn scratch() {
    for line in std::fs::read_to_string("/tmp/tplfix/cases.txt").unwrap().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() { continue; }
        let file = parts[0];
        let mut o = RewriteOptions { name: "newacr01".into(), location: "westeurope".into(), ..Default::default() };
        let mut i = 1;
        while i < parts.len() {
            match parts[i] {
                "--name" => o.name = parts[i + 1].into(),
                "--subnet" => o.subnets.push(parts[i + 1].into()),
                "--identity" => o.identity = Some(parts[i + 1].into()),
                "--key-uri" => o.key_uri = Some(parts[i + 1].into()),
                _ => panic!("{}", parts[i]),
            }
            i += 2;
        }
        let text = std::fs::read_to_string(format!("/tmp/review/tpl2/in/{file}")).unwrap();
        let stem = format!("{}{}", file.trim_end_matches(".json"), if parts.len() > 1 { "-opts" } else { "" });
        match rewrite_template(&TemplateInput::new(file, text), &o) {
            Ok(out) => {
                std::fs::write(format!("/tmp/tplfix/out/{stem}.json"), &out.template).unwrap();
                std::fs::write(format!("/tmp/tplfix/out/{stem}.txt"), format!("old_name: {:?}\n{}", out.old_name, to_table(&out.findings))).unwrap();
            }
            Err(e) => std::fs::write(format!("/tmp/tplfix/out/{stem}.txt"), e.to_string()).unwrap(),
        }
    }
}
