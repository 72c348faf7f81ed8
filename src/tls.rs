//! Process-wide TLS setup: the rustls crypto provider (ring) that kube and reqwest use.

/// kube's rustls stack has both ring and aws-lc-rs compiled in (reqwest brings the latter), so a
/// process-level provider must be chosen before any client is built; this picks ring once (later
/// calls are no-ops).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
