"""Compares the two /metrics pages `bench dump DIR` writes (same samples,
ours and prometheus-cpp's) with the checks dibs' tests make on /metrics:
tests/integration/introspection.py's exposition rules (parse_strict) and
the Prometheus client's parser, and tests/integration/faults.py's lookup of
exact `name{labels}` strings.

    /usr/bin/python3 check_format.py DIR
"""
import importlib.util
import os
import sys
import types

from prometheus_client.parser import text_string_to_metric_families

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
harness = types.ModuleType("harness")  # what introspection.py imports


def fail(msg):
    raise AssertionError(msg)


harness.fail, harness.log, harness.ADMIN_TOKEN, harness.ROOT = fail, print, "", root
sys.modules["harness"] = harness
sys.path.insert(0, os.path.join(root, "tests", "integration"))
spec = importlib.util.spec_from_file_location(
    "introspection", os.path.join(root, "tests", "integration", "introspection.py"))
intro = importlib.util.module_from_spec(spec)
spec.loader.exec_module(intro)


def exact_keys(text):  # as faults.py's scrape()
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.splitlines() if line and not line.startswith("#")}


pages = {}
for side in ("ours", "theirs"):
    text = open(os.path.join(sys.argv[1], f"page_{side}.txt")).read()
    families = [f.name for f in text_string_to_metric_families(text)]
    tys, samples = intro.parse_strict(text)
    pages[side] = families, samples, exact_keys(text)
    print(f"{side}: {len(text)} bytes, {len(families)} families parse, "
          f"exposition rules hold, {len(samples)} samples")

(fo, so, ko), (ft, st, kt) = pages["ours"], pages["theirs"]
differ = [k for k in so.keys() | st.keys()
          if abs(so.get(k, -1) - st.get(k, -1)) > 1e-6 * max(1, abs(so.get(k, 0)))]
print("samples that differ (parsed, labels as sets):", len(differ))
print("same family order:", fo == ft)
if fo != ft:
    print("  ours:  ", " ".join(fo[:4]), "...")
    print("  theirs:", " ".join(ft[:4]), "...")
only_ours, only_theirs = sorted(ko.keys() - kt.keys()), sorted(kt.keys() - ko.keys())
print("exact name{labels} strings in one page only:", len(only_ours), "of ours,",
      len(only_theirs), "of theirs")
for side, keys in (("ours", only_ours), ("theirs", only_theirs)):
    if keys:
        print(f"   {side:6} {keys[0]}")
sums = [k for k in so if k[0].endswith("_sum") and so[k] != st[k]]
print("_sum samples not the same number:", len(sums), "of",
      sum(1 for k in so if k[0].endswith("_sum")))
for k in sums[:1]:
    print(f"   {k[0]}: ours {so[k]!r} theirs {st[k]!r}")
