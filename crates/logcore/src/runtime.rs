//! Process set-up every logpipe binary shares: the allocator setting and JSON logs.

/// Keep glibc's malloc from growing the process: an invocation allocates and frees buffers of several
/// megabytes (decompressed payloads, documents, responses, bulk bodies), and glibc's adaptive mmap threshold
/// then serves them from the heap, where fragmentation took a 3 MB Firehose batch from 25 MB to 139 MB of
/// peak RSS in `logpipe bench`. A fixed threshold (which also disables the adaptation) keeps large buffers
/// in mmap.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// A function's cold start: the allocator setting, JSON logs, then its configuration from the environment
/// (`Config::from_env`); an invalid configuration is logged before it is returned.
pub fn start<C, E: std::fmt::Display>(
    from_env: impl FnOnce(fn(&str) -> Option<String>) -> Result<C, E>,
) -> Result<C, E> {
    tune_allocator();
    init_json_logs();
    from_env(|k| std::env::var(k).ok())
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))
}

/// Structured JSON logs on stdout, as CloudWatch Logs ingests them from a Lambda function (the runtime
/// adds the time).
pub fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}
