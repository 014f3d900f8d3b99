"use strict";
// The inspectors' page (docs/recording.md#quality-inspection-质检). The token comes in the URL
// fragment and goes out only as an Authorization header (IvrCommon.takeToken). The <audio>
// elements cannot send it: they play signed links made for this viewer, valid a few minutes.
// Every value is written with textContent; the CSP allows no inline script.
const token = IvrCommon.takeToken();
const $ = id => document.getElementById(id);
const ZONE = "Asia/Shanghai";
let standard = null;   // the form's items, from /api/inspections/standard
let current = null;    // the recording being inspected

const api = (path, options = {}) => fetch(path, {
  ...options,
  headers: {"Authorization": "Bearer " + token,
            ...(options.body ? {"Content-Type": "application/json"} : {})},
});
async function json(path, options) {
  const r = await api(path, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
  return body;
}
function text(id, value) { $(id).textContent = value === null || value === undefined ? "" : String(value); }
const when = iso => IvrCommon.dateTime(iso, ZONE);
const length = ms => ms === null || ms === undefined ? "–" : IvrCommon.duration(ms / 1000);

function rows(tableId, items, cellsOf) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...items.map(item => {
    const tr = document.createElement("tr");
    for (const c of cellsOf(item)) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    }
    return tr;
  }));
  return [...body.children];
}
function openButton(recordingId) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = "打开 open";
  b.className = "open";
  b.dataset.recording = recordingId;
  b.addEventListener("click", () => openRecording(recordingId));
  return b;
}

async function loadQueue() {
  const period = $("period").value.trim();
  try {
    const q = await json("/api/inspections/queue" + (period ? "?period=" + encodeURIComponent(period) : ""));
    $("period").value = q.period;
    text("queue-status", q.calls.length + " drawn, " + q.pending + " pending (" + q.per + ", share " + IvrCommon.pct(q.share) + ")");
    const trs = rows("queue", q.calls, c => [when(c.started_at), c.agent_job_number, c.call_id,
      length(c.duration_ms), c.reasons.join(", "), c.findings.join(", "),
      c.inspection_id === null ? "pending" : "#" + c.inspection_id, openButton(c.recording_id)]);
    q.calls.forEach((c, i) => { if (c.inspection_id !== null) trs[i].className = "done"; });
  } catch (e) {
    text("queue-status", "queue not loaded: " + e.message);
  }
}

async function loadRecent() {
  try {
    const d = await json("/api/recordings?limit=50");
    rows("recent", d.recordings, r => [when(r.started_at), r.agent_job_number, r.kind, r.call_id,
      r.state === "complete" ? length(r.duration_ms) : r.state, r.findings.map(f => f.kind).join(", "),
      r.state === "complete" ? openButton(r.id) : ""]);
    text("status", "connected");
    $("status").className = "";
  } catch (e) {
    text("status", "not loaded: " + e.message + " (open the page with an inspector's or supervisor's token)");
    $("status").className = "stale";
  }
}

function scoringRows() {
  rows("items", standard.items, item => {
    const input = document.createElement("input");
    input.type = "number";
    input.min = "0";
    input.max = String(item.weight);
    input.step = "1";
    input.value = String(item.weight);
    input.className = "score";
    input.id = "score-" + item.key;
    input.dataset.key = item.key;
    return [item.label, item.weight, input];
  });
}

// The links die within minutes; a player that needs more bytes after that fails, and gets
// fresh links (same place, playing on if it was) instead of showing the error.
let linksUntil = 0;
function useLinks(links) {
  linksUntil = Date.parse(links.expires_at);
  $("audio-agent").src = links.agent;
  $("audio-customer").src = links.customer;
  text("links-until", when(links.expires_at));
}
for (const id of ["audio-agent", "audio-customer"]) {
  $(id).addEventListener("error", async () => {
    if (!current || Date.now() < linksUntil - 5000) return;  // not an expiry: the error stands
    const players = ["audio-agent", "audio-customer"].map(p => [$(p), $(p).currentTime, !$(p).paused]);
    try {
      useLinks(await json("/api/recordings/" + current.id + "/playback-url", {method: "POST"}));
      for (const [player, at, playing] of players) {
        player.currentTime = at;
        if (playing) player.play().catch(() => {});
      }
    } catch (e) {
      text("status", "links not renewed: " + e.message);
    }
  });
}

async function openRecording(id) {
  try {
    const [rec, links] = await Promise.all([
      json("/api/recordings/" + id),
      json("/api/recordings/" + id + "/playback-url", {method: "POST"}),
    ]);
    current = rec;
    useLinks(links);
    text("current-call", rec.call_id);
    text("current-job", rec.agent_job_number ? "工号 " + rec.agent_job_number : "");
    const list = $("findings");
    list.replaceChildren(...rec.findings.map(f => {
      const li = document.createElement("li");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "finding";
      box.id = "finding-" + f.kind + "-" + f.at_ms;
      box.value = f.kind;
      const label = document.createElement("label");
      label.htmlFor = box.id;
      label.textContent = f.kind + " at " + (f.at_ms / 1000).toFixed(1) + " s for " + (f.length_ms / 1000).toFixed(1) + " s (used)";
      const seek = document.createElement("button");
      seek.type = "button";
      seek.textContent = "▶ " + (f.at_ms / 1000).toFixed(1) + " s";
      seek.className = "seek";
      seek.addEventListener("click", () => { for (const a of ["audio-agent", "audio-customer"]) $(a).currentTime = f.at_ms / 1000; });
      li.append(box, " ", label, " ", seek);
      return li;
    }));
    if (!rec.findings.length) list.replaceChildren(Object.assign(document.createElement("li"), {textContent: "none"}));
    scoringRows();
    $("comment").value = "";
    text("form-status", "");
    $("inspect").hidden = false;
  } catch (e) {
    text("status", "cannot open: " + e.message);
  }
}

$("score-form").addEventListener("submit", async event => {
  event.preventDefault();
  if (!current) return;
  const scores = {};
  let bad = false;
  for (const input of document.querySelectorAll("input.score")) {
    const value = Number(input.value);
    const ok = input.value !== "" && Number.isInteger(value) && value >= 0 && value <= Number(input.max);
    input.classList.toggle("bad", !ok);
    bad = bad || !ok;
    scores[input.dataset.key] = value;
  }
  if (bad) { text("form-status", "each score is whole points from 0 to the item's points"); return; }
  const used = [...new Set([...document.querySelectorAll("input.finding:checked")].map(b => b.value))];
  const comment = $("comment").value.trim();
  try {
    const saved = await json("/api/inspections", {method: "POST", body: JSON.stringify({
      recording_id: current.id, scores, findings_used: used, ...(comment ? {comment} : {})})});
    text("form-status", "saved #" + saved.id + ": " + saved.score + (saved.failed ? " — failed: " + saved.failed_items.join(", ") : " — passed"));
    loadQueue();
  } catch (e) {
    text("form-status", "not saved: " + e.message);
  }
});

$("load-queue").addEventListener("click", loadQueue);
(async () => {
  const wanted = new URLSearchParams(location.hash.slice(1)).get("period");
  if (wanted) $("period").value = wanted;
  try { standard = await json("/api/inspections/standard"); } catch (e) { text("status", "not loaded: " + e.message); return; }
  await Promise.all([loadRecent(), loadQueue()]);
})();
