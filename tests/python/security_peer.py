#!/usr/bin/env python3
"""The pyzmq side of the CURVE interop tests in tests/security.rs.

usage: security_peer.py ROLE [ARGS...]

Roles:

  cert DIR NAME             write a CURVE certificate pair with pyzmq's
                            zmq.auth.create_certificates (DIR/NAME.key and
                            DIR/NAME.key_secret), print "PUBLIC <key>"
  curve_req ENDPOINT SERVER_PUBLIC SECRET_FILE
                            connect a CURVE REQ with the keys of
                            SECRET_FILE, send [b"hello"], print
                            "OK <first frame of the reply>"
  curve_rep_auth CLIENT_PUBLIC
                            start pyzmq's ThreadAuthenticator allowing only
                            CLIENT_PUBLIC (domain "global"), bind a CURVE
                            REP with fresh keys, print "SERVERKEY <key>" and
                            "ENDPOINT <endpoint>"; answer each request with
                            [b"user", <its User-Id>] until [b"STOP"], then
                            print "OK <requests answered>"

Every role ends by itself: receives time out and a SIGALRM deadline ends
the process. Failures go to stderr with exit status 1.
"""

import signal
import sys
import traceback

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

DEADLINE_S = 50
TIMEOUT_MS = 20_000


def fail(why):
    sys.stderr.write(f"security_peer.py {sys.argv[1:]}: {why}\n")
    sys.stderr.flush()
    sys.exit(1)


def say(*words):
    print(*words, flush=True)


def role_cert(ctx, directory, name):
    _, secret_file = zmq.auth.create_certificates(directory, name)
    public, _ = zmq.auth.load_certificate(secret_file)
    say("PUBLIC", public.decode())


def role_curve_req(ctx, endpoint, server_public, secret_file):
    public, secret = zmq.auth.load_certificate(secret_file)
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvtimeo = TIMEOUT_MS
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public.encode()
    sock.connect(endpoint)
    sock.send_multipart([b"hello"])
    reply = sock.recv_multipart()
    say("OK", reply[0].decode())


class OneKey:
    def __init__(self, key):
        self.key = key

    def callback(self, domain, key):
        return key == self.key


def role_curve_rep_auth(ctx, client_public):
    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        auth.configure_curve_callback("global", OneKey(client_public.encode()))
        public, secret = zmq.curve_keypair()
        sock = ctx.socket(zmq.REP)
        sock.linger = 0
        sock.rcvtimeo = TIMEOUT_MS
        sock.curve_server = True
        sock.curve_secretkey = secret
        sock.zap_domain = b"global"
        sock.bind("tcp://127.0.0.1:*")
        say("SERVERKEY", public.decode())
        say("ENDPOINT", sock.last_endpoint.decode())
        answered = 0
        while True:
            frames = sock.recv_multipart(copy=False)
            if [f.bytes for f in frames] == [b"STOP"]:
                sock.send_multipart([b"bye"])
                break
            sock.send_multipart([b"user", frames[0].get("User-Id").encode()])
            answered += 1
        say("OK", answered)
    finally:
        auth.stop()


ROLES = {
    "cert": role_cert,
    "curve_req": role_curve_req,
    "curve_rep_auth": role_curve_rep_auth,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ROLES:
        fail(f"usage: security_peer.py ROLE [ARGS...], ROLE one of {', '.join(ROLES)}")
    signal.alarm(DEADLINE_S)
    ctx = zmq.Context()
    try:
        ROLES[sys.argv[1]](ctx, *sys.argv[2:])
    except Exception:  # noqa: BLE001 - report anything, then exit 1
        fail(traceback.format_exc())
    ctx.term()


if __name__ == "__main__":
    main()
