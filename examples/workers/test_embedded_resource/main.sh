#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
cat >/dev/null
printf '%s\n' '{"content":[{"type":"resource","resource":{"uri":"test://embedded-resource","mimeType":"text/plain","text":"This is an embedded resource content."}}]}'
