//! The documentation's links: every relative link of every Markdown file in the repository names a file
//! inside it, and every `#anchor` a heading of that file. No link leaves the repository. And every
//! function's public interface is documented beside it: each variable its configuration reads and each
//! metric its report line emits, from the code's own lists. And the design's floor plan names every area.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Markdown files of the repository (not build output, venvs or dependencies).
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            code = !code;
        } else if !code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `(target)` of every `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            code = !code;
            continue;
        }
        if code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// `path` without `.` and `..`, or `None` when it climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn every_link_stays_inside_the_repository_and_resolves() {
    let root = root();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(&root).unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                broken.push(format!("{}: {link} leaves the repository", rel.display()));
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                rel.to_path_buf()
            } else {
                match normalize(&rel.parent().unwrap_or(Path::new("")).join(path)) {
                    Some(t) => t,
                    None => {
                        broken.push(format!("{}: {link} leaves the repository", rel.display()));
                        continue;
                    }
                }
            };
            let abs = root.join(&target);
            if !abs.exists() {
                broken.push(format!("{}: {link}: no such file", rel.display()));
                continue;
            }
            if !anchor.is_empty() {
                let headings = anchors(&std::fs::read_to_string(&abs).unwrap_or_default());
                if !headings.contains(anchor) {
                    broken.push(format!(
                        "{}: {link}: no heading #{anchor} in {}",
                        rel.display(),
                        target.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The EMF metric names of a `counts!` summary (nested counts included), from the declaration itself.
fn metric_names<S: logcore::base::report::Metrics + Default>() -> Vec<&'static str> {
    let mut out = Vec::new();
    S::default().metrics(&mut out);
    out.into_iter().map(|m| m.name).collect()
}

/// The metrics each function's report line emits, by binary (the directory under `functions/`).
fn code_metrics(bin: &str) -> Option<Vec<&'static str>> {
    use firehose_transform::Summary;
    use logcore::{audit::AuditStats, logs::document::DocStats};
    Some(match bin {
        "firehose-cwl-transform" => metric_names::<Summary<DocStats>>(),
        "aurora-audit-transform" => metric_names::<Summary<AuditStats>>(),
        "s3-search-forwarder" => metric_names::<s3_search_forwarder::Summary>(),
        "slack-notifier" => metric_names::<slack_notifier::Summary>(),
        "log-subscriber" => metric_names::<log_subscriber::Summary>(),
        "canary" => {
            let mut m = metric_names::<canary::Summary>();
            m.extend(metric_names::<canary::reconcile::hourly::ReconcileSummary>());
            m
        }
        "alert-sync" => metric_names::<alert_sync::Summary>(),
        _ => return None,
    })
}

/// Whether `text` names `name` as a whole word (`BytesIn` is not named by `BytesInput`).
fn names(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(word)
            && !text[i + name.len()..].chars().next().is_some_and(word)
    })
}

/// A function's README, and for the audit transform the CloudWatch Logs transform's too: both are
/// `crates/firehose-transform`, whose shared variables and metrics that page documents (the audit page
/// says so and links there). Nothing else counts: a variable named in passing on another page is not
/// documented for this function.
fn documentation_of(dir: &Path) -> String {
    let read = |d: &Path| {
        let readme = d.join("README.md");
        std::fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()))
    };
    let mut text = read(dir);
    if dir.ends_with("aurora-audit-transform") {
        text.push_str(&read(&dir.with_file_name("firehose-cwl-transform")));
    }
    text
}

#[test]
fn every_functions_variables_and_metrics_are_documented_beside_it() {
    let root = root();
    let mut missing = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let bin = dir.file_name().unwrap().to_string_lossy().to_string();
        let vars = crate::template_tests::code_env_vars(&bin)
            .unwrap_or_else(|| panic!("functions/{bin}: no variable list (code_env_vars)"));
        let metrics = code_metrics(&bin)
            .unwrap_or_else(|| panic!("functions/{bin}: no metric list (code_metrics)"));
        assert!(!metrics.is_empty(), "{bin}: a report without metrics");
        let docs = documentation_of(&dir);
        for v in vars {
            if !names(&docs, v) {
                missing.push(format!("functions/{bin}/README.md: variable {v}"));
            }
        }
        for m in metrics {
            if !names(&docs, m) {
                missing.push(format!("functions/{bin}/README.md: metric {m}"));
            }
        }
        seen += 1;
    }
    assert!(seen >= 7, "{seen} functions");
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}

/// The README's architecture diagram shows every function the template deploys (by its directory name)
/// and every kind of store and stream it creates.
#[test]
fn the_readme_diagram_shows_every_function_and_store() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("```mermaid")
        .expect("a mermaid diagram in the README");
    let diagram = &readme[start..start + readme[start..].find("\n```\n").expect("closed")];
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !diagram.contains(&format!("{name} λ")) {
            missing.push(format!("function {name}"));
        }
    }
    // A store or stream kind the template creates, and how the diagram names it.
    for (kind, shown) in [
        ("AWS::S3::Bucket", "S3"),
        ("AWS::DynamoDB::Table", "DynamoDB"),
        ("AWS::SQS::Queue", "SQS"),
        ("AWS::SNS::Topic", "SNS"),
        ("AWS::Kinesis::Stream", "Kinesis"),
        ("AWS::KinesisFirehose::DeliveryStream", "Firehose"),
        ("AWS::Logs::Destination", "Logs destination"),
        ("AWS::Logs::AccountPolicy", "account policy"),
        ("AWS::Athena::WorkGroup", "Athena"),
        ("AWS::CloudWatch::Alarm", "CloudWatch alarms"),
    ] {
        if template.contains(&format!("Type: {kind}\n")) && !diagram.contains(shown) {
            missing.push(format!("{kind} ({shown})"));
        }
    }
    assert!(
        missing.is_empty(),
        "missing from the README's diagram: {missing:?}"
    );
}

/// Every area of `logcore` (a folder, or a module file of its own at the top) has its row in the design's
/// floor plan, and every row names an area that exists.
#[test]
fn the_floor_plan_lists_every_area_of_logcore() {
    let design = std::fs::read_to_string(root().join("docs/design.md")).unwrap();
    let plan = design
        .split("### Floor plan of `crates/logcore`")
        .nth(1)
        .expect("docs/design.md has the floor plan");
    let rows: BTreeSet<String> = plan
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect();
    let mut areas = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("crates/logcore/src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            areas.insert(format!("{name}/"));
        } else if name != "lib.rs" && name.ends_with(".rs") {
            areas.insert(name);
        }
    }
    let missing: Vec<&String> = areas.difference(&rows).collect();
    let stale: Vec<&String> = rows.difference(&areas).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/design.md's floor plan: no row for {missing:?}; rows for what is gone: {stale:?}"
    );
}

#[test]
fn slugs_are_githubs() {
    assert!(names("metrics `BytesIn`, `BytesOut`", "BytesIn"));
    assert!(!names("`BytesInput` and X_BytesIn", "BytesIn"));
    assert!(names("BytesIn", "BytesIn"));
    assert_eq!(
        slug(" Deploy to AWS (`template.yaml`, `samconfig.toml`)"),
        "deploy-to-aws-templateyaml-samconfigtoml"
    );
    assert_eq!(slug("End to end (`tests/e2e/`)"), "end-to-end-testse2e");
    assert_eq!(
        links("see [a](b.md#c) and [d](../e)\n```\n[x](y)\n```"),
        ["b.md#c", "../e"]
    );
    assert_eq!(
        normalize(Path::new("docs/../README.md")),
        Some("README.md".into())
    );
    assert_eq!(normalize(Path::new("../x")), None);
}
