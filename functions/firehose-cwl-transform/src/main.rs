//! Firehose data-transformation Lambda for CloudWatch Logs subscription records: one NDJSON document per
//! log event (see README, "The CloudWatch Logs transform").

use firehose_transform::Documents;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    firehose_transform::lambda::serve::<Documents>().await
}
