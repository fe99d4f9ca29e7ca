//! The search engine over HTTP(S) with reqwest (rustls): every request signed with SigV4 (`es` or `aoss`,
//! `x-amz-content-sha256` included), authorised by a secret's basic auth or API key, or sent as is.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::{Auth, Endpoint, SearchApi};
use crate::{CallError, Reply};

/// How each request is authorised.
enum Signer {
    None,
    SigV4 {
        service: String,
        region: String,
        credentials: SharedCredentialsProvider,
    },
    /// A fixed `Authorization` header (basic auth or API key).
    Header(reqwest::header::HeaderValue),
}

/// The search engine over HTTP(S): `_bulk` for the forwarder, any request for the canary and `logpipe trace`.
pub struct HttpSearch {
    client: reqwest::Client,
    /// Base URL, without a trailing `/`.
    base: String,
    signer: Signer,
}

impl HttpSearch {
    /// A client for `ep`, keeping up to `pool` idle connections.
    pub async fn connect(
        ep: &Endpoint,
        pool: usize,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, CallError> {
        let signer = match &ep.auth {
            Auth::None => Signer::None,
            Auth::SigV4 { service } => Signer::SigV4 {
                service: service.clone(),
                region: ep
                    .region
                    .clone()
                    .ok_or_else(|| CallError::config("SigV4 needs AWS_REGION"))?,
                credentials: sdk.credentials_provider().ok_or_else(|| {
                    CallError::config("SigV4 needs AWS credentials, and none are configured")
                })?,
            },
            Auth::Secret { arn } => {
                let text = crate::secrets::secret_string(sdk, arn).await?;
                Signer::Header(
                    auth_header(&text)
                        .map_err(|e| CallError::config(format!("secret {arn}: {e}")))?,
                )
            }
        };
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(pool)
            .build()
            .map_err(|e| CallError::config(format!("building the HTTP client: {e}")))?;
        Ok(HttpSearch {
            client,
            base: ep.url.trim_end_matches('/').to_string(),
            signer,
        })
    }

    /// Send `method` to `path` (from the base URL, starting with `/`), signed or authorised as configured.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: Vec<(&str, String)>,
        body: Vec<u8>,
    ) -> Result<Reply, CallError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        match &self.signer {
            Signer::None => {}
            Signer::Header(h) => req = req.header(reqwest::header::AUTHORIZATION, h.clone()),
            Signer::SigV4 {
                service,
                region,
                credentials,
            } => {
                for (k, v) in sigv4_headers(
                    method.as_str(),
                    &url,
                    &headers,
                    &body,
                    service,
                    region,
                    credentials,
                )
                .await
                .map_err(CallError::retryable)?
                {
                    req = req.header(k, v);
                }
            }
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(crate::http::transport)?;
        crate::http::read_reply(resp).await
    }
}

/// The `Authorization` header from a secret: `{"username":…,"password":…}` (basic auth) or
/// `{"api_key":…}` (an encoded Elastic API key; with `"id"`, the raw key, encoded here).
pub fn auth_header(secret: &str) -> Result<reqwest::header::HeaderValue, String> {
    let v: serde_json::Value =
        serde_json::from_str(secret).map_err(|_| "the secret is not JSON".to_string())?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    let value = match (s("username"), s("password"), s("api_key"), s("id")) {
        (Some(u), Some(p), _, _) => format!(
            "Basic {}",
            base64_simd::STANDARD.encode_to_string(format!("{u}:{p}"))
        ),
        (_, _, Some(key), Some(id)) => format!(
            "ApiKey {}",
            base64_simd::STANDARD.encode_to_string(format!("{id}:{key}"))
        ),
        (_, _, Some(key), None) => format!("ApiKey {key}"),
        _ => {
            return Err(
                "expected JSON with username and password, or api_key (and optionally id)".into(),
            )
        }
    };
    let mut h = reqwest::header::HeaderValue::from_str(&value)
        .map_err(|_| "the credentials hold characters not allowed in a header".to_string())?;
    h.set_sensitive(true);
    Ok(h)
}

impl SearchApi for HttpSearch {
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, CallError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| CallError::config(format!("method {method}: {e}")))?;
        self.request(m, path, headers, body.unwrap_or_default())
            .await
    }
}

/// The SigV4 headers for a request (`x-amz-content-sha256` included, which Serverless requires).
async fn sigv4_headers(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    service: &str,
    region: &str,
    credentials: &SharedCredentialsProvider,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let creds = credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("AWS credentials: {e}"))?;
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("SigV4 request: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("SigV4 signing: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_headers_from_secrets() {
        let h = auth_header(r#"{"username":"elastic","password":"p:w"}"#).unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic ZWxhc3RpYzpwOnc=");
        assert!(h.is_sensitive());
        let h = auth_header(r#"{"id":"VuaCfGcBCdbkQm-e5aOx","api_key":"ui2lp2axTNmsyakw9tvNnw"}"#)
            .unwrap();
        assert_eq!(
            h.to_str().unwrap(),
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
        );
        assert_eq!(
            auth_header(r#"{"api_key":"abc=="}"#)
                .unwrap()
                .to_str()
                .unwrap(),
            "ApiKey abc=="
        );
        assert!(auth_header("hunter2").unwrap_err().contains("not JSON"));
        assert!(auth_header(r#"{"user":"x"}"#)
            .unwrap_err()
            .contains("username and password"));
    }

    #[tokio::test]
    async fn sigv4_signs_with_content_hash() {
        let creds =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let provider = SharedCredentialsProvider::new(creds);
        let h = sigv4_headers(
            "POST",
            "https://search-x.eu-west-1.es.amazonaws.com/_bulk",
            &[("content-type", "application/x-ndjson".into())],
            b"{}\n",
            "es",
            "eu-west-1",
            &provider,
        )
        .await
        .unwrap();
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/es/aws4_request"), "{auth}");
        assert!(auth.contains("x-amz-content-sha256"), "{auth}");
        // SHA-256 of "{}\n".
        assert_eq!(
            get("x-amz-content-sha256"),
            Some("ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356")
        );
        assert!(get("x-amz-date").is_some());
    }
}
