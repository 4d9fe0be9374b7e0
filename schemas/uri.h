/* URI references as JSON Schema uses them for $id, $ref and $schema:
 * resolution against a base (RFC 3986 section 5.2), fragments, and the
 * percent-decoding of JSON Pointer fragments. */
#ifndef TG_SCHEMAS_URI_H
#define TG_SCHEMAS_URI_H

#include <stdbool.h>
#include <stddef.h>

/* Returns: new string, ref resolved against base (which may be NULL or "",
 * in which case ref is returned as it is). */
char *tg_uri_resolve(const char *base, const char *ref);

/* Returns: new string, uri without its fragment. *fragment (optional) points
 * into uri just after the '#', or is NULL when uri has none. */
char *tg_uri_strip_fragment(const char *uri, const char **fragment);

/* True when uri has a scheme (is absolute, possibly with a fragment). */
bool tg_uri_has_scheme(const char *uri);

/* Percent-decodes s into a new string; returns NULL when an escape is malformed. */
char *tg_uri_pct_decode(const char *s);

#endif
