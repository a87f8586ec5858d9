//! Imports point down the road (issue 7): the crate doc in `src/lib.rs`
//! lists the modules in road order, and every `crate::` path in a module's
//! files must name a module listed after it. The list is read from the
//! doc, so the doc and this check cannot drift apart.
//!
//! Modules the list does not name (a new file not yet placed) are not
//! checked; `bin/` and `lib.rs` are above everything.

use std::fs;
use std::path::Path;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// `mode`, `inbound::smtp`, … in the order of the crate doc's list.
fn road() -> Vec<String> {
    let lib = fs::read_to_string(Path::new(MANIFEST).join("src/lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! * [`"))
        .filter_map(|l| l.split_once("`]"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The layer a path names: the rooms `inbound` and `outbound` are split
/// into their modules (`inbound::smtp`, `outbound::route`, …); every other
/// top-level module is one layer.
fn layer(parts: &[&str]) -> Option<String> {
    match parts {
        [room @ ("inbound" | "outbound"), "mod"] => Some((*room).to_string()),
        [room @ ("inbound" | "outbound"), sub, ..] => Some(format!("{room}::{sub}")),
        [top, ..] => Some((*top).to_string()),
        [] => None,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b` in `text`, as `[a, b]` (identifiers only).
fn crate_paths(text: &str) -> Vec<Vec<&str>> {
    let ident = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `masqmail_crate::` and the like
        }
        let rest = &text[i + "crate::".len()..];
        let first = &rest[..ident(rest)];
        let mut path = vec![first];
        if let Some(after) = rest[first.len()..].strip_prefix("::") {
            let second = &after[..ident(after)];
            if !second.is_empty() {
                path.push(second);
            }
        }
        out.push(path);
    }
    out
}

#[test]
fn imports_point_down_the_road() {
    let road = road();
    assert!(road.len() > 20, "crate doc lists only {road:?}");
    let pos = |m: &str| road.iter().position(|r| r == m);
    let src = Path::new(MANIFEST).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut up = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        if matches!(parts.first(), Some(&"bin") | Some(&"lib")) {
            continue;
        }
        let Some(from) = layer(&parts).and_then(|l| pos(&l).map(|p| (l, p))) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("read");
        for path in crate_paths(&text) {
            let Some(to) = layer(&path).and_then(|l| pos(&l).map(|p| (l, p))) else {
                continue;
            };
            if to.1 < from.1 {
                up.push(format!("{}: {} -> {}", rel.display(), from.0, to.0));
            }
        }
    }
    up.sort();
    up.dedup();
    assert!(
        up.is_empty(),
        "imports pointing up the road:\n{}",
        up.join("\n")
    );
}

/// Issue 7: the SMTP server knows nothing of the queue or of delivery; it
/// hands accepted ids to a hook its caller supplies.
#[test]
fn the_smtp_server_imports_no_queue_or_delivery() {
    let dir = Path::new(MANIFEST).join("src/inbound/smtp");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = fs::read_to_string(&file).expect("read");
        for path in crate_paths(&text) {
            assert!(
                !matches!(path.first(), Some(&"queue") | Some(&"deliver")),
                "{}: crate::{}",
                file.display(),
                path.join("::")
            );
        }
    }
}
