"""Hooks and fixtures of the sss-emulator pytest plugin."""
