//! A small HTTP/1.1 server on 127.0.0.1 for the http capability's tests: real sockets, one
//! thread per connection, every request head it received kept for the test to read.
//!
//! Routes (under any prefix): `.../echo` answers 200 with the request head as its body and the
//! `x-api-key` it got in an `x-echo` header; `.../big?n=N` answers N bytes; `.../slow` answers
//! after three seconds; anything else 404. The server stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running server.
pub struct Server {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let h = h.clone();
                std::thread::spawn(move || serve(stream, &h));
            }
        });
        Server { port, heads, stop }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The request heads received so far (request line and headers, header names lowercase).
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, heads: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        let line = match line.split_once(':') {
            Some((name, value)) if !head.is_empty() => format!("{}:{value}", name.to_ascii_lowercase()),
            _ => line,
        };
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    heads.lock().expect("lock").push(head.clone());
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let key = head.lines().find_map(|l| l.strip_prefix("x-api-key:")).unwrap_or("").trim().to_string();
    let (status, extra, body) = if path.ends_with("/echo") {
        ("200 OK", format!("x-echo: {key}\r\n"), head.into_bytes())
    } else if let Some(n) = path.split_once("/big?n=").and_then(|(_, n)| n.parse::<usize>().ok()) {
        ("200 OK", String::new(), vec![b'b'; n])
    } else if path.ends_with("/slow") {
        std::thread::sleep(Duration::from_secs(3));
        ("200 OK", String::new(), b"late".to_vec())
    } else {
        ("404 Not Found", String::new(), b"no such route".to_vec())
    };
    let mut stream = reader.into_inner();
    let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n", body.len());
    let _ = stream.write_all(&body);
}
