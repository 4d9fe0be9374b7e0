/* The formats of JSON Schema 2020-12's format vocabulary, checked against the
 * RFCs that define them (RFC 3339 dates and times, RFC 5321/6531 addresses,
 * RFC 1123/5890 host names, RFC 3986/3987 URIs and IRIs, RFC 4122 UUIDs,
 * RFC 6901 JSON Pointers, ...). */
#ifndef TG_SCHEMAS_FORMAT_H
#define TG_SCHEMAS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

/* Returns true when s (UTF-8, len bytes, not necessarily NUL-terminated) is in the format. */
typedef bool (*tg_format_fn)(const char *s, size_t len);

/* Returns the checker for a format name, or NULL for a format this engine does
 * not know (unknown formats are annotations only and always pass). */
tg_format_fn tg_format_lookup(const char *name);

#endif
