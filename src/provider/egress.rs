//! Egress policy: which hosts a provider's `baseUrl` may point at. By default only the documented
//! API host of the provider's type (API.md); other hosts, IP addresses or CIDR ranges only where
//! the operator's configuration lists them (`--allowed-provider-hosts`,
//! `SIPTRUNK_ALLOWED_PROVIDER_HOSTS`, Helm `providerEgress.allowedHosts`). A tenant who can write
//! a SipProvider cannot make the operator call the Kubernetes API server or a metadata service.

use std::net::IpAddr;

use crate::crd::ProviderType;

/// Hosts allowed besides each type's documented one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Exact host names (lower case), or `*.suffix` wildcards.
    pub hosts: Vec<String>,
    /// IP ranges (address, prefix length) for IP-literal hosts.
    pub cidrs: Vec<(IpAddr, u8)>,
}

impl EgressPolicy {
    /// Parses a comma- or whitespace-separated list of host names, `*.suffix` wildcards, IP
    /// addresses and CIDR ranges.
    pub fn parse(list: &str) -> Result<EgressPolicy, String> {
        let mut p = EgressPolicy::default();
        for entry in list.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
            p.add(entry)?;
        }
        Ok(p)
    }

    /// Loopback only (127.0.0.0/8, ::1, localhost): for the demo, tests and the benchmark, whose
    /// provider emulators listen on 127.0.0.1.
    pub fn loopback() -> EgressPolicy {
        EgressPolicy::parse("127.0.0.0/8,::1/128,localhost").unwrap_or_default()
    }

    fn add(&mut self, entry: &str) -> Result<(), String> {
        let e = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Some((addr, len)) = e.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| format!("{entry:?} is not a CIDR range"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len: u8 = len.parse().ok().filter(|l| *l <= max).ok_or_else(|| format!("{entry:?}: bad prefix"))?;
            self.cidrs.push((addr, len));
        } else if let Ok(addr) = e.trim_matches(['[', ']']).parse::<IpAddr>() {
            self.cidrs.push((addr, if addr.is_ipv4() { 32 } else { 128 }));
        } else {
            let name = e.strip_prefix("*.").unwrap_or(&e);
            let ok = !name.is_empty()
                && name.split('.').all(|l| {
                    !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                return Err(format!("{entry:?} is neither a host name, an IP address nor a CIDR range"));
            }
            self.hosts.push(e);
        }
        Ok(())
    }

    fn allows_name(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1 && host.ends_with(suffix) && {
                    let cut = host.len() - suffix.len();
                    host.as_bytes()[cut - 1] == b'.'
                }
            }
            None => h == host,
        })
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|(net, len)| in_cidr(ip, *net, *len))
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_cidr(IpAddr::V4(v4), net, len)),
        _ => false,
    }
}

/// The documented API host of a provider type.
pub fn documented_host(t: ProviderType) -> &'static str {
    let url = t.default_base_url();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

/// Whether `host` (lower case, no trailing dot) is the type's documented host, or one of them
/// where it is a `*.suffix` wildcard (LiveKit Cloud: one host per project).
fn is_documented_host(t: ProviderType, host: &str) -> bool {
    let doc = documented_host(t);
    match doc.strip_prefix("*.") {
        Some(suffix) => host.strip_suffix(suffix).and_then(|h| h.strip_suffix('.')).is_some_and(|h| !h.is_empty()),
        None => host == doc,
    }
}

/// Whether `base_url` is the type's documented host (its answers are a provider's).
pub fn is_documented(t: ProviderType, base_url: &str) -> bool {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| is_documented_host(t, &h.trim_end_matches('.').to_ascii_lowercase())))
        .unwrap_or(false)
}

/// Checks a provider's base URL against the policy. The message says what to change.
pub fn check(policy: &EgressPolicy, t: ProviderType, base_url: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(base_url).map_err(|e| format!("baseUrl is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("baseUrl must not carry credentials".into());
    }
    let host = url.host_str().unwrap_or_default();
    let allowed = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => policy.allows_ip(ip),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            !d.is_empty() && (is_documented_host(t, &d) || policy.allows_name(&d))
        }
    };
    if allowed {
        return Ok(());
    }
    Err(format!(
        "baseUrl host {} is not {}, the documented API host of type {}, and the operator's egress policy does \
         not allow it (an administrator can allow hosts and CIDR ranges with --allowed-provider-hosts, \
         SIPTRUNK_ALLOWED_PROVIDER_HOSTS or the Helm value providerEgress.allowedHosts)",
        crate::provider::list::bounded(url.host_str().unwrap_or("(none)"), 100),
        documented_host(t),
        t.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_hosts_pass_and_others_need_the_policy() {
        let none = EgressPolicy::default();
        assert!(check(&none, ProviderType::Autocalls, "https://app.autocalls.ai/api").is_ok());
        assert!(check(&none, ProviderType::Famulor, "https://APP.famulor.de./api").is_ok());
        assert!(check(&none, ProviderType::Bolna, "https://api.bolna.ai").is_ok());
        // Another type's host, the API server, metadata and loopback are refused by default.
        for url in [
            "https://app.autocalls.ai/api",
            "https://kubernetes.default.svc/api",
            "http://169.254.169.254/latest",
            "http://127.0.0.1:8080/api",
            "http://[::1]:80/",
            "https://api.bolna.ai.evil.example/",
            "https://user:pw@api.bolna.ai/",
        ] {
            assert!(check(&none, ProviderType::Bolna, url).is_err(), "{url}");
        }
        let lo = EgressPolicy::loopback();
        assert!(check(&lo, ProviderType::Bolna, "http://127.0.0.1:8080/").is_ok());
        assert!(check(&lo, ProviderType::Bolna, "http://[::1]:8080/").is_ok());
        assert!(check(&lo, ProviderType::Bolna, "http://[::ffff:127.0.0.2]:8080/").is_ok());
        assert!(check(&lo, ProviderType::Bolna, "http://10.0.0.1/").is_err());
    }

    #[test]
    fn wildcards_and_cidrs() {
        let p = EgressPolicy::parse("*.corp.example, 10.1.0.0/16 proxy.example").unwrap();
        assert!(check(&p, ProviderType::Autocalls, "https://a.corp.example/api").is_ok());
        assert!(check(&p, ProviderType::Autocalls, "https://corp.example/api").is_err());
        assert!(check(&p, ProviderType::Autocalls, "https://xcorp.example/api").is_err());
        assert!(check(&p, ProviderType::Autocalls, "https://10.1.200.3/api").is_ok());
        assert!(check(&p, ProviderType::Autocalls, "https://10.2.0.1/api").is_err());
        assert!(check(&p, ProviderType::Autocalls, "https://proxy.example/api").is_ok());
        assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
        assert!(EgressPolicy::parse("bad_host!").is_err());
        assert_eq!(documented_host(ProviderType::Autocalls), "app.autocalls.ai");
        assert!(is_documented(ProviderType::Bolna, "https://api.bolna.ai/x"));
        assert!(!is_documented(ProviderType::Bolna, "http://127.0.0.1/x"));
        assert!(is_documented(ProviderType::Livekit, "https://my-project.livekit.cloud"));
        assert!(!is_documented(ProviderType::Livekit, "https://livekit.cloud"));
        assert!(!is_documented(ProviderType::Livekit, "https://evil-livekit.cloud"));
        assert!(check(&EgressPolicy::default(), ProviderType::Livekit, "https://p.livekit.cloud").is_ok());
        assert!(check(&EgressPolicy::default(), ProviderType::Livekit, "https://lk.example.com").is_err());
    }
}
