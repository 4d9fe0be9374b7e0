/* Structured log lines: each is one JSON object that jansson parses back to
 * what was logged (escapes, invalid UTF-8, cuts), levels filter, and lines
 * written by many threads at once into one pipe never mix. */
#include "gateway/core/log.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipe_rd = -1, pipe_wr = -1;

/* Everything the log wrote since the last drain (the caller frees it). */
static char *drain(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - n < 4096) buf = realloc(buf, cap *= 2);
        ssize_t r = read(pipe_rd, buf + n, cap - n - 1);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The one line the last log call wrote, parsed; NULL when it wrote nothing
 * or anything but one JSON object and a newline. */
static json_t *last_line(void)
{
    size_t len;
    char *text = drain(&len);
    json_t *doc = NULL;
    if (len > 0 && text[len - 1] == '\n' && memchr(text, '\n', len) == text + len - 1) {
        json_error_t err;
        doc = json_loadb(text, len - 1, 0, &err);
        if (!doc) fprintf(stderr, "not JSON (%s): %.200s\n", err.text, text);
    } else if (len > 0) {
        fprintf(stderr, "not one line: %.200s\n", text);
    }
    free(text);
    return json_is_object(doc) ? doc : NULL;
}

static const char *field(const json_t *line, const char *name)
{
    return json_string_value(json_object_get(line, name));
}

static void test_levels(void)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        tg_log_level level = TG_LOG_ERROR;
        CHECK(tg_log_level_parse(names[i], &level));
        CHECK_INT_EQ(level, i);
        CHECK_STR_EQ(tg_log_level_name((tg_log_level)i), names[i]);
    }
    tg_log_level level = TG_LOG_DEBUG;
    CHECK(tg_log_level_parse("WARN", &level));
    CHECK_INT_EQ(level, TG_LOG_WARN);
    CHECK(!tg_log_level_parse("warning", &level));
    CHECK(!tg_log_level_parse("", &level));
    CHECK(!tg_log_level_parse(NULL, &level));
    CHECK_INT_EQ(level, TG_LOG_WARN);
    CHECK_STR_EQ(tg_log_level_name((tg_log_level)7), "unknown");
}

static void test_line_fields(void)
{
    tg_log_set_level(TG_LOG_INFO);
    tg_log_info(&(tg_log_ctx){.tenant = "acme", .call_id = "c1", .trace_id = "4bf9"},
                "deployed %s (version %d)", "crm", 3);
    json_t *line = last_line();
    CHECK(line != NULL);
    CHECK_STR_EQ(field(line, "level"), "info");
    CHECK_STR_EQ(field(line, "msg"), "deployed crm (version 3)");
    CHECK_STR_EQ(field(line, "tenant"), "acme");
    CHECK_STR_EQ(field(line, "call_id"), "c1");
    CHECK_STR_EQ(field(line, "trace_id"), "4bf9");
    /* 2026-11-23T17:40:01.123Z */
    const char *time = field(line, "time");
    CHECK(time && strlen(time) == 24 && time[4] == '-' && time[10] == 'T' && time[19] == '.' &&
          time[23] == 'Z');
    CHECK_INT_EQ(json_object_size(line), 6);
    json_decref(line);

    /* Absent fields are left out, a NULL ctx means none. */
    tg_log_error(&(tg_log_ctx){.tenant = "acme"}, "x");
    line = last_line();
    CHECK_INT_EQ(json_object_size(line), 4);
    CHECK_STR_EQ(field(line, "level"), "error");
    CHECK(!json_object_get(line, "call_id"));
    json_decref(line);
    tg_log_warn(NULL, "no context");
    line = last_line();
    CHECK_INT_EQ(json_object_size(line), 3);
    CHECK_STR_EQ(field(line, "level"), "warn");
    json_decref(line);
}

static void test_escaping(void)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"quote \" backslash \\ slash /", "quote \" backslash \\ slash /"},
        {"tab\tnew\nline\rcr\bbs\fff", "tab\tnew\nline\rcr\bbs\fff"},
        {"bell\x01 esc\x1b del\x7f", "bell\x01 esc\x1b del\x7f"},
        {"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"bad \xFF byte", "bad \xEF\xBF\xBD byte"},
        {"cut \xC3", "cut \xEF\xBF\xBD"},
        {"overlong \xC0\xAF", "overlong \xEF\xBF\xBD\xEF\xBF\xBD"},
        {"surrogate \xED\xA0\x80", "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"past U+10FFFF \xF4\x90\x80\x80",
         "past U+10FFFF \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_log_info(&(tg_log_ctx){.tenant = cases[i].in}, "%s", cases[i].in);
        json_t *line = last_line();
        if (!line) fprintf(stderr, "escaping case %zu\n", i);
        CHECK_STR_EQ(field(line, "msg"), cases[i].want);
        CHECK_STR_EQ(field(line, "tenant"), cases[i].want);
        json_decref(line);
    }
    /* Control characters without a shorthand are written as \u00XX. */
    tg_log_info(NULL, "\x01");
    size_t len;
    char *text = drain(&len);
    CHECK(strstr(text, "\"msg\":\"\\u0001\"") != NULL);
    free(text);
}

static void test_filtering(void)
{
    tg_log_set_level(TG_LOG_WARN);
    CHECK_INT_EQ(tg_log_level_get(), TG_LOG_WARN);
    tg_log_debug(NULL, "dropped");
    tg_log_info(NULL, "dropped");
    CHECK(last_line() == NULL);
    tg_log_warn(NULL, "kept");
    json_t *line = last_line();
    CHECK_STR_EQ(field(line, "msg"), "kept");
    json_decref(line);
    tg_log_set_level(TG_LOG_DEBUG);
    tg_log_debug(NULL, "now kept");
    line = last_line();
    CHECK_STR_EQ(field(line, "level"), "debug");
    json_decref(line);
    tg_log_set_level(TG_LOG_INFO);
}

static void test_errno_kept(void)
{
    errno = ENOSPC;
    tg_log_error(NULL, "disk full");
    CHECK_INT_EQ(errno, ENOSPC);
    json_decref(last_line());
}

/* Long messages and context values are cut, on a character boundary, with
 * the line still one valid JSON object that says it was cut. */
static void test_cuts(void)
{
    static char big[40000];
    memset(big, 'a', sizeof big - 1);
    tg_log_info(NULL, "%s", big);
    json_t *line = last_line();
    const char *msg = field(line, "msg");
    CHECK(msg && strlen(msg) > 8000 && strlen(msg) < 9000);
    CHECK(msg && strcmp(msg + strlen(msg) - 3, "\xE2\x80\xA6") == 0);
    json_decref(line);

    /* Every byte escaped six times over: the line fills, then stops. */
    memset(big, '\x01', 8000);
    big[8000] = '\0';
    tg_log_info(&(tg_log_ctx){.tenant = "t", .call_id = "c"}, "%s", big);
    line = last_line();
    msg = field(line, "msg");
    CHECK(msg && strlen(msg) > 2000 && strlen(msg) < 8000);
    CHECK_STR_EQ(field(line, "call_id"), "c");
    json_decref(line);

    /* A two-byte character across the cut is dropped whole. */
    for (size_t i = 0; i + 1 < sizeof big - 1; i += 2)
        memcpy(big + i, "\xC3\xA9", 2);
    big[sizeof big - 1] = '\0';
    tg_log_info(&(tg_log_ctx){.trace_id = big}, "x%s", big);
    line = last_line();
    msg = field(line, "msg");
    CHECK(msg && strlen(msg) > 8000);
    const char *trace = field(line, "trace_id");
    CHECK(trace && strlen(trace) <= 256 && strlen(trace) >= 254);
    json_decref(line);
}

/* ---- concurrency ------------------------------------------------------ */

#define THREADS 8
#define LINES   400

typedef struct collected {
    char *buf;
    size_t len, cap;
} collected;

static void *collect(void *arg)
{
    collected *c = arg;
    for (;;) {
        if (c->cap - c->len < 65536) c->buf = realloc(c->buf, c->cap = c->cap * 2 + 65536);
        ssize_t r = read(pipe_rd, c->buf + c->len, c->cap - c->len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        c->len += (size_t)r;
    }
    c->buf[c->len] = '\0';
    return NULL;
}

static char pad[6000]; /* all 'x' */

static void *write_lines(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < LINES; i++) {
        /* Some lines longer than PIPE_BUF, which a pipe alone would split. */
        int width = (i * 7919 + t * 104729) % (int)(sizeof pad - 1);
        tg_log_info(&(tg_log_ctx){.call_id = "c"}, "thread %d line %d %.*s", t, i, width, pad);
    }
    return NULL;
}

static void test_concurrent(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    tg_log_set_fd(fds[1]);
    memset(pad, 'x', sizeof pad - 1);
    int saved_rd = pipe_rd;
    pipe_rd = fds[0];
    collected c = {0};
    pthread_t reader, writers[THREADS];
    pthread_create(&reader, NULL, collect, &c);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&writers[t], NULL, write_lines, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(writers[t], NULL);
    close(fds[1]);
    pthread_join(reader, NULL);
    close(fds[0]);
    pipe_rd = saved_rd;
    tg_log_set_fd(pipe_wr);

    int seen[THREADS] = {0}, bad = 0, lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(c.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        json_t *doc = json_loads(l, 0, NULL);
        int t = -1, i = -1;
        const char *msg = field(doc, "msg");
        if (!msg || sscanf(msg, "thread %d line %d", &t, &i) != 2 || t < 0 || t >= THREADS ||
            i != seen[t]) {
            if (bad++ < 3) fprintf(stderr, "bad line: %.120s\n", l);
        } else {
            seen[t]++;
        }
        json_decref(doc);
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(lines, THREADS * LINES);
    for (int t = 0; t < THREADS; t++)
        CHECK_INT_EQ(seen[t], LINES);
    free(c.buf);
}

int main(void)
{
    int fds[2];
    if (pipe(fds) != 0) return 1;
    pipe_rd = fds[0];
    pipe_wr = fds[1];
    /* Room for the longest line at once, so a test may log before it reads. */
    fcntl(pipe_wr, F_SETPIPE_SZ, 1 << 20);
    fcntl(pipe_rd, F_SETFL, O_NONBLOCK);
    tg_log_set_fd(pipe_wr);
    test_levels();
    test_line_fields();
    test_escaping();
    test_filtering();
    test_errno_kept();
    test_cuts();
    test_concurrent();
    return check_report();
}
