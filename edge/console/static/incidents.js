/* Incidents: the open and recently resolved ones with their pictures, the outbox and the dead
   letters with a Retry button. */
"use strict";
(function () {
  const {t, label, api, el, clear, when, show, say, showErrors, kvTable, agentDown, every, incidents, subject} = C;
  const shown = {};  // incident id + rev -> its card (a card is rebuilt only when the incident changes)

  function measurements(doc) {
    return Object.entries(doc.measurements || {}).map(([k, v]) => C.key(k) + ": " + show(C.value(k, v))).join(" · ");
  }

  function incidentCard(doc) {
    const key = doc.id + "@" + doc.rev + "@" + doc.state;
    if (shown[key]) return shown[key];
    const pic = doc.snapshot
      ? el("img", {class: "picture", src: "/api/incidents/" + encodeURIComponent(doc.id) + "/picture.jpg?rev=" + doc.rev,
                   alt: label(doc.type), loading: "lazy"})
      : el("div", {class: "nopic"}, t("no_picture"));
    const card = el("article", {class: "incident " + doc.state, dataset: {id: doc.id, type: doc.type}},
      el("figure", {}, pic),
      el("div", {class: "what"},
        el("h3", {}, el("span", {class: "badge " + (doc.severity || "")}, label(doc.severity)), " ", label(doc.type)),
        el("p", {class: "small"}, subject(doc)),
        el("p", {class: "small"}, t("opened", {when: when(doc.opened_at)}),
           doc.resolved_at ? " · " + t("resolved_at", {when: when(doc.resolved_at)}) : ""),
        el("p", {class: "small"}, measurements(doc))));
    shown[key] = card;
    return card;
  }

  async function refresh() {
    const r = await api("/api/state");
    agentDown(r);
    if (!r.ok) return;
    const inc = incidents(r.data);
    const open = document.getElementById("open-incidents");
    const recent = document.getElementById("recent-incidents");
    clear(open, inc.open.length ? inc.open.map(incidentCard) : el("p", {class: "small"}, t("no_incidents")));
    clear(recent, inc.recent.length ? inc.recent.map(incidentCard) : el("p", {class: "small"}, t("no_recent")));
    kvTable(document.getElementById("outbox-table"), r.data.outbox);
  }

  async function deadLetters() {
    const table = document.getElementById("deadletters");
    const r = await api("/api/deadletters");
    if (!r.ok) return;
    const items = r.data.dead_letters || [];
    if (!items.length) { clear(table, el("tr", {}, el("td", {class: "small"}, t("no_deadletters")))); return; }
    clear(table, el("tr", {}, el("th", {}, "#"), el("th", {}, t("k_kind")), el("th", {}, t("k_when")),
                    el("th", {}, t("k_error")), el("th", {})),
      items.map((d) => el("tr", {dataset: {seq: d.seq}},
        el("td", {}, String(d.seq)),
        el("td", {}, [d.kind, d.dest, d.incident_id ? d.incident_id.slice(0, 8) + " rev " + d.rev : ""].filter((x) => x).join(" · ")),
        el("td", {}, when(d.failed_at || d.created)),
        el("td", {}, [d.status, d.response].filter((x) => x).join(" ")),
        el("td", {}, el("button", {type: "button", class: "retry", onclick: () => retry(d.seq)}, t("retry"))))));
  }

  async function retry(id) {
    const box = document.getElementById("deadletters-message");
    const r = await api("/api/deadletters/" + encodeURIComponent(id) + "/retry", {method: "POST"});
    if (r.ok) say(box, t("retried"), "ok"); else showErrors(box, r.data.errors);
    deadLetters();
  }

  every(3000, refresh);
  every(15000, deadLetters);
})();
