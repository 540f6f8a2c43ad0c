//! An embedded, private PostgreSQL cluster for machines without `DATABASE_URL`.
//!
//! It is started from the PostgreSQL server binaries installed on the machine (`initdb` and
//! `pg_ctl` on `PATH`, else the newest `/usr/lib/postgresql/*/bin`); nothing is downloaded. The
//! cluster lives under a data directory (default `./.segstore/`), listens on a Unix socket only
//! (no TCP port to collide with), is initialised on first use and reused afterwards. PostgreSQL
//! refuses to run as root, so when segstore runs as root the server runs as the `postgres`
//! system user.

use anyhow::{Context, bail};
use nix::unistd::{Uid, User};
use sqlx::postgres::PgConnectOptions;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The message printed when no PostgreSQL can be found or started.
pub const NO_POSTGRES: &str = "segstore needs PostgreSQL, and found none. Either set DATABASE_URL \
to a running server (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/segstore), or install the \
PostgreSQL server so segstore can run its own embedded cluster (`apt install postgresql` on \
Debian/Ubuntu), or start the one in docker-compose.yml with `docker compose up -d db` and set \
DATABASE_URL=postgres://segstore:segstore@127.0.0.1:55432/segstore";

const PORT: u16 = 5432;

#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<User>,
    /// Whether this process started the server (and so should stop it).
    started: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster under `root` if needed and starts it unless it already runs.
    /// Blocking (it waits for `initdb` and `pg_ctl`): call from `spawn_blocking` in async code.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir(
            std::env::var_os("PATH").unwrap_or_default(),
            Path::new("/usr/lib/postgresql"),
        )
        .context(NO_POSTGRES)?;
        let run_as = if Uid::effective().is_root() {
            Some(
                User::from_name("postgres")
                    .ok()
                    .flatten()
                    .context("running as root, but there is no `postgres` system user to run the embedded PostgreSQL as")?,
            )
        } else {
            None
        };
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let root = root.canonicalize()?;
        let home = match &run_as {
            Some(user) if !reachable_by(&root, user) => {
                let fallback = std::env::temp_dir().join(format!(
                    "segstore-{:016x}",
                    fnv1a(root.to_string_lossy().as_bytes())
                ));
                tracing::warn!(
                    data_dir = %root.display(),
                    cluster = %fallback.display(),
                    "the postgres user cannot reach the data directory; the embedded cluster lives elsewhere"
                );
                fs::create_dir_all(&fallback)?;
                fallback
            }
            _ => root.clone(),
        };
        let pgdata = home.join("postgres");
        let socket_dir = short_socket_dir(&home)?;
        let embedded = Self {
            bin_dir,
            pgdata,
            socket_dir,
            run_as,
            started: false,
        };
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(home.join("segstore.lock"))?;
        let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .context("locking the embedded cluster")?;
        embedded.start_locked()
    }

    fn start_locked(mut self) -> anyhow::Result<Self> {
        if !self.pgdata.join("PG_VERSION").exists() {
            self.init()?;
        }
        self.write_settings()?;
        if self.is_running()? {
            tracing::info!(pgdata = %self.pgdata.display(), "reusing the running embedded PostgreSQL");
            return Ok(self);
        }
        let log = self
            .pgdata
            .parent()
            .unwrap_or(&self.pgdata)
            .join("postgres.log");
        self.own(&log, false)?;
        let status = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.pgdata)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s"])
            .stdout(Stdio::null())
            .status()
            .context("running pg_ctl start")?;
        if !status.success() {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            bail!(
                "the embedded PostgreSQL did not start (pg_ctl: {status}); its log {} ends with:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.started = true;
        tracing::info!(pgdata = %self.pgdata.display(), "started the embedded PostgreSQL");
        Ok(self)
    }

    fn init(&self) -> anyhow::Result<()> {
        let parent = self.pgdata.parent().expect("pgdata has a parent");
        self.own(parent, true)?;
        if self.pgdata.exists() {
            // A half-made cluster from an interrupted initdb.
            fs::remove_dir_all(&self.pgdata)?;
        }
        tracing::info!(pgdata = %self.pgdata.display(), "initialising the embedded PostgreSQL");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.pgdata)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf)?;
        text.push_str("\n# Written by segstore: the rest of the settings are in segstore.conf.\ninclude_if_exists = 'segstore.conf'\n");
        fs::write(&conf, text)?;
        Ok(())
    }

    /// Settings that follow the cluster's location (rewritten at every start).
    fn write_settings(&self) -> anyhow::Result<()> {
        let path = self.pgdata.join("segstore.conf");
        let socket = self.socket_dir.to_string_lossy().replace('\'', "''");
        fs::write(
            &path,
            format!(
                "listen_addresses = ''\nunix_socket_directories = '{socket}'\nport = {PORT}\n\
                 max_connections = 300\nshared_buffers = 256MB\nmax_wal_size = 4GB\n\
                 log_min_messages = warning\n"
            ),
        )?;
        self.own(&path, false)?;
        self.own(&self.socket_dir, false)?;
        Ok(())
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.pgdata)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running pg_ctl status")?;
        Ok(status.success())
    }

    /// `pg_ctl`/`initdb` from the server's bin directory, as the right user.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(self.pgdata.parent().unwrap_or(Path::new("/")));
        cmd.env_remove("PGDATA").env("LC_ALL", "C");
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.env("HOME", &user.dir);
        }
        cmd
    }

    /// Hands a path to the server's user when running as root.
    fn own(&self, path: &Path, recursive: bool) -> anyhow::Result<()> {
        let Some(user) = &self.run_as else {
            return Ok(());
        };
        if !path.exists() {
            fs::File::create(path)?;
        }
        nix::unistd::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("chown {}", path.display()))?;
        if recursive && path.is_dir() {
            for entry in fs::read_dir(path)? {
                let entry = entry?;
                if entry.file_name() != "postgres" {
                    self.own(&entry.path(), false)?;
                }
            }
        }
        Ok(())
    }

    /// A program of this cluster's PostgreSQL installation (`pg_basebackup`, `psql`…), run as
    /// the cluster's user.
    pub fn tool(&self, program: &str) -> Command {
        self.command(program)
    }

    /// Connection options for a database of this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username("postgres")
            .database(database)
    }

    /// A `DATABASE_URL` for a database of this cluster (over its Unix socket).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost:{PORT}/{database}?host={}",
            self.socket_dir.display()
        )
    }

    /// Stops the server if this process started it.
    pub fn stop(&self) {
        if !self.started {
            return;
        }
        match self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.pgdata)
            .args(["-m", "fast", "-w", "-s"])
            .status()
        {
            Ok(s) if s.success() => tracing::info!("stopped the embedded PostgreSQL"),
            Ok(s) => tracing::warn!(status = %s, "pg_ctl stop failed"),
            Err(e) => tracing::warn!(error = %e, "could not run pg_ctl stop"),
        }
    }

    /// Hands the stop over to a small watchdog that stops the server once process `pid` has
    /// exited (for test suites, which have no shutdown hook). Does nothing unless this process
    /// started the server.
    pub fn stop_after_exit_of(&mut self, pid: u32) -> anyhow::Result<()> {
        if !self.started {
            return Ok(());
        }
        let script =
            r#"while [ -d "/proc/$0" ]; do sleep 0.5; done; exec "$1" stop -D "$2" -m fast -s"#;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .arg(pid.to_string())
            .arg(self.bin_dir.join("pg_ctl"))
            .arg(&self.pgdata)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd.spawn().context("starting the stop watchdog")?;
        self.started = false;
        Ok(())
    }
}

/// The directory holding `initdb` and `pg_ctl`: the first on `path`, else the newest
/// `<versions>/<major>/bin` (Debian's layout, `/usr/lib/postgresql/15/bin`).
fn find_bin_dir(path: std::ffi::OsString, versions: &Path) -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    for dir in std::env::split_paths(&path) {
        if has_tools(&dir) {
            // Resolve symlinks: pg_ctl finds `postgres` next to its real location.
            let real = dir.join("pg_ctl").canonicalize()?;
            return Ok(real.parent().unwrap_or(&dir).to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin",
    )
}

/// Whether `user` can traverse every directory down to `path`.
fn reachable_by(path: &Path, user: &User) -> bool {
    path.ancestors().all(|dir| match fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode();
            if meta.uid() == user.uid.as_raw() {
                mode & 0o100 != 0
            } else if meta.gid() == user.gid.as_raw() {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        }
        Err(_) => false,
    })
}

/// Unix socket paths are limited to 107 bytes: use the cluster's directory when it is short
/// enough, else a private directory under /tmp named after it.
fn short_socket_dir(home: &Path) -> anyhow::Result<PathBuf> {
    let name_len = ".s.PGSQL.5432".len() + 1;
    if home.as_os_str().len() + name_len < 100 {
        return Ok(home.to_path_buf());
    }
    let dir = PathBuf::from(format!(
        "/tmp/segstore-{:016x}",
        fnv1a(home.to_string_lossy().as_bytes())
    ));
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_debian_layout_and_explains_when_there_is_none() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9", "13", "15"] {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for tool in ["initdb", "pg_ctl"] {
                fs::write(bin.join(tool), "").unwrap();
            }
        }
        let found = find_bin_dir("".into(), root.path()).unwrap();
        assert_eq!(found, root.path().join("15").join("bin"));

        let empty = tempfile::tempdir().unwrap();
        let err = find_bin_dir("/nonexistent".into(), empty.path())
            .context(NO_POSTGRES)
            .unwrap_err();
        let message = format!("{err:#}");
        for hint in [
            "DATABASE_URL",
            "apt install postgresql",
            "docker compose up",
        ] {
            assert!(message.contains(hint), "{message}");
        }
    }
}
