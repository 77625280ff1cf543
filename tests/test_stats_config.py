"""The config of the daily statistics: bins' waste type and capacity, densities, the collection
schedule; each mistake told with its key."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.edit import edited_text
from edge.config.loader import ConfigError, validate_text

ROOT = Path(__file__).resolve().parent.parent


def _validate(**changes):
    text = (ROOT / "config" / "default.yaml").read_text()
    for key, value in changes.items():
        text = edited_text(text, key, value)
    return validate_text(text, "config.yaml")[0]


def test_defaults_name_each_bins_waste_and_the_documented_densities():
    cfg = _validate()
    assert [(b.id, b.waste_type, b.capacity_l) for b in cfg.zones.bins] == [
        ("bin-1", "wet", 240.0), ("bin-2", "dry", 240.0), ("bin-3", "recyclable", 240.0)]
    assert set(cfg.stats.densities_kg_per_l) == {"wet", "dry", "recyclable", "hazardous"}
    assert cfg.stats.collection.schedule == {}


def test_a_partial_density_table_keeps_the_other_defaults():
    cfg = _validate(**{"stats.densities_kg_per_l": {"wet": 0.5}})
    assert cfg.stats.densities_kg_per_l["wet"] == 0.5 and cfg.stats.densities_kg_per_l["dry"] > 0


@pytest.mark.parametrize("changes, key, words", [
    ({"stats.collection.schedule": {"bin-9": ["08:00"]}}, "stats.collection.schedule.bin-9", "no zones.bins entry"),
    ({"stats.collection.schedule": {"bin-1": ["8 o'clock"]}}, "stats.collection.schedule", "HH:MM"),
    ({"stats.collection.schedule": {"bin-1": []}}, "stats.collection.schedule", "at least one time"),
    ({"stats.densities_kg_per_l": {"wet": 9}}, "stats.densities_kg_per_l", "density"),
    ({"stats.densities_kg_per_l": {"compost": 0.5}}, "stats.densities_kg_per_l", ""),
    ({"zones.bins[0].waste_type": "kitchen"}, "zones.bins[0].waste_type", "wet"),
    ({"zones.bins[0].capacity_l": 0}, "zones.bins[0].capacity_l", "more than 0"),
    ({"stats.collection.window_s": 80000, "stats.collection.grace_s": 7000}, "stats.collection", "less than a day"),
])
def test_mistakes_name_their_key(changes, key, words):
    with pytest.raises(ConfigError) as e:
        _validate(**changes)
    text = "\n".join(e.value.problems)
    assert key in text and words in text, text
