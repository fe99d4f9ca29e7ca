//! Firehose data-transformation Lambda for database audit logs: Aurora/RDS MySQL advanced auditing and
//! PostgreSQL pgaudit lines to one structured, redacted JSON document each (see README, "The audit-log
//! transform").

use firehose_transform::Audit;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    firehose_transform::lambda::serve::<Audit>().await
}
