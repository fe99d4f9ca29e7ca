//! The real I/O: the Slack secret from Secrets Manager or SSM Parameter Store (read once, at cold start), and
//! Slack over HTTPS (reqwest with rustls).

use std::time::Duration;

use serde_json::Value;

use crate::config::{target_from_secret, Config, SecretSource, Target};
use crate::{Reply, Slack, TransportError};

/// Read the Slack secret and turn it into a target. Errors name the secret, never its value.
pub async fn load_target(cfg: &Config, sdk: &aws_config::SdkConfig) -> Result<Target, String> {
    let value = match &cfg.secret {
        SecretSource::SecretsManager(arn) => {
            let out = aws_sdk_secretsmanager::Client::new(sdk)
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "reading the Slack secret {arn} from Secrets Manager: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    )
                })?;
            out.secret_string()
                .ok_or_else(|| format!("the Slack secret {arn} has no SecretString"))?
                .to_string()
        }
        SecretSource::Ssm(name) => {
            let out = aws_sdk_ssm::Client::new(sdk)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "reading the Slack parameter {name} from SSM: {}",
                        aws_sdk_ssm::error::DisplayErrorContext(&e)
                    )
                })?;
            out.parameter()
                .and_then(|p| p.value())
                .ok_or_else(|| format!("the SSM parameter {name} has no value"))?
                .to_string()
        }
    };
    let what = match &cfg.secret {
        SecretSource::SecretsManager(a) => a,
        SecretSource::Ssm(n) => n,
    };
    target_from_secret(&value, &cfg.api_url).map_err(|e| format!("{what}: {e}"))
}

/// Slack over HTTPS.
pub struct HttpSlack {
    client: reqwest::Client,
    target: Target,
}

impl HttpSlack {
    pub fn new(target: Target, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!(
                "logpipe-slack-notifier/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(HttpSlack { client, target })
    }
}

impl Slack for HttpSlack {
    async fn post(&self, message: &Value) -> Result<Reply, TransportError> {
        let mut body = message.clone();
        if let Some(m) = body.as_object_mut() {
            // Our links are to the console; never let Slack unfurl anything.
            m.insert("unfurl_links".into(), Value::Bool(false));
            m.insert("unfurl_media".into(), Value::Bool(false));
        }
        let req = match &self.target {
            Target::Webhook { url } => self.client.post(url),
            Target::Bot {
                api_url,
                token,
                channel,
            } => {
                if let Some(m) = body.as_object_mut() {
                    m.insert("channel".into(), Value::String(channel.clone()));
                }
                self.client.post(api_url).bearer_auth(token)
            }
        };
        let resp = req
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| TransportError(describe(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp
            .bytes()
            .await
            .map_err(|e| TransportError(describe(&e)))?
            .to_vec();
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }
}

/// The error without the URL (a webhook URL is a secret).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut s = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}
