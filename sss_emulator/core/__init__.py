"""One scripting call, run as the server runs it: resolve, check, prepare, run, answer.

Nothing here knows click, HTTP servers, watchdog or the LinkAhead stand-in: front ends build a
:class:`~sss_emulator.core.call.CallRequest` and hand the core its hooks
(:mod:`sss_emulator.core.hooks`).
"""
