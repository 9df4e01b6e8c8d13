#!/usr/bin/env python3
"""Print zmq-tokio's speed against the sync `zmq` crate, per figure of SPEC §3.

Reads what `cargo bench --bench throughput` left under
target/criterion/<group>/<async|sync>/<parameter>/new/ (estimates.json for
the times, benchmark.json for the messages per iteration) and prints, for
each figure, both sides' numbers, the ratio and the goal:

  throughput  ratio = sync_time / async_time  (= async msgs/s / sync msgs/s;
              above 1: zmq-tokio moves more messages per second)
  latency     ratio = async_time / sync_time  (below 1: faster round trips)

Throughput uses criterion's median time per iteration, latency its mean
(one iteration is one round trip). "spread" is the wider of the two sides'
95% confidence intervals of that estimate, relative to it: ratios that
differ from the goal by less than that are within the noise.

Criterion measures all of one side's iterations, then all of the other's,
so load that changes between the two moments skews these ratios (by up to
±30% on a shared 2-core machine), beyond what "spread" shows. For SPEC §3's
figures as specified (side by side, alternating, median of rounds), run

  cargo bench --bench ratio        # ZMQ_TOKIO_BENCH_QUICK=1 for a smoke run

which builds both sides once, alternates their batches round by round
(ABBA) and prints its own table (median ratio, quartiles, range, goal);
this script does not read its results.

Usage:
  python3 benches/compare.py [--target-dir DIR] [--baseline NAME] [--markdown]

  --target-dir DIR  cargo's target directory (default: $CARGO_TARGET_DIR,
                    else target/ next to benches/)
  --baseline NAME   read a criterion baseline saved with --save-baseline NAME
                    instead of the latest run ("new")
  --markdown        print a Markdown table

Standard library only. Exit status 1 when no results are found.
"""

import json
import os
import sys

# (figure, group, parameter, kind, goal); goal None: no goal; group None: not measured.
SPEC_FIGURES = [
    ("PUSH/PULL tcp 16 B msgs/s", "push_pull_tcp", "16", "thr", (">=", 0.9)),
    ("PUSH/PULL tcp 1 KiB msgs/s", "push_pull_tcp", "1024", "thr", (">=", 1.0)),
    ("PUSH/PULL tcp 64 KiB from Bytes", "push_pull_64k_from_bytes", "tcp", "thr", (">=", 1.1)),
    ("PUSH/PULL inproc 16 B msgs/s", "push_pull_inproc", "16", "thr", (">=", 0.9)),
    ("REQ/REP tcp 16 B mean round trip", "req_rep_tcp", "16", "lat", ("<=", 1.1)),
    ("async proxy tcp 16 B vs zmq_proxy", "proxy", "tcp_16", "thr", (">=", 0.9)),
]

EXTRA_FIGURES = [
    ("PUSH/PULL tcp 64 KiB (copied)", "push_pull_tcp", "65536", "thr", None),
    ("PUSH/PULL inproc 1 KiB", "push_pull_inproc", "1024", "thr", None),
    ("PUSH/PULL inproc 64 KiB (copied)", "push_pull_inproc", "65536", "thr", None),
    ("PUSH/PULL inproc 64 KiB from Bytes", "push_pull_64k_from_bytes", "inproc", "thr", None),
    ("async proxy inproc 16 B vs zmq_proxy", "proxy", "inproc_16", "thr", None),
]

NOT_MEASURED = {}


def usage_error(message):
    sys.stderr.write(f"compare.py: {message}\n(see python3 benches/compare.py --help)\n")
    sys.exit(2)


def parse_args(argv):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target"
    )
    baseline = "new"
    markdown = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        elif arg == "--markdown":
            markdown = True
        elif arg in ("--target-dir", "--baseline"):
            if not args:
                usage_error(f"{arg} needs a value")
            value = args.pop(0)
            if arg == "--target-dir":
                target = value
            else:
                baseline = value
        else:
            usage_error(f"unknown argument {arg!r}")
    return target, baseline, markdown


def load(root, baseline, group, side, param):
    """(estimates, elements per iteration), or None when the bench did not run."""
    directory = os.path.join(root, group, side, param, baseline)
    try:
        with open(os.path.join(directory, "estimates.json")) as f:
            estimates = json.load(f)
    except FileNotFoundError:
        return None
    elements = 1
    try:
        with open(os.path.join(directory, "benchmark.json")) as f:
            throughput = json.load(f).get("throughput") or {}
            elements = throughput.get("Elements") or throughput.get("ElementsAndBytes", {}).get(
                "elements", 1
            )
    except FileNotFoundError:
        pass
    return estimates, elements


def human_rate(per_second):
    for scale, suffix in ((1e6, " M"), (1e3, " k")):
        if per_second >= scale:
            return f"{per_second / scale:.3g}{suffix}/s"
    return f"{per_second:.3g} /s"


def human_time(ns):
    for scale, suffix in ((1e9, " s"), (1e6, " ms"), (1e3, " µs")):
        if ns >= scale:
            return f"{ns / scale:.3g}{suffix}"
    return f"{ns:.3g} ns"


def row(root, baseline, figure, group, param, kind, goal):
    goal_text = f"{goal[0]} {goal[1]}" if goal else "-"
    if group is None:
        return [figure, "-", "-", "-", "-", goal_text, NOT_MEASURED.get(figure, "not measured")]
    sides = {}
    for side in ("async", "sync"):
        loaded = load(root, baseline, group, side, param)
        if loaded is None:
            return [figure, "-", "-", "-", "-", goal_text, f"not run ({group}/{side}/{param})"]
        sides[side] = loaded
    statistic = "mean" if kind == "lat" else "median"
    values = {}
    spread = 0.0
    for side, (estimates, elements) in sides.items():
        estimate = estimates[statistic]
        point = estimate["point_estimate"]
        interval = estimate["confidence_interval"]
        spread = max(spread, (interval["upper_bound"] - interval["lower_bound"]) / 2 / point)
        values[side] = (point, elements)
    (a_time, a_elems), (s_time, s_elems) = values["async"], values["sync"]
    if kind == "thr":
        a_rate = a_elems / (a_time / 1e9)
        s_rate = s_elems / (s_time / 1e9)
        ratio = a_rate / s_rate  # = sync_time / async_time per message
        a_text, s_text = human_rate(a_rate), human_rate(s_rate)
    else:
        a_rtt, s_rtt = a_time / a_elems, s_time / s_elems
        ratio = a_rtt / s_rtt
        a_text, s_text = human_time(a_rtt), human_time(s_rtt)
    if goal:
        met = ratio >= goal[1] if goal[0] == ">=" else ratio <= goal[1]
        verdict = "meets goal" if met else "misses goal"
    else:
        verdict = ""
    return [figure, a_text, s_text, f"{ratio:.2f}", f"±{spread * 100:.0f}%", goal_text, verdict]


def print_table(header, rows, markdown):
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def main():
    target, baseline, markdown = parse_args(sys.argv[1:])
    root = os.path.join(target, "criterion")
    if not os.path.isdir(root):
        sys.stderr.write(
            f"compare.py: no criterion results in {root}; run `cargo bench --bench throughput` first\n"
        )
        sys.exit(1)
    header = ["figure (SPEC §3)", "zmq-tokio", "zmq (sync)", "ratio", "spread", "goal", ""]
    spec_rows = [row(root, baseline, *f) for f in SPEC_FIGURES]
    extra_rows = [row(root, baseline, *f) for f in EXTRA_FIGURES]
    if all(r[3] == "-" for r in spec_rows + extra_rows):
        sys.stderr.write(f"compare.py: no results of the throughput bench in {root}\n")
        sys.exit(1)
    print_table(header, spec_rows, markdown)
    print()
    print_table(["other figures"] + header[1:], extra_rows, markdown)
    print()
    print(
        "throughput: msgs/s from criterion's median time per batch; ratio = async msgs/s / sync msgs/s\n"
        "            (= sync_time / async_time, higher is better for zmq-tokio)\n"
        "latency:    mean round trip; ratio = async_time / sync_time (lower is better)\n"
        "spread:     wider 95% confidence interval of the two estimates (noise)"
    )


if __name__ == "__main__":
    main()
