#!/bin/bash
# Print the file given as the first user argument.
# $1 is always the server's --auth-token=..., so the user's first argument is $2.
cat "$2"
