/* The CLI's progress line (progress.h). One thread redraws it ten times a
 * second under the line's lock; the caller only changes what it shows. The
 * line is cut to the terminal's width: a wrapped line could not be redrawn
 * in place with "\r". */
#include "gateway/progress.h"

#include "gateway/core/alloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_NS 100000000L
#define BAR_WIDTH 20
#define MAX_LINE  512

struct tg_progress {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    char *label;
    char *step;
    uint64_t done, total;
    bool counting;
    unsigned frame;
    struct timespec started;
};

bool tg_progress_wanted(void)
{
    const char *term = getenv("TERM");
    return isatty(STDERR_FILENO) && term && *term && strcmp(term, "dumb") != 0;
}

static size_t terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col;
    return 80;
}

/* Appends to line[0..*len) as snprintf would, cutting what does not fit. */
__attribute__((format(printf, 3, 4))) static void append(char *line, size_t *len, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + *len, MAX_LINE - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n < MAX_LINE - *len ? (size_t)n : MAX_LINE - *len - 1;
}

/* Draws the line; the caller holds p->lock. */
static void draw(tg_progress *p)
{
    static const char spinner[] = "|/-\\";
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long secs = (long)(now.tv_sec - p->started.tv_sec);
    char line[MAX_LINE];
    size_t len = 0;
    line[0] = '\0';
    if (p->counting && p->total) {
        /* More than counted may come (records written meanwhile): the bar stays whole. */
        uint64_t total = p->done > p->total ? p->done : p->total;
        size_t filled = (size_t)(p->done * BAR_WIDTH / total);
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', filled);
        memset(bar + filled, '.', BAR_WIDTH - filled);
        bar[BAR_WIDTH] = '\0';
        append(line, &len, "%s [%s] %llu/%llu", p->label, bar, (unsigned long long)p->done,
               (unsigned long long)total);
    } else {
        append(line, &len, "%c %s", spinner[p->frame % 4], p->label);
        if (p->counting) append(line, &len, " %llu", (unsigned long long)p->done);
    }
    if (p->step) append(line, &len, ": %s", p->step);
    append(line, &len, " (%ld:%02ld)", secs / 60, secs % 60);
    size_t width = terminal_width() - 1;
    if (len > width) len = width;
    /* \033[K erases what a longer line before left behind. */
    fprintf(stderr, "\r%.*s\033[K", (int)len, line);
    fflush(stderr);
    p->frame++;
}

static void clear_line(void)
{
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void *redraw(void *arg)
{
    tg_progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        draw(p);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += REDRAW_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    }
    /* The last state is drawn once, so an operation shorter than a redraw
     * also shows what it came to, if only for a moment. */
    draw(p);
    clear_line();
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

tg_progress *tg_progress_start(const char *label)
{
    if (!tg_progress_wanted()) return NULL;
    tg_progress *p = tg_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->label = tg_xstrdup(label);
    clock_gettime(CLOCK_MONOTONIC, &p->started);
    if (pthread_create(&p->thread, NULL, redraw, p) != 0) {
        /* No line then; the operation itself goes on. */
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p->label);
        free(p);
        return NULL;
    }
    return p;
}

void tg_progress_step(tg_progress *p, const char *step)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    free(p->step);
    p->step = step ? tg_xstrdup(step) : NULL;
    pthread_mutex_unlock(&p->lock);
}

void tg_progress_count(tg_progress *p, uint64_t done, uint64_t total)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->counting = true;
    p->done = done;
    p->total = total;
    pthread_mutex_unlock(&p->lock);
}

void tg_progress_print(tg_progress *p, const char *text)
{
    if (!p) {
        fputs(text, stderr);
        return;
    }
    pthread_mutex_lock(&p->lock);
    clear_line();
    fputs(text, stderr);
    draw(p);
    pthread_mutex_unlock(&p->lock);
}

void tg_progress_end(tg_progress *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->label);
    free(p->step);
    free(p);
}
