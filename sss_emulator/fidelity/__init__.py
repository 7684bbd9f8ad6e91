"""Measure how a local run differs from the user's own LinkAhead server: ``compare``, ``record``
and ``replay``.

The pure parts (normalisation rules, what one side of a comparison observed, the report of two
observations) import nothing heavy; the HTTP client (``client``), the comparison of a server run
with a local one (``compare``), the recording proxy (``record``) and the replay of call files
(``replay``) do their I/O at the edges. Nothing here imports click: ``cli/compare.py``,
``cli/record.py`` and ``cli/replay.py`` map the command lines onto these modules.
"""
