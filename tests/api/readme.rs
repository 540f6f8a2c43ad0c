//! The README cannot drift from the code: its quickstart, its RFM walkthrough, its CRM sync
//! and the reference pages' examples (`docs/segmentations.md`) are run as written (the shell blocks, command by command, with `curl` against a live `segstore serve`
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
    let blocks = shell_blocks(&section[..end]);
    assert!(!blocks.is_empty(), "no shell block under `## {heading}`");
    blocks
}

/// Every ```` ```sh ```` block of `text`, in order.
fn shell_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a shell block ends");
        blocks.push(body[..close + 1].to_owned());
        rest = &body[close + 4..];
    }
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

/// What the README test does with a shell block.
#[derive(Debug, Clone, Copy)]
enum Block {
    /// Run as written by [`the_readme_and_the_reference_run_as_written`], in the document's order.
    Run,
    /// Run, and its output compared, by the test named.
    RunBy(&'static str),
    /// Not run, for the reason given; the test named exercises what it sets up.
    Skipped(&'static str, &'static str),
}

/// Every shell block of the README, by section and position in it.
const README_BLOCKS: &[(&str, usize, Block)] = &[
    ("Quickstart", 0, Block::Run),
    ("Look instead of read", 0, Block::Run),
    (
        "Look instead of read",
        1,
        Block::Skipped(
            "`pip install` reaches PyPI and `streamlit run` serves until stopped",
            "examples::the_streamlit_example_reads_a_live_server",
        ),
    ),
    ("Walkthrough: RFM segments", 0, Block::Run),
    ("Walkthrough: RFM segments", 1, Block::Run),
    ("Predicted value", 0, Block::Run),
    ("Predicted value", 1, Block::Run),
    ("Audiences", 0, Block::Run),
    ("Keeping a CRM in sync", 0, Block::Run),
    ("Keeping a CRM in sync", 1, Block::Run),
    (
        "The API",
        0,
        Block::Skipped(
            "`pip install` reaches PyPI",
            "contract::a_generated_python_client_tells_the_readme_story",
        ),
    ),
    (
        "The API",
        1,
        Block::Skipped(
            "`npm ci` reaches the npm registry",
            "typescript::the_openapi_fetch_example_tells_the_readme_story",
        ),
    ),
    ("The API", 2, Block::Run),
    (
        "Segmenting a CSV file offline",
        0,
        Block::RunBy("cli::the_readme_cluster_example_prints_what_the_readme_shows"),
    ),
    ("Segmenting a CSV file offline", 1, Block::Run),
    ("Keys and security", 0, Block::Run),
    (
        "Scaling out",
        0,
        Block::Skipped(
            "creates system PostgreSQL clusters with sudo on fixed ports",
            "topology::heavy_reads_go_to_a_caught_up_standby_and_to_the_primary_while_it_lags_or_is_gone",
        ),
    ),
    (
        "Scaling out",
        1,
        Block::Skipped(
            "writes /etc/pgbouncer with sudo",
            "topology::the_api_story_runs_through_pgbouncer_in_transaction_mode",
        ),
    ),
    (
        "Scaling out",
        2,
        Block::Skipped(
            "needs the two clusters and PgBouncer above, on fixed ports",
            "replicas::",
        ),
    ),
    (
        "Scaling out",
        3,
        Block::Skipped(
            "needs the replicas above",
            "topology::the_api_story_runs_through_pgbouncer_in_transaction_mode",
        ),
    ),
];

/// Every shell block of the other documents: (file, blocks, what is done with them).
const GUIDE_BLOCKS: &[(&str, Block)] = &[
    ("docs/segmentations.md", Block::Run),
    (
        "examples/tableau.md",
        Block::RunBy("readme::the_tableau_guide_runs_as_written"),
    ),
];

/// The README's sections, each with its shell blocks, in order.
fn sections(readme: &str) -> Vec<(String, Vec<String>)> {
    readme
        .split("\n## ")
        .skip(1)
        .map(|section| {
            let heading = section.lines().next().unwrap().to_owned();
            (heading, shell_blocks(section))
        })
        .filter(|(_, blocks)| !blocks.is_empty())
        .collect()
}

/// Each shell block of the README and of the guides is run as written or accounted for: a
/// new block fails this test until the table says what happens to it, and every test named
/// exists.
#[test]
fn every_shell_block_is_run_or_accounted_for() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut unlisted = Vec::new();
    for (heading, blocks) in sections(&readme) {
        for index in 0..blocks.len() {
            let listed = README_BLOCKS
                .iter()
                .any(|(h, i, _)| heading.starts_with(h) && *i == index);
            if !listed {
                unlisted.push(format!("## {heading}, block {index}"));
            }
        }
    }
    for (heading, index, _) in README_BLOCKS {
        let found = sections(&readme)
            .into_iter()
            .any(|(h, blocks)| h.starts_with(heading) && *index < blocks.len());
        assert!(
            found,
            "README_BLOCKS lists `## {heading}` block {index}, which is gone"
        );
    }
    let mut guides: Vec<String> = ["docs", "examples"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned())
        .filter(|p| {
            !shell_blocks(&std::fs::read_to_string(Path::new(ROOT).join(p)).unwrap()).is_empty()
        })
        .collect();
    guides.sort();
    for guide in guides {
        if !GUIDE_BLOCKS.iter().any(|(g, _)| *g == guide) {
            unlisted.push(guide);
        }
    }
    assert!(
        unlisted.is_empty(),
        "shell blocks nobody runs: {unlisted:?}"
    );
    // The tests named exist.
    let tests: String = std::fs::read_dir(Path::new(ROOT).join("tests/api"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let named = README_BLOCKS
        .iter()
        .map(|(_, _, b)| *b)
        .chain(GUIDE_BLOCKS.iter().map(|(_, b)| *b));
    for block in named {
        let test = match block {
            Block::Run => continue,
            Block::RunBy(test) => test,
            Block::Skipped(why, test) => {
                assert!(!why.is_empty(), "a skipped block says why");
                test
            }
        };
        let (module, name) = test.split_once("::").unwrap();
        assert!(
            std::fs::metadata(Path::new(ROOT).join(format!("tests/api/{module}.rs"))).is_ok()
                && (name.is_empty() || tests.contains(&format!("fn {name}("))),
            "{test} is no test"
        );
    }
}

/// The README's blocks marked [`Block::Run`] and the reference pages' examples, in order, on
/// one store, as a user types them: `segstore` on the `PATH` (`cargo run --release --` is
/// that binary, built), `DATABASE_URL` set for the command line as for the server.
#[tokio::test]
async fn the_readme_and_the_reference_run_as_written() {
    for tool in ["curl", "python3"] {
        let ok = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "the README's commands need {tool}: apt install {tool}");
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut steps_all = Vec::new();
    for (heading, blocks) in sections(&readme) {
        for (index, block) in blocks.iter().enumerate() {
            let run = README_BLOCKS
                .iter()
                .any(|(h, i, b)| heading.starts_with(h) && *i == index && matches!(b, Block::Run));
            if run {
                steps_all.extend(steps(block));
            }
        }
    }
    for (guide, block) in GUIDE_BLOCKS {
        if matches!(block, Block::Run) {
            let text = std::fs::read_to_string(Path::new(ROOT).join(guide)).unwrap();
            for block in shell_blocks(&text) {
                steps_all.extend(steps(&block));
            }
        }
    }
    let promised: usize = steps_all
        .iter()
        .map(|s| pairs(&s.promise.join(" ")).len())
        .sum();
    assert!(
        promised > 60,
        "the README shows {promised} figures: the parser lost them"
    );
    for step in &mut steps_all {
        step.command = step.command.replace("cargo run --release -- ", "segstore ");
    }

    let db = empty_database().await;
    let served = crate::process::serve_with(&db.url, &[]).await;
    let clone = like_a_clone(&served);
    let bin = Path::new(env!("CARGO_BIN_EXE_segstore")).parent().unwrap();
    let mut path =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect::<Vec<_>>();
    path.insert(0, bin.to_path_buf());
    let path = std::env::join_paths(path).unwrap().into_string().unwrap();
    run_as_written(
        &steps_all,
        &served,
        clone.path(),
        &[("PATH", path), ("DATABASE_URL", db.url.clone())],
    )
    .await;
    // What the commands left behind: the charts, the offline assignments, the revoked key.
    for chart in ["scatter.svg", "elbow.svg", "segments.svg"] {
        let text = std::fs::read_to_string(clone.path().join(chart)).unwrap();
        assert!(
            text.starts_with("<svg") || text.starts_with("<?xml"),
            "{chart}"
        );
    }
    let png = std::fs::read(clone.path().join("segments.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "segments.png");
    let wholesale = std::fs::read_to_string(clone.path().join("wholesale_segments.csv")).unwrap();
    assert_eq!(
        wholesale.lines().count(),
        441,
        "a header and the 440 Wholesale customers"
    );
    let pool = db.pool().await;
    let crm: Vec<(Option<chrono::DateTime<chrono::Utc>>,)> =
        sqlx::query_as("SELECT revoked_at FROM api_keys WHERE name = 'crm'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        crm.len() == 1 && crm[0].0.is_some(),
        "one crm key, revoked: {crm:?}"
    );
}

/// A directory laid out like a clone after the first start: the examples, and the key the
/// first start saved in `.segstore/admin.key`.
fn like_a_clone(served: &crate::process::Served) -> tempfile::TempDir {
    let clone = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(ROOT).join("examples"),
        clone.path().join("examples"),
    )
    .unwrap();
    std::os::unix::fs::symlink(served.data_dir.path(), clone.path().join(".segstore")).unwrap();
    clone
}

/// Runs `steps` in `dir` as a user would, against `served`, and checks what each prints
/// against the comment under it. A variable (`KEY=$(…)`) is set once, as the shell would:
/// every later command runs with its value.
async fn run_as_written(
    steps_all: &[Step],
    served: &crate::process::Served,
    dir: &Path,
    env: &[(&str, String)],
) {
    let mut assignments = String::new();
    for step in steps_all {
        let command = step.command.replace("http://127.0.0.1:8080", &served.base);
        let assigned = command
            .split_once('=')
            .map(|(name, _)| name)
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
        let writes = command.contains(" -X ") || command.contains(" create ");
        // An assignment prints its value after a NUL, to be kept for the later commands.
        let script = match assigned {
            Some(name) => format!("set -e\n{assignments}{command}printf '\\0%s' \"${name}\"\n"),
            None => format!("set -e\n{assignments}{command}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = tokio::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(dir)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .await
                .unwrap();
            let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut value = None;
            if let Some(name) = assigned
                && out.status.success()
            {
                let (printed, set) = stdout.rsplit_once('\0').expect("the value follows a NUL");
                value = Some(format!("{name}='{}'\n", set.replace('\'', "'\\''")));
                stdout = printed.to_owned();
            }
            let broken = if out.status.success() {
                broken(&step.promise, &stdout)
            } else {
                vec![format!("exit status {}: {stderr}", out.status)]
            };
            if broken.is_empty() {
                assignments.push_str(&value.unwrap_or_default());
                break;
            }
            assert!(
                !writes && Instant::now() < deadline,
                "the command\n{}\nprinted\n{stdout}\nwhich breaks what the text shows under \
                 it:\n{}\n(missing, in order: {broken:?})",
                step.command,
                step.promise.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// `examples/tableau.md` as written, after the README's quickstart: a read key, the live
/// connection through a report role (`segstore` and `psql` on the `PATH`), the CSV pulls by
/// active address and the `.hyper` extract, on a PostgreSQL cluster of the test's own (report
/// roles are the cluster's).
#[tokio::test]
#[ignore = "needs tableauhyperapi and requests (pip install -r examples/requirements.txt; SEGSTORE_PYTHON names that Python) and psql; run with --include-ignored"]
async fn the_tableau_guide_runs_as_written() {
    let python = crate::helpers::python();
    let ready = std::process::Command::new(&python)
        .args(["-c", "import tableauhyperapi, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "the guide's Python packages are missing: `{}`",
        crate::helpers::pip_install("-r examples/requirements.txt")
    );
    let psql = std::process::Command::new("psql").arg("--version").output();
    assert!(
        psql.is_ok_and(|o| o.status.success()),
        "the guide needs psql: apt install postgresql-client"
    );
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let guide = std::fs::read_to_string(Path::new(ROOT).join("examples/tableau.md")).unwrap();
    let mut steps_all = Vec::new();
    for block in blocks(&readme, "Quickstart")
        .into_iter()
        .chain(shell_blocks(&guide))
    {
        steps_all.extend(steps(&block));
    }
    let cluster = crate::clusters::PrivateCluster::start().await;
    let served = crate::process::serve_with(&cluster.url(), &[]).await;
    let clone = like_a_clone(&served);
    // `segstore` and the Python with the guide's packages first on the PATH, as installed.
    let bin = Path::new(env!("CARGO_BIN_EXE_segstore")).parent().unwrap();
    let python_bin = python
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf);
    let mut path =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect::<Vec<_>>();
    path.insert(0, bin.to_path_buf());
    if let Some(p) = python_bin {
        path.insert(0, p);
    }
    let path = std::env::join_paths(path).unwrap().into_string().unwrap();
    run_as_written(
        &steps_all,
        &served,
        clone.path(),
        &[("PATH", path), ("DATABASE_URL", cluster.url())],
    )
    .await;
    let extract = clone.path().join("segstore.hyper");
    assert!(
        std::fs::metadata(&extract).is_ok_and(|m| m.len() > 0),
        "the guide wrote its extract"
    );
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
