/* The console's shared helpers: the API, the page's texts, small DOM builders.
   Plain browser JavaScript, no build step; every value from the API is shown with textContent. */
"use strict";
const C = (function () {
  const page = JSON.parse(document.body.dataset.text || "{}");
  const text = page.text || {};
  const labels = page.labels || {};
  const keys = page.keys || {};
  const states = page.states || {};

  /* a text of the page, with {name} filled in */
  function t(key, values) {
    let s = text[key] || key;
    for (const [k, v] of Object.entries(values || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  /* a contract value (incident type, severity, state) as people read it */
  function label(value) {
    return labels[value] || states[value] || String(value);
  }

  /* fetch JSON from the API: {ok, status, data}; a network failure is status 0 */
  async function api(path, options) {
    const opts = Object.assign({credentials: "same-origin", headers: {}}, options || {});
    opts.headers = Object.assign({"Accept": "application/json", "Accept-Language": page.lang || "zh"}, opts.headers);
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (err) {
      return {ok: false, status: 0, data: {errors: [{path: "", message: String(err)}]}};
    }
    if (resp.status === 401) {  // the session expired: back to the login, then here again
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      return {ok: false, status: 401, data: {errors: []}};
    }
    let data = null;
    try { data = await resp.json(); } catch (err) { data = null; }
    if (!resp.ok && !(data && data.errors)) data = {errors: [{path: "", message: resp.status + " " + resp.statusText}]};
    return {ok: resp.ok, status: resp.status, data: data};
  }

  /* el("td", {class: "x"}, "text", child, ...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node, ...children) {
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  /* a time from the API (epoch seconds or ISO text) in the reader's clock */
  function when(value) {
    if (value === null || value === undefined || value === "") return "–";
    const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(d)) return String(value);
    return d.toLocaleString(page.lang === "zh" ? "zh-CN" : "en-GB", {hour12: false});
  }

  function num(value, digits) {
    if (typeof value !== "number") return value === null || value === undefined ? "–" : String(value);
    return Number.isInteger(value) ? String(value) : value.toFixed(digits === undefined ? 1 : digits);
  }

  /* any value (the health block, the outbox) as short text */
  function show(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? t("yes") : t("no");
    if (typeof value === "number") return num(value);
    if (Array.isArray(value)) return value.length ? value.map(show).join(", ") : t("none");
    if (typeof value === "object" && !Object.keys(value).length) return t("none");
    if (typeof value === "object") return Object.entries(value).map(([k, v]) => key(k) + ": " + show(value_(k, v))).join(" · ");
    return label(value);
  }

  /* a field name of the agent's answer as people read it (the field itself where not translated) */
  function key(k) {
    return keys[k] || k;
  }

  /* a field's value: durations and times as people read them */
  function value(k, v) {
    if (typeof v === "number" && /(^|_)(uptime|age)(_s)?$|_s$/.test(k) && v >= 60) {
      const h = Math.floor(v / 3600), m = Math.floor((v % 3600) / 60);
      return t("uptime", {h: h, m: m});
    }
    if (typeof v === "number" && /_s$/.test(k)) return t("seconds", {s: num(v)});
    if (/(_at|_ok|^at|^t|^time)$/.test(k) && typeof v === "number" && v > 1e9) return when(v);
    return v;
  }

  const value_ = (k, v) => value(k, v);

  /* a table of key: value rows */
  function kvTable(table, obj) {
    const rows = Object.entries(obj || {}).map(([k, v]) => {
      const bad = (typeof v === "string" && v !== "ok" && /fault|error|down|fail|stale|missing|dead/i.test(v)) ||
        (typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).some((x) => typeof x === "string" && x !== "ok" && /fault|error|down|fail|stale/i.test(x)));
      return el("tr", {class: bad ? "faulty" : null, dataset: {key: k}}, el("th", {}, key(k)), el("td", {}, show(value(k, v))));
    });
    clear(table, rows);
  }

  /* the API's {"errors":[...]} as a list in `box` */
  function showErrors(box, errors) {
    clear(box, el("ul", {class: "errors"}, (errors || []).map((e) =>
      el("li", {class: "error"}, e.path ? el("code", {}, e.path) : null, e.path ? " " : null, e.message))));
  }

  function say(box, message, kind) {
    clear(box, el("p", {class: kind || "ok"}, message));
  }

  /* the banner when the agent does not answer (the API's 503) */
  function agentDown(result) {
    const banner = document.getElementById("agent-down");
    if (!banner) return;
    if (result.status === 503) {
      const why = result.data && result.data.errors && result.data.errors[0] ? result.data.errors[0].message : "";
      banner.textContent = t("agent_down") + (why ? " (" + why + ")" : "");
      banner.hidden = false;
    } else if (result.ok) {
      banner.hidden = true;
    }
  }

  /* run `fn` now and every `ms` while the page is visible */
  function every(ms, fn) {
    let busy = false;
    async function tick() {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } finally { busy = false; }
    }
    tick();
    return setInterval(tick, ms);
  }

  /* the state's incidents: {open: oldest first, recent: newest resolved first} */
  function incidents(state) {
    const inc = (state && state.incidents) || {};
    return {open: inc.open || [], recent: inc.recent || []};
  }

  /* where an incident is: the zone, the bin or the sensor it is about */
  function subject(doc) {
    const s = doc.subject || {};
    return [s.zone, s.bin_id, s.sensor_id].filter((x) => x).join(" · ");
  }

  return {t, label, key, value, api, el, clear, when, num, show, kvTable, showErrors, say, agentDown, every, incidents, subject, lang: page.lang};
})();
