"""Typed readers for environment variables.

Every secret-like variable can also be given as ``NAME_FILE`` (a path whose contents are the value),
the convention of Docker secrets and Kubernetes mounted secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ImproperlyConfiguredEnv(RuntimeError):
    """A variable is present but cannot be read as the type asked for."""


def env_str(name: str, default: str | None = None) -> str | None:
    """The variable, or the contents of ``{name}_FILE`` (stripped), or ``default``."""
    value = os.environ.get(name)
    if value is not None:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name} must be a boolean, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = int(value)
        except ValueError as exc:
            raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {value!r}") from exc
    if minimum is not None and result < minimum:
        return minimum
    return result


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]
