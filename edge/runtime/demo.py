"""`gedge demo`: the real agent on the simulated room, with serial sensors on ptys and a local receiver.

What runs is the product itself: `Service` (as `gedge run`) with the onnx detector on the
`sim:demo` camera, the A02YY and ZE03 serial drivers reading real datasheet frames that
emulators write into socat pty pairs, the voice worker (aplay; the ALSA `null` device when the
machine has no sound card), the simulated fan relay, and the HTTP uplink to a `gedge receiver`
on loopback. Everything it leaves is in the output folder.
"""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config.edit import edited_text
from ..config.loader import validate_text
from ..i18n import N_, _, display_width, pad
from ..paths import bundled_default_config

SCENARIO = "demo"
# What the demo scenario must produce (type, must it be resolved by the end).
EXPECTED = [("bag_outside_bin", True), ("bin_full", True), ("bin_emptied", True), ("odor_high", True)]


def _has_sound_card() -> bool:
    if not shutil.which("aplay"):
        return False
    run = subprocess.run(["aplay", "-l"], capture_output=True, text=True)
    return "card " in run.stdout


def demo_config_text(out: Path, port: int, dev: Path, sound_card: bool) -> str:
    """The bundled default config, pointed at the demo's ptys, receiver and folders."""
    text = bundled_default_config().read_text(encoding="utf-8")
    changes: list[tuple[str, Any]] = [
        ("device.id", "demo-room-01"),
        ("device.site.address", "演示路 1 号"),
        ("device.site.responsible.name", "演示物业"),
        ("camera.source", f"sim:{SCENARIO}"),
        ("rules.bag_outside_bin.remind_after_s", 3),
        ("rules.bag_outside_bin.incident_after_s", 20),
        ("rules.bag_outside_bin.clear_after_s", 5),
        ("rules.bin_full.min_duration_s", 3),
        ("rules.bin_emptied.hold_s", 10),  # the demo's bin is full for 26 s, not hours
        ("rules.odor_high.min_duration_s", 3),
        ("sensors[0].driver", "a02yy"),
        ("sensors[0].port", str(dev / "bin-1-level")),
        ("sensors[1].driver", "ze03"),
        ("sensors[1].port", str(dev / "odor-1")),
        ("voice.quiet_hours", None),
        ("voice.alsa_device", None if sound_card else "null"),
        ("schedule.opening_hours", []),
        ("actuators[0].min_off_s", 5),
        ("uplink.http.base_url", f"http://127.0.0.1:{port}/api"),
        ("uplink.http.token_file", "platform.token"),
        ("uplink.http.token_credential", None),
        ("uplink.telemetry_s", 10),
        ("storage.state_dir", str(out / "state")),
        ("storage.cache_dir", str(out / "cache")),
    ]
    for key, value in changes:
        text = edited_text(text, key, value)
    return text


@dataclass
class _Timeline:
    """Everything the demo saw, with seconds since the agent started."""

    t0: float = field(default_factory=time.monotonic)
    opened: dict[str, float] = field(default_factory=dict)
    resolved: dict[str, float] = field(default_factory=dict)
    queued_at: dict[tuple[str, int], float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    spoken: list[dict] = field(default_factory=list)
    relay_switches: int = 0
    types: dict[str, str] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.t0


# incident types as the story names them: the type itself in English, plain words in Chinese
INCIDENT_NAMES = {
    "bag_outside_bin": N_("bag_outside_bin"), "bin_full": N_("bin_full"), "bin_emptied": N_("bin_emptied"),
    "odor_high": N_("odor_high"), "sensor_fault": N_("sensor_fault"), "camera_fault": N_("camera_fault"),
    "storage_fault": N_("storage_fault"),
}


# the bundled demo scenario's description (hw/sim/scenarios/demo.yaml), so the story can translate it
DEMO_DESCRIPTION = N_("The demo room - a bag left and cleared, a bin filled and emptied, an odor spike.")


def incident_name(kind: str) -> str:
    return _(INCIDENT_NAMES[kind]) if kind in INCIDENT_NAMES else kind


class DemoPrinter:
    """Prints what happens as it happens (called from the agent's threads)."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.timeline = _Timeline()
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            self.write(f"[{self.timeline.now():5.1f} s] {text}")

    def on_event(self, ev: dict[str, Any]) -> None:
        tl = self.timeline
        what = ev.get("what")
        if what == "voice":
            tl.spoken.append(ev)
            self._line(_("speaker  {prompt}: {text} (player started {ms:.0f} ms after the decision)").format(
                prompt=ev["prompt"], text=ev["text"], ms=ev.get("latency_ms", 0)))
        elif what == "reminder_due":
            self._line(_("vision   bag on the floor ({count} in zone {zone}): reminder due").format(
                count=ev["count"], zone=ev["zone"]))
        elif what == "incident":
            iid, rev, state = ev["id"], ev["rev"], ev["state"]
            tl.types[iid] = ev["type"]
            tl.queued_at[(iid, rev)] = time.monotonic()
            if rev == 1 or state == "resolved":
                (tl.opened if state == "open" else tl.resolved)[iid] = tl.now()
                if state == "resolved" and rev == 1:
                    tl.opened[iid] = tl.now()
            subject = next((v for v in ev["subject"].values() if v), "")
            m = ", ".join(f"{k} {v}" for k, v in ev["measurements"].items())
            snap = _(" + snapshot") if ev.get("snapshot") else ""
            words = _("open") if state == "open" else _("resolved") if state == "resolved" else state
            self._line(_("incident {type} {subject} {state} (rev {rev}) {measurements}{snapshot}").format(
                type=incident_name(ev["type"]), subject=subject, state=words, rev=rev, measurements=m, snapshot=snap))
        elif what == "relay":
            tl.relay_switches += 1
            self._line((_("relay    {id} ON") if ev["on"] else _("relay    {id} off")).format(id=ev["id"]))

    def on_delivered(self, item, outcome) -> None:
        if item.kind != "incident":
            return
        queued = self.timeline.queued_at.get((item.incident_id, item.rev))
        if queued is None:
            return
        ms = (time.monotonic() - queued) * 1000
        self.timeline.latencies_ms.append(ms)
        kind = incident_name(self.timeline.types.get(item.incident_id, "incident"))
        self._line(_("platform accepted {kind} rev {rev} (HTTP {status}, {ms:.0f} ms after the event)").format(
            kind=kind, rev=item.rev, status=outcome.status, ms=ms))


def _start_receiver(out: Path, token: str):
    from ..receiver import ReceiverServer, ReceiverStore

    store = ReceiverStore(out / "receiver.db")
    server = ReceiverServer("127.0.0.1", 0, store, token)
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    return server, store


def _start_sensors(dev: Path):
    from hw.sensors.emulator import EmulatedSensors
    from hw.sim import load_scenario

    scenario = load_scenario(SCENARIO)
    return EmulatedSensors(dev, [("bin-1-level", "a02yy"), ("odor-1", "ze03")], scenario.sensor_value)


def _export(out: Path, store, printer: DemoPrinter, renderer) -> dict[str, list[Path]]:
    evidence, voices = out / "evidence", out / "voice"
    evidence.mkdir(exist_ok=True)
    voices.mkdir(exist_ok=True)
    files: dict[str, list[Path]] = {"evidence": [], "voice": []}
    for inc in store.incidents():
        doc = inc["doc"]
        # the opening picture, and for a resolved bag the picture of the cleared place
        for role, suffix in (("open", ""), ("resolve", "-resolved")):
            jpeg = store.snapshot(doc["id"], role=role)
            if jpeg:
                path = evidence / f"{doc['type']}-{doc['id'][:8]}{suffix}.jpg"
                path.write_bytes(jpeg)
                files["evidence"].append(path)
    for ev in printer.timeline.spoken:
        if renderer is None:
            break
        try:
            src = renderer.wav_for(ev["text"], ev["voice"], ev["rate"], ev["volume"])
        except Exception:  # the cache may have been pruned: the demo goes on without that copy
            continue
        target = voices / f"{ev['prompt']}.wav"
        if src.exists() and not target.exists():
            shutil.copyfile(src, target)
            files["voice"].append(target)
    return files


def _summary(store, printer: DemoPrinter, files, out: Path, write) -> list[str]:
    tl = printer.timeline
    incidents = store.incidents()
    rows = []
    for inc in incidents:
        doc = inc["doc"]
        iid = doc["id"]
        subject = next((v for v in (doc.get("subject") or {}).values() if v), "")
        opened = tl.opened.get(iid)
        resolved = tl.resolved.get(iid)
        rows.append((incident_name(doc["type"]), subject, f"{opened:.1f}" if opened is not None else "-",
                     f"{resolved:.1f}" if resolved is not None else _("open"), str(doc["rev"]),
                     _("yes") if store.snapshot(iid) else "-"))
    header = (_("incident"), _("subject"), _("opened s"), _("resolved s"), _("rev"), _("snapshot"))
    widths = [max(display_width(r[i]) for r in rows + [header]) for i in range(len(header))]
    write("")
    write(_("What reached the platform (gedge receiver):"))
    for r in [header] + rows:
        write("  " + "  ".join(pad(c, w) for c, w in zip(r, widths)))
    if tl.latencies_ms:
        lat = sorted(tl.latencies_ms)
        write(_("event -> platform 2xx: median {median:.0f} ms, worst {worst:.0f} ms over {n} revisions").format(
            median=lat[len(lat) // 2], worst=lat[-1], n=len(lat)))
    write(_("voice prompts played: {spoken}; relay switches: {switches}").format(
        spoken=len(tl.spoken), switches=tl.relay_switches))
    write(_("left in {out}: config.yaml, receiver.db ({incidents} incidents), evidence/ ({jpegs} JPEG), "
            "voice/ ({wavs} WAV), state/ (outbox, snapshots)").format(
        out=out, incidents=len(incidents), jpegs=len(files["evidence"]), wavs=len(files["voice"])))
    write(_("look again with: {command}").format(command=f"gedge receiver list --db {out / 'receiver.db'}"))
    missing = []
    for type_, must_resolve in EXPECTED:
        docs = [i["doc"] for i in incidents if i["doc"]["type"] == type_]
        if not docs:
            missing.append(_("no {type} incident").format(type=incident_name(type_)))
        elif must_resolve and not any(d["state"] == "resolved" for d in docs):
            missing.append(_("{type} never resolved").format(type=incident_name(type_)))
    return missing


DAY_SCENARIO = "day_of_collection"
DAY_SCHEDULE = {"bin-1": ["09:30", "20:30"], "bin-3": ["08:00"]}  # the collections that scenario expects


def _day_summary(cfg, write) -> None:
    """What the daily statistics make of a whole simulated day (replayed in simulated time, a few
    seconds): the litres, emptyings and collection_overdue the platform's daily document shows."""
    import tempfile

    from ..stats.daily import day_start
    from ..stats.replay import replay_day

    from ..config import Config

    date = "2026-11-28"  # any day: the replay runs on its own clock
    data = cfg.model_dump()
    data["stats"]["collection"]["schedule"] = DAY_SCHEDULE
    cfg = Config.model_validate(data)
    with tempfile.TemporaryDirectory(prefix="gedge-demo-day-") as tmp:
        result = replay_day(cfg, DAY_SCENARIO, day_start(date, cfg.device.timezone), Path(tmp))
        doc = result.stats.document(date)
    overdue = sum(1 for d in result.incidents if d["type"] == "collection_overdue" and d["state"] == "open")
    write(_("A simulated day ({scenario}, replayed in simulated time), as the daily statistics count it:")
          .format(scenario=DAY_SCENARIO))
    for bin_id, b in doc["bins"].items():
        write("  " + _("{bin}: {litres:.1f} L added ({kg:.1f} kg estimate), emptied {emptied} times, "
                       "{full} minutes full").format(bin=bin_id, litres=b["added_l"], kg=b["added_kg_est"],
                                                     emptied=b["emptied"], full=b["full_minutes"]))
    write("  " + _("collection_overdue opened {n} time(s); see: {command}").format(
        n=overdue, command=f"gedge stats --simulate {DAY_SCENARIO} --plot day.png"))


def run_demo(out: Path, write: Callable[[str], None] = print, duration_s: float | None = None) -> int:
    from hw.sim import load_scenario

    from .service import Service, StartError

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("receiver.db", "receiver.db-wal", "receiver.db-shm"):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "state", ignore_errors=True)
    for folder in ("evidence", "voice"):  # a rerun shows its own files, not the last run's
        shutil.rmtree(out / folder, ignore_errors=True)
    dev = out / "dev"
    dev.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    token_file = out / "platform.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)

    scenario = load_scenario(SCENARIO)
    duration = duration_s if duration_s is not None else scenario.duration_s
    server, store = _start_receiver(out, token)
    port = server.server_address[1]
    sound_card = _has_sound_card()
    config_path = out / "config.yaml"
    text = demo_config_text(out, port, dev, sound_card)
    cfg, _tree = validate_text(text, str(config_path), out)
    config_path.write_text(text, encoding="utf-8")

    write(_("garbage-edge demo: the agent on the simulated room '{scenario}' for {seconds:.0f} s").format(
        scenario=SCENARIO, seconds=duration))
    speaker = _("the sound card") if sound_card else _("none found, ALSA null device")
    write("  " + _("platform receiver on {url}, sensors on ptys in {dev}, speaker: {speaker}").format(
        url=f"http://127.0.0.1:{port}/api", dev=dev, speaker=speaker))
    write("  " + _("scenario: {description}").format(description=_(scenario.description)))
    printer = DemoPrinter(write)
    sensors = _start_sensors(dev)
    service = Service(config_path, listener=printer.on_event, on_delivered=printer.on_delivered, simulation=True)
    renderer = None
    try:
        service.install_signal_handlers()
        printer.timeline.t0 = time.monotonic()
        start_failed: list[StartError] = []

        def run_agent() -> None:
            try:
                service.run(duration_s=duration)
            except StartError as e:  # a missing model, a port in use: one line, not a thread traceback
                start_failed.append(e)

        runner = threading.Thread(target=run_agent, name="demo-agent", daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(0.2)
            if service.agent is not None and service.agent.voice is not None:
                renderer = service.agent.voice.renderer
    except KeyboardInterrupt:
        service.request_stop()
    finally:
        sensors.close()
    if start_failed:
        server.shutdown()
        store.close()
        write(_("demo cannot start the agent: {reason}").format(reason=start_failed[0]))
        return start_failed[0].exit_code
    time.sleep(0.3)  # last deliveries settle in the receiver
    files = _export(out, store, printer, renderer)
    missing = _summary(store, printer, files, out, write)
    _day_summary(cfg, write)
    server.shutdown()
    store.close()
    (out / "timeline.json").write_text(json.dumps({"latencies_ms": printer.timeline.latencies_ms,
                                                   "opened": printer.timeline.opened,
                                                   "resolved": printer.timeline.resolved}, indent=1))
    if missing:
        write(_("demo incomplete: {missing}").format(missing="; ".join(missing)))
        return 1
    write(_("demo complete: every expected incident opened, reached the platform and resolved"))
    return 0
