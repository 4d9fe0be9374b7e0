#!/bin/sh
# date_time: no arguments; prints the current time in UTC.
cat >/dev/null
now=$(date -u +%s)
printf '{"utc":"%s","unix":%s,"weekday":"%s"}\n' "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)" "$now" "$(date -u -d "@$now" +%A)"
