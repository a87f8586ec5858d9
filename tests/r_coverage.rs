//! Every RELIABILITY test id R01–R40 is named by a test (issue 9): in a
//! test function's name (`fn r20_…`), in the doc comment of a test
//! function (`/// R20: …` above `#[test]`), in the module doc (`//!`) of a
//! test file, or in a dialog file (tests/dialogs/*.dlg). Ranges such as
//! `R18–R20` name each id in them. The table of what each test covers is
//! docs/reliability.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// The R numbers named in `text`, ranges expanded.
fn ids(text: &str) -> BTreeSet<u32> {
    let b = text.as_bytes();
    let num = |i: usize| -> Option<u32> {
        let d = b.get(i..i + 2)?;
        let next_is_digit = b.get(i + 2).is_some_and(u8::is_ascii_digit);
        (d.iter().all(u8::is_ascii_digit) && !next_is_digit)
            .then(|| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    };
    let mut out = BTreeSet::new();
    for i in 0..b.len() {
        let starts =
            (b[i] == b'R' || b[i] == b'r') && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        let Some(n) = starts.then(|| num(i + 1)).flatten() else {
            continue;
        };
        out.insert(n);
        // "R18–R20" or "R18-R20": every id in between.
        let after = &b[i + 3..];
        let dash = ["–R".as_bytes(), b"-R"]
            .iter()
            .find(|d| after.starts_with(d))
            .map(|d| d.len());
        if let Some(m) = dash.and_then(|len| num(i + 3 + len)) {
            out.extend(n..=m);
        }
    }
    out
}

/// The ids a Rust file names for tests: module docs of test files, doc
/// comments and names of `#[test]` functions.
fn ids_in_rust(path: &Path, text: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let test_file = path.components().any(|c| c.as_os_str() == "tests")
        || path.to_string_lossy().ends_with("tests.rs");
    let mut doc = String::new();
    let mut is_test = false;
    for line in text.lines() {
        let l = line.trim_start();
        if let Some(d) = l.strip_prefix("//!") {
            if test_file {
                out.extend(ids(d));
            }
        } else if let Some(d) = l.strip_prefix("///") {
            doc.push_str(d);
            doc.push('\n');
        } else if l.starts_with("#[") {
            is_test |= l.contains("test");
        } else {
            if is_test && let Some(name) = l.split("fn ").nth(1) {
                let name = name.split(['(', '<']).next().unwrap_or("");
                if name.len() > 3 && name.as_bytes()[3] == b'_' {
                    out.extend(ids(&name[..3]));
                }
                out.extend(ids(&doc));
            }
            doc.clear();
            is_test = false;
        }
    }
    out
}

#[test]
fn every_r_number_is_named_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = BTreeSet::new();
    let mut rs = Vec::new();
    files(&root.join("tests"), "rs", &mut rs);
    files(&root.join("src"), "rs", &mut rs);
    for p in rs
        .iter()
        .filter(|p| !p.starts_with(root.join("tests/support")))
    {
        if p.ends_with("r_coverage.rs") {
            continue;
        }
        let text = std::fs::read_to_string(p).expect("read");
        named.extend(ids_in_rust(p, &text));
    }
    let mut dlg = Vec::new();
    files(&root.join("tests/dialogs"), "dlg", &mut dlg);
    for p in dlg {
        named.extend(ids(&std::fs::read_to_string(&p).expect("read")));
    }
    let missing: Vec<String> = (1..=40)
        .filter(|n| !named.contains(n))
        .map(|n| format!("R{n:02}"))
        .collect();
    assert!(
        missing.is_empty(),
        "not named by any test (see docs/reliability.md): {missing:?}"
    );
}

#[test]
fn ids_are_read_with_ranges_and_not_inside_words() {
    assert_eq!(ids("R05: x"), BTreeSet::from([5]));
    assert_eq!(ids("R18–R20"), BTreeSet::from([18, 19, 20]));
    assert_eq!(ids("R01-R03 and r35_x"), BTreeSet::from([1, 2, 3, 35]));
    assert!(ids("CR01 R123 FOR05").is_empty());
    let t = "/// R07: doc\n#[test]\nfn r09_name() {}\n/// R11: not a test\nfn helper() {}\n";
    assert_eq!(
        ids_in_rust(Path::new("tests/x.rs"), t),
        BTreeSet::from([7, 9])
    );
}
