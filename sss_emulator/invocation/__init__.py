"""Settings + a call → a ready :class:`Emulator` and request, for every front end; no click.

Front ends (CLI, watch, serve, the pytest plugin) come here; here comes the settings engine
(:mod:`sss_emulator.config`), the hooks (:mod:`sss_emulator.connect`) and the core.
"""

from sss_emulator.invocation.emulator import Emulator
from sss_emulator.invocation.prepare import FORMATS, Prepared, RunInvocation, prepare

__all__ = ("FORMATS", "Emulator", "Prepared", "RunInvocation", "prepare")
