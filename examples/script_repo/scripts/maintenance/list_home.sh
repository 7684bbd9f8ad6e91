#!/bin/bash
# List what the server put into HOME (the uploads folder among them).
ls -A "$HOME"
