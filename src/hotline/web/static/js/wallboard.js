// The supervisor's wallboard: queues, waiting calls, operators, alerts; queue control
// (R8d) and listen / whisper / barge. Live over /api/v1/live (wallboard messages every
// second and on events); without the socket (no calls.view) it polls the REST API.
import { api } from "/static/js/api.js";
import { connectLive, el, fill, label, labels } from "/static/js/live.js";
import { problemLine } from "/static/js/problem.js";

const L = labels();
const $ = (id) => document.getElementById(id);
const root = $("wallboard");
const canControl = root.dataset.control === "yes";
const canMonitor = root.dataset.monitor === "yes";
let queueIds = [];
let session = null;
let polling = null;

const { problem, act } = problemLine("wb-problem");

const topicName = (id) => label(L, `topic.${id}`, id);
const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)} %`);

function cells(row, values) {
  for (const v of values) row.append(el("td", String(v)));
}

// Update the first values.length cells of a row in place (no node is replaced).
function setCells(row, values) {
  values.forEach((v, i) => {
    const td = row.children[i];
    if (td && td.textContent !== String(v)) td.textContent = String(v);
  });
}

// Redraw a table body keyed by a data attribute, in place: rows that stay keep their nodes
// (and the control that has the focus, or an open list); rows that went are removed; the
// order follows `items`. When the focused control's row went, the focus moves to `fallback`.
function syncRows(body, items, attr, keyOf, build, update, emptyRow, fallback) {
  const old = new Map();
  for (const tr of [...body.children]) {
    if (tr.dataset[attr] === undefined) tr.remove(); // the "nothing here" row
    else old.set(tr.dataset[attr], tr);
  }
  const keep = new Set(items.map(keyOf));
  let focusLost = false;
  for (const [key, tr] of old) {
    if (keep.has(key)) continue;
    if (tr.contains(document.activeElement)) focusLost = true;
    tr.remove();
    old.delete(key);
  }
  items.forEach((item, i) => {
    let tr = old.get(keyOf(item));
    if (tr) update(tr, item);
    else {
      tr = build(item);
      tr.dataset[attr] = keyOf(item);
    }
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  if (!items.length) body.append(emptyRow());
  if (focusLost && fallback) fallback.focus();
}

function renderQueues(queues) {
  queueIds = queues.map((q) => q.queue_id);
  const values = (q) => [topicName(q.queue_id), q.waiting, q.longest_wait_s, q.norm_s, pct(q.sl_today),
    q.offered_today, q.answered_today, q.abandoned_today, q.timed_out_today,
    q.operators_ready, q.operators_busy];
  const mark = (tr, q) => tr.classList.toggle("over", q.wait_ratio !== null && q.waiting > 0 && q.wait_ratio >= 1);
  syncRows($("queues"), queues, "queue", (q) => q.queue_id, (q) => {
    const tr = el("tr");
    tr.dataset.testid = "queue-row";
    cells(tr, values(q));
    mark(tr, q);
    return tr;
  }, (tr, q) => { setCells(tr, values(q)); mark(tr, q); }, () => el("tr"), null);
}

function select(options, labelText) {
  const s = el("select");
  s.setAttribute("aria-label", labelText);
  setOptions(s, options);
  return s;
}

// Replace a select's options when they changed, keeping the chosen value if it is still
// there; a select the user is working in is left alone.
function setOptions(s, options) {
  if (s === document.activeElement) return;
  const now = [...s.options].map((o) => `${o.value}\u0000${o.text}`).join("\u0001");
  const wanted = options.map(([v, t]) => `${v}\u0000${t}`).join("\u0001");
  if (now === wanted) return;
  const chosen = s.value;
  s.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
  if (options.some(([v]) => v === chosen)) s.value = chosen;
}

function button(text, handler, testid = "") {
  const b = el("button", text);
  b.type = "button";
  if (testid) b.dataset.testid = testid;
  b.addEventListener("click", handler);
  return b;
}

function emptyRow(text, colSpan) {
  const tr = el("tr");
  const td = el("td", text);
  td.colSpan = colSpan;
  tr.append(td);
  return tr;
}

const readyOperators = (operators) =>
  operators.filter((x) => x.state === "ready").map((x) => [x.operator_id, x.operator_id]);

function renderWaiting(waiting, operators) {
  const values = (w) => [topicName(w.queue_id), w.position, w.priority, w.waited_s, w.number || "—",
    w.topic ? topicName(w.topic) : "—"];
  const queueOptions = () => queueIds.map((x) => [x, topicName(x)]);
  const build = (w) => {
    const tr = el("tr");
    tr.dataset.testid = "waiting-row";
    cells(tr, values(w));
    if (!canControl) return tr;
    const td = el("td");
    const box = el("div", "", "actions");
    td.append(box);
    const id = encodeURIComponent(w.call_id);
    const q = select(queueOptions(), label(L, "wb.action.move"));
    q.dataset.testid = "move-target";
    const p = el("input");
    p.type = "number"; p.min = "0"; p.max = "100"; p.value = String(w.priority);
    p.setAttribute("aria-label", label(L, "wb.action.priority"));
    p.dataset.testid = "priority-value";
    const o = select(readyOperators(operators), label(L, "wb.action.assign"));
    o.dataset.testid = "assign-target";
    box.append(
      q, button(label(L, "wb.action.move"), () => act(() => api(`/api/v1/supervisor/calls/${id}/move`, { method: "POST", body: { queue_id: q.value } })), "move-call"),
      p, button(label(L, "wb.action.priority"), () => act(() => api(`/api/v1/supervisor/calls/${id}/priority`, { method: "POST", body: { priority: Number(p.value) } })), "set-priority"),
      o, button(label(L, "wb.action.assign"), () => o.value && act(() => api(`/api/v1/supervisor/calls/${id}/assign`, { method: "POST", body: { operator_id: o.value } })), "assign-call"),
    );
    tr.append(td);
    return tr;
  };
  const update = (tr, w) => {
    setCells(tr, values(w));
    if (!canControl) return;
    const [q, o] = tr.querySelectorAll("select");
    setOptions(q, queueOptions());
    setOptions(o, readyOperators(operators));
    const p = tr.querySelector("input[type=number]");
    if (p !== document.activeElement && p.dataset.shown !== String(w.priority)) p.value = String(w.priority);
    p.dataset.shown = String(w.priority);
  };
  syncRows($("waiting"), waiting, "call", (w) => w.call_id, build, update,
    () => emptyRow(label(L, "wb.waiting_empty"), canControl ? 7 : 6), $("waiting-title"));
}

async function monitor(callId, mode) {
  const r = await act(() => api(`/api/v1/supervisor/calls/${encodeURIComponent(callId)}/monitor`, { method: "POST", body: { mode } }));
  if (r) {
    session = r.session_id;
    $("monitor-status").textContent = fill(label(L, "wb.monitor.active"), { call: r.call_id, session: r.session_id });
  }
}

async function stopMonitor() {
  if (!session) return;
  const done = await act(() => api(`/api/v1/supervisor/monitor/${encodeURIComponent(session)}/stop`, { method: "POST" }));
  if (done !== null) {
    session = null;
    $("monitor-status").textContent = "";
  }
}

function operatorActions(op) {
  const td = el("td");
  const box = el("div", "", "actions");
  td.append(box);
  td.dataset.call = op.call_id || "";
  const id = encodeURIComponent(op.operator_id);
  if (canControl) {
    const reasons = $("reason-options");
    const s = select([["ready", label(L, "state.ready")], ["not_ready", label(L, "state.not_ready")],
      ["logged_out", label(L, "state.logged_out")]], label(L, "wb.action.set_state"));
    const r = el("select");
    r.setAttribute("aria-label", label(L, "wb.col.reason"));
    if (reasons) r.append(reasons.content.cloneNode(true));
    box.append(s, r, button(label(L, "wb.action.set_state"), () => act(() => api(`/api/v1/supervisor/operators/${id}/state`, { method: "POST", body: { state: s.value, reason: s.value === "not_ready" ? r.value : null } })), "set-state"));
  }
  if (canMonitor && op.call_id) {
    for (const mode of ["listen", "whisper", "barge"]) {
      box.append(button(label(L, `wb.monitor.${mode}`), () => monitor(op.call_id, mode), `monitor-${mode}`));
    }
    box.append(button(label(L, "wb.monitor.stop"), stopMonitor, "monitor-stop"));
  }
  return td;
}

function renderOperators(operators) {
  const values = (op) => [op.operator_id, label(L, `state.${op.state}`, op.state),
    op.state === "not_ready" && op.reason ? label(L, `desk.reason.${op.reason}`, op.reason) : "—",
    Math.round(op.seconds_in_state), op.call_id || "—"];
  const withActions = canControl || canMonitor;
  const build = (op) => {
    const tr = el("tr");
    tr.dataset.testid = "operator-row";
    cells(tr, values(op));
    if (withActions) tr.append(operatorActions(op));
    return tr;
  };
  const update = (tr, op) => {
    setCells(tr, values(op));
    if (!withActions) return;
    const td = tr.lastElementChild;
    // The monitoring buttons follow the operator's call; keep the cell the user works in.
    if (td.dataset.call !== (op.call_id || "") && !td.contains(document.activeElement)) {
      td.replaceWith(operatorActions(op));
    }
  };
  syncRows($("operators"), operators, "operator", (op) => op.operator_id, build, update,
    () => el("tr"), $("operators-title"));
}

function renderAlerts(alerts) {
  const list = $("alerts");
  list.replaceChildren();
  for (const a of alerts) {
    const value = a.kind === "sl_below_target" ? pct(a.value) : a.value;
    const threshold = a.kind === "sl_below_target" ? pct(a.threshold) : a.threshold;
    const li = el("li", fill(label(L, `wb.alert.${a.kind}`), { queue: topicName(a.queue_id), value, threshold }), a.kind);
    list.append(li);
  }
  if (!alerts.length) list.append(el("li", label(L, "wb.alerts_empty")));
}

function render(board) {
  $("wb-at").textContent = new Date(board.at).toLocaleTimeString("ru-RU");
  renderAlerts(board.alerts);
  renderQueues(board.queues);
  // Rows are updated in place: the control that has the focus stays where it is.
  renderWaiting(board.waiting, board.operators);
  renderOperators(board.operators);
}

async function poll() {
  const board = await act(() => api("/api/v1/supervisor/wallboard"));
  if (board) render(board);
}

function startPolling() {
  if (polling === null) polling = window.setInterval(poll, 1000);
}

poll();
if (root.dataset.live === "yes") {
  connectLive((m) => { if (m.type === "wallboard") render(m); }, (up, code) => {
    if (!up && code === 1008) startPolling();
  });
} else {
  startPolling(); // no calls.view: the server would refuse the socket
}
