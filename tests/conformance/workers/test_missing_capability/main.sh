#!/bin/sh
# Conformance fixture of the 2026-07-28 suite (server-stateless): its
# manifest requires the sampling client capability, so the gateway refuses a
# call whose client did not declare it before this runs.
cat >/dev/null
printf '%s\n' '{"content":[{"type":"text","text":"The client declared sampling"}]}'
