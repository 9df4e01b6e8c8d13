//! Every socket option in `zmq_tokio::options`: listed once, readable where
//! libzmq reads it, round-tripping where it is read-write, settable on the
//! socket types that take it, and a clear `Error::InvalidOption` otherwise.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use tokio::time::timeout;
use zmq_tokio::options::{self, IntoOptionValue, OptionInfo, OptionType, SocketOption, ValueType};
use zmq_tokio::{Error, Socket, SocketType};

mod support;
use support::bounded;

const TEST_LIMIT: Duration = Duration::from_secs(20);

fn info(name: &str) -> &'static OptionInfo {
    options::all()
        .iter()
        .find(|info| info.name == name)
        .unwrap_or_else(|| panic!("{name} is not in options::all()"))
}

/// The typed constant agrees with its `options::all()` entry.
fn check_meta<T: OptionType>(option: SocketOption<T>) {
    let info = info(option.name());
    assert_eq!(info.id, option.id(), "{} id", info.name);
    assert_eq!(
        info.readable,
        option.is_readable(),
        "{} readable",
        info.name
    );
    assert_eq!(
        info.writable,
        option.is_writable(),
        "{} writable",
        info.name
    );
    assert_eq!(info.value_type, T::VALUE_TYPE, "{} value type", info.name);
}

/// The libzmq capability an option needs, if any.
fn capability(name: &str) -> Option<&'static str> {
    if name.starts_with("CURVE_") {
        Some("curve")
    } else if name.starts_with("GSSAPI_") {
        Some("gssapi")
    } else if name.starts_with("VMCI_") {
        Some("vmci")
    } else {
        None
    }
}

/// `result` is an `InvalidOption` for `name` whose message names the option
/// and says `says`.
fn assert_invalid<R: Debug>(what: &str, result: zmq_tokio::Result<R>, name: &str, says: &str) {
    let err = match result {
        Ok(value) => panic!("{what}: expected InvalidOption, got Ok({value:?})"),
        Err(err) => err,
    };
    match &err {
        Error::InvalidOption { option, .. } => assert_eq!(*option, name, "{what}"),
        other => panic!("{what}: expected InvalidOption, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(name), "{what}: {text:?} does not name {name}");
    assert!(
        text.contains(says),
        "{what}: {text:?} does not say {says:?}"
    );
}

/// `Some(value)` when the call worked; `None` when the option needs a
/// capability this libzmq lacks and the call said so clearly.
fn ok_or_unsupported<R: Debug>(what: &str, name: &str, result: zmq_tokio::Result<R>) -> Option<R> {
    match capability(name) {
        Some(cap) if !zmq_tokio::has(cap) => {
            assert_invalid(what, result, name, "built without");
            None
        }
        _ => Some(result.unwrap_or_else(|e| panic!("{what}: {e}"))),
    }
}

fn socket(kind: SocketType) -> Socket {
    Socket::new(kind).unwrap_or_else(|e| panic!("{kind} socket: {e}"))
}

#[derive(Default)]
struct Covered(BTreeSet<&'static str>);

impl Covered {
    fn add<T: OptionType>(&mut self, option: SocketOption<T>) {
        check_meta(option);
        assert!(
            self.0.insert(option.name()),
            "{} tested twice",
            option.name()
        );
    }

    /// Every option of `all()` that `filter` selects was tested.
    fn assert_all(&self, what: &str, filter: impl Fn(&OptionInfo) -> bool) {
        let wanted: BTreeSet<&str> = options::all()
            .iter()
            .filter(|info| filter(info))
            .map(|info| info.name)
            .collect();
        let missing: Vec<_> = wanted.difference(&self.0).collect();
        assert!(missing.is_empty(), "{what}: not tested: {missing:?}");
        let extra: Vec<_> = self.0.difference(&wanted).collect();
        assert!(extra.is_empty(), "{what}: not expected here: {extra:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn all_lists_every_option_once_in_libzmq_order() {
    bounded("test body", TEST_LIMIT, async {
        let all = options::all();
        assert!(all.len() >= 60, "only {} options", all.len());
        let names: BTreeSet<&str> = all.iter().map(|info| info.name).collect();
        let ids: BTreeSet<i32> = all.iter().map(|info| info.id).collect();
        assert_eq!(names.len(), all.len(), "duplicate names");
        assert_eq!(ids.len(), all.len(), "duplicate ids");
        for pair in all.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} ({}) before {} ({})",
                pair[0].name,
                pair[0].id,
                pair[1].name,
                pair[1].id
            );
        }
        for info in all {
            assert!(info.readable || info.writable, "{} is neither", info.name);
            assert!(!info.name.starts_with("ZMQ_"), "{}", info.name);
            // Stable options only: the DRAFT ones start at 93.
            assert!((1..93).contains(&info.id), "{} is {}", info.name, info.id);
        }

        // Every name in Racket's `zmq-list-options` is here, but BLOCKY,
        // which is a context option; IDENTITY and CONNECT_RID are aliases.
        let racket = "AFFINITY IDENTITY SUBSCRIBE UNSUBSCRIBE RATE RECOVERY_IVL SNDBUF \
            RCVBUF RCVMORE FD EVENTS TYPE LINGER RECONNECT_IVL BACKLOG RECONNECT_IVL_MAX \
            MAXMSGSIZE SNDHWM RCVHWM MULTICAST_HOPS RCVTIMEO SNDTIMEO LAST_ENDPOINT \
            ROUTER_MANDATORY TCP_KEEPALIVE TCP_KEEPALIVE_CNT TCP_KEEPALIVE_IDLE \
            TCP_KEEPALIVE_INTVL IMMEDIATE XPUB_VERBOSE ROUTER_RAW IPV6 MECHANISM \
            PLAIN_SERVER PLAIN_USERNAME PLAIN_PASSWORD CURVE_SERVER CURVE_PUBLICKEY \
            CURVE_SECRETKEY CURVE_SERVERKEY PROBE_ROUTER REQ_CORRELATE REQ_RELAXED CONFLATE \
            ZAP_DOMAIN ROUTER_HANDOVER TOS CONNECT_RID GSSAPI_SERVER GSSAPI_PRINCIPAL \
            GSSAPI_SERVICE_PRINCIPAL GSSAPI_PLAINTEXT HANDSHAKE_IVL SOCKS_PROXY XPUB_NODROP \
            BLOCKY XPUB_MANUAL XPUB_WELCOME_MSG STREAM_NOTIFY INVERT_MATCHING HEARTBEAT_IVL \
            HEARTBEAT_TTL HEARTBEAT_TIMEOUT XPUB_VERBOSER CONNECT_TIMEOUT TCP_MAXRT \
            THREAD_SAFE MULTICAST_MAXTPDU VMCI_BUFFER_SIZE VMCI_BUFFER_MIN_SIZE \
            VMCI_BUFFER_MAX_SIZE VMCI_CONNECT_TIMEOUT USE_FD";
        for name in racket.split_whitespace() {
            let name = match name {
                "IDENTITY" => "ROUTING_ID",
                "CONNECT_RID" => "CONNECT_ROUTING_ID",
                "BLOCKY" => continue,
                other => other,
            };
            assert!(names.contains(name), "{name} is missing");
        }
        for name in [
            "GSSAPI_PRINCIPAL_NAMETYPE",
            "GSSAPI_SERVICE_PRINCIPAL_NAMETYPE",
            "BINDTODEVICE",
        ] {
            assert!(names.contains(name), "{name} is missing");
        }

        // The deprecated names are the same options.
        assert_eq!(options::IDENTITY.id(), options::ROUTING_ID.id());
        assert_eq!(options::IDENTITY.name(), "ROUTING_ID");
        assert_eq!(options::CONNECT_RID.id(), options::CONNECT_ROUTING_ID.id());

        // A few value types, as libzmq has them.
        assert_eq!(info("AFFINITY").value_type, ValueType::UInt64);
        assert_eq!(info("VMCI_BUFFER_SIZE").value_type, ValueType::UInt64);
        assert_eq!(info("MAXMSGSIZE").value_type, ValueType::Int64);
        assert_eq!(info("ROUTING_ID").value_type, ValueType::Bytes);
        assert_eq!(info("CURVE_SERVERKEY").value_type, ValueType::Bytes);
        assert_eq!(info("LAST_ENDPOINT").value_type, ValueType::Text);
        assert_eq!(info("PLAIN_USERNAME").value_type, ValueType::Text);
        assert_eq!(info("IMMEDIATE").value_type, ValueType::Bool);
        assert_eq!(info("TCP_KEEPALIVE").value_type, ValueType::Int);
    })
    .await;
}

fn read<T: OptionType + Debug>(
    covered: &mut Covered,
    kind: SocketType,
    option: SocketOption<T>,
) -> Option<T> {
    covered.add(option);
    let socket = socket(kind);
    let what = format!("get {} on {kind}", option.name());
    ok_or_unsupported(&what, option.name(), socket.get(option))
}

#[tokio::test(flavor = "current_thread")]
async fn every_readable_option_reads() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let mut c = Covered::default();
        assert_eq!(read(&mut c, Dealer, options::AFFINITY), Some(0));
        assert_eq!(read(&mut c, Dealer, options::ROUTING_ID), Some(Vec::new()));
        assert_eq!(read(&mut c, Pub, options::RATE), Some(100));
        assert_eq!(read(&mut c, Pub, options::RECOVERY_IVL), Some(10_000));
        assert_eq!(read(&mut c, Push, options::SNDBUF), Some(-1));
        assert_eq!(read(&mut c, Pull, options::RCVBUF), Some(-1));
        assert_eq!(read(&mut c, Pull, options::RCVMORE), Some(false));
        assert!(read(&mut c, Pair, options::FD).expect("FD") >= 0);
        assert_eq!(read(&mut c, Push, options::EVENTS), Some(0));
        assert_eq!(read(&mut c, Router, options::TYPE), Some(Router.raw()));
        assert_eq!(
            read(&mut c, Push, options::LINGER),
            Some(zmq_tokio::DEFAULT_LINGER_MS)
        );
        assert_eq!(read(&mut c, Dealer, options::RECONNECT_IVL), Some(100));
        assert_eq!(read(&mut c, Rep, options::BACKLOG), Some(100));
        assert_eq!(read(&mut c, Dealer, options::RECONNECT_IVL_MAX), Some(0));
        assert_eq!(read(&mut c, Pull, options::MAXMSGSIZE), Some(-1));
        assert_eq!(read(&mut c, Push, options::SNDHWM), Some(1000));
        assert_eq!(read(&mut c, Pull, options::RCVHWM), Some(1000));
        assert_eq!(read(&mut c, Pub, options::MULTICAST_HOPS), Some(1));
        assert_eq!(read(&mut c, Pull, options::RCVTIMEO), Some(-1));
        assert_eq!(read(&mut c, Push, options::SNDTIMEO), Some(-1));
        assert_eq!(
            read(&mut c, Push, options::LAST_ENDPOINT),
            Some(String::new())
        );
        assert_eq!(read(&mut c, Dealer, options::TCP_KEEPALIVE), Some(-1));
        assert_eq!(read(&mut c, Dealer, options::TCP_KEEPALIVE_CNT), Some(-1));
        assert_eq!(read(&mut c, Dealer, options::TCP_KEEPALIVE_IDLE), Some(-1));
        assert_eq!(read(&mut c, Dealer, options::TCP_KEEPALIVE_INTVL), Some(-1));
        assert_eq!(read(&mut c, Push, options::IMMEDIATE), Some(false));
        assert_eq!(read(&mut c, Pair, options::IPV6), Some(false));
        assert_eq!(read(&mut c, Pair, options::MECHANISM), Some(0));
        assert_eq!(read(&mut c, Rep, options::PLAIN_SERVER), Some(false));
        assert_eq!(
            read(&mut c, Req, options::PLAIN_USERNAME),
            Some(String::new())
        );
        assert_eq!(
            read(&mut c, Req, options::PLAIN_PASSWORD),
            Some(String::new())
        );
        let curve_server = read(&mut c, Rep, options::CURVE_SERVER);
        assert!(matches!(curve_server, None | Some(false)));
        for key in [
            options::CURVE_PUBLICKEY,
            options::CURVE_SECRETKEY,
            options::CURVE_SERVERKEY,
        ] {
            if let Some(key) = read(&mut c, Dealer, key) {
                assert_eq!(key, vec![0; 32]);
            }
        }
        assert_eq!(read(&mut c, Pull, options::CONFLATE), Some(false));
        assert_eq!(read(&mut c, Rep, options::ZAP_DOMAIN), Some(String::new()));
        assert_eq!(read(&mut c, Dealer, options::TOS), Some(0));
        let gssapi_server = read(&mut c, Rep, options::GSSAPI_SERVER);
        assert!(matches!(gssapi_server, None | Some(false)));
        let principal = read(&mut c, Req, options::GSSAPI_PRINCIPAL);
        assert!(matches!(principal.as_deref(), None | Some("")));
        let principal = read(&mut c, Req, options::GSSAPI_SERVICE_PRINCIPAL);
        assert!(matches!(principal.as_deref(), None | Some("")));
        let plaintext = read(&mut c, Req, options::GSSAPI_PLAINTEXT);
        assert!(matches!(plaintext, None | Some(false)));
        assert_eq!(read(&mut c, Dealer, options::HANDSHAKE_IVL), Some(30_000));
        assert_eq!(
            read(&mut c, Dealer, options::SOCKS_PROXY),
            Some(String::new())
        );
        assert_eq!(read(&mut c, Sub, options::INVERT_MATCHING), Some(false));
        assert_eq!(read(&mut c, Dealer, options::HEARTBEAT_IVL), Some(0));
        assert_eq!(read(&mut c, Dealer, options::HEARTBEAT_TTL), Some(0));
        assert_eq!(read(&mut c, Dealer, options::HEARTBEAT_TIMEOUT), Some(-1));
        assert_eq!(read(&mut c, Dealer, options::CONNECT_TIMEOUT), Some(0));
        assert_eq!(read(&mut c, Dealer, options::TCP_MAXRT), Some(0));
        assert_eq!(read(&mut c, Dealer, options::THREAD_SAFE), Some(false));
        assert_eq!(read(&mut c, Pub, options::MULTICAST_MAXTPDU), Some(1500));
        assert_eq!(read(&mut c, Rep, options::USE_FD), Some(-1));
        for nametype in [
            options::GSSAPI_PRINCIPAL_NAMETYPE,
            options::GSSAPI_SERVICE_PRINCIPAL_NAMETYPE,
        ] {
            assert!(matches!(read(&mut c, Req, nametype), None | Some(0)));
        }
        assert_eq!(
            read(&mut c, Dealer, options::BINDTODEVICE),
            Some(String::new())
        );
        c.assert_all("readable options", |info| info.readable);
    })
    .await;
}

fn round_trip<T>(covered: &mut Covered, kind: SocketType, option: SocketOption<T>, value: T)
where
    T: OptionType + IntoOptionValue<T> + Clone + PartialEq + Debug,
{
    covered.add(option);
    let socket = socket(kind);
    let name = option.name();
    let set = format!("set {name} on {kind}");
    if ok_or_unsupported(&set, name, socket.set(option, value.clone())).is_some() {
        let got = socket
            .get(option)
            .unwrap_or_else(|e| panic!("get {name} on {kind}: {e}"));
        assert_eq!(got, value, "{name} on {kind} did not round-trip");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn read_write_options_round_trip() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let mut c = Covered::default();
        round_trip(&mut c, Dealer, options::AFFINITY, 0b11);
        round_trip(&mut c, Dealer, options::ROUTING_ID, b"peer-7".to_vec());
        round_trip(&mut c, Pub, options::RATE, 250);
        round_trip(&mut c, Pub, options::RECOVERY_IVL, 5_000);
        round_trip(&mut c, Push, options::SNDBUF, 65_536);
        round_trip(&mut c, Pull, options::RCVBUF, 131_072);
        round_trip(&mut c, Push, options::LINGER, 0);
        round_trip(&mut c, Dealer, options::RECONNECT_IVL, 250);
        round_trip(&mut c, Rep, options::BACKLOG, 50);
        round_trip(&mut c, Dealer, options::RECONNECT_IVL_MAX, 5_000);
        round_trip(&mut c, Pull, options::MAXMSGSIZE, 1 << 40);
        round_trip(&mut c, Push, options::SNDHWM, 4_321);
        round_trip(&mut c, Pull, options::RCVHWM, 1_234);
        round_trip(&mut c, Pub, options::MULTICAST_HOPS, 3);
        round_trip(&mut c, Pull, options::RCVTIMEO, 250);
        round_trip(&mut c, Push, options::SNDTIMEO, 300);
        round_trip(&mut c, Dealer, options::TCP_KEEPALIVE, 1);
        round_trip(&mut c, Dealer, options::TCP_KEEPALIVE_CNT, 5);
        round_trip(&mut c, Dealer, options::TCP_KEEPALIVE_IDLE, 60);
        round_trip(&mut c, Dealer, options::TCP_KEEPALIVE_INTVL, 10);
        round_trip(&mut c, Push, options::IMMEDIATE, true);
        round_trip(&mut c, Pair, options::IPV6, true);
        round_trip(&mut c, Rep, options::PLAIN_SERVER, true);
        round_trip(&mut c, Req, options::PLAIN_USERNAME, "admin".to_string());
        round_trip(&mut c, Req, options::PLAIN_PASSWORD, "s3cret".to_string());
        round_trip(&mut c, Rep, options::CURVE_SERVER, true);
        // Binary keys read back as the same 32 bytes.
        let key: Vec<u8> = (1..=32).collect();
        round_trip(&mut c, Dealer, options::CURVE_PUBLICKEY, key.clone());
        round_trip(&mut c, Dealer, options::CURVE_SECRETKEY, key.clone());
        round_trip(&mut c, Dealer, options::CURVE_SERVERKEY, key);
        round_trip(&mut c, Pull, options::CONFLATE, true);
        round_trip(&mut c, Rep, options::ZAP_DOMAIN, "global".to_string());
        round_trip(&mut c, Dealer, options::TOS, 0x10);
        round_trip(&mut c, Rep, options::GSSAPI_SERVER, true);
        round_trip(
            &mut c,
            Req,
            options::GSSAPI_PRINCIPAL,
            "client@EXAMPLE.COM".to_string(),
        );
        round_trip(
            &mut c,
            Req,
            options::GSSAPI_SERVICE_PRINCIPAL,
            "zmq@server".to_string(),
        );
        round_trip(&mut c, Req, options::GSSAPI_PLAINTEXT, true);
        round_trip(&mut c, Dealer, options::HANDSHAKE_IVL, 5_000);
        // Only the empty value can be set (see `refused_values`).
        round_trip(&mut c, Dealer, options::SOCKS_PROXY, String::new());
        round_trip(&mut c, Sub, options::INVERT_MATCHING, true);
        round_trip(&mut c, Dealer, options::HEARTBEAT_IVL, 1_000);
        // libzmq keeps tenths of a second: a multiple of 100 reads back.
        round_trip(&mut c, Dealer, options::HEARTBEAT_TTL, 2_000);
        round_trip(&mut c, Dealer, options::HEARTBEAT_TIMEOUT, 3_000);
        round_trip(&mut c, Dealer, options::CONNECT_TIMEOUT, 1_500);
        round_trip(&mut c, Dealer, options::TCP_MAXRT, 4_000);
        round_trip(&mut c, Pub, options::MULTICAST_MAXTPDU, 1_400);
        // Only -1 can be set (see `refused_values`).
        round_trip(&mut c, Rep, options::USE_FD, -1);
        round_trip(&mut c, Req, options::GSSAPI_PRINCIPAL_NAMETYPE, 1);
        round_trip(&mut c, Req, options::GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, 2);
        // Only used by a later bind or connect.
        round_trip(&mut c, Dealer, options::BINDTODEVICE, "lo".to_string());
        c.assert_all("read-write options", |info| info.readable && info.writable);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn set_values_are_used() {
    bounded("test body", TEST_LIMIT, async {
        // Setting PLAIN_SERVER switches the mechanism, as libzmq says.
        let rep = socket(SocketType::Rep);
        rep.set(options::PLAIN_SERVER, true).expect("PLAIN_SERVER");
        assert_eq!(rep.get(options::MECHANISM).expect("MECHANISM"), 1);

        // LAST_ENDPOINT reports the resolved wildcard.
        let pull = socket(SocketType::Pull);
        let bound = pull.bind("tcp://127.0.0.1:*").expect("bind");
        assert_eq!(pull.get(options::LAST_ENDPOINT).expect("get"), bound);
        assert!(!bound.ends_with(":*"), "{bound}");

        // The value a setter was given keeps its unit: HEARTBEAT_TTL is
        // rounded down to tenths of a second.
        let dealer = socket(SocketType::Dealer);
        dealer.set(options::HEARTBEAT_TTL, 1_250).expect("set");
        assert_eq!(dealer.get(options::HEARTBEAT_TTL).expect("get"), 1_200);

        // The boundary values libzmq documents are accepted.
        let push = socket(SocketType::Push);
        push.set(options::LINGER, -1).expect("LINGER -1");
        push.set(options::SNDHWM, 0).expect("SNDHWM 0");
        push.set(options::RECONNECT_IVL, -1)
            .expect("RECONNECT_IVL -1");
        push.set(options::TCP_KEEPALIVE, -1)
            .expect("TCP_KEEPALIVE -1");
        push.set(options::TCP_KEEPALIVE, 0)
            .expect("TCP_KEEPALIVE 0");
        push.set(options::HEARTBEAT_TTL, 6_553_599)
            .expect("HEARTBEAT_TTL max");
        assert_eq!(push.get(options::HEARTBEAT_TTL).expect("get"), 6_553_500);
        push.set(options::USE_FD, -1).expect("USE_FD -1");
        push.set(options::SNDBUF, -1).expect("SNDBUF -1");
        push.set(options::ROUTING_ID, vec![7; 255])
            .expect("255-byte id");
        push.set(options::ROUTING_ID, b"x").expect("1-byte id");
        push.set(options::PLAIN_USERNAME, "u".repeat(255))
            .expect("255");
        push.set(options::ZAP_DOMAIN, "d").expect("ZAP_DOMAIN");
        push.set(options::MAXMSGSIZE, -1i64).expect("MAXMSGSIZE -1");
        push.set(options::AFFINITY, u64::MAX).expect("AFFINITY");

        // The deprecated alias is the same option.
        let dealer = socket(SocketType::Dealer);
        dealer
            .set(options::IDENTITY, b"old-name")
            .expect("IDENTITY");
        assert_eq!(dealer.get(options::ROUTING_ID).expect("get"), b"old-name");
        let router = socket(SocketType::Router);
        router
            .set(options::CONNECT_RID, b"next")
            .expect("CONNECT_RID");
    })
    .await;
}

fn write<T: OptionType + Debug>(
    covered: &mut Covered,
    kind: SocketType,
    option: SocketOption<T>,
    value: impl IntoOptionValue<T>,
) {
    covered.add(option);
    let socket = socket(kind);
    let name = option.name();
    ok_or_unsupported(
        &format!("set {name} on {kind}"),
        name,
        socket.set(option, value),
    );
    // Reading one back is refused before libzmq is asked.
    assert_invalid(
        &format!("get {name} on {kind}"),
        socket.get(option),
        name,
        "write-only",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn write_only_options_set_on_their_socket_type() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let mut c = Covered::default();
        write(&mut c, Sub, options::SUBSCRIBE, b"topic");
        write(&mut c, Sub, options::UNSUBSCRIBE, b"topic");
        write(&mut c, Router, options::ROUTER_MANDATORY, true);
        write(&mut c, XPub, options::XPUB_VERBOSE, true);
        write(&mut c, Router, options::ROUTER_RAW, false);
        write(&mut c, Dealer, options::PROBE_ROUTER, true);
        write(&mut c, Req, options::REQ_CORRELATE, true);
        write(&mut c, Req, options::REQ_RELAXED, true);
        write(&mut c, Router, options::ROUTER_HANDOVER, true);
        write(&mut c, Router, options::CONNECT_ROUTING_ID, b"peer-1");
        write(&mut c, XPub, options::XPUB_NODROP, true);
        write(&mut c, XPub, options::XPUB_MANUAL, true);
        write(&mut c, XPub, options::XPUB_WELCOME_MSG, "welcome");
        write(&mut c, Stream, options::STREAM_NOTIFY, false);
        write(&mut c, XPub, options::XPUB_VERBOSER, true);
        write(&mut c, Pair, options::VMCI_BUFFER_SIZE, 65_546u64);
        write(&mut c, Pair, options::VMCI_BUFFER_MIN_SIZE, 128u64);
        write(&mut c, Pair, options::VMCI_BUFFER_MAX_SIZE, 262_144u64);
        write(&mut c, Pair, options::VMCI_CONNECT_TIMEOUT, 1_000);
        c.assert_all("write-only options", |info| !info.readable);

        // Types built on another take its options, as libzmq has them: REP
        // on ROUTER, REQ on DEALER, PUB on XPUB.
        let rep = socket(Rep);
        rep.set(options::ROUTER_MANDATORY, true).expect("REP");
        rep.set(options::ROUTER_HANDOVER, true).expect("REP");
        socket(Req).set(options::PROBE_ROUTER, true).expect("REQ");
        socket(Router)
            .set(options::PROBE_ROUTER, true)
            .expect("ROUTER");
        socket(Pub).set(options::XPUB_NODROP, true).expect("PUB");
        socket(Stream)
            .set(options::CONNECT_ROUTING_ID, b"raw-peer")
            .expect("STREAM");
        // An XPUB in manual mode takes subscriptions.
        let xpub = socket(XPub);
        xpub.set(options::XPUB_MANUAL, true).expect("XPUB_MANUAL");
        xpub.set(options::SUBSCRIBE, b"a").expect("SUBSCRIBE");
        xpub.set(options::UNSUBSCRIBE, b"a").expect("UNSUBSCRIBE");
        // An empty welcome message means none.
        xpub.set(options::XPUB_WELCOME_MSG, b"").expect("empty");
        // An empty subscription matches everything.
        socket(Sub)
            .set(options::SUBSCRIBE, b"")
            .expect("empty prefix");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn read_only_options_refuse_set() {
    bounded("test body", TEST_LIMIT, async {
        let dealer = socket(SocketType::Dealer);
        let mut c = Covered::default();
        let cases: Vec<(&str, zmq_tokio::Result<()>)> = vec![
            ("RCVMORE", {
                c.add(options::RCVMORE);
                dealer.set(options::RCVMORE, true)
            }),
            ("FD", {
                c.add(options::FD);
                dealer.set(options::FD, 3)
            }),
            ("EVENTS", {
                c.add(options::EVENTS);
                dealer.set(options::EVENTS, 1)
            }),
            ("TYPE", {
                c.add(options::TYPE);
                dealer.set(options::TYPE, 1)
            }),
            ("LAST_ENDPOINT", {
                c.add(options::LAST_ENDPOINT);
                dealer.set(options::LAST_ENDPOINT, "tcp://127.0.0.1:1")
            }),
            ("MECHANISM", {
                c.add(options::MECHANISM);
                dealer.set(options::MECHANISM, 1)
            }),
            ("THREAD_SAFE", {
                c.add(options::THREAD_SAFE);
                dealer.set(options::THREAD_SAFE, true)
            }),
        ];
        for (name, result) in cases {
            assert_invalid(&format!("set {name}"), result, name, "read-only");
        }
        c.assert_all("read-only options", |info| !info.writable);
        assert_eq!(
            dealer.get(options::TYPE).expect("TYPE"),
            SocketType::Dealer.raw()
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn options_of_another_socket_type_are_refused() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let cases: Vec<(&str, SocketType, zmq_tokio::Result<()>)> = {
            let on = |kind| socket(kind);
            vec![
                (
                    "ROUTER_MANDATORY",
                    Push,
                    on(Push).set(options::ROUTER_MANDATORY, true),
                ),
                (
                    "ROUTER_MANDATORY",
                    Dealer,
                    on(Dealer).set(options::ROUTER_MANDATORY, true),
                ),
                ("ROUTER_RAW", Pair, on(Pair).set(options::ROUTER_RAW, true)),
                (
                    "ROUTER_HANDOVER",
                    Dealer,
                    on(Dealer).set(options::ROUTER_HANDOVER, true),
                ),
                (
                    "XPUB_VERBOSE",
                    Sub,
                    on(Sub).set(options::XPUB_VERBOSE, true),
                ),
                (
                    "XPUB_VERBOSER",
                    XSub,
                    on(XSub).set(options::XPUB_VERBOSER, true),
                ),
                (
                    "XPUB_NODROP",
                    Push,
                    on(Push).set(options::XPUB_NODROP, true),
                ),
                ("XPUB_MANUAL", Sub, on(Sub).set(options::XPUB_MANUAL, true)),
                (
                    "XPUB_WELCOME_MSG",
                    Router,
                    on(Router).set(options::XPUB_WELCOME_MSG, b"hi"),
                ),
                (
                    "REQ_RELAXED",
                    Dealer,
                    on(Dealer).set(options::REQ_RELAXED, true),
                ),
                (
                    "REQ_CORRELATE",
                    Rep,
                    on(Rep).set(options::REQ_CORRELATE, true),
                ),
                (
                    "PROBE_ROUTER",
                    Pub,
                    on(Pub).set(options::PROBE_ROUTER, true),
                ),
                (
                    "CONNECT_ROUTING_ID",
                    Dealer,
                    on(Dealer).set(options::CONNECT_ROUTING_ID, b"x"),
                ),
                (
                    "STREAM_NOTIFY",
                    Router,
                    on(Router).set(options::STREAM_NOTIFY, true),
                ),
                ("SUBSCRIBE", Push, on(Push).set(options::SUBSCRIBE, b"a")),
                ("SUBSCRIBE", XSub, on(XSub).set(options::SUBSCRIBE, b"a")),
                (
                    "UNSUBSCRIBE",
                    Pull,
                    on(Pull).set(options::UNSUBSCRIBE, b"a"),
                ),
            ]
        };
        for (name, kind, result) in cases {
            // The message names the option and the socket type.
            assert_invalid(&format!("set {name} on {kind}"), result, name, kind.name());
        }

        // An XPUB not in manual mode: libzmq itself refuses SUBSCRIBE.
        assert_invalid(
            "SUBSCRIBE on automatic XPUB",
            socket(XPub).set(options::SUBSCRIBE, b"a"),
            "SUBSCRIBE",
            "XPUB",
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn out_of_range_values_are_refused_and_leave_the_old_value() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let s = socket(Dealer);
        let cases: Vec<(&str, i32, zmq_tokio::Result<()>)> = vec![
            ("SNDHWM", -1, s.set(options::SNDHWM, -1)),
            ("RCVHWM", -5, s.set(options::RCVHWM, -5)),
            ("LINGER", -2, s.set(options::LINGER, -2)),
            ("RCVTIMEO", -2, s.set(options::RCVTIMEO, -2)),
            ("SNDTIMEO", i32::MIN, s.set(options::SNDTIMEO, i32::MIN)),
            ("RECONNECT_IVL", -2, s.set(options::RECONNECT_IVL, -2)),
            (
                "RECONNECT_IVL_MAX",
                -1,
                s.set(options::RECONNECT_IVL_MAX, -1),
            ),
            ("BACKLOG", -1, s.set(options::BACKLOG, -1)),
            ("SNDBUF", -2, s.set(options::SNDBUF, -2)),
            ("RCVBUF", -2, s.set(options::RCVBUF, -2)),
            ("RATE", 0, s.set(options::RATE, 0)),
            ("RECOVERY_IVL", -1, s.set(options::RECOVERY_IVL, -1)),
            ("MULTICAST_HOPS", 0, s.set(options::MULTICAST_HOPS, 0)),
            ("MULTICAST_MAXTPDU", 0, s.set(options::MULTICAST_MAXTPDU, 0)),
            ("TOS", -1, s.set(options::TOS, -1)),
            ("TCP_KEEPALIVE", 2, s.set(options::TCP_KEEPALIVE, 2)),
            ("TCP_KEEPALIVE", -2, s.set(options::TCP_KEEPALIVE, -2)),
            (
                "TCP_KEEPALIVE_CNT",
                -2,
                s.set(options::TCP_KEEPALIVE_CNT, -2),
            ),
            (
                "TCP_KEEPALIVE_IDLE",
                -2,
                s.set(options::TCP_KEEPALIVE_IDLE, -2),
            ),
            (
                "TCP_KEEPALIVE_INTVL",
                -2,
                s.set(options::TCP_KEEPALIVE_INTVL, -2),
            ),
            ("CONNECT_TIMEOUT", -1, s.set(options::CONNECT_TIMEOUT, -1)),
            ("TCP_MAXRT", -1, s.set(options::TCP_MAXRT, -1)),
            ("HANDSHAKE_IVL", -1, s.set(options::HANDSHAKE_IVL, -1)),
            ("HEARTBEAT_IVL", -1, s.set(options::HEARTBEAT_IVL, -1)),
            (
                "HEARTBEAT_TIMEOUT",
                -1,
                s.set(options::HEARTBEAT_TIMEOUT, -1),
            ),
            // libzmq would store -50 as 0 and 6553600 as garbage.
            ("HEARTBEAT_TTL", -50, s.set(options::HEARTBEAT_TTL, -50)),
            (
                "HEARTBEAT_TTL",
                6_553_600,
                s.set(options::HEARTBEAT_TTL, 6_553_600),
            ),
            ("USE_FD", -2, s.set(options::USE_FD, -2)),
            // libzmq would close the descriptor, whoever owns it.
            ("USE_FD", 0, s.set(options::USE_FD, 0)),
            // Checked before the GSSAPI capability: the value is wrong anyway.
            (
                "GSSAPI_PRINCIPAL_NAMETYPE",
                3,
                s.set(options::GSSAPI_PRINCIPAL_NAMETYPE, 3),
            ),
            (
                "GSSAPI_SERVICE_PRINCIPAL_NAMETYPE",
                -1,
                s.set(options::GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, -1),
            ),
        ];
        for (name, value, result) in cases {
            let what = format!("set {name} to {value}");
            assert_invalid(&what, result, name, "must be");
            let text = match s.set(info_option_i32(name), value) {
                Err(err) => err.to_string(),
                Ok(()) => panic!("{what} worked the second time"),
            };
            assert!(text.contains(&value.to_string()), "{what}: {text}");
            assert!(text.contains("DEALER"), "{what}: {text}");
        }

        // libzmq 4.3 crashes when a SOCKS proxy refuses a connection that
        // is then dropped (tests/libzmq_guards.rs).
        assert_invalid(
            "set SOCKS_PROXY",
            s.set(options::SOCKS_PROXY, "127.0.0.1:1080"),
            "SOCKS_PROXY",
            "must be empty",
        );

        // The refused values left the old ones in place.
        assert_eq!(s.get(options::SNDHWM).expect("get"), 1000);
        assert_eq!(
            s.get(options::LINGER).expect("get"),
            zmq_tokio::DEFAULT_LINGER_MS
        );
        assert_eq!(s.get(options::RCVTIMEO).expect("get"), -1);
        assert_eq!(s.get(options::TCP_KEEPALIVE).expect("get"), -1);
        assert_eq!(s.get(options::HEARTBEAT_TTL).expect("get"), 0);

        // RCVTIMEO refused: a recv still waits (no timeout was installed).
        let pull = socket(Pull);
        assert!(pull.set(options::RCVTIMEO, -7).is_err());
        let waited = timeout(Duration::from_millis(50), pull.recv()).await;
        assert!(waited.is_err(), "recv returned {waited:?}");
    })
    .await;
}

/// The `i32` option named `name`, for the cases above.
fn info_option_i32(name: &str) -> SocketOption<i32> {
    match name {
        "SNDHWM" => options::SNDHWM,
        "RCVHWM" => options::RCVHWM,
        "LINGER" => options::LINGER,
        "RCVTIMEO" => options::RCVTIMEO,
        "SNDTIMEO" => options::SNDTIMEO,
        "RECONNECT_IVL" => options::RECONNECT_IVL,
        "RECONNECT_IVL_MAX" => options::RECONNECT_IVL_MAX,
        "BACKLOG" => options::BACKLOG,
        "SNDBUF" => options::SNDBUF,
        "RCVBUF" => options::RCVBUF,
        "RATE" => options::RATE,
        "RECOVERY_IVL" => options::RECOVERY_IVL,
        "MULTICAST_HOPS" => options::MULTICAST_HOPS,
        "MULTICAST_MAXTPDU" => options::MULTICAST_MAXTPDU,
        "TOS" => options::TOS,
        "TCP_KEEPALIVE" => options::TCP_KEEPALIVE,
        "TCP_KEEPALIVE_CNT" => options::TCP_KEEPALIVE_CNT,
        "TCP_KEEPALIVE_IDLE" => options::TCP_KEEPALIVE_IDLE,
        "TCP_KEEPALIVE_INTVL" => options::TCP_KEEPALIVE_INTVL,
        "CONNECT_TIMEOUT" => options::CONNECT_TIMEOUT,
        "TCP_MAXRT" => options::TCP_MAXRT,
        "HANDSHAKE_IVL" => options::HANDSHAKE_IVL,
        "HEARTBEAT_IVL" => options::HEARTBEAT_IVL,
        "HEARTBEAT_TIMEOUT" => options::HEARTBEAT_TIMEOUT,
        "HEARTBEAT_TTL" => options::HEARTBEAT_TTL,
        "USE_FD" => options::USE_FD,
        "GSSAPI_PRINCIPAL_NAMETYPE" => options::GSSAPI_PRINCIPAL_NAMETYPE,
        "GSSAPI_SERVICE_PRINCIPAL_NAMETYPE" => options::GSSAPI_SERVICE_PRINCIPAL_NAMETYPE,
        other => panic!("no i32 option {other}"),
    }
}

/// An empty value is what libzmq 4.3 reads as "none" for SOCKS_PROXY (the
/// only value the crate lets through) and BINDTODEVICE (the value is cleared) and for PLAIN_USERNAME and
/// PLAIN_PASSWORD (the socket goes back to the NULL mechanism).
#[tokio::test(flavor = "current_thread")]
async fn empty_text_clears_where_libzmq_allows_it() {
    bounded("test body", TEST_LIMIT, async {
        let dealer = socket(SocketType::Dealer);
        // Only the empty value can be set (a proxy is refused).
        dealer
            .set(options::SOCKS_PROXY, "")
            .expect("empty SOCKS_PROXY");
        assert_eq!(dealer.get(options::SOCKS_PROXY).expect("get"), "");
        // Only used by a later bind or connect.
        dealer
            .set(options::BINDTODEVICE, "lo")
            .expect("set BINDTODEVICE");
        dealer
            .set(options::BINDTODEVICE, String::new())
            .expect("empty BINDTODEVICE");
        assert_eq!(dealer.get(options::BINDTODEVICE).expect("get"), "");

        for option in [options::PLAIN_USERNAME, options::PLAIN_PASSWORD] {
            let req = socket(SocketType::Req);
            req.set(option, "admin")
                .unwrap_or_else(|e| panic!("set {option:?}: {e}"));
            assert_eq!(req.get(options::MECHANISM).expect("get"), 1, "{option:?}");
            req.set(option, "")
                .unwrap_or_else(|e| panic!("empty {option:?}: {e}"));
            assert_eq!(req.get(options::MECHANISM).expect("get"), 0, "{option:?}");
            // libzmq 4.3 switches the mechanism and keeps the text.
            assert_eq!(req.get(option).expect("get"), "admin", "{option:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn bytes_and_text_of_the_wrong_size_are_refused() {
    bounded("test body", TEST_LIMIT, async {
        use SocketType::*;
        let dealer = socket(Dealer);
        let router = socket(Router);
        let long = "x".repeat(256);
        let cases: Vec<(&str, &str, zmq_tokio::Result<()>)> = vec![
            (
                "ROUTING_ID",
                "0 bytes",
                dealer.set(options::ROUTING_ID, b""),
            ),
            (
                "ROUTING_ID",
                "256 bytes",
                dealer.set(options::ROUTING_ID, vec![1; 256]),
            ),
            (
                "CONNECT_ROUTING_ID",
                "0 bytes",
                router.set(options::CONNECT_ROUTING_ID, b""),
            ),
            (
                "CONNECT_ROUTING_ID",
                "300 bytes",
                router.set(options::CONNECT_ROUTING_ID, vec![1; 300]),
            ),
            (
                "PLAIN_USERNAME",
                "256 bytes",
                dealer.set(options::PLAIN_USERNAME, long.as_str()),
            ),
            (
                "PLAIN_PASSWORD",
                "256 bytes",
                dealer.set(options::PLAIN_PASSWORD, long.as_str()),
            ),
            ("ZAP_DOMAIN", "0 bytes", dealer.set(options::ZAP_DOMAIN, "")),
            (
                "BINDTODEVICE",
                "16 bytes",
                dealer.set(options::BINDTODEVICE, "sixteen-chars-xx"),
            ),
            (
                "SOCKS_PROXY",
                "1024 bytes",
                dealer.set(options::SOCKS_PROXY, "x".repeat(1024)),
            ),
            (
                "SOCKS_PROXY",
                "NUL",
                dealer.set(options::SOCKS_PROXY, "host\0:1080"),
            ),
            (
                "PLAIN_USERNAME",
                "NUL",
                dealer.set(options::PLAIN_USERNAME, "a\0b"),
            ),
            (
                "GSSAPI_PRINCIPAL",
                "0 bytes",
                dealer.set(options::GSSAPI_PRINCIPAL, ""),
            ),
            // CURVE keys: the length is checked whether or not CURVE is
            // built in, and the key itself never appears in the message.
            (
                "CURVE_PUBLICKEY",
                "31 bytes",
                dealer.set(options::CURVE_PUBLICKEY, vec![0xAB; 31]),
            ),
            (
                "CURVE_SECRETKEY",
                "33 bytes",
                dealer.set(options::CURVE_SECRETKEY, vec![0xAB; 33]),
            ),
            (
                "CURVE_SERVERKEY",
                "not Z85",
                dealer.set(options::CURVE_SERVERKEY, "~".repeat(40)),
            ),
            (
                "CURVE_SERVERKEY",
                "0 bytes",
                dealer.set(options::CURVE_SERVERKEY, b""),
            ),
        ];
        for (name, says, result) in cases {
            assert_invalid(&format!("set {name} ({says})"), result, name, says);
        }
        let err = dealer
            .set(options::CURVE_PUBLICKEY, vec![0xAB; 31])
            .unwrap_err()
            .to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!err.contains("171") && !err.contains("AB"), "{err}");

        // The old values are still there.
        assert_eq!(dealer.get(options::ROUTING_ID).expect("get"), b"");
        assert_eq!(dealer.get(options::SOCKS_PROXY).expect("get"), "");
        assert_eq!(dealer.get(options::MECHANISM).expect("get"), 0);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn curve_gssapi_and_vmci_follow_the_build() {
    bounded("test body", TEST_LIMIT, async {
        let dealer = socket(SocketType::Dealer);
        // A valid Z85 key (the public key of RFC 32's test vector pair).
        let z85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        let result = dealer.set(options::CURVE_SERVERKEY, z85);
        if zmq_tokio::has("curve") {
            result.expect("CURVE_SERVERKEY from Z85");
            assert_eq!(dealer.get(options::MECHANISM).expect("get"), 2);
            assert_eq!(dealer.get(options::CURVE_SERVERKEY).expect("get").len(), 32);
        } else {
            assert_invalid("CURVE_SERVERKEY", result, "CURVE_SERVERKEY", "CURVE");
            assert_invalid(
                "get CURVE_SERVERKEY",
                dealer.get(options::CURVE_SERVERKEY),
                "CURVE_SERVERKEY",
                "has(\"curve\")",
            );
            assert_invalid(
                "CURVE_SERVER",
                dealer.set(options::CURVE_SERVER, true),
                "CURVE_SERVER",
                "built without CURVE",
            );
            assert_eq!(dealer.get(options::MECHANISM).expect("get"), 0);
        }

        let result = dealer.set(options::GSSAPI_PLAINTEXT, true);
        if zmq_tokio::has("gssapi") {
            result.expect("GSSAPI_PLAINTEXT");
            assert!(dealer.get(options::GSSAPI_PLAINTEXT).expect("get"));
        } else {
            assert_invalid("GSSAPI_PLAINTEXT", result, "GSSAPI_PLAINTEXT", "GSSAPI");
        }

        let result = dealer.set(options::VMCI_CONNECT_TIMEOUT, 100);
        if zmq_tokio::has("vmci") {
            result.expect("VMCI_CONNECT_TIMEOUT");
        } else {
            assert_invalid(
                "VMCI_CONNECT_TIMEOUT",
                result,
                "VMCI_CONNECT_TIMEOUT",
                "VMCI",
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn builder_set_reports_the_option() {
    bounded("test body", TEST_LIMIT, async {
        let err = Socket::builder(SocketType::Push)
            .set(options::ROUTER_MANDATORY, true)
            .build()
            .expect_err("ROUTER_MANDATORY on PUSH");
        assert!(err.to_string().contains("ROUTER_MANDATORY"), "{err}");
        let err = Socket::builder(SocketType::Dealer)
            .routing_id(vec![0u8; 0])
            .build()
            .expect_err("empty routing id");
        assert!(err.to_string().contains("ROUTING_ID"), "{err}");
        let dealer = Socket::builder(SocketType::Dealer)
            .routing_id("w-1")
            .set(options::SNDHWM, 77)
            .build()
            .expect("builder");
        assert_eq!(dealer.get(options::SNDHWM).expect("get"), 77);
        assert_eq!(dealer.get(options::ROUTING_ID).expect("get"), b"w-1");
    })
    .await;
}
