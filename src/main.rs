//! Binary entry point: parses the command line and hands off to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use siptrunk_operator::controller;
use siptrunk_operator::leader::LeaseConfig;
use siptrunk_operator::runner::{RunOptions, run_until_signal};
use siptrunk_operator::telemetry::{self, LogFormat};

/// jemalloc instead of glibc malloc: at 10,000 trunks glibc kept ≈ 20 MiB more resident for the
/// same work (freed list pages and replaced objects stay resident in its arenas), at 1,000 the
/// two are equal; see README "Performance", P4.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (the weak `malloc_conf` symbol of the prefixed build;
/// `_RJEM_MALLOC_CONF` in the environment still overrides them): one arena instead of four per
/// core, freed pages returned to the kernel at once instead of after 10 s, and small thread
/// caches. At 10,000 trunks (P4) this held 93.6 MiB peak RSS against 115.5 MiB with the defaults
/// (one run each); see README "Performance".
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: Option<&'static std::ffi::c_char> =
    Some(unsafe { &*c"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0,tcache_max:1024".as_ptr() });

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
        /// Reconciles of one provider account running at once (default: half of --concurrency).
        #[arg(long, env = "SIPTRUNK_ACCOUNT_CONCURRENCY")]
        account_concurrency: Option<u16>,
        /// Longest wait between retries of a transient provider failure, e.g. 5m or 30s
        /// (retries start at 1 s and double up to this).
        #[arg(long, default_value = "5m", value_parser = parse_backoff)]
        max_backoff: std::time::Duration,
        /// Hosts a provider's baseUrl may name besides its type's documented API host: host names,
        /// *.suffix wildcards, IP addresses and CIDR ranges, comma-separated (default: none).
        #[arg(long, env = "SIPTRUNK_ALLOWED_PROVIDER_HOSTS", default_value = "", value_parser = parse_egress)]
        allowed_provider_hosts: siptrunk_operator::provider::egress::EgressPolicy,
        /// Take part in leader election (required when replicas > 1).
        #[arg(long)]
        leader_elect: bool,
        /// Name of the Lease.
        #[arg(long, default_value = "siptrunk-operator")]
        lease_name: String,
        /// Namespace of the Lease.
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// Secret (in POD_NAMESPACE) holding the ownership-marker key; created with a random
        /// key on first start when absent. Back it up: a rebuilt cluster needs the same key.
        #[arg(long, env = "SIPTRUNK_MARKER_KEY_SECRET", default_value = controller::marker_key::DEFAULT_SECRET)]
        marker_key_secret: String,
    },
    /// Print the CustomResourceDefinitions (crds/ holds exactly this).
    Crd,
    #[cfg(feature = "standins")]
    /// Serve one provider emulator (autocalls, famulor, bolna or livekit) for local work.
    Emulator {
        /// Provider API to emulate.
        #[arg(long, default_value = "autocalls")]
        flavor: String,
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8090)]
        port: u16,
        /// Accepted API token (livekit: KEY:SECRET; default: a generated one, printed at start).
        #[arg(long)]
        token: Option<String>,
    },
    #[cfg(feature = "standins")]
    /// Everything in one process: emulated cluster, emulated providers and the controller;
    /// applies the examples and prints trunks converging.
    Demo {
        /// Read examples from this directory instead of the ones built into the binary.
        #[arg(long)]
        examples: Option<PathBuf>,
        /// Fail when not all trunks are Ready within this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Stay up afterwards for kubectl (writes a kubeconfig) until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Where --keep-running writes the kubeconfig.
        #[arg(long, default_value = "siptrunk-demo.kubeconfig")]
        kubeconfig: PathBuf,
        /// Address of the emulated API server (default: a free port).
        #[arg(long)]
        kube_addr: Option<SocketAddr>,
    },
    #[cfg(feature = "standins")]
    /// Performance at scale against the stand-ins; prints a table (P1-P5).
    Bench {
        /// Small sizes and one run (a smoke check, not the targets).
        #[arg(long)]
        quick: bool,
        /// Runs of P2, P3, P4 and P5 (default: 3, quick: 1).
        #[arg(long)]
        runs: Option<usize>,
        /// Only these figures, comma-separated (p1,p2,p3,p4,p5; i1,m1 isolation).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Sizes of P4, comma-separated (default 1000,5000,10000; quick 200).
        #[arg(long, hide = true, value_delimiter = ',')]
        p4_n: Vec<usize>,
        /// Trunks of P2 (default 1000, quick 100), e.g. 10000 for the cold start of issue 12.
        #[arg(long, hide = true)]
        p2_n: Option<usize>,
    },
    /// Show what the operator would do for the SipTrunks in YAML files, against the live
    /// provider accounts: read-only, no cluster needed.
    #[command(after_long_help = siptrunk_operator::plan::HELP)]
    Plan {
        /// YAML files or directories (recursive, multi-document); - reads standard input.
        #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Namespace of namespaced objects that name none.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: siptrunk_operator::plan::render::Format,
        /// Use URL for every provider of TYPE (a SipProvider spec.type), e.g. a local emulator.
        #[arg(long, value_name = "TYPE=URL", value_parser = siptrunk_operator::plan::parse_override)]
        base_url_override: Vec<(String, String)>,
    },
}

fn parse_egress(s: &str) -> Result<siptrunk_operator::provider::egress::EgressPolicy, String> {
    siptrunk_operator::provider::egress::EgressPolicy::parse(s)
}

fn parse_backoff(s: &str) -> Result<std::time::Duration, String> {
    match controller::validate::parse_duration(s) {
        Some(d) if d >= std::time::Duration::from_secs(1) => Ok(d),
        Some(_) => Err("must be at least 1s".into()),
        None => Err(format!("{s:?} is not a duration such as 30s, 5m or 1h")),
    }
}

/// Prints command output; a reader that went away (`| head`) ends it quietly.
fn emit(text: &str) -> Result<(), String> {
    match siptrunk_operator::output::stdout(text) {
        siptrunk_operator::output::Written::All | siptrunk_operator::output::Written::ReaderGone => Ok(()),
        siptrunk_operator::output::Written::Failed(e) => Err(format!("cannot write the output: {e}")),
    }
}

/// Runs `plan` and maps its outcome to the documented exit codes (0, 2, 1).
fn run_plan(rt: &tokio::runtime::Runtime, command: Command) -> ExitCode {
    let Command::Plan { files, namespace, output, base_url_override } = command else { return ExitCode::FAILURE };
    use siptrunk_operator::plan;
    let opts = plan::Options {
        paths: files,
        namespace,
        base_url_overrides: base_url_override.into_iter().collect(),
        env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("SIPTRUNK_"))
            .collect(),
    };
    match rt.block_on(plan::plan(opts)) {
        Ok(p) => {
            let text = match output {
                plan::render::Format::Text => plan::render::text(&p),
                plan::render::Format::Json => format!("{:#}\n", plan::render::json(&p)),
            };
            match emit(&text) {
                Ok(()) => ExitCode::from(p.exit_code()),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Plan { .. } => "error",
        #[cfg(feature = "standins")]
        Command::Demo { .. } | Command::Bench { .. } => "error",
        _ => "info,kube=warn",
    };
    telemetry::init(cli.log_format, default_filter);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    siptrunk_operator::tls::install_crypto_provider();
    if let Command::Plan { .. } = cli.command {
        return run_plan(&rt, cli.command);
    }
    let result = rt.block_on(async move {
        match cli.command {
            #[cfg(feature = "standins")]
            Command::Emulator { flavor, port, token } => {
                if flavor.eq_ignore_ascii_case("livekit") {
                    let (key, secret) = match token.as_deref().map(|t| t.split_once(':')) {
                        Some(Some((k, s))) => (Some(k.to_string()), Some(s.to_string())),
                        Some(None) => return Err("--token for livekit is KEY:SECRET".to_string()),
                        None => (None, None),
                    };
                    return siptrunk_operator::emulator::livekit::run_standalone(port, key, secret)
                        .await
                        .map_err(|e| e.to_string());
                }
                let flavor: siptrunk_operator::emulator::Flavor = flavor.parse().map_err(|e| format!("{e}"))?;
                let mut cfg = siptrunk_operator::emulator::EmulatorConfig::new(flavor);
                cfg.addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
                if let Some(t) = token {
                    cfg.tokens.push(t);
                }
                siptrunk_operator::emulator::run_standalone(cfg).await.map_err(|e| e.to_string())
            }
            #[cfg(feature = "standins")]
            Command::Demo { examples, timeout, keep_running, kubeconfig, kube_addr } => {
                siptrunk_operator::demo::run(siptrunk_operator::demo::DemoOptions {
                    examples,
                    timeout: std::time::Duration::from_secs(timeout),
                    keep_running,
                    kubeconfig,
                    kube_addr,
                })
                .await
            }
            #[cfg(feature = "standins")]
            Command::Bench { quick, runs, only, p4_n, p2_n } => {
                let mut opts = if quick {
                    siptrunk_operator::bench::BenchOptions::quick()
                } else {
                    siptrunk_operator::bench::BenchOptions::full()
                };
                opts.runs = runs.unwrap_or(opts.runs).max(1);
                opts.only = only;
                if !p4_n.is_empty() {
                    opts.p4_sizes = p4_n;
                }
                opts.p2_n = p2_n.unwrap_or(opts.p2_n);
                opts.operator_binary = std::env::var_os("SIPTRUNK_BENCH_OPERATOR")
                    .map(Into::into)
                    .or_else(|| std::env::current_exe().ok());
                siptrunk_operator::bench::run(opts).await.and_then(|r| emit(&r.table()))
            }
            Command::Plan { .. } => Err("plan runs before this dispatch".into()),
            Command::Crd => siptrunk_operator::crd::to_yaml().map_err(|e| e.to_string()).and_then(|y| emit(&y)),
            Command::Run {
                http_addr,
                watch_namespace,
                label_selector,
                concurrency,
                account_concurrency,
                max_backoff,
                allowed_provider_hosts,
                leader_elect,
                lease_name,
                lease_namespace,
                marker_key_secret,
            } => {
                let identity = siptrunk_operator::leader::identity();
                run_until_signal(RunOptions {
                    http_addr: Some(http_addr),
                    controller: controller::Config {
                        namespace: watch_namespace,
                        label_selector,
                        concurrency,
                        marker_key: controller::marker_key::MarkerKeySource::Secret {
                            namespace: None,
                            name: marker_key_secret,
                        },
                        account_concurrency,
                        egress: allowed_provider_hosts,
                        max_backoff,
                    },
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
