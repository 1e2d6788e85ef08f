"""Reading and writing run configs: YAML files and ``key.sub=value`` overrides, checked against config.py's schema
with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reflectrl.config import RENAMED, RunConfig
from reflectrl.errors import ReflectrlError


def _error_line(source: str, e: ValidationError) -> str:
    err = e.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    got = f" (got {err['input']!r})" if err["type"] not in ("extra_forbidden", "missing") else ""
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    more = f"; and {len(e.errors()) - 1} more problem(s)" if len(e.errors()) > 1 else ""
    return f"{source}: {key}: {msg}{got}{more}"


def parse_value(text: str) -> Any:
    """A command-line value: YAML (``3``, ``true``, ``[1, 2]``, ``{enable_thinking: false}``), else the plain string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _refuse_renamed(dotted: str, where: str) -> None:
    if dotted in RENAMED:
        raise ReflectrlError(f"{where}: {dotted} is now {RENAMED[dotted]} (see reflectrl/config.py)")


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    _refuse_renamed(dotted, "override")
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ReflectrlError(f"override {dotted}: {p} is not a section")
    node[leaf] = value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys, as ``--set`` writes them: {"eval": {"limit": 3}} -> {"eval.limit": 3}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config (or the defaults) and apply ``key.sub=value`` overrides."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ReflectrlError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ReflectrlError(f"{path}{where}: invalid YAML ({getattr(e, 'problem', e)})") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ReflectrlError(f"{path}: cannot read ({e})") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ReflectrlError(f"{path}: expected a mapping of sections at the top level")
        data = loaded or {}
    for dotted in RENAMED:
        section, _, key = dotted.partition(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            _refuse_renamed(dotted, source)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ReflectrlError(f"override {item!r}: expected key=value, e.g. train.steps=20")
        apply_override(data, key.strip(), parse_value(value))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ReflectrlError(_error_line(source, e)) from e


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
