"""dibs' load scenarios for Locust: a second load generator beside
`dibsctl load`, reading the same scenario files (cli/scenarios/*.json), so
the figures of two tools can be set side by side (the reference's reports
were made with k6, which the project does not use: AGPL).

    DIBS_SCENARIO=hot-coupon DIBS_ADMIN_TOKEN=... \
      locust -f cli/locust/locustfile.py --headless --host http://127.0.0.1:8080

Environment:
  DIBS_SCENARIO        a scenario's name (cli/scenarios/<name>.json) or a path
  DIBS_ADMIN_TOKEN     the admin token (creating the coupons)
  DIBS_DURATION_SCALE  multiplies every duration of the load (default 1)
  DIBS_ACCEPTED        a file to write "coupon user status" for each 201/202
                       answer at the end (for checks against MySQL)

The scenario's load (`vus` for `duration`, or k6-like `stages` ramped
linearly) is the shape below; its flow and think time are the user's.
Answers 201, 202 and 409 (sold out, already issued) are answers; anything
else counts as a failure, and Locust then exits 1.
"""

import json
import os
import random
import re

import gevent
import requests
from locust import FastHttpUser, LoadTestShape, constant, events, task

HERE = os.path.dirname(os.path.abspath(__file__))


def seconds(text):
    """'600ms', '2s', '14m', '1h' -> seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def load_scenario():
    name = os.environ.get("DIBS_SCENARIO", "hot-coupon")
    path = name if name.endswith(".json") else os.path.join(
        HERE, "..", "scenarios", f"{name}.json")
    with open(path) as f:
        return json.load(f)


SCENARIO = load_scenario()
SCALE = float(os.environ.get("DIBS_DURATION_SCALE", "1"))
USERS = SCENARIO["users"]
THINK = seconds(SCENARIO.get("thinkTime", "0ms"))
FLOW = SCENARIO["flow"]
POLL = seconds(SCENARIO.get("pollInterval", "200ms"))
MAX_POLLS = int(SCENARIO.get("maxPolls", 150))

coupons = []
accepted = []


@events.test_start.add_listener
def create_coupons(environment, **_):
    """Creates the scenario's coupons once, before any user starts."""
    token = os.environ.get("DIBS_ADMIN_TOKEN", "")
    for spec in SCENARIO["coupons"]:
        for i in range(spec["count"]):
            r = requests.post(
                f"{environment.host}/api/coupons",
                json={"name": f"locust-{SCENARIO['name']}-{spec['totalQuantity']}-{i + 1}",
                      "discount": spec["discount"],
                      "totalQuantity": spec["totalQuantity"]},
                headers={"Authorization": f"Bearer {token}"}, timeout=10)
            if r.status_code != 201:
                raise RuntimeError(f"creating a coupon answered {r.status_code}: {r.text}")
            coupons.append(r.json()["couponId"])


@events.test_stop.add_listener
def write_accepted(**_):
    path = os.environ.get("DIBS_ACCEPTED")
    if path:
        with open(path, "w") as f:
            for coupon, user, status in accepted:
                f.write(f"{coupon} {user} {status}\n")


class Client(FastHttpUser):
    wait_time = constant(THINK)

    def issue(self, coupon, user, wait):
        name = "issue?wait=true" if wait else "issue"
        url = f"/api/coupons/{coupon}/issue" + ("?wait=true" if wait else "")
        with self.client.post(url, json={"userId": user}, name=name,
                              catch_response=True) as r:
            if r.status_code in (201, 202):
                accepted.append((coupon, user, r.status_code))
                r.success()
            elif r.status_code == 409:
                r.success()
            else:
                r.failure(f"answered {r.status_code}")
            return r.status_code

    @task
    def iteration(self):
        coupon = random.choice(coupons)
        user = random.randint(USERS["from"], USERS["to"])
        if FLOW == "issue":
            self.issue(coupon, user, False)
        elif FLOW == "issue-wait":
            self.issue(coupon, user, True)
        elif FLOW == "issue-then-poll":
            if self.issue(coupon, user, False) != 202:
                return
            for _ in range(MAX_POLLS):
                gevent.sleep(POLL)
                with self.client.get(f"/api/coupons/{coupon}/issuances/{user}",
                                     name="status", catch_response=True) as r:
                    if r.status_code != 200:
                        r.failure(f"answered {r.status_code}")
                        return
                    if r.json().get("status") == "ISSUED":
                        return
        else:
            raise ValueError(f"unknown flow {FLOW!r}")


class Shape(LoadTestShape):
    """The scenario's load: `vus` for `duration`, or `stages` (each ramps
    linearly from the previous target to its own), every duration times
    DIBS_DURATION_SCALE."""

    def __init__(self):
        super().__init__()
        load = SCENARIO["load"]
        if "stages" in load:
            self.stages = [(seconds(s["duration"]) * SCALE, s["target"])
                           for s in load["stages"]]
        else:
            vus = load["vus"]
            self.stages = [(0, vus), (seconds(load["duration"]) * SCALE, vus)]

    def tick(self):
        t = self.get_run_time()
        start, users = 0.0, 0
        for length, target in self.stages:
            if t < start + length:
                users += (target - users) * (t - start) / length
                return max(1, round(users)), 1000
            start, users = start + length, target
        return None
