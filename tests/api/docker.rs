//! The Dockerfile cannot be built here (no Docker engine), so what its build needs is checked
//! by reading: every file the compiler embeds and every target the manifest names must be in
//! the build context it copies.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The top-level folders the Dockerfile's build stage copies (`COPY <dir> ./<dir>`).
fn copied() -> Vec<String> {
    std::fs::read_to_string(Path::new(ROOT).join("Dockerfile"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Top-level folders of the paths `src/**.rs` embeds (include_str!, include_bytes!, migrate!).
fn embedded(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            embedded(&path, found);
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for macro_call in ["include_str!(\"", "include_bytes!(\"", "migrate!(\""] {
            for (at, _) in source.match_indices(macro_call) {
                let rest = &source[at + macro_call.len()..];
                let relative = &rest[..rest.find('"').unwrap()];
                // include_* are relative to the file, migrate! to the manifest.
                let target = if macro_call.starts_with("migrate") {
                    Path::new(ROOT).join(relative)
                } else {
                    path.parent().unwrap().join(relative)
                };
                let target = target.canonicalize().unwrap();
                let inside = target
                    .strip_prefix(Path::new(ROOT).canonicalize().unwrap())
                    .unwrap();
                found.push(
                    inside
                        .components()
                        .next()
                        .unwrap()
                        .as_os_str()
                        .to_string_lossy()
                        .into(),
                );
            }
        }
    }
}

#[test]
fn the_docker_build_copies_what_the_compiler_embeds_and_stubs_every_bench() {
    let copied = copied();
    let mut needed = vec![
        "Cargo.toml".to_owned(),
        "Cargo.lock".to_owned(),
        "src".to_owned(),
    ];
    embedded(&Path::new(ROOT).join("src"), &mut needed);
    needed.sort();
    needed.dedup();
    assert!(needed.contains(&"assets".to_owned()) && needed.contains(&"migrations".to_owned()));
    for dir in &needed {
        assert!(
            copied.contains(dir),
            "the Dockerfile does not copy `{dir}` ({copied:?})"
        );
    }
    // The dependency-caching step builds before the sources are copied: Cargo reads every
    // target the manifest names, so each [[bench]] needs a stub there.
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    for bench in manifest.split("[[bench]]").skip(1) {
        let name = bench
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .unwrap()
            .trim_matches('"');
        assert!(
            dockerfile.contains(&format!("> benches/{name}.rs")),
            "the Dockerfile's first build does not stub benches/{name}.rs"
        );
        assert!(copied.contains(&"benches".to_owned()));
    }
}

/// The `scale` profile, read: the files it mounts and builds exist, PgBouncer pools
/// transactions and serves the databases the replicas' URLs name, and the replicas are told
/// it is a transaction pooler (a direct URL beside it).
#[test]
fn the_scale_profile_wires_the_standby_and_pgbouncer_the_replicas_use() {
    let compose = std::fs::read_to_string(Path::new(ROOT).join("docker-compose.yml")).unwrap();
    for line in compose.lines() {
        let line = line.trim().trim_start_matches("- ");
        for prefix in ["./deploy/", "build: deploy/"] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let path = rest.split(':').next().unwrap();
                let dir = if prefix.starts_with("build") {
                    "deploy/"
                } else {
                    "./deploy/"
                };
                assert!(
                    Path::new(ROOT).join(dir).join(path).exists(),
                    "docker-compose.yml names {dir}{path}, which is missing"
                );
            }
        }
    }
    let ini =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/pgbouncer/pgbouncer.ini")).unwrap();
    assert!(ini.contains("\npool_mode = transaction\n"));
    let replicas = &compose[compose.find("  api-replicas:").unwrap()..];
    let replicas = &replicas[..replicas.find("\n  lb:").unwrap()];
    for variable in ["DATABASE_URL", "DATABASE_READ_URL"] {
        let url = replicas
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{variable}: ")))
            .unwrap_or_else(|| panic!("api-replicas sets {variable}"));
        assert!(url.contains("@pgbouncer:6432/"), "{variable}={url}");
        let database = url.rsplit('/').next().unwrap();
        assert!(
            ini.contains(&format!("\n{database} = host=")),
            "pgbouncer.ini serves no database `{database}`"
        );
    }
    assert!(
        replicas.contains("DATABASE_DIRECT_URL: postgres://segstore:segstore@db:5432/segstore"),
        "the replicas must be told DATABASE_URL is a transaction pooler"
    );
    assert!(compose.contains("exec postgres -c hot_standby_feedback=on"));
}
