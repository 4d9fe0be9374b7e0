/* The daemon's diagnostics: one JSON object per line, on stderr unless told
 * otherwise, so a log collector needs no parser of ours:
 *
 *   {"time":"2026-11-23T17:40:01.123Z","level":"info","msg":"...",
 *    "tenant":"t","call_id":"...","trace_id":"..."}
 *
 * Context fields are left out when absent. Every line is built in a local
 * buffer and leaves in one write(2), so lines of concurrent threads never
 * mix; a message too long for the line is cut on a character boundary, and
 * bytes that are not UTF-8 become U+FFFD, so each line is valid JSON.
 * Logging never allocates and never fails the caller. */
#ifndef TG_CORE_LOG_H
#define TG_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum tg_log_level { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR } tg_log_level;

/* What a line is about; any field may be NULL, and so may the whole ctx. */
typedef struct tg_log_ctx {
    const char *tenant, *call_id, *trace_id;
} tg_log_ctx;

/* Lines below level are dropped before they are formatted. Atomic: any
 * thread may change it at any time (a reload on SIGHUP). Default: info. */
void tg_log_set_level(tg_log_level level);
tg_log_level tg_log_level_get(void);
/* "debug", "info", "warn" or "error", in any case; false for anything else. */
bool tg_log_level_parse(const char *name, tg_log_level *out);
/* The level's name as it appears in lines ("unknown" outside the enum). */
const char *tg_log_level_name(tg_log_level level);

/* Where lines go (borrowed; default 2, stderr). */
void tg_log_set_fd(int fd);

/* Writes one line of printf-formatted text; errno is left as it was, so a
 * caller may log before it reports errno. */
void tg_log(tg_log_level level, const tg_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tg_vlog(tg_log_level level, const tg_log_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define tg_log_debug(ctx, ...) tg_log(TG_LOG_DEBUG, ctx, __VA_ARGS__)
#define tg_log_info(ctx, ...)  tg_log(TG_LOG_INFO, ctx, __VA_ARGS__)
#define tg_log_warn(ctx, ...)  tg_log(TG_LOG_WARN, ctx, __VA_ARGS__)
#define tg_log_error(ctx, ...) tg_log(TG_LOG_ERROR, ctx, __VA_ARGS__)

#endif
