use clap::Parser;
use segstore::cli::{Cli, Command};
use segstore::startup::{Application, Database};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(e) = segstore::telemetry::init(&cli.log) {
        eprintln!("segstore: {e:#}");
        return std::process::ExitCode::from(2);
    }
    match run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segstore: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Cluster(args) => segstore::cli::cluster::run(&args),
        Command::Clv(args) => segstore::cli::clv::run(&args),
        Command::Openapi => {
            print!("{}", segstore::http::openapi_json());
            Ok(())
        }
        Command::Migrate(settings) => {
            let db = Database::connect(&settings).await?;
            let result = db.migrate().await;
            db.close().await;
            result
        }
        Command::Keys(args) => {
            let db = Database::connect(&args.database).await?;
            let result = async {
                db.migrate().await?;
                segstore::cli::keys::run(&db.db.pool, args.command).await
            }
            .await;
            db.close().await;
            result
        }
        Command::ReportRole(args) => {
            let db = Database::connect(&args.database).await?;
            let result = async {
                db.migrate().await?;
                // BI tools connect to the standby when there is one: their queries leave the
                // primary alone.
                let standby = args
                    .database
                    .read_url()
                    .map(|url| {
                        url.parse::<segstore::store::ConnectOptions>().map_err(|e| {
                            anyhow::anyhow!("DATABASE_READ_URL is not a valid PostgreSQL URL: {e}")
                        })
                    })
                    .transpose()?;
                let at = match &standby {
                    Some(standby) => segstore::cli::report::Target::Standby(standby),
                    None => segstore::cli::report::Target::Primary(&db.db.direct),
                };
                segstore::cli::report::run(&db.db.pool, at, args.command).await
            }
            .await;
            db.close().await;
            result
        }
        Command::Serve(settings) => {
            segstore::startup::map_large_buffers();
            segstore::startup::lower_training_priority()?;
            let db = Database::connect(&settings.database).await?;
            let served = async {
                db.migrate().await?;
                segstore::cli::keys::bootstrap(
                    &db.db.pool,
                    &settings.database.data_dir,
                    settings.bootstrap_admin_key || binds_loopback_only(&settings.bind),
                )
                .await?;
                let app = Application::build(&settings, db.db.clone())?;
                tracing::info!(bind = %settings.bind, port = app.port(),
                    metrics_port = app.metrics_port(), "serving");
                app.run_until_stopped().await?;
                tracing::info!("stopped");
                anyhow::Ok(())
            }
            .await;
            db.close().await;
            served
        }
    }
}

/// Whether every address `bind` names is a loopback one (only this machine can connect).
fn binds_loopback_only(bind: &str) -> bool {
    use std::net::ToSocketAddrs;
    bind.to_socket_addrs()
        .map(|addrs| {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        })
        .unwrap_or(false)
}
