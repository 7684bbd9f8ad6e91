"""Fixtures of the server tests; the helpers live in server_helpers (a unique module name, so
that importing them does not depend on which conftest pytest loaded last)."""

from server_helpers import *  # noqa: F403  (fixtures are found by name in this namespace)
