//! `logpipe bulk-sink`: the fast local `_bulk` endpoint of the forwarder's benchmark.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use s3_search_forwarder::local::{count_actions, created_reply};

/// `logpipe bulk-sink`: a `_bulk` endpoint on 127.0.0.1 that takes every action (201) and keeps nothing.
/// It prints its URL, then serves until its standard input closes (so it ends with the process that
/// started it).
pub fn bulk_sink() -> Result<(), String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("http://{addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    for conn in listener.incoming() {
        let Ok(sock) = conn else { continue };
        std::thread::spawn(move || {
            if let Err(e) = serve_sink(sock) {
                eprintln!("bulk-sink: {e}");
            }
        });
    }
    Ok(())
}

fn serve_sink(sock: TcpStream) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut w = sock.try_clone()?;
    let mut r = BufReader::with_capacity(1 << 16, sock);
    let (mut body, mut plain) = (Vec::new(), Vec::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut len, mut gzip) = (0usize, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-encoding" => gzip = v.trim().eq_ignore_ascii_case("gzip"),
                    _ => {}
                }
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        let actions = if gzip {
            plain.clear();
            flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            count_actions(&plain)
        } else {
            count_actions(&body)
        };
        let payload = created_reply(actions);
        // One write: a head and a body in two small writes would wait on Nagle and delayed ACKs.
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        answer.extend_from_slice(&payload);
        w.write_all(&answer)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_answers_every_action_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            serve_sink(s).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let body = logcore::base::codec::gzip(
            b"{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":1}\n",
            1,
        );
        for _ in 0..2 {
            write!(
                c,
                "POST /_bulk HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .unwrap();
            c.write_all(&body).unwrap();
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if h == "\r\n" {
                    break;
                }
            }
            let mut payload = vec![0; len];
            r.read_exact(&mut payload).unwrap();
            assert_eq!(
                logcore::search::bulk::parse_bulk_response(&payload, 2)
                    .unwrap()
                    .len(),
                2
            );
        }
    }
}
