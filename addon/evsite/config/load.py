"""Load and validate a site: YAML text or dicts in, a :class:`SiteConfig` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from evsite.config.build import build_site_config
from evsite.config.models import SiteConfig
from evsite.config.schema import SITE_FILE
from evsite.config.validate import check_site
from evsite.errors import ConfigError, Problem


@dataclass(frozen=True, slots=True)
class LoadedSite:
    """A valid site with the warnings found while checking it."""

    config: SiteConfig
    normalized: dict[str, Any]
    warnings: list[Problem]


def format_path(path: Sequence[Any]) -> str:
    """Render a voluptuous path as ``chargers[3].parent``."""
    out = ""
    for marker in path:
        # Missing keys come as vol.Required markers, not as their names.
        part = marker.schema if isinstance(marker, vol.Marker) else marker
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(part, str) and part.isprintable() and part.strip()):
            out += f"[{part!r}]"  # A stray key must not break one-line output.
        else:
            out += f".{part}" if out else str(part)
    return out


def schema_problems(err: vol.Invalid) -> list[Problem]:
    """Every problem of a voluptuous error, each with its path."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    problems = []
    for error in errors:
        message = error.error_message or str(error.msg)
        name = f" {format_path(error.path[-1:])!r}" if error.path else ""
        if message == "extra keys not allowed":
            message = f"unknown field{name}"
        elif message == "required key not provided":
            message = f"required field{name} is missing"
        problems.append(Problem(format_path(error.path), message))
    return sorted(problems, key=lambda p: p.path)


def normalize(schema: vol.Schema, data: Any, prefix: Sequence[Any] = ()) -> Any:
    """Validate ``data`` against ``schema``; raise ConfigError naming every path."""
    try:
        return schema(data)
    except vol.Invalid as err:
        problems = schema_problems(err)
        if prefix:
            pre = format_path(prefix)
            problems = [
                Problem(
                    pre + (p.path if p.path.startswith("[") else f".{p.path}")
                    if p.path
                    else pre,
                    p.message,
                )
                for p in problems
            ]
        raise ConfigError(problems) from err


def parse_site(data: Any) -> LoadedSite:
    """Validate a site-file dict: schema, then cross-checks.

    Args:
        data: the parsed YAML/JSON document.

    Returns:
        The site, its normalised dict and any warnings.

    Raises:
        ConfigError: listing every problem found.
    """
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "a site file is a mapping with site, panels")])
    normalized = normalize(SITE_FILE, data)
    config = build_site_config(normalized)
    errors, warnings = check_site(config)
    if errors:
        raise ConfigError(errors)
    return LoadedSite(config, normalized, warnings)


def read_yaml(text: str, source: str = "<text>") -> Any:
    """Parse YAML, turning a syntax error into a ConfigError with its line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([Problem(where, f"invalid YAML: {problem}")]) from err


def load_site_file(path: Path) -> LoadedSite:
    """Read and validate a site YAML file.

    Raises:
        ConfigError: the file is missing, unreadable or invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([Problem(str(path), f"cannot read: {err.strerror}")]) from err
    return parse_site(read_yaml(text, str(path)))
