// The self-service page: the same API as everyone else, with the token kept in this tab only.
// Every value from the API is written with textContent, never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("paved-token") || "", catalog: [], selected: null };
const $ = (id) => document.getElementById(id);

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || { code: String(res.status), message: res.statusText };
    const issues = (e.issues || []).map((i) => `${i.path}: ${i.message}`).join("; ");
    throw new Error(`${e.message}${issues ? ` (${issues})` : ""}`);
  }
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function renderParams() {
  const offering = state.catalog.find((o) => o.name === $("offering").value);
  const box = $("params");
  box.replaceChildren();
  const legend = document.createElement("legend");
  legend.textContent = "Parameters";
  box.appendChild(legend);
  if (!offering) return;
  for (const [key, schema] of Object.entries(offering.parameters.properties || {})) {
    const label = document.createElement("label");
    label.textContent = `${key} `;
    let input;
    if (schema.enum) {
      input = document.createElement("select");
      for (const v of ["", ...schema.enum]) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = v === "" ? `(default${schema.default !== undefined ? `: ${schema.default}` : ""})` : v;
        input.appendChild(o);
      }
    } else if (schema.type === "boolean") {
      input = document.createElement("select");
      for (const v of ["", "true", "false"]) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = v === "" ? `(default${schema.default !== undefined ? `: ${schema.default}` : ""})` : v;
        input.appendChild(o);
      }
    } else {
      input = document.createElement("input");
      if (schema.type === "integer" || schema.type === "number") input.type = "number";
      input.placeholder = schema.default !== undefined ? `default ${schema.default}` : "";
    }
    input.dataset.param = key;
    input.dataset.type = schema.type || "string";
    input.title = schema.description || "";
    label.appendChild(input);
    box.appendChild(label);
  }
}

function readParams() {
  const params = {};
  for (const input of $("params").querySelectorAll("[data-param]")) {
    if (input.value === "") continue;
    const type = input.dataset.type;
    params[input.dataset.param] = type === "integer" || type === "number" ? Number(input.value) : type === "boolean" ? input.value === "true" : input.value;
  }
  return params;
}

async function loadRequests() {
  const { requests } = await api("GET", "/requests");
  const body = $("requests").querySelector("tbody");
  body.replaceChildren();
  for (const r of requests) {
    const row = document.createElement("tr");
    row.dataset.id = r.id;
    row.tabIndex = 0;
    cell(row, r.name);
    cell(row, r.action);
    cell(row, r.environment);
    cell(row, r.status).className = `status ${r.status}`;
    cell(row, r.risk ? r.risk.level : "");
    cell(row, r.requestedBy);
    row.addEventListener("click", () => show(r.id));
    body.appendChild(row);
  }
}

async function show(id) {
  const r = await api("GET", `/requests/${id}`);
  state.selected = r;
  $("detail").hidden = false;
  $("detail-title").textContent = `${r.action} ${r.offering} ${r.name} (${r.team}/${r.environment})`;
  $("detail-summary").textContent = `Status ${r.status}` + (r.risk ? ` · ${r.risk.level} risk · ${r.risk.requiredApprovals.description}` : "") + (r.engine === "simulate" ? " · simulated: nothing real is provisioned" : "");
  const reasons = $("detail-reasons");
  reasons.replaceChildren(...(r.risk ? r.risk.reasons : []).map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  const steps = $("detail-steps").querySelector("tbody");
  steps.replaceChildren();
  for (const s of r.preview ? r.preview.steps.filter((x) => x.op !== "same") : []) {
    const row = document.createElement("tr");
    cell(row, s.op);
    cell(row, s.type);
    cell(row, s.urn.split("::").pop());
    cell(row, s.risk);
    cell(row, s.changedKeys.join(", "));
    steps.appendChild(row);
  }
  $("detail-violations").replaceChildren(...r.violations.map((v) => Object.assign(document.createElement("li"), { textContent: `${v.enforcementLevel} ${v.policyName}: ${v.message}` })));
  $("detail-digest").textContent = r.preview ? `Preview digest ${r.preview.digest}` : "";
  $("decide").hidden = r.status !== "awaiting_approval";
  $("detail-error").textContent = r.error || "";
  $("detail-outputs").textContent = r.outputs ? JSON.stringify(r.outputs, null, 2) : "";
}

async function decide(kind) {
  const r = state.selected;
  $("detail-error").textContent = "";
  try {
    if (kind === "approve") await api("POST", `/requests/${r.id}/approve`, { digest: r.preview.digest, ...($("comment").value ? { comment: $("comment").value } : {}) });
    else await api("POST", `/requests/${r.id}/reject`, { reason: $("comment").value || "rejected from the web page" });
    await show(r.id);
    await loadRequests();
  } catch (err) {
    $("detail-error").textContent = err.message;
  }
}

async function signIn() {
  const health = await fetch("/healthz").then((r) => r.json());
  $("engine").hidden = false;
  $("engine").textContent = health.engine === "simulate" ? "Engine: simulate. Nothing real is provisioned." : `Engine: ${health.engine}`;
  const { offerings } = await api("GET", "/catalog");
  state.catalog = offerings;
  const select = $("offering");
  select.replaceChildren(...offerings.map((o) => Object.assign(document.createElement("option"), { value: o.name, textContent: o.title })));
  renderParams();
  $("app").hidden = false;
  $("who").textContent = "Signed in";
  await loadRequests();
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  state.token = $("token").value;
  try {
    await signIn();
    sessionStorage.setItem("paved-token", state.token);
  } catch (err) {
    $("who").textContent = err.message;
    $("app").hidden = true;
  }
});
$("offering").addEventListener("change", renderParams);
$("request").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("request-error").textContent = "";
  try {
    const r = await api("POST", "/requests", {
      action: $("action").value,
      team: $("team").value,
      environment: $("environment").value,
      offering: $("offering").value,
      name: $("name").value,
      params: readParams(),
    });
    await loadRequests();
    await show(r.id);
  } catch (err) {
    $("request-error").textContent = err.message;
  }
});
$("approve").addEventListener("click", () => decide("approve"));
$("reject").addEventListener("click", () => decide("reject"));
setInterval(() => {
  if (!state.token || $("app").hidden) return;
  loadRequests().catch(() => undefined);
  if (state.selected) show(state.selected.id).catch(() => undefined);
}, 2000);
if (state.token) {
  $("token").value = state.token;
  signIn().catch(() => sessionStorage.removeItem("paved-token"));
}
