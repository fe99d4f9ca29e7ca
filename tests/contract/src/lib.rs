//! The repository's contract tests, each checking a file people deploy or read against the code:
//!
//! - `template_tests`: `template.yaml` and `samconfig.toml`: roles, queues, each function's environment equal
//!   to what its code reads, sample events wired and accepted, parameters allowed.
//! - `template_logic_tests`: the template's Conditions and Rules evaluated for parameter sets, as
//!   CloudFormation would.
//! - `athena_tests`: the archive's Glue tables against the documents the transforms write (both ways), the
//!   named queries run on DuckDB over a replay of the example logs.
//! - `docs_tests`: every link stays inside the repository and resolves; every variable and metric of a
//!   function is named beside it; the README's diagram shows every function and store.
//!
//! Nothing here is a library: the modules exist only under `cargo test`.

#[cfg(test)]
mod athena_tests;
#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod template_logic_tests;
#[cfg(test)]
mod template_tests;
