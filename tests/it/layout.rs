//! Issue 11: the module layering of `src/` holds — every `crate::<module>` reference in a
//! module points to a module below it in the list of `src/lib.rs`, so there is no import
//! cycle and no module imports from a layer above it. Fails naming the file and the arrow.

use std::path::{Path, PathBuf};

/// Lowest first; a module may use only modules of a lower rank (and itself).
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("config", 1),
    ("telemetry", 2),
    ("genesys", 3),
    ("analytics", 3),
    ("journal", 3),
    ("outbox", 4),
    ("emulator", 4),
    ("batch", 5),
    ("ingest", 5),
    ("http", 6),
    ("startup", 7),
    ("cli", 8),
];

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
        for (at, _) in text.match_indices("crate::") {
            let target: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if target == module || target.is_empty() {
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
                .contains(concat!("../", "shared/"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "files pointing outside the repository: {outside:?}"
    );
}
