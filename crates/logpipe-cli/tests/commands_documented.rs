//! Every command `logpipe --help` lists is documented: some Markdown page of the repository shows it run
//! (`logpipe <command>`), and CHANGELOG.md names it. A new command without either fails here.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn markdown(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                markdown(&path, out);
            }
        } else if name.ends_with(".md") && name != "CHANGELOG.md" {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_command_is_documented() {
    let commands = subcommands(&[]);
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    assert!(commands.contains(&"replay"), "{commands:?}");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = String::new();
    markdown(&root, &mut docs);
    let undocumented: Vec<&&str> = commands
        .iter()
        .filter(|c| !docs.contains(&format!("logpipe {c}")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "commands no page shows (`logpipe <command>`): {undocumented:?}"
    );
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let unlisted: Vec<&&str> = commands
        .iter()
        .filter(|c| !changelog.contains(&format!("`logpipe {c}")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "commands CHANGELOG.md does not name (`logpipe <command>`): {unlisted:?}"
    );
}

/// The commands (and subcommands) `logpipe <path> --help` lists.
fn subcommands(path: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logpipe"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every environment variable a command reads (clap's `[env: NAME=…]` in its help) is named on some
/// Markdown page: a variable is a public interface like a flag.
#[test]
fn every_variable_a_command_reads_is_documented() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = String::new();
    markdown(&root, &mut docs);
    let mut paths: Vec<Vec<String>> = Vec::new();
    for c in subcommands(&[]) {
        let subs = subcommands(&[c.as_str()]);
        if subs.is_empty() {
            paths.push(vec![c]);
        } else {
            paths.extend(subs.into_iter().map(|s| vec![c.clone(), s]));
        }
    }
    let mut seen = 0;
    let mut missing = Vec::new();
    for p in &paths {
        let args: Vec<&str> = p.iter().map(String::as_str).collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_logpipe"))
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        for piece in help.split("[env: ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            seen += 1;
            if !docs.contains(&name) {
                missing.push(format!("logpipe {}: {name}", p.join(" ")));
            }
        }
    }
    assert!(seen > 5, "{seen} variables: the help format changed?");
    assert!(missing.is_empty(), "variables no page names: {missing:?}");
}
