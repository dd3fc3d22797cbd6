//! A local HTTP listener standing in for webhook receivers and traffic sources. It
//! records every request and answers per path as a test tells it to.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the listener answers requests on one path.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Always this status.
    Status(u16),
    /// This status for the first `n` requests, then 200.
    FailTimes(u32, u16),
    /// Wait this long before answering 200 (longer than the worker's timeout).
    Hang(Duration),
    /// This status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
    /// A redirect to this location.
    Redirect(String),
}

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The decoded value of query parameter `name`, if present.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body_text()))
    }
}

pub struct Listener {
    pub port: u16,
    received: Mutex<Vec<Received>>,
    behaviours: Mutex<HashMap<String, (Behaviour, u32)>>,
}

impl Listener {
    fn start() -> &'static Listener {
        let socket = TcpListener::bind("127.0.0.1:0").expect("listener socket");
        let port = socket.local_addr().expect("listener address").port();
        let listener: &'static Listener = Box::leak(Box::new(Listener {
            port,
            received: Mutex::new(Vec::new()),
            behaviours: Mutex::new(HashMap::new()),
        }));
        std::thread::spawn(move || {
            for stream in socket.incoming().flatten() {
                std::thread::spawn(move || listener.serve(stream));
            }
        });
        listener
    }

    /// Sets how `path` answers from now on.
    pub fn behave(&self, path: &str, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(path.to_string(), (behaviour, 0));
    }

    /// The requests received on `path` so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received at least `count` requests (or 30 s pass).
    pub fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received(path);
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `path` has received a request matching `wanted` (or 30 s pass).
    pub fn wait_for_match(
        &self,
        path: &str,
        wanted: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.received(path).into_iter().find(|r| wanted(r)) {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let request = Received {
            method,
            target,
            headers,
            body,
        };
        let path = request.path().to_string();
        self.received.lock().unwrap().push(request);

        let behaviour = {
            let mut behaviours = self.behaviours.lock().unwrap();
            match behaviours.get_mut(&path) {
                Some((behaviour, seen)) => {
                    *seen += 1;
                    Some((behaviour.clone(), *seen))
                }
                None => None,
            }
        };
        let (status, extra) = match behaviour {
            None => (200, String::new()),
            Some((Behaviour::Status(code), _)) => (code, String::new()),
            Some((Behaviour::FailTimes(n, code), seen)) => {
                (if seen <= n { code } else { 200 }, String::new())
            }
            Some((Behaviour::Hang(wait), _)) => {
                std::thread::sleep(wait);
                (200, String::new())
            }
            Some((Behaviour::RetryAfter(code, seconds), _)) => {
                (code, format!("Retry-After: {seconds}\r\n"))
            }
            Some((Behaviour::Redirect(location), _)) => (302, format!("Location: {location}\r\n")),
        };
        let body = format!("listener says {status}");
        let reply = format!(
            "HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = stream;
        let _ = stream.write_all(reply.as_bytes());
    }
}

/// The listener shared by all tests of this binary.
pub fn listener() -> &'static Listener {
    static LISTENER: OnceLock<&'static Listener> = OnceLock::new();
    LISTENER.get_or_init(Listener::start)
}
