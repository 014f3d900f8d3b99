"use strict";
// The agent's workspace (docs/workspace.md). The token comes in the URL fragment (never in a
// request line or a log), is kept in this tab's sessionStorage and taken out of the address
// bar at once; it goes out as an Authorization header, and as the WebSocket's first message.
// Every value is written with textContent: text typed by a caller, an agent or an integration
// can never become markup (and the CSP allows no inline script besides).
const token = (() => {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    sessionStorage.setItem("ivr-token", given);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
  return sessionStorage.getItem("ivr-token") || "";
})();
const $ = id => document.getElementById(id);
// no do-not-call box: the list is per number and a supervisor's (/api/do-not-call)
const FIELDS = ["kind", "customer_class", "surname", "title", "phone", "address", "fault",
                "summary"];
const RETRY_MAX_MS = 15000;
let job = null;          // 工号, from the feed's hello
let card = null;         // the call at this agent's phone
let queues = [];
let offsetMs = 0;        // bridge clock minus this browser's
let form = null;         // the order being typed: kept in localStorage until saved
let saveTimer = null, saveTries = 0, saving = false;

// ---------------------------------------------------------------- formatting
// The centre's wall-clock time as the API wrote it (every timestamp carries the centre's
// offset, ivr/web/json_body.py): "2026-12-05 15:20:31", whatever the browser's own zone is.
const local = iso => {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso || "");
  return m ? m[1] + " " + m[2] : (iso || "");
};
const now = () => Date.now() + offsetMs;
function text(id, value) {
  $(id).textContent = value === null || value === undefined ? "" : String(value);
}
function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map(cells => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    }
    return tr;
  }));
  return [...body.children];
}
const api = (path, options = {}) => fetch(path, {
  ...options,
  headers: {"Authorization": "Bearer " + token, ...(options.body ? {"Content-Type": "application/json"} : {}),
            ...(options.headers || {})},
});
const newKey = () => "ws-" + (crypto.randomUUID ? crypto.randomUUID()
  : Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join(""));

// ---------------------------------------------------------------- the live feed
let ws = null, attempt = 0, reconnectTimer = null;
function connect() {
  clearTimeout(reconnectTimer);
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/api/agents/me/events");
  ws.onopen = () => ws.send(JSON.stringify({type: "auth", token}));
  ws.onmessage = event => {
    const m = JSON.parse(event.data);
    if (typeof m.server_time_ms === "number") offsetMs = m.server_time_ms - Date.now();
    handle(m);
  };
  ws.onclose = event => {
    const fatal = event.code === 4401 || event.code === 4403;
    text("link", fatal ? "refused (" + event.code + "): open the page with your own token"
                       : "link lost (" + event.code + "): reconnecting…");
    $("link").className = "stale";
    if (fatal) return;
    // 0.5 s, 1 s, 2 s … up to 15 s, with jitter so that a restarted bridge is not hit at once
    const wait = Math.min(RETRY_MAX_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    reconnectTimer = setTimeout(connect, wait);
  };
}
function handle(m) {
  if (m.type === "hello") {
    attempt = 0;
    job = m.job_number;
    text("me", "工号 " + job);
    text("link", "live");
    $("link").className = "live";
    if (!form) restoreForm();
    showCard(m.call);
    if (card && card.state === "talking") openForm(card);  // answered while this page was away
    showQueues(m.queues);
    loadMine();
    loadState();
    if (form && form.pending) trySave();  // the link is back: a save that failed goes now
  } else if (m.type === "ringing" || m.type === "pop" || m.type === "answered") {
    showCard(m.call);
    if (m.type === "answered") openForm(m.call);
    else if (m.type === "pop" && form && form.unique_id === m.call.unique_id) prefill(m.call);
  } else if (m.type === "ended") {
    if (card && card.unique_id === m.unique_id) showCard(null);
    loadState();
  } else if (m.type === "queues") {
    showQueues(m.queues);
    loadState();  // logged in or out, paused or not: the state line follows
  }
}

// ---------------------------------------------------------------- the call card
function showCard(call) {
  card = call || null;
  const pop = card && card.pop;
  $("call").className = card ? card.state : "idle";
  text("call-state", card ? (card.state === "ringing" ? "振铃 ringing" : "通话中 talking") : "no call");
  text("caller", card ? card.caller : "");
  text("queue", card ? card.queue : "");
  text("waited", card && card.waited_s !== null && card.waited_s !== undefined ? card.waited_s + " s" : "");
  text("ring-limit", card ? "/ " + card.ring_limit_s + " s" : "");
  text("choice", pop ? pop.choice : "");
  text("menu-path", pop ? pop.menu_path.join(" › ") : "");
  text("spoken", pop ? pop.spoken.join("; ") : "");
  text("call-id", pop ? pop.call_id : "");
  $("repeat").hidden = !(pop && pop.repeat_caller);
  showTransfer();
  const rows = fill("history", pop ? pop.history.map(o => [o.order_no, o.kind, o.status,
    local(o.next_due_at), local(o.created_at), o.summary]) : []);
  rows.forEach(tr => tr.classList.add("history-row"));
  tick();
}
function tick() {
  const timer = $("ring-timer");
  if (card && card.state === "ringing" && card.ring_started_ms) {
    const s = Math.max(0, (now() - card.ring_started_ms) / 1000);
    timer.textContent = s.toFixed(1) + " s";
    timer.className = s > card.ring_limit_s ? "late" : "";
  } else if (card && card.state === "talking" && card.ring_to_answer_ms !== null && card.ring_to_answer_ms !== undefined) {
    timer.textContent = "answered after " + (card.ring_to_answer_ms / 1000).toFixed(1) + " s";
    timer.className = card.ring_to_answer_ms > card.ring_limit_s * 1000 ? "late" : "";
  } else {
    timer.textContent = "";
  }
}
function showQueues(list) {
  queues = list || [];
  fill("queues", queues.map(q => [q.queue, q.logged_in ? (q.paused ? "paused" : "yes") : "no", q.callers.length,
    q.callers.map(c => c.caller + " (" + Math.round((now() - c.joined_ms) / 1000) + ")").join(", ")]));
}
setInterval(tick, 200);
setInterval(() => showQueues(queues), 1000);

// ---------------------------------------------------------------- blind transfer (转接)
// Shown while this agent talks on a queue call. The bridge finds the call itself; the page only
// names the target: one of the queues GET /api/agents/me offers, or a 工号 (digits only).
let transferOf = null;   // the call the transfer controls were last shown for
let asked = null;        // the target waiting for the agent's confirmation
function showTransfer() {
  const talking = !!(card && card.state === "talking");
  $("transfer").hidden = !talking;
  if (!talking) { askTransfer(null); return; }
  if (transferOf !== card.unique_id) {  // another call: the last call's result is history
    transferOf = card.unique_id;
    $("xfer-queue").value = "";
    $("xfer-job").value = "";
    text("err-transfer", "");
    text("transfer-status", "");
  }
}
function showTransferQueues(offered) {
  const select = $("xfer-queue");
  const have = [...select.options].slice(1).map(o => o.value);
  if (have.join("|") === offered.join("|")) return;
  const keep = select.value;
  const blank = document.createElement("option");
  blank.value = "";
  blank.textContent = "–";
  select.replaceChildren(blank, ...offered.map(queue => {
    const option = document.createElement("option");
    option.value = queue;
    option.textContent = queue;
    return option;
  }));
  select.value = offered.includes(keep) ? keep : "";
}
function transferTarget() {
  const queue = $("xfer-queue").value, jobNo = $("xfer-job").value.trim();
  if (queue && jobNo) return {error: "choose a queue or type a 工号, not both"};
  if (!queue && !jobNo) return {error: "choose a queue or type a 工号"};
  if (jobNo && !/^[0-9]{1,16}$/.test(jobNo)) return {error: "工号: digits only (1 to 16)"};
  return queue ? {body: {queue}, label: "queue " + queue}
               : {body: {job_number: jobNo}, label: "工号 " + jobNo};
}
function askTransfer(target) {
  asked = target;
  $("xfer-confirm").hidden = !target;
  text("xfer-question", target ? "transfer this call to " + target.label + "?" : "");
}
$("xfer-job").addEventListener("input", () => {
  const value = $("xfer-job").value.trim();
  text("err-transfer", value && !/^[0-9]+$/.test(value) ? "工号: digits only (1 to 16)" : "");
});
$("do-transfer").addEventListener("click", () => {
  text("transfer-status", "");
  const target = transferTarget();
  text("err-transfer", target.error || "");
  askTransfer(target.error ? null : target);
});
$("xfer-no").addEventListener("click", () => askTransfer(null));
$("xfer-yes").addEventListener("click", async () => {
  const target = asked;
  if (!target) return;
  askTransfer(null);
  $("do-transfer").disabled = true;
  text("transfer-status", "transferring to " + target.label + "…");
  let r = null, d = {};
  try {
    r = await api("/api/agents/me/call/transfer", {method: "POST", body: JSON.stringify(target.body)});
    d = await r.json();
  } catch (e) {
    d = {};
  } finally {
    $("do-transfer").disabled = false;
  }
  if (r && r.ok) {
    text("err-transfer", "");
    text("transfer-status", "transferred to " + target.label);
    $("xfer-queue").value = "";
    $("xfer-job").value = "";
  } else {
    text("transfer-status", "");
    text("err-transfer", "not transferred: " + (d.error || (r ? "HTTP " + r.status : "no link")));
  }
});

// ---------------------------------------------------------------- the order form
const storeKey = () => "ivr-workspace-form:" + job;
function persist() {
  if (!form || !job) return;
  localStorage.setItem(storeKey(), JSON.stringify(form));
}
function restoreForm() {
  const kept = job && localStorage.getItem(storeKey());
  if (!kept) return;
  try { form = JSON.parse(kept); } catch (e) { form = null; return; }
  render();
}
function openForm(call) {
  if (form) return;  // an unsaved order is never replaced: finish or discard it first
  form = {key: newKey(), unique_id: call.unique_id, call_id: null, reminders: [], pending: false,
          fields: {kind: "", customer_class: "", surname: "", title: "先生", phone: "",
                   address: "", fault: "", summary: ""}};
  prefill(call);
}
function prefill(call) {
  const f = call.pop && call.pop.form;
  if (!f) { render(); persist(); return; }
  form.call_id = f.call_id;
  form.reminders = f.reminders;
  if (!form.fields.kind && f.kind) form.fields.kind = f.kind;
  if (!form.fields.phone && f.phone) form.fields.phone = f.phone;
  render();
  persist();
}
function render() {
  $("order").hidden = !form;
  if (!form) return;
  for (const name of FIELDS) {
    const input = $("f-" + name);
    if (input.type === "checkbox") input.checked = !!form.fields[name];
    else input.value = form.fields[name] || "";
  }
  text("form-call", form.call_id ? "call " + form.call_id : "");
  $("reminders").replaceChildren(...(form.reminders || []).map(r => {
    const li = document.createElement("li");
    li.textContent = r;
    return li;
  }));
}
function readFields() {
  for (const name of FIELDS) {
    const input = $("f-" + name);
    form.fields[name] = input.type === "checkbox" ? input.checked : input.value;
  }
}
function clearErrors() {
  for (const name of FIELDS) { const e = $("err-" + name); if (e) e.textContent = ""; }
}
function fieldOf(path) {  // "customer.surname" → "surname"
  const last = String(path).split(".").pop();
  return FIELDS.includes(last) ? last : null;
}
function showError(message, details) {
  let placed = false;
  for (const d of details || []) {
    const name = fieldOf(d.field);
    if (name) { $("err-" + name).textContent = d.problem; placed = true; }
  }
  if (!placed) {  // "customer.phone: not a mainland number", "a business order needs customer_class"
    const name = FIELDS.find(n => message.startsWith("customer." + n) || message.includes(n));
    if (name) { $("err-" + name).textContent = message; placed = true; }
  }
  text("form-status", placed ? "please correct the marked fields" : message);
}
function body() {
  const f = form.fields, out = {kind: f.kind, customer: {surname: f.surname.trim(), title: f.title,
    phone: f.phone.trim()}, summary: f.summary.trim()};
  if (form.call_id) out.call_id = form.call_id;
  for (const name of ["customer_class", "address", "fault"]) if (f[name].trim()) out[name] = f[name].trim();
  return out;
}
function checkLocally() {
  const missing = {kind: "choose the kind", surname: "the customer's surname", summary: "what the call was about"};
  let ok = true;
  for (const [name, why] of Object.entries(missing)) {
    if (!String(form.fields[name]).trim()) { $("err-" + name).textContent = "required: " + why; ok = false; }
  }
  return ok;
}
async function trySave() {
  if (!form || saving) return;
  clearTimeout(saveTimer);
  readFields();
  clearErrors();
  if (!checkLocally()) { persist(); text("form-status", "please correct the marked fields"); return; }
  saving = true;
  form.pending = true;
  persist();
  text("form-status", "saving…");
  let response = null;
  try {
    response = await api("/api/work-orders", {method: "POST", body: JSON.stringify(body()),
                                               headers: {"Idempotency-Key": form.key}});
  } catch (e) {
    response = null;  // the link is down: keep everything and try again
  } finally {
    saving = false;
  }
  if (response && (response.status === 200 || response.status === 201)) {
    const order = await response.json();
    localStorage.removeItem(storeKey());
    form = null;
    saveTries = 0;
    render();
    text("form-status", "");
    text("mine-status", "saved " + order.order_no);
    loadMine();
    return;
  }
  if (response && response.status >= 400 && response.status < 500 && response.status !== 429) {
    form.pending = false;
    persist();
    let d = {};
    try { d = await response.json(); } catch (e) { d = {error: "HTTP " + response.status}; }
    showError(d.error || ("HTTP " + response.status), d.details);
    return;
  }
  // no answer, 429 or 5xx: the same order (same Idempotency-Key) again later, never twice
  saveTries += 1;
  const wait = Math.min(RETRY_MAX_MS, 1000 * 2 ** (saveTries - 1));
  text("form-status", "not saved yet (" + (response ? "HTTP " + response.status : "no link") +
       "): kept, retrying in " + Math.round(wait / 1000) + " s");
  saveTimer = setTimeout(trySave, wait);
}
$("order-form").addEventListener("submit", event => { event.preventDefault(); trySave(); });
$("order-form").addEventListener("input", () => { if (form) { readFields(); persist(); } });
$("order-form").addEventListener("change", () => { if (form) { readFields(); persist(); } });
$("discard").addEventListener("click", () => {
  clearTimeout(saveTimer);
  if (job) localStorage.removeItem(storeKey());
  form = null;
  clearErrors();
  text("form-status", "");
  render();
});

// ---------------------------------------------------------------- my orders
const CALLBACK_RESULT = {true: "满意", false: "不满意"};
function callbackText(c) {
  if (!c) return "";
  let out = "回访 " + c.state + ", due " + local(c.due_by);
  if (c.result) out += " · " + c.result;
  if (c.satisfied !== null && c.satisfied !== undefined) out += " · " + CALLBACK_RESULT[c.satisfied];
  if (c.power_restored !== null && c.power_restored !== undefined) out += c.power_restored ? " · 已恢复供电" : " · 未恢复供电";
  if (c.suggestion_recorded) out += " · 客户意见已录音";
  return out;
}
function actions(order) {
  const span = document.createElement("span");
  if (!["created", "dispatched", "in_progress"].includes(order.status)) return span;
  const note = document.createElement("input");
  note.placeholder = "note";
  note.className = "note-input";
  const addNote = document.createElement("button");
  addNote.type = "button";
  addNote.textContent = "add note";
  addNote.className = "note-button";
  addNote.addEventListener("click", async () => {
    if (!note.value.trim()) return;
    const r = await api("/api/work-orders/" + encodeURIComponent(order.order_no),
                        {method: "PATCH", body: JSON.stringify({note: note.value.trim()})});
    text("mine-status", r.ok ? "note added" : "note not added: HTTP " + r.status);
    loadMine();
  });
  const resolution = document.createElement("input");
  resolution.placeholder = "resolution";
  resolution.className = "resolution-input";
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "close";
  close.className = "close-button";
  const closeKey = newKey();
  close.addEventListener("click", async () => {
    if (!resolution.value.trim()) { text("mine-status", "closing needs the resolution"); return; }
    const r = await api("/api/work-orders/" + encodeURIComponent(order.order_no) + "/close",
                        {method: "POST", body: JSON.stringify({result: resolution.value.trim()}),
                         headers: {"Idempotency-Key": closeKey}});
    let d = {};
    try { d = await r.json(); } catch (e) { d = {}; }
    text("mine-status", r.ok ? "closed " + order.order_no : "not closed: " + (d.error || "HTTP " + r.status));
    loadMine();
  });
  span.append(note, addNote, resolution, close);
  return span;
}
async function loadMine() {
  try {
    const r = await api("/api/agents/me/work-orders");
    if (!r.ok) throw new Error("HTTP " + r.status);
    const d = await r.json();
    const rows = fill("my-orders", d.orders.map(o => [o.order_no, o.kind, o.status,
      o.next_deadline ? o.next_deadline.name + " " + local(o.next_deadline.due_at) + " (" + o.next_deadline.urgency + ")" : "",
      o.summary + (o.result ? " → " + o.result : ""), o.notes.join(" / "), callbackText(o.callback),
      actions(o)]));
    d.orders.forEach((o, i) => {
      rows[i].dataset.order = o.order_no;
      if (o.next_deadline) rows[i].className = o.next_deadline.urgency;
      rows[i].children[3].className = "deadline";
      rows[i].children[7].className = "actions";
    });
  } catch (e) {
    text("mine-status", "orders not loaded: " + e.message);
  }
}
setInterval(loadMine, 30000);  // a 回访's result is written by the dialer, not pushed

// ---------------------------------------------------------------- agent state
async function loadState() {
  try {
    const r = await api("/api/agents/me");
    if (!r.ok) throw new Error("HTTP " + r.status);
    const a = await r.json();
    const queuesIn = a.queues || [];
    text("agent-state", [a.state, a.pause_reason || "",
                         a.after_call_work_ends_at ? "until " + local(a.after_call_work_ends_at) : "",
                         queuesIn.length ? "in " + queuesIn.join(", ") : ""]
      .filter(Boolean).join(" · "));
    showTransferQueues(a.transfer_queues || []);
    const select = $("pause-reason");
    const reasons = a.pause_reasons || [];
    if (reasons.length && [...select.options].map(o => o.value).join("|") !== reasons.join("|")) {
      select.replaceChildren(...reasons.map(reason => {  // the centre's configured reasons
        const option = document.createElement("option");
        option.value = reason;
        option.textContent = reason;
        return option;
      }));
    }
  } catch (e) {
    text("agent-state", "state not available (" + e.message + ")");
  }
}
for (const action of ["login", "logout", "pause", "unpause", "ready"]) {
  $("do-" + action).addEventListener("click", async () => {
    const options = {method: "POST"};
    if (action === "pause") options.body = JSON.stringify({reason: $("pause-reason").value});
    let r = null;
    try { r = await api("/api/agents/me/" + action, options); } catch (e) { r = null; }
    let d = {};
    try { d = r ? await r.json() : {}; } catch (e) { d = {}; }
    text("control-status", r && r.ok ? action + " done" : action + " failed: " + (d.error || (r ? "HTTP " + r.status : "no link")));
    loadState();
  });
}

// ---------------------------------------------------------------- own recordings
// An <audio> element cannot send the token: the page asks for signed links (one viewer, a
// few minutes) and the player seeks with range requests on them (docs/recording.md).
let playing = null;  // {id, until}: the recording in the players and when its links die
async function playRecording(id, callId) {
  try {
    const r = await api("/api/recordings/" + id + "/playback-url", {method: "POST"});
    const d = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(d.error || "HTTP " + r.status);
    playing = {id, callId, until: Date.parse(d.expires_at)};
    $("play-agent").src = d.agent;
    $("play-customer").src = d.customer;
    text("player-call", callId);
    text("player-until", local(d.expires_at));
    $("player").hidden = false;
    text("rec-status", "");
  } catch (e) {
    text("rec-status", "cannot play: " + e.message);
  }
}
// A link that died while listening: fresh links, same place (else the error stands).
for (const id of ["play-agent", "play-customer"]) {
  $(id).addEventListener("error", async () => {
    if (!playing || Date.now() < playing.until - 5000) return;
    const players = ["play-agent", "play-customer"].map(p => [$(p), $(p).currentTime, !$(p).paused]);
    await playRecording(playing.id, playing.callId);
    for (const [player, at, wasPlaying] of players) {
      player.currentTime = at;
      if (wasPlaying) player.play().catch(() => {});
    }
  });
}
async function loadRecordings() {
  try {
    const [r, i] = await Promise.all([api("/api/recordings?limit=20"), api("/api/inspections?limit=100")]);
    if (!r.ok) throw new Error("HTTP " + r.status);
    const recordings = (await r.json()).recordings;
    const scored = new Map();
    if (i.ok) for (const x of (await i.json()).inspections) scored.set(x.recording_id, x);
    fill("recordings", recordings.map(rec => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "play 播放";
      button.className = "play";
      button.dataset.recording = rec.id;
      button.disabled = rec.state !== "complete";
      button.addEventListener("click", () => playRecording(rec.id, rec.call_id));
      const inspection = scored.get(rec.id);
      return [local(rec.started_at), rec.call_id,
              rec.duration_ms === null ? rec.state : (rec.duration_ms / 1000).toFixed(1) + " s",
              rec.orders.join(", "), rec.findings.map(f => f.kind).join(", "),
              inspection ? inspection.score + (inspection.failed ? " ✗ " + inspection.failed_items.join(",") : " ✓") : "",
              button];
    }));
  } catch (e) {
    text("rec-status", "recordings not loaded: " + e.message);
  }
}
setInterval(loadRecordings, 60000);
loadRecordings();

connect();
