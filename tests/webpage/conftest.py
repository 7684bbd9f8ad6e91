"""Fixtures of the webpage tests; the helpers live in webpage_helpers (a unique module name, so
that importing them does not depend on which conftest pytest loaded last)."""

from webpage_helpers import *  # noqa: F403  (fixtures are found by name in this namespace)
