// The supervisor's wallboard: queues, waiting calls, operators, alerts; queue control
// (R8d) and listen / whisper / barge. Live over /api/v1/live (wallboard messages every
// second and on events); without the socket (no calls.view) it polls the REST API.
import { api } from "/static/js/api.js";
import { connectLive, el, fill, label, labels } from "/static/js/live.js";

const L = labels();
const $ = (id) => document.getElementById(id);
const root = $("wallboard");
const canControl = root.dataset.control === "yes";
const canMonitor = root.dataset.monitor === "yes";
let queueIds = [];
let session = null;
let polling = null;

function problem(text) {
  const p = $("wb-problem");
  p.textContent = text || "";
  p.hidden = !text;
}

async function act(fn) {
  try {
    problem("");
    return await fn();
  } catch (err) {
    problem(err.message);
    return null;
  }
}

const topicName = (id) => label(L, `topic.${id}`, id);
const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)} %`);

function cells(row, values) {
  for (const v of values) row.append(el("td", String(v)));
}

function renderQueues(queues) {
  queueIds = queues.map((q) => q.queue_id);
  const body = $("queues");
  body.replaceChildren();
  for (const q of queues) {
    const tr = el("tr");
    tr.dataset.queue = q.queue_id;
    if (q.wait_ratio !== null && q.waiting && q.wait_ratio >= 1) tr.className = "over";
    cells(tr, [topicName(q.queue_id), q.waiting, q.longest_wait_s, q.norm_s, pct(q.sl_today),
      q.offered_today, q.answered_today, q.abandoned_today, q.timed_out_today,
      q.operators_ready, q.operators_busy]);
    body.append(tr);
  }
}

function select(options, labelText) {
  const s = el("select");
  s.setAttribute("aria-label", labelText);
  for (const [value, text] of options) s.append(new Option(text, value));
  return s;
}

function button(text, handler) {
  const b = el("button", text);
  b.type = "button";
  b.addEventListener("click", handler);
  return b;
}

function renderWaiting(waiting, operators) {
  const body = $("waiting");
  body.replaceChildren();
  if (!waiting.length) {
    const tr = el("tr");
    const td = el("td", label(L, "wb.waiting_empty"));
    td.colSpan = canControl ? 7 : 6;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const w of waiting) {
    const tr = el("tr");
    tr.dataset.call = w.call_id;
    cells(tr, [topicName(w.queue_id), w.position, w.priority, w.waited_s, w.number || "—",
      w.topic ? topicName(w.topic) : "—"]);
    if (canControl) {
      const td = el("td");
      const box = el("div", "", "actions");
      td.append(box);
      const id = encodeURIComponent(w.call_id);
      const q = select(queueIds.map((x) => [x, topicName(x)]), label(L, "wb.action.move"));
      const p = el("input");
      p.type = "number"; p.min = "0"; p.max = "100"; p.value = String(w.priority);
      p.setAttribute("aria-label", label(L, "wb.action.priority"));
      const o = select(operators.filter((x) => x.state === "ready").map((x) => [x.operator_id, x.operator_id]),
        label(L, "wb.action.assign"));
      box.append(
        q, button(label(L, "wb.action.move"), () => act(() => api(`/api/v1/supervisor/calls/${id}/move`, { method: "POST", body: { queue_id: q.value } }))),
        p, button(label(L, "wb.action.priority"), () => act(() => api(`/api/v1/supervisor/calls/${id}/priority`, { method: "POST", body: { priority: Number(p.value) } }))),
        o, button(label(L, "wb.action.assign"), () => o.value && act(() => api(`/api/v1/supervisor/calls/${id}/assign`, { method: "POST", body: { operator_id: o.value } }))),
      );
      tr.append(td);
    }
    body.append(tr);
  }
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

function renderOperators(operators) {
  const body = $("operators");
  body.replaceChildren();
  const reasons = $("reason-options");
  for (const op of operators) {
    const tr = el("tr");
    tr.dataset.operator = op.operator_id;
    cells(tr, [op.operator_id, label(L, `state.${op.state}`, op.state),
      op.reason ? label(L, `desk.reason.${op.reason}`, op.reason) : "—",
      Math.round(op.seconds_in_state), op.call_id || "—"]);
    if (canControl || canMonitor) {
      const td = el("td");
      const box = el("div", "", "actions");
      td.append(box);
      const id = encodeURIComponent(op.operator_id);
      if (canControl) {
        const s = select([["ready", label(L, "state.ready")], ["not_ready", label(L, "state.not_ready")],
          ["logged_out", label(L, "state.logged_out")]], label(L, "wb.action.set_state"));
        const r = el("select");
        r.setAttribute("aria-label", label(L, "wb.col.reason"));
        if (reasons) r.append(reasons.content.cloneNode(true));
        box.append(s, r, button(label(L, "wb.action.set_state"), () => act(() => api(`/api/v1/supervisor/operators/${id}/state`, { method: "POST", body: { state: s.value, reason: s.value === "not_ready" ? r.value : null } }))));
      }
      if (canMonitor && op.call_id) {
        for (const mode of ["listen", "whisper", "barge"]) {
          box.append(button(label(L, `wb.monitor.${mode}`), () => monitor(op.call_id, mode)));
        }
        box.append(button(label(L, "wb.monitor.stop"), stopMonitor));
      }
      tr.append(td);
    }
    body.append(tr);
  }
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
  // Keep the controls usable: do not rebuild rows while the user works in them.
  if (!root.contains(document.activeElement) || document.activeElement === document.body) {
    renderWaiting(board.waiting, board.operators);
    renderOperators(board.operators);
  }
}

async function poll() {
  const board = await act(() => api("/api/v1/supervisor/wallboard"));
  if (board) render(board);
}

poll();
connectLive((m) => { if (m.type === "wallboard") render(m); }, (up, code) => {
  if (!up && code === 1008 && polling === null) polling = window.setInterval(poll, 1000);
});
