#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
cat >/dev/null
printf '%s\n' '{"progress":0,"total":100}' >&3
sleep 0.05
printf '%s\n' '{"progress":50,"total":100}' >&3
sleep 0.05
printf '%s\n' '{"progress":100,"total":100}' >&3
printf '%s\n' '{"content":[{"type":"text","text":"Progress test completed"}]}'
