"""Debian's slowhttptest against a node with its default timeouts.

Two attacks at once on the issue route, 1,000 connections each: slow
headers (Slowloris: a header field every 2 s, never the blank line) and
slow bodies (R-U-Dead-Yet: Content-Length 4096, a few bytes every 2 s).
Meanwhile a probe issues one coupon after another, each on a new
connection, as a normal client would.

- Every probe request gets its 201/202 within 2 s.
- The attacks really held their connections: each reached at least 900
  connected at once.
- The node cut them: none was left open when slowhttptest ended, well
  before its 40 s, and slowhttptest's own probe always found the service
  available.
The reports (CSV and HTML) are kept in <build>/Testing/artifacts/.
"""

import csv
import os
import subprocess
import time

import harness as h

CONNECTIONS = 1000
ARTIFACTS = os.path.join(h.BUILD_DIR, "Testing", "artifacts")


def attack(mode, coupon):
    prefix = os.path.join(ARTIFACTS, f"slowhttptest-{mode}")
    cmd = ["slowhttptest", f"-{mode}", "-c", str(CONNECTIONS), "-r", "500",
           "-i", "2", "-l", "40", "-x", "10", "-p", "3", "-s", "4096",
           "-f", "application/json", "-g", "-o", prefix,
           "-u", f"http://127.0.0.1:{h.HTTP_PORT}/api/coupons/{coupon}/issue"]
    if mode == "B":
        cmd += ["-t", "POST"]
    out = open(prefix + ".out", "w")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), prefix


def check_report(mode, prefix):
    with open(prefix + ".csv") as f:
        rows = [[int(x) for x in row] for row in list(csv.reader(f))[1:] if row]
    # Seconds, closed, pending, connected, service available (0 when not).
    most = max(r[3] for r in rows)
    if most < 0.9 * CONNECTIONS:
        h.fail(f"slow {mode}: only {most} connections at once")
    if any(r[4] == 0 for r in rows):
        h.fail(f"slow {mode}: slowhttptest found the service unavailable: {rows}")
    # Its last row is written before the last connections close; its exit
    # status tells why it ended.
    with open(prefix + ".out") as f:
        ended = "No open connections left" in f.read()
    if not ended or rows[-1][0] >= 40:
        h.fail(f"slow {mode}: connections were not cut: {rows[-1]}")
    return most, rows[-1][0]


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    h.node("stop")
    h.node("start")
    try:
        target = h.create_coupon("slowhttptest-target", 100)
        probe_coupon = h.create_coupon("slowhttptest-probe", 100_000)
        attacks = [attack(mode, target) for mode in "HB"]
        time.sleep(3)  # Both at full strength.
        took, user = [], 5_000_000
        while any(p.poll() is None for p, _ in attacks):
            user += 1
            started = time.monotonic()
            status, body, _ = h.call("POST", f"/api/coupons/{probe_coupon}/issue",
                                     {"userId": user})
            took.append(time.monotonic() - started)
            if status not in (201, 202):
                h.fail(f"probe request {len(took)}: {status} {body}")
            if took[-1] > 2:
                h.fail(f"probe request {len(took)} took {took[-1]:.2f} s")
            time.sleep(0.05)
        figures = {mode: check_report(mode, prefix)
                   for mode, (_, prefix) in zip("HB", attacks)}
        took.sort()
        h.log(f"{len(took)} probe issues all served during the attacks, "
              f"p50 {took[len(took) // 2] * 1000:.1f} ms, "
              f"max {took[-1] * 1000:.1f} ms")
        for mode, (most, ended) in figures.items():
            h.log(f"slow {'headers' if mode == 'H' else 'bodies'}: {most} "
                  f"connections at once, all cut by second {ended}")
        # The attacks issued nothing.
        status, view, _ = h.call("GET", f"/api/coupons/{target}")
        if status != 200 or view["issuedQuantity"] != 0:
            h.fail(f"the attacked coupon changed: {status} {view}")
    finally:
        h.node("stop")


if __name__ == "__main__":
    main()
