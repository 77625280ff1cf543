/* Sensors: each reading live (every 2 s) and the last 24 h as a uPlot chart (history from the
   API, then the live readings appended), calibration of the fill sensors. */
"use strict";
(function () {
  const {t, label, api, el, clear, num, say, showErrors, agentDown, every} = C;
  const box = document.getElementById("sensor-list");
  const cards = {};  // sensor id -> {card, plot, xs, ys}
  window.consoleCharts = cards;  // the charts' data, for whoever checks the page (and the tests)

  function title(r) {
    if (r.kind === "fill") return r.id + (r.bin ? " · " + t("bin", {id: r.bin}) : "");
    return r.id + (r.gas ? " · " + r.gas.toUpperCase() : "");
  }

  function makePlot(target, r, xs, ys) {
    const width = Math.max(240, Math.min(target.clientWidth || 600, 900));
    const unit = r.kind === "fill" ? "%" : (r.unit || "ppm");
    const opts = {
      width: width, height: 180,
      scales: {x: {time: true}, y: r.kind === "fill" ? {range: [0, 100]} : {}},
      series: [{}, {label: (r.kind === "fill" ? t("fill_pct") : (r.gas || t("odor")) + " " + unit),
                    stroke: r.kind === "fill" ? "#2e6b3f" : "#8e24aa", width: 2,
                    value: (u, v) => (v === null || v === undefined ? "–" : num(v) + " " + unit)}],
      legend: {show: true},
    };
    return new uPlot(opts, [xs, ys], target);
  }

  function card(r) {
    const c = {xs: [], ys: [], plot: null};
    c.value = el("span", {class: "value"});
    c.state = el("span", {class: "badge"});
    c.raw = el("span", {class: "small raw"});
    c.chart = el("div", {class: "chart"});
    c.note = el("p", {class: "small chart-note"});
    c.message = el("div", {class: "calibrate-message", role: "status"});
    const buttons = r.kind === "fill" ? el("div", {class: "buttons"},
      el("button", {type: "button", class: "cal-empty", onclick: () => calibrate(r, "empty", c)}, t("cal_empty")),
      el("button", {type: "button", class: "cal-full", onclick: () => calibrate(r, "full", c)}, t("cal_full"))) : null;
    c.card = el("section", {class: "sensor " + r.kind, dataset: {sensor: r.id}},
      el("h3", {}, title(r)), el("p", {class: "reading"}, c.value, " ", c.state, " ", c.raw), c.chart, c.note, buttons, c.message);
    box.append(c.card);
    cards[r.id] = c;
    loadHistory(r, c);
    return c;
  }

  async function loadHistory(r, c) {
    const h = await api("/api/history?sensor=" + encodeURIComponent(r.id) + "&hours=24");
    const points = h.ok && h.data && Array.isArray(h.data.points) ? h.data.points : [];
    const live = c.xs.map((x, i) => [x, c.ys[i]]);
    const merged = points.concat(live.filter((p) => !points.length || p[0] > points[points.length - 1][0]));
    c.xs = merged.map((p) => p[0]);
    c.ys = merged.map((p) => p[1]);
    c.note.textContent = points.length ? "" : t("no_history");
    c.plot = makePlot(c.chart, r, c.xs, c.ys);
  }

  function update(r) {
    const c = cards[r.id] || card(r);
    const v = r.kind === "fill" ? r.fill_pct : r.value;
    c.value.textContent = v === null || v === undefined ? "–" : num(v) + (r.kind === "fill" ? " %" : " " + (r.unit || ""));
    c.state.textContent = label(r.state);
    c.state.className = "badge state-" + r.state;
    c.raw.textContent = r.kind === "fill" && r.raw !== null && r.raw !== undefined ? t("distance", {mm: num(r.raw, 0)}) : "";
    if (typeof v === "number" && typeof r.t === "number" && (!c.xs.length || r.t > c.xs[c.xs.length - 1])) {
      c.xs.push(r.t);
      c.ys.push(v);
      const cutoff = r.t - 24 * 3600;
      while (c.xs.length && c.xs[0] < cutoff) { c.xs.shift(); c.ys.shift(); }
      if (c.plot) c.plot.setData([c.xs, c.ys]);
    }
  }

  async function calibrate(r, point, c) {
    if (!confirm(t(point === "empty" ? "confirm_empty" : "confirm_full", {bin: r.bin || r.id}))) return;
    const res = await api("/api/sensors/" + encodeURIComponent(r.id) + "/calibrate", {method: "POST", json: {point: point}});
    if (res.ok) say(c.message, t("calibrated"), "ok");
    else showErrors(c.message, res.data.errors);
  }

  let first = true;
  every(2000, async () => {
    const s = await api("/api/state");
    agentDown(s);
    if (!s.ok) return;
    if (first) { clear(box); first = false; }
    for (const r of s.data.readings || []) update(r);
  });
  window.addEventListener("resize", () => {
    for (const c of Object.values(cards)) if (c.plot) c.plot.setSize({width: Math.max(240, Math.min(c.chart.clientWidth || 600, 900)), height: 180});
  });
})();
