/* The scheduler (see scheduler.h). Each schedule is an entry, found by
 * (tenant, worker) in a hash table and ordered by its fire time in a binary
 * heap; one mutex guards both and the store's connection. Runs are started,
 * and records written, after the mutex is released: a start callback or an
 * audit write may block, and a run's report takes the mutex.
 *
 * The entries are the truth and the store their copy: a row is read once, at
 * open, and from then on written from its entry. That assumes one process
 * follows the schedules, whichever backend holds them. */
#include "gateway/triggers/scheduler.h"

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"
#include "gateway/core/metrics.h"
#include "gateway/triggers/cron.h"
#include "gateway/core/clock.h"
#include "gateway/store/store.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_JITTER_MS  5000
#define MAX_SLEEP_MS       60000 /* follow wall clock steps at least this often */
#define STORE_RETRY_MS     1000  /* after the store failed to take a poll's slots */
#define BUSY_TIMEOUT_MS    5000
#define RECORD_DEADLINE_NS 2000000000LL
#define PRINCIPAL          "schedule"
#define NEVER              INT64_MAX
#define NO_SLOT            (-1)

typedef enum run_state {
    IDLE,
    RUNNING, /* a try of the pending slot is out */
    WAITING, /* the pending slot waits for its next try, at retry_due */
} run_state;

typedef struct entry {
    char *tenant, *worker, *expr, *zone; /* zone NULL: UTC */
    tg_cron *cron;
    bool skip_missed;
    unsigned max_retries;
    int64_t backoff_ms, max_backoff_ms;
    int64_t offset_ms;  /* this worker's jitter after each slot */
    int64_t next_ms;    /* the next slot, or NO_SLOT when there is none */
    int64_t pending_ms; /* the slot whose run is not over, or NO_SLOT */
    bool pending_catch_up;
    run_state state;
    unsigned attempt;  /* the try out or last out */
    int64_t retry_due; /* WAITING: when the next try starts */
    uint64_t run_id;   /* the try out, to match its report */
    size_t heap_pos;
    bool seen; /* given to tg_scheduler_set since tg_scheduler_sync_begin */
} entry;

struct tg_scheduler {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    tg_store *db;
    tg_stmt *save_st, *drop_st;
    tg_scheduler_config cfg;
    int64_t opened_ms; /* slots before this passed while the gateway was down */
    entry **heap;      /* every entry, earliest fire time first */
    size_t nheap, heap_cap;
    entry **table; /* open addressing, linear probing; NULL is empty */
    size_t table_cap;
    uint64_t last_run_id;
    int64_t wake_at; /* when the thread polls next */
    bool stopping, started;
    pthread_t thread;
};

static const tg_store_migration migrations[] = {
    {
        /* What every file had before versions were kept: a no-op on those. */
        .sqlite = "CREATE TABLE IF NOT EXISTS schedules ("
                  " tenant TEXT NOT NULL, worker TEXT NOT NULL, expr TEXT NOT NULL, zone TEXT,"
                  " skip_missed INTEGER NOT NULL, max_retries INTEGER NOT NULL,"
                  " backoff_ms INTEGER NOT NULL, max_backoff_ms INTEGER NOT NULL,"
                  " next_ms INTEGER,"    /* NULL: the schedule never fires again */
                  " pending_ms INTEGER," /* NULL: no run owed */
                  " PRIMARY KEY (tenant, worker)) WITHOUT ROWID",
        /* skip_missed stays an integer: it is bound as one in both. */
        .postgres = "CREATE TABLE schedules ("
                    " tenant TEXT NOT NULL, worker TEXT NOT NULL, expr TEXT NOT NULL, zone TEXT,"
                    " skip_missed BIGINT NOT NULL, max_retries BIGINT NOT NULL,"
                    " backoff_ms BIGINT NOT NULL, max_backoff_ms BIGINT NOT NULL,"
                    " next_ms BIGINT, pending_ms BIGINT,"
                    " PRIMARY KEY (tenant, worker))",
    },
};

static int db_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return tg_error_set(err, TG_EUNAVAILABLE, "schedule store %s: cannot use WAL mode", what);
    return tg_error_set(err, TG_EUNAVAILABLE, "schedule store: %s: %s", what, detail);
}

bool tg_schedule_from_manifest(const json_t *manifest, tg_schedule *out)
{
    const json_t *triggers = json_object_get(manifest, "triggers");
    const char *expr = json_string_value(json_object_get(triggers, "schedule"));
    if (!expr) return false;
    const json_t *retry = json_object_get(triggers, "retry");
    const json_t *max = json_object_get(retry, "max_retries");
    const json_t *backoff = json_object_get(retry, "backoff_ms");
    const json_t *cap = json_object_get(retry, "max_backoff_ms");
    const char *missed = json_string_value(json_object_get(triggers, "missed"));
    *out = (tg_schedule){
        .expr = expr,
        .zone = json_string_value(json_object_get(triggers, "timezone")),
        .skip_missed = missed && strcmp(missed, "skip") == 0,
        .max_retries =
            json_is_integer(max) ? (unsigned)json_integer_value(max) : TG_SCHEDULE_MAX_RETRIES,
        .backoff_ms =
            json_is_integer(backoff) ? json_integer_value(backoff) : TG_SCHEDULE_BACKOFF_MS,
        .max_backoff_ms =
            json_is_integer(cap) ? json_integer_value(cap) : TG_SCHEDULE_MAX_BACKOFF_MS,
    };
    return true;
}

/* ---- entries: the hash table and the heap ------------------------------ */

static uint64_t fnv1a(const char *tenant, const char *worker)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = tenant; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* no name holds 0xff: "ab"+"c" differs from "a"+"bc" */
    for (const char *p = worker; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

/* The table index holding (tenant, worker), or the empty one where it would go. */
static size_t table_find(const tg_scheduler *s, const char *tenant, const char *worker)
{
    size_t mask = s->table_cap - 1;
    size_t i = (size_t)fnv1a(tenant, worker) & mask;
    while (s->table[i] &&
           (strcmp(s->table[i]->tenant, tenant) != 0 || strcmp(s->table[i]->worker, worker) != 0))
        i = (i + 1) & mask;
    return i;
}

static entry *lookup(const tg_scheduler *s, const char *tenant, const char *worker)
{
    return s->table[table_find(s, tenant, worker)];
}

static void table_insert(tg_scheduler *s, entry *e)
{
    if (2 * (s->nheap + 1) > s->table_cap) {
        entry **old = s->table;
        size_t old_cap = s->table_cap;
        s->table_cap *= 2;
        s->table = tg_xcalloc(s->table_cap, sizeof *s->table);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) s->table[table_find(s, old[i]->tenant, old[i]->worker)] = old[i];
        free(old);
    }
    s->table[table_find(s, e->tenant, e->worker)] = e;
}

/* Removes by shifting back the entries after it that probed past its index,
 * so every lookup still finds its entry without tombstones. */
static void table_remove(tg_scheduler *s, const entry *e)
{
    size_t mask = s->table_cap - 1;
    size_t hole = table_find(s, e->tenant, e->worker);
    s->table[hole] = NULL;
    for (size_t j = (hole + 1) & mask; s->table[j]; j = (j + 1) & mask) {
        size_t home = (size_t)fnv1a(s->table[j]->tenant, s->table[j]->worker) & mask;
        /* Stays when its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        s->table[hole] = s->table[j];
        s->table[j] = NULL;
        hole = j;
    }
}

static int64_t fire_time(const entry *e)
{
    int64_t slot = e->next_ms == NO_SLOT ? NEVER : e->next_ms + e->offset_ms;
    int64_t retry = e->state == WAITING ? e->retry_due : NEVER;
    return slot < retry ? slot : retry;
}

static void heap_set(tg_scheduler *s, size_t i, entry *e)
{
    s->heap[i] = e;
    e->heap_pos = i;
}

static void sift_up(tg_scheduler *s, size_t i)
{
    entry *e = s->heap[i];
    int64_t t = fire_time(e);
    while (i > 0 && fire_time(s->heap[(i - 1) / 2]) > t) {
        heap_set(s, i, s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(s, i, e);
}

static void sift_down(tg_scheduler *s, size_t i)
{
    entry *e = s->heap[i];
    int64_t t = fire_time(e);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap) break;
        if (c + 1 < s->nheap && fire_time(s->heap[c + 1]) < fire_time(s->heap[c])) c++;
        if (fire_time(s->heap[c]) >= t) break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, e);
}

/* Restores the heap after e's fire time changed, and has the thread look
 * again when e now fires before it planned to wake. */
static void reschedule(tg_scheduler *s, entry *e)
{
    sift_up(s, e->heap_pos);
    sift_down(s, e->heap_pos);
    int64_t t = fire_time(e);
    if (t < s->wake_at) {
        s->wake_at = t;
        pthread_cond_signal(&s->wake);
    }
}

static void add_entry(tg_scheduler *s, entry *e)
{
    table_insert(s, e);
    if (s->nheap == s->heap_cap) {
        s->heap_cap = s->heap_cap ? 2 * s->heap_cap : 64;
        s->heap = tg_xrealloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    heap_set(s, s->nheap++, e);
    reschedule(s, e);
}

static void free_entry(entry *e)
{
    tg_cron_free(e->cron);
    free(e->tenant);
    free(e->worker);
    free(e->expr);
    free(e->zone);
    free(e);
}

static void remove_entry(tg_scheduler *s, entry *e)
{
    table_remove(s, e);
    size_t i = e->heap_pos;
    entry *last = s->heap[--s->nheap];
    if (last != e) {
        heap_set(s, i, last);
        sift_up(s, i);
        sift_down(s, last->heap_pos);
    }
    free_entry(e);
}

/* ---- schedule arithmetic ----------------------------------------------- */

/* The fixed offset after each slot: a hash of the worker below the window,
 * so that it is the same at every slot and across restarts. */
static int64_t jitter_offset(const tg_scheduler *s, const entry *e, int64_t now_ms)
{
    int64_t window = s->cfg.jitter_ms < 0 ? 0
                     : s->cfg.jitter_ms   ? s->cfg.jitter_ms
                                          : DEFAULT_JITTER_MS;
    int64_t interval = tg_cron_interval_ms(e->cron);
    if (!interval) {
        int64_t a = tg_cron_next(e->cron, now_ms);
        int64_t b = a < 0 ? -1 : tg_cron_next(e->cron, a);
        interval = b < 0 ? window * 10 : b - a;
    }
    if (interval / 10 < window) window = interval / 10;
    return window > 0 ? (int64_t)(fnv1a(e->tenant, e->worker) % (uint64_t)window) : 0;
}

/* The first slot whose fire time is after now_ms, or NO_SLOT. */
static int64_t slot_after(const entry *e, int64_t now_ms)
{
    int64_t next = tg_cron_next(e->cron, now_ms - e->offset_ms);
    return next < 0 ? NO_SLOT : next;
}

/* How long the try after e->attempt waits: the backoff doubled per try so
 * far, capped, of which a random half to all, so that workers failing
 * together do not retry together. */
static int64_t retry_delay(const entry *e)
{
    int64_t d = e->backoff_ms;
    for (unsigned i = 1; i < e->attempt && d < e->max_backoff_ms; i++)
        d *= 2;
    if (d > e->max_backoff_ms) d = e->max_backoff_ms;
    uint32_t r = 0;
    /* A fixed half is still a backoff when the random source fails. */
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) r = 0;
    return d / 2 + (int64_t)(r % (uint64_t)(d / 2 + 1));
}

/* ---- the store --------------------------------------------------------- */

static void bind_opt(tg_stmt *st, int i, int64_t v)
{
    if (v == NO_SLOT)
        tg_stmt_bind_null(st, i);
    else
        tg_stmt_bind_int64(st, i, v);
}

/* Writes e's row from the entry, whatever the row held. */
static int save(tg_scheduler *s, const entry *e, tg_error *err)
{
    tg_stmt *st = s->save_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, e->tenant);
    tg_stmt_bind_text(st, 2, e->worker);
    tg_stmt_bind_text(st, 3, e->expr);
    tg_stmt_bind_text(st, 4, e->zone); /* NULL: UTC */
    tg_stmt_bind_int64(st, 5, e->skip_missed);
    tg_stmt_bind_int64(st, 6, e->max_retries);
    tg_stmt_bind_int64(st, 7, e->backoff_ms);
    tg_stmt_bind_int64(st, 8, e->max_backoff_ms);
    bind_opt(st, 9, e->next_ms);
    bind_opt(st, 10, e->pending_ms);
    int rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_reset(st);
    return rc;
}

static int drop_row(tg_scheduler *s, const char *tenant, const char *worker, tg_error *err)
{
    tg_stmt *st = s->drop_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, tenant);
    tg_stmt_bind_text(st, 2, worker);
    int rc = tg_stmt_run(st, db_fail, err);
    tg_stmt_reset(st);
    return rc;
}

static int64_t col_opt(tg_stmt *st, int col)
{
    return tg_stmt_is_null(st, col) ? NO_SLOT : tg_stmt_int64(st, col);
}

static int load(tg_scheduler *s, tg_error *err)
{
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->db, &st, db_fail, err,
                              "SELECT tenant, worker, expr, zone, skip_missed, max_retries,"
                              " backoff_ms, max_backoff_ms, next_ms, pending_ms FROM schedules",
                              0);
    int row;
    while (!rc && (row = tg_stmt_step(st, db_fail, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        entry *e = tg_xcalloc(1, sizeof *e);
        e->tenant = tg_xstrdup(tg_stmt_text(st, 0));
        e->worker = tg_xstrdup(tg_stmt_text(st, 1));
        e->expr = tg_xstrdup(tg_stmt_text(st, 2));
        e->zone = tg_stmt_is_null(st, 3) ? NULL : tg_xstrdup(tg_stmt_text(st, 3));
        char why[256];
        /* A zone this host no longer knows: the registry sync drops or
         * replaces the row; nothing can run by it meanwhile. */
        if (tg_cron_parse(e->expr, e->zone, &e->cron, why, sizeof why) != 0) {
            tg_log_warn(&(tg_log_ctx){.tenant = e->tenant}, "schedule of %s not followed: %s",
                        e->worker, why);
            free_entry(e);
            continue;
        }
        e->skip_missed = tg_stmt_int64(st, 4) != 0;
        e->max_retries = (unsigned)tg_stmt_int64(st, 5);
        e->backoff_ms = tg_stmt_int64(st, 6);
        e->max_backoff_ms = tg_stmt_int64(st, 7);
        e->next_ms = col_opt(st, 8);
        e->pending_ms = col_opt(st, 9);
        e->offset_ms = jitter_offset(s, e, s->opened_ms);
        if (e->pending_ms != NO_SLOT) {
            /* Owed by the last process: its first try starts at once. */
            e->state = WAITING;
            e->retry_due = s->opened_ms;
            e->pending_catch_up = true;
        }
        add_entry(s, e);
    }
    tg_stmt_finalize(st);
    return rc;
}

int tg_scheduler_open(const char *path, const tg_scheduler_config *config, int64_t now_ms,
                      tg_scheduler **out, tg_error *err)
{
    *out = NULL;
    tg_store *db = NULL;
    int rc = tg_store_open(path, "scheduler", TG_STORE_CREATE | TG_STORE_DURABLE, BUSY_TIMEOUT_MS,
                           NULL, NULL, &db, db_fail, err);
    if (!rc)
        rc = tg_store_migrate(db, migrations, sizeof migrations / sizeof *migrations, db_fail, err);
    if (rc) {
        tg_store_close(db);
        return rc;
    }
    tg_scheduler *s = tg_xcalloc(1, sizeof *s);
    s->db = db;
    s->cfg = *config;
    s->opened_ms = now_ms;
    s->wake_at = NEVER;
    s->table_cap = 64;
    s->table = tg_xcalloc(s->table_cap, sizeof *s->table);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    rc = tg_store_prepare(db, &s->save_st, db_fail, err,
                          "INSERT INTO schedules (tenant, worker, expr, zone, skip_missed,"
                          " max_retries, backoff_ms, max_backoff_ms, next_ms, pending_ms)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                          " ON CONFLICT (tenant, worker) DO UPDATE SET expr = excluded.expr,"
                          " zone = excluded.zone, skip_missed = excluded.skip_missed,"
                          " max_retries = excluded.max_retries, backoff_ms = excluded.backoff_ms,"
                          " max_backoff_ms = excluded.max_backoff_ms,"
                          " next_ms = excluded.next_ms, pending_ms = excluded.pending_ms",
                          0);
    if (!rc)
        rc = tg_store_prepare(db, &s->drop_st, db_fail, err,
                              "DELETE FROM schedules WHERE tenant = ?1 AND worker = ?2", 0);
    if (!rc) rc = load(s, err);
    if (rc) {
        tg_scheduler_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- following the registry -------------------------------------------- */

static void apply_policy(entry *e, const tg_schedule *sc)
{
    e->skip_missed = sc->skip_missed;
    e->max_retries = sc->max_retries;
    e->backoff_ms = sc->backoff_ms > 0 ? sc->backoff_ms : TG_SCHEDULE_BACKOFF_MS;
    e->max_backoff_ms = sc->max_backoff_ms >= e->backoff_ms ? sc->max_backoff_ms : e->backoff_ms;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int tg_scheduler_set(tg_scheduler *s, const char *tenant, const char *worker, const tg_schedule *sc,
                     int64_t now_ms, tg_error *err)
{
    tg_cron *cron = NULL;
    if (sc) {
        char why[256];
        if (tg_cron_parse(sc->expr, sc->zone, &cron, why, sizeof why) != 0)
            return tg_error_set(err, TG_EINVALID_PARAMS, "%s", why);
    }
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(s, tenant, worker);
    int rc = 0;
    if (!sc) {
        if (e) {
            remove_entry(s, e);
            rc = drop_row(s, tenant, worker, err);
        }
    } else if (e && same_text(e->expr, sc->expr) && same_text(e->zone, sc->zone)) {
        tg_cron_free(cron);
        e->seen = true;
        apply_policy(e, sc);
        rc = save(s, e, err);
    } else {
        if (!e) {
            e = tg_xcalloc(1, sizeof *e);
            e->tenant = tg_xstrdup(tenant);
            e->worker = tg_xstrdup(worker);
            e->pending_ms = NO_SLOT;
        } else {
            tg_cron_free(e->cron);
            free(e->expr);
            free(e->zone);
        }
        e->cron = cron;
        e->expr = tg_xstrdup(sc->expr);
        e->zone = sc->zone ? tg_xstrdup(sc->zone) : NULL;
        e->seen = true;
        apply_policy(e, sc);
        e->offset_ms = jitter_offset(s, e, now_ms);
        int64_t next = tg_cron_next(cron, now_ms);
        e->next_ms = next < 0 ? NO_SLOT : next;
        if (lookup(s, tenant, worker))
            reschedule(s, e);
        else
            add_entry(s, e);
        rc = save(s, e, err);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int tg_scheduler_sync_begin(tg_scheduler *s, tg_error *err)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nheap; i++)
        s->heap[i]->seen = false;
    int rc = tg_store_begin(s->db, db_fail, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int tg_scheduler_sync_end(tg_scheduler *s, bool complete, tg_error *err)
{
    pthread_mutex_lock(&s->mu);
    /* Gathered first: removing reorders the heap. */
    entry **gone = tg_xmalloc((s->nheap + 1) * sizeof *gone);
    size_t ngone = 0;
    for (size_t i = 0; complete && i < s->nheap; i++)
        if (!s->heap[i]->seen) gone[ngone++] = s->heap[i];
    int rc = 0;
    for (size_t i = 0; !rc && i < ngone; i++) {
        rc = drop_row(s, gone[i]->tenant, gone[i]->worker, err);
        if (!rc) remove_entry(s, gone[i]);
    }
    free(gone);
    if (!rc) rc = tg_store_commit(s->db, db_fail, err);
    if (rc) tg_store_rollback(s->db);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t tg_scheduler_count(tg_scheduler *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nheap;
    pthread_mutex_unlock(&s->mu);
    return n;
}

json_t *tg_scheduler_list(tg_scheduler *s, const char *tenant)
{
    json_t *list = json_array();
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nheap; i++) {
        const entry *e = s->heap[i];
        if (strcmp(e->tenant, tenant) != 0) continue;
        int64_t due = fire_time(e);
        json_t *item = json_pack("{s:s, s:s, s:s, s:s}", "worker", e->worker, "schedule", e->expr,
                                 "timezone", e->zone ? e->zone : "UTC", "state",
                                 e->state == RUNNING   ? "running"
                                 : e->state == WAITING ? "retrying"
                                                       : "idle");
        json_object_set_new(item, "next_run_at", due == NEVER ? json_null() : json_integer(due));
        json_array_append_new(list, item);
    }
    pthread_mutex_unlock(&s->mu);
    return list;
}

/* ---- records ----------------------------------------------------------- */

static void record(tg_scheduler *s, const char *tenant, const char *worker, const char *status,
                   const char *call_id, const char *error_code, json_t *body)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tg_audit_record rec = {
        .kind = "schedule.run",
        .tenant = tenant,
        .principal = PRINCIPAL,
        .trigger_kind = "schedule",
        .call_id = call_id,
        .tool = worker,
        .status = status,
        .error_code = error_code,
        .body = body,
    };
    tg_error err;
    if (tg_audit_append(s->cfg.audit, &rec,
                        (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + RECORD_DEADLINE_NS, NULL,
                        &err) != 0)
        tg_log_error(&(tg_log_ctx){.tenant = tenant, .call_id = call_id},
                     "schedule.run record of %s not written: %s", worker, err.message);
    json_decref(body);
}

static void random_id(char out[33])
{
    unsigned char b[16];
    /* Fails only when the kernel's random source does, as for call ids. */
    if (RAND_bytes(b, sizeof b) != 1) abort();
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A slot that came while the worker's last run was still going. */
static void record_skip(tg_scheduler *s, const char *tenant, const char *worker, int64_t slot,
                        int64_t now_ms)
{
    char id[33];
    random_id(id);
    if (s->cfg.runs) {
        tg_run_summary run = {
            .call_id = id,
            .tenant = tenant,
            .worker = worker,
            .version = "",
            .trigger_kind = "schedule",
            .principal = PRINCIPAL,
            .started_ms = now_ms,
            .status = "skipped",
            .scheduled_ms = slot,
            .attempt = 1,
        };
        tg_error err;
        if (tg_runs_insert(s->cfg.runs, &run, &err) != 0)
            tg_log_warn(&(tg_log_ctx){.tenant = tenant, .call_id = id},
                        "skipped run of %s not in the history: %s", worker, err.message);
    }
    record(s, tenant, worker, "skipped", id, NULL,
           json_pack("{s:I, s:s}", "scheduled_ms", (json_int_t)slot, "reason",
                     "the previous run of the worker was still going"));
}

/* ---- polling ----------------------------------------------------------- */

typedef enum action_kind { START, SKIP, MISSED } action_kind;

/* What a poll decided under the lock, done after it; with what the entry was
 * before, to undo when the store cannot take the decision. */
typedef struct action {
    action_kind kind;
    char *tenant, *worker;
    int64_t slot;
    unsigned attempt;
    bool catch_up;
    uint64_t run_id;
    entry *e, before;
} action;

static action *push_action(action **list, size_t *n, size_t *cap, entry *e)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *list = tg_xrealloc(*list, *cap * sizeof **list);
    }
    action *a = &(*list)[(*n)++];
    *a = (action){.e = e, .before = *e};
    return a;
}

/* Decides what e's due slot or retry does at now_ms. Returns true when the
 * row must be saved. */
static bool fire(tg_scheduler *s, entry *e, int64_t now_ms, action **list, size_t *n, size_t *cap)
{
    bool dirty = false;
    if (e->state == WAITING && e->retry_due <= now_ms) {
        action *a = push_action(list, n, cap, e);
        e->state = RUNNING;
        e->attempt++;
        e->run_id = ++s->last_run_id;
        a->kind = START;
        a->slot = e->pending_ms;
        a->attempt = e->attempt;
        a->catch_up = e->pending_catch_up;
        a->run_id = e->run_id;
    }
    if (e->next_ms == NO_SLOT || e->next_ms + e->offset_ms > now_ms) return dirty;
    action *a = push_action(list, n, cap, e);
    int64_t slot = e->next_ms;
    e->next_ms = slot_after(e, now_ms);
    dirty = true;
    bool missed = slot + e->offset_ms < s->opened_ms;
    a->slot = slot;
    if (e->state != IDLE) {
        /* A pending run owed from before a restart already catches up. */
        a->kind = missed ? MISSED : SKIP;
    } else if (missed && e->skip_missed) {
        a->kind = MISSED;
    } else {
        e->state = RUNNING;
        e->attempt = 1;
        e->pending_ms = slot;
        e->pending_catch_up = missed;
        e->run_id = ++s->last_run_id;
        a->kind = START;
        a->attempt = 1;
        a->catch_up = missed;
        a->run_id = e->run_id;
    }
    return dirty;
}

int64_t tg_scheduler_poll(tg_scheduler *s, int64_t now_ms)
{
    action *list = NULL;
    size_t n = 0, cap = 0;
    tg_error err = {0};
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (!s->stopping && s->nheap && fire_time(s->heap[0]) <= now_ms) {
        rc = tg_store_begin(s->db, db_fail, &err);
        while (!rc && fire_time(s->heap[0]) <= now_ms) {
            entry *e = s->heap[0];
            if (fire(s, e, now_ms, &list, &n, &cap)) rc = save(s, e, &err);
            sift_down(s, 0);
        }
        if (!rc) rc = tg_store_commit(s->db, db_fail, &err);
        if (rc) {
            tg_store_rollback(s->db);
            /* Undo newest first, so each entry ends as it was before the poll. */
            for (size_t i = n; i-- > 0;) {
                entry *e = list[i].e;
                *e = list[i].before;
                reschedule(s, e);
            }
            n = 0;
            tg_log_error(NULL, "the scheduler cannot take due runs: %s", err.message);
        }
    }
    for (size_t i = 0; i < n; i++) {
        list[i].tenant = tg_xstrdup(list[i].e->tenant);
        list[i].worker = tg_xstrdup(list[i].e->worker);
    }
    int64_t next = s->nheap ? fire_time(s->heap[0]) : NEVER;
    if (rc) next = now_ms + STORE_RETRY_MS;
    s->wake_at = next;
    pthread_mutex_unlock(&s->mu);

    for (size_t i = 0; i < n; i++) {
        action *a = &list[i];
        if (a->kind == START) {
            tg_schedule_run run = {
                .tenant = a->tenant,
                .worker = a->worker,
                .scheduled_ms = a->slot,
                .attempt = a->attempt,
                .catch_up = a->catch_up,
                .id = a->run_id,
            };
            /* Lag is a slot's: a retry starts late on purpose, and a catch-up
             * by as long as the gateway was down. */
            if (a->attempt == 1 && !a->catch_up)
                tg_metrics_observe(tg_metrics_get(TG_METRIC_SCHEDULER_LAG), NULL,
                                   (double)(now_ms - a->slot) / 1e3);
            s->cfg.start(s->cfg.ctx, &run);
        } else if (a->kind == SKIP) {
            record_skip(s, a->tenant, a->worker, a->slot, now_ms);
        } else {
            record(s, a->tenant, a->worker, "missed", NULL, NULL,
                   json_pack("{s:I, s:s}", "scheduled_ms", (json_int_t)a->slot, "reason",
                             "the gateway was not running at the run time"));
        }
        free(a->tenant);
        free(a->worker);
    }
    free(list);
    return next;
}

void tg_scheduler_finished(tg_scheduler *s, const tg_schedule_report *r, int64_t now_ms)
{
    const char *status = r->outcome == TG_SCHEDULE_OK ? "ok" : "failed";
    json_t *body = json_object();
    tg_error err = {0};
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(s, r->tenant, r->worker);
    if (e && e->run_id == r->id && e->state == RUNNING) {
        json_object_set_new(body, "scheduled_ms", json_integer(e->pending_ms));
        json_object_set_new(body, "attempt", json_integer(e->attempt));
        json_object_set_new(body, "catch_up", json_boolean(e->pending_catch_up));
        if (r->outcome == TG_SCHEDULE_RETRYABLE && s->stopping) {
            /* Stopped under it: owed to the next start. */
            e->state = IDLE;
            status = "interrupted";
        } else if (r->outcome == TG_SCHEDULE_RETRYABLE && e->attempt <= e->max_retries) {
            int64_t delay = retry_delay(e);
            e->state = WAITING;
            e->retry_due = now_ms + delay;
            reschedule(s, e);
            status = "retrying";
            json_object_set_new(body, "retry_in_ms", json_integer(delay));
        } else {
            e->state = IDLE;
            e->pending_ms = NO_SLOT;
            rc = save(s, e, &err);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc)
        tg_log_warn(&(tg_log_ctx){.tenant = r->tenant, .call_id = r->call_id},
                    "the run of %s is over but not stored as such: %s", r->worker, err.message);
    record(s, r->tenant, r->worker, status, r->call_id, r->error_code, body);
}

/* ---- the thread -------------------------------------------------------- */

static void *scheduler_thread(void *arg)
{
    tg_scheduler *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int64_t now = tg_now_ms();
        if (s->wake_at <= now) {
            pthread_mutex_unlock(&s->mu);
            tg_scheduler_poll(s, now);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        /* Slots are wall-clock times; the wait is monotonic and bounded, so
         * a clock step is noticed within MAX_SLEEP_MS. */
        int64_t wait = s->wake_at - now;
        if (wait > MAX_SLEEP_MS) wait = MAX_SLEEP_MS;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + (wait % 1000) * 1000000;
        until.tv_sec += (time_t)(wait / 1000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&s->wake, &s->mu, &until);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int tg_scheduler_start(tg_scheduler *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->nheap && fire_time(s->heap[0]) < s->wake_at) s->wake_at = fire_time(s->heap[0]);
    pthread_mutex_unlock(&s->mu);
    if (pthread_create(&s->thread, NULL, scheduler_thread, s) != 0) return -1;
    s->started = true;
    return 0;
}

void tg_scheduler_stop(tg_scheduler *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->thread, NULL);
    s->started = false;
}

void tg_scheduler_close(tg_scheduler *s)
{
    if (!s) return;
    tg_scheduler_stop(s);
    for (size_t i = 0; i < s->nheap; i++)
        free_entry(s->heap[i]);
    free(s->heap);
    free(s->table);
    tg_stmt_finalize(s->save_st);
    tg_stmt_finalize(s->drop_st);
    tg_store_close(s->db);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
