//! Every example in `examples/` runs to its end by itself: a smoke test
//! that runs each built example binary with a time limit and checks its
//! exit code and one line of its output.
//!
//! `cargo test` builds the examples (into `target/<profile>/examples`)
//! before it runs the tests; `cargo test --test examples` alone does not,
//! so this test says so when a binary is missing or older than its source.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One example: its name, its arguments, how long it may take, and a line
/// its standard output must contain.
struct Example {
    name: &'static str,
    args: &'static [&'static str],
    limit_secs: u64,
    expect: &'static str,
}

/// Add an example here with one line.
const EXAMPLES: &[Example] = &[
    ex("hello", &[], 10, "server answered 3 requests"),
    ex(
        "weather",
        &[],
        10,
        "Average temperature for zipcode '10001' was",
    ),
    ex("pipeline", &[], 10, "Total elapsed time:"),
    ex("rrbroker", &[], 10, "broker: every client is done"),
    ex(
        "lbbroker",
        &[],
        10,
        "lbbroker: 10 requests answered by 3 workers",
    ),
    ex("asyncsrv", &[], 10, "asyncsrv: 3 clients answered"),
    ex(
        "mtserver",
        &[],
        10,
        "mtserver: 10 requests served by 5 workers",
    ),
    ex("lpclient", &[], 15, "I: all 6 requests answered"),
    ex("ppqueue", &[], 15, "I: all 8 requests answered"),
    ex(
        "syncpub",
        &[],
        10,
        "syncpub: 3 of 3 subscribers received all 1000 updates",
    ),
    ex(
        "psenv",
        &[],
        10,
        "psenvsub: 5 messages on topic B, none on A",
    ),
    ex("espresso", &[], 10, "subscriber: "),
    ex("interrupt", &["1"], 10, "context terminated, bye"),
    ex("monitor", &[], 10, "the monitor saw"),
    ex("strawhouse", &[], 10, "Strawhouse test OK"),
    ex("woodhouse", &[], 10, "Woodhouse test OK"),
    // "Ironhouse test OK" with CURVE (the CURVE pass of .ci/run checks
    // that line), "Ironhouse skipped: ..." without.
    ex("ironhouse", &[], 10, "Ironhouse "),
];

const fn ex(
    name: &'static str,
    args: &'static [&'static str],
    limit_secs: u64,
    expect: &'static str,
) -> Example {
    Example {
        name,
        args,
        limit_secs,
        expect,
    }
}

/// `target/<profile>/examples`, next to `target/<profile>/deps` where
/// this test binary is.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .join("examples")
}

/// Runs one example; `Err` says what went wrong.
fn run(example: &Example, dir: &Path) -> Result<Duration, String> {
    let bin = dir.join(example.name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{}.rs", example.name));
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|e| {
            format!(
                "no binary {} ({e}): run `cargo test`, which builds the examples",
                bin.display()
            )
        })?;
    if let Ok(edited) = std::fs::metadata(&source).and_then(|m| m.modified()) {
        if edited > built {
            return Err(format!(
                "{} is newer than its binary: run `cargo test` (or `cargo build --examples`)",
                source.display()
            ));
        }
    }
    let start = Instant::now();
    let mut child = Command::new(&bin)
        .args(example.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    // Read the pipes on threads so that a chatty example never blocks on
    // a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let limit = Duration::from_secs(example.limit_secs);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("{status}\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    }
    if !stdout.lines().any(|line| line.contains(example.expect)) {
        return Err(format!(
            "no line contains {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            example.expect
        ));
    }
    Ok(took)
}

#[test]
fn every_example_runs_to_its_end() {
    let dir = examples_dir();
    let mut failures = Vec::new();
    for example in EXAMPLES {
        match run(example, &dir) {
            Ok(took) => println!("{}: ok in {took:?}", example.name),
            Err(why) => failures.push(format!("example {}: {why}", example.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_example_file_is_in_the_table() {
    // A new example without a line above fails here, so that none goes
    // untested. perf is a benchmark tool with arguments of its own; soak
    // and leakcheck have sections of their own in .ci/run (a 60 s soak, and
    // leakcheck under valgrind's memcheck).
    const NOT_SMOKE_TESTED: &[&str] = &["perf", "soak", "leakcheck"];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs")
            && !NOT_SMOKE_TESTED.contains(&name)
            && !EXAMPLES.iter().any(|e| e.name == name)
        {
            missing.push(name.to_owned());
        }
    }
    assert!(missing.is_empty(), "examples not in the table: {missing:?}");
}

#[test]
fn readme_rust_blocks_compile_as_pasted() {
    // The README's ```rust blocks run as doctests (src/lib.rs includes the
    // README); this checks they have no rustdoc-only hidden lines and a
    // main of their own, so that what compiles there compiles when pasted.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut blocks = 0;
    let mut lines = readme.lines().enumerate();
    while let Some((start, line)) = lines.next() {
        if line.trim() != "```rust" {
            continue;
        }
        blocks += 1;
        let mut has_main = false;
        for (n, line) in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let trimmed = line.trim_start();
            assert!(
                !(trimmed == "#" || trimmed.starts_with("# ")),
                "README.md line {}: a hidden rustdoc line fails to compile when pasted",
                n + 1
            );
            has_main |= trimmed.contains("fn main(");
        }
        assert!(
            has_main,
            "README.md block at line {}: no fn main",
            start + 1
        );
    }
    assert!(blocks >= 3, "only {blocks} rust blocks in README.md");
}
