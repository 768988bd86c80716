//! The library's modules form no cycle: a module that needs another's type does not also
//! provide it types, so each file can be read (and changed) knowing only what it imports.
//!
//! The graph comes from the source itself: in `src/*.rs` (each file one module of the flat
//! library), every `use crate::x...` and every `crate::x::` path, `use crate::{x, y::z}` groups
//! included, is an edge to module `x`. Comments do not count (a doc link is no dependency), and
//! neither does a file's `#[cfg(test)] mod tests`, which may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the modules its code names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a file without its comment lines and without its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(end) => &text[..end],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The leading identifier of `text`.
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first-level items of a `{...}` group that starts at `text[0]`, and the rest.
fn group_items(text: &str) -> Vec<&str> {
    let mut depth = 0;
    let mut items = Vec::new();
    let mut start = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&text[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The modules that a file's code names through `crate::`.
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if rest.starts_with('{') {
            found.extend(group_items(rest).into_iter().map(|i| ident(i).to_string()));
        } else {
            found.insert(ident(rest).to_string());
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// Builds the graph from `(module, source text)` pairs. Names that are not modules (items
/// re-exported at the crate root, such as `crate::Error`) and a module's own name are left out.
fn graph<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Graph {
    let files: Vec<(&str, &str)> = files.into_iter().collect();
    let modules: BTreeSet<&str> = files.iter().map(|(name, _)| *name).collect();
    files
        .iter()
        .map(|(name, text)| {
            let mut edges = references(&code_of(text));
            edges.retain(|to| to != name && modules.contains(to.as_str()));
            (name.to_string(), edges)
        })
        .collect()
}

/// Every cycle of the graph, one per strongly connected component of two or more modules, each
/// written as its modules and one of its paths: `a, b, c (for example a -> b -> a)`, sorted.
fn cycles(graph: &Graph) -> Vec<String> {
    // Tarjan's algorithm, recursive: the graph has a few dozen nodes.
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<&'g str>>,
    }
    fn visit<'g>(s: &mut State<'g>, node: &'g str) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        s.on_stack.insert(node);
        for next in s.graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !s.graph.contains_key(next) {
                continue;
            }
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    let mut found: Vec<String> = state
        .components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| cycle_path(graph, &component))
        .collect();
    found.sort();
    found
}

/// The component's modules, and a shortest path from its first module (by name) back to
/// itself inside it.
fn cycle_path(graph: &Graph, component: &[&str]) -> String {
    let members: BTreeSet<&str> = component.iter().copied().collect();
    let start = *members.first().expect("a component has a member");
    // Breadth first from start's successors, remembering each module's predecessor.
    let mut before: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in &graph[node] {
            let next = next.as_str();
            if !members.contains(next) || before.contains_key(next) {
                continue;
            }
            before.insert(next, node);
            if next == start {
                queue.clear();
                break;
            }
            queue.push_back(next);
        }
    }
    let mut path = vec![start];
    let mut node = before[start];
    while node != start {
        path.push(node);
        node = before[node];
    }
    path.push(start);
    path.reverse();
    let members: Vec<&str> = members.into_iter().collect();
    format!("{} (for example {})", members.join(", "), path.join(" -> "))
}

#[test]
fn the_library_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(
        files.len() > 10,
        "read {} files from {}",
        files.len(),
        src.display()
    );
    let graph = graph(files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    // The graph is read, not empty: the run modules reach the API client.
    assert!(graph["session"].contains("api"), "{graph:?}");
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "the library's modules import each other in a circle; move the shared type into the \
         module it belongs to, or into one both import:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn a_cycle_added_on_purpose_is_found_and_named() {
    let files = [
        ("lib", "mod config;\nmod output;\nmod cli;\n"),
        (
            "config",
            "//! Uses crate::nothing in a comment.\nuse crate::{cli::Args, error::Error};\n",
        ),
        (
            "cli",
            "use crate::fail_closed::OnFailure;\nfn f() -> crate::config::Settings {}\n",
        ),
        ("fail_closed", "use std::io;\n"),
        ("error", "use crate::text;\n"),
        (
            "text",
            "#[cfg(test)]\nmod tests {\n    use crate::error::Error;\n}\n",
        ),
        (
            "output",
            "use crate::{config::{Verbosity, Settings}, text::echo};\n",
        ),
    ];
    let graph = graph(files);
    assert_eq!(
        graph["config"],
        BTreeSet::from(["cli".to_string(), "error".to_string()])
    );
    assert_eq!(
        graph["output"],
        BTreeSet::from(["config".to_string(), "text".to_string()])
    );
    // The test module's import of error is no edge, so error <-> text is no cycle.
    assert!(graph["text"].is_empty(), "{graph:?}");
    assert_eq!(
        cycles(&graph),
        vec!["cli, config (for example cli -> config -> cli)".to_string()]
    );

    let mut acyclic = graph.clone();
    acyclic.get_mut("cli").unwrap().remove("config");
    assert_eq!(cycles(&acyclic), Vec::<String>::new());

    let mut longer = acyclic;
    longer
        .get_mut("fail_closed")
        .unwrap()
        .insert("output".into());
    longer.get_mut("output").unwrap().insert("cli".into());
    assert_eq!(
        cycles(&longer),
        vec![
            "cli, config, fail_closed, output (for example cli -> fail_closed -> output -> cli)"
                .to_string()
        ]
    );
}
