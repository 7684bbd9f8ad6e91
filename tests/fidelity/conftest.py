"""Fixtures of the compare/record/replay tests; the helpers live in fidelity_helpers (a unique
module name, so that importing them does not depend on which conftest pytest loaded last)."""

from fidelity_helpers import *  # noqa: F403  (fixtures are found by name in this namespace)
