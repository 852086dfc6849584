"""Located configuration errors: `PATH:LINE:COL: dotted.field: message`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, slots=True)
class ConfigError:
    path: str          # file path as given on the command line or resolved from config.yaml
    line: int          # 1-based; 0 when unknown
    col: int           # 1-based; 0 when unknown
    field: str         # dotted field path, e.g. "alerting.receivers[1].slack_configs[0].api_url"; "" for file-level
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}"
        prefix = "warning: " if self.warning else ""
        if self.field:
            return f"{where}: {prefix}{self.field}: {self.message}"
        return f"{where}: {prefix}{self.message}"


class ConfigErrors(Exception):
    """Raised when a configuration (or a file it includes) has errors; carries all of them."""

    def __init__(self, errors: Iterable[ConfigError], warnings: Iterable[ConfigError] = ()):
        self.errors = sorted(errors, key=sort_key)
        # warnings found alongside the errors (unimplemented Alertmanager kinds, ...), for display
        self.warnings = sorted(warnings, key=sort_key)
        super().__init__("\n".join(str(e) for e in self.errors))


def sort_key(e: ConfigError) -> tuple[str, int, int, str, str]:
    return (e.path, e.line, e.col, e.field, e.message)


def dotted(loc: Iterable[str | int]) -> str:
    """('alerting', 'receivers', 1, 'url') -> 'alerting.receivers[1].url'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
