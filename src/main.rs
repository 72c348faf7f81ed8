//! Binary entry point: parses the command line and hands off to the library.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use siptrunk_operator::controller;
use siptrunk_operator::leader::LeaseConfig;
use siptrunk_operator::runner::{RunOptions, run_until_signal};
use siptrunk_operator::telemetry::{self, LogFormat};

/// Keeps SIP trunks on autocalls.ai, famulor and bolna.ai equal to SipTrunk objects.
#[derive(Parser)]
#[command(name = "siptrunk-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text", env = "SIPTRUNK_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (in-cluster, or with KUBECONFIG).
    Run {
        /// Address of /metrics, /healthz and /readyz.
        #[arg(long, default_value = "0.0.0.0:8080")]
        http_addr: SocketAddr,
        /// Only watch SipTrunks and SipProviders in this namespace.
        #[arg(long, env = "SIPTRUNK_WATCH_NAMESPACE")]
        watch_namespace: Option<String>,
        /// Only reconcile SipTrunks with these labels (sharding), e.g. shard=a.
        #[arg(long)]
        label_selector: Option<String>,
        /// Reconciles running at once.
        #[arg(long, default_value_t = 16)]
        concurrency: u16,
        /// Take part in leader election (required when replicas > 1).
        #[arg(long)]
        leader_elect: bool,
        /// Name of the Lease.
        #[arg(long, default_value = "siptrunk-operator")]
        lease_name: String,
        /// Namespace of the Lease.
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
    },
    /// Print the CustomResourceDefinitions (crds/ holds exactly this).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "info,kube=warn");
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Crd => siptrunk_operator::crd::to_yaml().map(|y| print!("{y}")).map_err(|e| e.to_string()),
            Command::Run { http_addr, watch_namespace, label_selector, concurrency, leader_elect, lease_name, lease_namespace } => {
                let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("siptrunk-operator-{}", std::process::id()));
                run_until_signal(RunOptions {
                    http_addr: Some(http_addr),
                    controller: controller::Config { namespace: watch_namespace, label_selector, concurrency },
                    lease: leader_elect.then(|| LeaseConfig::new(&lease_name, &lease_namespace, &identity)),
                })
                .await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
