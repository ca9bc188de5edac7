//! The module layers, kept honest: every `crate::` reference in `src/` must be an
//! edge of [`ALLOWED`], the table has no cycle, and the files of one module directory
//! do not import each other in a cycle. docs/design.md ("Layers") explains the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. Lower layers first; a module may
/// only name modules listed before it. `app` is the router in `lib.rs`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("secrets", &[]),
    ("time_fmt", &[]),
    ("data_dir", &[]),
    ("systemd", &[]),
    ("private_files", &["data_dir"]),
    ("auth", &["secrets"]),
    ("metrics", &["model"]),
    ("webhook", &["model", "secrets"]),
    ("live", &[]),
    ("seal", &["data_dir", "private_files"]),
    ("ownership", &["data_dir", "seal"]),
    ("config", &["data_dir", "seal", "secrets"]),
    ("filestore", &["data_dir", "secrets"]),
    (
        "store",
        &[
            "data_dir",
            "live",
            "model",
            "ownership",
            "private_files",
            "seal",
            "secrets",
            "time_fmt",
        ],
    ),
    ("graph", &["filestore", "model", "secrets"]),
    (
        "ingest",
        &["live", "metrics", "model", "secrets", "store", "webhook"],
    ),
    (
        "jobs",
        &["filestore", "graph", "live", "model", "secrets", "store"],
    ),
    ("maintenance", &["model", "store"]),
    ("error", &["ingest", "store"]),
    (
        "state",
        &[
            "auth",
            "config",
            "filestore",
            "graph",
            "ingest",
            "live",
            "metrics",
            "model",
            "secrets",
            "store",
            "webhook",
        ],
    ),
    (
        "http",
        &[
            "auth",
            "config",
            "data_dir",
            "error",
            "filestore",
            "ingest",
            "live",
            "metrics",
            "model",
            "secrets",
            "state",
            "store",
            "systemd",
            "time_fmt",
            "webhook",
        ],
    ),
    (
        "server",
        &[
            "app",
            "auth",
            "config",
            "data_dir",
            "filestore",
            "graph",
            "http",
            "ingest",
            "jobs",
            "live",
            "maintenance",
            "private_files",
            "secrets",
            "state",
            "store",
            "systemd",
        ],
    ),
    (
        "cli",
        &[
            "auth",
            "config",
            "data_dir",
            "filestore",
            "graph",
            "ingest",
            "maintenance",
            "model",
            "ownership",
            "private_files",
            "seal",
            "secrets",
            "server",
            "store",
            "time_fmt",
            "webhook",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
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

/// The text without line comments (a doc example is not an import).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn first_segment(part: &str) -> Option<String> {
    let first = part.trim().split("::").next().unwrap_or("");
    (!first.is_empty() && first.chars().all(is_ident)).then(|| first.to_string())
}

/// Names referenced after `prefix` (`crate::`, `super::`): `prefix x` and every first
/// segment of `prefix {x, y::z}`.
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        if text[..at].ends_with(is_ident) {
            continue; // `foo_crate::` is not `crate::`
        }
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Split on the commas of this group only, not of nested `{...}`.
            let (mut depth, mut part) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_segment(&part));
                        part.clear();
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            out.extend(first_segment(&part));
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

#[test]
fn every_import_follows_the_layer_table() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let Some(module) = top_module(file) else {
            continue;
        };
        seen.insert(module.clone());
        let Some(deps) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module {module} is not in ALLOWED",
                file.display()
            ));
            continue;
        };
        for used in names_after(&code(file), "crate::") {
            if used != module && !deps.contains(used.as_str()) {
                wrong.push(format!("{}: {module} -> {used}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports outside the layer table (tests/layers.rs ALLOWED):\n{}",
        wrong.join("\n")
    );
    assert!(seen.len() > 15, "read only {seen:?}");
}

#[test]
fn the_layer_table_only_points_down() {
    // Listed lower layers first, so every allowed edge points to an earlier row: no
    // cycle is possible.
    let mut earlier = BTreeSet::from(["app"]);
    for (module, deps) in ALLOWED {
        for dep in *deps {
            assert!(
                earlier.contains(dep),
                "{module} -> {dep}: {dep} must be listed before {module}"
            );
        }
        earlier.insert(module);
    }
}

#[test]
fn files_of_one_module_do_not_import_each_other_in_a_cycle() {
    let mut checked = 0;
    for entry in std::fs::read_dir(src()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let module = dir.file_name().unwrap().to_str().unwrap().to_string();
        // Each child (file or folder) and the siblings it names.
        let mut children: BTreeMap<String, String> = BTreeMap::new();
        for child in std::fs::read_dir(&dir).unwrap() {
            let path = child.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            if name == "mod" {
                continue;
            }
            let mut files = Vec::new();
            if path.is_dir() {
                rust_files(&path, &mut files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path.clone());
            }
            let text: String = files.iter().map(|f| code(f)).collect();
            children.entry(name).or_default().push_str(&text);
        }
        let edges: BTreeMap<&str, BTreeSet<String>> = children
            .iter()
            .map(|(name, text)| {
                let mut used = names_after(text, "super::");
                used.extend(names_after(text, &format!("crate::{module}::")));
                used.retain(|u| u != name && children.contains_key(u));
                (name.as_str(), used)
            })
            .collect();
        // Depth-first search for a back edge.
        fn visit<'a>(
            n: &'a str,
            edges: &'a BTreeMap<&'a str, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<String> {
            if let Some(i) = path.iter().position(|p| *p == n) {
                return Some(format!("{} -> {n}", path[i..].join(" -> ")));
            }
            if !done.insert(n) {
                return None;
            }
            path.push(n);
            for next in &edges[n] {
                if let Some(c) = visit(next.as_str(), edges, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for n in edges.keys() {
            let cycle = visit(n, &edges, &mut Vec::new(), &mut done);
            assert!(cycle.is_none(), "import cycle in src/{module}/: {cycle:?}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "checked {checked} module folders");
}

#[test]
fn the_scanner_sees_grouped_and_plain_imports() {
    let text = "use crate::{store::{self, Db}, live::Bus};\nlet x = crate::model::Provider::Facebook;\nuse foo_crate::bar;";
    let names = names_after(text, "crate::");
    assert_eq!(names, ["live", "model", "store"].map(String::from).into());
}
