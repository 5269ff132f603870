//! The docs stay true to the repository: the architecture diagram names
//! every hardware block's file (and its rendered SVG shows every node of its
//! source), every relative link in the README and `docs/` resolves, and the
//! README stays a newcomer's page (about 250 lines).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `(id, label, file)` of every node statement in the DOT text.
fn dot_nodes(dot: &str) -> Vec<(String, String, String)> {
    let attr = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_string())
    };
    dot.lines()
        .map(str::trim)
        .filter(|l| l.contains("file=\""))
        .map(|l| (l.split_whitespace().next().unwrap_or("").to_string(), attr(l, "label").unwrap_or_default(), attr(l, "file").unwrap_or_default()))
        .collect()
}

#[test]
fn the_architecture_diagram_names_every_block_and_its_svg_is_current() {
    let dot = read("docs/architecture.dot");
    // Graphviz writes '-' as "&#45;" besides the usual escapes.
    let svg = read("docs/architecture.svg").replace("&#45;", "-").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let nodes = dot_nodes(&dot);
    assert!(nodes.len() > 10, "no nodes found in docs/architecture.dot");
    for (id, label, file) in &nodes {
        assert!(root().join(file).exists(), "docs/architecture.dot: node {id} names {file}, which does not exist");
        assert!(svg.contains(&format!("<!-- {id} -->")), "docs/architecture.svg has no node {id}: render it again (dot -Tsvg docs/architecture.dot -o docs/architecture.svg)");
        for line in label.split("\\n") {
            assert!(svg.contains(&format!(">{line}</text>")), "docs/architecture.svg lacks the label line {line:?} of node {id}: render it again");
        }
    }
    // Every hardware block has its file in the diagram (not the helpers:
    // Verilog text, vectors, the ECP5 DSP instance text, a test bench).
    let named: Vec<&str> = nodes.iter().map(|n| n.2.as_str()).collect();
    for entry in std::fs::read_dir(root().join("hdl/src")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs") && !["lib.rs", "vecs.rs", "verilog.rs", "ecp5_dsp.rs", "requant_bench.rs"].contains(&name.as_str()) {
            let file = format!("hdl/src/{name}");
            assert!(named.contains(&file.as_str()), "docs/architecture.dot does not show {file}: add its block to the diagram");
        }
    }
}

/// The relative link targets of Markdown text: `](target)` not starting
/// with a scheme or `#`, without their `#anchor`.
fn relative_links(md: &str) -> Vec<String> {
    md.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split('#').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut pages = vec![PathBuf::from("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            pages.push(p.strip_prefix(root()).unwrap().to_path_buf());
        }
    }
    assert!(pages.len() >= 7, "README and the docs: {pages:?}");
    for page in pages {
        let text = read(page.to_str().unwrap());
        let dir = root().join(&page).parent().unwrap().to_path_buf();
        for link in relative_links(&text) {
            assert!(dir.join(&link).exists(), "{}: the link {link} leads nowhere", page.display());
        }
    }
}

#[test]
fn the_readme_is_a_newcomers_page() {
    let lines = read("README.md").lines().count();
    assert!(lines <= 260, "README.md has {lines} lines: move detail into docs/ (the README is about 250 lines at most)");
}

#[test]
fn link_parsing() {
    assert_eq!(relative_links("see [a](docs/a.md#x) and [b](https://x.org) [c](#top) ![d](bench/t.svg)"), vec!["docs/a.md", "bench/t.svg"]);
}
