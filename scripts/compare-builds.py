#!/usr/bin/env python3
"""Compares the replies of two crmd builds, for changes that must not change the protocol.

    scripts/compare-builds.py OLD_CRMD NEW_CRMD [--commands N] [--crm-bench PATH]

1. Session: each build serves a fresh data directory; the same scripted session runs against
   both: N commands of crm-bench's seeded workload (--dump-workload), a few rejected commands, then
   the queries of every customer, deal and ticket it created (get, timeline, history, SLA) and the
   reports. The replies must be equal except for what depends on the wall clock (times, durations,
   rates per day, hashes that cover times, timeline cursors).
2. Upgrade: OLD_CRMD writes the session into a data directory, NEW_CRMD opens it (rebuilding what its
   version changes require) and answers the queries: the replies must equal OLD_CRMD's, except for
   the query time and the checkpoints signed since.

Exit status 0 when both hold. Needs python3 only; crm-bench (for the workload) defaults to the one
beside NEW_CRMD.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIME_KEYS = {"at", "as_of", "generated_at", "last_signed_at", "signed_at"}
CLOCK_KEYS = {"avg_seconds", "median_seconds", "p90_seconds", "latest_seconds", "cumulative_seconds",
              "per_day", "next_before"}
SIGNATURE_KEYS = {"checked", "last_signed_position", "unsigned_after"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
HASH = re.compile(r"^[0-9a-f]{64}$")


def normalise(value, drop, hashes):
    """`value` without the members named in `drop`, its times masked, and its hashes if `hashes`."""
    if isinstance(value, dict):
        return {k: normalise(v, drop, hashes) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [normalise(v, drop, hashes) for v in value]
    if isinstance(value, str):
        if hashes and HASH.match(value):
            return "<hash>"
        return TIMESTAMP.sub("<time>", value)
    return value


class Daemon:
    def __init__(self, crmd, root):
        self.socket_path = os.path.join(root, "crmd.sock")
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        self.log = open(os.path.join(root, "crmd.log"), "ab")
        self.process = subprocess.Popen(
            [crmd, "--data-dir", os.path.join(root, "data", "var"), "--socket", self.socket_path,
             "--signing-key", os.path.join(root, "keys", "signing.key")],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while True:
            try:
                self.connection = socket.socket(socket.AF_UNIX)
                self.connection.connect(self.socket_path)
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    sys.exit(f"{crmd} did not start; see {root}/crmd.log")
                time.sleep(0.05)
        self.stream = self.connection.makefile("rwb")

    def call(self, request):
        self.stream.write((json.dumps(request) + "\n").encode())
        self.stream.flush()
        return json.loads(self.stream.readline())

    def stop(self):
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def queries(commands):
    ids = sorted(set(re.findall(r'"(p1k0[cdt]\d+)"', "\n".join(json.dumps(c) for c in commands))))
    methods = []
    for ident in ids:
        kind = ident[4]
        if kind == "c":
            methods += [("customer.get", {"customer_id": ident}), ("customer.timeline", {"customer_id": ident}),
                        ("customer.history", {"customer_id": ident})]
        elif kind == "d":
            methods += [("deal.get", {"deal_id": ident}), ("deal.history", {"deal_id": ident})]
        else:
            methods += [("ticket.get", {"ticket_id": ident}), ("sla.ticket", {"ticket_id": ident}),
                        ("ticket.history", {"ticket_id": ident})]
    window = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
    methods += [("funnel.report", {"pipeline_id": "sales", **window}), ("funnel.snapshot", {"pipeline_id": "sales"}),
                ("sla.report", window), ("sla.breaching", {}), ("customer.find", {"tag": "vip"}),
                ("deal.list", {}), ("ticket.list", {}), ("pipeline.list", {}),
                ("events.read", {"from": 1, "limit": 1000}), ("audit.verify", {})]
    return [{"jsonrpc": "2.0", "id": n, "method": m, "params": p} for n, (m, p) in enumerate(methods)]


REJECTED = [
    {"jsonrpc": "2.0", "id": "r1", "method": "customer.create", "params": {"emails": [{"address": "bad"}]}},
    {"jsonrpc": "2.0", "id": "r2", "method": "customer.tag", "params": {"customer_id": "nope", "add": ["x"]}},
    {"jsonrpc": "2.0", "id": "r3", "method": "deal.move", "params": {"deal_id": "p1k0d0", "stage_id": "nowhere"}},
    {"jsonrpc": "2.0", "id": "r4", "method": "no.such_method", "params": {}},
]


def compare(label, old, new, drop, hashes):
    def same(a, b):
        return normalise(a, drop, hashes) == normalise(b, drop, hashes)

    differing = [n for n, (a, b) in enumerate(zip(old, new)) if not same(a, b)]
    print(f"{label}: {len(old)} replies, {len(differing)} differ")
    for n in differing[:5]:
        print("  old:", json.dumps(normalise(old[n], drop, hashes))[:400])
        print("  new:", json.dumps(normalise(new[n], drop, hashes))[:400])
    return not differing and len(old) == len(new)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--crm-bench", default=None)
    args = parser.parse_args()
    bench = args.crm_bench or os.path.join(os.path.dirname(os.path.abspath(args.new)), "crm-bench")
    dump = subprocess.run([bench, "write", "--dump-workload", str(args.commands)], check=True,
                          capture_output=True, text=True).stdout
    commands = [json.loads(line) for line in dump.splitlines() if line.strip()]
    reads = queries(commands)
    with tempfile.TemporaryDirectory(prefix="crmd-compare-") as root:
        replies = {}
        for name, crmd in (("old", args.old), ("new", args.new)):
            daemon = Daemon(crmd, os.path.join(root, name))
            replies[name] = [daemon.call(c) for c in commands + REJECTED + reads]
            daemon.stop()
        # Hashes cover the business times of the events, which differ between two runs.
        session = compare(
            "session", replies["old"], replies["new"], TIME_KEYS | CLOCK_KEYS | SIGNATURE_KEYS, hashes=True
        )
        # The new build opens the old build's data directory.
        daemon = Daemon(args.new, os.path.join(root, "old"))
        upgraded = [daemon.call(c) for c in reads]
        daemon.stop()
        # Same log: the hashes, the head hash above all, must be equal.
        upgrade = compare("upgrade", replies["old"][-len(reads):], upgraded, TIME_KEYS | SIGNATURE_KEYS, hashes=False)
    sys.exit(0 if session and upgrade else 1)


if __name__ == "__main__":
    main()
