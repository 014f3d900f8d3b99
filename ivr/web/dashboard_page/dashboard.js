// The supervisors' wallboard: polls /api/dashboard every second, the open alerts every 2 s,
// and computes a month's report only when asked. Formatting and table filling are
// IvrCommon's (dashboard_common.js); every value is written as text.
"use strict";

const C = IvrCommon;
const token = C.takeToken();
let zone = "Asia/Shanghai";  // the centre's, as the API says; never the browser's own
let lang = "zh";

// Words the script writes itself, and the English for the page's [data-i18n] labels.
const WORDS = {
  zh: {
    updated: "更新于", stale: "未更新：", open: "条未确认", ack: "确认", provisional: "（暂定）",
    target: "目标", green: "绿", amber: "黄", final: "（已结束）", so_far: "（截至目前）",
    as_of: "，计算于", report_failed: "报表未加载：", download_failed: "下载失败：",
    met: " — 达标", not_met: " — 未达标", warning: "预警", breach: "超时",
    listen: "监听", whisper: "耳语", barge: "强插", phone_rings: "您的话机正在振铃",
    alarm_service_level: "服务水平低于告警线", alarm_waiting: "排队人数超过告警线",
    planned: "计划", fault: "故障",
    vhold_counts: "今日：保留 {kept} · 已回拨 {called_back} · 接通 {connected} · 失败 {failed}",
    vhold_state: {kept: "等候轮到", claimed: "即将回拨", originating: "正在回拨",
                  answered: "已接听，排在队首", connected: "已接通坐席", failed: "未能接通",
                  cancelled: "已取消"},
    centre: [
      ["服务水平（首次振铃15秒内接通 / 呼入−短时放弃）", "service_level", "pct"],
      ["15秒接通 / 接通", "answered_service_level", "pct"],
      ["排队15秒内接通 / 接通（Asterisk）", "queue_wait_service_level", "pct"],
      ["呼入 / 接通 / 15秒内", "counts"],
      ["振铃 / 计入坐席的未及时接听", "rings"],
      ["放弃率", "abandon_rate", "pct"],
      ["平均应答速度（秒）", "asa_ms", "secs"],
      ["报修5分钟派单率", "dispatch_rate", "pct"],
      ["超时工单（本月登记）", "orders_overdue", "int"],
      ["月末未办结超期工单", "open_past_due_at_month_end", "int"],
      ["按时回访率", "callbacks_on_time_rate", "pct"],
      ["满意率（目标 90%）", "satisfaction"],
      ["质检差错率（目标 <0.5%）/ 质检量", "errors"],
      ["质检平均得分", "quality_score", "score"],
    ],
  },
  en: {
    updated: "updated", stale: "not updating: ", open: "open", ack: "acknowledge",
    provisional: " (provisional)", target: "target", green: "green", amber: "amber",
    final: " (final)", so_far: " (so far)", as_of: ", as of ", report_failed: "report not loaded: ",
    download_failed: "download failed: ", met: " — met", not_met: " — NOT met",
    warning: "warning", breach: "breach",
    listen: "listen", whisper: "whisper", barge: "barge", phone_rings: "your phone is ringing",
    alarm_service_level: "service level below its alarm", alarm_waiting: "callers waiting above its alarm",
    planned: "planned", fault: "fault",
    vhold_counts: "today: kept {kept} · called back {called_back} · connected {connected} · failed {failed}",
    vhold_state: {kept: "waiting for its turn", claimed: "about to call", originating: "calling",
                  answered: "answered, at the head", connected: "with an agent", failed: "not reached",
                  cancelled: "cancelled"},
    centre: [
      ["service level (≤ 15 s of the first ring / offered − short abandons)", "service_level", "pct"],
      ["answered ≤ 15 s / answered", "answered_service_level", "pct"],
      ["queue wait ≤ 15 s / answered (Asterisk's)", "queue_wait_service_level", "pct"],
      ["offered / answered / ≤ 15 s", "counts"],
      ["rings / against agents", "rings"],
      ["abandon rate", "abandon_rate", "pct"],
      ["ASA (s)", "asa_ms", "secs"],
      ["repair dispatch within 5 min", "dispatch_rate", "pct"],
      ["overdue orders (recorded this month)", "orders_overdue", "int"],
      ["open past due at month end", "open_past_due_at_month_end", "int"],
      ["callbacks on time", "callbacks_on_time_rate", "pct"],
      ["satisfaction (target 90 %)", "satisfaction"],
      ["inspection error rate (target < 0.5 %) / inspected", "errors"],
      ["mean inspection score", "quality_score", "score"],
    ],
    labels: {
      title: "95598 hotline · live", heading: "95598 customer hotline — live",
      offered: "offered / answered today", answered_sl: "answered ≤ 15 s / answered",
      queue_wait_sl: "queue wait ≤ 15 s (Asterisk's)", rings_against: "rings against agents today",
      informed: "callers informed by an outage notice today",
      alarms_heading: "Queue alarms", alarms_none: "none", alarm_figure: "figure",
      alarm_value: "now", alarm_limit: "alarm at", outages_heading: "Active outages",
      outages_none: "none", outage_where: "areas / feeders", outage_cause: "cause",
      outage_since: "since", outage_expected: "expected restoration",
      outage_informed: "callers informed",
      vhold_heading: "Virtual hold (call-backs keeping their place)", vhold_none: "none",
      vhold_arrived: "arrived", vhold_attempts: "call-backs",
      agents_heading: "Agents", job: "工号", name: "name", state: "state", for: "for",
      queues: "queues", queues_heading: "Queues", queue: "queue", waiting: "waiting",
      longest_wait: "longest wait", agents: "agents", service_level: "service level",
      asa: "ASA (s)", abandon: "abandon", waiting_heading: "Waiting callers", caller: "caller",
      waited: "waiting", ringing: "ringing (工号)", talking_heading: "Talking",
      talked: "talking", ring_to_answer: "ring → answer (s)", monitor: "listen in",
      rings_heading: "Rings today, per agent", rings: "rings", rings_in_15s: "≤ 15 s",
      rings_late: "late", rings_missed: "missed", rings_gave_up: "caller gave up",
      rings_against_short: "against", ring_sl: "rings ≤ 15 s",
      alerts_heading: "Time-limit alerts (open)", alert_level: "level", raised: "raised",
      order: "order", limit: "limit", due: "due", message: "message",
      reports_heading: "Monthly reports", month: "month", show: "show", csv: "download CSV",
      xlsx: "download XLSX", figure: "figure", value: "value",
      trend_caption: "service level (≤ 15 s of the first ring / offered less short abandons) " +
        "and satisfaction, six months; dashed: 90 % target",
      agents_caption: "per agent: calls answered (grey) and answered within 15 s (blue)",
      report_agents_heading: "Agents this month", answered: "answered", in_15s: "≤ 15 s",
      orders: "orders", closed_on_time: "closed on time", callbacks_on_time: "callbacks on time",
      satisfaction: "satisfaction", error_rate: "inspection errors / inspected",
      quality_score: "inspection score", inspection_link: "quality inspection and recordings",
    },
  },
};
const W = key => WORDS[lang][key];

function setLanguage(wanted) {
  if (wanted === lang || !WORDS[wanted]) return;
  lang = wanted;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  if (WORDS[lang].labels) C.translate(WORDS[lang].labels);
}

function formatted(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "ratio") return C.pct(value);
  if (unit === "seconds") return C.duration(value);
  return String(value);
}

// The headline tiles: big figure, its colour, and the thresholds that set it.
function drawHeadline(items) {
  const box = document.getElementById("headline");
  const tiles = items.map(h => {
    const tile = document.createElement("div");
    tile.id = "tile-" + h.key;
    tile.className = "tile level-" + h.level;
    tile.dataset.level = h.level;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = h.label;
    const value = document.createElement("b");
    value.className = "value";
    value.id = "value-" + h.key;
    value.textContent = formatted(h.value, h.unit);
    const target = document.createElement("span");
    target.className = "target";
    const sign = h.higher_is_better ? "≥ " : "≤ ";
    target.textContent = W("green") + " " + sign + formatted(h.green, h.unit) + " · " +
                         W("amber") + " " + sign + formatted(h.amber, h.unit);
    tile.append(label, value, target);
    return tile;
  });
  box.replaceChildren(...tiles);
}

// Storm days: queues past their alarm limits, and the active outages with the callers their
// notice informed. An empty list says so in words (an alarm board must not look broken).
function drawStorm(d) {
  const alarms = d.queue_alarms || [];
  C.fill("queue-alarms", alarms.map(a => {
    const pct = a.figure === "service_level";
    return [a.queue, W("alarm_" + a.figure), pct ? C.pct(a.value) : String(a.value),
            (pct ? "< " + C.pct(a.limit) : "> " + a.limit)];
  }), () => "alarm");
  document.getElementById("alarms-none").hidden = alarms.length > 0;
  const outages = d.outages || [];
  C.fill("outages", outages.map(o => [
    [...o.areas, ...o.feeders].join("、") + " (" + W(o.kind) + ")", o.cause,
    C.dateTime(o.starts_at, zone), C.dateTime(o.expected_at, zone), o.callers_informed]));
  document.getElementById("outages-none").hidden = outages.length > 0;
  // virtual hold: callers keeping their place; the number comes masked from the API
  const held = d.virtual_hold || [];
  const counts = (d.today || {}).virtual_hold;
  document.getElementById("vhold-counts").textContent = counts ?
    W("vhold_counts").replace(/\{(\w+)\}/g, (_, k) => String(counts[k] ?? 0)) : "";
  C.fill("vhold", held.map(p => [p.queue, p.caller, C.dateTime(p.arrived_at, zone),
                                 W("vhold_state")[p.state] || p.state, String(p.attempts)]));
  document.getElementById("vhold-none").hidden = held.length > 0;
  const alarmed = new Set(alarms.map(a => a.queue));
  document.querySelectorAll("#queues tbody tr").forEach(row => {
    row.classList.toggle("alarm", alarmed.has(row.cells[0].textContent));
  });
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const d = await C.getJson("/api/dashboard", token);
    zone = d.timezone || zone;
    setLanguage(d.language);
    drawHeadline(d.headline);
    const t = d.today.total;
    document.getElementById("offered").textContent = t.offered + " / " + t.answered;
    document.getElementById("answered-sl").textContent = C.pct(t.answered_service_level);
    document.getElementById("queue-wait-sl").textContent = C.pct(t.queue_wait_service_level);
    document.getElementById("rings-against").textContent =
      t.rings_against_agent + " / " + t.rings;
    document.getElementById("informed").textContent = d.today.callers_informed ?? "–";
    C.fill("agents", d.agents.map(a => [
      a.job_number || a.interface, a.name, a.state_label,
      a.ringing_s === null ? "" : C.duration(a.ringing_s), a.queues.join(", ")]),
      i => "state-" + d.agents[i].state);
    const names = new Set([...Object.keys(d.queues), ...Object.keys(d.today.by_queue)]);
    C.fill("queues", [...names].sort().map(q => {
      const live = d.queues[q] || {waiting: 0, longest_wait_s: 0, agents: 0};
      const f = d.today.by_queue[q] || {};
      return [q, live.waiting, C.duration(live.longest_wait_s), live.agents,
              C.pct(f.service_level), C.secs(f.asa_ms), C.pct(f.abandon_rate)];
    }));
    drawStorm(d);
    C.fill("waiting", d.waiting.map(w => [w.queue, w.caller, C.duration(w.waiting_s),
                                          w.ringing.join(", ")]));
    C.fill("talking", d.talking.map(c => [c.queue, c.caller, c.job_number || c.agent,
                                          C.duration(c.talking_s), C.secs(c.ring_to_answer_ms),
                                          ""]));
    monitorButtons(d.talking);
    C.fill("agent-rings", Object.entries(d.today.by_agent).map(([who, f]) => [
      who, f.rings, f.rings_answered_in_15s, f.rings_answered_late, f.rings_missed,
      f.rings_gave_up, f.rings_against_agent, C.pct(f.ring_service_level)]));
    status.textContent = W("updated") + " " + C.dateTime(d.at, zone) + " (" + zone + ")";
    status.className = "";
  } catch (e) {
    status.textContent = W("stale") + e.message;
    status.className = "stale";
  }
}

// Listen / whisper / barge: the supervisor's own phone (the seat an admin assigned) rings;
// the page names only the call and the mode.
async function monitor(callId, mode) {
  const status = document.getElementById("monitor-status");
  try {
    const r = await fetch("/api/calls/" + encodeURIComponent(callId) + "/monitor", {
      method: "POST", body: JSON.stringify({mode}),
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"}});
    const body = await r.json();
    status.textContent = r.ok ? W("phone_rings") + " (" + W(mode) + ")" : body.error;
    status.className = r.ok ? "" : "stale";
  } catch (e) {
    status.textContent = e.message;
    status.className = "stale";
  }
}
function monitorButtons(talking) {
  const rows = document.querySelectorAll("#talking tbody tr");
  talking.forEach((c, i) => {
    if (!c.call_id) return;  // a call the bridge has no record of (yet)
    for (const mode of ["listen", "whisper", "barge"]) {
      const button = document.createElement("button");
      button.textContent = W(mode);
      button.dataset.mode = mode;
      button.addEventListener("click", () => monitor(c.call_id, mode));
      rows[i].lastChild.appendChild(button);
    }
  });
}

// Open alerts of the time-limit watch (and the dispatcher): text only, like everything above.
async function acknowledge(id) {
  await fetch("/api/alerts/" + encodeURIComponent(id) + "/ack",
              {method: "POST", headers: {"Authorization": "Bearer " + token}});
  refreshAlerts();
}
async function refreshAlerts() {
  const status = document.getElementById("alerts-status");
  try {
    const d = await C.getJson("/api/alerts?state=open&limit=50", token);
    C.fill("alerts", d.alerts.map(a => [
      W(a.level) || a.level, C.dateTime(a.raised_at, zone), a.order_no, a.deadline,
      C.dateTime(a.due_at, zone) + (a.provisional ? W("provisional") : ""), a.message, ""]),
      i => d.alerts[i].level === "breach" ? "breach" : "warning");
    const rows = document.querySelectorAll("#alerts tbody tr");
    d.alerts.forEach((a, i) => {
      const button = document.createElement("button");
      button.textContent = W("ack");
      button.addEventListener("click", () => acknowledge(a.id));
      rows[i].lastChild.appendChild(button);
    });
    status.textContent = d.alerts.length + " " + W("open");
    status.className = "";
  } catch (e) {
    status.textContent = W("stale") + e.message;
    status.className = "stale";
  }
}

// ---- monthly reports: drawn here as inline SVG (no chart library: sites may be offline)
const SVG_NS = "http://www.w3.org/2000/svg";
const TARGET = 0.9;
function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function drawTrend(svg, months) {
  const Wd = 560, H = 230, L = 44, R = 90, T = 12, B = 28;
  svg.setAttribute("viewBox", `0 0 ${Wd} ${H}`);
  const step = (Wd - L - R) / Math.max(months.length, 1);
  const x = i => L + (i + 0.5) * step;
  const y = v => T + (1 - v) * (H - T - B);
  const out = [];
  for (const g of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(svgEl("line", {class: "grid", x1: L, x2: Wd - R, y1: y(g), y2: y(g)}));
    out.push(svgEl("text", {x: L - 6, y: y(g) + 4, "text-anchor": "end"}, (100 * g) + " %"));
  }
  out.push(svgEl("line", {class: "target", x1: L, x2: Wd - R, y1: y(TARGET), y2: y(TARGET)}));
  out.push(svgEl("text", {class: "target-label", x: Wd - R + 4, y: y(TARGET) + 4}, "目标 90 %"));
  months.forEach((m, i) => out.push(svgEl("text", {x: x(i), y: H - 8, "text-anchor": "middle"},
                                          m.month)));
  const series = [["service_level", "sl", lang === "zh" ? "服务水平" : "service level"],
                  ["satisfaction_rate", "sat", lang === "zh" ? "满意率" : "satisfaction"]];
  series.forEach(([key, cls, label], n) => {
    const pts = months.map((m, i) => [i, m.centre[key]]).filter(p => p[1] !== null);
    if (pts.length > 1) {
      out.push(svgEl("polyline", {class: cls,
                                  points: pts.map(([i, v]) => x(i) + "," + y(v)).join(" ")}));
    }
    for (const [i, v] of pts) {
      const dot = svgEl("circle", {class: "pt-" + cls, cx: x(i), cy: y(v), r: 4,
                                   "data-month": months[i].month, "data-value": v});
      dot.appendChild(svgEl("title", {}, label + " " + months[i].month + ": " + C.pct(v)));
      out.push(dot);
    }
    out.push(svgEl("text", {class: "pt-" + cls, x: Wd - R + 4, y: y(0.5) + 16 * n}, label));
  });
  svg.replaceChildren(...out);
}
function drawAgents(svg, agents) {
  const rowH = 26, L = 120, R = 70, T = 8, Wd = 560;
  const H = T * 2 + rowH * Math.max(agents.length, 1);
  svg.setAttribute("viewBox", `0 0 ${Wd} ${H}`);
  const most = Math.max(1, ...agents.map(a => a.calls_answered));
  const w = n => (Wd - L - R) * n / most;
  const out = [];
  agents.forEach((a, i) => {
    const top = T + i * rowH;
    const full = (a.job_number || a.interface || "?") + (a.name ? " " + a.name : "");
    const name = full.length > 16 ? full.slice(0, 15) + "…" : full;
    out.push(svgEl("text", {class: "agent-label", x: L - 6, y: top + 16, "text-anchor": "end"},
                   name));
    out.push(svgEl("rect", {class: "answered", x: L, y: top + 3, height: rowH - 8,
                            width: w(a.calls_answered)}));
    const bar = svgEl("rect", {class: "bar in15", x: L, y: top + 3, height: rowH - 8,
                               width: w(a.answered_in_15s), "data-job": a.job_number || "",
                               "data-value": a.answered_in_15s});
    bar.appendChild(svgEl("title", {}, full + ": " + a.answered_in_15s + " / " +
                                       a.calls_answered + " ≤ 15 s"));
    out.push(bar);
    out.push(svgEl("text", {x: L + w(a.calls_answered) + 6, y: top + 16},
                   a.answered_in_15s + " / " + a.calls_answered));
  });
  svg.replaceChildren(...out);
}
function centreValue(c, key, kind) {
  if (key === "counts") return c.offered + " / " + c.answered + " / " + c.answered_in_15s;
  if (key === "rings") return c.rings + " / " + c.rings_against_agent;
  if (key === "satisfaction") {
    return C.pct(c.satisfaction_rate) + (c.satisfaction_target_met === null ? "" :
           c.satisfaction_target_met ? W("met") : W("not_met"));
  }
  if (key === "errors") {
    return C.pct(c.error_rate) + " / " + c.inspected + (c.error_rate_target_met === null ? "" :
           c.error_rate_target_met ? W("met") : W("not_met"));
  }
  const v = c[key];
  if (kind === "score") return v === null || v === undefined ? "–" : String(v);
  return kind === "pct" ? C.pct(v) : kind === "secs" ? C.secs(v) : String(v);
}
async function loadReport() {
  const status = document.getElementById("report-status");
  const month = document.getElementById("report-month").value;
  try {
    const [report, series] = await Promise.all([
      C.getJson("/api/reports/monthly?month=" + encodeURIComponent(month), token),
      C.getJson("/api/reports/series?months=6&to=" + encodeURIComponent(month), token)]);
    const c = report.centre;
    C.fill("report-centre", W("centre").map(([label, key, kind]) =>
      [label, centreValue(c, key, kind)]));
    C.fill("report-agents", report.agents.map(a => [
      a.job_number || a.interface, a.name, a.calls_answered, a.answered_in_15s,
      a.rings_against_agent, C.secs(a.asa_ms), a.orders_owned, a.orders_closed_on_time,
      a.callbacks_on_time + " / " + a.callbacks_due, C.pct(a.satisfaction_rate),
      a.inspected ? C.pct(a.error_rate) + " / " + a.inspected : "–",
      a.quality_score === null ? "–" : a.quality_score]));
    drawTrend(document.getElementById("chart-trend"), series.months);
    drawAgents(document.getElementById("chart-agents"), report.agents);
    status.textContent = report.month + (report.final ? W("final") : W("so_far")) +
                         W("as_of") + C.dateTime(report.as_of, zone);
    status.className = "";
  } catch (e) {
    status.textContent = W("report_failed") + e.message;
    status.className = "stale";
  }
}
async function download(format) {
  const month = document.getElementById("report-month").value;
  const status = document.getElementById("report-status");
  try {
    const r = await fetch("/api/reports/monthly?format=" + format + "&month=" +
                          encodeURIComponent(month),
                          {headers: {"Authorization": "Bearer " + token}});
    if (!r.ok) throw new Error(((await r.json().catch(() => ({}))).error) || "HTTP " + r.status);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await r.blob());
    link.download = "95598-report-" + month + "." + format;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (e) {
    status.textContent = W("download_failed") + e.message;
    status.className = "stale";
  }
}

refresh();
refreshAlerts();
setInterval(refresh, 1000);
setInterval(refreshAlerts, 2000);
// A month of calls takes the server seconds to add up: reports load when asked for (the
// button, or #month=YYYY-MM in the address), never with the 1-second poll.
const monthInput = document.getElementById("report-month");
const askedMonth = new URLSearchParams(location.hash.slice(1)).get("month");
monthInput.value = askedMonth || C.monthIn(zone);
document.getElementById("report-load").addEventListener("click", loadReport);
document.getElementById("report-csv").addEventListener("click", () => download("csv"));
document.getElementById("report-xlsx").addEventListener("click", () => download("xlsx"));
if (askedMonth) loadReport();
