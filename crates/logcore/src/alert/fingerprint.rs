//! Fingerprints of alert messages: one message whatever its numbers and ids, stable across builds, per
//! destination.

use super::common::DEFAULT_DESTINATION;

/// The fingerprint of a message for repeat suppression: the log group and the message with numbers, hex
/// ids and UUIDs blanked, so `order 1042 failed` and `order 1043 failed` are one message. Only the first line
/// counts: a stack trace is the same alert whatever its frames, and whether its lines came joined (an S3
/// document of the transform, a subscription payload the notifier joined) or the header alone (a
/// subscription filter that lets only the header through). The first 8 bytes
/// of a SHA-256: stable across builds and toolchains (std's `DefaultHasher` is not), because fingerprints
/// are keys of the suppression table that every container, and the next release, shares.
pub fn fingerprint(log_group: &str, message: &str) -> u64 {
    let mut norm = String::with_capacity(message.len().min(1024));
    let mut in_token = false;
    let message = message.split('\n').next().unwrap_or_default();
    for word in message
        .split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .take(256)
    {
        let (tok, sep) = match word.char_indices().last() {
            Some((i, c)) if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
                (&word[..i], &word[i..])
            }
            _ => (word, ""),
        };
        if is_variable(tok) {
            if !in_token {
                norm.push('#');
            }
            in_token = true;
        } else {
            norm.push_str(tok);
            in_token = false;
        }
        norm.push_str(sep);
    }
    sha256_u64(&[
        &(log_group.len() as u64).to_be_bytes(),
        log_group.as_bytes(),
        norm.as_bytes(),
    ])
}

/// The fingerprint of a message at a destination: repeats are per destination (a message one channel has
/// seen is news to another). The default destination keeps the plain fingerprint.
pub fn routed(fp: u64, destination: &str) -> u64 {
    if destination == DEFAULT_DESTINATION {
        return fp;
    }
    sha256_u64(&[&fp.to_be_bytes(), destination.as_bytes()])
}

/// The first 8 bytes of the SHA-256 of `parts` one after the other, big-endian.
fn sha256_u64(parts: &[&[u8]]) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Numbers, hex ids and UUID-like tokens: what changes between repeats of one message.
fn is_variable(tok: &str) -> bool {
    if tok.is_empty() {
        return false;
    }
    let digits = tok.bytes().filter(u8::is_ascii_digit).count();
    let hexish = tok
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    digits > 0 && (hexish || digits * 2 >= tok.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_its_first_line() {
        let head = "java.lang.IllegalStateException: order 1042 closed";
        let whole = format!("{head}\n\tat a.B.c(B.java:1)\n\t... 3 more");
        let other = "java.lang.IllegalStateException: order 7 closed\n\tat x.Y.z(Y.java:9)";
        assert_eq!(fingerprint("/g", head), fingerprint("/g", &whole));
        assert_eq!(fingerprint("/g", &whole), fingerprint("/g", other));
        assert_ne!(
            fingerprint("/g", head),
            fingerprint("/g", "java.lang.Error: other")
        );
    }
}
