/* The zone editor: the floor and bin polygons on an SVG over the camera picture.
   Drag a corner to move it, click on the picture to add one (into the nearest edge of the chosen
   zone), double-click a corner (or "Remove corner" on a phone) to take it away, "Redraw" to place
   a zone's corners one by one. Save sends the zones to the API, which validates them through the
   config layer; its errors are shown beside the zone they are about. */
"use strict";
(function () {
  const {t, api, el, clear, say, showErrors, agentDown} = C;
  const SVG = "http://www.w3.org/2000/svg";
  const img = document.getElementById("frame");
  const svg = document.getElementById("overlay");
  const list = document.getElementById("zone-list");
  const message = document.getElementById("zones-message");
  const hint = document.getElementById("hint");
  const showActive = document.getElementById("show-active");

  let zones = null;    // the working copy: {frame: [w, h], floor: [[x, y]..], bins: [{id, polygon}]}
  let saved = null;    // the zones in the config file, as last read
  let active = null;   // the zones the running agent uses
  let selected = "floor";   // "floor" or the index of a bin
  let drawing = false;      // Redraw: each click places the next corner
  let errors = {};          // zone key ("floor", "bin-0", "") -> messages
  let drag = null;          // {index} while a corner is dragged
  let downOnCorner = false; // the click after a corner's pointerdown adds nothing
  let lastCorner = null;    // the corner last touched (for "Remove corner")
  let dirty = false;        // changes not saved yet: leaving the page asks first

  const copy = (z) => JSON.parse(JSON.stringify(z));
  const keyOf = (sel) => (sel === "floor" ? "floor" : "bin-" + sel);
  function polygonOf(z, sel) {
    return sel === "floor" ? z.floor : (z.bins[sel] ? z.bins[sel].polygon : []);
  }
  function nameOf(sel) {
    return sel === "floor" ? t("floor") : zones.bins[sel].id;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
  const pointsAttr = (poly) => poly.map((p) => p[0] + "," + p[1]).join(" ");

  /* a pointer event's place in camera pixels */
  function framePoint(ev) {
    const rect = svg.getBoundingClientRect();
    const [w, h] = zones.frame;
    const x = Math.round(((ev.clientX - rect.left) / rect.width) * w);
    const y = Math.round(((ev.clientY - rect.top) / rect.height) * h);
    return [Math.min(w, Math.max(0, x)), Math.min(h, Math.max(0, y))];
  }

  /* where a new corner goes: into the edge nearest to it */
  function insertAt(poly, p) {
    if (poly.length < 3) return poly.length;
    let best = 0, bestD = Infinity;
    for (let i = 0; i < poly.length; i++) {
      const a = poly[i], b = poly[(i + 1) % poly.length];
      const dx = b[0] - a[0], dy = b[1] - a[1];
      const len2 = dx * dx + dy * dy || 1;
      const u = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
      const ex = a[0] + u * dx - p[0], ey = a[1] + u * dy - p[1];
      const d = ex * ex + ey * ey;
      if (d < bestD) { bestD = d; best = i + 1; }
    }
    return best;
  }

  function drawOverlay() {
    const [w, h] = zones.frame;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const scale = w / (svg.getBoundingClientRect().width || w);
    const r = 11 * scale;  // corners stay finger-sized whatever the picture's size on screen
    svg.replaceChildren();
    if (active && showActive.checked) {
      const g = svgEl("g", {class: "active-zones"});
      g.append(svgEl("polygon", {class: "active floor", points: pointsAttr(active.floor)}));
      for (const b of active.bins) g.append(svgEl("polygon", {class: "active bin", "data-bin": b.id, points: pointsAttr(b.polygon)}));
      svg.append(g);
    }
    const order = ["floor", ...zones.bins.map((_, i) => i)].filter((s) => s !== selected).concat([selected]);
    for (const sel of order) {
      const poly = polygonOf(zones, sel);
      if (!poly) continue;
      const key = keyOf(sel);
      const cls = ["zone", sel === "floor" ? "floor" : "bin", sel === selected ? "selected" : "", errors[key] ? "invalid" : ""].join(" ");
      const shape = svgEl(drawing && sel === selected ? "polyline" : "polygon", {class: cls, "data-zone": key, points: pointsAttr(poly)});
      svg.append(shape);
      if (poly.length) {
        const tx = svgEl("text", {class: "zone-label" + (errors[key] ? " invalid" : ""), x: poly[0][0] + 4 * scale,
                                  y: poly[0][1] - 6 * scale, "font-size": 14 * scale});
        tx.textContent = nameOf(sel) + (errors[key] ? " ⚠ " + errors[key][0] : "");
        svg.append(tx);
      }
      if (sel === selected) {
        poly.forEach((p, i) => svg.append(svgEl("circle", {class: "corner" + (i === lastCorner ? " touched" : ""),
                                                            cx: p[0], cy: p[1], r: r, "data-index": i})));
      }
    }
  }

  function zoneRow(sel) {
    const key = keyOf(sel);
    const poly = polygonOf(zones, sel);
    const row = el("div", {class: "zone-row" + (sel === selected ? " selected" : "") + (errors[key] ? " invalid" : ""), dataset: {zone: key}});
    row.append(el("button", {type: "button", class: "select", onclick: () => { selected = sel; drawing = false; lastCorner = null; render(); }},
                  sel === "floor" ? t("floor") : t("bin", {id: ""}).trim()));
    if (sel !== "floor") {
      row.append(el("input", {class: "bin-id", value: zones.bins[sel].id, size: 10, "aria-label": "id",
                              oninput: (ev) => { zones.bins[sel].id = ev.target.value; changed(false); drawOverlay(); }}));
    }
    row.append(el("span", {class: "small corners"}, t("corners", {n: poly.length})));
    if (sel === selected) {
      if (drawing) {
        row.append(el("button", {type: "button", class: "done", onclick: () => { drawing = false; render(); }}, t("done")));
      } else {
        row.append(el("button", {type: "button", class: "redraw", onclick: () => {
          polygonOf(zones, sel).length = 0; drawing = true; lastCorner = null; changed(); }}, t("redraw")));
        row.append(el("button", {type: "button", class: "remove-corner", disabled: lastCorner === null, onclick: () => {
          polygonOf(zones, sel).splice(lastCorner, 1); lastCorner = null; changed(); }}, t("remove_corner")));
      }
    }
    if (sel !== "floor") {
      row.append(el("button", {type: "button", class: "remove-bin", onclick: () => {
        if (!confirm(t("confirm_remove_bin", {id: zones.bins[sel].id}))) return;
        zones.bins.splice(sel, 1); selected = "floor"; changed(); }}, t("remove_bin")));
    }
    if (errors[key]) row.append(el("ul", {class: "zone-errors"}, errors[key].map((m) => el("li", {class: "error"}, m))));
    return row;
  }

  function render() {
    if (!zones) return;
    drawOverlay();
    clear(list, ["floor", ...zones.bins.map((_, i) => i)].map(zoneRow));
    hint.textContent = drawing ? t("drawing") : t("editing");
  }

  function changed(redraw = true) {
    dirty = true;
    errors = {};
    say(message, t("unsaved"), "note");
    if (redraw) render();
  }

  /* pointer handling: drag corners, click to add */
  svg.addEventListener("pointerdown", (ev) => {
    const corner = ev.target.closest && ev.target.closest("circle.corner");
    downOnCorner = Boolean(corner);
    if (corner && drawing) {  // back on the first corner: the zone is closed
      if (Number(corner.dataset.index) === 0 && polygonOf(zones, selected).length >= 3) { drawing = false; render(); }
      return;
    }
    if (!corner) return;
    drag = {index: Number(corner.dataset.index), moved: false};
    lastCorner = drag.index;
    svg.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    polygonOf(zones, selected)[drag.index] = framePoint(ev);
    drag.moved = true;
    drawOverlay();
  });
  function endDrag(ev) {
    if (!drag) return;
    if (svg.hasPointerCapture(ev.pointerId)) svg.releasePointerCapture(ev.pointerId);
    const moved = drag.moved;
    drag = null;
    if (moved) changed(); else render();
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("click", (ev) => {
    if (downOnCorner) { downOnCorner = false; return; }
    const poly = polygonOf(zones, selected);
    const p = framePoint(ev);
    const at = drawing ? poly.length : insertAt(poly, p);
    poly.splice(at, 0, p);
    lastCorner = at;
    changed();
  });
  svg.addEventListener("dblclick", (ev) => {
    const corner = ev.target.closest && ev.target.closest("circle.corner");
    if (!corner) return;
    polygonOf(zones, selected).splice(Number(corner.dataset.index), 1);
    lastCorner = null;
    changed();
  });

  document.getElementById("add-bin").addEventListener("click", () => {
    const [w, h] = zones.frame;
    const ids = new Set(zones.bins.map((b) => b.id));
    let n = zones.bins.length + 1;
    while (ids.has("bin-" + n)) n++;
    const x = Math.round(w * 0.4), y = Math.round(h * 0.3), s = Math.round(Math.min(w, h) * 0.2);
    zones.bins.push({id: "bin-" + n, polygon: [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]});
    selected = zones.bins.length - 1;
    drawing = false;
    changed();
  });
  window.addEventListener("beforeunload", (ev) => { if (dirty) { ev.preventDefault(); ev.returnValue = ""; } });
  document.getElementById("revert").addEventListener("click", () => {
    zones = copy(saved); selected = "floor"; drawing = false; errors = {}; lastCorner = null; dirty = false;
    clear(message); render();
  });
  showActive.addEventListener("change", drawOverlay);
  window.addEventListener("resize", drawOverlay);

  /* the API's error paths (zones.floor, zones.bins[1].polygon, …) to the zone they are about */
  function zoneOfPath(path) {
    const m = /bins(?:\[|\.)(\d+)/.exec(path || "");
    if (m) return "bin-" + m[1];
    if (/floor/.test(path || "")) return "floor";
    return "";
  }

  const near = (a, b) => Math.abs(Number(a) - Number(b)) < 0.5;
  function samePolygon(a, b) {
    return a.length === b.length && a.every((p, i) => near(p[0], b[i][0]) && near(p[1], b[i][1]));
  }
  function sameZones(a, b) {
    return a && b && samePolygon(a.floor, b.floor) && a.bins.length === b.bins.length &&
      a.bins.every((x, i) => x.id === b.bins[i].id && samePolygon(x.polygon, b.bins[i].polygon));
  }

  /* a new picture; resolves when it is shown */
  function loadFrame() {
    return new Promise((resolve) => {
      const next = new Image();
      next.onload = () => {
        img.src = next.src;
        img.dataset.loadedAt = String(Date.now());
        document.getElementById("frame-time").textContent = t("picture_at", {when: C.when(Date.now() / 1000)});
        resolve(true);
      };
      next.onerror = () => resolve(false);
      next.src = "/api/frame.jpg?t=" + Date.now();
    });
  }

  async function save() {
    const body = {floor: zones.floor, bins: zones.bins.map((b) => ({id: b.id.trim(), polygon: b.polygon}))};
    const button = document.getElementById("save");
    button.disabled = true;
    try {
      const r = await api("/api/zones", {method: "PUT", json: body});
      if (r.status === 422 || (!r.ok && r.data && r.data.errors)) {
        errors = {};
        const general = [];
        for (const e of r.data.errors || []) {
          const key = zoneOfPath(e.path);
          if (key && (key === "floor" || zones.bins[Number(key.slice(4))])) (errors[key] = errors[key] || []).push(e.message);
          else general.push(e);
        }
        render();
        clear(message, el("p", {class: "error", id: "refused"}, t("refused")));
        if (general.length) { const box = el("div"); showErrors(box, general); message.append(box); }
        return;
      }
      if (!r.ok) { say(message, t("failed", {message: r.status}), "error"); return; }
      saved = copy(zones);
      dirty = false;
      if (r.data && r.data.reloading === false) { say(message, t("saved_no_agent"), "note"); return; }
      say(message, t("saved_wait"), "note");
      const deadline = Date.now() + 30000;
      while (Date.now() < deadline) {
        const z = await api("/api/zones");
        if (z.ok && sameZones(z.data.active, zones)) {
          active = z.data.active;
          // the agent just reloaded: its camera may not have a picture for a moment
          while (!(await loadFrame()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 500));
          render();
          clear(message, el("p", {class: "ok", id: "active-now"}, t("saved_active")));
          return;
        }
        await new Promise((res) => setTimeout(res, 1000));
      }
      say(message, t("saved_not_active"), "error");
    } finally {
      button.disabled = false;
    }
  }
  document.getElementById("save").addEventListener("click", save);

  async function start() {
    const r = await api("/api/zones");
    agentDown(r);
    if (!r.ok) { showErrors(message, r.data.errors); return; }
    saved = {frame: r.data.frame, floor: r.data.floor, bins: r.data.bins};
    zones = copy(saved);
    active = r.data.active || null;
    if (!zones.frame && active) zones.frame = active.frame;
    await loadFrame();
    render();
    document.body.dataset.ready = "1";
    // a new picture every few seconds (not while a corner is being dragged)
    C.every(5000, async () => { if (!drag) await loadFrame(); });
    // what the agent uses, in case someone else changed it
    C.every(10000, async () => {
      const z = await api("/api/zones");
      agentDown(z);
      if (z.ok && z.data.active && !drag) { active = z.data.active; drawOverlay(); }
    });
  }
  start();
})();
