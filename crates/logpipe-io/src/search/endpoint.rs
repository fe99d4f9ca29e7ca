//! Where the search engine is and how requests to it are authenticated, from the variables every part
//! that talks to it reads (the forwarder, the canary, `logpipe trace` and `logpipe search`).

use logcore::base::env::{ConfigError, Env};
use logcore::search::index_setup::Hosting;

/// How requests to the search engine are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// AWS SigV4 with the function's role: `es` (OpenSearch Service) or `aoss` (Serverless).
    SigV4 {
        service: String,
    },
    /// Basic auth or an Elastic API key, read from this Secrets Manager secret at cold start: JSON with
    /// `username` and `password`, or `api_key` (the encoded key, or with `id` the raw one).
    Secret {
        arn: String,
    },
}

/// Where the search engine is and how to authenticate to it: `SEARCH_URL`, `SEARCH_AUTH`,
/// `SEARCH_SECRET_ARN` (and `AWS_REGION` for SigV4). Shared by everything that talks to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL, e.g. `https://search-logs-abc.eu-west-1.es.amazonaws.com`.
    pub url: String,
    pub auth: Auth,
    pub region: Option<String>,
}

impl Endpoint {
    /// Who runs the engine: Serverless when signed for `aoss` (or on an `*.aoss.amazonaws.com` host), an
    /// OpenSearch Service domain when signed for `es` or on another `*.amazonaws.com` host.
    pub fn hosting(&self) -> Hosting {
        let host = host_of(&self.url);
        match &self.auth {
            Auth::SigV4 { service } if service == "aoss" => Hosting::Serverless,
            _ if host.ends_with(".aoss.amazonaws.com") => Hosting::Serverless,
            Auth::SigV4 { .. } => Hosting::Aws,
            _ if host.ends_with(".amazonaws.com") => Hosting::Aws,
            _ => Hosting::SelfManaged,
        }
    }

    /// From the variables; `SEARCH_URL` is required.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.get("SEARCH_URL").ok_or_else(|| {
            env.err(
                "SEARCH_URL",
                "",
                "required: the cluster's base URL (https://…)",
            )
        })?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(env.err("SEARCH_URL", &url, "expected an https:// (or http://) URL"));
        }
        let region = env.get("AWS_REGION");
        let host = host_of(&url);
        let auth = match env
            .get("SEARCH_AUTH")
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            Some(a) if a == "none" => Auth::None,
            Some(a) if a == "sigv4" || a == "es" || a == "aoss" => Auth::SigV4 {
                service: if a == "aoss" || host.ends_with(".aoss.amazonaws.com") {
                    "aoss".into()
                } else {
                    "es".into()
                },
            },
            Some(a) if a == "secret" => match env.get("SEARCH_SECRET_ARN") {
                Some(arn) => Auth::Secret { arn },
                None => {
                    return Err(env.err(
                        "SEARCH_SECRET_ARN",
                        "",
                        "required with SEARCH_AUTH=secret",
                    ))
                }
            },
            Some(other) => {
                return Err(env.err(
                    "SEARCH_AUTH",
                    &other,
                    "expected sigv4, aoss, secret or none",
                ))
            }
            None => match env.get("SEARCH_SECRET_ARN") {
                Some(arn) => Auth::Secret { arn },
                None if host.ends_with(".aoss.amazonaws.com") => Auth::SigV4 {
                    service: "aoss".into(),
                },
                None if host.ends_with(".es.amazonaws.com") => Auth::SigV4 {
                    service: "es".into(),
                },
                None => Auth::None,
            },
        };
        if matches!(auth, Auth::SigV4 { .. }) && region.is_none() {
            return Err(env.err("AWS_REGION", "", "SigV4 signing needs the region"));
        }
        Ok(Endpoint { url, auth, region })
    }
}

/// The host of a URL, lower case (`https://Search-X.es.amazonaws.com:443/` → `search-x.es.amazonaws.com`).
fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}
