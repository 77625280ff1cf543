"""Fill-level and odor sensor drivers: serial protocols, serial transport, GPIO, simulation.

- `hw.sensors.protocols`: pure parsers and frame builders (A02YY ultrasonic, Winsen ZE03, JSON lines).
- `hw.sensors.transport`: pyserial port with reconnect and backoff.
- `hw.sensors.drivers`: the driver interface, serial drivers and the simulated twin.
- `hw.sensors.gpio`: gpiozero drivers (DistanceSensor, MCP3008 + MQ curve, DigitalInputDevice).
- `hw.sensors.emulator`: socat pty pairs and a sensor emulator writing datasheet frames.
"""
from .protocols import A02yyParser, JsonLinesParser, Sample, Ze03Parser

__all__ = ["A02yyParser", "JsonLinesParser", "Sample", "Ze03Parser"]
