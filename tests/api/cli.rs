use std::process::Command;

fn segstore(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn openapi_command_prints_the_committed_document() {
    assert_eq!(segstore(&["openapi"]), segstore::http::openapi_json());
}

#[test]
fn help_documents_every_setting_with_its_variable() {
    let help = segstore(&["serve", "--help"]);
    for setting in [
        "DATABASE_URL",
        "SEGSTORE_BIND",
        "127.0.0.1:8080",
        "SEGSTORE_LOG=",
        "SEGSTORE_LOG_FORMAT",
        "SEGSTORE_DATA_DIR",
        "SEGSTORE_MAX_BATCH",
        "SEGSTORE_MAX_JSON_BYTES",
        "SEGSTORE_DB_MAX_CONNECTIONS",
    ] {
        assert!(
            help.contains(setting),
            "`serve --help` does not mention {setting}:\n{help}"
        );
    }
    let top = segstore(&["--help"]);
    for command in ["serve", "migrate", "openapi"] {
        assert!(top.contains(command), "{top}");
    }
}

#[test]
fn a_bad_setting_is_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(["serve", "--max-batch", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-batch"), "{stderr}");
}
