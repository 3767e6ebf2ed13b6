// The console in Debian's headless Chromium, driven by playwright-core:
// the page loads with the admin token, shows a coupon this test creates,
// its stock falls as the test issues coupons, the drill-down shows the
// coupon's answers, and a wrong token brings back the login form. Writes a
// screenshot to $DIBS_SCREENSHOT.
//
//   DIBS_URL=http://127.0.0.1:18080 DIBS_ADMIN_TOKEN=... node console.mjs

import { chromium } from "playwright-core";

const url = process.env.DIBS_URL || "http://127.0.0.1:18080";
const token = process.env.DIBS_ADMIN_TOKEN || "test-admin-token";
const screenshot = process.env.DIBS_SCREENSHOT || "console.png";
const timeout = 15_000;

function log(...args) {
  console.log(...args);
}

async function call(method, path, body, admin = false) {
  const headers = { "Content-Type": "application/json" };
  if (admin) headers.Authorization = "Bearer " + token;
  const res = await fetch(url + path, {
    method, headers, body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function issue(coupon, users) {
  for (const userId of users) {
    const res = await call("POST", `/api/coupons/${coupon}/issue`, { userId });
    if (res.status !== 201 && res.status !== 202)
      throw new Error(`issuing to ${userId}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

// A name no other coupon has: the filter matches names by substring, and
// the load tests' coupon names hold numbers (CI once had one containing
// this coupon's id, and the filter rightly showed both).
const name = `browser-test-${Date.now()}`;
const created = await call("POST", "/api/coupons",
  { name, discount: 500, totalQuantity: 20 }, true);
if (created.status !== 201) throw new Error("creating the coupon: " + created.status);
const coupon = created.body.couponId;
log(`coupon ${coupon} created with 20 units`);

// Flags from the machine's notes: without the background-networking ones,
// Chromium keeps trying to reach Google's hosts on this closed network.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));

  await page.goto(`${url}/console#token=${encodeURIComponent(token)}`);
  // The token left the address bar at once.
  if (page.url().includes("token")) throw new Error("the token stayed in the URL");
  const remaining = page.locator(`#stock-table tr[data-coupon="${coupon}"] td.remaining`);
  await remaining.waitFor({ timeout });
  const seen = [];
  const expectRemaining = async (n) => {
    await page.waitForFunction(
      ([id, want]) => {
        const td = document.querySelector(`#stock-table tr[data-coupon="${id}"] td.remaining`);
        return td && td.textContent === String(want);
      }, [coupon, n], { timeout });
    seen.push(n);
    log(`the console shows ${n} left`);
  };
  await expectRemaining(20);
  await issue(coupon, [1, 2, 3, 4, 5]);
  await expectRemaining(15);
  await issue(coupon, [6, 7, 8, 9, 10, 11, 12]);
  await expectRemaining(8);

  // The filter narrows the table to the coupon.
  await page.fill("#filter", name);
  await page.waitForFunction(
    () => document.querySelectorAll("#stock-table tbody tr").length === 1, null, { timeout });

  // Drill down: the coupon's answers and its stock over time.
  await page.click(`#stock-table tr[data-coupon="${coupon}"]`);
  await page.locator("#detail").waitFor({ state: "visible", timeout });
  await page.waitForFunction(
    () => document.querySelectorAll("#recent tbody tr").length >= 12, null, { timeout });
  const detail = await page.textContent("#detail-name");
  if (!detail.includes("8 of 20 left")) throw new Error("drill-down says: " + detail);
  await page.waitForFunction(
    () => document.querySelector("#chart-stock polyline") !== null, null, { timeout });

  // The overview charts and the writers table fill in.
  await page.waitForFunction(
    () => document.querySelectorAll("#writer-table tbody tr").length > 0
      && document.querySelector("#chart-rate polyline") !== null, null, { timeout });
  await page.screenshot({ path: screenshot, fullPage: true });
  log(`screenshot: ${screenshot}`);
  if (errors.length) throw new Error("page errors: " + errors.join("; "));

  // A wrong token: the data routes refuse it and the page asks again.
  const other = await browser.newPage();
  await other.goto(`${url}/console#token=wrong-token`);
  await other.locator("#login").waitFor({ state: "visible", timeout });
  const message = await other.textContent("#login-error");
  if (!message.includes("refused")) throw new Error("login form says: " + message);
  if (await other.locator("#console").isVisible()) throw new Error("data shown with a wrong token");
  log("a wrong token brings back the login form, with no data shown");
  log(`the console followed the stock down: ${seen.join(" -> ")}`);
} finally {
  await browser.close();
}
