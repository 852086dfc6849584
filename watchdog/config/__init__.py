"""Configuration: located YAML loading, pydantic models, all-errors reporting."""

from watchdog.config.errors import ConfigError, ConfigErrors
from watchdog.config.yamlpos import LocatedDoc, load_yaml_file, load_yaml_text, validate

__all__ = ["ConfigError", "ConfigErrors", "LocatedDoc", "load_yaml_file", "load_yaml_text", "validate"]
