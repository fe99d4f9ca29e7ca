//! The real I/O: the Slack secret from Secrets Manager or SSM Parameter Store (read once, at cold start), and
//! Slack over HTTPS (reqwest with rustls).

use std::time::Duration;

use serde_json::Value;

use logpipe_io::http::{read_reply, transport_hiding_url};
use logpipe_io::{secrets, CallError, Reply};

use crate::config::{target_from_secret, Config, SecretSource, Target};
use crate::Slack;

/// Read the default destination's Slack secret and turn it into a target. Errors name the secret, never
/// its value.
pub async fn load_target(cfg: &Config, sdk: &aws_config::SdkConfig) -> Result<Target, CallError> {
    read_target(&cfg.secret, &cfg.api_url, sdk, "the Slack secret").await
}

/// The targets of the named destinations (`SLACK_DESTINATIONS`), each read from its secret; an error names
/// the destination and the secret.
pub async fn load_destinations(
    cfg: &Config,
    sdk: &aws_config::SdkConfig,
) -> Result<Vec<(String, Target)>, CallError> {
    let mut out = Vec::new();
    for (name, source) in &cfg.destinations {
        let what = format!("the Slack secret of destination {name:?}");
        out.push((
            name.clone(),
            read_target(source, &cfg.api_url, sdk, &what).await?,
        ));
    }
    Ok(out)
}

async fn read_target(
    source: &SecretSource,
    api_url: &str,
    sdk: &aws_config::SdkConfig,
    what: &str,
) -> Result<Target, CallError> {
    let (value, name) = match source {
        SecretSource::SecretsManager(arn) => (secrets::secret_string(sdk, arn).await, arn),
        SecretSource::Ssm(name) => (secrets::parameter(sdk, name).await, name),
    };
    let value = value.map_err(|e| e.context(format!("reading {what}")))?;
    target_from_secret(&value, api_url).map_err(|e| CallError::config(format!("{name}: {e}")))
}

/// Slack over HTTPS.
pub struct HttpSlack {
    client: reqwest::Client,
    target: Target,
}

impl HttpSlack {
    pub fn new(target: Target, timeout: Duration) -> Result<Self, CallError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!(
                "logpipe-slack-notifier/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| CallError::config(format!("building the HTTP client: {e}")))?;
        Ok(HttpSlack { client, target })
    }
}

impl Slack for HttpSlack {
    async fn post(&self, message: &Value) -> Result<Reply, CallError> {
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
                // A reply in a thread names the channel (the id Slack answered with) itself.
                if let Some(m) = body.as_object_mut() {
                    m.entry("channel")
                        .or_insert_with(|| Value::String(channel.clone()));
                }
                self.client.post(api_url).bearer_auth(token)
            }
        };
        let resp = req
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport_hiding_url)?;
        read_reply(resp).await
    }
}
