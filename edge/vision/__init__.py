"""Vision: camera frames to bag events (motion gate, detector, tracker, zone rules, evidence)."""
