// The edgeback dashboard: a thin client of the admin API (/api/…). No dependencies.
"use strict";

const state = { token: sessionStorage.getItem("edgeback-token") || "", tab: "postbacks", timer: null, ticks: 0 };

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) {
    signOut("The token was refused.");
    throw new Error("unauthorized");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 202) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");
const GOOD = new Set(["accepted", "updated", "delivered"]);
const MEH = new Set(["duplicate", "pending", "retrying"]);
function badge(text) {
  const kind = GOOD.has(text) ? " good" : MEH.has(text) ? " meh" : "";
  return el("span", { class: `outcome${kind}`, "data-outcome": text }, text);
}

function fill(table, rows) {
  const body = $(`${table} tbody`);
  body.replaceChildren(...rows);
}

async function loadPostbacks() {
  const outcome = $("#postbacks-outcome").value.trim();
  const data = await api("GET", `/api/postbacks?limit=100${outcome ? `&outcome=${encodeURIComponent(outcome)}` : ""}`);
  fill("#postbacks-table", data.items.map((row) => el("tr", { "data-postback": row.postback_id },
    el("td", {}, time(row.received_at)), el("td", {}, row.network || ""), el("td", {}, badge(row.outcome)),
    el("td", {}, row.detail || ""), el("td", { class: "id" }, row.click_id || ""),
    el("td", { class: "id" }, row.conversion_id || ""), el("td", {}, row.source_ip || ""))));
}

async function showConversion(id) {
  const data = await api("GET", `/api/conversions/${encodeURIComponent(id)}`);
  const box = $("#conversion-detail");
  box.hidden = false;
  box.replaceChildren(
    el("h3", {}, `Conversion ${id}`),
    el("pre", {}, [
      `campaign ${data.conversion.campaign ?? "(not yet known)"}  country ${data.conversion.country ?? "-"}  external_id ${data.conversion.external_id ?? "-"}`,
      Object.entries(data.conversion.sub || {}).map(([k, v]) => `${k}=${v}`).join("  ") || "no sub-IDs",
      data.conversion.attributed ? "" : "waiting for its click row: deliveries are held",
    ].filter(Boolean).join("\n")),
    el("h4", {}, "History"),
    el("pre", {}, data.history.map((h) => `v${h.version}  ${time(h.changed_at)}  ${h.status}  ${(h.payout_micros / 1e6).toFixed(6)} ${h.currency}`).join("\n")),
    el("h4", {}, "Deliveries"),
    el("pre", {}, data.deliveries.map((d) => `${d.destination}  ${d.type} v${d.version}  ${d.state}  attempts ${d.attempts}`).join("\n") || "none"),
  );
}

async function loadConversions() {
  const status = $("#conversions-status").value;
  const campaign = $("#conversions-campaign").value.trim();
  const query = new URLSearchParams({ limit: "100" });
  if (status) query.set("status", status);
  if (campaign) query.set("campaign", campaign);
  const data = await api("GET", `/api/conversions?${query}`);
  fill("#conversions-table", data.items.map((row) => el("tr", { class: "clickable", onclick: () => showConversion(row.conversion_id) },
    el("td", {}, time(row.created_at)), el("td", {}, row.campaign || ""), el("td", {}, row.network),
    el("td", {}, row.event), el("td", {}, badge(row.status)), el("td", {}, `${row.payout} ${row.currency}`),
    el("td", {}, String(row.version)), el("td", { class: "id" }, row.transaction_id || ""))));
}

async function replay(id, button) {
  button.disabled = true;
  button.textContent = "Replaying…";
  await api("POST", `/api/deliveries/${encodeURIComponent(id)}/replay`);
  setTimeout(loadDeliveries, 1500);
}

async function loadDeliveries() {
  const deliveryState = $("#deliveries-state").value;
  const data = await api("GET", `/api/deliveries?limit=100${deliveryState ? `&state=${deliveryState}` : ""}`);
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
      el("td", {}, time(row.created_at)), el("td", {}, row.destination), el("td", {}, row.type),
      el("td", {}, badge(row.state)), el("td", { class: "attempts" }, String(row.attempts)),
      el("td", {}, last ? `${last.status_code ?? "—"} ${last.error || ""}` : ""), el("td", {}, button));
  }));
}

function drawChart(rows) {
  const svg = $("#report-chart");
  const width = 600, height = 200, pad = 24;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.clicks || 0, r.conversions || 0)));
  const slot = (width - 2 * pad) / Math.max(1, rows.length);
  const bar = Math.max(2, slot / 2 - 2);
  const ns = "http://www.w3.org/2000/svg";
  const shapes = [];
  rows.forEach((row, index) => {
    const x = pad + index * slot;
    for (const [kind, offset] of [["clicks", 0], ["conversions", bar + 1]]) {
      const value = row[kind] || 0;
      const h = ((height - 2 * pad) * value) / max;
      const rect = document.createElementNS(ns, "rect");
      Object.entries({ x: x + offset, y: height - pad - h, width: bar, height: h, class: kind }).forEach(([k, v]) => rect.setAttribute(k, v));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${row.day}: ${value} ${kind}`;
      rect.append(title);
      shapes.push(rect);
    }
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x);
    label.setAttribute("y", height - 6);
    label.textContent = (row.day || "").slice(5);
    shapes.push(label);
  });
  svg.replaceChildren(...shapes);
}

const money = (map) => Object.entries(map || {}).map(([c, v]) => `${v} ${c}`).join(", ");

async function loadReport(event) {
  if (event) event.preventDefault();
  const query = new URLSearchParams({ group_by: "day" });
  for (const name of ["from", "to", "tz"]) {
    const value = $(`#report-${name}`).value.trim();
    if (value) query.set(name, value);
  }
  const data = await api("GET", `/api/report?${query}`);
  drawChart(data.rows);
  fill("#report-table", data.rows.map((r) => el("tr", {},
    el("td", {}, r.day), el("td", {}, String(r.clicks ?? "—")), el("td", {}, String(r.bot_clicks ?? "—")),
    el("td", {}, String(r.conversions)), el("td", {}, String(r.approved)), el("td", {}, money(r.revenue)),
    el("td", {}, money(r.pending_revenue)), el("td", {}, r.cr ?? "—"), el("td", {}, money(r.epc)),
    el("td", {}, r.approval_rate ?? "—"), el("td", {}, String(r.duplicates)),
    el("td", {}, Object.entries(r.refused_postbacks).map(([o, n]) => `${o}: ${n}`).join(", ")))));
}

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

const loaders = { postbacks: loadPostbacks, conversions: loadConversions, deliveries: loadDeliveries, report: loadReport, tester: async () => {} };

function show(tab) {
  state.tab = tab;
  document.querySelectorAll(".tab").forEach((section) => (section.hidden = section.id !== tab));
  document.querySelectorAll("#tabs button[data-tab]").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  loaders[tab]().catch((error) => console.warn(error));
}

function signOut(message) {
  sessionStorage.removeItem("edgeback-token");
  state.token = "";
  clearInterval(state.timer);
  $("#tabs").hidden = true;
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
  } catch {
    return;
  }
  sessionStorage.setItem("edgeback-token", token);
  $("#sign-in").hidden = true;
  $("#tabs").hidden = false;
  show("postbacks");
  loadHealth().catch(() => {});
  clearInterval(state.timer);
  // The live log: refresh the postback log every 3 s while its tab is shown.
  state.timer = setInterval(() => {
    if (state.tab === "postbacks" && $("#postbacks-live").checked) loadPostbacks().catch(() => {});
    if (++state.ticks % 10 === 0) loadHealth().catch(() => {});
  }, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token").value.trim());
  });
  $("#sign-out").addEventListener("click", () => signOut());
  document.querySelectorAll("#tabs button[data-tab]").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
  $("#postbacks-outcome").addEventListener("change", () => loadPostbacks());
  $("#conversions-status").addEventListener("change", () => loadConversions());
  $("#conversions-campaign").addEventListener("change", () => loadConversions());
  $("#deliveries-state").addEventListener("change", () => loadDeliveries());
  $("#report-form").addEventListener("submit", loadReport);
  $("#tester-form").addEventListener("submit", runTester);
  if (state.token) signIn(state.token);
});
