//! Which HTTP proxy a request goes through, from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, in upper or lower case), as Go's container tools decide it: a
//! registry on this machine (`localhost`, `*.localhost`, a loopback address) is always reached
//! directly, whatever the variables say.
//!
//! reqwest reads the same variables itself, but it sends loopback requests to the proxy, and it
//! does not say which proxy a failed connection went to; the decision is made here instead, for
//! every client of a registry ([`reqwest_proxy`]), so that messages can name the proxy
//! ([`describe`]).

use std::net::IpAddr;
use std::sync::OnceLock;

/// The proxy settings read from the environment once per process (no `Debug`: a proxy's URL
/// may hold its password).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    /// The proxy of `https://` requests, and the variable that named it.
    pub https: Option<(url::Url, &'static str)>,
    /// The proxy of `http://` requests, and the variable that named it.
    pub http: Option<(url::Url, &'static str)>,
    /// `NO_PROXY`'s entries, lowercased.
    pub no_proxy: Vec<String>,
    /// Variables whose value is no HTTP proxy this tool can use (`socks5://…`, not a URL): said
    /// once, and requests go without them.
    pub unusable: Vec<(&'static str, String)>,
}

impl ProxyEnv {
    /// Reads the variables through `var` (the process environment in [`ProxyEnv::current`]).
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let unusable = std::cell::RefCell::new(Vec::new());
        let first = |names: &[&'static str]| {
            let (name, value) = names
                .iter()
                .find_map(|name| set(name).map(|value| (*name, value)))?;
            let value = value.trim();
            // `proxy:3128` without a scheme means an HTTP proxy, as curl and Go read it.
            let with_scheme = if value.contains("://") {
                value.to_string()
            } else {
                format!("http://{value}")
            };
            match url::Url::parse(&with_scheme) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                    Some((url, name))
                }
                Ok(url) => {
                    unusable.borrow_mut().push((
                        name,
                        format!("a {} proxy, which this tool does not speak", url.scheme()),
                    ));
                    None
                }
                Err(e) => {
                    unusable
                        .borrow_mut()
                        .push((name, format!("not a proxy URL ({e})")));
                    None
                }
            }
        };
        let all = ["ALL_PROXY", "all_proxy"];
        let https = first(&["HTTPS_PROXY", "https_proxy"]).or_else(|| first(&all));
        let http = first(&["HTTP_PROXY", "http_proxy"]).or_else(|| first(&all));
        let mut unusable = unusable.into_inner();
        unusable.dedup();
        ProxyEnv {
            https,
            http,
            no_proxy: ["NO_PROXY", "no_proxy"]
                .iter()
                .find_map(|name| set(name))
                .unwrap_or_default()
                .split(',')
                .map(|entry| entry.trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
            unusable,
        }
    }

    /// This process's settings.
    pub fn current() -> &'static ProxyEnv {
        static CURRENT: OnceLock<ProxyEnv> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let env = ProxyEnv::read(|name| std::env::var(name).ok());
            for (name, why) in &env.unusable {
                crate::log::emit(0, || {
                    format!("${name} is {why}: requests go without it (set an http:// proxy, or unset it)")
                });
            }
            env
        })
    }

    /// The proxy a request to `url` goes through, and the variable that named it; `None` for a
    /// direct connection (no proxy set for its scheme, a host on this machine, or one `NO_PROXY`
    /// lists).
    pub fn for_url(&self, url: &url::Url) -> Option<&(url::Url, &'static str)> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref()?,
            "http" => self.http.as_ref()?,
            _ => return None,
        };
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.to_ascii_lowercase();
        if is_this_machine(&host) || self.excluded(&host, url.port_or_known_default()) {
            return None;
        }
        Some(proxy)
    }

    /// True when `NO_PROXY` lists `host` (with `port`): `*`, the host itself, a domain it is in
    /// (`example.com` or `.example.com`), an address, or an address range (`10.0.0.0/8`); an
    /// entry with a port matches that port alone.
    fn excluded(&self, host: &str, port: Option<u16>) -> bool {
        let address: Option<IpAddr> = host.parse().ok();
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = split_port(entry);
            if entry_port.is_some() && entry_port != port {
                return false;
            }
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if let (Some(address), Some((network, bits))) = (address, name.split_once('/')) {
                return network
                    .parse::<IpAddr>()
                    .ok()
                    .zip(bits.parse::<u8>().ok())
                    .is_some_and(|(network, bits)| in_range(address, network, bits));
            }
            if let (Some(address), Ok(listed)) = (address, name.parse::<IpAddr>()) {
                return address == listed;
            }
            // `example.com` is the domain and its subdomains; `.example.com` (or `*.example.com`)
            // its subdomains alone, as Go reads it.
            match name.strip_prefix("*.").or_else(|| name.strip_prefix('.')) {
                Some(domain) => !domain.is_empty() && host.ends_with(&format!(".{domain}")),
                None => !name.is_empty() && (host == name || host.ends_with(&format!(".{name}"))),
            }
        })
    }
}

/// `host:port` split, for a `NO_PROXY` entry (an IPv6 address without brackets has no port).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if entry.matches(':').count() > 1 && !entry.starts_with('[') {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((name, port)) => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        None => (entry, None),
    }
}

/// True when `address` is in `network/bits`.
fn in_range(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// True for a host on this machine: `localhost`, a name under `.localhost`, a loopback address.
fn is_this_machine(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// The proxy setting of every client of a registry: the decision of [`ProxyEnv::current`], per
/// request.
pub(crate) fn reqwest_proxy() -> reqwest::Proxy {
    reqwest::Proxy::custom(|url| {
        ProxyEnv::current()
            .for_url(url)
            .map(|(proxy, _)| proxy.clone())
    })
}

/// The proxy requests to `url` go through in this process, for messages ([`ProxyEnv::describe`]).
pub(crate) fn describe(url: &str) -> Option<String> {
    ProxyEnv::current().describe(url)
}

impl ProxyEnv {
    /// The proxy requests to `url` go through, for messages: `HOST:PORT (from $HTTPS_PROXY)`,
    /// never its credentials; `None` for a direct connection.
    pub fn describe(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        let (proxy, variable) = self.for_url(&url)?;
        Some(format!(
            "{}{} (from ${variable})",
            proxy.host_str().unwrap_or_default(),
            proxy
                .port_or_known_default()
                .map(|p| format!(":{p}"))
                .unwrap_or_default()
        ))
    }
}

/// What a proxy that asks for credentials (HTTP 407) means for a request to `url`.
pub(crate) fn auth_wanted(url: &str) -> String {
    let proxy = describe(url).unwrap_or_else(|| "between here and the registry".into());
    format!("the proxy {proxy} {}", refused_credentials_advice(url))
}

/// What to do about a 407 of the proxy of `url`: give credentials, or check those given.
pub(crate) fn refused_credentials_advice(url: &str) -> String {
    let has_credentials = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            ProxyEnv::current()
                .for_url(&u)
                .map(|(p, _)| !p.username().is_empty())
        })
        .unwrap_or(false);
    if has_credentials {
        "refused the credentials in its URL (HTTP 407): check them (only Basic proxy authentication is spoken, not NTLM or Negotiate), or add the registry's host to NO_PROXY".into()
    } else {
        "asks for credentials (HTTP 407): put them in the proxy's URL (`http://USER:PASSWORD@HOST:PORT`), or add the registry's host to NO_PROXY".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::read(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn proxied(env: &ProxyEnv, url: &str) -> Option<String> {
        env.for_url(&url::Url::parse(url).unwrap())
            .map(|(p, var)| format!("{} {var}", p.as_str()))
    }

    #[test]
    fn a_registry_on_this_machine_is_reached_directly_whatever_the_variables_say() {
        let env = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("HTTP_PROXY", "http://proxy:3128"),
        ]);
        for url in [
            "http://127.0.0.1:5000/v2/",
            "https://localhost:5000/v2/",
            "https://reg.localhost/v2/",
            "http://[::1]:5000/v2/",
            "http://127.0.0.2:5000/v2/",
        ] {
            assert_eq!(proxied(&env, url), None, "{url}");
        }
        assert_eq!(
            proxied(&env, "https://myacr.azurecr.io/v2/").as_deref(),
            Some("http://proxy:3128/ HTTPS_PROXY")
        );
    }

    #[test]
    fn each_scheme_takes_its_own_variable_then_all_proxy() {
        let env = env(&[("https_proxy", "proxy:8443"), ("ALL_PROXY", "http://all:1")]);
        assert_eq!(
            proxied(&env, "https://reg.io/v2/").as_deref(),
            Some("http://proxy:8443/ https_proxy")
        );
        assert_eq!(
            proxied(&env, "http://reg.io/v2/").as_deref(),
            Some("http://all:1/ ALL_PROXY")
        );
        assert_eq!(proxied(&ProxyEnv::default(), "https://reg.io/v2/"), None);
    }

    #[test]
    fn no_proxy_lists_hosts_domains_addresses_ranges_and_ports() {
        let env = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "internal.example, .corp.io, 10.0.0.0/8, 192.168.1.7, fd00::/8, reg.io:8443",
            ),
        ]);
        for direct in [
            "https://internal.example/v2/",
            "https://a.internal.example/v2/",
            "https://x.corp.io/v2/",
            "https://10.20.30.40/v2/",
            "https://192.168.1.7:5000/v2/",
            "https://[fd12::1]/v2/",
            "https://reg.io:8443/v2/",
        ] {
            assert_eq!(proxied(&env, direct), None, "{direct}");
        }
        for through in [
            "https://notinternal.example/v2/",
            // `.corp.io` names its subdomains alone, as Go reads it.
            "https://corp.io/v2/",
            "https://11.0.0.1/v2/",
            "https://192.168.1.8/v2/",
            "https://reg.io/v2/",
            "https://myacr.azurecr.io/v2/",
        ] {
            assert!(proxied(&env, through).is_some(), "{through}");
        }
        let everything = super::tests::env(&[("HTTPS_PROXY", "proxy:1"), ("no_proxy", "*")]);
        assert_eq!(proxied(&everything, "https://reg.io/v2/"), None);
        // An empty NO_PROXY does not hide no_proxy.
        let lower = super::tests::env(&[
            ("HTTPS_PROXY", "proxy:1"),
            ("NO_PROXY", ""),
            ("no_proxy", "reg.io"),
        ]);
        assert_eq!(proxied(&lower, "https://reg.io/v2/"), None);
    }

    #[test]
    fn a_proxy_this_tool_cannot_speak_is_named_and_not_used() {
        let env = env(&[
            ("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
            ("HTTP_PROXY", "http://[bad"),
        ]);
        assert_eq!(proxied(&env, "https://reg.io/v2/"), None);
        assert_eq!(proxied(&env, "http://reg.io/v2/"), None);
        let named: Vec<&str> = env.unusable.iter().map(|(n, _)| *n).collect();
        assert_eq!(named, ["HTTPS_PROXY", "HTTP_PROXY"]);
        assert!(
            env.unusable[0].1.contains("socks5"),
            "{:?}",
            env.unusable[0].1
        );
    }

    #[test]
    fn a_proxy_is_described_without_its_credentials() {
        let env = env(&[("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128")]);
        assert_eq!(
            env.describe("https://reg.io/v2/").as_deref(),
            Some("proxy.corp:3128 (from $HTTPS_PROXY)")
        );
        assert_eq!(env.describe("https://127.0.0.1:5000/v2/"), None);
    }
}
