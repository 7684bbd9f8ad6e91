#!/bin/bash
# Echo how the server called us: our own path, then every argument on one line.
# (The server always passes --auth-token=... first; a real script must not print it —
# this one does, for teaching, exactly like the tutorial's minimal example.)
printf '%s' "$0"
printf ' %s' "$@"
printf '\n'
