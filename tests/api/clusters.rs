//! PostgreSQL topologies of a test's own, from the installed binaries: a private cluster, a
//! hot standby of it (`pg_basebackup -R`), and PgBouncer in front of a database.

use segstore::startup::embedded_pg::EmbeddedPostgres;

/// A PostgreSQL cluster of the test's own, in a temporary directory; stopped when dropped.
pub struct PrivateCluster {
    root: tempfile::TempDir,
    pub server: EmbeddedPostgres,
}

impl PrivateCluster {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().to_owned();
        let server = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&path))
            .await
            .unwrap()
            .expect("a private PostgreSQL starts");
        segstore::store::create_database_if_missing(
            &server.connect_options("postgres"),
            "segstore",
        )
        .await
        .unwrap();
        Self { root, server }
    }

    pub fn url(&self) -> String {
        self.server.url("segstore")
    }

    /// `pg_ctl stop -m fast`: sessions are cut, as in a failover or a crash.
    pub fn stop(&self) {
        tokio::task::block_in_place(|| self.server.stop());
    }

    pub fn restart(&mut self) {
        let path = self.root.path().to_owned();
        self.server = tokio::task::block_in_place(|| EmbeddedPostgres::start(&path))
            .expect("the private PostgreSQL starts again");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// The host to connect to: the socket directory when the options name one.
fn host_of(options: &sqlx::postgres::PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_owned(),
    }
}

/// Hands a directory to the `postgres` system user when the tests run as root (the server's
/// tools then run as that user, and must be able to write there).
fn hand_to_postgres(path: &std::path::Path) {
    if nix::unistd::Uid::effective().is_root() {
        let user = nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("a postgres system user");
        nix::unistd::chown(path, Some(user.uid), Some(user.gid)).unwrap();
    }
}

/// A hot standby of a private cluster: `pg_basebackup -R` from it into a directory of its own,
/// started beside it (its own socket), streaming from it.
pub struct Standby {
    _root: tempfile::TempDir,
    pub server: EmbeddedPostgres,
}

impl Standby {
    pub async fn of(primary: &PrivateCluster) -> Self {
        let root = tempfile::tempdir().unwrap();
        hand_to_postgres(root.path());
        let options = primary.server.connect_options("postgres");
        let host = host_of(&options);
        let out = primary
            .server
            .tool("pg_basebackup")
            .args(["-h", &host, "-p", &options.get_port().to_string()])
            .args(["-U", "postgres", "-D"])
            .arg(root.path().join("postgres"))
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .output()
            .expect("pg_basebackup runs");
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = root.path().to_owned();
        let server = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&path))
            .await
            .unwrap()
            .expect("the standby starts");
        Self {
            _root: root,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.server.url("segstore")
    }

    pub async fn connect(&self) -> sqlx::PgConnection {
        use sqlx::ConnectOptions;
        self.server
            .connect_options("segstore")
            .connect()
            .await
            .unwrap()
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// Where Debian installs PgBouncer, else `PATH`.
fn pgbouncer_binary() -> std::path::PathBuf {
    let debian = std::path::Path::new("/usr/sbin/pgbouncer");
    if debian.exists() {
        return debian.to_owned();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.exists())
        .expect(
            "this test needs PgBouncer: install it with `apt-get install pgbouncer` \
             (.ci/run does)",
        )
}

/// PgBouncer in transaction pooling mode, as Debian ships it, in front of the PostgreSQL
/// server a URL names (every database of it), on a free port; stopped when dropped.
pub struct Bouncer {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub port: u16,
    server: sqlx::postgres::PgConnectOptions,
}

impl Bouncer {
    /// `pool_size` server sessions per database: fewer than segstore's pool, so that its
    /// transactions keep changing sessions.
    pub async fn before(url: &str, pool_size: u32) -> Self {
        use std::os::unix::process::CommandExt;
        use std::str::FromStr;
        let server = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
        let dir = tempfile::tempdir().unwrap();
        hand_to_postgres(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = server.get_username().to_owned();
        let d = dir.path().display();
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={host} port={server_port} user={user}\n\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\n\
                 pool_mode = transaction\ndefault_pool_size = {pool_size}\n\
                 max_client_conn = 500\nadmin_users = {user}\nstats_users = {user}\n\
                 logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n",
                host = host_of(&server),
                server_port = server.get_port(),
            ),
        )
        .unwrap();
        for file in ["users.txt", "pgbouncer.ini"] {
            hand_to_postgres(&dir.path().join(file));
        }
        let mut command = std::process::Command::new(pgbouncer_binary());
        command
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if nix::unistd::Uid::effective().is_root() {
            // PgBouncer refuses to run as root.
            let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
            command
                .uid(postgres.uid.as_raw())
                .gid(postgres.gid.as_raw());
        }
        let child = command.spawn().expect("pgbouncer starts");
        let bouncer = Self {
            child,
            dir,
            port,
            server,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer does not listen; its log:\n{}",
                bouncer.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        bouncer
    }

    /// A URL of `database` through PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}",
            self.server.get_username(),
            self.port
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// A `SHOW` of PgBouncer's admin console (it speaks the simple query protocol only: psql),
    /// as one map of column to value per row.
    pub fn show(&self, what: &str) -> Vec<std::collections::HashMap<String, String>> {
        let out = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", self.server.get_username(), "-d", "pgbouncer"])
            .args([
                "-A",
                "-F",
                "\t",
                "-P",
                "footer=off",
                "-c",
                &format!("SHOW {what}"),
            ])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .map(|h| h.to_string())
                    .zip(l.split('\t').map(str::to_owned))
                    .collect()
            })
            .collect()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
