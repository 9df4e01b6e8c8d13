#!/usr/bin/env bash
# Instructions per message of a workload of tools/profile.rs, counted by
# valgrind's callgrind: the difference of a run of N and a run of 2N
# messages, divided by N, so that set-up costs cancel out.
#
#   bash benches/callgrind.sh async thr            # zmq-tokio, PUSH -> PULL inproc
#   bash benches/callgrind.sh sync thr             # the zmq crate, the same
#   bash benches/callgrind.sh async proxy          # through zmq_tokio::proxy
#   N=20000 bash benches/callgrind.sh async lat 'tcp://127.0.0.1:*'
#   N=20000 INTO=1 bash benches/callgrind.sh async pubsub 'tcp://127.0.0.1:*'
#   N=20000 bash benches/callgrind.sh bare pubsub 'tcp://127.0.0.1:*'   # the zmq crate in tasks
#
# Counts are deterministic up to how valgrind interleaves the threads
# (within a few percent between runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { echo "usage: bash benches/callgrind.sh async|sync|bare thr|lat|proxy|pubsub|tcplat [ENDPOINT]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
n=${N:-50000}
cargo build --release --example profile >&2
bin=target/release/examples/profile
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" "$bin" "${@:2}" 2>&1 |
        sed -n 's/.*Collected : //p'
}
small=$(count 1 "$1" "$2" "$n" "${@:3}")
large=$(count 2 "$1" "$2" "$((2 * n))" "${@:3}")
echo "$1 $2: $(((large - small) / n)) instructions per message (N = $n)"
