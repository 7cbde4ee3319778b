//! Unified diffs of a file before and after the rewrite (Myers' line diff, three lines of context).

use std::path::{Component, Path};

/// One step of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// A unified diff of `old` into `new`, headed `--- a/<label>` / `+++ b/<label>`; empty when equal.
///
/// The label is a path written as `git diff` writes one: without its root and without `.`
/// components (`/tmp/x.yaml` is headed `a/tmp/x.yaml`, `./k8s/x.yaml` `a/k8s/x.yaml`), so that
/// `git apply` and `patch -p1` (from `/` for an absolute path) find the file; a name with a
/// space is followed by a tab, and a name with a control character, a `"`, a `\` or a byte
/// outside ASCII is quoted C-style (`"a/x\ny.yaml"`), as Git heads them.
pub fn unified_diff(label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = myers(&a, &b);
    let label = relative_label(label);
    let mut out = format!(
        "--- {}\n+++ {}\n",
        header_name("a/", &label),
        header_name("b/", &label)
    );
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Equal(..)))
        .map(|(i, _)| i)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let first = changed[k];
        let mut last = first;
        while k + 1 < changed.len() && changed[k + 1] - last <= 2 * CONTEXT + 1 {
            k += 1;
            last = changed[k];
        }
        k += 1;
        let from = first.saturating_sub(CONTEXT);
        let to = (last + CONTEXT + 1).min(ops.len());
        let hunk = &ops[from..to];
        let (mut a_start, mut b_start) = position(&ops, from);
        let a_len = hunk.iter().filter(|o| !matches!(o, Op::Insert(_))).count();
        let b_len = hunk.iter().filter(|o| !matches!(o, Op::Delete(_))).count();
        if a_len > 0 {
            a_start += 1;
        }
        if b_len > 0 {
            b_start += 1;
        }
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a_start, a_len),
            range(b_start, b_len)
        ));
        for op in hunk {
            let (sign, line) = match *op {
                Op::Equal(i, _) => (' ', a[i]),
                Op::Delete(i) => ('-', a[i]),
                Op::Insert(j) => ('+', b[j]),
            };
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// `label` as a path without its root and its `.` components, `/`-separated.
fn relative_label(label: &str) -> String {
    Path::new(label)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy()),
            Component::ParentDir => Some("..".into()),
            Component::Prefix(prefix) => Some(prefix.as_os_str().to_string_lossy()),
            Component::RootDir | Component::CurDir => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `prefix` and `name` as Git writes a file name in a `---`/`+++` line: C-style quoted (`\n`,
/// `\t`, `\"`, `\\`, other control characters and every byte outside ASCII as octal `\ooo`)
/// when the name holds any of those, and followed by a tab when it holds a space (so that the
/// name does not seem to end at the space).
fn header_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}{name}");
    let needs_quotes = full
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b >= 0x80 || b == b'"' || b == b'\\');
    let mut out = if needs_quotes {
        let mut quoted = String::from("\"");
        for b in full.bytes() {
            match b {
                0x07 => quoted.push_str("\\a"),
                0x08 => quoted.push_str("\\b"),
                b'\t' => quoted.push_str("\\t"),
                b'\n' => quoted.push_str("\\n"),
                0x0b => quoted.push_str("\\v"),
                0x0c => quoted.push_str("\\f"),
                b'\r' => quoted.push_str("\\r"),
                b'"' => quoted.push_str("\\\""),
                b'\\' => quoted.push_str("\\\\"),
                b if !(0x20..0x7f).contains(&b) => quoted.push_str(&format!("\\{b:03o}")),
                b => quoted.push(char::from(b)),
            }
        }
        quoted.push('"');
        quoted
    } else {
        full
    };
    if name.contains(' ') {
        out.push('\t');
    }
    out
}

fn range(start: usize, len: usize) -> String {
    if len == 1 {
        start.to_string()
    } else {
        format!("{start},{len}")
    }
}

/// Lines of `a` and `b` before op number `index`.
fn position(ops: &[Op], index: usize) -> (usize, usize) {
    ops[..index].iter().fold((0, 0), |(x, y), op| match op {
        Op::Equal(..) => (x + 1, y + 1),
        Op::Delete(_) => (x + 1, y),
        Op::Insert(_) => (x, y + 1),
    })
}

/// Myers' O((N+M)·D) shortest edit script, after trimming the common prefix and suffix.
fn myers(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let (n, m) = (ma.len() as isize, mb.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'outer: for d in 0..=max as isize {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let idx = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && ma[x as usize] == mb[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                trace.push(v.clone());
                break 'outer;
            }
            k += 2;
        }
    }
    // Walk back through the trace.
    let mut middle = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..trace.len() - 1).rev() {
        let v = &trace[d];
        let d = d as isize;
        let k = x - y;
        let prev_k =
            if k == -d || (k != d && v[(k - 1 + offset) as usize] < v[(k + 1 + offset) as usize]) {
                k + 1
            } else {
                k - 1
            };
        let prev_x = v[(prev_k + offset) as usize];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            middle.push(Op::Equal(x as usize, y as usize));
        }
        if x == prev_x {
            y -= 1;
            middle.push(Op::Insert(y as usize));
        } else {
            x -= 1;
            middle.push(Op::Delete(x as usize));
        }
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        middle.push(Op::Equal(x as usize, y as usize));
    }
    middle.reverse();
    let mut ops: Vec<Op> = (0..prefix).map(|i| Op::Equal(i, i)).collect();
    ops.extend(middle.into_iter().map(|op| match op {
        Op::Equal(i, j) => Op::Equal(i + prefix, j + prefix),
        Op::Delete(i) => Op::Delete(i + prefix),
        Op::Insert(j) => Op::Insert(j + prefix),
    }));
    ops.extend((0..suffix).map(|s| Op::Equal(a.len() - suffix + s, b.len() - suffix + s)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_give_no_diff() {
        assert_eq!(unified_diff("f", "a\nb\n", "a\nb\n"), "");
    }

    #[test]
    fn one_changed_line_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified_diff("x.yaml", old, new),
            "--- a/x.yaml\n+++ b/x.yaml\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks_and_close_ones_merge() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("2\n", "two\n").replace("18\n", "eighteen\n");
        let diff = unified_diff("f", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        let new = old.replace("2\n", "two\n").replace("\n6\n", "\nsix\n");
        assert_eq!(unified_diff("f", &old, &new).matches("@@ -").count(), 1);
    }

    #[test]
    fn labels_lose_the_root_and_dot_components_as_git_writes_them() {
        for (label, written) in [
            ("/tmp/x.yaml", "tmp/x.yaml"),
            ("//srv//k8s/x.yaml", "srv/k8s/x.yaml"),
            ("./k8s/./x.yaml", "k8s/x.yaml"),
            ("k8s/../x.yaml", "k8s/../x.yaml"),
            ("x.yaml", "x.yaml"),
        ] {
            let head = format!("--- a/{written}\n+++ b/{written}\n");
            assert!(
                unified_diff(label, "a\n", "b\n").starts_with(&head),
                "{label}"
            );
        }
    }

    #[test]
    fn odd_file_names_are_headed_as_git_heads_them() {
        let head = |label: &str| {
            let diff = unified_diff(label, "a\n", "b\n");
            diff.lines().take(2).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(
            head("my dir/x.yaml"),
            "--- a/my dir/x.yaml\t\n+++ b/my dir/x.yaml\t"
        );
        assert_eq!(
            head("x\ny.yaml"),
            "--- \"a/x\\ny.yaml\"\n+++ \"b/x\\ny.yaml\""
        );
        assert_eq!(
            head("q\"b\\s\tt.yaml"),
            "--- \"a/q\\\"b\\\\s\\tt.yaml\"\n+++ \"b/q\\\"b\\\\s\\tt.yaml\""
        );
        assert_eq!(
            head("é.yaml"),
            "--- \"a/\\303\\251.yaml\"\n+++ \"b/\\303\\251.yaml\""
        );
        assert_eq!(
            head("esc\u{1b}.yaml"),
            "--- \"a/esc\\033.yaml\"\n+++ \"b/esc\\033.yaml\""
        );
    }

    #[test]
    fn insertions_deletions_and_missing_final_newline() {
        let diff = unified_diff("f", "a\nb\nc", "a\nc\nd");
        assert_eq!(diff, "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n-c\n\\ No newline at end of file\n+c\n+d\n\\ No newline at end of file\n");
        let diff = unified_diff("f", "", "x\n");
        assert_eq!(diff, "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+x\n");
    }
}
