"""The console page in headless Chromium (tests/browser/console.mjs, run with
Node.js and playwright-core): it loads with the admin token, shows a coupon
the test creates, follows its stock down as the test issues, drills down
into it, and asks for the token again when it is wrong. The screenshot is
kept as a test artifact in <build>/Testing/artifacts/console.png.
"""

import os
import subprocess

import harness as h


def main():
    h.node("start")
    artifacts = os.path.join(h.BUILD_DIR, "Testing", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    screenshot = os.path.join(artifacts, "console.png")
    env = dict(os.environ, DIBS_URL=h.BASE, DIBS_ADMIN_TOKEN=h.ADMIN_TOKEN,
               DIBS_SCREENSHOT=screenshot)
    browser_dir = os.path.join(h.ROOT, "tests", "browser")
    result = subprocess.run(["node", "console.mjs"], cwd=browser_dir, env=env,
                            capture_output=True, text=True, timeout=180)
    h.log(result.stdout.strip())
    if result.returncode != 0:
        h.log(result.stderr[-4000:])
        h.fail(f"the browser test exited {result.returncode}")
    if not os.path.getsize(screenshot):
        h.fail("no screenshot")
    h.log("the console works in Chromium")


if __name__ == "__main__":
    main()
