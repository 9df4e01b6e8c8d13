//! Endpoint validation, before libzmq sees an endpoint.
//!
//! libzmq parses less than it accepts: `tcp://127.0.0.1:99999` binds port
//! 34463, because the port goes through `atoi` and a cast to 16 bits. We
//! reject what libzmq would misread, and name the endpoint and the problem.

use std::borrow::Cow;

use crate::{Error, Result};

/// What an endpoint is used for: bind accepts wildcards that connect does
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Bind,
    Connect,
}

/// The transports libzmq 4.3 knows.
const TRANSPORTS: &[&str] = &[
    "tcp", "ipc", "inproc", "pgm", "epgm", "tipc", "vmci", "norm", "udp", "ws", "wss",
];

/// The longest ipc path: `sun_path` holds 108 bytes with the NUL.
const MAX_IPC_PATH: usize = 107;

/// Checks `endpoint` for `usage`; the error names what is wrong.
pub(crate) fn validate(endpoint: &str, usage: Use) -> Result<()> {
    check(endpoint, usage).map_err(|reason| Error::invalid_endpoint(endpoint, reason))
}

fn check(endpoint: &str, usage: Use) -> Result<(), Cow<'static, str>> {
    if endpoint.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    let Some((transport, address)) = endpoint.split_once("://") else {
        return Err(
            "expected transport://address, such as tcp://127.0.0.1:5555 or inproc://name".into(),
        );
    };
    if !TRANSPORTS.contains(&transport) {
        return Err(format!(
            "unknown transport {transport:?} (libzmq knows {})",
            TRANSPORTS.join(", ")
        )
        .into());
    }
    if address.is_empty() {
        return Err(format!("the {transport} address is empty").into());
    }
    match transport {
        "tcp" | "udp" => check_tcp(address, usage, false),
        "ws" | "wss" => check_tcp(address, usage, true),
        "ipc" => check_ipc(address, usage),
        _ => Ok(()),
    }
}

/// `[source;]host:port`, where host may be `*`, a name, an IPv4 address,
/// an interface or a bracketed IPv6 address.
fn check_tcp(address: &str, usage: Use, with_path: bool) -> Result<(), Cow<'static, str>> {
    // A connect may name a source address first: "src:port;dst:port".
    let (source, target) = match address.split_once(';') {
        Some((source, target)) if usage == Use::Connect => (Some(source), target),
        Some(_) => return Err("a source address (src;dst) is only for connect".into()),
        None => (None, address),
    };
    if let Some(source) = source {
        check_host_port(source, Use::Bind)?;
    }
    // ws and wss may carry a path after the port; tcp may not (libzmq
    // would read the port with atoi and ignore the rest).
    let target = match target.split_once('/') {
        Some((host_port, _)) if with_path => host_port,
        Some(_) => return Err("unexpected '/' after the port".into()),
        None => target,
    };
    check_host_port(target, usage)
}

fn check_host_port(address: &str, usage: Use) -> Result<(), Cow<'static, str>> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("IPv6 address has no closing ]".into());
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err("missing port: expected [address]:port".into());
        };
        (host, port)
    } else {
        match address.rsplit_once(':') {
            Some(parts) => parts,
            None => return Err("missing port: expected host:port, such as 127.0.0.1:5555".into()),
        }
    };
    if host.is_empty() {
        return Err("missing host: use * or 0.0.0.0 for every interface".into());
    }
    if port.is_empty() {
        return Err("missing port after ':'".into());
    }
    if port == "*" || port == "0" {
        return match usage {
            Use::Bind => Ok(()),
            Use::Connect => {
                Err(format!("cannot connect to port {port}: wildcard ports are for bind").into())
            }
        };
    }
    if host == "*" && usage == Use::Connect {
        return Err("cannot connect to host *: name the peer's address".into());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a number").into());
    }
    match port.parse::<u32>() {
        Ok(n) if n <= u32::from(u16::MAX) => Ok(()),
        _ => Err(format!("port {port} is out of range (0 to 65535, or * for any)").into()),
    }
}

fn check_ipc(path: &str, usage: Use) -> Result<(), Cow<'static, str>> {
    if path == "*" && usage == Use::Connect {
        return Err("cannot connect to ipc://*: wildcard paths are for bind".into());
    }
    if path.len() > MAX_IPC_PATH {
        return Err(format!(
            "the ipc path is {} bytes; the system limit is {MAX_IPC_PATH}",
            path.len()
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_endpoints() {
        for ep in [
            "tcp://127.0.0.1:5555",
            "tcp://*:5555",
            "tcp://127.0.0.1:*",
            "tcp://[::1]:5555",
            "tcp://eth0:5555",
            "tcp://localhost:0",
            "ipc:///tmp/zmq-tokio.sock",
            "ipc://*",
            "inproc://name",
        ] {
            assert!(validate(ep, Use::Bind).is_ok(), "{ep}");
        }
        for ep in [
            "tcp://127.0.0.1:5555",
            "tcp://localhost:5555",
            "tcp://127.0.0.1:5000;127.0.0.1:5555",
            "tcp://[::1]:5555",
            "inproc://name",
        ] {
            assert!(validate(ep, Use::Connect).is_ok(), "{ep}");
        }
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                "tcp://127.0.0.1:99999",
                Use::Bind,
                "port 99999 is out of range",
            ),
            (
                "tcp://127.0.0.1:65536",
                Use::Connect,
                "port 65536 is out of range",
            ),
            ("tcp://127.0.0.1:http", Use::Bind, "is not a number"),
            ("tcp://127.0.0.1", Use::Bind, "missing port"),
            ("tcp://:5555", Use::Bind, "missing host"),
            (
                "tcp://127.0.0.1:*",
                Use::Connect,
                "wildcard ports are for bind",
            ),
            ("tcp://*:5555", Use::Connect, "cannot connect to host *"),
            ("tcp://[::1:5555", Use::Bind, "no closing ]"),
            ("foo://bar", Use::Bind, "unknown transport \"foo\""),
            (
                "127.0.0.1:5555",
                Use::Connect,
                "expected transport://address",
            ),
            ("inproc://", Use::Bind, "address is empty"),
            ("ipc://*", Use::Connect, "wildcard paths are for bind"),
            ("tcp://a:1;b:2", Use::Bind, "only for connect"),
            ("inproc://a\0b", Use::Bind, "NUL byte"),
            ("tcp://127.0.0.1:5555/junk", Use::Bind, "unexpected '/'"),
        ];
        for (ep, usage, expected) in cases {
            let err = validate(ep, usage).unwrap_err().to_string();
            assert!(err.contains(expected), "{ep}: {err}");
            assert!(err.contains(&format!("{ep:?}")), "{ep}: {err}");
        }
        let long = format!("ipc:///tmp/{}", "x".repeat(200));
        assert!(validate(&long, Use::Bind)
            .unwrap_err()
            .to_string()
            .contains("limit is 107"));
    }
}
