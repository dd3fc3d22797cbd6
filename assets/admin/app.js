// The edgeback dashboard: a thin client of the admin API (/api/…). No dependencies.
"use strict";

const state = {
  token: sessionStorage.getItem("edgeback-token") || "",
  tab: "overview",
  timer: null,
  ticks: 0,
  campaigns: [],
  report: null, // the last report answer, for sorting and drill-down
  sort: { key: null, descending: true },
  drill: null, // { path: [[key, value], …], next, total } while a row's breakdown is shown
};

// The outcome codes of the postback log (docs: README "Outcomes"); a unit test keeps
// this list equal to `Outcome::ALL`.
const OUTCOMES = ["accepted", "updated", "duplicate", "invalid_transition", "click_mismatch",
  "method_not_allowed", "body_too_large", "unsupported_media_type", "malformed_body", "unknown_network",
  "ip_not_allowed", "missing_token", "bad_token", "missing_signature", "bad_signature", "stale_timestamp",
  "replayed", "rate_limited", "missing_click_id", "unreplaced_macro", "invalid_click_id", "click_expired",
  "invalid_payout", "payout_out_of_range", "invalid_currency", "unknown_status", "unknown_event",
  "unsigned_parameter", "internal_error"];
const SUBS = Array.from({ length: 10 }, (_, i) => `sub${i + 1}`);
const ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "America/New_York", "America/Chicago",
  "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo",
  "Australia/Sydney"];

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

class ApiError extends Error {}

async function request(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) {
    signOut("The token was refused.");
    throw new ApiError("The token was refused.");
  }
  return response;
}

// JSON calls; a refusal becomes an error carrying the API's own detail, shown where the
// user acted (never only in the console).
async function api(method, path, body) {
  const response = await request(method, path, body);
  const data = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 202) {
    throw new ApiError(data.detail ? `${data.detail}` : `The server answered ${response.status} ${data.error || ""}`.trim());
  }
  return data;
}

function showError(id, error) {
  const box = $(id);
  box.hidden = !error;
  box.textContent = error ? error.message || String(error) : "";
}

// Runs a loader, showing its failure in the tab's error box; a success clears it.
async function guarded(errorBox, work) {
  try {
    await work();
    showError(errorBox, null);
  } catch (error) {
    showError(errorBox, error);
  }
}

// Time and number formats for reading.
const pad = (n) => String(n).padStart(2, "0");
function time(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function amount(value, currency) {
  const number = Number(value);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(number);
  } catch {
    return `${number.toFixed(2)} ${currency}`;
  }
}
const moneyText = (map) => Object.entries(map || {}).map(([currency, value]) => amount(value, currency)).join(", ");
const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(Number(rate) * 100).toFixed(2)}%`);
const count = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString());

const GOOD = new Set(["accepted", "updated", "delivered", "approved"]);
const MEH = new Set(["duplicate", "pending", "retrying"]);
const NEUTRAL = new Set(["rejected", "reversed"]);
function badge(text) {
  const kind = GOOD.has(text) ? " good" : MEH.has(text) ? " meh" : NEUTRAL.has(text) ? " neutral" : "";
  return el("span", { class: `outcome${kind}`, "data-outcome": text }, text);
}

// Fills a table body, or says what to do next when there is nothing.
function fill(table, rows, empty) {
  const body = $(`${table} tbody`);
  if (rows.length) {
    body.replaceChildren(...rows);
    return;
  }
  const columns = $(`${table} thead tr`).children.length || 1;
  body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: String(columns) }, empty)));
}

// Dates in a time zone, as the report's days are cut (YYYY-MM-DD).
function zoneDate(tz, offsetDays = 0) {
  const at = new Date(Date.now() + offsetDays * 86400000);
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
  } catch {
    return at.toISOString().slice(0, 10);
  }
}
function zone() {
  return $("#report-tz").value.trim() || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// ---- Overview ---------------------------------------------------------------------------

function card(title, figures) {
  const revenue = moneyText(figures.revenue) || "0";
  return el("div", { class: "card period" },
    el("h3", {}, title),
    el("dl", {},
      el("dt", {}, "Clicks"), el("dd", { "data-figure": "clicks" }, count(figures.clicks)),
      el("dt", {}, "Conversions"), el("dd", { "data-figure": "conversions" }, count(figures.conversions)),
      el("dt", {}, "Approved"), el("dd", { "data-figure": "approved" }, count(figures.approved)),
      el("dt", {}, "Revenue"), el("dd", { "data-figure": "revenue" }, revenue),
      el("dt", {}, "CR"), el("dd", { "data-figure": "cr" }, percent(figures.cr)),
      el("dt", {}, "EPC"), el("dd", { "data-figure": "epc" }, moneyText(figures.epc) || "—"),
      // Cost, profit and ROI (docs/costs.md): "—" where no cost is tracked.
      el("dt", {}, "Cost"), el("dd", { "data-figure": "cost" }, moneyText(figures.cost) || "—"),
      el("dt", {}, "Profit"), el("dd", { "data-figure": "profit" }, moneyText(figures.profit) || "—"),
      el("dt", {}, "ROI"), el("dd", { "data-figure": "roi" }, percent(figures.roi)),
      el("dt", {}, "Refused"), el("dd", { "data-figure": "refused" }, count(Object.values(figures.refused_postbacks || {}).reduce((a, b) => a + b, 0)))));
}

async function loadOverview() {
  const tz = zone();
  $("#overview-tz").textContent = tz;
  await guarded("#overview-error", async () => {
    const [report, failed, health] = await Promise.all([
      api("GET", `/api/report?${new URLSearchParams({ group_by: "day", tz, from: zoneDate(tz, -6), to: zoneDate(tz) })}`),
      api("GET", "/api/deliveries?state=failed&limit=500"),
      fetch("/healthz", { cache: "no-store" }).then((r) => r.json()).catch(() => ({})),
    ]);
    const rows = report.rows;
    const today = rows[rows.length - 1] || {};
    const yesterday = rows[rows.length - 2] || {};
    $("#overview-cards").replaceChildren(card("Today", today), card("Yesterday", yesterday), card("Last 7 days", report.total));
    drawChart("#overview-chart", rows, 160);
    const refused = Object.entries(report.total.refused_postbacks || {}).sort((a, b) => b[1] - a[1]);
    $("#overview-refusals .body").replaceChildren(refused.length
      ? el("ul", {}, refused.map(([outcome, n]) => el("li", {}, badge(outcome), ` ${n}`)))
      : el("p", { class: "muted" }, "None: every postback was accepted or a duplicate."));
    const failedCount = failed.items.length + (failed.next_cursor ? "+" : "");
    $("#overview-deliveries .body").replaceChildren(
      el("p", { class: "big", "data-figure": "failed-deliveries" }, String(failedCount)),
      el("p", { class: "muted" }, failed.items.length ? "Open Deliveries to replay them." : "Every delivery went through or is still being retried."));
    const c = health.clicks || {};
    $("#overview-health .body").replaceChildren(el("dl", {},
      el("dt", {}, "Lost"), el("dd", { "data-figure": "clicks-lost" }, count(c.clicks_lost ?? 0)),
      el("dt", {}, "Spilled to KV"), el("dd", {}, count(c.clicks_spilled ?? 0)),
      el("dt", {}, "Recovered"), el("dd", {}, count(c.clicks_recovered ?? 0)),
      el("dt", {}, "Conversions waiting"), el("dd", {}, count(c.conversions_awaiting_click ?? 0))));
  });
}

// ---- Charts -------------------------------------------------------------------------------

function drawChart(selector, rows, height = 200) {
  const svg = $(selector);
  const width = 600, padding = 22;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.clicks || 0, r.conversions || 0)));
  const slot = (width - 2 * padding) / Math.max(1, rows.length);
  const bar = Math.max(2, slot / 2 - 2);
  const ns = "http://www.w3.org/2000/svg";
  const shapes = [];
  const every = Math.ceil(rows.length / 12); // at most 12 labels
  rows.forEach((row, index) => {
    const x = padding + index * slot;
    for (const [kind, offset] of [["clicks", 0], ["conversions", bar + 1]]) {
      const value = row[kind] || 0;
      const h = ((height - 2 * padding) * value) / max;
      const rect = document.createElementNS(ns, "rect");
      Object.entries({ x: x + offset, y: height - padding - h, width: bar, height: Math.max(h, value ? 1 : 0), class: kind })
        .forEach(([k, v]) => rect.setAttribute(k, v));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${row.day}: ${value} ${kind}`;
      rect.append(title);
      shapes.push(rect);
    }
    if (index % every === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", x);
      label.setAttribute("y", height - 6);
      label.textContent = (row.day || "").slice(5);
      shapes.push(label);
    }
  });
  svg.replaceChildren(...shapes);
}

// ---- Report -------------------------------------------------------------------------------

const METRICS = [
  ["clicks", "Clicks", (r) => count(r.clicks)],
  ["bot_clicks", "Bots", (r) => count(r.bot_clicks)],
  ["conversions", "Conv.", (r) => count(r.conversions)],
  ["approved", "Approved", (r) => count(r.approved)],
  ["revenue", "Revenue", (r) => moneyText(r.revenue) || "—"],
  ["pending_revenue", "Pending", (r) => moneyText(r.pending_revenue) || "—"],
  ["cr", "CR", (r) => percent(r.cr)],
  ["epc", "EPC", (r) => (r.epc === null ? "—" : moneyText(r.epc))],
  ["approval_rate", "Approval", (r) => percent(r.approval_rate)],
  ["cost", "Cost", (r) => (r.cost == null ? "—" : moneyText(r.cost) || "—")],
  ["profit", "Profit", (r) => (r.profit == null ? "—" : moneyText(r.profit) || "—")],
  ["roi", "ROI", (r) => percent(r.roi)],
  ["cpa", "CPA", (r) => (r.cpa == null ? "—" : moneyText(r.cpa) || "—")],
  ["cpc", "CPC", (r) => (r.cpc == null ? "—" : moneyText(r.cpc) || "—")],
  ["lp_views", "LP views", (r) => count(r.lp_views)],
  ["lp_clicks", "LP clicks", (r) => count(r.lp_clicks)],
  ["lp_ctr", "LP CTR", (r) => percent(r.lp_ctr)],
  ["impressions", "Impr.", (r) => count(r.impressions)],
  ["ctr", "CTR", (r) => percent(r.ctr)],
  ["duplicates", "Dupl.", (r) => count(r.duplicates)],
  ["refused", "Refused", (r) => Object.entries(r.refused_postbacks || {}).map(([o, n]) => `${o}: ${n}`).join(", ")],
];
const LOW_PRIORITY = new Set(["bot_clicks", "pending_revenue", "epc", "duplicates", "refused", "approval_rate",
  "cpa", "lp_views", "lp_clicks", "lp_ctr", "impressions", "ctr"]);

function sortValue(row, key) {
  const value = key === "refused" ? Object.values(row.refused_postbacks || {}).reduce((a, b) => a + b, 0) : row[key];
  if (value && typeof value === "object") return Object.values(value).reduce((a, b) => a + Number(b), 0);
  if (typeof value === "string" && /^-?[0-9.]+$/.test(value)) return Number(value);
  return value ?? -Infinity;
}

function applyRange() {
  const range = $("#report-range").value;
  const tz = zone();
  const custom = range === "custom";
  $("#report-from").disabled = !custom;
  $("#report-to").disabled = !custom;
  if (custom) return;
  const [from, to] = {
    today: [0, 0], yesterday: [-1, -1], 7: [-6, 0], 30: [-29, 0],
  }[range];
  $("#report-from").value = zoneDate(tz, from);
  $("#report-to").value = zoneDate(tz, to);
}

// What a row of `key` breaks down into by default when clicked (any key can follow).
function nextKey(key) {
  const sub = /^sub(\d+)$/.exec(key);
  if (sub) return Number(sub[1]) < 10 ? `sub${Number(sub[1]) + 1}` : "day";
  return { campaign: "sub1", day: "campaign" }[key] || "campaign";
}

function reportQuery() {
  const keys = state.drill ? [...state.drill.path.map(([k]) => k), state.drill.next] : [$("#report-group").value];
  const query = new URLSearchParams({ group_by: keys.join(","), tz: zone() });
  const from = $("#report-from").value, to = $("#report-to").value;
  if (from) query.set("from", from);
  if (to) query.set("to", to);
  return query;
}

async function loadReport(event) {
  if (event) {
    event.preventDefault();
    state.drill = null;
  }
  if ($("#report-range").value !== "custom") applyRange();
  await guarded("#report-error", async () => {
    try {
      state.report = await api("GET", `/api/report?${reportQuery()}`);
    } catch (error) {
      // A refused query leaves no stale table behind.
      state.report = null;
      $("#report-table thead tr").replaceChildren();
      $("#report-table tbody").replaceChildren();
      $("#report-table tfoot").replaceChildren();
      $("#report-caption").textContent = "";
      $("#report-chart").replaceChildren();
      $("#report-chart").toggleAttribute("hidden", true);
      $("#report-legend").hidden = true;
      throw error;
    }
    state.sort = { key: null, descending: true };
    // Remembered only once the API took it, so a typo never sticks.
    localStorage.setItem("edgeback-tz", state.report.tz);
    renderReport();
  });
}

function renderReport() {
  const report = state.report;
  if (!report) return;
  const keys = report.group_by;
  let rows = report.rows;
  if (state.drill) rows = rows.filter((r) => state.drill.path.every(([k, v]) => (r[k] ?? null) === v));
  if (state.sort.key) {
    const { key, descending } = state.sort;
    rows = [...rows].sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
  }
  const byDay = keys.length === 1 && keys[0] === "day";
  // An <svg> has no `hidden` property: the attribute is what hides it.
  $("#report-chart").toggleAttribute("hidden", !byDay);
  $("#report-legend").hidden = !byDay;
  if (byDay) drawChart("#report-chart", report.rows);

  const caption = [`${report.from} to ${report.to}, days in ${report.tz}`];
  const captionNode = $("#report-caption");
  captionNode.replaceChildren(caption.join(""));
  if (state.drill) {
    // A breadcrumb: the whole report, then each level of the path, each one a way back.
    const { path } = state.drill;
    captionNode.append(" · ", el("a", { href: "#", id: "report-back", onclick: (e) => { e.preventDefault(); state.drill = null; loadReport(); } }, `all by ${path[0][0]}`));
    path.forEach(([key, value], i) => {
      const label = `${value ?? "(none)"}`;
      const back = i < path.length - 1
        ? el("a", { href: "#", class: "crumb", title: `${key} ${label}`, onclick: (e) => { e.preventDefault(); drillTo(path.slice(0, i + 1), path[i + 1][0], state.drill.totals[i]); } }, label)
        : el("span", { title: key }, label);
      captionNode.append(" › ", back);
    });
    captionNode.append(` by ${state.drill.next}`);
    const then = el("select", { id: "report-drill-next", title: "break down by", onchange: (e) => drillTo(path, e.target.value, state.drill.total) },
      ...DRILL_KEYS.filter((k) => k === state.drill.next || fits(k, path.map(([p]) => p))).map((k) => el("option", k === state.drill.next ? { value: k, selected: "" } : { value: k }, k)));
    captionNode.append(" ", el("label", { class: "quiet" }, "then by ", then));
  }

  const shownKeys = state.drill ? [state.drill.next] : keys;
  const header = [...shownKeys.map((k) => [k, k]), ...METRICS.map(([k, label]) => [k, label])].map(([key, label]) => {
    const arrow = state.sort.key === key ? (state.sort.descending ? " ▾" : " ▴") : "";
    return el("th", { "data-sort": key, class: `sort${LOW_PRIORITY.has(key) ? " lo" : ""}`, title: "sort" }, `${label}${arrow}`);
  });
  $("#report-table thead tr").replaceChildren(...header);
  // Any row breaks down further, except by day alone (the chart's view) and at the last key.
  const rowKey = shownKeys[0];
  const pathKeys = [...(state.drill?.path || []).map(([p]) => p), rowKey];
  const drillable = !(keys.length === 1 && rowKey === "day") && DRILL_KEYS.some((k) => fits(k, pathKeys));
  const line = (r, total) => el("tr", total ? { class: "total" } : drillable
    ? { class: "clickable", ...(r.campaign != null ? { "data-campaign": r.campaign } : {}), [`data-${rowKey}`]: r[rowKey] ?? "", title: `break ${r[rowKey] ?? "(none)"} down by ${nextFitting(rowKey, pathKeys)}`, onclick: () => drill(r, rowKey) }
    : {},
  ...shownKeys.map((k, i) => el("td", { class: "key" }, total ? (i === 0 ? "Total" : "") : r[k] ?? "(none)")),
  ...METRICS.map(([k, , show]) => el("td", LOW_PRIORITY.has(k) ? { class: "lo", "data-metric": k } : { "data-metric": k }, show(r))));
  const empty = state.drill ? `No traffic for ${state.drill.path.map(([, v]) => v ?? "(none)").join(" › ")} in this range.`
    : "No clicks or conversions in this range. Try a longer range, or send a click to /c/<campaign> first.";
  fill("#report-table", rows.map((r) => line(r, false)), empty);
  // Drilled down, the total is the campaign's own row of the report it came from.
  $("#report-table tfoot").replaceChildren(line(state.drill ? state.drill.total : report.total, true));
}

// Flow dimensions and sub-IDs never share a report (docs/report.md, "Flow dimensions").
const FLOW_KEYS = ["offer", "lander", "rule", "device", "os", "browser", "region"];
const DRILL_KEYS = ["campaign", "country", "network", "event", "day", ...FLOW_KEYS, ...Array.from({ length: 10 }, (_, i) => `sub${i + 1}`)];
const isSub = (k) => /^sub\d+$/.test(k);
// Whether `key` can join a report already grouped by `keys`.
const fits = (key, keys) => !keys.includes(key)
  && !(isSub(key) && keys.some((k) => FLOW_KEYS.includes(k)))
  && !(FLOW_KEYS.includes(key) && keys.some(isSub));
// The default next key for a row of `key` under `keys`, or the first key that fits.
const nextFitting = (key, keys) => {
  const next = nextKey(key);
  return fits(next, keys) ? next : DRILL_KEYS.find((k) => fits(k, keys)) || next;
};

// Breaks the clicked row down: its key and value join the path, the next key groups it.
async function drill(row, key) {
  const path = [...(state.drill?.path || []), [key, row[key] ?? null]];
  const totals = [...(state.drill?.totals || []), row];
  await drillTo(path, nextFitting(key, path.map(([k]) => k)), row, totals);
}

async function drillTo(path, next, total, totals = (state.drill?.totals || []).slice(0, path.length)) {
  state.drill = { path, next, total, totals };
  await guarded("#report-error", async () => {
    state.report = await api("GET", `/api/report?${reportQuery()}`);
    state.sort = { key: null, descending: true };
    renderReport();
  });
}

// ---- Lists --------------------------------------------------------------------------------

// A "since" dropdown's window (milliseconds back from now) as the API's `since`.
function since(query, selector) {
  const back = $(selector).value;
  if (back) query.set("since", String(Date.now() - Number(back)));
}

// The query of each list's filters (also used for its CSV export).
const listQueries = {
  clicks() {
    const q = new URLSearchParams({ limit: "100", since: String(Date.now() - Number($("#clicks-since").value)) });
    const campaign = $("#clicks-campaign").value, bot = $("#clicks-bot").value;
    const subValue = $("#clicks-sub-value").value.trim(), country = $("#clicks-country").value.trim();
    if (campaign) q.set("campaign", campaign);
    if (bot) q.set("bot", bot);
    if (subValue) q.set($("#clicks-sub-name").value, subValue);
    if (country) q.set("country", country.toUpperCase());
    return q;
  },
  conversions() {
    const q = new URLSearchParams({ limit: "100" });
    for (const name of ["status", "campaign", "network"]) {
      const value = $(`#conversions-${name}`).value;
      if (value) q.set(name, value);
    }
    const subValue = $("#conversions-sub-value").value.trim();
    if (subValue) q.set($("#conversions-sub-name").value, subValue);
    since(q, "#conversions-since");
    return q;
  },
  postbacks() {
    const q = new URLSearchParams({ limit: "100" });
    for (const name of ["outcome", "network"]) {
      const value = $(`#postbacks-${name}`).value;
      if (value) q.set(name, value);
    }
    since(q, "#postbacks-since");
    return q;
  },
  deliveries() {
    const q = new URLSearchParams({ limit: "100" });
    const value = $("#deliveries-state").value;
    if (value) q.set("state", value);
    return q;
  },
  report: () => reportQuery(),
};

// The export of what is on screen: the same filters, as CSV (up to 10,000 rows).
async function downloadCsv(name, button) {
  const query = listQueries[name]();
  query.set("format", "csv");
  query.delete("limit");
  const box = name === "report" ? "#report-error" : `#${name}-error`;
  await guarded(box, async () => {
    button.disabled = true;
    try {
      const response = await request("GET", `/api/${name}?${query}`);
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new ApiError(data.detail || `The server answered ${response.status}`);
      }
      const disposition = response.headers.get("content-disposition") || "";
      const filename = (disposition.match(/filename="([^"]+)"/) || [])[1] || `edgeback-${name}.csv`;
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: filename, hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } finally {
      button.disabled = false;
    }
  });
}

async function loadClicks() {
  await guarded("#clicks-error", async () => {
    const data = await api("GET", `/api/clicks?${listQueries.clicks()}`);
    const example = state.campaigns[0] ? `${location.origin}/c/${state.campaigns[0]}?sub1=test` : `${location.origin}/c/<campaign>`;
    fill("#clicks-table", data.items.map((row) => el("tr", { "data-click": row.click_id },
      el("td", {}, time(row.created_at)), el("td", {}, row.campaign), el("td", {}, row.sub1 || ""),
      el("td", { class: "lo" }, row.sub2 || ""), el("td", { class: "lo" }, row.external_id || ""),
      el("td", {}, row.country || ""), el("td", {}, row.is_bot ? el("span", { class: "outcome meh", title: row.bot_reason || "" }, "bot") : "human"),
      el("td", { class: "id lo" }, row.click_id))),
    `No clicks match in this range. Open a tracking link in a browser to make one, e.g. ${example}`);
  });
}

async function showConversion(id) {
  const box = $("#conversion-detail");
  box.hidden = false;
  await guarded("#conversions-error", async () => {
    const data = await api("GET", `/api/conversions/${encodeURIComponent(id)}`);
    const c = data.conversion;
    const subs = Object.entries(c.sub || {}).filter(([, v]) => v);
    box.replaceChildren(
      el("h3", {}, `Conversion ${id}`),
      el("dl", { class: "facts" },
        el("dt", {}, "Campaign"), el("dd", {}, c.campaign ?? "(not yet known)"),
        el("dt", {}, "Status"), el("dd", {}, badge(c.status)),
        el("dt", {}, "Payout"), el("dd", {}, `${amount(c.payout, c.currency)} (${c.payout_source})`),
        el("dt", {}, "Country"), el("dd", {}, c.country ?? "—"),
        el("dt", {}, "External ID"), el("dd", {}, c.external_id ?? "—"),
        el("dt", {}, "Click"), el("dd", { class: "id" }, c.click_id),
        el("dt", {}, "Sub-IDs"), el("dd", {}, subs.map(([k, v]) => `${k}=${v}`).join("  ") || "none")),
      c.attributed ? "" : el("p", { class: "warning" }, "Waiting for its click row: deliveries are held."),
      el("h4", {}, "History"),
      el("pre", {}, data.history.map((h) => `v${h.version}  ${time(h.changed_at)}  ${h.status}  ${(h.payout_micros / 1e6).toFixed(2)} ${h.currency}`).join("\n")),
      el("h4", {}, "Deliveries"),
      el("pre", {}, data.deliveries.map((d) => `${d.destination}  ${d.type} v${d.version}  ${d.state}  attempts ${d.attempts}`).join("\n") || "none"));
  });
}

async function loadConversions() {
  await guarded("#conversions-error", async () => {
    const data = await api("GET", `/api/conversions?${listQueries.conversions()}`);
    fill("#conversions-table", data.items.map((row) => el("tr", { class: "clickable", "data-conversion": row.conversion_id, onclick: () => showConversion(row.conversion_id) },
      el("td", {}, time(row.created_at)), el("td", {}, row.campaign || ""), el("td", { class: "lo" }, row.sub?.sub1 || ""),
      el("td", { class: "lo" }, row.country || ""), el("td", { class: "lo" }, row.external_id || ""),
      el("td", { class: "lo" }, row.network), el("td", { class: "lo" }, row.event), el("td", {}, badge(row.status)),
      el("td", { class: "num" }, amount(row.payout, row.currency)), el("td", { class: "id lo" }, row.transaction_id || ""))),
    "No conversions match. They appear when a network calls /postback with a click ID; the Tester tab shows what a postback would do.");
  });
}

function paramsRow(row, columns) {
  const pairs = Array.isArray(row.params) ? row.params : [];
  return el("tr", { class: "params" }, el("td", { colspan: String(columns) },
    pairs.length
      ? el("table", { class: "pairs" }, el("tbody", {}, pairs.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, value)))))
      : "No parameters.",
    el("p", { class: "muted" }, `${row.method} from ${row.source_ip || "?"} · ${row.postback_id}`)));
}

const openPostbacks = new Set();
async function loadPostbacks() {
  await guarded("#postbacks-error", async () => {
    const data = await api("GET", `/api/postbacks?${listQueries.postbacks()}`);
    const columns = $("#postbacks-table thead tr").children.length;
    const rows = [];
    for (const row of data.items) {
      const toggle = () => {
        if (openPostbacks.has(row.postback_id)) openPostbacks.delete(row.postback_id);
        else openPostbacks.add(row.postback_id);
        loadPostbacks();
      };
      rows.push(el("tr", { class: "clickable", "data-postback": row.postback_id, title: "show the parameters", onclick: toggle },
        el("td", {}, time(row.received_at)), el("td", { class: "lo" }, row.network || ""), el("td", {}, badge(row.outcome)),
        el("td", {}, row.detail || ""), el("td", { class: "id lo" }, row.click_id || ""),
        el("td", { class: "id lo" }, row.conversion_id || ""), el("td", { class: "lo" }, row.source_ip || "")));
      if (openPostbacks.has(row.postback_id)) rows.push(paramsRow(row, columns));
    }
    fill("#postbacks-table", rows,
      `No postbacks yet. A network calls ${location.origin}/postback?clickid=<click ID>&payout=1.5&txid=<id>; the Tester tab sends one for you.`);
  });
}

async function replay(id, button) {
  button.disabled = true;
  button.textContent = "Replaying…";
  await guarded("#deliveries-error", () => api("POST", `/api/deliveries/${encodeURIComponent(id)}/replay`));
  setTimeout(loadDeliveries, 1500);
}

async function loadDeliveries() {
  await guarded("#deliveries-error", async () => {
    const data = await api("GET", `/api/deliveries?${listQueries.deliveries()}`);
    fill("#deliveries-table", data.items.map((row) => {
      const last = row.attempt_log[row.attempt_log.length - 1];
      const button = el("button", { class: "quiet replay" }, "Replay");
      button.addEventListener("click", () => replay(row.delivery_id, button));
      const log = row.attempt_log.map((a) => `#${a.attempt}  ${time(a.attempted_at)}  ${a.status_code ?? "—"}  ${a.latency_ms} ms  ${a.error || ""}  ${a.response_excerpt || ""}`).join("\n");
      const open = () => {
        const box = $("#delivery-detail");
        box.hidden = false;
        box.replaceChildren(el("h3", {}, `Attempts of ${row.delivery_id}`), el("pre", {}, log || "no attempt yet"));
      };
      return el("tr", { "data-delivery": row.delivery_id, class: "clickable", onclick: (event) => { if (event.target.tagName !== "BUTTON") open(); } },
        el("td", {}, time(row.created_at)), el("td", {}, row.destination), el("td", { class: "lo" }, row.type),
        el("td", {}, badge(row.state)), el("td", { class: "attempts" }, String(row.attempts)),
        el("td", { class: "lo" }, last ? `${last.status_code ?? "—"} ${last.error || ""}` : ""), el("td", {}, button));
    }), "No deliveries. Conversions are forwarded to the destinations configured under [[vars.EDGEBACK.destinations]].");
  });
}

// ---- Tester -------------------------------------------------------------------------------

async function runTester(event) {
  event.preventDefault();
  const box = $("#tester-result");
  box.hidden = false;
  let params;
  try {
    params = JSON.parse($("#tester-params").value || "{}");
  } catch {
    box.replaceChildren(el("p", { class: "error" }, "Parameters must be a JSON object."));
    return;
  }
  const body = { campaign: $("#tester-campaign").value.trim(), params, auth: $("#tester-auth").value };
  const network = $("#tester-network").value.trim();
  if (network) body.network = network;
  try {
    const result = await api("POST", "/api/test-postback", body);
    box.replaceChildren(el("p", {}, "Outcome: ", badge(result.outcome), ` (authentication ${result.auth?.mode || ""})`),
      el("pre", { id: "tester-json" }, JSON.stringify(result, null, 2)));
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

// ---- Health, options, navigation --------------------------------------------------------

// Click rows that could not be written when they were made are never silent: /healthz
// counts them (docs/clicks.md) and this banner shows what is not yet back.
async function loadHealth() {
  const response = await fetch("/healthz", { cache: "no-store" });
  const body = await response.json();
  const c = body.clicks || {};
  const notes = [];
  if (body.storage === "unavailable") notes.push("D1 is not answering.");
  if (c.clicks_lost > 0) notes.push(`${c.clicks_lost} click rows were lost (not stored, not spilled).`);
  const waiting = (c.clicks_spilled || 0) - (c.clicks_recovered || 0);
  if (waiting > 0) notes.push(`${waiting} click rows are spilled to KV, waiting for the 5-minute cron.`);
  if (c.conversions_past_hold > 0) notes.push(`${c.conversions_past_hold} conversions have waited over 10 minutes for their click row.`);
  else if (c.conversions_awaiting_click > 0) notes.push(`${c.conversions_awaiting_click} conversions are waiting for their click row.`);
  for (const d of body.failing_destinations || []) {
    notes.push(d.paused
      ? `Destination ${d.destination} is paused (failing since ${time(d.failing_since)}): replay a delivery to resume it.`
      : `Destination ${d.destination} is failing since ${time(d.failing_since)}.`);
  }
  const banner = $("#health");
  banner.hidden = notes.length === 0;
  banner.textContent = notes.join(" ");
}

function options(select, values, first) {
  const current = select.value;
  select.replaceChildren(...(first ? [el("option", { value: "" }, first)] : []), ...values.map((v) => el("option", { value: v }, v)));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

// Dropdown values that are known: campaigns from the configuration and KV, networks
// seen in the last 30 days' conversions and postbacks.
async function loadChoices() {
  const campaigns = await api("GET", "/api/campaigns").catch(() => ({ items: [] }));
  state.campaigns = [...new Set(campaigns.items.map((c) => c.id))].sort();
  document.querySelectorAll("select.campaigns").forEach((s) => options(s, state.campaigns, s.id === "tester-campaign" ? null : "any"));
  const tz = zone();
  const networks = await api("GET", `/api/report?${new URLSearchParams({ group_by: "network", tz, from: zoneDate(tz, -29), to: zoneDate(tz) })}`)
    .catch(() => ({ rows: [] }));
  const names = [...new Set(networks.rows.map((r) => r.network).filter(Boolean))].sort();
  document.querySelectorAll("select.networks").forEach((s) => options(s, names, "any"));
}

const loaders = {
  overview: loadOverview, report: () => loadReport(), clicks: loadClicks, conversions: loadConversions,
  postbacks: loadPostbacks, deliveries: loadDeliveries, tester: async () => {},
};

function show(tab) {
  state.tab = tab;
  document.querySelectorAll(".tab").forEach((section) => (section.hidden = section.id !== tab));
  document.querySelectorAll("#tabs button[data-tab]").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  loaders[tab]();
}

function signOut(message) {
  sessionStorage.removeItem("edgeback-token");
  state.token = "";
  clearInterval(state.timer);
  $("#tabs").hidden = true;
  $("#health").hidden = true;
  document.querySelectorAll(".tab").forEach((s) => (s.hidden = true));
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.hidden = !message;
  error.textContent = message || "";
}

async function signIn(token) {
  state.token = token;
  try {
    await api("GET", "/api/openapi.json");
  } catch (error) {
    if (state.token) {
      const box = $("#sign-in-error");
      box.hidden = false;
      box.textContent = error.message;
    }
    return;
  }
  sessionStorage.setItem("edgeback-token", token);
  $("#sign-in").hidden = true;
  $("#tabs").hidden = false;
  await loadChoices();
  show("overview");
  loadHealth().catch(() => {});
  clearInterval(state.timer);
  // The live log: refresh the postback log every 3 s while its tab is shown.
  state.timer = setInterval(() => {
    if (state.tab === "postbacks" && $("#postbacks-live").checked) loadPostbacks();
    if (++state.ticks % 10 === 0) loadHealth().catch(() => {});
  }, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#report-tz").value = localStorage.getItem("edgeback-tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("#zones").replaceChildren(...[...new Set([$("#report-tz").value, ...ZONES])].map((z) => el("option", { value: z })));
  options($("#postbacks-outcome"), OUTCOMES, "any");
  document.querySelectorAll("select.sub-names").forEach((s) => options(s, SUBS, null));
  applyRange();
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token").value.trim());
  });
  $("#sign-out").addEventListener("click", () => signOut());
  document.querySelectorAll("#tabs button[data-tab]").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
  for (const id of ["#postbacks-outcome", "#postbacks-network", "#postbacks-since"]) $(id).addEventListener("change", () => loadPostbacks());
  for (const id of ["#conversions-status", "#conversions-campaign", "#conversions-network", "#conversions-since", "#conversions-sub-name", "#conversions-sub-value"]) {
    $(id).addEventListener("change", () => loadConversions());
  }
  for (const id of ["#clicks-campaign", "#clicks-since", "#clicks-bot", "#clicks-sub-name", "#clicks-sub-value", "#clicks-country"]) {
    $(id).addEventListener("change", () => loadClicks());
  }
  $("#deliveries-state").addEventListener("change", () => loadDeliveries());
  $("#report-range").addEventListener("change", () => { applyRange(); if ($("#report-range").value !== "custom") loadReport(); });
  $("#report-tz").addEventListener("change", () => applyRange());
  $("#report-form").addEventListener("submit", loadReport);
  $("#report-table thead").addEventListener("click", (event) => {
    const key = event.target.closest("th")?.dataset.sort;
    if (!key) return;
    state.sort = { key, descending: state.sort.key === key ? !state.sort.descending : true };
    renderReport();
  });
  document.querySelectorAll("button.csv").forEach((b) => b.addEventListener("click", () => downloadCsv(b.dataset.csv, b)));
  $("#tester-form").addEventListener("submit", runTester);
  if (state.token) signIn(state.token);
});
