#!/usr/bin/env bash
# Fails when C sources use a call with no bound on its output or no error
# reporting; each has a safer form (snprintf, memcpy with a length, strtol, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
if git ls-files -- '*.c' '*.h' | xargs -r grep -nE "$banned" ; then
  echo "banned calls above: use snprintf, memcpy with a length, strtok_r or strtol" >&2
  exit 1
fi
