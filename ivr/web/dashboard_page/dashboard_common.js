// Shared by the bridge's pages (served at /dashboard/assets/dashboard_common.js): the token
// kept out of the address bar, tables written as text only, and figures and times formatted
// for people in the centre's time zone. A classic script: it defines one global, IvrCommon.
"use strict";

const IvrCommon = (() => {
  // The token comes in the URL fragment (never sent in a request line or logged), is kept in
  // this tab's sessionStorage and taken out of the address bar at once (history, bookmarks,
  // screenshots), and goes out only as an Authorization header.
  function takeToken(key = "ivr-token") {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const given = fragment.get("token");
    if (given) {
      sessionStorage.setItem(key, given);
      fragment.delete("token");  // the rest (e.g. month=) stays
      const rest = fragment.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
    return sessionStorage.getItem(key) || "";
  }

  async function getJson(url, token) {
    const r = await fetch(url, {headers: {"Authorization": "Bearer " + token}});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
    return body;
  }

  const missing = v => v === null || v === undefined;
  const pct = v => missing(v) ? "–" : (100 * v).toFixed(1) + "%";
  const secs = ms => missing(ms) ? "–" : (ms / 1000).toFixed(1);

  // 75 -> "1:15", 3725 -> "1:02:05": waits and talk times at a glance
  function duration(seconds) {
    if (missing(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = n => String(n).padStart(2, "0");
    return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }

  function parts(iso, zone) {
    const f = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"});
    const out = {};
    for (const p of f.formatToParts(new Date(iso))) out[p.type] = p.value;
    return out;
  }
  // "2026-12-05 15:20:31" in the centre's zone, whatever the browser's own zone is
  function dateTime(iso, zone) {
    if (!iso) return "";
    const p = parts(iso, zone);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }
  function clock(iso, zone) {
    if (!iso) return "";
    const p = parts(iso, zone);
    return `${p.hour}:${p.minute}:${p.second}`;
  }
  function monthIn(zone, when = new Date()) {
    const p = parts(when.toISOString(), zone);
    return p.year + "-" + p.month;
  }

  // Every cell is written with textContent: caller- or agent-supplied text never becomes markup.
  function fill(table, rows, rowClass) {
    const body = (typeof table === "string" ? document.getElementById(table) : table)
      .querySelector("tbody");
    body.replaceChildren(...rows.map((cells, i) => {
      const tr = document.createElement("tr");
      if (rowClass) tr.className = rowClass(i);
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = missing(c) ? "" : String(c);
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  // Static labels: the page is written in Chinese; another language replaces each
  // [data-i18n] element's text from its dictionary (missing keys stay Chinese).
  function translate(dictionary) {
    for (const el of document.querySelectorAll("[data-i18n]")) {
      const text = dictionary[el.dataset.i18n];
      if (text !== undefined && el.textContent !== text) el.textContent = text;
    }
  }

  return Object.freeze({takeToken, getJson, pct, secs, duration, dateTime, clock, monthIn, fill,
                        translate});
})();
