"""Typed, validated configuration (YAML). See config/default.yaml for every key."""
from .loader import ConfigError, ConfigSource, load_config, load_file, locate, validate_text
from .schema import Config

__all__ = ["Config", "ConfigError", "ConfigSource", "load_config", "load_file", "locate", "validate_text"]
