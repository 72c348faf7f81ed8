//! Smoke test of `siptrunk-operator bench`: the quick mode with tiny sizes runs end to end and
//! prints all five figures. No timing is asserted (CI machines vary); only behaviour: in steady
//! state one list call serves a whole drift round of the account and nothing is written.

use std::time::Duration;

use siptrunk_operator::bench::{self, BenchOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_bench_prints_all_five_figures() {
    let opts = BenchOptions {
        p1_sizes: vec![20],
        p1_windows: 2,
        p2_n: 20,
        p3_samples: 5,
        p4_sizes: vec![20],
        p4_drift: Duration::from_secs(1),
        p5_samples: 3,
        runs: 1,
        progress: false,
        operator_binary: Some(env!("CARGO_BIN_EXE_siptrunk-operator").into()),
        ..BenchOptions::quick()
    };
    let report = bench::run(opts).await.expect("bench runs");
    let table = report.table();
    println!("{table}");
    for id in ["P1", "P2", "P3", "P4", "P5"] {
        assert!(table.lines().any(|l| l.starts_with(id)), "row {id} missing:\n{table}");
    }
    let p1 = &report.p1[0];
    assert_eq!(p1.writes, 0, "steady state writes to the provider: {p1:?}");
    assert_eq!(p1.other_calls, 0, "steady state reads single trunks: {p1:?}");
    assert_eq!(p1.kube_writes, 0, "steady state writes to Kubernetes: {p1:?}");
    let per_window = p1.lists_per_window();
    assert!((per_window - 1.0).abs() <= 0.2, "list calls per drift window: {per_window:.2} ({p1:?})");
    assert!(report.p4.first().is_some_and(|p| p.vm_hwm > 0), "P4 measured the controller process");
}
