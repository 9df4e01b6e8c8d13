#!/usr/bin/env python3
"""The pyzmq side of tests/interop.rs: a ZeroMQ stack we did not write.

usage: peer.py ROLE [ARGS...]

Roles (the Rust test is the other end of each):

  rep                       bind a REP, print its endpoint; reply to each
                            request [f1, f2, ...] with [b"reply", f1[::-1],
                            f2[::-1], ...] until the request [b"STOP"]
  req ENDPOINT N            connect a REQ, send N requests, check each reply
  sub PUB_EP REPORT_EP PFX...
                            SUB to PUB_EP with the prefixes PFX; report on a
                            PUSH to REPORT_EP: [b"READY"] once a probe of
                            every prefix arrived, then [b"GOT", frames...]
                            for each message, then [b"DONE", count]
  pub PFX...                bind a PUB and a PULL (control), print both
                            endpoints; publish probes for every PFX until
                            [b"READY"] arrives on the PULL, then the stream
  pull ENDPOINT N           connect a PULL, check N pattern messages + END
  push N                    bind a PUSH, print its endpoint, send N pattern
                            messages + END
  pair                      bind a PAIR, print its endpoint, echo every
                            message until [b"STOP"], then send tricky()
                            messages and [b"DONE"]
  router                    bind a ROUTER, print its endpoint; answer
                            [id, body...] with [id, b"echo", id, body...]
                            until the body [b"STOP"]
  dealer ENDPOINT ID N      connect a DEALER with routing id ID, send N
                            jobs, check the N answers

Protocol on stdout, one line each, flushed: "ENDPOINT <endpoint>" for every
socket bound, then "OK ..." on success. On failure it writes why to stderr
and exits 1. Every role ends by itself: each receive has a timeout, and a
SIGALRM deadline ends the process whatever it is doing, so no peer outlives
a broken test.

The message generators pattern(), tricky(), pubsub_stream() mirror the
functions of the same names in tests/interop.rs; change both together.
"""

import os
import signal
import sys
import time
import traceback

import zmq

DEADLINE_S = 50  # the Rust tests give up after 60 s
TIMEOUT_MS = 20_000  # a single receive or send
LINGER_MS = 20_000  # unsent messages at exit (bounded by the deadline too)
BIG = 256 * 1024

_BASE = bytes(j % 251 for j in range(BIG + 251))


def big_frame(i):
    """256 KiB whose byte j is (i + j) % 251."""
    o = i % 251
    return _BASE[o : o + BIG]


def pattern(i):
    """Message i of the PUSH/PULL streams."""
    if i % 250 == 7:
        return [b"big", str(i).encode(), big_frame(i)]
    if i % 3 == 0:
        return [b"multi", str(i).encode(), b"", b"x" * (i % 50)]
    return [f"msg-{i}".encode()]


def tricky():
    """Messages with awkward frames."""
    return [
        [b""],
        [b"", b"", b""],
        [f"frame-{k}".encode() for k in range(100)],
        [bytes(range(256)), b"\xff\xfe\x00"],
        [b"head", big_frame(1), b"tail"],
        [big_frame(2), b""],
        [b"a" * 1025, b"b" * 1024, b"c" * 1023],
    ]


TOPICS = [b"a.one", b"b|two", b"a", b"ab.x", b"c.a.", b"a.", b"b|", b"b", b"", b"A.caps"]


def pubsub_stream():
    """The data messages of the PUB/SUB tests (probes and END aside)."""
    out = []
    for i in range(200):
        msg = [TOPICS[i % len(TOPICS)], str(i).encode()]
        if i % 4 == 0:
            msg += [b"extra", b""]
        out.append(msg)
    return out


def fail(why):
    sys.stderr.write(f"peer.py {sys.argv[1:]}: {why}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # Not sys.exit: no context termination that could wait for LINGER.
    os._exit(1)


def show(msg):
    """A message for an error text, long frames shortened."""
    return [f[:40] + (b"..." if len(f) > 40 else b"") for f in msg]


def say(*words):
    print(*words, flush=True)


def make(ctx, kind):
    s = ctx.socket(kind)
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    s.linger = LINGER_MS
    return s


def bind(sock):
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    say(f"ENDPOINT tcp://127.0.0.1:{port}")


def recv(sock, what):
    try:
        return sock.recv_multipart()
    except zmq.Again:
        fail(f"timed out waiting for {what}")


def role_rep(ctx):
    rep = make(ctx, zmq.REP)
    bind(rep)
    count = 0
    while True:
        msg = recv(rep, f"request {count}")
        if msg == [b"STOP"]:
            rep.send_multipart([b"BYE"])
            break
        rep.send_multipart([b"reply"] + [f[::-1] for f in msg])
        count += 1
    say(f"OK {count}")


def role_req(ctx, endpoint, n):
    req = make(ctx, zmq.REQ)
    req.connect(endpoint)
    for i in range(int(n)):
        request = [b"q", str(i).encode(), bytes(range(256))]
        expected = [b"a", str(i * 2).encode(), bytes(range(255, -1, -1))]
        if i % 50 == 0:
            request.append(big_frame(i))
            expected.append(big_frame(i))
        req.send_multipart(request)
        reply = recv(req, f"reply {i}")
        if reply != expected:
            fail(f"reply {i}: expected {show(expected)}, got {show(reply)}")
    say(f"OK {n}")


def role_sub(ctx, pub_ep, report_ep, *prefixes):
    sub = make(ctx, zmq.SUB)
    for p in prefixes:
        sub.setsockopt(zmq.SUBSCRIBE, p.encode())
    sub.connect(pub_ep)
    report = make(ctx, zmq.PUSH)
    report.connect(report_ep)
    probes = {p.encode() + b"PROBE" for p in prefixes}
    unseen = set(probes)
    end = prefixes[0].encode() + b"END"
    count = 0
    while True:
        msg = recv(sub, "a publication")
        if msg[0] in probes:
            if unseen:
                unseen.discard(msg[0])
                if not unseen:
                    report.send_multipart([b"READY"])
            continue
        if msg == [end]:
            break
        report.send_multipart([b"GOT"] + msg)
        count += 1
    report.send_multipart([b"DONE", str(count).encode()])
    say(f"OK {count}")


def role_pub(ctx, *prefixes):
    pub = make(ctx, zmq.PUB)
    bind(pub)
    control = make(ctx, zmq.PULL)
    bind(control)
    # Slow joiner: what a PUB sends before a subscription has reached it is
    # dropped. Probe until the subscriber says it got a probe of each of
    # its prefixes; from then on every matching message reaches it.
    probes = [[p.encode() + b"PROBE"] for p in prefixes]
    give_up = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        if time.monotonic() > give_up:
            fail("no READY from the subscriber")
        for probe in probes:
            pub.send_multipart(probe)
        if control.poll(20):
            msg = control.recv_multipart()
            if msg != [b"READY"]:
                fail(f"expected READY on the control socket, got {show(msg)}")
            break
    stream = pubsub_stream()
    for msg in stream:
        pub.send_multipart(msg)
    pub.send_multipart([prefixes[0].encode() + b"END"])
    say(f"OK {len(stream)}")


def role_pull(ctx, endpoint, n):
    pull = make(ctx, zmq.PULL)
    pull.connect(endpoint)
    total = 0
    for i in range(int(n)):
        msg = recv(pull, f"message {i}")
        expected = pattern(i)
        if msg != expected:
            fail(f"message {i}: expected {show(expected)}, got {show(msg)}")
        total += sum(len(f) for f in msg)
    msg = recv(pull, "END")
    if msg != [b"END"]:
        fail(f"expected END after {n} messages, got {show(msg)}")
    say(f"OK {n} {total}")


def role_push(ctx, n):
    push = make(ctx, zmq.PUSH)
    bind(push)
    for i in range(int(n)):
        push.send_multipart(pattern(i))
    push.send_multipart([b"END"])
    say(f"OK {n}")


def role_pair(ctx):
    pair = make(ctx, zmq.PAIR)
    bind(pair)
    echoed = 0
    while True:
        msg = recv(pair, "a message to echo")
        if msg == [b"STOP"]:
            break
        pair.send_multipart(msg)
        echoed += 1
    for msg in tricky():
        pair.send_multipart(msg)
    pair.send_multipart([b"DONE"])
    say(f"OK {echoed}")


def role_router(ctx):
    router = make(ctx, zmq.ROUTER)
    bind(router)
    count = 0
    while True:
        msg = recv(router, "a request")
        ident, body = msg[0], msg[1:]
        if body == [b"STOP"]:
            router.send_multipart([ident, b"BYE"])
            break
        router.send_multipart([ident, b"echo", ident] + body)
        count += 1
    say(f"OK {count}")


def role_dealer(ctx, endpoint, ident, n):
    dealer = make(ctx, zmq.DEALER)
    dealer.setsockopt(zmq.ROUTING_ID, ident.encode())
    dealer.connect(endpoint)
    n = int(n)
    for i in range(n):
        dealer.send_multipart([b"job", str(i).encode()])
    for i in range(n):
        msg = recv(dealer, f"answer {i}")
        expected = [b"done", str(i).encode(), ident.encode()]
        if msg != expected:
            fail(f"answer {i}: expected {show(expected)}, got {show(msg)}")
    say(f"OK {n}")


ROLES = {
    "rep": role_rep,
    "req": role_req,
    "sub": role_sub,
    "pub": role_pub,
    "pull": role_pull,
    "push": role_push,
    "pair": role_pair,
    "router": role_router,
    "dealer": role_dealer,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ROLES:
        fail(f"usage: peer.py ROLE [ARGS...], ROLE one of {', '.join(ROLES)}")
    # SIGALRM's default action ends the process, even inside a blocking
    # libzmq call: the last word on never lingering.
    signal.alarm(DEADLINE_S)
    ctx = zmq.Context()
    try:
        ROLES[sys.argv[1]](ctx, *sys.argv[2:])
    except Exception:  # noqa: BLE001 - report anything, then exit 1
        fail(traceback.format_exc())
    # Waits up to LINGER_MS for unsent messages to go out.
    ctx.term()


if __name__ == "__main__":
    main()
