// The dibs console: polls the introspection API (/admin/api/...) once a
// second with the admin token and redraws. Plain DOM and SVG, no framework.
// The token comes from the page's fragment (#token=...), which browsers
// never send to the server, or from the form; it is kept for the tab only.
"use strict";

const POLL_MS = 1000;
const KEEP = 120; // samples in the live charts: two minutes

const $ = (id) => document.getElementById(id);
const state = {
  token: null,
  prev: null, // the previous overview, for rates
  series: { rate: [], p99: [], lag: [], rows: [] },
  stock: [],
  sortKey: "couponId",
  sortAsc: true,
  selected: null,
  timer: null,
};

// -- the token ---------------------------------------------------------------

function initialToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("dibs-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("dibs-token");
}

function askToken(message) {
  clearTimeout(state.timer);
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("dibs-token", state.token);
  start();
});

async function api(path) {
  const res = await fetch("/admin/api/" + path, {
    headers: { Authorization: "Bearer " + state.token },
    cache: "no-store",
  });
  if (res.status === 401 || res.status === 403) {
    const err = new Error("token");
    err.auth = true;
    throw err;
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

// -- formatting and drawing --------------------------------------------------

function fmtNum(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits });
}

function fmtUs(us) {
  if (!us) return "—";
  return us >= 1000 ? fmtNum(us / 1000, 1) + " ms" : fmtNum(us) + " µs";
}

function fmtAge(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? ms + " ms" : fmtNum(ms / 1000, 1) + " s";
}

function push(series, value) {
  series.push(value);
  if (series.length > KEEP) series.shift();
}

// Draws `points` ([x, y] pairs) as a polyline scaled into the svg, with the
// largest y as a label.
function drawLine(svg, points, label) {
  const w = svg.clientWidth || 300;
  const h = svg.clientHeight || 40;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  if (points.length < 2) return;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1;
  const y1 = Math.max(...ys, 1);
  const pad = 2;
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (w - 2 * pad);
  const sy = (y) => h - pad - (y / y1) * (h - 2 * pad - 10);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "));
  svg.appendChild(line);
  const text = document.createElementNS("http://www.w3.org/2000/svg", "text");
  text.setAttribute("x", 2);
  text.setAttribute("y", 9);
  text.textContent = (label || fmtNum)(y1);
  svg.appendChild(text);
}

function drawSpark(id, series, label) {
  drawLine($(id), series.map((y, i) => [i, y]), label);
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement("td");
    if (c && typeof c === "object" && "text" in c) {
      td.textContent = c.text;
      if (c.cls) td.className = c.cls;
    } else {
      td.textContent = c;
    }
    tr.appendChild(td);
  }
  return tr;
}

function miniTable(table, obj) {
  table.replaceChildren(
    ...Object.entries(obj).map(([k, v]) => row([k.replace(/_/g, " "), fmtNum(v)])));
}

// The latency quantile `q` of the answers between two cumulative
// histograms: the upper bound of the bucket that holds it.
function windowQuantile(now, before, q) {
  if (!now) return 0;
  const counts = now.counts.map((c, i) => c - (before ? before.counts[i] : 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen > q * total) return now.boundsUs[Math.min(i, now.boundsUs.length - 1)];
  }
  return now.boundsUs[now.boundsUs.length - 1];
}

function total(byStatus) {
  return Object.values(byStatus || {}).reduce((a, b) => a + b, 0);
}

// -- the sections --------------------------------------------------------------

function showNodes(data) {
  const n = data.nodes.find((m) => m.self);
  $("node").textContent = `${n.id} · ${n.http} · Kafka log ${n.kafka.logId} · up ${fmtNum(n.uptimeS)} s`;
  $("health").textContent = n.health;
  $("health").className = "badge " + (n.health === "ready" ? "ready" : "down");
  // A cluster: every member, its health and its shards.
  $("cluster").hidden = !data.cluster;
  if (!data.cluster) return;
  const takeovers = (n.takeovers || []).slice(-3).map((t) =>
    `shard ${t.shard}@${t.epoch} in ${t.tookMs} ms`).join(", ");
  $("cluster-summary").textContent =
    `${data.nodes.length} nodes · ${data.shards.count} shards (group ${data.shards.group}) · configuration ${data.cluster.fingerprint}` +
    (takeovers ? ` · latest takeovers here: ${takeovers}` : "");
  fillRows($("member-table").tBodies[0], data.nodes.map((m) => row([
    m.id + (m.self ? " (this node)" : ""), m.health, m.http, m.actor,
    m.self ? "—" : (m.lastHeartbeatAt || "never"),
    m.self ? "—" : fmtUs(m.heartbeatRttUs), m.self ? "—" : fmtNum(m.forwarded),
    `${m.shardCount}: ${m.shards.map((s) => `${s.shard}@${s.epoch}`).join(", ")}`,
  ], { class: m.health === "up" || m.health === "ready" ? "running" : "crash-loop" })));
}

function showOverview(o) {
  const prev = state.prev;
  const dt = prev ? (Date.parse(o.at) - Date.parse(prev.at)) / 1000 : 0;
  const issued = total(o.requests.issue);
  const rate = prev && dt > 0 ? (issued - total(prev.requests.issue)) / dt : 0;
  const lat = o.latency.issue;
  const before = prev && prev.latency.issue;
  const p50 = windowQuantile(lat, before, 0.5);
  const p99 = windowQuantile(lat, before, 0.99);
  push(state.series.rate, rate);
  push(state.series.p99, p99);
  push(state.series.lag, o.kafka.lag);
  push(state.series.rows, o.writers.rowsPerS);
  $("rate").textContent = fmtNum(rate);
  $("latency").textContent = `${fmtUs(p50)} / ${fmtUs(p99)}`;
  $("lag").textContent = fmtNum(o.kafka.lag);
  $("rows").textContent = fmtNum(o.writers.rowsPerS);
  const pl = o.kafka.produceLatency;
  $("produce").textContent = pl ? `${fmtUs(pl.p50Us)} / ${fmtUs(pl.p99Us)}` : "—";
  $("inflight").textContent = `in flight: ${fmtNum(o.kafka.inFlight)}`;
  drawSpark("chart-rate", state.series.rate);
  drawSpark("chart-latency", state.series.p99, fmtUs);
  drawSpark("chart-lag", state.series.lag);
  drawSpark("chart-rows", state.series.rows);
  miniTable($("outcomes"), o.outcomes);
  const r = o.restarts;
  $("restart-totals").textContent =
    `restarts: stock ${r.stock}, writer ${r.writer}, producer ${r.producer}, other ${r.other}`;
  state.prev = o;
}

function sortValue(s, key) {
  if (key === "snapshotAge") return s.snapshot.ageMs ?? Infinity;
  return s[key];
}

function showStock() {
  const filter = $("filter").value.trim().toLowerCase();
  const key = state.sortKey;
  const dir = state.sortAsc ? 1 : -1;
  const list = state.stock
    .filter((s) => !filter
      || String(s.couponId) === filter
      || s.name.toLowerCase().includes(filter)
      || s.state.includes(filter))
    .sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      return (x < y ? -1 : x > y ? 1 : 0) * dir || a.couponId - b.couponId;
    });
  $("stock-count").textContent = `${list.length} of ${state.stock.length}`;
  fillRows($("stock-table").tBodies[0], list.map((s) => {
    const tr = row([
      s.couponId, s.name, s.state,
      { text: fmtNum(s.remaining), cls: "remaining" },
      fmtNum(s.issued), fmtNum(s.waitingForKafka), fmtNum(s.inKafkaNotMySQL),
      fmtNum(s.mailbox), fmtNum(s.messages), fmtAge(s.snapshot.ageMs),
      s.restarts, s.owner,
    ], { "data-coupon": s.couponId, class: s.state });
    tr.addEventListener("click", () => select(s.couponId));
    return tr;
  }));
  for (const th of $("stock-table").tHead.rows[0].cells) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("asc", th.dataset.key === key && state.sortAsc);
  }
}

function showDetail(d) {
  $("detail").hidden = false;
  $("detail-id").textContent = d.couponId;
  $("detail-name").textContent = `${d.name} · ${d.remaining} of ${d.totalQuantity} left · ${d.state}`;
  drawLine($("chart-stock"), d.history.map(([t, left]) => [t, left]));
  miniTable($("detail-outcomes"), d.outcomes);
  const snap = d.snapshot;
  $("detail-snapshot").textContent =
    `position ${snap.position}, ${fmtNum(snap.issuances)} issuances, age ${fmtAge(snap.ageMs)}`;
  fillRows($("recent").tBodies[0], d.recent.slice().reverse()
    .map((a) => row([a.at, a.userId, a.outcome])));
}

function showWriters(data) {
  fillRows($("writer-table").tBodies[0], data.writers.map((w) => row([
    w.writer, w.state,
    w.partitions.map((p) => `${p.partition} (${p.lag < 0 ? "?" : p.lag})`).join(", ") || "none",
    fmtNum(w.lag), fmtNum(w.rowsPerS), fmtNum(w.lastBatchRows) + " rows",
    fmtUs(w.batchLatency.p99Us), w.lastCommitAt || "—", w.restarts,
  ], { class: w.state })));
}

function showSupervision(data) {
  const all = $("show-all").checked;
  const children = data.supervisor.children
    .filter((c) => all || c.restarts > 0 || c.state !== "running" || c.kind !== "stock")
    .sort((a, b) => b.restarts - a.restarts || a.name.localeCompare(b.name));
  fillRows($("supervision-table").tBodies[0], children.map((c) => {
    const last = c.history[c.history.length - 1];
    return row([c.name, c.kind, c.state, c.restarts, c.crashesInARow,
      c.startedAt || "—", last ? `${last.at}: ${last.reason}` : "—"],
    { class: c.state.replace(" ", "-") });
  }));
}

// -- polling -------------------------------------------------------------------

function select(id) {
  state.selected = id;
  refresh();
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    const [nodes, overview, stock, writers, supervision] = await Promise.all([
      api("nodes"), api("overview"), api("stock"), api("writers"), api("supervision"),
    ]);
    $("login").hidden = true;
    $("console").hidden = false;
    showNodes(nodes);
    showOverview(overview);
    state.stock = stock.stockActors;
    showStock();
    showWriters(writers);
    showSupervision(supervision);
    if (state.selected !== null) showDetail(await api("stock/" + state.selected));
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    if (err.auth) return askToken("the admin token was refused");
    $("updated").textContent = "unreachable: " + err.message;
    $("health").textContent = "unreachable";
    $("health").className = "badge down";
  }
  state.timer = setTimeout(refresh, POLL_MS);
}

function start() {
  $("login").hidden = true;
  refresh();
}

for (const th of document.querySelectorAll("#stock-table th[data-key]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.key;
    state.sortAsc = state.sortKey === key ? !state.sortAsc : true;
    state.sortKey = key;
    showStock();
  });
}
$("filter").addEventListener("input", showStock);
$("show-all").addEventListener("change", refresh);
$("detail-close").addEventListener("click", () => {
  state.selected = null;
  $("detail").hidden = true;
});

state.token = initialToken();
if (state.token) start();
else askToken();
