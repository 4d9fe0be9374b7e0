/* Fixed-size text buffers whose contents leave as JSON strings. JSON text is
 * UTF-8, and jansson refuses a string with a broken sequence, so a message cut
 * to fit its buffer must be cut between characters, never inside one. */
#ifndef TG_CORE_TEXT_H
#define TG_CORE_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns: the length of s[0..len) without the UTF-8 sequence a cut left
 * incomplete at its end (len itself when nothing is cut). */
size_t tg_utf8_whole(const char *s, size_t len);

/* Returns: the length of the valid UTF-8 character that s (NUL-terminated)
 * starts with (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF), or 0 when s does not start with one. */
size_t tg_utf8_char_len(const char *s);

/* Returns: how many bytes of s (NUL-terminated) to quote with "%.*s" for an
 * excerpt of at most max bytes that ends between characters: a precision
 * alone may cut a character in two, and the message would then not be a
 * JSON string. */
int tg_utf8_excerpt(const char *s, size_t max);

/* vsnprintf into buf[size], cut on a character boundary when too long. */
void tg_vformat(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void tg_format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A point in time as people and machines write it into *ms (milliseconds
 * since the epoch): an integer of milliseconds, RFC 3339
 * ("2026-11-23T06:00:00Z", "2026-11-23T06:00:00.250+01:00", or a date
 * "2026-11-23" meaning its UTC midnight), or an age before now_ms ("90s",
 * "15m", "24h", "7d"). Returns false for anything else. */
bool tg_parse_time_ms(const char *s, int64_t now_ms, int64_t *ms);

#endif
