// The approver's console: the same API as everyone else, with the token kept in this tab only.
// Every value from the API is written with textContent, never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("paved-token") || "", me: null, catalog: [], selected: null, stream: null, refresh: 0 };
// Signed in with the identity provider: the HttpOnly session cookie goes with every call, and
// calls that change something carry the CSRF header the service asks of cookie sessions.
const auth = { session: false, tokens: true, sso: false };

/** The credentials of a call: the token typed in, else the session cookie (with the CSRF header). */
function credentials() {
  return state.token ? { authorization: `Bearer ${state.token}` } : { "x-paved-csrf": "1" };
}
const $ = (id) => document.getElementById(id);
const RISK_ORDER = ["critical", "high", "medium", "low", "none"];
const CANCELLABLE = ["previewing", "awaiting_approval", "approved"];

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { ...credentials(), ...(body ? { "content-type": "application/json" } : {}) },
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

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function cell(row, text) {
  return row.appendChild(el("td", text));
}

// What the signed-in person may do, mirroring the service's rules (the service still decides).

/** Approvals that count for the current preview: not the requester's, each person once. */
function countedApprovers(r) {
  const digest = r.preview ? r.preview.digest : undefined;
  const names = [];
  for (const a of r.approvals) if (a.digest === digest && a.by !== r.requestedBy && !names.includes(a.by)) names.push(a.by);
  return names;
}

/** "1 of 2 from platform: bob", or how the request went without a human. */
function approvalProgress(r) {
  if (!r.risk) return "";
  const need = r.risk.requiredApprovals;
  if (r.risk.blocked) return "Blocked by a mandatory policy: no approval can apply it";
  if (need.auto) return "No approval needed: within the team's autonomy";
  const names = countedApprovers(r);
  return `${names.length} of ${need.count}${need.group ? ` from ${need.group}` : ""}${names.length ? `: ${names.join(", ")}` : ""}`;
}

/** The requester's name, marked when an agent asked. */
function requester(r) {
  return r.actor && r.actor.kind === "agent" ? `${r.requestedBy} (agent)` : r.requestedBy;
}

/** Whether `me` may approve or reject `r` now, and if not, why (for the note under the progress). */
function decision(me, r) {
  if (r.status !== "awaiting_approval" || !r.risk) return { may: false, why: "" };
  const need = r.risk.requiredApprovals;
  if (me.kind === "agent") return { may: false, why: "Agents cannot approve or reject: a person must." };
  if (r.requestedBy === me.name) return { may: false, why: "You requested this change: someone else approves it. You can still cancel it." };
  const eligible = need.group ? me.groups.includes(need.group) : me.groups.length > 0 || me.teams.includes(r.team);
  if (!eligible) {
    const why = need.group ? `Only members of ${need.group} can approve this ${need.level}-risk change.` : `You may not approve requests of team ${r.team}.`;
    return { may: false, why };
  }
  if (countedApprovers(r).includes(me.name)) return { may: false, approved: true, why: "You approved this preview; it waits for the others." };
  return { may: true, why: "" };
}

// Parameters form, from the catalog's JSON Schemas.

function options(select, values, schema) {
  for (const v of values) {
    const o = el("option", v === "" ? `(default${schema.default !== undefined ? `: ${schema.default}` : ""})` : v);
    o.value = v;
    select.appendChild(o);
  }
}

function renderParams() {
  const offering = state.catalog.find((o) => o.name === $("offering").value);
  const box = $("params");
  box.replaceChildren(el("legend", "Parameters"));
  if (!offering) return;
  for (const [key, schema] of Object.entries(offering.parameters.properties || {})) {
    const label = el("label", `${key} `);
    let input;
    if (schema.enum) {
      input = document.createElement("select");
      options(input, ["", ...schema.enum], schema);
    } else if (schema.type === "boolean") {
      input = document.createElement("select");
      options(input, ["", "true", "false"], schema);
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

// The list and the detail.

async function loadRequests() {
  const { requests } = await api("GET", "/requests");
  const body = $("requests").querySelector("tbody");
  body.replaceChildren();
  for (const r of requests) {
    const row = el("tr");
    row.dataset.id = r.id;
    row.tabIndex = 0;
    if (state.selected && state.selected.id === r.id) row.className = "selected";
    cell(row, r.name);
    cell(row, r.action);
    cell(row, r.environment);
    cell(row, r.status).className = `status ${r.status}`;
    cell(row, r.risk ? r.risk.level : "");
    cell(row, r.status === "awaiting_approval" ? approvalProgress(r) : "");
    cell(row, requester(r));
    row.addEventListener("click", () => select(r.id));
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter") select(r.id);
    });
    body.appendChild(row);
  }
}

/** The preview's changes grouped by risk, highest first, each with its changed keys and reasons. */
function renderPreview(r) {
  const box = $("detail-preview");
  box.replaceChildren();
  const steps = r.preview ? r.preview.steps.filter((s) => s.op !== "same") : [];
  if (!r.preview) box.appendChild(el("p", r.status === "previewing" || r.status === "submitted" ? "Previewing…" : "No preview.", "note"));
  else if (steps.length === 0) box.appendChild(el("p", "No changes.", "note"));
  const levels = [...new Set(steps.map((s) => s.risk))].sort((a, b) => RISK_ORDER.indexOf(a) - RISK_ORDER.indexOf(b));
  for (const level of levels) {
    const group = steps.filter((s) => s.risk === level);
    const section = el("section", undefined, `risk-group risk-${level}`);
    section.dataset.risk = level;
    section.appendChild(el("h4", `${level} risk · ${group.length} change${group.length === 1 ? "" : "s"}`));
    const table = el("table");
    const head = el("tr");
    for (const h of ["Op", "Resource", "Type", "Changed keys", "Why"]) head.appendChild(el("th", h));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    for (const s of group) {
      const row = el("tr");
      cell(row, s.op);
      cell(row, s.urn.split("::").pop());
      cell(row, s.type);
      cell(row, s.changedKeys.length ? s.changedKeys.join(", ") : "—").className = "keys";
      cell(row, s.reasons.join("; "));
      body.appendChild(row);
    }
    section.appendChild(table);
    box.appendChild(section);
  }
}

function render(r) {
  const me = state.me;
  $("detail").hidden = false;
  $("detail-title").textContent = `${r.action} ${r.offering} ${r.name} (${r.team}/${r.environment})`;
  $("detail-summary").textContent =
    `Status ${r.status} · requested by ${requester(r)}` +
    (r.risk ? ` · ${r.risk.level} risk · needs ${r.risk.requiredApprovals.description}` : "") +
    (r.engine === "simulate" ? " · simulated: nothing real is provisioned" : "");
  $("detail-reasons").replaceChildren(...(r.risk ? r.risk.reasons : []).map((t) => el("li", t)));

  const progress = approvalProgress(r);
  const box = $("detail-approvals");
  box.hidden = !r.risk;
  const satisfied = r.risk && (r.risk.requiredApprovals.auto || countedApprovers(r).length >= r.risk.requiredApprovals.count);
  box.className = `approvals ${r.status === "awaiting_approval" ? "pending" : satisfied ? "done" : ""}`;
  $("approval-progress").textContent = progress ? `Approvals: ${progress}` : "";
  $("approval-list").replaceChildren(
    ...r.approvals.map((a) => {
      const stale = r.preview && a.digest !== r.preview.digest ? " (for an earlier preview: does not count)" : "";
      return el("li", `${a.by} approved at ${new Date(a.at).toLocaleString()}${a.comment ? `: “${a.comment}”` : ""}${stale}`);
    }),
  );
  // The escalation ladder's rungs the request reached (a rung may add an approver group).
  $("escalation-list").replaceChildren(
    ...(r.escalations || []).map((e) =>
      el(
        "li",
        `Escalated (rung ${e.rung}) at ${new Date(e.at).toLocaleString()}${e.addedGroup ? `: members of ${e.addedGroup} may approve from then on` : ""}`,
      ),
    ),
  );
  const d = decision(me, r);
  $("approval-note").textContent = d.why;
  $("decide").hidden = !d.may;
  $("own").hidden = !(r.requestedBy === me.name && CANCELLABLE.includes(r.status));

  renderPreview(r);
  $("detail-violations").replaceChildren(...r.violations.map((v) => el("li", `${v.enforcementLevel} ${v.policyName}: ${v.message}`)));
  $("detail-digest").textContent = r.preview ? `Preview digest ${r.preview.digest}` : "";
  $("detail-error").textContent = r.error || "";
  $("detail-outputs").textContent = r.outputs ? JSON.stringify(r.outputs, null, 2) : "";
}

async function show(id) {
  const r = await api("GET", `/requests/${id}`);
  if (state.selected && state.selected.id !== id) return;
  state.selected = r;
  render(r);
}

async function select(id) {
  const same = state.selected && state.selected.id === id;
  if (!same) {
    $("comment").value = "";
    $("detail-events").replaceChildren();
    state.selected = { id };
  }
  await show(id);
  if (!same) follow(id);
  for (const row of $("requests").querySelectorAll("tbody tr")) row.className = row.dataset.id === id ? "selected" : "";
}

// Live updates: the request's Server-Sent Events, read with fetch because EventSource cannot send
// the Authorization header. Each event refreshes the detail and the list; a dropped stream resumes
// with Last-Event-ID; the service ends it after a terminal status.

function describeEvent(type, data) {
  if (type === "progress") return data.line || "";
  let text = `status ${data.status}`;
  if (data.approvedBy) text += Array.isArray(data.approvedBy) ? ` (approved by ${data.approvedBy.join(", ")})` : ` (approval from ${data.approvedBy})`;
  if (data.by) text += ` by ${data.by}`;
  if (data.needs) text += `: needs ${data.needs}`;
  if (data.auto) text += " (automatically: within the team's autonomy)";
  return text;
}

function scheduleRefresh(id) {
  clearTimeout(state.refresh);
  state.refresh = setTimeout(() => {
    show(id).catch(() => undefined);
    loadRequests().catch(() => undefined);
  }, 100);
}

async function follow(id) {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  let last = 0;
  let ended = false;
  const live = $("live");
  while (!controller.signal.aborted && !ended) {
    try {
      const headers = { ...credentials(), accept: "text/event-stream", ...(last ? { "last-event-id": String(last) } : {}) };
      const res = await fetch(`/requests/${id}/events`, { headers, signal: controller.signal });
      if (!res.ok || !res.body) break;
      live.textContent = "● live";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = { id: 0, type: "message", data: "" };
          for (const line of block.split("\n")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "id") event.id = Number(val);
            else if (field === "event") event.type = val;
            else if (field === "data") event.data += val;
          }
          if (event.id) last = event.id;
          let data = {};
          try {
            data = JSON.parse(event.data);
          } catch {
            data = { line: event.data };
          }
          $("detail-events").appendChild(el("li", describeEvent(event.type, data)));
          if (event.type === "status" && ["succeeded", "failed", "blocked", "rejected", "cancelled", "expired"].includes(data.status)) ended = true;
          scheduleRefresh(id);
        }
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    if (!ended && !controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (state.stream === controller) live.textContent = ended ? "" : "(not live: reload to update)";
}

async function decide(kind) {
  const r = state.selected;
  $("detail-error").textContent = "";
  try {
    if (kind === "approve")
      await api("POST", `/requests/${r.id}/approve`, { digest: r.preview.digest, ...($("comment").value ? { comment: $("comment").value } : {}) });
    else if (kind === "reject") await api("POST", `/requests/${r.id}/reject`, { reason: $("comment").value || "rejected from the web page" });
    else await api("POST", `/requests/${r.id}/cancel`);
    await show(r.id);
    await loadRequests();
  } catch (err) {
    $("detail-error").textContent = err.message;
  }
}

// Each team's autonomy: configured, or earned per offering and action, with the record.

async function loadAutonomy(teams) {
  const items = [];
  for (const team of teams) {
    const a = await api("GET", `/teams/${team}/autonomy`);
    items.push(
      el("li", `${team}: ${a.autonomy}${a.earn ? ` (earns up to ${a.earn.upTo} after ${a.earn.after} approved successes within ${a.earn.within})` : ""}`),
    );
    for (const r of a.records) {
      const who = r.agent ? ` by agent ${r.agent}` : "";
      const last = r.lastBreak ? `; last ${r.lastBreak.outcome} ${new Date(r.lastBreak.at).toLocaleDateString()}` : "";
      items.push(
        el(
          "li",
          `${team} · ${r.offering} ${r.action}${who}: ${r.level}${r.reason ? ` (${r.reason})` : ""} · ${r.successes} approved successes${last}`,
          "record",
        ),
      );
    }
  }
  $("autonomy-list").replaceChildren(...items);
  $("autonomy").hidden = items.length === 0;
}

// Signing in and out.

async function signIn() {
  const me = await api("GET", "/me");
  const health = await fetch("/healthz").then((r) => r.json());
  const { offerings } = await api("GET", "/catalog");
  state.me = me;
  state.catalog = offerings;
  $("engine").textContent = health.engine === "simulate" ? "Engine: simulate. Nothing real is provisioned." : `Engine: ${health.engine}`;
  $("engine").hidden = false;
  const roles = [me.teams.length ? `team ${me.teams.join(", ")}` : "", me.groups.length ? `approver in ${me.groups.join(", ")}` : ""].filter(Boolean);
  $("signed-in").textContent = `Signed in as ${me.name}${me.kind === "agent" ? " (agent)" : ""}${roles.length ? ` (${roles.join("; ")})` : ""}`;
  $("my-teams").replaceChildren(...me.teams.map((t) => Object.assign(el("option"), { value: t })));
  if (me.teams.length === 1 && !$("team").value) $("team").value = me.teams[0];
  $("offering").replaceChildren(...offerings.map((o) => Object.assign(el("option", o.title), { value: o.name })));
  renderParams();
  $("who").textContent = "";
  $("login").hidden = true;
  $("sso").hidden = true;
  $("session").hidden = false;
  $("app").hidden = false;
  await loadRequests();
  await loadAutonomy(me.teams).catch(() => undefined);
  // A link to one request (an agent's `get_request` gives one): open it.
  if (/^#req_[0-9a-f-]{36}$/.test(location.hash)) await select(location.hash.slice(1));
  // A notification's link: `?request=<id>` opens that request.
  const linked = new URLSearchParams(location.search).get("request");
  if (linked && !state.selected) await select(linked).catch(() => undefined);
}

function signOut() {
  if (state.stream) state.stream.abort();
  if (auth.session) {
    auth.session = false;
    fetch("/auth/logout", { method: "POST", headers: { "x-paved-csrf": "1" } }).catch(() => undefined);
  }
  sessionStorage.removeItem("paved-token");
  Object.assign(state, { token: "", me: null, selected: null, stream: null });
  $("token").value = "";
  $("app").hidden = true;
  $("detail").hidden = true;
  $("session").hidden = true;
  $("engine").hidden = true;
  $("login").hidden = !auth.tokens;
  $("sso").hidden = !auth.sso;
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
$("sign-out").addEventListener("click", signOut);
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
    await select(r.id);
  } catch (err) {
    $("request-error").textContent = err.message;
  }
});
$("approve").addEventListener("click", () => decide("approve"));
$("reject").addEventListener("click", () => decide("reject"));
$("cancel").addEventListener("click", () => decide("cancel"));
// New requests from others show up in the list; the open request updates over its event stream.
setInterval(() => {
  if ((state.token || auth.session) && !$("app").hidden) loadRequests().catch(() => undefined);
}, 5000);

// What the service offers: single sign-on, static tokens, or both. A session cookie from a
// sign-in with the identity provider signs the page in on load.
async function start() {
  const offered = await fetch("/auth/config")
    .then((r) => r.json())
    .catch(() => ({ sso: false, tokens: true }));
  auth.sso = offered.sso;
  auth.tokens = offered.tokens;
  $("login").hidden = !auth.tokens;
  $("sso").hidden = !auth.sso;
  if (state.token) {
    $("token").value = state.token;
    return signIn().catch(() => {
      sessionStorage.removeItem("paved-token");
      state.token = "";
      $("app").hidden = true;
    });
  }
  if (!auth.sso) return;
  auth.session = true;
  await signIn().catch(() => {
    auth.session = false; // no session, or it expired: the sign-in link stays
    $("app").hidden = true;
  });
}
start();
