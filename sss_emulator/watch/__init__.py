"""Watch mode: rerun one call whenever the files it reads change (the only user of watchdog)."""
