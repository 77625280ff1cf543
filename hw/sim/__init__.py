"""The simulated garbage room: scenario timelines, a renderer with ground truth, training scenes."""
from .room import CLASSES, SimRoom, Style, TruthBox, random_scene
from .scenario import Scenario, ScenarioError, list_scenarios, load_scenario

__all__ = [
    "CLASSES", "Scenario", "ScenarioError", "SimRoom", "Style", "TruthBox",
    "list_scenarios", "load_scenario", "random_scene",
]
