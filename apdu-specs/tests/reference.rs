//! The Markdown reference in docs/commands/ must equal what the command table
//! renders. `PCMETER_UPDATE_REFERENCE=1 cargo test -p apdu-specs` rewrites it.

use apdu_specs::commands::{COMMANDS, render_index, render_page};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/commands")
}

#[test]
fn reference_pages_match_the_command_table() {
    let update = std::env::var_os("PCMETER_UPDATE_REFERENCE").is_some();
    let mut expected: Vec<(PathBuf, String)> =
        COMMANDS.iter().map(|c| (dir().join(format!("{}.md", c.slug)), render_page(c))).collect();
    expected.push((dir().join("README.md"), render_index()));
    let mut stale = Vec::new();
    for (path, text) in &expected {
        if update {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(path, text).unwrap();
        } else if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    // No page without a command.
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if !expected.iter().any(|(p, _)| *p == path) {
            stale.push(format!("{} (no such command)", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "reference out of date: {stale:?}; run PCMETER_UPDATE_REFERENCE=1 cargo test -p apdu-specs"
    );
}

#[test]
fn command_table_is_consistent() {
    for (i, a) in COMMANDS.iter().enumerate() {
        assert!(!a.status_words.is_empty(), "{} lists no status word", a.name);
        assert!(a.status_words.iter().any(|(sw, _)| sw.is_ok()), "{} never succeeds?", a.name);
        for b in &COMMANDS[i + 1..] {
            assert_ne!(a.ins, b.ins, "{} and {} share an INS", a.name, b.name);
            assert_ne!(a.slug, b.slug);
        }
    }
}
