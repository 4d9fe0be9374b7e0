/* Structured log lines; see log.h.
 *
 * A line is built on the stack: the context fields first (each cut to
 * MAX_FIELD bytes), so that however long the message, its line still closes
 * as valid JSON; then the message, escaped into what room is left. Lines of
 * concurrent threads stay whole because each leaves in one write(2) under a
 * lock, which also finishes a write cut short (a signal, a full pipe) before
 * another line starts. */
#include "gateway/core/log.h"

#include "gateway/core/text.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG   8192  /* a formatted message is cut to this many bytes */
#define MAX_FIELD 256   /* a context value is cut to this many bytes, escaped */
#define MAX_LINE  16384 /* room for a message of MAX_MSG with some escaping */

static atomic_int min_level = TG_LOG_INFO;
static atomic_int out_fd = 2;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tg_log_set_level(tg_log_level level)
{
    atomic_store(&min_level, (int)level);
}

tg_log_level tg_log_level_get(void)
{
    return (tg_log_level)atomic_load(&min_level);
}

bool tg_log_level_parse(const char *name, tg_log_level *out)
{
    for (size_t i = 0; name && i < sizeof level_names / sizeof *level_names; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (tg_log_level)i;
            return true;
        }
    }
    return false;
}

const char *tg_log_level_name(tg_log_level level)
{
    return (unsigned)level < sizeof level_names / sizeof *level_names ? level_names[level]
                                                                      : "unknown";
}

void tg_log_set_fd(int fd)
{
    atomic_store(&out_fd, fd);
}

/* Writes s into out[cap) as the inside of a JSON string: quotes, backslashes
 * and control characters escaped, and each byte that does not begin a valid
 * UTF-8 character as U+FFFD. Stops before the first character whose form
 * would not fit whole, setting *cut. Returns the bytes written. */
static size_t escape(const char *s, char *out, size_t cap, bool *cut)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t o = 0;
    *cut = false;
    while (*s) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        const char *form = s;
        size_t n = 1, used = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            form = esc;
            n = 2;
        } else if (c < 0x20) {
            const char *shorthand = c == '\n'   ? "\\n"
                                    : c == '\t' ? "\\t"
                                    : c == '\r' ? "\\r"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                                : NULL;
            if (shorthand)
                memcpy(esc, shorthand, 3);
            else
                snprintf(esc, sizeof esc, "\\u%04x", c);
            form = esc;
            n = strlen(esc);
        } else if (c >= 0x80) {
            used = n = tg_utf8_char_len(s);
            if (n == 0) {
                form = replacement;
                n = sizeof replacement - 1;
                used = 1;
            }
        }
        if (n > cap - o) {
            *cut = true;
            break;
        }
        memcpy(out + o, form, n);
        o += n;
        s += used;
    }
    return o;
}

/* Appends ,"name":"value" to buf[*len..cap), the value cut to MAX_FIELD. */
static void add_field(char *buf, size_t *len, size_t cap, const char *name, const char *value)
{
    if (!value) return;
    int n = snprintf(buf + *len, cap - *len, ",\"%s\":\"", name);
    if (n < 0 || (size_t)n + MAX_FIELD + 1 > cap - *len) return;
    *len += (size_t)n;
    bool cut;
    *len += escape(value, buf + *len, MAX_FIELD, &cut);
    buf[(*len)++] = '"';
}

/* The whole line in one write, continued under the lock if cut short. */
static void emit(const char *line, size_t len)
{
    int fd = atomic_load(&out_fd);
    pthread_mutex_lock(&write_lock);
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* nowhere left to say that logging failed */
        line += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&write_lock);
}

void tg_vlog(tg_log_level level, const tg_log_ctx *ctx, const char *fmt, va_list ap)
{
    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed)) return;
    int saved_errno = errno;

    char msg[MAX_MSG + 1];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    bool cut = false;
    if (n < 0) {
        /* An encoding error: the format still says what happened. */
        snprintf(msg, sizeof msg, "%s", fmt);
    } else if ((size_t)n >= sizeof msg) {
        msg[tg_utf8_whole(msg, sizeof msg - 1)] = '\0';
        cut = true;
    }

    char tail[3 * (MAX_FIELD + 16) + 4];
    size_t tail_len = 0;
    if (ctx) {
        add_field(tail, &tail_len, sizeof tail, "tenant", ctx->tenant);
        add_field(tail, &tail_len, sizeof tail, "call_id", ctx->call_id);
        add_field(tail, &tail_len, sizeof tail, "trace_id", ctx->trace_id);
    }
    memcpy(tail + tail_len, "}\n", 2);
    tail_len += 2;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm = {0};
    gmtime_r(&now.tv_sec, &tm);
    char line[MAX_LINE];
    int head = snprintf(line, sizeof line,
                        "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\","
                        "\"msg\":\"",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, (int)(now.tv_nsec / 1000000), tg_log_level_name(level));
    size_t len = head > 0 ? (size_t)head : 0;
    /* Room for the closing quote and an ellipsis that marks a cut message. */
    static const char ellipsis[] = "\xE2\x80\xA6";
    size_t room = sizeof line - len - tail_len - 1 - (sizeof ellipsis - 1);
    bool escape_cut;
    len += escape(msg, line + len, room, &escape_cut);
    if (cut || escape_cut) {
        memcpy(line + len, ellipsis, sizeof ellipsis - 1);
        len += sizeof ellipsis - 1;
    }
    line[len++] = '"';
    memcpy(line + len, tail, tail_len);
    len += tail_len;
    emit(line, len);
    errno = saved_errno;
}

void tg_log(tg_log_level level, const tg_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_vlog(level, ctx, fmt, ap);
    va_end(ap);
}
