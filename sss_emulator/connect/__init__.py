"""What a run's callbacks reach: the embedded LinkAhead stand-in, or a real server by URL.

Both are :class:`~sss_emulator.core.hooks.RunHook` objects that front ends give the core.
"""
