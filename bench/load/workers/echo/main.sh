#!/bin/sh
# The load test's quick worker: the same answer as the SDK peer's echo tool.
cat >/dev/null
printf '%s\n' '{"content":[{"type":"text","text":"ok"}]}'
