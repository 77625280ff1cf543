"""MQTT transport (paho-mqtt 2.x), the optional second uplink for fleets with a broker.

Topics under `{topic_prefix}/{device_id}/`:
- `incidents`                 QoS 1, the incident JSON
- `incidents/{id}/snapshot`   QoS 1, the JPEG bytes
- `telemetry`                 QoS 0
- `status`                    retained `online`; the broker publishes the retained last will
                              `offline` when the agent drops (a clean stop publishes it too)

An incident leaves the outbox only after the broker's PUBACK: `send()` waits for it (up to
`ack_timeout_s`) and reports a retry otherwise. paho's network thread reconnects on its own
with a growing delay (initial_s doubling to max_s).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt

from ..files import config_relative
from .retry import Outcome
from .secrets import read_secret

log = logging.getLogger(__name__)


class MqttTransport:
    name = "mqtt"

    def __init__(
        self,
        host: str,
        port: int,
        device_id: str,
        topic_prefix: str = "garbage-edge",
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_file: str | None = None,
        keepalive_s: int = 30,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 120.0,
        ack_timeout_s: float = 10.0,
    ):
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.base = f"{topic_prefix.rstrip('/')}/{device_id}"
        self.status_topic = f"{self.base}/status"
        self.ack_timeout_s = ack_timeout_s
        self._connected = threading.Event()
        # clean session: the outbox, not the broker, is what keeps unsent incidents
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"garbage-edge-{device_id}",
                                  clean_session=True, protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(ca_certs=ca_file)
        self.client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=max(1, round(reconnect_min_s)), max_delay=max(1, round(reconnect_max_s)))
        self.client.max_queued_messages_set(100)  # the outbox queues; paho's own queue stays small
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._started = False
        self.on_connected: Callable[[], None] | None = None  # set by the Uplink worker

    @classmethod
    def from_config(cls, cfg, base_dir: Path | None = None) -> "MqttTransport":
        m = cfg.uplink.mqtt
        password = read_secret(m.password_file, m.password_credential, base_dir, what="MQTT password")
        ca = None
        if m.ca_file:
            ca = str(config_relative(m.ca_file, base_dir))
        b = cfg.uplink.backoff
        # paho counts reconnect delays in whole seconds: 1 s doubling, capped like the uplink's backoff
        return cls(m.host, m.port, cfg.device.id, m.topic_prefix, m.username, password, m.tls, ca,
                   m.keepalive_s, 1.0, min(b.max_s, 120.0))

    # paho callbacks run on its network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        log.info("MQTT connected to %s:%d", self.host, self.port)
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self._connected.set()
        if self.on_connected:
            self.on_connected()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self._connected.is_set():
            log.warning("MQTT connection to %s:%d lost (%s); reconnecting", self.host, self.port, reason_code)
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.client.connect_async(self.host, self.port, self.keepalive_s)
        self.client.loop_start()  # network thread: I/O, PUBACKs, reconnects

    def stop(self) -> None:
        if not self._started:
            return
        try:
            if self.connected:
                self.client.publish(self.status_topic, b"offline", qos=1, retain=True).wait_for_publish(2.0)
        except Exception:  # stopping must not fail because the broker is gone
            pass
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def send(self, kind: str, incident_id: str | None, body: bytes) -> Outcome:
        if kind == "incident":
            topic, qos = f"{self.base}/incidents", 1
        elif kind == "snapshot":
            topic, qos = f"{self.base}/incidents/{incident_id}/snapshot", 1
        elif kind == "telemetry":
            topic, qos = f"{self.base}/telemetry", 0
        else:
            raise ValueError(f"unknown item kind {kind!r}")
        if not self._connected.is_set():
            # don't hand it to paho while offline: the outbox keeps it, in order
            return Outcome("retry", None, f"not connected to MQTT broker {self.host}:{self.port}")
        info = self.client.publish(topic, body, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return Outcome("retry", None, f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return Outcome("ok")
        deadline = time.monotonic() + self.ack_timeout_s
        while not info.is_published():
            left = deadline - time.monotonic()
            if left <= 0 or not self._connected.is_set():
                return Outcome("retry", None, "no PUBACK from the MQTT broker")
            try:
                info.wait_for_publish(min(left, 0.5))
            except (RuntimeError, ValueError) as e:
                return Outcome("retry", None, f"MQTT publish failed: {e}")
        return Outcome("ok")
