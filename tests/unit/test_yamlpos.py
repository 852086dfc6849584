from pydantic import BaseModel, ConfigDict

from watchdog.config import load_yaml_text, validate
from watchdog.config.yamlpos import expand_env


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    port: int


class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Target]


def test_errors_are_located_and_all_reported():
    text = "targets:\n  - name: a\n    port: x\n  - name: b\n    port: 3\n    bogus: 1\n  - port: 4\n"
    doc = load_yaml_text(text, "c.yaml")
    _, errors = validate(Cfg, doc.data, doc)
    assert [str(e) for e in errors] == [
        "c.yaml:3:5: targets[0].port: Input should be a valid integer, unable to parse string as an integer",
        "c.yaml:6:5: targets[1].bogus: unknown field",
        "c.yaml:7:5: targets[2].name: field required",
    ]


def test_syntax_error_and_duplicate_key():
    doc = load_yaml_text("a: [1\nb: 2", "x.yaml")
    assert doc.data is None
    assert str(doc.errors[0]).startswith("x.yaml:2:2: YAML syntax error:")
    doc = load_yaml_text("a: 1\na: 2", "x.yaml")
    assert str(doc.errors[0]) == "x.yaml:2:1: a: duplicate key 'a'"


def test_env_expansion_and_literal_dollar():
    assert expand_env("a${X}b$$c", {"X": "1"}) == ("a1b$c", [])
    assert expand_env("${NOPE}", {}) == ("", ["NOPE"])
    doc = load_yaml_text("k: ${MISSING_VAR}\n", "c.yaml", env=True, environ={})
    assert str(doc.errors[0]) == "c.yaml:1:4: k: environment variable ${MISSING_VAR} is not set"
