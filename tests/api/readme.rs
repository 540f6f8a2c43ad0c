//! The README cannot drift from the code: its quickstart and its RFM walkthrough are run as
//! written (the shell blocks, command by command, with `curl` against a live `segstore serve`
//! in a directory laid out like a clone), and every figure and shape the README shows under a
//! command is compared with what the command printed.
//!
//! What a comment under a command promises:
//! - each `"key":value` with a scalar value (string, number, boolean) is in the output, in the
//!   README's order; a number matches at the README's precision (`0.5531` is 0.55305 to
//!   0.55315; `0.5531...` is a number starting so); `…` and `<…>` are placeholders;
//! - a line with no such pair and no status (`customer_id,segment_id,...`) is a line of the
//!   output, as it is.
//!
//! Reads (`curl` without `-X`) are repeated until their promise holds or two minutes pass:
//! the README says to poll a run until it has succeeded.

use crate::helpers::empty_database;
use std::path::Path;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One command of a shell block and the comment lines under it.
#[derive(Debug)]
struct Step {
    command: String,
    promise: Vec<String>,
}

/// The shell blocks of the README section whose heading starts with `heading`.
fn blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("the README has no section `## {heading}`"));
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut blocks = Vec::new();
    let mut rest = &section[..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a shell block ends");
        blocks.push(body[..close + 1].to_owned());
        rest = &body[close + 4..];
    }
    assert!(!blocks.is_empty(), "no shell block under `## {heading}`");
    blocks
}

/// Splits a block into commands (a command goes on over `\` line ends and open quotes) with
/// the comment lines that follow each.
fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut command = String::new();
    let (mut single, mut double) = (false, false);
    for line in block.lines() {
        if command.is_empty() {
            let trimmed = line.trim_start();
            if let Some(comment) = trimmed.strip_prefix('#') {
                if let Some(step) = steps.last_mut() {
                    step.promise.push(comment.trim().to_owned());
                }
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
        }
        let mut escaped = false;
        for c in line.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' if !single => escaped = true,
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double => break,
                _ => {}
            }
        }
        command.push_str(line);
        command.push('\n');
        let continued = line.trim_end().ends_with('\\');
        if !(single || double || continued) {
            steps.push(Step {
                command: std::mem::take(&mut command),
                promise: Vec::new(),
            });
        }
    }
    assert!(command.is_empty(), "an unterminated command: {command}");
    steps
}

/// A scalar the README promises under `"key":`.
#[derive(Debug, PartialEq)]
enum Value {
    Text(String),
    /// The digits as written, and whether `...` follows (any further digits).
    Number(String, bool),
    Word(String),
}

/// The `"key":scalar` pairs of a comment, in order; placeholders left out.
fn pairs(comment: &str) -> Vec<(String, Value)> {
    let mut pairs = Vec::new();
    let bytes = comment.as_bytes();
    let mut at = 0;
    while let Some(open) = comment[at..].find('"') {
        let key_start = at + open + 1;
        let Some(close) = comment[key_start..].find('"') else {
            break;
        };
        let key = &comment[key_start..key_start + close];
        let after = key_start + close + 1;
        at = after;
        if bytes.get(after) != Some(&b':') {
            continue;
        }
        let value = &comment[after + 1..];
        if let Some(text) = value.strip_prefix('"') {
            let end = text.find('"').expect("a quoted value ends");
            let text = &text[..end];
            at = after + 2 + end + 1;
            if !text.contains('…') && !text.contains('<') {
                pairs.push((key.to_owned(), Value::Text(text.to_owned())));
            }
        } else if value.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            let digits: String = value
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let digits = digits.trim_end_matches('.').to_owned();
            let more = value[digits.len()..].starts_with("...");
            pairs.push((key.to_owned(), Value::Number(digits, more)));
        } else if let Some(word) = ["true", "false", "null"]
            .into_iter()
            .find(|w| value.starts_with(w))
        {
            pairs.push((key.to_owned(), Value::Word(word.to_owned())));
        }
    }
    pairs
}

/// Whether `found` (a JSON number as printed) is what the README wrote as `digits`.
fn number_matches(digits: &str, more: bool, found: &str) -> bool {
    if more {
        return found.starts_with(digits);
    }
    let (Ok(want), Ok(got)) = (digits.parse::<f64>(), found.parse::<f64>()) else {
        return false;
    };
    let decimals = digits.split_once('.').map_or(0, |(_, d)| d.len());
    let scale = 10f64.powi(decimals as i32);
    (got * scale).round() == (want * scale).round() || (got - want).abs() < 0.5 / scale
}

/// Where `"key":value` first holds in `output` at or after `from`; the position after it.
fn find_pair(output: &str, from: usize, key: &str, value: &Value) -> Option<usize> {
    let needle = format!("\"{key}\":");
    let mut at = from;
    while let Some(found) = output[at..].find(&needle) {
        let start = at + found + needle.len();
        let rest = &output[start..];
        let end = match value {
            Value::Text(text) => {
                let quoted = format!("\"{text}\"");
                rest.starts_with(&quoted).then_some(quoted.len())
            }
            Value::Number(digits, more) => {
                let printed: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || ".-+eE".contains(*c))
                    .collect();
                (!printed.is_empty() && number_matches(digits, *more, &printed))
                    .then_some(printed.len())
            }
            Value::Word(word) => rest.starts_with(word.as_str()).then_some(word.len()),
        };
        if let Some(end) = end {
            return Some(start + end);
        }
        at = start;
    }
    None
}

/// What of the promise the output breaks; empty when it keeps it.
fn broken(promise: &[String], output: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let mut at = 0;
    for (key, value) in pairs(&promise.join(" ")) {
        match find_pair(output, at, &key, &value) {
            Some(next) => at = next,
            None => broken.push(format!("\"{key}\":{value:?}")),
        }
    }
    for line in promise {
        let status = line
            .split(' ')
            .next()
            .is_some_and(|w| w.len() == 3 && w.chars().all(|c| c.is_ascii_digit()));
        let plain = pairs(line).is_empty() && !status && !line.contains('{') && !line.contains('}');
        if plain && !output.lines().any(|l| l == line) {
            broken.push(format!("the line `{line}`"));
        }
    }
    broken
}

/// Runs the README's quickstart and RFM walkthrough, in order, on one store.
#[tokio::test]
async fn the_readme_quickstart_and_walkthrough_print_what_the_readme_shows() {
    for tool in ["curl", "python3"] {
        let ok = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "the README's commands need {tool}: apt install {tool}");
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut steps_all = Vec::new();
    for heading in [
        "Quickstart",
        "Walkthrough: RFM segments",
        "Keeping a CRM in sync",
    ] {
        for block in blocks(&readme, heading) {
            steps_all.extend(steps(&block));
        }
    }
    let promised: usize = steps_all
        .iter()
        .map(|s| pairs(&s.promise.join(" ")).len())
        .sum();
    assert!(
        promised > 50,
        "the README shows {promised} figures: the parser lost them"
    );

    let db = empty_database().await;
    let served = crate::process::serve_with(&db.url, &[]).await;
    // A directory laid out like a clone after the first start: the examples, and the key
    // the first start saved in `.segstore/admin.key`.
    let clone = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(ROOT).join("examples"),
        clone.path().join("examples"),
    )
    .unwrap();
    std::os::unix::fs::symlink(served.data_dir.path(), clone.path().join(".segstore")).unwrap();

    // Variables (`KEY=$(…)`) are set by reads: every later command runs after them again.
    let mut assignments = String::new();
    for step in &steps_all {
        let command = step.command.replace("http://127.0.0.1:8080", &served.base);
        let is_assignment = command.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        });
        let writes = command.contains(" -X ");
        let script = format!("set -e\n{assignments}{command}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = tokio::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(clone.path())
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let broken = if out.status.success() {
                broken(&step.promise, &stdout)
            } else {
                vec![format!("exit status {}: {stderr}", out.status)]
            };
            if broken.is_empty() {
                break;
            }
            assert!(
                !writes && Instant::now() < deadline,
                "the README's command\n{}\nprinted\n{stdout}\nwhich breaks what the README \
                 shows under it:\n{}\n(missing, in order: {broken:?})",
                step.command,
                step.promise.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if is_assignment {
            assignments.push_str(&command);
        }
    }
}

#[test]
fn the_promise_reader_reads_the_readme_notation() {
    let promise = [
        r#"{"status":"succeeded","k":5,"k_rule":"best silhouette","customers":{"snapshot":200,...},"#
            .to_owned(),
        r#" "metrics":{"silhouette":0.5531...},"ms":…,"id":"…","share":0.11}"#.to_owned(),
    ];
    let output = r#"{"id":"x","status":"succeeded","k":5,"k_rule":"best silhouette","customers":{"snapshot":200},"metrics":{"silhouette":0.553104},"ms":12,"share":0.1104}"#;
    assert!(
        broken(&promise, output).is_empty(),
        "{:?}",
        broken(&promise, output)
    );
    // Another figure, another order, a rounding too far: each is named.
    let drifted = output.replace("0.553104", "0.5546");
    assert_eq!(
        broken(&promise, &drifted),
        ["\"silhouette\":Number(\"0.5531\", true)"]
    );
    let reordered = r#"{"k":5,"status":"succeeded","k_rule":"best silhouette","customers":{"snapshot":200},"metrics":{"silhouette":0.5531},"share":0.11}"#;
    assert_eq!(broken(&promise, reordered), ["\"k\":Number(\"5\", false)"]);
    assert!(!broken(&promise, &output.replace("0.1104", "0.116")).is_empty());
    // Lines that are not JSON are lines of the output.
    let csv = ["customer_id,segment_id".to_owned(), "0001,2".to_owned()];
    assert!(broken(&csv, "customer_id,segment_id\n0001,2\n").is_empty());
    assert_eq!(
        broken(&csv, "customer_id,segment_id\n0001,3\n"),
        ["the line `0001,2`"]
    );
    // Commands go on over line ends and open quotes; comments follow them.
    let steps =
        steps("A=$(echo 'x\ny')\ncurl -s \\\n  -d '{\"a\":\n 1}'   # a note\n# {\"a\":1}\n\n");
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[1].promise, ["{\"a\":1}"]);
}
