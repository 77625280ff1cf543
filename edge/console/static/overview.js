/* Overview: the agent, its health, the open incidents and the outbox, refreshed every few seconds. */
"use strict";
(function () {
  const {t, label, api, el, clear, when, show, kvTable, agentDown, every, incidents, subject} = C;

  function facts(state) {
    const dev = state.device || {};
    const site = dev.site || {};
    const rows = [
      [t("k_device"), dev.id],
      [t("k_site"), [site.community, site.point_id, site.address].filter((x) => x).join(" · ")],
    ];
    for (const [k, v] of Object.entries(state.agent || {})) rows.push([C.key(k), C.value(k, v)]);
    return rows.map(([k, v]) => [el("dt", {}, k), el("dd", {dataset: {}}, show(v))]);
  }

  async function refresh() {
    const r = await api("/api/state");
    agentDown(r);
    if (!r.ok) return;
    const state = r.data;
    clear(document.getElementById("agent-facts"), facts(state));
    kvTable(document.getElementById("camera-table"), state.camera);
    kvTable(document.getElementById("health-table"), state.health);
    const inc = incidents(state);
    document.getElementById("open-count").textContent = String(inc.open.length);
    clear(document.getElementById("open-list"), inc.open.length ? inc.open.map((doc) =>
      el("li", {class: "incident-line " + (doc.severity || ""), dataset: {id: doc.id}},
        el("span", {class: "badge " + (doc.severity || "")}, label(doc.severity)), " ",
        el("strong", {}, label(doc.type)), " ", subject(doc), " · ", t("opened", {when: when(doc.opened_at)})))
      : el("li", {class: "small"}, t("no_incidents")));
    kvTable(document.getElementById("outbox-table"), state.outbox);
  }

  every(3000, refresh);
})();
