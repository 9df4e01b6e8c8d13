//! The ZAP handler's task: reading requests, deciding, replying.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::rules::{constant_time_eq, Rules, UserIdFn};
use super::{Counters, ZAP_ENDPOINT};
use crate::curve;
use crate::{Error, Message, Multipart, Result, Socket};

/// A security mechanism, as a ZAP request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// No security (`NULL`).
    Null,
    /// User name and password in clear text (`PLAIN`).
    Plain,
    /// Encryption and public-key authentication (`CURVE`).
    Curve,
    /// Kerberos (`GSSAPI`): refused by this handler.
    Gssapi,
}

impl Mechanism {
    fn parse(name: &[u8]) -> Option<Mechanism> {
        match name {
            b"NULL" => Some(Mechanism::Null),
            b"PLAIN" => Some(Mechanism::Plain),
            b"CURVE" => Some(Mechanism::Curve),
            b"GSSAPI" => Some(Mechanism::Gssapi),
            _ => None,
        }
    }
}

/// What a ZAP request says about a client, for a
/// [`user_id`](super::Builder::user_id) function. It never holds a password.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The server socket's ZAP domain (`""` if it has none).
    pub domain: &'a str,
    /// The client's IP address as libzmq gives it (`"127.0.0.1"`), empty
    /// for transports without one.
    pub address: &'a str,
    /// The server socket's routing id (`ROUTING_ID`), often empty.
    pub routing_id: &'a [u8],
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The PLAIN user name.
    pub user: Option<&'a str>,
    /// The CURVE client key, 40 characters of Z85.
    pub client_key: Option<&'a str>,
}

/// What a [`curve_callback`](super::Builder::curve_callback) can answer: `bool`
/// (let in or not), or `Result<bool, E>` where an error makes the client
/// get `500`.
pub trait Decision: Send + 'static {
    /// `Ok(true)`: let the client in; `Ok(false)`: refuse it (400);
    /// `Err(why)`: an internal failure (500).
    fn into_decision(self) -> std::result::Result<bool, String>;
}

impl Decision for bool {
    fn into_decision(self) -> std::result::Result<bool, String> {
        Ok(self)
    }
}

impl<E: fmt::Display + Send + 'static> Decision for std::result::Result<bool, E> {
    fn into_decision(self) -> std::result::Result<bool, String> {
        self.map_err(|e| e.to_string())
    }
}

/// An answer to one request.
struct Reply {
    /// The ZAP client's routing id on our ROUTER.
    peer: Message,
    request_id: Message,
    status: Status,
    text: &'static str,
    user_id: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Denied,
    Failed,
}

impl Status {
    fn code(self) -> &'static str {
        match self {
            Status::Ok => "200",
            Status::Denied => "400",
            Status::Failed => "500",
        }
    }
}

pub(super) async fn serve(
    socket: Socket,
    rules: Rules,
    stats: Arc<Counters>,
    cancel: CancellationToken,
) {
    let mut pending: FuturesUnordered<BoxFuture<'static, Reply>> = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(reply) = pending.next(), if !pending.is_empty() => {
                if send_reply(&socket, &stats, reply).await.is_err() {
                    break;
                }
            }
            request = socket.recv() => match request {
                Ok(request) => {
                    if let Some(answer) = answer(request, &rules, &stats) {
                        pending.push(answer);
                    }
                }
                // Closed, or the context shut down.
                Err(_) => break,
            },
        }
    }
    // Handshakes that start from now on must find no handler.
    let _ = socket.unbind(ZAP_ENDPOINT);
    socket.close();
}

async fn send_reply(socket: &Socket, stats: &Counters, reply: Reply) -> Result<()> {
    let counter = match reply.status {
        Status::Ok => &stats.accepted,
        Status::Denied => &stats.denied,
        Status::Failed => &stats.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let frames: Multipart = vec![
        reply.peer,
        Message::new(),
        Message::from("1.0"),
        reply.request_id,
        Message::from(reply.status.code()),
        Message::from(reply.text),
        Message::from(reply.user_id),
        Message::new(),
    ]
    .into_iter()
    .collect();
    match socket.send(frames).await {
        // A ZAP client that went away (its handshake ended) is no failure.
        Err(Error::Closed | Error::ContextTerminated) => Err(Error::Closed),
        _ => Ok(()),
    }
}

/// Where a reply goes: the ZAP client and its request id.
#[derive(Clone)]
struct Replier {
    peer: Message,
    request_id: Message,
}

impl Replier {
    fn reply(&self, status: Status, text: &'static str) -> Reply {
        Reply {
            peer: self.peer.clone(),
            request_id: self.request_id.clone(),
            status,
            text,
            user_id: String::new(),
        }
    }

    fn ready(&self, status: Status, text: &'static str) -> Option<BoxFuture<'static, Reply>> {
        Some(ready(self.reply(status, text)))
    }

    /// `200` with the user id that `user_id_fn` picks, or `default`.
    fn accept(
        &self,
        user_id_fn: Option<&UserIdFn>,
        request: &Request<'_>,
        default: String,
    ) -> Reply {
        let user_id = match user_id_fn {
            None => default,
            Some(user_id_fn) => match catch_unwind(AssertUnwindSafe(|| user_id_fn(request))) {
                Ok(id) => id.unwrap_or(default),
                Err(_) => return self.reply(Status::Failed, "user id function panicked"),
            },
        };
        Reply {
            user_id,
            ..self.reply(Status::Ok, "OK")
        }
    }
}

/// The answer to one request: ready at once, or a callback's future.
/// `None` for a request that cannot be answered at all.
fn answer(
    request: Multipart,
    rules: &Rules,
    stats: &Counters,
) -> Option<BoxFuture<'static, Reply>> {
    // [peer, "", version, request id, domain, address, routing id,
    //  mechanism, credentials...]
    let mut frames = request.into_iter();
    let (Some(peer), Some(delimiter), Some(version), Some(request_id)) =
        (frames.next(), frames.next(), frames.next(), frames.next())
    else {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    if !delimiter.is_empty() {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let to = Replier { peer, request_id };
    let rest: Vec<Message> = frames.collect();
    let malformed = |status: Status, text: &'static str| {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        to.ready(status, text)
    };
    if &*version != b"1.0" {
        return malformed(Status::Failed, "unsupported ZAP version");
    }
    if rest.len() < 4 {
        return malformed(Status::Failed, "malformed ZAP request");
    }
    let (Some(domain), Some(address)) = (rest[0].as_str(), rest[1].as_str()) else {
        return malformed(Status::Failed, "malformed ZAP request");
    };
    let routing_id: &[u8] = &rest[2];
    let Some(mechanism) = Mechanism::parse(&rest[3]) else {
        return malformed(Status::Denied, "unsupported mechanism");
    };
    let credentials = &rest[4..];
    let expected = match mechanism {
        Mechanism::Null => 0,
        Mechanism::Plain => 2,
        Mechanism::Curve | Mechanism::Gssapi => 1,
    };
    if credentials.len() != expected {
        return malformed(Status::Failed, "malformed ZAP request");
    }
    if mechanism == Mechanism::Curve && credentials[0].len() != 32 {
        return malformed(Status::Failed, "malformed ZAP request");
    }

    let state = rules.read();
    if let Some(why) = state.address_refusal(address) {
        return to.ready(Status::Denied, why);
    }
    let domain_rules = state.for_domain(domain);
    let user_id_fn = state.user_id.as_ref();
    let mut request = Request {
        domain,
        address,
        routing_id,
        mechanism,
        user: None,
        client_key: None,
    };
    match mechanism {
        Mechanism::Null => Some(ready(to.accept(user_id_fn, &request, String::new()))),
        Mechanism::Gssapi => to.ready(Status::Denied, "GSSAPI is not supported"),
        Mechanism::Plain => {
            const WRONG: &str = "invalid user name or password";
            let Some(users) = domain_rules.and_then(|rules| rules.plain.as_ref()) else {
                return to.ready(Status::Denied, "no PLAIN users for this domain");
            };
            let Some(user) = credentials[0].as_str() else {
                return to.ready(Status::Denied, WRONG);
            };
            let password: &[u8] = &credentials[1];
            // An unknown user costs the same comparison as a known one.
            let (known, expected) = match users.get(user) {
                Some(expected) => (true, &*expected.0),
                None => (false, password),
            };
            if constant_time_eq(password, expected) & known {
                request.user = Some(user);
                Some(ready(to.accept(user_id_fn, &request, user.to_owned())))
            } else {
                to.ready(Status::Denied, WRONG)
            }
        }
        Mechanism::Curve => {
            let mut key = [0u8; 32];
            key.copy_from_slice(&credentials[0]);
            let Ok(key_z85) = curve::z85_encode(&key) else {
                return to.ready(Status::Failed, "cannot encode the client key");
            };
            request.client_key = Some(&key_z85);
            let Some(domain_rules) = domain_rules else {
                return to.ready(Status::Denied, "no CURVE rules for this domain");
            };
            if domain_rules.curve_any || domain_rules.curve_keys.contains(&key) {
                return Some(ready(to.accept(user_id_fn, &request, key_z85.clone())));
            }
            let Some(callback) = domain_rules.curve_callback.clone() else {
                return to.ready(Status::Denied, "client key not allowed");
            };
            let timeout = state.callback_timeout;
            let user_id_fn = user_id_fn.cloned();
            let (domain, address, routing_id) =
                (domain.to_owned(), address.to_owned(), routing_id.to_vec());
            drop(state);
            // The call itself may panic too, before it returns a future.
            let asked = catch_unwind(AssertUnwindSafe(|| callback(&domain, &key_z85)));
            Some(
                async move {
                    let decision = match asked {
                        Ok(future) => {
                            let guarded = AssertUnwindSafe(future).catch_unwind();
                            match tokio::time::timeout(timeout, guarded).await {
                                Ok(Ok(decision)) => decision,
                                Ok(Err(_)) => Err("callback panicked".to_owned()),
                                Err(_) => Err("callback timed out".to_owned()),
                            }
                        }
                        Err(_) => Err("callback panicked".to_owned()),
                    };
                    match decision {
                        Ok(true) => {
                            let request = Request {
                                domain: &domain,
                                address: &address,
                                routing_id: &routing_id,
                                mechanism,
                                user: None,
                                client_key: Some(&key_z85),
                            };
                            to.accept(user_id_fn.as_ref(), &request, key_z85.clone())
                        }
                        Ok(false) => to.reply(Status::Denied, "client key refused"),
                        Err(_) => to.reply(Status::Failed, "authentication callback failed"),
                    }
                }
                .boxed(),
            )
        }
    }
}

fn ready(reply: Reply) -> BoxFuture<'static, Reply> {
    std::future::ready(reply).boxed()
}
