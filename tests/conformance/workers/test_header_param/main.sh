#!/bin/sh
# Conformance fixture of the 2026-07-28 suite (http-custom-header-server-
# validation): the gateway has checked Mcp-Param-Region before this runs.
cat >/dev/null
printf '%s\n' '{"content":[{"type":"text","text":"ran"}]}'
