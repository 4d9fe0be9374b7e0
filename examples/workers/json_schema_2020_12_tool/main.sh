#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
# Echoes the validated arguments back.
args=$(cat)
printf '{"content":[{"type":"text","text":"%s"}]}\n' "$(printf '%s' "$args" | sed 's/[\\"]/\\&/g')"
