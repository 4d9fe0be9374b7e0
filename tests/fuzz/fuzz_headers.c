/* libFuzzer target for the request headers toolgate reads itself
 * (gateway/http/headers.h): Accept lists, Content-Type and traceparent, as
 * any client may send them.
 *
 * Input: the header value (NUL-terminated at the first NUL or the end); byte
 * 0 picks the media type asked about from a fixed list.
 *
 * Invariants, beyond "no crash, no read past the value":
 *   - an Accept that accepts a type holds a range naming it or a wildcard
 *     for it (so a substring such as "application/jsonx" never does);
 *   - a Content-Type that is the type starts with it;
 *   - a trace id taken from traceparent is 32 lowercase hex digits, not all
 *     zero, and is the value's bytes 3 to 34. */
#include "gateway/http/headers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {"application/json", "text/event-stream", "text/plain"};

/* Whether the list names type, its type with a wildcard subtype, or the full
 * wildcard anywhere (case-insensitive), which any acceptance requires. */
static bool mentions(const char *list, const char *type)
{
    char wildcard[64];
    size_t tlen = (size_t)(strchr(type, '/') - type);
    memcpy(wildcard, type, tlen + 1);
    memcpy(wildcard + tlen + 1, "*", 2);
    return strcasestr(list, type) || strcasestr(list, wildcard) || strstr(list, "*/*");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    const char *type = types[data[0] % (sizeof types / sizeof *types)];
    char *value = malloc(size);
    if (!value) return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0';

    if (tg_http_accepts(value, type) && !mentions(value, type)) abort();
    if (tg_http_media_type_is(value, type) && strncasecmp(value, type, strlen(type)) != 0) abort();
    char id[33];
    const char *got = tg_http_traceparent_trace_id(value, id);
    if (got) {
        if (got != id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32 ||
            strspn(id, "0") == 32 || strncmp(value + 3, id, 32) != 0)
            abort();
    }
    free(value);
    return 0;
}
