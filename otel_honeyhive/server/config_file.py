"""`serve --config FILE`: every `serve` option, and the routing table, in one TOML or YAML file (docs/routing.md).

The file holds options under the flags' names (`api-key` or `api_key`, `http-port`, `redact = ["email"]`) and
the routing table under `[routing]`. This module only reads and checks the file's shape; the values are checked
as the flags' are (the CLI converts them with the same functions), and the routing table by
`core.routing.RoutingTable.parse`. Every problem is one line naming the file and the key.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_honeyhive.core.secrets import open_to_others

logger = logging.getLogger("otel_honeyhive.server")

ROUTING_KEY = "routing"
_SECRET_OPTIONS = ("api-key", "api_key", "auth-token", "auth_token")
TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


class ConfigFileError(ValueError):
    """A config file that cannot be used: the message is one line naming the file and what is wrong."""


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        raise ConfigFileError(f"{path}: unknown config file type {suffix or '(none)'!r}: use .toml, .yaml or .yml")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if suffix in TOML_SUFFIXES:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        import yaml
    except ImportError:  # pragma: no cover - the server extra installs it
        raise ConfigFileError(f"{path}: reading YAML needs PyYAML (the server extra: pip install '.[server]' in a "
                              "clone)") from None
    try:
        return yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        shown = " ".join(str(exc).split())
        raise ConfigFileError(f"{path}: not valid YAML: {shown}") from None


def read_config_file(path: str | Path) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    """The file's top-level keys as written (options not checked) and its `[routing]` table (None when it has
    none): for `spool redrive --config`, which takes only the routing and the server URL from a serve file."""
    file = Path(path)
    data = _read(file)
    if not isinstance(data, dict):
        raise ConfigFileError(f"{file}: must hold a table of options (key = value), got {type(data).__name__}")
    routing = data.get(ROUTING_KEY)
    if routing is not None and not isinstance(routing, dict):
        raise ConfigFileError(f"{file}: routing: must be a table ([routing])")
    _warn_if_readable(file, data, routing)
    return {k: v for k, v in data.items() if k != ROUTING_KEY}, routing


def _warn_if_readable(file: Path, data: Mapping[str, Any], routing: Mapping[str, Any] | None) -> None:
    """A file holding a literal credential that others can read: one warning naming the fix (a Kubernetes
    Secret is mounted 0644 unless told otherwise, so this warns rather than refuses)."""
    projects = routing.get("projects") if routing is not None else None
    literal = [key for key in _SECRET_OPTIONS if key in data]
    if isinstance(projects, Mapping):
        literal += [f"routing.projects.{name}.api_key" for name, spec in projects.items()
                    if isinstance(spec, Mapping) and "api_key" in spec]
    mode = open_to_others(file) if literal else None
    if mode is not None:
        logger.warning("otel-honeyhive: %s holds %s and other users can read it (mode %o): `chmod 600 %s`, or "
                       "keep the keys in the environment (api_key_env, HH_API_KEY)", file, ", ".join(literal),
                       mode, file)


def load_config_file(path: str | Path, known: Mapping[str, str]) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    """The file's options, by the name `known` maps them to (`known`: every accepted spelling of an option,
    `api-key` and `api_key`, → its name), and its `[routing]` table (None when it has none). Unknown keys are
    an error naming all of them."""
    file = Path(path)
    data, routing = read_config_file(file)
    options: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in data.items():
        name = known.get(str(key)) if isinstance(key, str) else None
        if name is None:
            unknown.append(str(key))
            continue
        if name in options:
            raise ConfigFileError(f"{file}: {key}: given twice (as {spelled[name]} and {key}): keep one")
        options[name] = value
        spelled[name] = str(key)
    if unknown:
        shown = ", ".join(repr(k) for k in unknown)
        raise ConfigFileError(f"{file}: unknown key(s) {shown}: a config file takes the serve options (the flags' "
                              "names, with - or _) and [routing]")
    return options, routing


__all__ = ["ConfigFileError", "load_config_file", "read_config_file"]
