"""pytest plugin for LinkAhead server-side scripts (registered as ``sss_emulator``)."""
