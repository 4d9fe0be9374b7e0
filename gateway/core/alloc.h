/* Allocation that cannot fail: out of memory ends the process with a message,
 * so callers never carry a NULL check for it (redis zmalloc, h2o_fatal). Every
 * other failure is reported through return codes. */
#ifndef TG_CORE_ALLOC_H
#define TG_CORE_ALLOC_H

#include <stddef.h>

void *tg_xmalloc(size_t n);
void *tg_xcalloc(size_t count, size_t size);
void *tg_xrealloc(void *p, size_t n);
char *tg_xstrdup(const char *s);
char *tg_xstrndup(const char *s, size_t n);
/* Formats into a new string (printf-style); the caller frees it. */
char *tg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
