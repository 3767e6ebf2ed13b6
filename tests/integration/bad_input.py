"""Bad input on every route gets a 4xx with a code and changes nothing: not
the live stock, not Kafka (no issuance is decided), not MySQL.

    python3 tests/integration/bad_input.py
"""

import json
import socket

import harness as h

BIG = "9" * 30


def cases(c):
    """(description, method, path, body bytes or None, token, status, code)"""
    issue = f"/api/coupons/{c}/issue"
    admin = h.ADMIN_TOKEN
    rows = [
        ("malformed JSON", "POST", issue, b'{"userId":', None, 400, "BAD_REQUEST"),
        ("missing body", "POST", issue, b"", None, 400, "BAD_REQUEST"),
        ("array body", "POST", issue, b"[1]", None, 400, "BAD_REQUEST"),
        ("string body", "POST", issue, b'"x"', None, 400, "BAD_REQUEST"),
        ("userId as string", "POST", issue, b'{"userId":"12"}', None, 400, "BAD_REQUEST"),
        ("userId as float", "POST", issue, b'{"userId":1.5}', None, 400, "BAD_REQUEST"),
        ("userId as bool", "POST", issue, b'{"userId":true}', None, 400, "BAD_REQUEST"),
        ("userId null", "POST", issue, b'{"userId":null}', None, 400, "BAD_REQUEST"),
        ("userId negative", "POST", issue, b'{"userId":-1}', None, 400, "BAD_REQUEST"),
        ("userId zero", "POST", issue, b'{"userId":0}', None, 400, "BAD_REQUEST"),
        ("userId 2^53", "POST", issue, b'{"userId":9007199254740992}', None, 400, "BAD_REQUEST"),
        ("userId huge", "POST", issue, ('{"userId":%s}' % BIG).encode(), None, 400, "BAD_REQUEST"),
        ("userId missing", "POST", issue, b"{}", None, 400, "BAD_REQUEST"),
        ("unknown field", "POST", issue, b'{"userId":1,"vip":true}', None, 400, "BAD_REQUEST"),
        ("misspelled field", "POST", issue, b'{"user":1}', None, 400, "BAD_REQUEST"),
        ("oversized body", "POST", issue, b'{"userId":1,"pad":"' + b"x" * 8000 + b'"}', None, 413, "PAYLOAD_TOO_LARGE"),
        ("bad wait flag", "POST", issue + "?wait=maybe", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("coupon id zero", "POST", "/api/coupons/0/issue", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("coupon id negative", "POST", "/api/coupons/-1/issue", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("coupon id text", "POST", "/api/coupons/abc/issue", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("coupon id huge", "POST", f"/api/coupons/{BIG}/issue", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("coupon id leading zero", "POST", f"/api/coupons/0{c}/issue", b'{"userId":1}', None, 400, "BAD_REQUEST"),
        ("unknown coupon", "POST", "/api/coupons/999999/issue", b'{"userId":1}', None, 404, "COUPON_NOT_FOUND"),
        ("issue with GET", "GET", issue, None, None, 405, "METHOD_NOT_ALLOWED"),
        ("get coupon text id", "GET", "/api/coupons/abc", None, None, 400, "BAD_REQUEST"),
        ("get unknown coupon", "GET", "/api/coupons/999999", None, None, 404, "COUPON_NOT_FOUND"),
        ("delete coupon", "DELETE", f"/api/coupons/{c}", None, None, 405, "METHOD_NOT_ALLOWED"),
        ("status text user", "GET", f"/api/coupons/{c}/issuances/abc", None, None, 400, "BAD_REQUEST"),
        ("status user zero", "GET", f"/api/coupons/{c}/issuances/0", None, None, 400, "BAD_REQUEST"),
        ("status not issued", "GET", f"/api/coupons/{c}/issuances/77", None, None, 404, "NOT_ISSUED"),
        ("status unknown coupon", "GET", "/api/coupons/999999/issuances/1", None, None, 404, "COUPON_NOT_FOUND"),
        ("user coupons text id", "GET", "/api/users/abc/coupons", None, None, 400, "BAD_REQUEST"),
        ("user coupons negative", "GET", "/api/users/-5/coupons", None, None, 400, "BAD_REQUEST"),
        ("user coupons huge", "GET", f"/api/users/{BIG}/coupons", None, None, 400, "BAD_REQUEST"),
        ("unknown route", "GET", "/api/nothing", None, None, 404, "NOT_FOUND"),
        ("root", "GET", "/", None, None, 404, "NOT_FOUND"),
        ("create without token", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5}', None, 401, "UNAUTHORIZED"),
        ("create wrong token", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5}', "wrong", 403, "FORBIDDEN"),
        ("create malformed", "POST", "/api/coupons", b'{"name":', admin, 400, "BAD_REQUEST"),
        ("create no name", "POST", "/api/coupons", b'{"discount":1,"totalQuantity":5}', admin, 400, "BAD_REQUEST"),
        ("create empty name", "POST", "/api/coupons", b'{"name":"","discount":1,"totalQuantity":5}', admin, 400, "BAD_REQUEST"),
        ("create no discount", "POST", "/api/coupons", b'{"name":"x","totalQuantity":5}', admin, 400, "BAD_REQUEST"),
        ("create zero quantity", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":0}', admin, 400, "BAD_REQUEST"),
        ("create negative quantity", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":-5}', admin, 400, "BAD_REQUEST"),
        ("create huge quantity", "POST", "/api/coupons", ('{"name":"x","discount":1,"totalQuantity":%s}' % BIG).encode(), admin, 400, "BAD_REQUEST"),
        ("create quantity as string", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":"5"}', admin, 400, "BAD_REQUEST"),
        ("create bad opensAt", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5,"opensAt":"noon"}', admin, 400, "BAD_REQUEST"),
        ("create closes past 2038", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5,"closesAt":"2040-01-01T00:00:00Z"}', admin, 400, "BAD_REQUEST"),
        ("create closes before opens", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5,"opensAt":"2030-01-02T00:00:00Z","closesAt":"2030-01-01T00:00:00Z"}', admin, 400, "BAD_REQUEST"),
        ("create unknown field", "POST", "/api/coupons", b'{"name":"x","discount":1,"totalQuantity":5,"color":"red"}', admin, 400, "BAD_REQUEST"),
    ]
    return rows


def snapshot(c):
    status, view, _ = h.call("GET", f"/api/coupons/{c}")
    assert status == 200, view
    return (view["remainingQuantity"], view["issuedQuantity"],
            h.sql("SELECT COUNT(*) FROM user_coupons")[0][0],
            h.sql("SELECT COUNT(*) FROM coupons")[0][0],
            h.sql(f"SELECT remaining_quantity FROM coupon_stocks "
                  f"WHERE coupon_id = {c}")[0][0])


def exchange_raw(data, timeout_s=5):
    """Sends `data` on a new connection and reads until the node closes."""
    with socket.create_connection(("127.0.0.1", h.HTTP_PORT),
                                  timeout=timeout_s) as sock:
        sock.sendall(data.encode())
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except socket.timeout:
            pass  # Not closed: what came is judged as it is.
        return out


def head_and_allow(c):
    """A wrong method's 405 names the method the route takes (Allow); a
    HEAD gets GET's answer without its body, on a connection kept alive
    (a body sent anyway would be read as the next answer)."""
    failures = []
    for method, path, allow in (("GET", f"/api/coupons/{c}/issue", "POST"),
                                ("DELETE", f"/api/coupons/{c}", "GET, HEAD")):
        status, _, headers = h.call(method, path)
        if status != 405 or headers.get("Allow") != allow:
            failures.append(f"{method} {path}: {status}, Allow "
                            f"{headers.get('Allow')!r}, not {allow!r}")
    # Each HEAD pipelined with the next request on one connection: what
    # follows the HEAD's header block must be the next answer.
    for path, want in ((f"/api/coupons/{c}", 200),
                       (f"/api/coupons/{c}/issue", 405)):
        raw = exchange_raw(f"HEAD {path} HTTP/1.1\r\nHost: dibs\r\n\r\n"
                           "GET /healthz HTTP/1.1\r\nHost: dibs\r\n"
                           "Connection: close\r\n\r\n")
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        length = [l for l in lines if l.lower().startswith("content-length:")]
        if (not lines[0].startswith(f"HTTP/1.1 {want} ") or not length
                or length[0].split(":")[1].strip() == "0"
                or not rest.startswith(b"HTTP/1.1 200 ")):
            failures.append(f"HEAD {path}: {lines[0]!r}, {length}, then "
                            f"{rest[:40]!r}")
    h.log(f"405s name their methods, HEAD answered without a body "
          f"({len(failures)} failures)")
    return failures


def main():
    h.node("start")
    c = h.create_coupon("bad-input", 10)
    # One good issuance first, so a later change would show.
    status, body, _ = h.call("POST", f"/api/coupons/{c}/issue?wait=true",
                             {"userId": 1})
    assert status in (201, 202), body
    h.wait_drained([c])
    before = snapshot(c)
    failures = []
    for desc, method, path, body, token, want, code in cases(c):
        status, answer, headers = h.call(method, path, raw=body, token=token)
        ok = (status == want and isinstance(answer, dict)
              and answer.get("code") == code and "message" in answer
              and headers.get("Content-Type") == "application/json")
        h.log(f"{'ok  ' if ok else 'FAIL'} {desc}: {method} {path[:50]} -> "
              f"{status} {answer if not ok else code}")
        if not ok:
            failures.append(desc)
    failures += head_and_allow(c)
    # Header block too large: 431 and the connection closed.
    status, answer, _ = h.call("GET", "/healthz",
                               headers={"X-Pad": "y" * 10000})
    if status != 431:
        failures.append(f"oversized headers answered {status}")
    after = snapshot(c)
    if before != after:
        failures.append(f"state changed: {before} -> {after}")
    h.node("stop")
    if failures:
        h.fail(f"{len(failures)} cases: {failures}")
    h.log(f"all {len(cases(c)) + 1} bad requests rejected, nothing changed")


if __name__ == "__main__":
    main()
