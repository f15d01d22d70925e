// Tempograph's console: plain JavaScript over the API's own JSON endpoints, with the
// same credentials as any client (kept in this tab's sessionStorage). No build step.
"use strict";

const view = document.getElementById("view");
let info = null;

// -- the API ---------------------------------------------------------------------------

function credentials() {
  const kind = sessionStorage.getItem("tempograph.kind");
  const secret = sessionStorage.getItem("tempograph.secret");
  if (!secret) return {};
  return kind === "bearer" ? { Authorization: `Bearer ${secret}` } : { "x-api-key": secret };
}

class NeedsLogin extends Error {}

async function api(path, options = {}) {
  const headers = { ...credentials(), ...(options.body ? { "content-type": "application/json" } : {}) };
  const reply = await fetch(path, { ...options, headers, body: options.body ? JSON.stringify(options.body) : undefined });
  if (reply.status === 401) throw new NeedsLogin();
  const text = await reply.text();
  const body = text ? JSON.parse(text) : null;
  if (!reply.ok) throw new Error((body && body.detail) ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : `${reply.status}`);
  return body;
}

// -- helpers ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
const json = (value) => esc(JSON.stringify(value, null, 2));
const status = (s) => `<span class="status ${esc(s)}">${esc(s)}</span>`;
function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86400)} d`;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
function cost(usage) {
  if (!usage || !usage.total_tokens) return '<span class="muted">no model calls</span>';
  const dollars = usage.cost_usd == null ? "unpriced" : `$${usage.cost_usd.toFixed(4)}`;
  return `${dollars} <span class="muted">(${usage.input_tokens} in / ${usage.output_tokens} out tokens)</span>`;
}

// -- views -----------------------------------------------------------------------------

async function threadsView(query) {
  const filters = {
    status: query.get("status") || "",
    graph: query.get("graph") || "",
    metadata: query.get("metadata") || "",
  };
  let metadata = {};
  let problem = "";
  if (filters.metadata) {
    try { metadata = JSON.parse(filters.metadata); } catch (err) { problem = `metadata is not JSON: ${err.message}`; }
  }
  if (filters.graph) metadata.graph_id = filters.graph;
  const search = { limit: 50, metadata };
  if (filters.status) search.status = filters.status;
  const threads = problem ? [] : await api("/threads/search", { method: "POST", body: search });
  view.innerHTML = `
    <h2>Threads</h2>
    <form class="filters" id="filters">
      <label>Status <select name="status">${["", "idle", "busy", "interrupted", "error"].map((s) => `<option ${s === filters.status ? "selected" : ""} value="${s}">${s || "any"}</option>`).join("")}</select></label>
      <label>Graph <input name="graph" value="${esc(filters.graph)}" placeholder="graph id"></label>
      <label>Metadata <input name="metadata" value="${esc(filters.metadata)}" placeholder='{"owner": "me"}' size="28"></label>
      <button type="submit">Search</button>
    </form>
    <p class="error">${esc(problem)}</p>
    <table id="threads"><thead><tr><th>Thread</th><th>Graph</th><th>Status</th><th>Updated</th></tr></thead><tbody>
    ${threads.map((t) => `<tr><td><a href="#/thread/${esc(t.thread_id)}">${esc(t.metadata.name || t.thread_id)}</a></td>
      <td>${esc(t.metadata.graph_id || "")}</td><td>${status(t.status)}</td><td>${esc(when(t.updated_at))}</td></tr>`).join("")
      || '<tr><td colspan="4" class="muted">No threads match.</td></tr>'}
    </tbody></table>`;
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const params = new URLSearchParams([...form.entries()].filter(([, v]) => v));
    location.hash = `#/?${params}`;
  });
}

async function threadView(threadId) {
  const [thread, runs, history] = await Promise.all([
    api(`/threads/${threadId}`),
    api(`/threads/${threadId}/runs?limit=100`),
    api(`/threads/${threadId}/history`, { method: "POST", body: { limit: 50 } }),
  ]);
  view.innerHTML = `
    <h2>Thread ${esc(thread.metadata.name || thread.thread_id)} ${status(thread.status)}</h2>
    <p class="muted">${esc(thread.thread_id)} · graph ${esc(thread.metadata.graph_id || "?")} · created ${esc(when(thread.created_at))}</p>
    <h3>Runs</h3>
    <table id="runs"><thead><tr><th>Run</th><th>Status</th><th>Started</th><th>Cost</th></tr></thead><tbody>
    ${runs.map((r) => `<tr><td><a href="#/run/${esc(threadId)}/${esc(r.run_id)}">${esc(r.run_id)}</a></td><td>${status(r.status)}</td>
      <td>${esc(when(r.created_at))}</td><td>${cost(r.usage)}</td></tr>`).join("") || '<tr><td colspan="4" class="muted">No runs.</td></tr>'}
    </tbody></table>
    <h3>State at every checkpoint (newest first), with what changed</h3>
    <div class="checkpoints">${checkpoints(history)}</div>`;
}

function checkpoints(history) {
  return history.map((state, i) => {
    const older = history[i + 1];
    const changes = diff(older ? older.values : {}, state.values || {});
    const step = state.metadata ? state.metadata.step : "";
    const source = state.metadata ? state.metadata.source : "";
    return `<div class="checkpoint"><div><b>step ${esc(step)}</b> <span class="muted">${esc(source)} · ${esc(state.checkpoint && state.checkpoint.checkpoint_id)} · next: ${esc((state.next || []).join(", ") || "—")}</span></div>
      <div class="diff">${changes.map((c) => `<div class="diff-${c.kind}">${c.kind} <code>${esc(c.key)}</code>: ${esc(c.text)}</div>`).join("") || '<span class="muted">no change</span>'}</div>
      <details><summary>values</summary><pre>${json(state.values)}</pre></details></div>`;
  }).join("") || '<p class="muted">No checkpoints.</p>';
}

function diff(before, after) {
  const out = [];
  const brief = (v) => { const s = JSON.stringify(v); return s && s.length > 160 ? `${s.slice(0, 160)}…` : s; };
  for (const key of Object.keys(after)) {
    if (!(key in before)) out.push({ kind: "added", key, text: brief(after[key]) });
    else if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      const a = before[key], b = after[key];
      const text = Array.isArray(a) && Array.isArray(b) && b.length > a.length
        ? `+${b.length - a.length} item(s): ${brief(b.slice(a.length))}` : `${brief(a)} → ${brief(b)}`;
      out.push({ kind: "changed", key, text });
    }
  }
  for (const key of Object.keys(before)) if (!(key in after)) out.push({ kind: "removed", key, text: brief(before[key]) });
  return out;
}

async function runView(threadId, runId) {
  const [run, attempts] = await Promise.all([
    api(`/threads/${threadId}/runs/${runId}`),
    api(`/threads/${threadId}/runs/${runId}/attempts`),
  ]);
  let graph = null;
  try { graph = await api(`/assistants/${run.assistant_id}/graph`); } catch (err) { graph = null; }
  const temporal = info && info.temporal_ui && run.workflow_id
    ? `<a id="temporal-link" href="${esc(info.temporal_ui)}/namespaces/${esc(info.namespace)}/workflows/${esc(run.workflow_id)}" target="_blank" rel="noopener">Open in the Temporal UI</a>` : "";
  view.innerHTML = `
    <h2>Run ${esc(run.run_id)} ${status(run.status)}</h2>
    <p class="muted">thread <a href="#/thread/${esc(threadId)}">${esc(threadId)}</a> · started ${esc(when(run.created_at))} · ${temporal}</p>
    <div class="card"><b>Cost</b>: <span id="cost">${cost(run.usage)}</span>
      ${Object.entries((run.usage || {}).models || {}).map(([m, u]) => `<div class="muted">${esc(m)}: ${u.calls} call(s), ${u.input_tokens} in / ${u.output_tokens} out${u.cost_usd == null ? "" : `, $${u.cost_usd.toFixed(4)}`}</div>`).join("")}</div>
    <h3>Timeline</h3><div class="timeline card" id="timeline">${timeline(attempts)}</div>
    <h3>Graph</h3><div class="card">${graph ? drawGraph(graph, attempts) : '<span class="muted">not available</span>'}</div>`;
  if (run.status === "pending" || run.status === "running") {
    // Follow it while it runs: the same page, fresh, until it ends.
    const here = location.hash;
    setTimeout(() => { if (location.hash === here) route(); }, 1000);
  }
}

function timeline(attempts) {
  if (!attempts.length) return '<span class="muted">No node ran in this run.</span>';
  const start = Math.min(...attempts.map((a) => new Date(a.started_at).getTime()));
  const end = Math.max(...attempts.map((a) => new Date(a.ended_at).getTime()));
  const span = Math.max(end - start, 1);
  return attempts.map((a) => {
    const left = ((new Date(a.started_at).getTime() - start) / span) * 100;
    const width = Math.max((a.duration_ms / span) * 100, 0.3);
    const error = a.error ? `<div class="error">${esc(a.error.error)}: ${esc(a.error.message)}</div>` : "";
    return `<div class="row attempt"><div>${esc(a.node)} <span class="muted">attempt ${a.attempt}</span> ${status(a.outcome)}</div>
      <div class="track"><div class="bar ${esc(a.outcome)}" style="left:${left}%;width:${width}%" title="${esc(a.duration_ms)} ms"></div></div>
      <div class="muted">${a.duration_ms} ms</div></div>${error}`;
  }).join("");
}

function drawGraph(graph, attempts) {
  // Layers by longest path from __start__; edges drawn straight, conditional ones dashed.
  const ids = graph.nodes.map((n) => String(n.id));
  const layer = Object.fromEntries(ids.map((id) => [id, 0]));
  for (let pass = 0; pass < ids.length; pass++) {
    for (const e of graph.edges) {
      if (e.source === e.target) continue;
      if (layer[e.target] <= layer[e.source] && layer[e.source] + 1 < ids.length) layer[e.target] = layer[e.source] + 1;
    }
  }
  const rows = {};
  for (const id of ids) (rows[layer[id]] = rows[layer[id]] || []).push(id);
  const pos = {};
  const width = 150, height = 34, gapX = 30, gapY = 40;
  const widest = Math.max(...Object.values(rows).map((r) => r.length));
  Object.entries(rows).forEach(([y, row]) => row.forEach((id, x) => {
    const offset = ((widest - row.length) * (width + gapX)) / 2;
    pos[id] = { x: 10 + offset + x * (width + gapX), y: 10 + Number(y) * (height + gapY) };
  }));
  const outcome = {};
  for (const a of attempts) outcome[a.node] = a.outcome === "ok" || a.outcome === "interrupted" ? "ran" : (outcome[a.node] === "ran" ? "ran" : "failed");
  const lines = graph.edges.filter((e) => pos[e.source] && pos[e.target]).map((e) => {
    const a = pos[e.source], b = pos[e.target];
    return `<line class="${e.conditional ? "conditional" : ""}" x1="${a.x + width / 2}" y1="${a.y + height}" x2="${b.x + width / 2}" y2="${b.y}" marker-end="url(#arrow)"/>`;
  }).join("");
  const boxes = ids.map((id) => {
    const p = pos[id];
    return `<g class="node ${outcome[id] || ""}" data-node="${esc(id)}"><rect x="${p.x}" y="${p.y}" width="${width}" height="${height}" rx="6"/>
      <text x="${p.x + width / 2}" y="${p.y + 21}" text-anchor="middle">${esc(id)}</text></g>`;
  }).join("");
  const w = 20 + widest * (width + gapX), h = 20 + Object.keys(rows).length * (height + gapY);
  return `<svg id="graph" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8893a6"/></marker></defs>
    ${lines}${boxes}</svg>`;
}

async function approvalsView() {
  const threads = await api("/threads/search", { method: "POST", body: { status: "interrupted", limit: 100 } });
  const who = info && info.auth === "builtin" ? "approvers, operators and admins of this tenant"
    : info && info.auth === "custom" ? "whom this deployment's auth handlers allow" : "anyone (no authentication)";
  const items = [];
  for (const t of threads) {
    for (const [taskId, pending] of Object.entries(t.interrupts || {})) {
      for (const interrupt of pending) items.push({ thread: t, taskId, interrupt });
    }
  }
  view.innerHTML = `<h2>Approvals</h2>
    <p class="muted">Runs waiting at <code>interrupt()</code> for an answer. Who may answer: ${esc(who)}.
    An answer resumes the run as <code>command.resume</code> does.</p>
    <div id="approvals">${items.map((item, i) => approvalCard(item, i)).join("") || '<p class="muted">Nothing is waiting.</p>'}</div>`;
  items.forEach((item, i) => {
    const card = document.getElementById(`approval-${i}`);
    card.querySelectorAll("button[data-answer]").forEach((button) => button.addEventListener("click", () => answer(item, card, button.dataset.answer)));
  });
}

function approvalCard(item, i) {
  const value = item.interrupt.value;
  const question = typeof value === "string" ? value : (value && (value.question || value.description)) || JSON.stringify(value);
  return `<div class="card approval" id="approval-${i}">
    <div><b class="question">${esc(question)}</b></div>
    <div class="muted">thread <a href="#/thread/${esc(item.thread.thread_id)}">${esc(item.thread.metadata.name || item.thread.thread_id)}</a>
      · graph ${esc(item.thread.metadata.graph_id || "?")} · waiting ${esc(ago(item.thread.updated_at))}</div>
    <details><summary>what the graph asked</summary><pre>${json(value)}</pre></details>
    <label>Comment <input name="comment" size="60" placeholder="why (kept with the answer)"></label>
    <label>Edited answer (JSON, for Edit) <textarea name="edited">${json(value)}</textarea></label>
    <div style="margin-top:6px; display:flex; gap:8px">
      <button class="approve" data-answer="approve">Approve</button>
      <button class="reject" data-answer="reject">Reject</button>
      <button data-answer="edit">Edit &amp; answer</button>
    </div><p class="error" id="answer-error-${i}"></p></div>`;
}

function resumeValue(kind, comment, edited, asked) {
  // LangGraph's HumanInterrupt convention (Agent Inbox) gets HumanResponse answers.
  const request = Array.isArray(asked) ? asked[0] : asked;
  if (request && typeof request === "object" && request.action_request) {
    if (kind === "approve") return [{ type: "accept", args: null }];
    if (kind === "reject") return [{ type: "response", args: comment || "rejected" }];
    return [{ type: "edit", args: Array.isArray(edited) ? edited[0].action_request : edited }];
  }
  if (kind === "edit") return edited;
  return { approved: kind === "approve", comment };
}

async function answer(item, card, kind) {
  const error = card.querySelector(".error");
  const comment = card.querySelector("input[name=comment]").value;
  let edited = null;
  if (kind === "edit") {
    try { edited = JSON.parse(card.querySelector("textarea[name=edited]").value); } catch (err) {
      error.textContent = `The edited answer is not JSON: ${err.message}`; return;
    }
  }
  const asked = item.interrupt.value;
  try {
    const run = await api(`/threads/${item.thread.thread_id}/runs`, {
      method: "POST",
      body: {
        assistant_id: item.thread.metadata.graph_id,
        command: { resume: resumeValue(kind, comment, edited, asked) },
        metadata: { answered_with: kind, comment, answered_in: "console" },
      },
    });
    location.hash = `#/run/${item.thread.thread_id}/${run.run_id}`;
  } catch (err) {
    error.textContent = err.message;
  }
}

// -- routing ---------------------------------------------------------------------------

async function route() {
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/").split("/").filter(Boolean);
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === (parts[0] === "approvals" ? "approvals" : "runs")));
  try {
    if (!info) {
      info = await api("/info");
      document.getElementById("who").textContent = info.tenant ? `tenant ${info.tenant}` : "";
    }
    document.getElementById("login").hidden = true;
    view.innerHTML = '<p class="muted">Loading…</p>';
    if (parts[0] === "thread") await threadView(parts[1]);
    else if (parts[0] === "run") await runView(parts[1], parts[2]);
    else if (parts[0] === "approvals") await approvalsView();
    else await threadsView(new URLSearchParams(search || ""));
    refreshWaiting();
  } catch (err) {
    if (err instanceof NeedsLogin) {
      info = null;
      view.innerHTML = "";
      document.getElementById("login").hidden = false;
    } else {
      view.innerHTML = `<p class="error">${esc(err.message)}</p>`;
    }
  }
}

async function refreshWaiting() {
  try {
    const waiting = await api("/threads/count", { method: "POST", body: { status: "interrupted" } });
    document.getElementById("waiting-count").textContent = waiting ? `(${waiting})` : "";
  } catch (err) { /* the count is a nicety */ }
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  sessionStorage.setItem("tempograph.kind", form.get("kind"));
  sessionStorage.setItem("tempograph.secret", form.get("secret"));
  event.target.reset();
  route();
});
window.addEventListener("hashchange", route);
route();
