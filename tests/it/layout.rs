//! Issue 11: the module layering of `src/` holds — every `crate::<module>` reference (and
//! `crate::{…}` group, and `super::` chain climbing to the crate root) in a module names a
//! module listed before it in `src/lib.rs` (a lower layer), so there is no import cycle and
//! no module imports from a layer above it or beside it. Fails naming the file and arrow.

use std::path::{Path, PathBuf};

/// Lowest first; a module may use only modules of a lower rank (and itself). The order is
/// the order of the `pub mod` lines in `src/lib.rs` (checked below).
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("config", 1),
    ("telemetry", 2),
    ("analytics", 3),
    ("genesys", 3),
    ("journal", 3),
    ("store", 3),
    ("emulator", 4),
    ("outbox", 4),
    ("batch", 5),
    ("ingest", 5),
    ("http", 6),
    ("startup", 7),
    ("cli", 8),
];

/// The top-level modules every `crate::` path, `crate::{…}` group and `super::` chain that
/// climbs to the crate root in `text` names. `depth` is how many modules deep the file is
/// (`src/a/b.rs` and `src/a/b/mod.rs` are 2).
fn targets(text: &str, depth: usize) -> Vec<String> {
    let ident = |rest: &str| -> String {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first name of every top-level item of the group.
            let mut level = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                        out.push(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    let chain = "super::".repeat(depth);
    for (at, _) in text.match_indices(&chain) {
        let rest = &text[at + chain.len()..];
        if !rest.starts_with("super::") {
            out.push(ident(rest));
        }
    }
    out.retain(|t| !t.is_empty() && t != "self");
    out
}

#[test]
fn the_layer_list_is_the_module_list_of_lib_rs() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    let listed: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    assert_eq!(modules, listed, "src/lib.rs and this test list the layers");
}

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without `//` comments (doc links may name any module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut arrows = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let from = rank(module).unwrap_or_else(|| {
            panic!("src/{module} is not in the layer list of this test and src/lib.rs")
        });
        let text = code(&std::fs::read_to_string(file).unwrap());
        let depth = relative.components().count()
            - usize::from(relative.file_name().is_some_and(|n| n == "mod.rs"));
        for target in targets(&text, depth) {
            if target == module {
                continue;
            }
            let to = rank(&target).unwrap_or_else(|| panic!("{file:?} names crate::{target}"));
            if to >= from {
                arrows.push(format!("src/{} uses crate::{target}", relative.display()));
            }
        }
    }
    arrows.sort();
    arrows.dedup();
    assert!(
        arrows.is_empty(),
        "imports that point up or sideways (see the layer list in src/lib.rs):\n{}",
        arrows.join("\n")
    );
}

#[test]
fn the_repository_stands_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let outside: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains(concat!("../", "shared", "/"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "files pointing outside the repository: {outside:?}"
    );
}
