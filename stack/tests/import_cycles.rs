//! The files of the `tapstack` library import each other in layers: no file imports another
//! that (directly or through others) imports it back. A file "imports" another when it names an
//! item defined there: in a `use` (followed through `pub use` re-exports to the defining file)
//! or in a path in its code (`crate::iface::route::source_for`, `super::trace::drain`,
//! `synq::Key`). Declaring a child module (`mod x;`) and implementing a type of another file
//! (`impl TcpStack` in `api.rs`) are not imports; test modules and test files are left out.
//!
//! Run: `cargo test -p tapstack --test import_cycles`. On failure it prints every cycle with the
//! names each file takes from the next. The usual mend: move the shared plain types to a leaf
//! file that imports nothing from its users, and re-export them from the old place.
//!
//! This reads the source as text (a small lexer, no macro expansion): enough for this crate's
//! style, where every cross-file name comes through `use` or a `crate::`/`super::` path.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Source text with comments removed and string/char literals emptied (`""`, `' '`), so
/// that neither can hide or fake an import; `#[path = "..."]` values are kept apart first.
fn clean(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&b, i) {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < b.len() {
                if b[j] == '"' {
                    let mut k = 0;
                    while k < hashes && b.get(j + 1 + k) == Some(&'#') {
                        k += 1;
                    }
                    if k == hashes {
                        j += 1 + hashes;
                        break 'raw;
                    }
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Index of the `}` closing the `{` at `open`.
fn matching_brace(s: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (k, &c) in s.iter().enumerate().skip(open) {
        if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    s.len() - 1
}

/// Removes every item marked `#[cfg(test)]` (test modules, test-only imports).
fn strip_tests(s: &str) -> String {
    let mut s = s.to_string();
    while let Some(at) = s.find("#[cfg(test)]") {
        let bytes = s.as_bytes();
        let from = at + "#[cfg(test)]".len();
        let semi = s[from..].find(';').map(|k| k + from);
        let brace = s[from..].find('{').map(|k| k + from);
        let end = match (semi, brace) {
            (Some(x), Some(y)) if x < y => x,
            (_, Some(y)) => matching_brace(bytes, y),
            (Some(x), None) => x,
            (None, None) => s.len() - 1,
        };
        s.replace_range(at..=end, " ");
    }
    s
}

/// One module of the crate that has a file of its own.
#[derive(Default)]
struct Module {
    file: PathBuf,
    /// Names of the items it defines (inline modules included).
    defs: BTreeSet<String>,
    /// Child modules with a file of their own.
    children: BTreeMap<String, Vec<String>>,
    /// `pub use` re-exports: name as seen from outside -> path (relative, as written).
    reexports: Vec<(String, Vec<String>)>,
    /// Every path it names: (path as written, relative to this module).
    refs: Vec<Vec<String>>,
}

/// Expands a use tree (`a::{b, c::{d@e, self}}`, `@` for `as`) into (path, name bound) pairs.
fn expand_use(tree: &str) -> Vec<(Vec<String>, String)> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    expand(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand(t: &str, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    if let Some(open) = t.find('{') {
        let head: Vec<String> = t[..open].split("::").filter(|x| !x.is_empty()).map(String::from).collect();
        let close = matching_brace(t.as_bytes(), open);
        let inner = &t[open + 1..close];
        let n = prefix.len();
        prefix.extend(head);
        // Split inner on top-level commas.
        let mut depth = 0;
        let mut start = 0;
        let ib = inner.as_bytes();
        for k in 0..=ib.len() {
            let end = k == ib.len();
            if !end && ib[k] == b'{' {
                depth += 1;
            } else if !end && ib[k] == b'}' {
                depth -= 1;
            }
            if end || (ib[k] == b',' && depth == 0) {
                let part = &inner[start..k];
                if !part.is_empty() {
                    expand(part, prefix, out);
                }
                start = k + 1;
            }
        }
        prefix.truncate(n);
    } else {
        let (p, alias) = match t.split_once('@') {
            Some((p, a)) => (p.to_string(), Some(a.to_string())),
            None => (t.to_string(), None),
        };
        let mut path = prefix.clone();
        for seg in p.split("::").filter(|x| !x.is_empty()) {
            if seg == "self" && !path.is_empty() {
                continue;
            }
            path.push(seg.to_string());
        }
        let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
        out.push((path, name));
    }
}

/// Marks `x as y` as `x@y` before `expand_use` drops the whitespace.
fn normalize_as(tree: &str) -> String {
    tree.replace(" as ", "@")
}

fn parse_module(file: &Path) -> (Module, Vec<(String, Option<String>)>) {
    let raw = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // `#[path = "x.rs"] mod name;` before literals are emptied.
    let mut paths = BTreeMap::new();
    let lines: Vec<&str> = raw.lines().collect();
    for (k, l) in lines.iter().enumerate() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("#[path = \"") {
            let p = rest.split('"').next().unwrap_or("").to_string();
            if let Some(m) = lines[k + 1..].iter().map(|x| x.trim()).find(|x| !x.starts_with("#[")) {
                let name = m.trim_start_matches("pub(crate) ").trim_start_matches("pub ").trim_start_matches("mod ");
                paths.insert(name.trim_end_matches(';').to_string(), p);
            }
        }
    }
    let text = strip_tests(&clean(&raw));
    let mut m = Module { file: file.to_path_buf(), ..Module::default() };
    let mut mods = Vec::new();
    let toks: Vec<&str> = text.split(|c: char| !is_ident(c) && c != '!').filter(|x| !x.is_empty()).collect();
    for w in toks.windows(2) {
        if matches!(w[0], "struct" | "enum" | "fn" | "const" | "static" | "type" | "trait" | "union" | "macro_rules!") {
            m.defs.insert(w[1].to_string());
        }
    }
    // Module declarations: `mod x;` (a file) or `mod x {` (inline: its items count as ours).
    let b = text.as_bytes();
    let mut k = 0;
    while let Some(p) = text[k..].find("mod ") {
        let at = k + p;
        k = at + 4;
        if at > 0 && is_ident(b[at - 1] as char) {
            continue;
        }
        let name: String = text[at + 4..].chars().take_while(|&c| is_ident(c)).collect();
        let after = text[at + 4 + name.len()..].trim_start();
        if name.is_empty() {
            continue;
        }
        if after.starts_with(';') {
            mods.push((name.clone(), paths.get(&name).cloned()));
        } else if after.starts_with('{') {
            m.defs.insert(name);
        }
    }
    // `use` declarations (any visibility), then paths in the code.
    let mut code = text.clone();
    let mut k = 0;
    while let Some(p) = code[k..].find("use ") {
        let at = k + p;
        if at > 0 && is_ident(code.as_bytes()[at - 1] as char) {
            k = at + 4;
            continue;
        }
        let Some(semi) = code[at..].find(';').map(|x| x + at) else { break };
        let tree = normalize_as(&code[at + 4..semi]);
        let public = code[..at].trim_end().ends_with("pub") || code[..at].trim_end().ends_with(')');
        for (path, name) in expand_use(&tree) {
            if public {
                m.reexports.push((name, path.clone()));
            }
            m.refs.push(path);
        }
        code.replace_range(at..=semi, &" ".repeat(semi - at + 1));
        k = at;
    }
    let child_names: BTreeSet<String> = mods.iter().map(|(n, _)| n.clone()).collect();
    let cb: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < cb.len() {
        if is_ident(cb[i]) && (i == 0 || !(is_ident(cb[i - 1]) || cb[i - 1] == ':' || cb[i - 1] == '$')) {
            let mut path = Vec::new();
            let mut j = i;
            loop {
                let s = j;
                while j < cb.len() && is_ident(cb[j]) {
                    j += 1;
                }
                path.push(cb[s..j].iter().collect::<String>());
                if j + 2 < cb.len() && cb[j] == ':' && cb[j + 1] == ':' && is_ident(cb[j + 2]) {
                    j += 2;
                } else {
                    break;
                }
            }
            if path.len() > 1
                && (matches!(path[0].as_str(), "crate" | "super" | "self") || child_names.contains(&path[0]))
            {
                m.refs.push(path);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    (m, mods)
}

struct Crate {
    /// Module path (without `crate`) -> module.
    mods: BTreeMap<Vec<String>, Module>,
}

impl Crate {
    fn load(root: &Path) -> Crate {
        let mut c = Crate { mods: BTreeMap::new() };
        c.add(Vec::new(), root.join("lib.rs"), root.to_path_buf());
        c
    }
    /// `dir`: where this module's children without `#[path]` live.
    fn add(&mut self, path: Vec<String>, file: PathBuf, dir: PathBuf) {
        let (mut m, mods) = parse_module(&file);
        let here = file.parent().unwrap().to_path_buf();
        for (name, p) in mods {
            let (cf, cd) = match p {
                Some(p) => {
                    let f = here.join(&p);
                    let d = f.with_extension("");
                    (f, d)
                }
                None if dir.join(format!("{name}.rs")).exists() => (dir.join(format!("{name}.rs")), dir.join(&name)),
                None => (dir.join(&name).join("mod.rs"), dir.join(&name)),
            };
            let mut cp = path.clone();
            cp.push(name.clone());
            m.children.insert(name, cp.clone());
            self.add(cp, cf, cd);
        }
        self.mods.insert(path, m);
    }

    /// A path as written in module `at` made absolute (None: not of this crate).
    fn absolute(&self, at: &[String], p: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = at.to_vec();
        let mut rest = p;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) if self.mods[at].children.contains_key(first) => {}
            _ => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what the absolute path names (through re-exports).
    fn resolve(&self, p: &[String], depth: usize) -> Option<(PathBuf, String)> {
        let mut m = Vec::new();
        let mut k = 0;
        while k < p.len() && self.mods.get(&m).is_some_and(|x| x.children.contains_key(&p[k])) {
            m.push(p[k].clone());
            k += 1;
        }
        let module = self.mods.get(&m)?;
        let Some(name) = p.get(k) else { return Some((module.file.clone(), "(module)".into())) };
        if name == "*" || module.defs.contains(name) || depth > 16 {
            return Some((module.file.clone(), name.clone()));
        }
        for (alias, target) in &module.reexports {
            if alias == name {
                if let Some(abs) = self.absolute(&m, target) {
                    let mut abs = abs;
                    abs.extend(p[k + 1..].iter().cloned());
                    return self.resolve(&abs, depth + 1);
                }
            }
        }
        Some((module.file.clone(), name.clone()))
    }
}

#[test]
fn no_import_cycle_between_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let c = Crate::load(&root);
    assert!(c.mods.len() > 50, "read only {} modules", c.mods.len());
    // file -> file -> names taken.
    let mut edges: BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> = BTreeMap::new();
    for (at, m) in &c.mods {
        let e = edges.entry(m.file.clone()).or_default();
        for r in &m.refs {
            let Some(abs) = c.absolute(at, r) else { continue };
            if let Some((f, name)) = c.resolve(&abs, 0) {
                if f != m.file {
                    e.entry(f).or_default().insert(name);
                }
            }
        }
    }
    // The reading itself: a few arrows that exist, so a broken reader cannot pass by seeing none.
    let has = |a: &str, b: &str| edges.get(&root.join(a)).is_some_and(|e| e.contains_key(&root.join(b)));
    assert!(has("socket/tcp/demux.rs", "socket/tcp/table.rs"), "reader lost `use super::table::...`");
    assert!(has("socket/udp.rs", "iface/route.rs"), "reader lost `crate::iface::route::source_for(..)`");
    assert!(has("iface/mod.rs", "socket/tcp/table.rs"), "reader lost a re-export (tcp::TcpStack)");
    // Tarjan's strongly connected components.
    let files: Vec<PathBuf> = edges.keys().cloned().collect();
    let idx: BTreeMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (f, i)).collect();
    let adj: Vec<Vec<usize>> =
        files.iter().map(|f| edges[f].keys().filter_map(|t| idx.get(t).copied()).collect()).collect();
    let n = files.len();
    let (mut index, mut low, mut on) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut next, mut sccs) = (Vec::new(), 0, Vec::new());
    fn strong(
        v: usize,
        adj: &[Vec<usize>],
        st: &mut (&mut Vec<usize>, &mut Vec<usize>, &mut Vec<bool>, &mut Vec<usize>, &mut usize),
        sccs: &mut Vec<Vec<usize>>,
    ) {
        st.0[v] = *st.4;
        st.1[v] = *st.4;
        *st.4 += 1;
        st.3.push(v);
        st.2[v] = true;
        for &w in &adj[v] {
            if st.0[w] == usize::MAX {
                strong(w, adj, st, sccs);
                st.1[v] = st.1[v].min(st.1[w]);
            } else if st.2[w] {
                st.1[v] = st.1[v].min(st.0[w]);
            }
        }
        if st.1[v] == st.0[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.3.pop() {
                st.2[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                sccs.push(comp);
            }
        }
    }
    for v in 0..n {
        if index[v] == usize::MAX {
            strong(v, &adj, &mut (&mut index, &mut low, &mut on, &mut stack, &mut next), &mut sccs);
        }
    }
    let rel = |f: &PathBuf| f.strip_prefix(&root).unwrap_or(f).display().to_string();
    let mut report = String::new();
    for comp in &sccs {
        let set: BTreeSet<usize> = comp.iter().copied().collect();
        report += &format!("cycle of {} files:\n", comp.len());
        for &v in &set {
            for (t, names) in &edges[&files[v]] {
                if idx.get(t).is_some_and(|w| set.contains(w)) {
                    report += &format!("  {} -> {}: {:?}\n", rel(&files[v]), rel(t), names);
                }
            }
        }
    }
    assert!(sccs.is_empty(), "files of src/ that import each other:\n{report}");
}
