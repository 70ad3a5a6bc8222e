//! The repository speaks for itself: every relative link in its Markdown resolves to a
//! file or directory inside the repository (and a `#anchor` to a heading of the file it
//! names), and nothing in it points at material outside it.
//!
//! Standard library only. The Markdown is read the way a renderer reads it as far as
//! links go: fenced code blocks and inline code spans are skipped, so code that merely
//! looks like a link (`array[i](x)`) is not one.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The repository root: the host crate's parent.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate has a parent directory")
        .to_path_buf()
}

/// Directories never walked: build output, installed packages, and hidden ones (`.git`).
fn skipped_dir(name: &str) -> bool {
    name == "target" || name == "node_modules" || name.starts_with('.')
}

/// Every file under `dir` (recursively) whose name passes `keep`, sorted.
fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skipped_dir(&entry.file_name().to_string_lossy()) {
                walk(&path, keep, out);
            }
        } else if keep(&path) {
            out.push(path);
        }
    }
}

/// README.md, docs/**, example-jobs/** and any other Markdown file of the repository.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(
        root,
        &|p| p.extension().is_some_and(|e| e == "md"),
        &mut files,
    );
    files
}

/// A path relative to the root, for messages.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `path` with `.` and `..` resolved lexically (no file system access, so a missing
/// file still gets a meaningful path).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

// ---- reading Markdown --------------------------------------------------------------

/// One link found in a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    /// 1-based line of the link's destination.
    line: usize,
    /// The destination as written.
    target: String,
}

/// The text with what is not prose blanked out, byte for byte (newlines kept, so
/// offsets and line numbers stay those of the file): fenced code blocks, inline code
/// spans, HTML comments and backslash-escaped characters.
fn prose_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (fence, marker) {
            (None, Some(c)) if run >= 3 => {
                fence = Some((c, run));
                out.push_str(&blank(line));
            }
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None;
                out.push_str(&blank(line));
            }
            (Some(_), _) => out.push_str(&blank(line)),
            (None, _) => out.push_str(line),
        }
    }
    blank_code_spans(&blank_comments(&blank_escapes(&out)))
}

/// Every character but newlines replaced by spaces, one per byte (offsets stay those
/// of the original text).
fn blank(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => "\n".to_owned(),
            c => " ".repeat(c.len_utf8()),
        })
        .collect()
}

fn blank_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) if next.is_ascii_punctuation() => {
                    out.push(' ');
                    out.push(' ');
                }
                Some(next) => {
                    out.push(c);
                    out.push(next);
                }
                None => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn blank_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        let Some(len) = rest[start..].find("-->") else {
            break;
        };
        let end = start + len + 3;
        out.push_str(&rest[..start]);
        out.push_str(&blank(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Inline code spans (a run of n backticks up to the next run of exactly n, within a
/// paragraph) become `x`s, so that link text made of code stays non-empty.
fn blank_code_spans(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            let next = text[i..].find('`').map_or(bytes.len(), |n| i + n);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
        let body_start = i + run;
        let paragraph_end = text[body_start..]
            .find("\n\n")
            .map_or(bytes.len(), |n| body_start + n);
        let mut j = body_start;
        let mut close = None;
        while j < paragraph_end {
            if bytes[j] == b'`' {
                let r = bytes[j..].iter().take_while(|b| **b == b'`').count();
                if r == run {
                    close = Some(j);
                    break;
                }
                j += r;
            } else {
                j += 1;
            }
        }
        match close {
            Some(close) => {
                let end = close + run;
                out.push_str(
                    &text[i..end]
                        .chars()
                        .map(|c| match c {
                            '\n' => "\n".to_owned(),
                            c => "x".repeat(c.len_utf8()),
                        })
                        .collect::<String>(),
                );
                i = end;
            }
            None => {
                out.push_str(&text[i..body_start]);
                i = body_start;
            }
        }
    }
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The links of a Markdown text: inline links and images `[text](target)` (also
/// `<target>` and a title after the target), reference definitions `[label]: target`,
/// and `href`/`src` attributes of HTML tags.
fn links(text: &str) -> Vec<Link> {
    let prose = prose_only(text);
    let bytes = prose.as_bytes();
    let mut found = Vec::new();
    // Inline links: a `]` that closes a bracketed text and is followed by `(`. Every `[`
    // is tried, so an image link inside a link's text is found too.
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'['
            && let Some(close) = matching(bytes, i, b'[', b']')
            && let Some(b'(') = bytes.get(close + 1)
            && let Some(end) = matching(bytes, close + 1, b'(', b')')
        {
            let inside = prose[close + 2..end].trim();
            let target = if let Some(rest) = inside.strip_prefix('<') {
                rest.split('>').next().unwrap_or("")
            } else {
                inside.split_whitespace().next().unwrap_or("")
            };
            found.push(Link {
                line: line_of(&prose, close + 2),
                target: target.to_owned(),
            });
        }
    }
    // Reference definitions.
    let mut offset = 0;
    for line in prose.split_inclusive('\n') {
        let t = line.trim_start();
        if line.len() - t.len() <= 3
            && t.starts_with('[')
            && let Some(close) = t.find("]:")
            && close > 1
        {
            let target = t[close + 2..].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            if !target.is_empty() {
                found.push(Link {
                    line: line_of(&prose, offset),
                    target: target.to_owned(),
                });
            }
        }
        offset += line.len();
    }
    // HTML attributes.
    for attribute in ["href=", "src="] {
        let mut from = 0;
        while let Some(at) = prose[from..].find(attribute) {
            let start = from + at + attribute.len();
            from = start;
            let inside_tag = prose[..start].rfind('<') > prose[..start].rfind('>');
            let Some(quote) = prose[start..]
                .chars()
                .next()
                .filter(|q| *q == '"' || *q == '\'')
            else {
                continue;
            };
            if !inside_tag {
                continue;
            }
            if let Some(len) = prose[start + 1..].find(quote) {
                found.push(Link {
                    line: line_of(&prose, start),
                    target: prose[start + 1..start + 1 + len].to_owned(),
                });
            }
        }
    }
    found.sort_by_key(|l| l.line);
    found
}

/// The index of the bracket closing the one at `open`, counting nesting; none across
/// a blank line.
fn matching(bytes: &[u8], open: usize, left: u8, right: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (k, b) in bytes.iter().enumerate().skip(open) {
        match *b {
            b if b == left => depth += 1,
            b if b == right => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            b'\n' if bytes.get(k + 1) == Some(&b'\n') => return None,
            _ => {}
        }
    }
    None
}

/// The anchors a Markdown file defines: GitHub's slug of every ATX heading (with `-1`,
/// `-2` … for repeats), and explicit `id="…"` / `name="…"` attributes.
fn anchors(text: &str) -> Vec<String> {
    let prose = prose_only(text);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (line, shown_line) in prose.lines().zip(text.lines()) {
        let t = line.trim_start();
        if line.len() - t.len() > 3 || !t.starts_with('#') {
            continue;
        }
        let level = t.chars().take_while(|c| *c == '#').count();
        let rest = &shown_line.trim_start()[level..];
        if level > 6 || !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
            continue;
        }
        let slug = slug(rest.trim().trim_end_matches('#').trim());
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    for attribute in ["id=\"", "name=\""] {
        let mut from = 0;
        while let Some(at) = prose[from..].find(attribute) {
            let start = from + at + attribute.len();
            from = start;
            if let Some(len) = prose[start..].find('"') {
                out.push(prose[start..start + len].to_owned());
            }
        }
    }
    out
}

/// GitHub's anchor for a heading: its text as rendered (code marks and link targets
/// dropped), lowercased, with everything but letters, digits, `_`, `-` and spaces
/// removed, and spaces made hyphens.
fn slug(heading: &str) -> String {
    // `[text](target)` renders as `text`.
    let mut rendered = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let bytes = rest.as_bytes();
        match matching(bytes, open, b'[', b']') {
            Some(close) if bytes.get(close + 1) == Some(&b'(') => {
                let end = matching(bytes, close + 1, b'(', b')').unwrap_or(rest.len() - 1);
                rendered.push_str(&rest[..open]);
                rendered.push_str(&rest[open + 1..close]);
                rest = &rest[end + 1..];
            }
            _ => {
                rendered.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    rendered.push_str(rest);
    rendered
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// `%20` and friends decoded (links to files with spaces in their names).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a link leaves the repository by design: a URL with a scheme (`https:`,
/// `mailto:` …) or a protocol-relative `//host/…`.
fn is_external(target: &str) -> bool {
    if target.starts_with("//") {
        return true;
    }
    match target.find(':') {
        Some(colon) => {
            let scheme = &target[..colon];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !target[..colon].contains('/')
        }
        None => false,
    }
}

/// Every broken relative link of the Markdown files under `root`, as one message each:
/// the file and line, the link, and what is missing.
fn broken_links(root: &Path) -> Vec<String> {
    let root = normalize(root);
    let files = markdown_files(&root);
    let mut anchor_cache: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut anchors_of = |path: &Path| -> Vec<String> {
        anchor_cache
            .entry(path.to_path_buf())
            .or_insert_with(|| anchors(&fs::read_to_string(path).unwrap_or_default()))
            .clone()
    };
    let mut problems = Vec::new();
    for file in &files {
        let text = match fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: cannot be read: {e}", shown(file, &root)));
                continue;
            }
        };
        let dir = file.parent().unwrap_or(&root);
        for Link { line, target } in links(&text) {
            let at = format!("{}:{line}: link ({target})", shown(file, &root));
            if target.is_empty() {
                problems.push(format!("{at}: the link has no target"));
                continue;
            }
            if is_external(&target) {
                continue;
            }
            let (path_part, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let path_part = path_part.split('?').next().unwrap_or("");
            let resolved = if path_part.is_empty() {
                file.clone()
            } else if let Some(from_root) = path_part.strip_prefix('/') {
                normalize(&root.join(percent_decode(from_root)))
            } else {
                normalize(&dir.join(percent_decode(path_part)))
            };
            if !resolved.starts_with(&root) {
                problems.push(format!(
                    "{at}: points outside the repository, to {}",
                    resolved.display()
                ));
                continue;
            }
            if !resolved.exists() {
                problems.push(format!(
                    "{at}: no file or directory {} in the repository",
                    shown(&resolved, &root)
                ));
                continue;
            }
            let Some(anchor) = anchor.filter(|a| !a.is_empty()) else {
                continue;
            };
            if resolved.is_file() && resolved.extension().is_some_and(|e| e == "md") {
                let anchor = percent_decode(anchor).to_lowercase();
                let defined = anchors_of(&resolved);
                if !defined.iter().any(|a| a.to_lowercase() == anchor) {
                    problems.push(format!(
                        "{at}: {} has no heading with the anchor #{anchor}",
                        shown(&resolved, &root)
                    ));
                }
            }
        }
    }
    problems
}

/// What must never be named: the team's material outside the repository. Spelled in
/// two pieces so that this file does not name it.
fn outside_marker() -> String {
    [".", ".", "/", "shared"].concat()
}

/// Text files (under `paths`, relative to `root`) that mention the outside material,
/// one message per line found.
fn outside_references(root: &Path, paths: &[&str]) -> Vec<String> {
    let marker = outside_marker();
    let mut files = Vec::new();
    for p in paths {
        let path = root.join(p);
        if path.is_dir() {
            walk(&path, &|_| true, &mut files);
        } else if path.is_file() {
            files.push(path);
        }
    }
    let mut found = Vec::new();
    for file in files {
        // Binary files (plugins, databases) are not text: skip what is not UTF-8.
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains(&marker) {
                found.push(format!(
                    "{}:{}: mentions {marker}, outside the repository: {}",
                    shown(&file, root),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

// ---- the tests ---------------------------------------------------------------------

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let root = root();
    let files = markdown_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("README.md")) && files.len() > 5,
        "found too few Markdown files under {}: {files:?}",
        root.display()
    );
    let problems = broken_links(&root);
    assert!(
        problems.is_empty(),
        "{} broken link(s) in the repository's Markdown:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn nothing_points_at_material_outside_the_repository() {
    let root = root();
    let found = outside_references(
        &root,
        &[
            "README.md",
            "Makefile",
            "Cargo.toml",
            "docs",
            "host",
            "tests",
            "example-jobs",
            "plugin-sdk",
            "wit",
            ".ci",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The checker itself: it finds what it must and nothing else (on a scratch tree).
#[test]
fn the_checker_catches_broken_links() {
    let dir = std::env::temp_dir().join(format!("wasmcron-docs-check-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("docs/sub")).unwrap();
    fs::create_dir_all(dir.join("target")).unwrap();
    fs::write(
        dir.join("docs/sub/there.md"),
        "# There\n\n## Some `code` (here)\n",
    )
    .unwrap();
    fs::write(dir.join("target/ignored.md"), "[gone](nowhere.md)\n").unwrap();
    let marker = outside_marker();
    fs::write(
        dir.join("README.md"),
        format!(
            "# Title\n\n\
             [ok](docs/sub/there.md) [ok dir](docs/sub/) [ok anchor](docs/sub/there.md#some-code-here)\n\
             [self](#title) [web](https://example.com/x) [mail](mailto:a@b.c)\n\
             [`code` text](docs/sub/there.md#there) ![image](docs/sub/there.md)\n\
             a [link whose\ntext wraps](docs/sub/there.md) and `[not](a link)`\n\
             ```bash\n[inside](code block)\n```\n\
             [missing](docs/nothing.md)\n\
             [bad anchor](docs/sub/there.md#nowhere)\n\
             [bad self](#no-such-heading)\n\
             [outside]({marker}/spec.md)\n\
             <a href=\"docs/absent.html\">html</a>\n\
             [ref]: docs/also-missing.md\n"
        ),
    )
    .unwrap();
    let problems = broken_links(&dir);
    let expect = [
        "README.md:11: link (docs/nothing.md): no file or directory docs/nothing.md".to_owned(),
        "README.md:12: link (docs/sub/there.md#nowhere): docs/sub/there.md has no heading with the anchor #nowhere".to_owned(),
        "README.md:13: link (#no-such-heading): README.md has no heading with the anchor #no-such-heading".to_owned(),
        format!("README.md:14: link ({marker}/spec.md): points outside the repository"),
        "README.md:15: link (docs/absent.html): no file or directory docs/absent.html".to_owned(),
        "README.md:16: link (docs/also-missing.md): no file or directory docs/also-missing.md".to_owned(),
    ];
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(
        problems.len(),
        expect.len(),
        "expected exactly these problems:\n  {}\nfound:\n  {}",
        expect.join("\n  "),
        problems.join("\n  ")
    );
    for (problem, expected) in problems.iter().zip(&expect) {
        assert!(
            problem.starts_with(expected),
            "expected: {expected}\nfound:    {problem}"
        );
    }
}
