//! The README's commands work as written: every fenced block marked
//! ```` ```sh test ```` is run, in order, by bash in one scratch folder
//! that has the repository's `models/`, `config/` and `calibration/`, with
//! the `lookout` this test suite built first on `PATH`. Blocks without the
//! mark (setup, a vehicle, a GPU) are documentation only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The marked blocks of `markdown`, each with the line its body starts on.
fn marked_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    // Inside a block: whether it is marked, where it starts, its body.
    let mut open: Option<(bool, usize, String)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let is_fence = line.trim_start().starts_with("```");
        match open.take() {
            None if is_fence => {
                let info: Vec<&str> = line
                    .trim_start()
                    .trim_start_matches('`')
                    .split_whitespace()
                    .collect();
                open = Some((info == ["sh", "test"], number + 2, String::new()));
            }
            None => {}
            Some((true, start, body)) if is_fence => blocks.push((start, body)),
            Some((false, ..)) if is_fence => {}
            Some((marked, start, mut body)) => {
                body.push_str(line);
                body.push('\n');
                open = Some((marked, start, body));
            }
        }
    }
    blocks
}

/// The first code block of the README is the quick start: the demo and the
/// tests, each doing its own set-up (.ci/run runs both).
#[test]
fn the_quick_start_is_two_commands() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let first = readme
        .split("```")
        .nth(1)
        .expect("README.md has a code block");
    assert_eq!(first, "sh\ncargo run --release -- demo\nscripts/test.sh\n");
    let ci = std::fs::read_to_string(repo.join(".ci/run")).unwrap();
    assert!(
        ci.contains("\nscripts/test.sh\n"),
        ".ci/run must run the README's test command"
    );
    assert!(ci.contains("cargo run --release --locked -- demo"));
}

#[test]
fn the_marked_readme_blocks_are_found_and_unmarked_ones_are_not() {
    let markdown = "text\n```sh\necho no\n```\n```sh test\necho yes\n```\n```text\nx\n```\n";
    let blocks = marked_blocks(markdown);
    assert_eq!(blocks, vec![(6, "echo yes\n".to_owned())]);
}

#[test]
fn the_readme_commands_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = marked_blocks(&readme);
    assert!(
        blocks.len() >= 4,
        "README.md has {} blocks marked `sh test`",
        blocks.len()
    );

    let scratch = tempfile::tempdir().unwrap();
    for shared in ["models", "config", "calibration"] {
        std::os::unix::fs::symlink(repo.join(shared), scratch.path().join(shared)).unwrap();
    }
    let bin = scratch.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lookout"), bin.join("lookout")).unwrap();
    let path: Vec<PathBuf> = std::iter::once(bin)
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .collect();
    let path = std::env::join_paths(path).unwrap();

    for (line, block) in &blocks {
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(scratch.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "README.md line {line}:\n{block}\nexited {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
