/* Tools: the doctor's checks run from the page, the speaker and relay tests. */
"use strict";
(function () {
  const {t, api, el, clear, say, showErrors, agentDown} = C;

  async function doctor() {
    const button = document.getElementById("run-doctor");
    const box = document.getElementById("doctor-message");
    const table = document.getElementById("doctor");
    button.disabled = true;
    say(box, t("loading"), "note");
    try {
      const r = await api("/api/doctor", {method: "POST"});
      if (!r.ok) { showErrors(box, r.data.errors); return; }
      const checks = r.data.checks || [];
      const bad = checks.filter((c) => !c.ok).length;
      say(box, bad ? t(bad === 1 ? "checks_bad_one" : "checks_bad", {n: bad}) : t("checks_ok"), bad ? "error" : "ok");
      clear(table, checks.map((c) => el("tr", {class: c.ok ? "passed" : "faulty " + (c.level || ""), dataset: {check: c.name}},
        el("td", {}, c.ok ? "✓" : "✗"), el("th", {}, c.name), el("td", {}, c.message || ""))));
    } finally {
      button.disabled = false;
    }
  }

  async function post(path, box, okText) {
    const r = await api(path, {method: "POST"});
    if (r.ok) say(box, okText, "ok"); else showErrors(box, r.data.errors);
  }

  document.getElementById("run-doctor").addEventListener("click", doctor);
  document.getElementById("test-speaker").addEventListener("click",
    () => post("/api/test/speaker", document.getElementById("speaker-message"), t("spoken")));

  (async function relays() {
    const box = document.getElementById("relays");
    const r = await api("/api/state");
    agentDown(r);
    if (!r.ok) return;
    const relays = r.data.relays || [];
    clear(box, relays.length ? relays.map((x) => el("button", {type: "button", class: "relay", dataset: {relay: x.id},
      onclick: () => post("/api/test/relay/" + encodeURIComponent(x.id), document.getElementById("relay-message"),
                          t("relay_on", {id: x.id}))}, t("relay_test", {id: x.id})))
      : el("p", {class: "small"}, t("no_relays")));
  })();
})();
