"""Hostile input over real sockets, against a node with short timeouts.

1. Framing attacks (smuggling, ambiguous lengths, oversized parts): each is
   sent with a canary request behind it on the same connection. The attack
   must get its 4xx/5xx, the connection must close, and the canary must
   never run (its user never gets the canary coupon).
2. Bad JSON and values on the issue route: 400 with a code, the connection
   stays usable, and nothing changes (the target coupon issues nothing, in
   memory or in MySQL).
3. Slow clients: 1,000 connections trickling their headers (slow-loris) and
   200 trickling their bodies, while a probe issues 50 coupons one after
   the other: every probe request succeeds; the slow ones are cut.
4. Rate limits: a bot cycling user ids from one address at 10x the
   address's limit, and a user repeating at 10x a user's limit, get no more
   than their budgets (then 429 with Retry-After), while ten normal clients
   on addresses of their own are all served; a user repeating at 10x its
   limit on a sold-out coupon is told SOLD_OUT every time, never 429 (the
   sold-out gate answers before the user's budget).
5. Every admin route x {no token: 401, wrong token: 403, right token:
   2xx}; the token never appears in an answer or the node's log.
6. With a separate admin listener (http.admin-port): the admin routes answer
   there and 404 on the public listener, the public API 404s on the admin
   one, and a node refuses to start with a non-loopback admin address.
"""

import asyncio
import collections
import os
import re
import socket
import subprocess
import time

import harness as h

HOST = "127.0.0.1"
TOKEN = h.ADMIN_TOKEN
NODE_LOG = os.path.join(h.RUN_DIR, "node", "dibs.log")

# Short enough for a test, long enough for a loaded machine.
NODE_OPTIONS = ["--http.header-timeout-ms=1500", "--http.body-timeout-ms=1500",
                "--http.idle-timeout-ms=3000",
                # Rate limits low enough to test, high enough for the rest.
                "--limits.user-per-s=2", "--limits.user-burst=4",
                "--limits.address-per-s=40", "--limits.address-burst=40"]


def issue_req(coupon, user, extra_headers=""):
    body = f'{{"userId":{user}}}'
    return (f"POST /api/coupons/{coupon}/issue HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\n{extra_headers}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def raw(head, body=b""):
    """A request from its head lines (CRLF added) and body bytes."""
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def read_response(sock):
    """Reads one response; returns (status, headers, body) or None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def exchange(payload, expect_more):
    """Sends `payload` on a new connection; returns the first response and
    whether anything else came before the connection closed."""
    with socket.create_connection((HOST, h.HTTP_PORT), timeout=10) as sock:
        sock.sendall(payload)
        first = read_response(sock)
        sock.settimeout(2 if expect_more else 3)
        try:
            more = sock.recv(65536)
        except socket.timeout:
            more = b"(open)"
        return first, more


def framing_cases(target, canary_coupon):
    """(name, attack bytes, expected statuses). The canary is appended."""
    p = f"/api/coupons/{target}/issue"
    body = b'{"userId":7}'
    smuggled = issue_req(canary_coupon, 990001)  # hidden inside some attacks
    n = len(body)
    cases = [
        ("TE gzip with CL", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: gzip",
                                 f"Content-Length: {n}"], body), {400}),
        ("TE chunked with CL", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked",
                                    f"Content-Length: {n}"], b"0\r\n\r\n"), {400}),
        ("CL then TE chunked", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length: {n}",
                                    "Transfer-Encoding: chunked"], body), {400}),
        ("TE identity hides a request", raw([f"POST {p} HTTP/1.1", "Host: x",
                                             "Transfer-Encoding: identity"], smuggled), {400}),
        ("TE chunked, chunked", raw([f"POST {p} HTTP/1.1", "Host: x",
                                     "Transfer-Encoding: chunked, chunked"], b"0\r\n\r\n"), {400}),
        ("TE gzip, chunked", raw([f"POST {p} HTTP/1.1", "Host: x",
                                  "Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n"), {400}),
        ("TE xchunked", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: xchunked"],
                            smuggled), {400}),
        ("two TE headers", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked",
                                "Transfer-Encoding: chunked"], b"0\r\n\r\n"), {400}),
        ("TE on HTTP/1.0", raw([f"POST {p} HTTP/1.0", "Transfer-Encoding: chunked"],
                               b"c\r\n" + body + b"\r\n0\r\n\r\n"), {400}),
        ("TE empty", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding:"], smuggled), {400}),
        ("two equal CLs", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length: {n}",
                               f"Content-Length: {n}"], body), {400}),
        ("CL list", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length: {n}, {n}"], body), {400}),
        ("conflicting CLs", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: 0",
                                 f"Content-Length: {n}"], body), {400}),
        ("CL negative", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: -1"], body), {400}),
        ("CL with plus", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length: +{n}"], body), {400}),
        ("CL hex", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: 0xc"], body), {400}),
        ("CL with inner space", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: 1 2"], body), {400}),
        ("CL overflows", raw([f"POST {p} HTTP/1.1", "Host: x",
                              "Content-Length: 99999999999999999999999"], body), {400, 413}),
        ("CL past the body limit", raw([f"POST {p} HTTP/1.1", "Host: x",
                                        "Content-Length: 100000"], body), {413}),
        ("chunked body past the limit", raw([f"POST {p} HTTP/1.1", "Host: x",
                                             "Transfer-Encoding: chunked"],
                                            b"2000\r\n" + b"a" * 0x2000 + b"\r\n0\r\n\r\n"), {413}),
        ("chunk size not hex", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"],
                                   b"zz\r\n" + body + b"\r\n0\r\n\r\n"), {400}),
        ("chunk size overflows", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"],
                                     b"fffffffffffffffffff\r\n" + body + b"\r\n0\r\n\r\n"), {400, 413}),
        ("huge chunk extension", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"],
                                     b"c;" + b"e" * 20000 + b"\r\n" + body + b"\r\n0\r\n\r\n"),
         {400, 413, 431}),
        ("huge chunk trailer", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"],
                                   b"c\r\n" + body + b"\r\n0\r\nX-T: " + b"t" * 20000 + b"\r\n\r\n"),
         {400, 413, 431}),
        ("request target too long", raw([f"GET /api/coupons/{'1' * 3000} HTTP/1.1", "Host: x"]), {414}),
        ("request line past the header limit", raw([f"GET /{'a' * 10000} HTTP/1.1", "Host: x"]), {414}),
        ("header value too large", raw([f"GET /healthz HTTP/1.1", "Host: x",
                                        "X-Big: " + "b" * 9000]), {431}),
        ("too many header fields", raw([f"GET /healthz HTTP/1.1", "Host: x"]
                                       + [f"X-F{i}: v" for i in range(100)]), {431}),
        ("HTTP/2.0 version", raw([f"GET /healthz HTTP/2.0", "Host: x"]), {400, 505}),
        ("HTTP/1.2 version", raw([f"GET /healthz HTTP/1.2", "Host: x"]), {400, 505}),
        ("no version", b"GET /healthz\r\n\r\n", {400}),
        ("HTTP/1.1 without Host", raw([f"POST {p} HTTP/1.1", f"Content-Length: {n}"], body), {400}),
        ("two Hosts", raw([f"POST {p} HTTP/1.1", "Host: a", "Host: b", f"Content-Length: {n}"],
                          body), {400}),
        ("space before colon", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length : {n}"],
                                   body), {400}),
        ("NUL in a header value", raw([f"GET /healthz HTTP/1.1", "Host: x", "X-A: a\x00b"]), {400}),
        ("bad method characters", raw([f"G(T /healthz HTTP/1.1", "Host: x"]), {400}),
        ("space in the target", raw([f"GET /heal thz HTTP/1.1", "Host: x"]), {400}),
        ("bare LF line ends", f"POST {p} HTTP/1.1\nHost: x\nContent-Length: {n}\n\n".encode() + body,
         {400}),
        ("header name with a space", raw([f"GET /healthz HTTP/1.1", "Host: x", "X A: b"]), {400}),
        ("TE chunked with parameters", raw([f"POST {p} HTTP/1.1", "Host: x",
                                            "Transfer-Encoding: chunked;q=1"], b"0\r\n\r\n"), {400}),
        ("TE chunked, identity", raw([f"POST {p} HTTP/1.1", "Host: x",
                                      "Transfer-Encoding: chunked, identity"], b"0\r\n\r\n"), {400}),
        ("upper-case TE name with CL", raw([f"POST {p} HTTP/1.1", "Host: x",
                                            "TRANSFER-ENCODING: chunked", f"Content-Length: {n}"],
                                           body), {400}),
        ("CL empty", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length:"], body), {400}),
        ("CL with letters", raw([f"POST {p} HTTP/1.1", "Host: x", f"Content-Length: {n}abc"], body),
         {400}),
        ("CL with a tab inside", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: 1\t2"], body),
         {400}),
        ("two CLs on HTTP/1.0", raw([f"POST {p} HTTP/1.0", f"Content-Length: {n}",
                                     f"Content-Length: {n}"], body), {400}),
        ("CL past 32 bits", raw([f"POST {p} HTTP/1.1", "Host: x", "Content-Length: 4294967308"],
                                body), {413}),
        ("negative chunk size", raw([f"POST {p} HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"],
                                    b"-c\r\n" + body + b"\r\n0\r\n\r\n"), {400}),
        ("chunk data longer than its size", raw([f"POST {p} HTTP/1.1", "Host: x",
                                                 "Transfer-Encoding: chunked"],
                                                b"2\r\n" + body + b"\r\n0\r\n\r\n"), {400}),
        ("chunk size with a space before", raw([f"POST {p} HTTP/1.1", "Host: x",
                                                "Transfer-Encoding: chunked"],
                                               b" c\r\n" + body + b"\r\n0\r\n\r\n"), {400}),
        ("two spaces after the method", raw([f"GET  /healthz HTTP/1.1", "Host: x"]), {400}),
        ("lower-case version", raw([f"GET /healthz http/1.1", "Host: x"]), {400}),
        ("header line without a colon", raw([f"GET /healthz HTTP/1.1", "Host: x", "X-A b"]), {400}),
        ("CR inside a header value", raw([f"GET /healthz HTTP/1.1", "Host: x", "X-A: a\rb"]), {400}),
        ("non-token header name", raw([f"GET /healthz HTTP/1.1", "Host: x", "X@A: b"]), {400}),
        ("method past the header limit", raw(["A" * 10000 + " /healthz HTTP/1.1", "Host: x"]),
         {400, 414, 431}),
    ]
    return cases


BAD_BODIES = [
    ("invalid UTF-8", b'{"userId":1,"x":"\xff\xfe"}'),
    ("deep nesting", b'{"userId":' + b"[" * 40 + b"1" + b"]" * 40 + b"}"),
    ("huge number", b'{"userId":1e400}'),
    ("int64 overflow", b'{"userId":9223372036854775808}'),
    ("uint64 overflow", b'{"userId":99999999999999999999999}'),
    ("past 2^53", b'{"userId":9007199254740992}'),
    ("zero id", b'{"userId":0}'),
    ("negative id", b'{"userId":-5}'),
    ("duplicate key", b'{"userId":5,"userId":6}'),
    ("unknown key", b'{"userId":5,"admin":true}'),
    ("string id", b'{"userId":"5"}'),
    ("float id", b'{"userId":5.0}'),
    ("boolean id", b'{"userId":true}'),
    ("null id", b'{"userId":null}'),
    ("array body", b'[{"userId":5}]'),
    ("empty body", b""),
    ("trailing garbage", b'{"userId":5}x'),
    ("two objects", b'{"userId":5}{"userId":6}'),
    ("NUL in a string", b'{"userId":5,"x":"a\x00"}'),
    ("BOM first", b'\xef\xbb\xbf{"userId":5}'),
    ("single quotes", b"{'userId':5}"),
    ("comment", b'{"userId":5 /* c */}'),
]


def bad_path_requests(coupon):
    return [
        ("coupon id 0", f"/api/coupons/0/issue"),
        ("coupon id with leading zero", f"/api/coupons/0{coupon}/issue"),
        ("coupon id past the range", f"/api/coupons/99999999999/issue"),
        ("negative coupon id", f"/api/coupons/-{coupon}/issue"),
        ("unknown query", f"/api/coupons/{coupon}/issue?wait=true&admin=1"),
        ("dot segments", f"/api/coupons/../coupons/{coupon}/issue"),
    ]


def refused_counts():
    """The node's `dibs_http_refused_total` by status."""
    status, text, _ = h.call("GET", "/metrics")
    if status != 200:
        h.fail(f"/metrics answered {status}")
    counts = collections.Counter()
    for line in text.splitlines():
        m = re.fullmatch(r'dibs_http_refused_total\{status="(\d+)"\} (\d+)', line)
        if m:
            counts[int(m.group(1))] = int(m.group(2))
    return counts


def check_framing(target, canary):
    cases = framing_cases(target, canary)
    before = refused_counts()
    answered = collections.Counter()
    for i, (name, attack, expected) in enumerate(cases):
        first, more = exchange(attack + issue_req(canary, 990100 + i), False)
        if first is None:
            h.fail(f"{name}: no answer at all")
        status, headers, body = first
        answered[status] += 1
        if status not in expected:
            h.fail(f"{name}: {status} {body[:200]!r}, expected {sorted(expected)}")
        if b'"code"' not in body:
            h.fail(f"{name}: no error code in {body[:200]!r}")
        if more:
            h.fail(f"{name}: the connection went on after the refusal: {more[:200]!r}")
    # Each was answered by the session itself, and counted so.
    counted = refused_counts()
    counted.subtract(before)
    if +counted != answered:
        h.fail(f"dibs_http_refused_total rose by {dict(+counted)}, the session "
               f"refused {dict(answered)}")
    h.log(f"{len(cases)} framing attacks refused, each connection closed "
          f"before the canary behind it, each counted in "
          f"dibs_http_refused_total ({dict(sorted(answered.items()))})")
    return len(cases)


def check_bad_values(target):
    n = 0
    with socket.create_connection((HOST, h.HTTP_PORT), timeout=10) as sock:
        for name, body in BAD_BODIES:
            req = (f"POST /api/coupons/{target}/issue HTTP/1.1\r\nHost: x\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            sock.sendall(req)
            status, _, answer = read_response(sock)
            if status != 400 or b'"code":"BAD_REQUEST"' not in answer:
                h.fail(f"{name}: {status} {answer[:200]!r}")
            n += 1
        for name, path in bad_path_requests(target):
            body = b'{"userId":5}'
            sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            status, _, answer = read_response(sock)
            if status not in (400, 404) or b'"code"' not in answer:
                h.fail(f"{name}: {status} {answer[:200]!r}")
            n += 1
        # The connection is still usable: a valid request on it works.
        sock.sendall(issue_req(target, 424242))
        status, _, answer = read_response(sock)
        if status not in (201, 202):
            h.fail(f"a valid request after the bad ones: {status} {answer!r}")
    h.log(f"{n} bad bodies and paths: 400/404 with a code, on one connection "
          f"that stays usable")
    return n


async def slow_clients(coupon):
    """Slow-loris headers and slow bodies while a probe issues."""
    async def slow_client(first, trickle):
        """Sends `first`, then `trickle(k)` every 0.3 s: cut, or survived."""
        try:
            reader, writer = await asyncio.open_connection(HOST, h.HTTP_PORT)
        except OSError:
            return "refused"
        try:
            writer.write(first)
            for k in range(20):
                await asyncio.sleep(0.3)
                writer.write(trickle(k))
                await writer.drain()
            return "survived"
        except (ConnectionError, OSError):
            return "cut"
        finally:
            writer.close()

    head = b"POST /api/coupons/1/issue HTTP/1.1\r\nHost: x\r\n"
    slow_header = lambda: slow_client(head, lambda k: f"X-Slow-{k}: 1\r\n".encode())
    slow_body = lambda: slow_client(head + b"Content-Length: 100\r\n\r\n{",
                                    lambda k: b" ")

    async def probe():
        conn = h.Connection()
        ok = 0
        for user in range(1, 51):
            status, _ = await conn.request(
                "POST", f"/api/coupons/{coupon}/issue",
                f'{{"userId":{880000 + user}}}'.encode())
            if status not in (201, 202):
                h.fail(f"probe request {user} answered {status} among slow clients")
            ok += 1
            await asyncio.sleep(0.05)
        conn.close()
        return ok

    tasks = [slow_header() for _ in range(1000)] + [slow_body() for _ in range(200)]
    started = time.time()
    results, ok = await asyncio.gather(asyncio.gather(*tasks), probe())
    counts = {r: results.count(r) for r in set(results)}
    if counts.get("survived", 0):
        h.fail(f"slow clients were not cut: {counts}")
    h.log(f"1,000 slow-header and 200 slow-body connections: {counts}; the probe "
          f"issued {ok} of 50 meanwhile ({time.time() - started:.1f} s)")


async def rate_limits(coupon, sold_out):
    """A bot on 127.0.0.2 hammers with fresh user ids at 10x its address's
    limit, and a user on 127.0.0.3 repeats one id at 10x its limit, while
    ten normal users, each on an address of its own, issue at a human pace,
    and a user on 127.0.0.4 repeats one id at 10x its limit on `sold_out`."""
    async def client_of(coupon, address, users, per_s, seconds):
        conn = h.Connection()
        conn.reader, conn.writer = await asyncio.open_connection(
            HOST, h.HTTP_PORT, local_addr=(address, 0))
        counts, retry_after = {}, set()
        started = time.time()
        i = 0
        while time.time() - started < seconds:
            user = users(i)
            i += 1
            head_and_body = f'{{"userId":{user}}}'.encode()
            status, _ = await conn.request(
                "POST", f"/api/coupons/{coupon}/issue", head_and_body)
            counts[status] = counts.get(status, 0) + 1
            await asyncio.sleep(max(0.0, started + i / per_s - time.time()))
        conn.close()
        return counts

    def client(address, users, per_s, seconds):
        return client_of(coupon, address, users, per_s, seconds)

    seconds = 4
    bot = client("127.0.0.2", lambda i: 770000 + i, 400, seconds)
    repeat = client("127.0.0.3", lambda i: 760000, 20, seconds)
    late = client_of(sold_out, "127.0.0.4", lambda i: 761000, 20, seconds)
    people = [client(f"127.0.1.{k}", lambda i, k=k: 750000 + k * 100 + i, 1.5,
                     seconds) for k in range(1, 11)]
    bot_counts, repeat_counts, late_counts, *people_counts = \
        await asyncio.gather(bot, repeat, late, *people)
    taken = sum(n for s, n in bot_counts.items() if s in (201, 202))
    # The address allows its burst plus its rate over the run.
    if taken > 40 + 40 * (seconds + 1) or bot_counts.get(429, 0) == 0:
        h.fail(f"the bot took {taken} at 10x its limit: {bot_counts}")
    answered = sum(n for s, n in repeat_counts.items() if s != 429)
    if answered > 4 + 2 * (seconds + 1) or repeat_counts.get(429, 0) == 0:
        h.fail(f"the repeating user got {answered} answers past 429: "
               f"{repeat_counts}")
    if set(late_counts) != {409} or late_counts[409] <= 4 + 2 * (seconds + 1):
        h.fail(f"the user repeating on a sold-out coupon was not told SOLD_OUT "
               f"past its budget every time: {late_counts}")
    # A 429 says when to come back.
    with socket.create_connection((HOST, h.HTTP_PORT), timeout=10,
                                  source_address=("127.0.0.2", 0)) as sock:
        for i in range(100):
            sock.sendall(issue_req(coupon, 779000 + i))
            status, headers, body = read_response(sock)
            if status == 429:
                if int(headers.get("retry-after", "0")) < 1 \
                        or b'"code":"RATE_LIMITED"' not in body:
                    h.fail(f"a 429 without Retry-After or code: {headers} {body}")
                break
        else:
            h.fail("100 quick requests from the bot's address got no 429")
    for k, counts in enumerate(people_counts, 1):
        if set(counts) - {201, 202}:
            h.fail(f"normal client {k} was refused: {counts}")
    h.log(f"rate limits: the bot took {taken} of "
          f"{sum(bot_counts.values())} tries ({bot_counts.get(429, 0)} x 429), "
          f"the repeating user {answered} of {sum(repeat_counts.values())}; "
          f"10 normal clients: every request served; on the sold-out "
          f"coupon {late_counts[409]} x 409")


def check_admin_routes():
    routes = [("POST", "/api/coupons", {"name": "admin-check", "discount": 1,
                                        "totalQuantity": 1}, {201}),
              ("POST", "/admin/faults", {"fault": "no-such-fault"}, {400})]
    routes += [("GET", f"/admin/api/{a}", None, {200})
               for a in ["nodes", "overview", "stock", "writers", "supervision",
                         "producer", "stock/1"]]
    for method, path, body, ok in routes:
        for token, expected in [(None, {401}), ("wrong", {403}),
                                (TOKEN[:-1], {403}), (TOKEN + "x", {403}),
                                (TOKEN, ok)]:
            status, answer, _ = h.call(method, path, body, token=token)
            if status not in expected:
                h.fail(f"{method} {path} token {token!r}: {status} {answer}")
            if TOKEN in str(answer):
                h.fail(f"{method} {path}: the token is in the answer")
    with open(NODE_LOG) as f:
        if TOKEN in f.read():
            h.fail("the admin token is in the node's log")
    h.log(f"{len(routes)} admin routes x 5 tokens: 401 without, 403 wrong, "
          f"2xx right; the token is in no answer and not in the log")


ADMIN_ONLY = ["/metrics", "/console/", "/admin/api/nodes", "/admin/api/stock/1"]


def check_admin_listener(coupon):
    admin_port = h.HTTP_PORT + 1
    h.node("stop")
    h.node("start", *NODE_OPTIONS, f"--http.admin-port={admin_port}")
    for path in ADMIN_ONLY:
        status, answer, _ = h.call("GET", path, token=TOKEN)
        if status != 404:
            h.fail(f"public listener GET {path}: {status}, expected 404")
        status, answer, _ = h.call("GET", path, token=TOKEN, port=admin_port)
        if status != 200:
            h.fail(f"admin listener GET {path}: {status} {answer}")
    status, _, _ = h.call("GET", "/admin/api/nodes", port=admin_port)
    if status != 401:
        h.fail(f"admin listener without a token: {status}, expected 401")
    status, _, _ = h.call("POST", "/admin/faults", {"fault": "no-such-fault"},
                          token=TOKEN)
    if status != 404:
        h.fail(f"public listener POST /admin/faults: {status}, expected 404")
    # The public API is not on the admin listener; health is on both.
    for method, path, body in [
            ("GET", f"/api/coupons/{coupon}", None),
            ("POST", f"/api/coupons/{coupon}/issue", {"userId": 77}),
            ("POST", "/api/coupons", {"name": "x", "discount": 1,
                                      "totalQuantity": 1})]:
        status, answer, _ = h.call(method, path, body, token=TOKEN,
                                   port=admin_port)
        if status != 404:
            h.fail(f"admin listener {method} {path}: {status} {answer}")
    for port in [h.HTTP_PORT, admin_port]:
        for path in ["/healthz", "/readyz"]:
            status, answer, _ = h.call("GET", path, port=port)
            if status != 200:
                h.fail(f"GET {path} on port {port}: {status} {answer}")
    status, answer, _ = h.call("GET", f"/api/coupons/{coupon}")
    if status != 200:
        h.fail(f"public listener GET coupon: {status} {answer}")
    # An admin listener must be bound to loopback: refused before starting.
    dibs = os.path.join(h.BUILD_DIR, "gateway", "dibs")
    out = subprocess.run([dibs, f"--http.port={h.HTTP_PORT + 2}",
                          f"--http.admin-port={h.HTTP_PORT + 3}",
                          "--http.admin-address=0.0.0.0"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode == 0 or "loopback" not in out.stdout + out.stderr:
        h.fail(f"a node with admin-address 0.0.0.0 started: {out}")
    h.log(f"admin listener: {len(ADMIN_ONLY)} admin paths 404 on the public "
          f"listener and answer on the admin one; the public API 404s there; "
          f"a non-loopback admin address is refused")


def main():
    h.node("stop")
    h.node("start", *NODE_OPTIONS)
    try:
        target = h.create_coupon("hostile-target", 1000)
        canary = h.create_coupon("hostile-canary", 1000)
        n = check_framing(target, canary)
        n += check_bad_values(target)
        asyncio.run(slow_clients(h.create_coupon("hostile-probe", 1000)))
        sold_out = h.create_coupon("hostile-sold-out", 1)
        if h.call("POST", f"/api/coupons/{sold_out}/issue",
                  {"userId": 762000})[0] not in (201, 202):
            h.fail("the one unit of the sold-out coupon was not issued")
        asyncio.run(rate_limits(h.create_coupon("hostile-limits", 100000),
                                sold_out))
        check_admin_routes()
        check_admin_listener(target)
        # Nothing but the one valid request changed the target; no canary ran.
        views = h.wait_drained([target, canary])
        if views[target]["issuedQuantity"] != 1:
            h.fail(f"the target coupon issued {views[target]['issuedQuantity']}, "
                   "expected only the one valid request")
        if views[canary]["issuedQuantity"] != 0:
            h.fail(f"a canary request ran: {views[canary]}")
        rows = h.sql(f"SELECT coupon_id, COUNT(*) FROM user_coupons WHERE "
                     f"coupon_id IN ({target}, {canary}) GROUP BY coupon_id")
        if rows != [[str(target), "1"]]:
            h.fail(f"rows of the target and canary coupons: {rows}")
        h.log(f"{n} hostile requests changed nothing: the canary coupon issued 0, "
              f"the target only its one valid request")
    finally:
        h.node("stop")


if __name__ == "__main__":
    main()
