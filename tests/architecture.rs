//! The module structure ARCHITECTURE.md draws, checked on the source: SQL (sqlx) only in
//! `store/` and the start-up code, no import cycles between modules, and imports that only
//! point down the layers.
//!
//! A module is a file under `src/` (`src/service/runs.rs` is `service::runs`, a `mod.rs` is
//! its folder), or under `engine/src/`: the engine crate, which the service names
//! `segmentation` (`engine/src/kmeans/mod.rs` is `segmentation::kmeans`). Its dependencies are every `crate::…` path it names (in `use` lines or
//! inline), and `super::…` paths resolved against it; tests inside a file count too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The engine crate's sources, re-exported by the service as `segmentation`.
fn engine_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/src")
}

/// Every source file of the service and of the engine.
fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    sources(&engine_src(), &mut files);
    files
}

/// `service::runs` for `src/service/runs.rs`, `service` for `src/service/mod.rs`,
/// `segmentation::kmeans` for `engine/src/kmeans/mod.rs`, `segmentation` for its `lib.rs`.
fn module_of(path: &Path) -> String {
    let (mut parts, relative) = match path.strip_prefix(engine_src()) {
        Ok(relative) => (vec!["segmentation".to_owned()], relative),
        Err(_) => (Vec::new(), path.strip_prefix(src()).unwrap()),
    };
    parts.extend(
        relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// A file's code as the checker reads it: the engine's `crate::x` is the service's
/// `crate::segmentation::x`.
fn read_code(path: &Path) -> String {
    let code = code_of(&std::fs::read_to_string(path).unwrap());
    if path.starts_with(engine_src()) {
        code.replace("crate::", "crate::segmentation::")
    } else {
        code
    }
}

/// The source with comments and string literals blanked (a path in a doc comment or a
/// message is not an import).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == '/' && bytes.get(i + 1) == Some(&'/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == 'r' && bytes.get(i + 1) == Some(&'#') && bytes.get(i + 2) == Some(&'"') {
            i += 3;
            while i + 1 < bytes.len() && !(bytes[i] == '"' && bytes[i + 1] == '#') {
                i += 1;
            }
            i += 2;
            out.push_str("\"\"");
        } else if c == '\'' && bytes.get(i + 2) == Some(&'\'') {
            // A char literal such as '"'.
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The modules a file names: each `crate::a::b…` (and `super::…`) path, resolved to the
/// longest known module it starts with.
fn dependencies(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    // Grouped imports: `use crate::store::{runs, segmentations};`.
    let mut paths = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let full = if base.is_empty() {
                path.clone()
            } else {
                format!("{base}::{path}")
            };
            let full = full.trim_end_matches(':').to_owned();
            // `{a, b::c}` after the path: each item extends it.
            let after = &rest[path.len()..];
            if path.ends_with("::") && after.starts_with('{') {
                let group: String = after[1..].chars().take_while(|c| *c != '}').collect();
                for item in group.split(',') {
                    let item = item.trim().split(" as ").next().unwrap().trim();
                    if !item.is_empty() && item != "self" {
                        paths.push(format!("{full}::{item}"));
                    }
                }
            }
            paths.push(full);
        }
    }
    for path in paths {
        let parts: Vec<&str> = path.split("::").collect();
        for n in (1..=parts.len()).rev() {
            let candidate = parts[..n].join("::");
            if known.contains(&candidate) {
                if candidate != module && !module.starts_with(&format!("{candidate}::")) {
                    found.insert(candidate);
                }
                break;
            }
        }
    }
    found
}

fn parent(module: &str) -> String {
    match module.rfind("::") {
        Some(at) => module[..at].to_owned(),
        None => String::new(),
    }
}

struct Graph {
    /// Module → its source without comments and strings.
    code: BTreeMap<String, String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let code: BTreeMap<String, String> = all_sources()
        .iter()
        .map(|f| (module_of(f), read_code(f)))
        .collect();
    let known: BTreeSet<String> = code.keys().cloned().collect();
    let edges = code
        .iter()
        .map(|(m, c)| (m.clone(), dependencies(m, c, &known)))
        .collect();
    Graph { code, edges }
}

/// A cycle in `edges`, if any (as the modules along it).
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut found = stack[from..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                0 => {
                    if let Some(found) = visit(next, edges, state, stack) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(found) = visit(node, edges, &mut state, &mut stack) {
                return Some(found);
            }
        }
    }
    None
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn sql_lives_in_store_and_startup_only() {
    let graph = graph();
    let outside: Vec<&String> = graph
        .code
        .iter()
        .filter(|(m, c)| {
            top(m) != "store"
                && top(m) != "startup"
                && (c.contains("sqlx::") || c.contains("use sqlx"))
        })
        .map(|(m, _)| m)
        .collect();
    assert!(
        outside.is_empty(),
        "sqlx is named outside src/store/ and src/startup/ in: {outside:?}"
    );
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let graph = graph();
    if let Some(found) = cycle(&graph.edges) {
        panic!("an import cycle between files: {}", found.join(" → "));
    }
    // And between the top-level modules.
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in &graph.edges {
        let entry = tops.entry(top(m).to_owned()).or_default();
        entry.extend(
            deps.iter()
                .map(|d| top(d).to_owned())
                .filter(|d| d != top(m)),
        );
    }
    if let Some(found) = cycle(&tops) {
        panic!("an import cycle between modules: {}", found.join(" → "));
    }
}

/// What each top-level module may import (ARCHITECTURE.md's table). A name ending in `!`
/// allows that module's root only (`store!`: the pool handle and `store::ping`, never the
/// row types and queries of its submodules).
const ALLOWED: &[(&str, &[&str])] = &[
    ("main", &["cli", "config", "startup", "telemetry", "http"]),
    ("lib", &[]),
    (
        "cli",
        &[
            "config",
            "ingest",
            "segmentation",
            "domain",
            "service",
            "store!",
        ],
    ),
    ("startup", &["config", "http", "jobs", "service", "store"]),
    ("telemetry", &["config"]),
    ("config", &["jobs", "service"]),
    (
        "http",
        &[
            "service",
            "domain",
            "segmentation",
            "charts",
            "error",
            "store!",
        ],
    ),
    ("jobs", &["service", "store", "domain"]),
    (
        "service",
        &[
            "store",
            "ingest",
            "segmentation",
            "domain",
            "charts",
            "error",
        ],
    ),
    ("store", &["domain", "segmentation", "error"]),
    ("ingest", &["domain", "segmentation", "error"]),
    ("domain", &["segmentation", "error"]),
    ("segmentation", &[]),
    ("charts", &[]),
    ("error", &[]),
];

fn allowed(from: &str, to: &str) -> bool {
    if top(from) == top(to) {
        return true;
    }
    let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == top(from)) else {
        return false;
    };
    allowed.iter().any(|a| match a.strip_suffix('!') {
        Some(root) => to == root,
        None => top(to) == *a,
    })
}

#[test]
fn imports_point_down_the_layers() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (m, deps) in &graph.edges {
        if !ALLOWED.iter().any(|(name, _)| *name == top(m)) {
            wrong.push(format!(
                "{m}: a top-level module ARCHITECTURE.md does not list"
            ));
        }
        wrong.extend(
            deps.iter()
                .filter(|d| !allowed(m, d))
                .map(|d| format!("{m} → {d}")),
        );
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    // The parser: grouped, nested and inline paths; comments and strings are not imports.
    let known: BTreeSet<String> = ["store", "store::runs", "domain", "domain::run", "http"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = code_of(
        "use crate::store::{runs, Pool};\n// crate::http::x\nlet s = \"crate::http\";\n\
         fn f() { crate::domain::run::Phase::Queued; }",
    );
    let deps = dependencies("service::runs", &code, &known);
    assert_eq!(
        deps.into_iter().collect::<Vec<_>>(),
        ["domain::run", "store", "store::runs"]
    );
    // The rules: a cycle is found; `store!` allows the root only.
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    assert!(allowed("http::runs", "store"));
    assert!(!allowed("http::runs", "store::runs"));
    assert!(!allowed("service::runs", "jobs"));
    assert!(allowed("jobs::worker", "service::runs"));
    // The finer rules read paths: an engine function, a store item outside the queue.
    let store_code = code_of(
        "use crate::segmentation::model::Model;\nuse crate::segmentation::metrics::adjusted_rand_index;",
    );
    assert_eq!(
        engine_functions(&store_code),
        ["metrics::adjusted_rand_index"]
    );
    let grouped = code_of("use crate::segmentation::preprocess::{Columns, Ids, columns_of};");
    assert_eq!(engine_functions(&grouped), ["preprocess::columns_of"]);
    let jobs_code = code_of(
        "use crate::store::queue::{self, Claim};\nfn f(db: &crate::store::Pool) { crate::store::runs::find(db); }",
    );
    assert_eq!(
        store_items_outside_queue(&jobs_code),
        ["Pool", "runs::find"]
    );
}

/// Every `crate::<root>::…` path the code names, with grouped imports expanded
/// (`crate::a::{b, c::d}` gives `b` and `c::d`), as the part after `crate::<root>::`.
fn paths_under(code: &str, root: &str) -> Vec<String> {
    let prefix = format!("crate::{root}::");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(&prefix) {
        rest = &rest[at + prefix.len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let after = &rest[path.len()..];
        if path.ends_with("::") && after.starts_with('{') {
            let group: String = after[1..].chars().take_while(|c| *c != '}').collect();
            for item in group.split(',') {
                let item = item.trim().split(" as ").next().unwrap().trim();
                if item == "self" {
                    found.push(path.trim_end_matches(':').to_owned());
                } else if !item.is_empty() {
                    found.push(format!("{path}{item}"));
                }
            }
        } else if !path.is_empty() {
            found.push(path.trim_end_matches(':').to_owned());
        }
    }
    found
}

/// Engine paths named in `code` that end in a function or module item written in snake
/// case (`metrics::adjusted_rand_index`); types (`model::Model`) end in upper case.
fn engine_functions(code: &str) -> Vec<String> {
    paths_under(code, "segmentation")
        .into_iter()
        .filter(|p| {
            let parts: Vec<&str> = p.split("::").collect();
            // A module alone (`crate::segmentation::model`) is a path to a type's home.
            parts.len() > 1
                && parts
                    .last()
                    .is_some_and(|l| l.starts_with(|c: char| c.is_lowercase()))
        })
        .collect()
}

/// Store paths named in `code` outside the run queue's (`store::queue::…`).
fn store_items_outside_queue(code: &str) -> Vec<String> {
    paths_under(code, "store")
        .into_iter()
        .filter(|p| p != "queue" && !p.starts_with("queue::"))
        .collect()
}

/// `store/` is SQL and row mapping: it may hold the engine's serde types (a model, the
/// snapshot's columns) but never calls into the engine; deciding with its results is the
/// service's.
#[test]
fn the_store_calls_no_engine_function() {
    let mut files = Vec::new();
    sources(&src().join("store"), &mut files);
    let calls: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            engine_functions(&code)
                .into_iter()
                .map(move |p| format!("{}: segmentation::{p}", f.display()))
        })
        .collect();
    assert!(calls.is_empty(), "the store calls the engine: {calls:?}");
}

/// `jobs/` runs queue loops only: of the store it names the queue (claims, leases,
/// give-backs); a run's steps are `service::runs`'.
#[test]
fn jobs_name_only_the_queue_of_the_store() {
    let mut files = Vec::new();
    sources(&src().join("jobs"), &mut files);
    let named: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            store_items_outside_queue(&code)
                .into_iter()
                .map(move |p| format!("{}: store::{p}", f.display()))
        })
        .collect();
    assert!(
        named.is_empty(),
        "jobs/ names the store beyond its queue: {named:?}"
    );
}

/// The longest a source file may be.
const MAX_LINES: usize = 450;

/// A file holds one concern: none grows past [`MAX_LINES`] (split it by concern instead).
#[test]
fn no_source_file_is_longer_than_450_lines() {
    let long: Vec<String> = all_sources()
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split by concern: {long:?}");
}

/// The engine is pure (no HTTP, no SQL, no files, no runtime): its manifest names none of
/// the crates that do IO, and it cannot import the service (Cargo forbids the cycle).
#[test]
fn the_engine_crate_depends_on_no_io_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/Cargo.toml"))
            .unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("engine/Cargo.toml has [dependencies]")
        .split("\n[")
        .next()
        .unwrap();
    let io: Vec<&str> = [
        "sqlx",
        "actix",
        "tokio",
        "reqwest",
        "hyper",
        "plotters",
        "segstore ",
    ]
    .into_iter()
    .filter(|name| {
        dependencies
            .lines()
            .any(|l| l.trim_start().starts_with(name.trim_end()))
    })
    .collect();
    assert!(io.is_empty(), "engine/Cargo.toml depends on {io:?}");
}

/// `unsafe` stays where ARCHITECTURE.md lists it, each with its reason: the engine's AVX2
/// kernel, the CSV parser's `set_len`, and three allocator and scheduler calls to libc.
#[test]
fn unsafe_code_is_only_where_it_is_listed() {
    let listed = [
        "engine/src/kmeans/avx2.rs",
        "src/ingest/dataset/mod.rs",
        "src/startup/mod.rs",
        "src/jobs/worker.rs",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found: Vec<String> = all_sources()
        .iter()
        .filter(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            code.contains("unsafe {") || code.contains("unsafe fn")
        })
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    let unlisted: Vec<&String> = found
        .iter()
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "`unsafe` outside the listed files: {unlisted:?}"
    );
    for f in listed {
        assert!(
            found.iter().any(|x| x == f),
            "{f} is listed but holds no `unsafe` any more"
        );
    }
}
