"""The introspection API, /metrics and `dibsctl top` against a live node.

1. Every introspection route answers 401 without a token and 403 with a
   wrong one, and neither answer holds any of its data.
2. Under a load from `dibsctl load`, every route's JSON has the documented
   shape (keys and types), and what it says adds up.
3. `/metrics` parses with the Prometheus client's text-format parser and
   passes the exposition rules promtool checks (one TYPE per family before
   its samples, valid names and labels, no duplicate series, histogram
   buckets cumulative up to +Inf == _count); its counters match, exactly,
   the requests this test sent to a coupon of its own; every metric the
   Grafana dashboard (docs/grafana/) queries exists.
4. `dibsctl top --plain` shows the node, the test's coupon and the writers.

Runs with Debian's python3 (tests/CMakeLists.txt): the parser is Debian's
python3-prometheus-client.
"""

import math
import os
import re
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

import harness as h

ROUTES = ["nodes", "overview", "stock", "writers", "supervision", "producer"]

HISTOGRAM = {"boundsUs": list, "counts": list, "count": int, "sumUs": int,
             "p50Us": int, "p90Us": int, "p99Us": int}
STOCK = {"couponId": int, "name": str, "owner": str, "state": str,
         "totalQuantity": int, "remaining": int, "issued": int,
         "waitingForKafka": int, "unresolved": int, "inKafkaNotMySQL": int,
         "committed": int, "mailbox": int, "messages": int, "restarts": int,
         "snapshot": {"position": int, "issuances": int,
                      "writtenAt": (str, type(None)),
                      "ageMs": (int, type(None))},
         "outcomes": {k: int for k in ["issued", "accepted", "already_issued",
                                       "sold_out", "not_open", "closed",
                                       "unavailable"]}}
SHAPES = {
    "nodes": {"at": str, "nodes": [{
        "id": str, "self": bool, "http": str, "health": str, "ready": bool,
        "writersAssigned": bool, "startedAt": str, "uptimeS": (int, float),
        "stockActors": int, "writers": int,
        "kafka": {"bootstrap": str, "logId": str},
        "redis": str, "mysql": str}]},
    "overview": {"at": str, "node": str, "ready": bool, "requests": dict,
                 "latency": dict, "outcomes": dict,
                 "stock": {"coupons": int, "remaining": int, "issued": int,
                           "waitingForKafka": int, "mailboxMax": int},
                 "kafka": {"lag": int, "inFlight": int,
                           "produceLatency": HISTOGRAM},
                 "writers": {"rows": int, "rowsPerS": (int, float), "lag": int},
                 "snapshots": {"writes": int, "failures": int, "paused": bool,
                               "latency": HISTOGRAM},
                 "restarts": {"stock": int, "writer": int, "producer": int,
                              "other": int}},
    "stock": {"at": str, "stockActors": [STOCK]},
    "writers": {"at": str, "writers": [{
        "writer": int, "state": str, "lag": int, "rows": int,
        "rowsPerS": (int, float), "batches": int, "lastBatchRows": int,
        "failedBatches": int, "lastCommitAt": (str, type(None)),
        "restarts": int, "batchLatency": HISTOGRAM,
        "partitions": [{"partition": int, "nextOffset": int,
                        "endOffset": int, "lag": int}]}]},
    "supervision": {"at": str, "supervisor": {
        "name": str, "node": str, "restarts": dict,
        "children": [{"name": str, "kind": str, "state": str,
                      "crashesInARow": int, "restarts": int,
                      "startedAt": (str, type(None)),
                      "history": [{"at": str, "reason": str}]}]}},
    "producer": {"at": str, "running": bool, "inFlight": int, "queued": int,
                 "fatal": bool, "replacements": int,
                 "reports": {"stored": int, "failed": int, "unknown": int},
                 "deliveryLatency": HISTOGRAM},
}


def check_shape(value, shape, where):
    """Fails unless `value` has every key of `shape` with the right type;
    lists are checked element by element against the one shape they hold."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            h.fail(f"{where}: expected an object, got {value!r:.200}")
        for key, sub in shape.items():
            if key not in value:
                h.fail(f"{where}: no key {key}")
            check_shape(value[key], sub, f"{where}.{key}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            h.fail(f"{where}: expected a list, got {value!r:.200}")
        for i, item in enumerate(value):
            if shape:
                check_shape(item, shape[0], f"{where}[{i}]")
    else:
        types = shape if isinstance(shape, tuple) else (shape,)
        # JSON has no int/bool confusion to allow: a bool is not a count.
        if isinstance(value, bool) and bool not in types:
            h.fail(f"{where}: {value!r} is a boolean")
        if not isinstance(value, types):
            h.fail(f"{where}: {value!r:.100} is not {types}")


def api(path, token=h.ADMIN_TOKEN):
    return h.call("GET", "/admin/api/" + path, token=token)


def check_auth(coupon):
    """401 without a token, 403 with a wrong one; never any data."""
    for path in ROUTES + [f"stock/{coupon}"]:
        for token, expected in [(None, 401), ("wrong-token", 403),
                                (h.ADMIN_TOKEN + "x", 403)]:
            status, body, _ = api(path, token)
            if status != expected:
                h.fail(f"/admin/api/{path} with token {token!r}: {status}")
            if not isinstance(body, dict) or set(body) != {"code", "message"}:
                h.fail(f"/admin/api/{path} {status} leaks: {body!r:.300}")
    h.log(f"{len(ROUTES) + 1} introspection routes: 401 without a token, 403 "
          "with a wrong one, no data in either")


def check_shapes(coupon):
    bodies = {}
    for path in ROUTES:
        status, body, _ = api(path)
        if status != 200:
            h.fail(f"/admin/api/{path}: {status} {body}")
        check_shape(body, SHAPES[path], path)
        bodies[path] = body
    status, one, _ = api(f"stock/{coupon}")
    if status != 200:
        h.fail(f"/admin/api/stock/{coupon}: {status}")
    check_shape(one, dict(STOCK, history=list, recent=[{
        "at": str, "userId": int, "outcome": str}]), "stock/{id}")
    status, _, _ = api("stock/4000000000")
    if status != 400:
        h.fail(f"an out-of-range coupon id answered {status}")
    status, _, _ = api("stock/999999")
    if status != 404:
        h.fail(f"an unknown coupon answered {status}")
    # What the figures say adds up.
    for s in bodies["stock"]["stockActors"]:
        if s["remaining"] + s["issued"] != s["totalQuantity"]:
            h.fail(f"coupon {s['couponId']}: remaining + issued != total: {s}")
        if (s["waitingForKafka"] + s["inKafkaNotMySQL"] + s["committed"]
                != s["issued"]):
            h.fail(f"coupon {s['couponId']}: phases do not add up: {s}")
    children = {c["name"] for c in bodies["supervision"]["supervisor"]["children"]}
    for name in ["resolver", "snapshotter", "producer-guard", "writer-0",
                 f"stock-{coupon}"]:
        if name not in children:
            h.fail(f"supervision has no {name}: {sorted(children)[:20]}")
    parts = [p["partition"] for w in bodies["writers"]["writers"]
             for p in w["partitions"]]
    if sorted(parts) != list(range(len(parts))) or not parts:
        h.fail(f"writers' partitions: {parts}")
    h.log(f"shapes hold for every route under load: "
          f"{len(bodies['stock']['stockActors'])} stock actors, "
          f"{len(parts)} partitions, {len(children)} supervised children")


# -- /metrics -------------------------------------------------------------------

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_strict(text):
    """The exposition rules promtool enforces, checked line by line.
    Returns {(name, frozenset(labels)): value}."""
    types, samples = {}, {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                h.fail(f"/metrics line {n}: bad comment {line!r}")
            if parts[1] == "TYPE":
                if parts[2] in types:
                    h.fail(f"/metrics line {n}: second TYPE for {parts[2]}")
                if parts[3] not in ("counter", "gauge", "histogram", "summary",
                                    "untyped"):
                    h.fail(f"/metrics line {n}: unknown type {parts[3]}")
                types[parts[2]] = parts[3]
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            h.fail(f"/metrics line {n}: not a sample: {line!r}")
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        labels = LABEL.findall(labels_text)
        rebuilt = ",".join(f'{k}="{v}"' for k, v in labels)
        if rebuilt != labels_text:
            h.fail(f"/metrics line {n}: bad labels {labels_text!r}")
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and family not in types:
            h.fail(f"/metrics line {n}: {name} has no TYPE before it")
        if name.endswith("_total") and types.get(name) not in ("counter", None):
            h.fail(f"/metrics line {n}: {name} ends in _total but is not a counter")
        key = (name, frozenset(labels))
        if key in samples:
            h.fail(f"/metrics line {n}: duplicate series {line!r}")
        v = float(value)
        if math.isnan(v):
            h.fail(f"/metrics line {n}: NaN")
        samples[key] = v
    # Histograms: cumulative buckets ending in +Inf equal to _count.
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (sample, labels), v in samples.items():
            if sample == name + "_bucket":
                rest = frozenset(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append(
                    (math.inf if le == "+Inf" else float(le), v))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts) or buckets[-1][0] != math.inf:
                h.fail(f"{name}{dict(rest)}: buckets not cumulative to +Inf")
            if samples.get((name + "_count", rest)) != counts[-1]:
                h.fail(f"{name}{dict(rest)}: +Inf bucket != _count")
    return types, samples


def metrics():
    status, text, _ = h.call("GET", "/metrics")
    if status != 200:
        h.fail(f"/metrics: {status}")
    # The Prometheus client's parser must read all of it.
    families = list(text_string_to_metric_families(text))
    types, samples = parse_strict(text)
    return families, types, samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def check_metrics():
    families, types, before = metrics()
    # A coupon of this test's own: 3 units, 5 users, one of them twice.
    coupon = h.create_coupon("metrics-check", 3)
    sent = {"201/202": 0, "409": 0}
    for user in [1, 2, 3, 4, 5, 1]:
        status, body, _ = h.call("POST", f"/api/coupons/{coupon}/issue?wait=true",
                                 {"userId": user})
        key = "201/202" if status in (201, 202) else str(status)
        sent[key] = sent.get(key, 0) + 1
    if sent != {"201/202": 3, "409": 3}:
        h.fail(f"the coupon answered {sent}")
    _, _, after = metrics()
    issued = sum(value(after, "dibs_http_requests_total", route="issue", status=s)
                 - value(before, "dibs_http_requests_total", route="issue", status=s)
                 for s in ("201", "202"))
    conflicts = (value(after, "dibs_http_requests_total", route="issue", status="409")
                 - value(before, "dibs_http_requests_total", route="issue",
                         status="409"))
    if issued != 3 or conflicts != 3:
        h.fail(f"/metrics counted {issued} issued and {conflicts} conflicts "
               f"for 3 and 3 sent")
    outcome = lambda s, o: value(s, "dibs_issue_outcomes_total", outcome=o)
    got = {o: outcome(after, o) - outcome(before, o)
           for o in ["issued", "accepted", "sold_out", "already_issued"]}
    if (got["issued"] + got["accepted"] != 3 or got["sold_out"] != 2
            or got["already_issued"] != 1):
        h.fail(f"issue outcomes counted {got}; sent 3 issued, 2 sold out, "
               "1 already issued")
    # The latency histogram of the issue route counted each request once.
    count = lambda s: value(s, "dibs_http_request_duration_seconds_count",
                            route="issue")
    if count(after) - count(before) != 6:
        h.fail(f"issue latency histogram counted {count(after) - count(before)} "
               "of 6 requests")
    if value(after, "dibs_stock_remaining", coupon=str(coupon)) != 0:
        h.fail("dibs_stock_remaining of the sold-out coupon is not 0")
    for name in ["dibs_http_requests_total", "dibs_http_request_duration_seconds",
                 "dibs_issue_outcomes_total", "dibs_kafka_produce_duration_seconds",
                 "dibs_kafka_in_flight", "dibs_writer_lag_records",
                 "dibs_writer_batch_duration_seconds",
                 "dibs_snapshot_duration_seconds", "dibs_snapshot_failures_total",
                 "dibs_actor_mailbox_depth", "dibs_supervisor_restarts_total"]:
        if name not in types:
            h.fail(f"/metrics has no {name}")
    # Every metric the Grafana dashboard queries exists.
    with open(os.path.join(h.ROOT, "docs", "grafana", "dibs-dashboard.json")) as f:
        queried = set(re.findall(r"dibs_[a-z_]+", f.read()))
    unknown = {m for m in queried
               if re.sub(r"_bucket$", "", m) not in types}
    if unknown:
        h.fail(f"the Grafana dashboard queries metrics /metrics lacks: {unknown}")
    h.log(f"/metrics: {len(families)} families parse; exposition rules hold; "
          f"counters match the 6 requests sent (3 issued, 2 sold out, 1 "
          f"already issued)")
    return coupon


def check_top(coupon):
    out = h.dibsctl("top", "--plain", "-n", "2", "--interval-ms", "500",
                    "--sort", "coupon", "--rows", "100000").stdout
    frame = out.strip().split("\n\n")[-1]
    if "dibs top - dibs-1" not in out or "WRITER" not in out:
        h.fail(f"dibsctl top shows no node or writers:\n{out[:2000]}")
    if not re.search(rf"^\s*{coupon}\s+metrics-check\s+running\s+0\s+3\b",
                     out, re.M):
        h.fail(f"dibsctl top does not show coupon {coupon} sold out:\n{out[-3000:]}")
    h.log(f"dibsctl top shows the node, coupon {coupon} and the writers")


def main():
    h.node("start")
    load = h.Load("introspection-load", 20, 50)
    time.sleep(6)  # the generator creates its coupons, then issues
    coupon = h.create_coupon("introspection", 100)
    for user in range(1, 11):
        h.call("POST", f"/api/coupons/{coupon}/issue", {"userId": user})
    check_auth(coupon)
    check_shapes(coupon)
    problem = load.finish()
    if problem:
        h.fail(problem)
    check_shapes(coupon)
    own = check_metrics()
    check_top(own)
    h.log("introspection API, /metrics and dibsctl top hold")


if __name__ == "__main__":
    main()
