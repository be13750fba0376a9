//! Running the real `genesys-sentiment` binary from a test: to completion ([`run_bin`]) or
//! in the background with its stderr collected line by line ([`RunningBinary`]). Shared by
//! the integration tests and the resilience suite (`#[path]`-included by both).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The path of the real binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_genesys-sentiment");

/// A signal to send to a running binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Signal {
    /// SIGTERM: drain and exit.
    Term,
    /// SIGINT: the same as Ctrl-C.
    Int,
    /// SIGKILL: a crash.
    Kill,
}

/// Sends `signal` to process `pid` (through `nix`'s safe wrapper of kill(2)). A process
/// that has already exited is not an error.
pub fn send_signal(pid: u32, signal: Signal) {
    use nix::sys::signal::{Signal as Sig, kill};
    let sig = match signal {
        Signal::Term => Sig::SIGTERM,
        Signal::Int => Sig::SIGINT,
        Signal::Kill => Sig::SIGKILL,
    };
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
    match kill(pid, sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => panic!("kill({pid}, {sig:?}) failed: {e}"),
    }
}

/// Runs the real binary with `args` and extra environment variables, to completion.
#[allow(dead_code)]
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

/// How many of the last stderr lines a [`RunningBinary`] keeps for a post-mortem.
const TAIL_LINES: usize = 40;

/// A running real binary whose stderr lines are collected on a channel.
pub struct RunningBinary {
    child: Option<Child>,
    /// Every stderr line, in order.
    pub lines: mpsc::Receiver<String>,
    /// The last [`TAIL_LINES`] stderr lines, for a report when something hangs.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl RunningBinary {
    /// Starts the binary with `args`, extra environment, and stderr captured (`RUST_LOG`
    /// removed, so the configured log level applies).
    pub fn start<K: AsRef<str>, V: AsRef<str>>(args: &[&str], env: &[(K, V)]) -> RunningBinary {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k.as_ref(), v.as_ref());
        }
        cmd.env_remove("RUST_LOG");
        let mut child = cmd.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let kept = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                {
                    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() == TAIL_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line.clone());
                }
                // Nobody reading any more is fine: the tail is still kept.
                let _ = tx.send(line);
            }
        });
        RunningBinary {
            child: Some(child),
            lines,
            tail,
        }
    }

    /// A handle on the last stderr lines, readable from another thread.
    #[allow(dead_code)]
    pub fn tail(&self) -> Arc<Mutex<VecDeque<String>>> {
        self.tail.clone()
    }

    /// The process id, while it runs.
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits (up to `within`) for a log line containing `needle`, returning it.
    pub fn wait_for_line(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The public address from the JSON "Listening." log line (`log.format = "json"`).
    #[allow(dead_code)]
    pub fn wait_for_address(&self, within: Duration) -> SocketAddr {
        self.wait_for_addresses(within).0
    }

    /// The public and the admin address from the JSON "Listening." log line.
    pub fn wait_for_addresses(&self, within: Duration) -> (SocketAddr, SocketAddr) {
        let line = self
            .wait_for_line("Listening.", within)
            .expect("the binary logs its address");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        let field = |name: &str| v[name].as_str().unwrap().parse().unwrap();
        (field("address"), field("admin"))
    }

    /// Sends a signal.
    pub fn signal(&self, signal: Signal) {
        let pid = self.child.as_ref().expect("still running").id();
        send_signal(pid, signal);
    }

    /// Waits for exit, up to `within`; `None` (and the process killed) if still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let (tx, rx) = mpsc::channel();
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(within) {
            Ok(status) => status.ok(),
            Err(_) => {
                // Still running: kill it so the test does not leak a process.
                send_signal(pid, Signal::Kill);
                None
            }
        }
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
