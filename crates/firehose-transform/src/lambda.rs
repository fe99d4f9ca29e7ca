//! The Lambda wiring every transform's `main` calls: JSON logs, configuration from the environment, clients
//! built once, then `lambda_runtime::run`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logcore::firehose::TransformEvent;

use crate::aws::AwsReingest;
use crate::{deadline_from_epoch_ms, run_invocation, Config, Render};

/// Keep glibc's malloc from growing the process: an invocation allocates and frees buffers of several
/// megabytes (decompressed payloads, documents, the response), and glibc's adaptive mmap threshold then
/// serves them from the heap, where fragmentation took a 3 MB batch from 25 MB to 139 MB of peak RSS in
/// `logpipe bench`. A fixed threshold (which also disables the adaptation) keeps large buffers in mmap.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Serve Firehose transformation invocations with renderer `R` until the runtime stops.
pub async fn serve<R: Render + Default>() -> Result<(), Error> {
    tune_allocator();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let cfg = Config::<R>::from_env(|k| std::env::var(k).ok()).inspect_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sink = AwsReingest::new(&sdk, cfg.call_timeout);
    let (cfg, sink) = (&cfg, &sink);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<TransformEvent>| async move {
            let deadline = deadline_from_epoch_ms(ev.context.deadline);
            run_invocation(cfg, sink, ev.payload, &ev.context.request_id, deadline)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
