"""The relay driver on gpiozero's MockFactory, the controller that applies the policy to it,
and `gedge relay on|off|status`."""
from __future__ import annotations

import json
import threading
import time

import pytest

gpiozero = pytest.importorskip("gpiozero", reason="gpiozero is not installed")
from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402

from edge.actuators import RelayController, build_relays, read_state  # noqa: E402
from edge.cli import main  # noqa: E402
from edge.config import Config  # noqa: E402
from hw.actuators import GpioRelay, RelayError, SimRelay, open_relay  # noqa: E402


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def actuator(**kw):
    base = {"id": "fan-1", "driver": "gpio", "pin": 17, "active_high": True, "hold_s": 0, "min_off_s": 60}
    base.update(kw)
    return Config.model_validate({"actuators": [base]}).actuators[0]


def test_gpio_relay_switches_the_pin(factory):
    r = GpioRelay(17, active_high=True, pin_factory=factory)
    pin = factory.pin(17)
    assert pin.state is False and not r.is_on  # starts off
    r.on()
    assert pin.state is True and r.is_on
    r.off()
    assert pin.state is False
    r.on()
    r.close()  # switched off before the pin is released
    assert pin.state is False and pin.function == "input"


def test_low_triggered_relay_board(factory):
    r = GpioRelay(22, active_high=False, pin_factory=factory)
    pin = factory.pin(22)
    assert pin.state is True  # off = high on these boards
    r.on()
    assert pin.state is False and r.is_on
    r.close()


def test_busy_pin_is_a_relay_error(factory):
    first = GpioRelay(17, pin_factory=factory)
    with pytest.raises(RelayError, match="GPIO 17"):
        GpioRelay(17, pin_factory=factory)
    first.close()
    with pytest.raises(RelayError, match="needs a pin"):
        open_relay("gpio", None)


def test_controller_drives_the_pin_with_min_off(factory, tmp_path):
    a = actuator(min_off_s=60)
    wall = [1_000_000.0]
    c = RelayController(a, GpioRelay(17, pin_factory=factory), tmp_path / "fan-1.json", wall=lambda: wall[0])
    pin = factory.pin(17)
    seen = []
    for now, odor in [(0, False), (5, True), (30, True), (40, False), (50, True), (99, True), (100, True),
                      (130, False)]:
        c.update(now, odor)
        seen.append((now, pin.state))
    assert seen == [(0, False), (5, True), (30, True), (40, False), (50, False), (99, False), (100, True),
                    (130, False)]
    assert c.switches == 4
    state = read_state(tmp_path / "fan-1.json")
    assert state["on"] is False and state["by"] == "agent" and state["pin"] == 17
    c.update(200, True)
    c.close()
    assert pin.state is False and read_state(tmp_path / "fan-1.json")["reason"] == "stopped"


def test_controller_survives_a_failing_driver(tmp_path):
    class Broken(SimRelay):
        def on(self):
            raise OSError("relay board unplugged")

    c = RelayController(actuator(driver="sim", pin=None), Broken(), None)
    assert c.update(0, True) is True  # the policy goes on; the error is logged, not raised
    assert c.health()["switches"] == 1


def test_build_relays_skips_what_cannot_open(factory, tmp_path):
    cfg = Config.model_validate({
        "storage": {"state_dir": str(tmp_path)},
        "actuators": [{"id": "fan-1", "driver": "gpio", "pin": 17}, {"id": "fan-2", "driver": "gpio", "pin": 17},
                      {"id": "spray", "driver": "sim"}],
    })
    relays = build_relays(cfg, pin_factory=factory)
    assert [r.id for r in relays] == ["fan-1", "spray"]  # fan-2 wants a pin already taken
    for r in relays:
        r.update(0, True)
    assert factory.pin(17).state is True
    assert read_state(tmp_path / "relays" / "spray.json")["on"] is True
    for r in relays:
        r.close()


# --- gedge relay ----------------------------------------------------------------------------

def write_config(tmp_path, driver="sim", pin=None, min_off=60):
    cfg = tmp_path / "config.yaml"
    pin_line = f"pin: {pin}" if pin is not None else "pin: null"
    cfg.write_text(f"storage: {{state_dir: {tmp_path / 'state'}, cache_dir: {tmp_path / 'cache'}}}\n"
                   f"actuators:\n  - {{id: fan-1, driver: {driver}, {pin_line}, min_off_s: {min_off}}}\n")
    return str(cfg)


def test_cli_relay_sim_on_off_status(tmp_path, capsys):
    cfg = write_config(tmp_path, min_off=0)
    assert main(["relay", "status", "fan-1", "--config", cfg]) == 0
    assert "nothing recorded yet" in capsys.readouterr().out
    t0 = time.monotonic()
    assert main(["relay", "on", "fan-1", "--for", "0.3", "--config", cfg]) == 0
    assert time.monotonic() - t0 >= 0.3
    out = capsys.readouterr().out
    assert "fan-1 on (simulated relay) for 0.3 s" in out and "fan-1 off" in out
    assert main(["relay", "status", "--json", "--config", cfg]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["id"] == "fan-1" and row["on"] is False and row["by"] == "cli" and row["reason"] == "manual"
    assert main(["relay", "off", "fan-1", "--config", cfg]) == 0


def test_cli_relay_refuses_within_min_off_unless_forced(tmp_path, capsys):
    cfg = write_config(tmp_path, min_off=600)
    assert main(["relay", "off", "fan-1", "--config", cfg]) == 0
    assert main(["relay", "on", "fan-1", "--for", "0.1", "--config", cfg]) == 1
    assert "min_off_s is 600 s" in capsys.readouterr().err
    assert main(["relay", "on", "fan-1", "--for", "0.1", "--force", "--config", cfg]) == 0


def test_cli_relay_usage_errors(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["relay", "on", "no-such", "--config", cfg]) == 2
    assert "known: fan-1" in capsys.readouterr().err
    assert main(["relay", "on", "fan-1", "--for", "0", "--config", cfg]) == 2


def test_cli_relay_gpio_holds_the_pin_then_releases(tmp_path, capsys):
    cfg = write_config(tmp_path, driver="gpio", pin=17, min_off=0)
    saved = Device.pin_factory
    Device.pin_factory = factory = MockFactory()
    try:
        rc = []
        t = threading.Thread(target=lambda: rc.append(main(["relay", "on", "fan-1", "--for", "1", "--config", cfg])))
        t.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not factory.pin(17).state:
            time.sleep(0.02)
        assert factory.pin(17).state is True  # on while the command runs
        t.join(5)
        assert rc == [0]
        assert factory.pin(17).state is False and factory.pin(17).function == "input"
        # the agent holding the pin: the command says so and fails
        held = GpioRelay(17, pin_factory=factory)
        assert main(["relay", "off", "fan-1", "--config", cfg]) == 1
        assert "agent running" in capsys.readouterr().err
        held.close()
    finally:
        factory.reset()
        Device.pin_factory = saved
