//! `siptrunk-operator plan -o json | head`: the reader goes away after a few bytes; the binary
//! must end quietly (no panic, no exit 101).

use std::io::Read;
use std::process::{Command, Stdio};

/// Trunks whose provider is not in the input: `plan` reports each as an error without any
/// provider call, and the JSON is far larger than a pipe's buffer.
fn input(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: siptrunk.dev/v1alpha1\nkind: SipTrunk\nmetadata: {{name: t{i}, namespace: voice}}\n\
                 spec:\n  providerRef: {{name: nowhere}}\n  displayName: Line {i}\n  phoneNumber: \"+1415555{i:04}\"\n  \
                 sipAddress: sip.carrier.example\n  auth: {{type: ip, allowedInboundIps: [\"192.0.2.1\"]}}\n"
            )
        })
        .collect()
}

fn run_and_close_early(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_siptrunk-operator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut head = [0u8; 64];
    out.read_exact(&mut head).expect("the first bytes arrive");
    drop(out); // like `head -c 64`: the reader exits
    let done = child.wait_with_output().expect("wait");
    (done.status.code(), String::from_utf8_lossy(&done.stderr).into_owned())
}

#[test]
fn plan_json_into_a_closed_pipe_ends_without_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("trunks.yaml");
    std::fs::write(&file, input(600)).expect("write input");
    let path = file.to_string_lossy().into_owned();
    let (code, stderr) = run_and_close_early(&["plan", "-o", "json", "-f", &path]);
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_ne!(code, Some(101), "exit 101 is a panic: {stderr}");
    assert_eq!(code, Some(1), "the plan's own exit code (errors in the input): {stderr}");
}
