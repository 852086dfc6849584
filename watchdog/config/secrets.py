"""Read `*_file` secrets and resolve file paths in validated models, at load time.

A `foo_file` field fills its sibling secret `foo` (or the private `_foo`, as
`api.token_file` fills `api.token`), so consumers read one field whatever the
operator chose. Errors name the field and the path, never the file's content.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, SecretStr

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

MAX_SECRET_BYTES = 64 << 10
# `*_file` fields that name a file used as is (certificates), not a secret to read.
PATH_ONLY_FIELDS = frozenset({"ca_file", "cert_file", "key_file"})
# `*_file` fields that are not about secrets at all (handled by the loader).
SKIP_FIELDS = frozenset({"alerting_file"})


def resolve(base_dir: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def read_secret(path: str) -> tuple[str | None, str | None]:
    """(content stripped of surrounding whitespace, None) or (None, reason). Never echoes content."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SECRET_BYTES + 1)
    except OSError as e:
        return None, e.strerror or type(e).__name__
    if len(raw) > MAX_SECRET_BYTES:
        return None, f"file is larger than {MAX_SECRET_BYTES} bytes"
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "file is not valid UTF-8"
    if not text:
        return None, "file is empty"
    return text, None


def fill_file_fields(model: BaseModel, base_dir: str, loc: Loc = ()) -> list[Problem]:
    """Walk `model` (recursively), resolve `*_file` paths and read the secret ones. Mutates in place."""
    problems: list[Problem] = []
    fields = type(model).model_fields
    for name in fields:
        value = getattr(model, name)
        here = loc + (fields[name].alias or name,)
        if isinstance(value, BaseModel):
            problems += fill_file_fields(value, base_dir, here)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    problems += fill_file_fields(item, base_dir, here + (i,))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    problems += fill_file_fields(item, base_dir, here + (key,))
        elif name.endswith("_file") and name not in SKIP_FIELDS and isinstance(value, str):
            problems += _fill_one(model, name, value, base_dir, here)
    return problems


def _fill_one(model: BaseModel, name: str, value: str, base_dir: str, here: Loc) -> list[Problem]:
    path = resolve(base_dir, value)
    setattr(model, name, path)  # consumers get the resolved path, not the one relative to the file
    if name in PATH_ONLY_FIELDS:
        if not os.access(path, os.R_OK):
            return [(here, f"cannot read file {value!r}: {'No such file or directory' if not os.path.exists(path) else 'Permission denied'}")]
        return []
    content, reason = read_secret(path)
    if content is None:
        return [(here, f"cannot read file {value!r}: {reason}")]
    stem = name[: -len("_file")]
    if stem.endswith("url") and not re.match(r"^https?://[^/\s]+", content):
        return [(here, f"file {value!r} does not hold an absolute http:// or https:// URL")]
    fields = type(model).model_fields
    if stem in fields:
        annotation = str(fields[stem].annotation)
        setattr(model, stem, SecretStr(content) if "SecretStr" in annotation else content)
    elif f"_{stem}" in (model.__private_attributes__ or {}):
        setattr(model, f"_{stem}", SecretStr(content))
    return []


def secret_values(model: Any) -> list[str]:
    """Every SecretStr value inside `model` (for tests and redaction)."""
    out: list[str] = []
    if isinstance(model, SecretStr):
        out.append(model.get_secret_value())
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            out += secret_values(getattr(model, name))
        for name in model.__private_attributes__ or {}:
            out += secret_values(getattr(model, name, None))
    elif isinstance(model, (list, tuple)):
        for item in model:
            out += secret_values(item)
    elif isinstance(model, dict):
        for item in model.values():
            out += secret_values(item)
    return out
