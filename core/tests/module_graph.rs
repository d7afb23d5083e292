//! The top-level modules of taipei-core (`store`, `net`, `outbox`, `login`, …) must not
//! import each other in a cycle: a capability is meant to be built, tested and gated by
//! a feature on its own, which a cycle makes impossible.
//!
//! This builds the graph from the sources (no extra tool to install): every
//! `crate::…` path (in `use` lists, groups and expressions), root re-exports such as
//! `crate::Error` resolved to the module that defines them, and `super::` hops that
//! climb out of a module. Test modules are left out (a test may reach anything). It
//! fails naming the cycle.
//!
//! The graph is not acyclic yet: the edges in [`KNOWN_BACK_EDGES`] close today's
//! cycles (the capabilities reach `Client` internals; `error` wraps each capability's
//! error while the capabilities return it). They are taken out before the check, and
//! the test also fails when one of them disappears, so the list only ever shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges that close today's cycles, to be removed by giving each capability a narrow
/// context instead of `client::Inner` and an error of its own instead of `crate::Error`.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[
    ("approval", "client"),
    ("approval", "error"),
    ("attendance", "client"),
    ("attendance", "error"),
    ("login", "client"),
    ("login", "error"),
    ("meetings", "client"),
    ("meetings", "error"),
    ("wallet", "client"),
    ("wallet", "error"),
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module path of a source file: `a.rs` and `a/mod.rs` → `[a]`, `a/b.rs` → `[a, b]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Code without line comments and without the trailing `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
            break;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The first identifier of each item of a `{a, b::c, d::{e}}` group starting at `s[0] == '{'`.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth > 1 {
                    item.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    heads.push(std::mem::take(&mut item));
                    break;
                }
                item.push(c);
            }
            ',' if depth == 1 => heads.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    heads
        .iter()
        .map(|i| i.trim().chars().take_while(|c| is_ident(*c)).collect::<String>())
        .filter(|h| !h.is_empty() && h != "self")
        .collect()
}

/// The names a path step at `rest` refers to: one identifier, or a group's heads.
fn heads_at(rest: &str) -> Vec<String> {
    if rest.starts_with('{') {
        group_heads(rest)
    } else {
        let head: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if head.is_empty() { Vec::new() } else { vec![head] }
    }
}

/// Root-level names of `crate::` paths and `super::` hops that reach the crate root,
/// seen from a file of module path `module`.
fn root_references(code: &str, module: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let starts_path = |i: usize| i == 0 || !(is_ident(bytes[i - 1] as char) || bytes[i - 1] == b':');
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        if rest.starts_with("crate::") && starts_path(i) {
            found.extend(heads_at(&rest["crate::".len()..]));
            i += "crate::".len();
        } else if rest.starts_with("super::") && starts_path(i) {
            let mut hops = 0;
            let mut at = rest;
            while let Some(next) = at.strip_prefix("super::") {
                hops += 1;
                at = next;
            }
            // `super::` of module a::b is a; of module a it is the root.
            if hops >= module.len() {
                found.extend(heads_at(at));
            }
            i += rest.len() - at.len();
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// `pub use module::Name` and `pub use module::{A, B}` at the root: Name → module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code_of(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else { continue };
        let names: Vec<String> = if names.starts_with('{') {
            names.trim_matches(|c| c == '{' || c == '}').split(',').map(|n| n.trim().to_owned()).collect()
        } else {
            vec![names.rsplit("::").next().unwrap_or_default().trim().to_owned()]
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            map.insert(name, module.trim().to_owned());
        }
    }
    map
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("core/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of core's top-level modules, from its sources.
fn core_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(f.strip_prefix(&src).ok()?).first().cloned())
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let module = module_path(file.strip_prefix(&src).expect("under src"));
        let Some(top) = module.first() else { continue }; // lib.rs is the root, not a module
        let code = code_of(&std::fs::read_to_string(file).expect("a source file"));
        let edges = graph.entry(top.clone()).or_default();
        for name in root_references(&code, &module) {
            let target = if modules.contains(&name) { Some(&name) } else { reexports.get(&name) };
            if let Some(target) = target.filter(|t| *t != top && modules.contains(*t)) {
                edges.insert(target.clone());
            }
        }
    }
    graph
}

/// One cycle of `graph`, as `a → b → … → a`, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(node: &'a str, graph: &'a Graph, state: &mut BTreeMap<&'a str, bool>, stack: &mut Vec<&'a str>) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None, // finished: no cycle through it
            Some(false) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(node, false);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node, true);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn core_modules_import_each_other_without_a_cycle() {
    let mut graph = core_graph();
    assert!(graph.len() >= 10, "too few modules found: {graph:?}");
    for (from, to) in KNOWN_BACK_EDGES {
        let removed = graph.get_mut(*from).is_some_and(|edges| edges.remove(*to));
        assert!(removed, "{from} → {to} is gone: take it off KNOWN_BACK_EDGES");
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("core's modules import each other in a cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_scanner_sees_every_kind_of_reference() {
    let code = code_of(
        "use crate::{error::Error, net::{self, Api}};\n\
         use super::super::store::Store; // crate::comment is not code\n\
         fn f() -> crate::Error { crate::outbox::x(); super::IdentityError }\n\
         #[cfg(test)]\nmod tests { use crate::wallet; }\n",
    );
    let refs = root_references(&code, &["a".into(), "b".into()]);
    assert_eq!(refs, ["error", "net", "store", "Error", "outbox"]);
    // From a top-level module one `super::` reaches the root.
    assert_eq!(root_references("use super::events::Event;", &["login".into()]), ["events"]);
    assert_eq!(root_references("taipei_crate::x; my_super::y", &["login".into()]), Vec::<String>::new());
    let lib = "pub mod error;\npub use error::Error;\npub use outbox::{OutboxError, SyncReport};\n";
    let map = root_reexports(lib);
    assert_eq!(map.get("Error").map(String::as_str), Some("error"));
    assert_eq!(map.get("SyncReport").map(String::as_str), Some("outbox"));
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    for (a, b) in [("client", "login"), ("login", "error"), ("error", "net"), ("error", "login"), ("net", "store")] {
        graph.entry(a.into()).or_default().insert(b.into());
    }
    assert_eq!(find_cycle(&graph).unwrap(), ["login", "error", "login"]);
    graph.get_mut("error").unwrap().remove("login");
    assert_eq!(find_cycle(&graph), None);
}
