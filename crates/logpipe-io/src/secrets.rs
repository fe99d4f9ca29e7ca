//! Secrets read once, at cold start: a Secrets Manager secret's `SecretString`, or an SSM parameter
//! (decrypted). Errors name the secret, never its value.

use crate::CallError;

/// The `SecretString` of secret `arn` (an ARN or a name).
pub async fn secret_string(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String, CallError> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| CallError::from_sdk(format!("GetSecretValue {arn}"), &e))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| CallError::config(format!("secret {arn} has no SecretString")))
}

/// The value of SSM parameter `name`, decrypted when it is a `SecureString`.
pub async fn parameter(sdk: &aws_config::SdkConfig, name: &str) -> Result<String, CallError> {
    let out = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| CallError::from_sdk(format!("GetParameter {name}"), &e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| CallError::config(format!("the SSM parameter {name} has no value")))
}
