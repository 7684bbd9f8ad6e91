#!/bin/bash
# The server as a client of itself: call back once without and once with our token.
# The server URL comes from the [Connection] url of the .pylinkahead.ini in HOME.
token="${1#--auth-token=}"
url=$(sed -n 's/^[[:space:]]*url[[:space:]]*=[[:space:]]*//p' "$HOME/.pylinkahead.ini" | head -n 1)
url="${url%/}"
if [ -z "$url" ]; then
    echo "no [Connection] url in $HOME/.pylinkahead.ini" >&2
    exit 1
fi
cookie=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$token")
curl -o /dev/null -s -k -w "No SessionToken: %{http_code}\n" "$url/Info"
curl -o /dev/null -s -k -w "With SessionToken: %{http_code}\n" -H "Cookie: SessionToken=${cookie};" "$url/Info"
