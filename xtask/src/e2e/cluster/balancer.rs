//! A round-robin TCP balancer: every new connection goes to the next instance (skipping one
//! that refuses connections, as a load balancer's health check would), and the instance each
//! connection went to is recorded, so that a scenario can tell which instance served which
//! request.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::process::Result;

pub struct Balancer {
    pub host: String,
    /// For each accepted connection, in order, the index of the instance it went to.
    log: Arc<Mutex<Vec<usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Balancer {
    pub fn start(backends: Vec<String>) -> Result<Balancer> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let host = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || accept_loop(listener, backends, log, stop))
        };
        Ok(Balancer {
            host,
            log,
            stop,
            thread: Some(thread),
        })
    }

    /// The instance each connection so far went to.
    pub fn connections(&self) -> Vec<usize> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop.
        let _ = TcpStream::connect(&self.host);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    backends: Vec<String>,
    log: Arc<Mutex<Vec<usize>>>,
    stop: Arc<AtomicBool>,
) {
    let next = AtomicUsize::new(0);
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let start = next.fetch_add(1, Ordering::SeqCst);
        let chosen = (0..backends.len()).find_map(|i| {
            let index = (start + i) % backends.len();
            TcpStream::connect_timeout(&backends[index].parse().ok()?, Duration::from_millis(500))
                .ok()
                .map(|stream| (index, stream))
        });
        let Some((index, backend)) = chosen else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        if let Ok(mut log) = log.lock() {
            log.push(index);
        }
        let _ = client.set_nodelay(true);
        let _ = backend.set_nodelay(true);
        let (Ok(client_read), Ok(backend_read)) = (client.try_clone(), backend.try_clone()) else {
            continue;
        };
        std::thread::spawn(move || pipe(client_read, backend));
        std::thread::spawn(move || pipe(backend_read, client));
    }
}

/// Copies until `from` ends or fails, then ends `to`'s writing side (and, on a failure, the
/// whole connection, so that a killed instance cuts its client off at once).
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
