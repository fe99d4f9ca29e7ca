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
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_logpipe"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.contains(&"replay"), "{help}");
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
