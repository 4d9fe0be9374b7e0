#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
cat >/dev/null
printf '%s\n' '{"content":[{"type":"text","text":"This is a simple text response for testing."}]}'
