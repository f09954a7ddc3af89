// The operator desk: state, call card, call controls, transfers, standard answers,
// wrap-up form. Live data over /api/v1/live; actions through /api/v1/desk/...
import { api } from "/static/js/api.js";
import { connectLive, el, fill, label, labels, seconds } from "/static/js/live.js";
import { problemLine } from "/static/js/problem.js";

const L = labels();
const $ = (id) => document.getElementById(id);
let current = null; // the current call (LiveCallOut)
let me = null; // this desk's operator id
let opState = null; // the operator's state (the ACD's code)
let stateSince = null;
let consulting = false;
// A blind transfer this desk made: {callId}. While the target rings the call carries it
// (call.transfer: the card says "transfer in progress"); once the caller has gone
// elsewhere the card is in wrap-up mode (the ACD puts the operator in wrap-up at once for
// a queue, when the target answers for an operator or an organisation). How a transfer
// ended is the server's word (call.last_transfer, kept there for a short while): a failed
// one leaves the caller talking with the operator and the card says why.
let transferred = null;
// The transfer in progress last seen on the current call: {callId, mode}.
let pendingSeen = null;
const orgNames = {}; // organisation id → name, from the transfer targets

const { problem, act } = problemLine("desk-problem");

function renderOperator(op) {
  me = op.operator_id;
  opState = op.state;
  // Only a not-ready state has a reason worth showing (the server sends no other).
  const reason = op.state === "not_ready" && op.reason ? label(L, `desk.reason.${op.reason}`, op.reason) : "";
  $("op-state").textContent = label(L, `state.${op.state}`, op.state) + (reason ? ` — ${reason}` : "");
  stateSince = Date.parse(op.since);
}

// The card is in wrap-up mode when the caller has gone elsewhere but the operator still
// wraps the call up: no call controls, the wrap-up form is what is left to do.
function wrapMode(call) {
  if (!call) return false;
  if (opState === "wrap_up") return true;
  if (!transferred || transferred.callId !== call.call_id) return false;
  return !(call.operator_id === me && call.phase === "talking");
}

// Who a transfer in progress goes to, as the desk names it (ids, never a number).
function transferTarget(t) {
  if (t.kind === "queue") {
    return fill(label(L, "desk.transfer.to.queue"), { name: label(L, `topic.${t.target_id}`, t.target_id) });
  }
  if (t.kind === "organisation") {
    return fill(label(L, "desk.transfer.to.organisation"), { name: orgNames[t.target_id] || t.target_id });
  }
  return fill(label(L, "desk.transfer.to.operator"), { id: t.target_id });
}

function transferText(t) {
  let key = "desk.transfer.pending";
  if (t.mode === "consult") key = t.answered ? "desk.transfer.consult_talking" : "desk.transfer.consult_ringing";
  const since = seconds((Date.now() - Date.parse(t.since)) / 1000);
  return `${fill(label(L, key), { target: transferTarget(t) })} ${since}`;
}

// How the last transfer ended, as the card says it ("" when there is nothing to say):
// a failure with its reason; a cancelled consultation with a neutral note.
function outcomeText(o) {
  if (o.result === "failed") {
    const target = transferTarget({ kind: o.kind, target_id: o.target_id });
    const reason = fill(label(L, `desk.transfer.reason.${o.reason || "error"}`), { target });
    return fill(label(L, "desk.transfer.failed"), { reason });
  }
  if (o.result === "cancelled" && o.mode === "consult") return label(L, "desk.transfer.cancelled");
  return "";
}

// A fresh snapshot of the current call (a desk message). A consultation in progress (from
// the desk or the operator's phone) enables complete/cancel until it is gone. Nothing is
// inferred here about how a transfer ended: the server says it (call.last_transfer).
function observe(call) {
  const t = call ? call.transfer : null;
  const was = pendingSeen && call && pendingSeen.callId === call.call_id ? pendingSeen : null;
  pendingSeen = t ? { callId: call.call_id, mode: t.mode } : null;
  if (t && t.mode === "consult") consulting = true;
  else if (was && was.mode === "consult") consulting = false;
  const last = call ? call.last_transfer : null;
  if (last && last.result === "failed" && transferred && transferred.callId === call.call_id) {
    transferred = null; // the caller stayed: the card has its controls back
  }
}

function renderCall(call) {
  const had = current ? current.call_id : null;
  current = call;
  if (!call) transferred = null;
  const wrapping = wrapMode(call);
  $("card").hidden = !call;
  $("card-empty").hidden = !!call;
  $("card-wrapup").hidden = !wrapping;
  $("wrapup-panel").classList.toggle("active", wrapping);
  // Controls act on a call connected to this operator right now, nothing else.
  const live = !!call && !wrapping && call.operator_id === me && call.phase === "talking";
  const pending = live ? call.transfer : null;
  $("do-hangup").disabled = !live;
  for (const id of ["do-blind", "do-consult"]) $(id).disabled = !live || !!pending;
  $("do-hold").disabled = !live || call.on_hold;
  $("do-resume").disabled = !live || !call.on_hold;
  if (!live) consulting = false;
  $("do-complete").disabled = !consulting || (!!pending && !pending.answered);
  $("do-cancel").disabled = !consulting;
  const ended = live && !pending && call.last_transfer ? outcomeText(call.last_transfer) : "";
  const box = $("card-transfer");
  box.hidden = !pending && !ended;
  box.textContent = pending ? transferText(pending) : ended;
  box.classList.toggle("warn", !!ended && call.last_transfer.result === "failed");
  if (!call) return;
  $("card-number").textContent = call.number || "—";
  $("card-topic").textContent = call.topic ? label(L, `topic.${call.topic}`, call.topic) : "—";
  $("card-phase").textContent = wrapping ? label(L, "state.wrap_up") : label(L, `phase.${call.phase}`, call.phase);
  $("card-hold").hidden = wrapping || !call.on_hold;
  $("wu-call").value = call.call_id;
  if (had !== call.call_id) {
    $("wu-result").textContent = "";
    if (call.topic) $("wu-topic").value = call.topic;
    loadAnswers("", call.topic);
  }
}

function renderCard(card) {
  renderCall(card.call);
  $("card-wait").textContent = card.wait_s === null ? "—" : label(L, "desk.seconds").replace("{value}", card.wait_s);
  const box = $("card-transcript-box");
  box.hidden = !card.transcript;
  $("card-transcript").textContent = card.transcript || "";
  const earlier = $("card-earlier");
  earlier.replaceChildren();
  for (const c of card.earlier_calls) {
    const when = new Date(c.at).toLocaleString("ru-RU");
    const topic = c.topic ? label(L, `topic.${c.topic}`, c.topic) : "";
    const outcome = c.outcome ? label(L, `desk.outcome.${c.outcome}`, c.outcome) : "";
    earlier.append(el("li", [when, topic, outcome, c.notes || ""].filter(Boolean).join(" · ")));
  }
  if (!card.earlier_calls.length) earlier.append(el("li", label(L, "desk.card.earlier_empty")));
  const callbacks = $("card-callbacks");
  callbacks.replaceChildren();
  for (const c of card.callbacks) {
    const done = label(L, c.completed ? "desk.card.callback_done" : "desk.card.callback_open");
    callbacks.append(el("li", `${new Date(c.at).toLocaleString("ru-RU")} · ${done}`));
  }
  if (!card.callbacks.length) callbacks.append(el("li", label(L, "desk.card.callbacks_empty")));
  if (card.answers.length) showAnswers(card.answers);
}

function showAnswers(items) {
  const list = $("answers");
  list.replaceChildren();
  for (const a of items) {
    const li = el("li");
    const d = el("details");
    d.append(el("summary", a.title), el("p", a.answer));
    li.append(d);
    list.append(li);
  }
  if (!items.length) list.append(el("li", label(L, "desk.answers.empty")));
}

async function loadAnswers(q, topic) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (topic) params.set("topic", topic);
  const items = await act(() => api(`/api/v1/desk/answers?${params}`));
  if (items) showAnswers(items);
}

async function loadTargets() {
  const kind = $("tr-kind").value;
  const select = $("tr-target");
  const search = $("org-search");
  search.hidden = kind !== "organisation";
  $("org-search-label").hidden = kind !== "organisation";
  select.replaceChildren();
  if (kind === "organisation") {
    const params = new URLSearchParams();
    if (search.value) params.set("q", search.value);
    if (current && current.topic) params.set("topic", current.topic);
    const orgs = (await act(() => api(`/api/v1/desk/organisations?${params}`))) || [];
    for (const o of orgs) {
      orgNames[o.organisation_id] = o.name;
      select.append(new Option(`${o.name} (${o.number})`, o.organisation_id));
    }
    return;
  }
  const t = await act(() => api("/api/v1/desk/targets"));
  if (!t) return;
  if (kind === "operator") {
    for (const o of t.operators) select.append(new Option(o.operator_id, o.operator_id));
  } else {
    for (const q of t.queues) select.append(new Option(label(L, `topic.${q}`, q), q));
  }
}

async function setState(state, reason = null) {
  const s = await act(() => api("/api/v1/desk/state", { method: "POST", body: { state, reason } }));
  if (s) {
    renderOperator(s.operator);
    renderCall(s.call);
  }
}

async function control(name) {
  if (!current) return;
  await act(() => api(`/api/v1/desk/calls/${encodeURIComponent(current.call_id)}/${name}`, { method: "POST" }));
}

async function transfer(path) {
  if (!current || !$("tr-target").value) return;
  const body = { kind: $("tr-kind").value, id: $("tr-target").value };
  const callId = current.call_id;
  const done = await act(() => api(`/api/v1/desk/calls/${encodeURIComponent(callId)}/${path}`, { method: "POST", body }));
  if (done !== null && path === "consult") consulting = true;
  if (done !== null && path === "transfer") transferred = { callId };
  renderCall(current);
  if (transferred && current && transferred.callId === current.call_id) $("wu-notes").focus();
}

function feed(message) {
  const list = $("feed");
  const text = label(L, `event.${message.kind}`, message.kind);
  const li = el("li", `${new Date(message.at).toLocaleTimeString("ru-RU")} ${text}`);
  li.dataset.kind = message.kind;
  list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
  if (message.kind === "call.ended" && current && message.call_id === current.call_id) {
    consulting = false;
    renderCall(null);
  }
}

function onMessage(m) {
  if (m.type === "desk") {
    renderOperator(m.operator);
    observe(m.call);
    renderCall(m.call);
  } else if (m.type === "card") {
    renderCard(m);
  } else if (m.type === "event") {
    feed(m);
  }
}

function tickTimers() {
  if (stateSince) $("op-since").textContent = seconds((Date.now() - stateSince) / 1000);
  if (current && current.answered_at && !wrapMode(current)) {
    $("card-timer").textContent = seconds((Date.now() - Date.parse(current.answered_at)) / 1000);
  } else {
    $("card-timer").textContent = "00:00";
  }
  const box = $("card-transfer");
  if (!box.hidden && current && current.transfer) box.textContent = transferText(current.transfer);
}

async function start() {
  const s = await act(() => api("/api/v1/desk/state"));
  if (!s) {
    problem(label(L, "desk.no_operator"));
    return;
  }
  renderOperator(s.operator);
  renderCall(s.call); // the socket sends the call's card on connecting
  $("go-ready").addEventListener("click", () => setState("ready"));
  $("go-not-ready").addEventListener("click", () => setState("not_ready", $("reason").value));
  $("go-out").addEventListener("click", () => setState("logged_out"));
  $("do-hold").addEventListener("click", () => control("hold"));
  $("do-resume").addEventListener("click", () => control("resume"));
  $("do-hangup").addEventListener("click", () => control("hangup"));
  $("do-blind").addEventListener("click", () => transfer("transfer"));
  $("do-consult").addEventListener("click", () => transfer("consult"));
  $("do-complete").addEventListener("click", async () => { await control("consult/complete"); consulting = false; renderCall(current); });
  $("do-cancel").addEventListener("click", async () => { await control("consult/cancel"); consulting = false; renderCall(current); });
  $("tr-kind").addEventListener("change", loadTargets);
  $("org-search").addEventListener("input", loadTargets);
  $("answers-q").addEventListener("input", (e) => loadAnswers(e.target.value, current ? current.topic : null));
  $("dial-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    await act(() => api("/api/v1/desk/dial", { method: "POST", body: { number: $("dial-number").value } }));
  });
  $("wrapup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      call_id: $("wu-call").value,
      topic: $("wu-topic").value || null,
      outcome: $("wu-outcome").value,
      notes: $("wu-notes").value,
      proposal: $("wu-proposal").checked,
    };
    const saved = await act(() => api("/api/v1/desk/wrapup", { method: "POST", body }));
    if (saved) {
      $("wu-result").textContent = label(L, "desk.wrapup.saved");
      $("wu-notes").value = "";
      $("wu-proposal").checked = false;
    }
  });
  loadTargets();
  window.setInterval(tickTimers, 500);
  connectLive(onMessage, (up) => problem(up ? "" : label(L, "desk.connection.lost")));
}

start();
