"""What of the caller's environment a script gets: the one scrub list of every front end.

A server's script inherits the server's own environment, which holds none of the developer's
secrets. Ours inherit the emulator's, which does: ``SSS_PASSWORD`` (the real server's password
of ``--server-url`` and ``compare``), ``SSS_ADMIN_PASSWORD`` (``serve``'s), ``PYLINKAHEADINI``
pointing at a production ini, an SSH agent. Every way a script is started (``run``, ``serve``,
watch mode, the pytest plugin in both modes, ``compare``'s local side, ``replay``, ``doctor``)
goes through :meth:`~sss_emulator.core.emulator.Emulator.script_env`, which starts from
:func:`scrubbed_environment`; what the user passes on purpose (``--env``, ``env=``) is added
after the scrub, and the run's own variables (HOME, SHARED_DIR, the mail spool, the run marker)
after that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sss_emulator import decisions

__all__ = ("is_scrubbed", "scrubbed_environment")


def is_scrubbed(name: str) -> bool:
    """Whether a script must not inherit the variable ``name`` (``decisions.SCRUBBED_ENV``,
    and every ``SSS_*`` setting of the emulator itself: ``decisions.SCRUBBED_ENV_PREFIXES``)."""
    return name in decisions.SCRUBBED_ENV or name.startswith(decisions.SCRUBBED_ENV_PREFIXES)


def scrubbed_environment(environ: Mapping[str, str] | Iterable[tuple[str, str]]
                         ) -> dict[str, str]:
    """``environ`` without the variables :func:`is_scrubbed` names."""
    items = environ.items() if isinstance(environ, Mapping) else environ
    return {name: value for name, value in items if not is_scrubbed(name)}
