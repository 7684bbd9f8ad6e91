"""Reading the YAML files users already have, with errors that name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sss_emulator.errors import ConfigError

__all__ = ("load_yaml",)


def load_yaml(path: Path, what: str) -> Any:
    """``path`` as YAML; PyYAML is imported here, so a run without such a file never pays."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text (byte {exc.start}); save it as "
                          "UTF-8.") from None
    except RecursionError:  # [[[[…]]]]: the parser recurses once per level
        raise ConfigError(f"{path}: {what} is nested too deeply; fix the file.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {what} is not valid YAML ({problem}); fix the file.") from exc
