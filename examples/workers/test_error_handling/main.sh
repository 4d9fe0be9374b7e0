#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
cat >/dev/null
printf '%s\n' '{"error":{"code":"TEST_ERROR","message":"This tool intentionally returns an error for testing","retryable":false}}'
exit 1
