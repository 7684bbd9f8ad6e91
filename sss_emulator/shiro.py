"""Permission strings and rules as the LinkAhead server reads them (it uses Apache Shiro).

One module for both kinds of permission the server knows: role permissions
(``SCRIPTING:EXECUTE:a.py``, ``TRANSACTION:INSERT``, ``ACM:USER:INSERT:CaosDB``) and entity
permissions (``UPDATE:NAME``, ``RETRIEVE:*``). The core's scripting check and the stand-in's
entity and administration checks read the same matching and the same priority order, so a rule
means the same wherever it is evaluated.

Sources: the matching follows Shiro's ``WildcardPermission``; the order in which rules apply is
the server's documented one (docs.indiscale.com/caosdb-server/permissions.html, "Permission
calculation"): grants without priority, then denies without priority, then grants with
priority, then denies with priority; what is not granted at the end is refused.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ("Rule", "decide", "implies")


def _parts(permission: str) -> list[set[str]]:
    return [
        {token.strip() for token in part.split(",")}
        for part in permission.strip().split(":")
    ]


@functools.lru_cache(maxsize=4096)
def implies(grant: str, permission: str) -> bool:
    """True when ``grant`` covers ``permission``.

    Parts are split on ``:``; ``*`` matches one whole part; a part may list alternatives with
    ``,``; a shorter grant implies every longer permission (``SCRIPTING:EXECUTE`` allows all
    scripts). Case matters for script names, as file names are case-sensitive. Remembered:
    the same few rules and permissions are asked about on every request.

    >>> implies("SCRIPTING:EXECUTE:*", "SCRIPTING:EXECUTE:a.py")
    True
    >>> implies("SCRIPTING:EXECUTE:my_scripts:*", "SCRIPTING:EXECUTE:other:a.py")
    False
    >>> implies("UPDATE:*", "UPDATE:PARENT:ADD")
    True
    """
    grant_parts = _parts(grant.replace("/", ":"))
    wanted = _parts(permission)
    for index, granted in enumerate(grant_parts):
        if index >= len(wanted):
            # Shiro: extra grant parts must all be wildcards.
            if "*" not in granted:
                return False
            continue
        if "*" not in granted and not wanted[index] <= granted:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``<Grant>``/``<Deny>`` of a permission, with or without priority."""

    kind: Literal["Grant", "Deny"]
    permission: str
    priority: bool = False

    @classmethod
    def grant(cls, permission: str, priority: bool = False) -> Rule:
        return cls("Grant", permission, priority)


def decide(rules: Iterable[Rule], permission: str) -> bool:
    """Whether ``rules`` (all that apply to the caller) allow ``permission``, in the server's
    order: the last stage with a matching rule wins (priority denies, priority grants,
    denies, grants); no matching rule means refused."""
    grant = deny = prio_grant = False
    for rule in rules:
        if not implies(rule.permission, permission):
            continue
        if rule.priority:
            if rule.kind == "Deny":
                return False
            prio_grant = True
        elif rule.kind == "Deny":
            deny = True
        else:
            grant = True
    return prio_grant or (grant and not deny)
