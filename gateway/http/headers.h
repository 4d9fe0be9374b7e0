/* The request headers toolgate reads itself (libmicrohttpd only splits them
 * out): media types, Accept lists and W3C trace context. Each takes the raw
 * header value, any bytes, NULL for an absent header, and never allocates. */
#ifndef TG_HTTP_HEADERS_H
#define TG_HTTP_HEADERS_H

#include <stdbool.h>

/* Whether a Content-Type value names type (case-insensitive), with or without
 * parameters: "application/json; charset=utf-8" is application/json. */
bool tg_http_media_type_is(const char *value, const char *type);

/* Whether an Accept list (RFC 9110 section 12.5.1) accepts type
 * ("text/event-stream"): the most specific media range that matches it (the
 * exact type, then its type with a wildcard subtype, then the full wildcard)
 * decides, and a q of 0 refuses. Ranges with a malformed q are skipped. */
bool tg_http_accepts(const char *accept, const char *type);

/* The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"),
 * copied into out, or NULL when the header is absent or not valid trace
 * context (a version of ff, uppercase hex, an all-zero trace or parent id,
 * a version 00 header of the wrong length), so the call starts a trace of
 * its own rather than joining a forged or broken one. */
const char *tg_http_traceparent_trace_id(const char *header, char out[33]);

/* Whether header is trace context tg_http_traceparent_trace_id takes, with
 * the sampled bit of its trace-flags set: the caller recorded its part of the
 * trace, so the worker's part should be recorded too. */
bool tg_http_traceparent_sampled(const char *header);

#endif
