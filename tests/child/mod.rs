//! Runs a scenario in a child process: the test binary runs itself again,
//! with one test selected and an environment variable naming the scenario,
//! so that an abort or a segfault fails the test instead of killing the
//! test runner.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The variable that tells a test it is the child.
pub(crate) const CHILD: &str = "ZMQ_TOKIO_TEST_CHILD";

/// The scenario this process runs as a child, if it is one.
pub(crate) fn scenario() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// What a child did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// `None` when it had to be killed after the timeout.
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    /// Whether it exited with status 0.
    pub(crate) fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Fails the test with the child's output unless it exited with 0.
    pub(crate) fn assert_success(&self, what: &str) {
        assert!(
            self.success(),
            "{what}: child {}\n--- stdout\n{}\n--- stderr\n{}",
            self.describe(),
            self.stdout,
            self.stderr
        );
    }

    /// "exited with 0", "killed by signal 6", "timed out".
    pub(crate) fn describe(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            None => "timed out (killed)".to_owned(),
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exited with {code}"),
                (_, Some(signal)) => format!("killed by signal {signal}"),
                _ => format!("{s}"),
            },
        }
    }
}

/// A command that runs the test `test` of this binary as child `scenario`.
pub(crate) fn command(test: &str, scenario: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Spawns the test `test` of this binary as child `scenario`.
pub(crate) fn spawn(test: &str, scenario: &str) -> Child {
    command(test, scenario)
        .spawn()
        .expect("spawn the test binary")
}

/// Runs `cmd` to its end, killing it after `timeout`.
pub(crate) fn run(mut cmd: Command, timeout: Duration) -> Outcome {
    let child = cmd.spawn().expect("spawn the test binary");
    wait(child, timeout)
}

/// Waits for `child`, killing it after `timeout`; collects its output.
pub(crate) fn wait(mut child: Child, timeout: Duration) -> Outcome {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err = std::thread::spawn(move || read_all(stderr.as_mut()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Outcome {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn read_all(pipe: Option<&mut impl Read>) -> String {
    let mut text = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}
