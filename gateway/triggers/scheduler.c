/* The scheduler (see scheduler.h). Each schedule is an entry, found by
 * (tenant, worker) in a hash table and ordered by its fire time in a binary
 * heap; one mutex guards both and the store's connection. Runs are started,
 * and records written, after the mutex is released: a start callback or an
 * audit write may block, and a run's report takes the mutex.
 *
 * The row is the truth and the entry this replica's view of it: the row's
 * version counts its changes, and every write of an entry's row is a
 * compare-and-set on the version it last read or wrote. A write that finds
 * another version (another replica took the slot, finished or took over the
 * run, changed the schedule) reads the row again and decides anew, so no
 * replica acts on a stale view, and no periodic rereading is needed: a
 * replica learns what the others did when it next has something to do with
 * the row. What only this replica knows (a run's tries, its retry's time)
 * stays in memory, guarded by the row's lease (owner, lease_until), which the
 * owner renews while the run lasts. With sqlite one process follows the
 * schedules, every write finds its own version, and leases are not looked
 * at. */
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
#define DEFAULT_LEASE_MS   10000
#define DEFAULT_REPLICA    "local"
/* Writes of one row that may find another replica's write first before one
 * gives up: each such write is a slot, a run's end or a takeover, a handful
 * per slot at most. */
#define MAX_TRIES 8

typedef enum run_state {
    IDLE,      /* no slot pending */
    RUNNING,   /* a try of the pending slot is out, here */
    WAITING,   /* the pending slot waits for its next try here, at retry_due */
    ELSEWHERE, /* the pending slot's run is another replica's (or a dead one's):
                  at watch_at this one looks whether its lease has lapsed */
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
    int64_t watch_at;  /* ELSEWHERE: when the run's lease lapses, by this clock */
    uint64_t run_id;   /* the try out, to match its report */
    int64_t version;   /* of the row, as last read or written */
    size_t heap_pos;
    bool seen; /* given to tg_scheduler_set since tg_scheduler_sync_begin */
} entry;

struct tg_scheduler {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    tg_store *db;
    tg_stmt *put_st, *insert_st, *read_st, *renew_st, *release_st, *drop_st, *drop_if_st;
    tg_scheduler_config cfg;
    char *replica;     /* cfg.replica, owned */
    bool shared;       /* PostgreSQL: other replicas may write the rows */
    int64_t lease_ms;  /* how long a run's owner holds it without renewing */
    int64_t renew_at;  /* when this replica renews its leases next; NEVER: none held */
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
    {
        /* Replicas: who runs the pending slot and until when (the store's
         * clock, ms), and the row's count of changes, for compare-and-set. */
        .sqlite = "ALTER TABLE schedules ADD COLUMN owner TEXT;"
                  " ALTER TABLE schedules ADD COLUMN lease_until INTEGER;"
                  " ALTER TABLE schedules ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
        .postgres = "ALTER TABLE schedules ADD COLUMN owner TEXT,"
                    " ADD COLUMN lease_until BIGINT,"
                    " ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
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

/* When e's next run is due: its slot's, or its retry's. */
static int64_t run_time(const entry *e)
{
    int64_t slot = e->next_ms == NO_SLOT ? NEVER : e->next_ms + e->offset_ms;
    int64_t retry = e->state == WAITING ? e->retry_due : NEVER;
    return slot < retry ? slot : retry;
}

/* When e has something to do: a run, or a look at another's lease. */
static int64_t fire_time(const entry *e)
{
    int64_t t = run_time(e);
    return e->state == ELSEWHERE && e->watch_at < t ? e->watch_at : t;
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

static int64_t col_opt(tg_stmt *st, int col)
{
    return tg_stmt_is_null(st, col) ? NO_SLOT : tg_stmt_int64(st, col);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool owns(const entry *e)
{
    return e->state == RUNNING || e->state == WAITING;
}

/* The store's clock, in ms since the epoch: leases are written and compared
 * by the database server's clock alone, so replicas on hosts whose clocks
 * disagree still agree on whether a lease has lapsed. */
static const char *store_now(const tg_store *db)
{
    return tg_store_backend(db) == TG_STORE_POSTGRES
               ? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
               : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
}

/* The columns absorb reads, in its order; the %s is store_now. */
#define ROW_SELECT                                                                                 \
    "SELECT tenant, worker, expr, zone, skip_missed, max_retries, backoff_ms, max_backoff_ms,"     \
    " next_ms, pending_ms, owner, lease_until - %s, version FROM schedules"

/* Makes e this replica's view of the row st is on (ROW_SELECT's columns), at
 * now_ms. What only memory knows of a run (its tries, its retry's time) stays
 * while the row says the run is still this replica's; otherwise the row's
 * pending slot is another's, to watch, or, when its lease has lapsed or was
 * this replica's before it restarted, to take over at once. With sqlite every
 * pending slot read is owed by the process before: it runs again at once.
 * Returns 0, or -1 when the row's schedule does not parse here (a zone this
 * host does not know): nothing can run by it. */
static int absorb(tg_scheduler *s, entry *e, tg_stmt *st, int64_t now_ms)
{
    const char *expr = tg_stmt_text(st, 2);
    const char *zone = tg_stmt_is_null(st, 3) ? NULL : tg_stmt_text(st, 3);
    bool reparsed = !e->cron || !same_text(e->expr, expr) || !same_text(e->zone, zone);
    if (reparsed) {
        tg_cron *cron = NULL;
        char why[256];
        if (tg_cron_parse(expr, zone, &cron, why, sizeof why) != 0) {
            tg_log_warn(&(tg_log_ctx){.tenant = e->tenant}, "schedule of %s not followed: %s",
                        e->worker, why);
            return -1;
        }
        tg_cron_free(e->cron);
        free(e->expr);
        free(e->zone);
        e->cron = cron;
        e->expr = tg_xstrdup(expr);
        e->zone = zone ? tg_xstrdup(zone) : NULL;
    }
    e->skip_missed = tg_stmt_int64(st, 4) != 0;
    e->max_retries = (unsigned)tg_stmt_int64(st, 5);
    e->backoff_ms = tg_stmt_int64(st, 6);
    e->max_backoff_ms = tg_stmt_int64(st, 7);
    if (reparsed) e->offset_ms = jitter_offset(s, e, now_ms);
    e->next_ms = col_opt(st, 8);
    e->version = tg_stmt_int64(st, 12);
    int64_t pending = col_opt(st, 9);
    bool mine = !tg_stmt_is_null(st, 10) && strcmp(tg_stmt_text(st, 10), s->replica) == 0;
    if (owns(e) && !(mine && pending == e->pending_ms))
        tg_log_warn(&(tg_log_ctx){.tenant = e->tenant},
                    "the run of %s for slot %lld is no longer this replica's: its lease lapsed"
                    " and another replica took it over",
                    e->worker, (long long)e->pending_ms);
    if (pending == NO_SLOT) {
        e->state = IDLE;
        e->pending_ms = NO_SLOT;
    } else if (owns(e) && mine && pending == e->pending_ms) {
        /* Still this replica's run. */
    } else if (!s->shared) {
        e->state = WAITING;
        e->retry_due = now_ms;
        e->attempt = 0;
        e->pending_ms = pending;
        e->pending_catch_up = true;
    } else {
        /* An owner gone without a lease (it released the run as it stopped)
         * or this replica's id (its process before a restart) leaves the
         * run to take at once; a live lease, when it would lapse. */
        bool lapsed =
            tg_stmt_is_null(st, 10) || mine || tg_stmt_is_null(st, 11) || tg_stmt_int64(st, 11) < 0;
        e->state = ELSEWHERE;
        e->pending_ms = pending;
        e->watch_at = lapsed ? now_ms : now_ms + tg_stmt_int64(st, 11) + 1;
    }
    return 0;
}

/* Reads e's row again into e. Returns 1; 0 when the row is gone or cannot be
 * followed here, and e is then removed; or negative. */
static int fetch(tg_scheduler *s, entry *e, int64_t now_ms, tg_error *err)
{
    tg_stmt *st = s->read_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, e->tenant);
    tg_stmt_bind_text(st, 2, e->worker);
    int rc = tg_stmt_step(st, db_fail, err);
    if (rc == 1 && absorb(s, e, st, now_ms) != 0) rc = 0;
    tg_stmt_reset(st);
    if (rc == 0) remove_entry(s, e);
    return rc;
}

/* Writes e's row from e if it is still the version e has, and, with take,
 * only if the row's run is nobody's, this replica's, or its lease has lapsed.
 * The run's columns follow e's state: none when IDLE; this replica's, with a
 * fresh lease, when RUNNING or WAITING; left as they are when ELSEWHERE.
 * Returns 1 when written, 0 when the row has changed (or gone) since, or
 * negative. */
static int put(tg_scheduler *s, entry *e, bool take, tg_error *err)
{
    tg_stmt *st = s->put_st;
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
    tg_stmt_bind_int64(st, 11, e->state == IDLE ? 0 : owns(e) ? 1 : 2);
    tg_stmt_bind_text(st, 12, s->replica);
    tg_stmt_bind_int64(st, 13, s->lease_ms);
    tg_stmt_bind_int64(st, 14, e->version);
    tg_stmt_bind_int64(st, 15, take && s->shared);
    int rc = tg_stmt_run(st, db_fail, err);
    if (!rc && tg_stmt_changes(st) == 1) {
        e->version++;
        rc = 1;
    }
    tg_stmt_reset(st);
    return rc;
}

/* Inserts e's row unless the row is there already (another replica's).
 * Returns 1 when inserted, 0 when there, or negative. */
static int insert(tg_scheduler *s, entry *e, tg_error *err)
{
    tg_stmt *st = s->insert_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, e->tenant);
    tg_stmt_bind_text(st, 2, e->worker);
    tg_stmt_bind_text(st, 3, e->expr);
    tg_stmt_bind_text(st, 4, e->zone);
    tg_stmt_bind_int64(st, 5, e->skip_missed);
    tg_stmt_bind_int64(st, 6, e->max_retries);
    tg_stmt_bind_int64(st, 7, e->backoff_ms);
    tg_stmt_bind_int64(st, 8, e->max_backoff_ms);
    bind_opt(st, 9, e->next_ms);
    int rc = tg_stmt_run(st, db_fail, err);
    if (!rc && tg_stmt_changes(st) == 1) {
        e->version = 1;
        rc = 1;
    }
    tg_stmt_reset(st);
    return rc;
}

/* Runs st (renew_st or release_st) on e's run, this replica's. Returns 1
 * when the row still said so, 0 when not, or negative. */
static int lease_op(tg_scheduler *s, tg_stmt *st, const entry *e, tg_error *err)
{
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, e->tenant);
    tg_stmt_bind_text(st, 2, e->worker);
    tg_stmt_bind_text(st, 3, s->replica);
    tg_stmt_bind_int64(st, 4, e->pending_ms);
    if (st == s->renew_st) tg_stmt_bind_int64(st, 5, s->lease_ms);
    int rc = tg_stmt_run(st, db_fail, err);
    if (!rc) rc = tg_stmt_changes(st) == 1;
    tg_stmt_reset(st);
    return rc;
}

/* Deletes the row; with version >= 0, only when the row still has it. Returns
 * 1 when deleted, 0 when not, or negative. */
static int drop_row(tg_scheduler *s, const char *tenant, const char *worker, int64_t version,
                    tg_error *err)
{
    tg_stmt *st = version >= 0 ? s->drop_if_st : s->drop_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, tenant);
    tg_stmt_bind_text(st, 2, worker);
    if (version >= 0) tg_stmt_bind_int64(st, 3, version);
    int rc = tg_stmt_run(st, db_fail, err);
    if (!rc) rc = tg_stmt_changes(st) == 1;
    tg_stmt_reset(st);
    return rc;
}

/* Puts back what a write that did not happen changed in e's run and slot.
 * The schedule itself (expression, zone, policy) is left: the caller reads
 * the row again, or retries the write that failed. */
static void restore(entry *e, const entry *before)
{
    e->next_ms = before->next_ms;
    e->pending_ms = before->pending_ms;
    e->pending_catch_up = before->pending_catch_up;
    e->state = before->state;
    e->attempt = before->attempt;
    e->retry_due = before->retry_due;
    e->watch_at = before->watch_at;
    e->run_id = before->run_id;
    e->version = before->version;
}

/* This replica holds a lease now: it renews its leases from lease_ms / 3 on. */
static void note_lease(tg_scheduler *s, const entry *e, int64_t now_ms)
{
    if (s->shared && owns(e) && s->renew_at == NEVER) s->renew_at = now_ms + s->lease_ms / 3;
}

static int load(tg_scheduler *s, tg_error *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, ROW_SELECT, store_now(s->db));
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->db, &st, db_fail, err, sql, 0);
    int row;
    while (!rc && (row = tg_stmt_step(st, db_fail, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        entry *e = tg_xcalloc(1, sizeof *e);
        e->tenant = tg_xstrdup(tg_stmt_text(st, 0));
        e->worker = tg_xstrdup(tg_stmt_text(st, 1));
        e->pending_ms = NO_SLOT;
        /* A zone this host no longer knows: the registry sync drops or
         * replaces the row; nothing can run by it meanwhile. */
        if (absorb(s, e, st, s->opened_ms) != 0) {
            free_entry(e);
            continue;
        }
        add_entry(s, e);
    }
    tg_stmt_finalize(st);
    return rc;
}

/* The statements each write and read uses, with the store's clock where a
 * lease is written or compared. */
static int prepare_all(tg_scheduler *s, tg_error *err)
{
    const char *now = store_now(s->db);
    char sql[1024];
    /* ?11: 0 no run pending, 1 this replica's run, 2 the run left as it is.
     * ?15: a takeover, which needs the run nobody's, this replica's, or its
     * lease lapsed. */
    snprintf(sql, sizeof sql,
             "UPDATE schedules SET expr = ?3, zone = ?4, skip_missed = ?5, max_retries = ?6,"
             " backoff_ms = ?7, max_backoff_ms = ?8, next_ms = ?9,"
             " pending_ms = CASE ?11 WHEN 0 THEN NULL WHEN 1 THEN ?10 ELSE pending_ms END,"
             " owner = CASE ?11 WHEN 0 THEN NULL WHEN 1 THEN ?12 ELSE owner END,"
             " lease_until = CASE ?11 WHEN 0 THEN NULL WHEN 1 THEN %s + ?13 ELSE lease_until END,"
             " version = version + 1"
             " WHERE tenant = ?1 AND worker = ?2 AND version = ?14"
             " AND (?15 = 0 OR owner IS NULL OR owner = ?12 OR lease_until < %s)",
             now, now);
    int rc = tg_store_prepare(s->db, &s->put_st, db_fail, err, sql, 0);
    if (!rc)
        rc = tg_store_prepare(s->db, &s->insert_st, db_fail, err,
                              "INSERT INTO schedules (tenant, worker, expr, zone, skip_missed,"
                              " max_retries, backoff_ms, max_backoff_ms, next_ms, pending_ms,"
                              " owner, lease_until, version)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL, 1)"
                              " ON CONFLICT (tenant, worker) DO NOTHING",
                              0);
    snprintf(sql, sizeof sql, ROW_SELECT " WHERE tenant = ?1 AND worker = ?2", now);
    if (!rc) rc = tg_store_prepare(s->db, &s->read_st, db_fail, err, sql, 0);
    /* Renewing or releasing a lease is no change of the row's: it keeps its
     * version, so other replicas' views of the row stay current. */
    snprintf(sql, sizeof sql,
             "UPDATE schedules SET lease_until = %s + ?5"
             " WHERE tenant = ?1 AND worker = ?2 AND owner = ?3 AND pending_ms = ?4",
             now);
    if (!rc) rc = tg_store_prepare(s->db, &s->renew_st, db_fail, err, sql, 0);
    if (!rc)
        rc = tg_store_prepare(s->db, &s->release_st, db_fail, err,
                              "UPDATE schedules SET owner = NULL, lease_until = NULL"
                              " WHERE tenant = ?1 AND worker = ?2 AND owner = ?3"
                              " AND pending_ms = ?4",
                              0);
    if (!rc)
        rc = tg_store_prepare(s->db, &s->drop_st, db_fail, err,
                              "DELETE FROM schedules WHERE tenant = ?1 AND worker = ?2", 0);
    if (!rc)
        rc = tg_store_prepare(s->db, &s->drop_if_st, db_fail, err,
                              "DELETE FROM schedules WHERE tenant = ?1 AND worker = ?2"
                              " AND version = ?3",
                              0);
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
    s->replica = tg_xstrdup(config->replica ? config->replica : DEFAULT_REPLICA);
    s->cfg.replica = s->replica;
    s->shared = tg_store_backend(db) == TG_STORE_POSTGRES;
    s->lease_ms = config->lease_ms > 0 ? config->lease_ms : DEFAULT_LEASE_MS;
    s->renew_at = NEVER;
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
    rc = prepare_all(s, err);
    if (!rc) rc = load(s, err);
    if (rc) {
        tg_scheduler_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- following the registry -------------------------------------------- */

/* Gives e sc's retry policy. Returns true when that changed it. */
static bool apply_policy(entry *e, const tg_schedule *sc)
{
    int64_t backoff = sc->backoff_ms > 0 ? sc->backoff_ms : TG_SCHEDULE_BACKOFF_MS;
    int64_t cap = sc->max_backoff_ms >= backoff ? sc->max_backoff_ms : backoff;
    bool changed = e->skip_missed != sc->skip_missed || e->max_retries != sc->max_retries ||
                   e->backoff_ms != backoff || e->max_backoff_ms != cap;
    e->skip_missed = sc->skip_missed;
    e->max_retries = sc->max_retries;
    e->backoff_ms = backoff;
    e->max_backoff_ms = cap;
    return changed;
}

/* Makes e follow sc from now_ms: a new expression or zone runs first at its
 * next slot after now_ms. *cron is sc's, parsed; it moves to e if used. */
static void apply_expr(tg_scheduler *s, entry *e, const tg_schedule *sc, tg_cron **cron,
                       int64_t now_ms)
{
    tg_cron_free(e->cron);
    free(e->expr);
    free(e->zone);
    if (*cron) {
        e->cron = *cron;
        *cron = NULL;
    } else {
        /* sc parsed once already, so it parses again. */
        char why[256];
        tg_cron_parse(sc->expr, sc->zone, &e->cron, why, sizeof why);
    }
    e->expr = tg_xstrdup(sc->expr);
    e->zone = sc->zone ? tg_xstrdup(sc->zone) : NULL;
    e->offset_ms = jitter_offset(s, e, now_ms);
    int64_t next = tg_cron_next(e->cron, now_ms);
    e->next_ms = next < 0 ? NO_SLOT : next;
}

/* The row of a worker this replica did not follow: inserted, or, when
 * another replica inserted it first, read. Returns the entry (in the table),
 * NULL with *rc set when there is none. */
static entry *follow_new(tg_scheduler *s, const char *tenant, const char *worker,
                         const tg_schedule *sc, tg_cron **cron, int64_t now_ms, int *rc,
                         tg_error *err)
{
    entry *e = tg_xcalloc(1, sizeof *e);
    e->tenant = tg_xstrdup(tenant);
    e->worker = tg_xstrdup(worker);
    e->pending_ms = NO_SLOT;
    apply_expr(s, e, sc, cron, now_ms);
    apply_policy(e, sc);
    *rc = insert(s, e, err);
    if (*rc < 0) {
        free_entry(e);
        return NULL;
    }
    add_entry(s, e);
    if (*rc == 1) return e;
    /* Another replica's row, followed as it is; or one whose schedule does
     * not parse on this host (load left it out), replaced as the registry
     * now says. */
    tg_stmt *st = s->read_st;
    tg_stmt_reset(st);
    tg_stmt_bind_text(st, 1, tenant);
    tg_stmt_bind_text(st, 2, worker);
    *rc = tg_stmt_step(st, db_fail, err);
    bool replace = *rc == 1 && absorb(s, e, st, now_ms) != 0;
    if (replace) e->version = tg_stmt_int64(st, 12);
    tg_stmt_reset(st);
    if (replace) *rc = put(s, e, false, err);
    if (*rc == 1) return e;
    if (*rc == 0) remove_entry(s, e);
    return NULL;
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
        /* Every replica hears of the removal and deletes the row; a replica
         * that did not follow the worker deletes it too, in case it missed
         * its coming. */
        if (e) remove_entry(s, e);
        if (e || s->shared) rc = drop_row(s, tenant, worker, -1, err);
        if (rc > 0) rc = 0;
    }
    /* Every replica hears of a change and follows it here, in whatever
     * order: the first to write the row sets the new schedule's slot, and the
     * others, finding the row already says so, take it as it is. */
    bool done = !sc;
    for (int i = 0; !done && rc >= 0 && i < MAX_TRIES; i++) {
        e = lookup(s, tenant, worker);
        if (!e) {
            e = follow_new(s, tenant, worker, sc, &cron, now_ms, &rc, err);
            if (!e) continue; /* failed, or gone between the insert and the read */
        }
        e->seen = true;
        entry before = *e;
        bool changed;
        if (same_text(e->expr, sc->expr) && same_text(e->zone, sc->zone)) {
            changed = apply_policy(e, sc);
        } else {
            apply_expr(s, e, sc, &cron, now_ms);
            apply_policy(e, sc);
            changed = true;
        }
        reschedule(s, e);
        rc = changed ? put(s, e, false, err) : 1;
        if (rc == 1) {
            rc = 0;
            done = true;
            break;
        }
        restore(e, &before);
        reschedule(s, e);
        if (rc == 0) {
            rc = fetch(s, e, now_ms, err);
            if (rc == 1) reschedule(s, e);
        }
    }
    if (!done && rc >= 0)
        rc = tg_error_set(err, TG_EUNAVAILABLE, "schedule store: the row of %s keeps changing",
                          worker);
    tg_cron_free(cron);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int tg_scheduler_sync_begin(tg_scheduler *s, tg_error *err)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nheap; i++)
        s->heap[i]->seen = false;
    /* sqlite: one transaction, one sync. PostgreSQL: each write commits on
     * its own, so no row stays locked while the registry is listed. */
    int rc = s->shared ? 0 : tg_store_begin(s->db, db_fail, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A row is dropped only if no replica wrote it since this one read it: one
 * that did follows the worker, which was deployed (again) after this
 * replica's listing of the registry; the row is then followed as it is. */
int tg_scheduler_sync_end(tg_scheduler *s, bool complete, tg_error *err)
{
    pthread_mutex_lock(&s->mu);
    /* Gathered first: removing reorders the heap. */
    entry **gone = tg_xmalloc((s->nheap + 1) * sizeof *gone);
    size_t ngone = 0;
    for (size_t i = 0; complete && i < s->nheap; i++)
        if (!s->heap[i]->seen) gone[ngone++] = s->heap[i];
    int rc = 0;
    int64_t now = tg_now_ms();
    for (size_t i = 0; rc >= 0 && i < ngone; i++) {
        rc = drop_row(s, gone[i]->tenant, gone[i]->worker, gone[i]->version, err);
        if (rc == 1)
            remove_entry(s, gone[i]);
        else if (rc == 0 && fetch(s, gone[i], now, err) == 1)
            reschedule(s, gone[i]);
    }
    free(gone);
    if (rc > 0) rc = 0;
    if (!rc && !s->shared) rc = tg_store_commit(s->db, db_fail, err);
    if (rc && !s->shared) tg_store_rollback(s->db);
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
        int64_t due = run_time(e);
        json_t *item = json_pack("{s:s, s:s, s:s, s:s}", "worker", e->worker, "schedule", e->expr,
                                 "timezone", e->zone ? e->zone : "UTC", "state",
                                 e->state == WAITING ? "retrying"
                                 : e->state == IDLE  ? "idle"
                                                     : "running");
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

/* Decides what e's due slot, retry or look at another's lease does at
 * now_ms, in e and the actions. Returns true when e takes over a run. */
static bool fire(tg_scheduler *s, entry *e, int64_t now_ms, action **list, size_t *n, size_t *cap)
{
    bool take = false;
    if (e->state == ELSEWHERE && e->watch_at <= now_ms) {
        /* Its owner died (or stopped) under it: resumed from its first try,
         * as a restart resumes a run the process before left. The write
         * checks the lease has lapsed indeed. */
        e->state = WAITING;
        e->retry_due = now_ms;
        e->attempt = 0;
        e->pending_catch_up = true;
        take = true;
    }
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
    if (e->next_ms == NO_SLOT || e->next_ms + e->offset_ms > now_ms) return take;
    action *a = push_action(list, n, cap, e);
    int64_t slot = e->next_ms;
    e->next_ms = slot_after(e, now_ms);
    bool missed = slot + e->offset_ms < s->opened_ms;
    a->slot = slot;
    if (e->state != IDLE) {
        /* A pending run owed from before a restart already catches up; one
         * another replica runs makes this slot an overlap like any. */
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
    return take;
}

/* Fires e at now_ms and writes its row: a compare-and-set, so of replicas
 * deciding on one row only the first writes; the others read the row again
 * and decide anew (mostly: nothing is due any more). On return e is not due
 * at now_ms, or *gone (the row went, e with it), or the store failed (e as
 * it was). Returns 0 or negative. */
static int take_due(tg_scheduler *s, entry *e, int64_t now_ms, action **list, size_t *n,
                    size_t *cap, bool *gone, tg_error *err)
{
    *gone = false;
    for (int i = 0; i < MAX_TRIES; i++) {
        size_t mark = *n;
        entry before = *e;
        bool take = fire(s, e, now_ms, list, n, cap);
        int rc = put(s, e, take, err);
        if (rc == 1) {
            note_lease(s, e, now_ms);
            return 0;
        }
        restore(e, &before);
        *n = mark;
        if (rc < 0) return rc;
        rc = fetch(s, e, now_ms, err);
        if (rc <= 0) {
            *gone = rc == 0;
            return rc;
        }
        if (fire_time(e) > now_ms) return 0;
    }
    return tg_error_set(err, TG_EUNAVAILABLE, "schedule store: the row of %s keeps changing",
                        e->worker);
}

/* Renews the leases of this replica's runs. One found taken over (this
 * replica could not renew it in time) is left to its new owner: the run
 * still out here ends as a duplicate, whose report changes nothing. */
static void renew(tg_scheduler *s, int64_t now_ms)
{
    entry **mine = tg_xmalloc((s->nheap + 1) * sizeof *mine);
    size_t nmine = 0;
    for (size_t i = 0; i < s->nheap; i++)
        if (owns(s->heap[i])) mine[nmine++] = s->heap[i];
    bool holding = false;
    for (size_t i = 0; i < nmine; i++) {
        entry *e = mine[i];
        tg_error err;
        int rc = lease_op(s, s->renew_st, e, &err);
        if (rc == 0) rc = fetch(s, e, now_ms, &err);
        if (rc < 0) {
            /* Tried again at the next renewal, well before the lease lapses. */
            tg_log_warn(&(tg_log_ctx){.tenant = e->tenant},
                        "the lease on the run of %s is not renewed: %s", e->worker, err.message);
            holding = true;
        } else if (rc == 1) {
            reschedule(s, e);
            holding = holding || owns(e);
        }
    }
    free(mine);
    s->renew_at = holding ? now_ms + s->lease_ms / 3 : NEVER;
}

int64_t tg_scheduler_poll(tg_scheduler *s, int64_t now_ms)
{
    action *list = NULL;
    size_t n = 0, cap = 0;
    tg_error err = {0};
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (!s->stopping && s->renew_at <= now_ms) renew(s, now_ms);
    if (!s->stopping && s->nheap && fire_time(s->heap[0]) <= now_ms) {
        /* sqlite: the poll's slots in one transaction, one sync. PostgreSQL:
         * each row's write commits on its own, so replicas taking the same
         * rows in other orders never deadlock, and a row another replica
         * holds delays only its own. */
        if (!s->shared) rc = tg_store_begin(s->db, db_fail, &err);
        while (!rc && s->nheap && fire_time(s->heap[0]) <= now_ms) {
            entry *e = s->heap[0];
            bool gone;
            rc = take_due(s, e, now_ms, &list, &n, &cap, &gone, &err);
            if (!gone) reschedule(s, e);
        }
        if (!rc && !s->shared) rc = tg_store_commit(s->db, db_fail, &err);
        if (rc && !s->shared) {
            tg_store_rollback(s->db);
            /* Undo newest first, so each entry ends as it was before the poll. */
            for (size_t i = n; i-- > 0;) {
                entry *e = list[i].e;
                restore(e, &list[i].before);
                reschedule(s, e);
            }
            n = 0;
        }
        /* PostgreSQL: what was written before the failure stands, and runs. */
        if (rc) tg_log_error(NULL, "the scheduler cannot take due runs: %s", err.message);
    }
    for (size_t i = 0; i < n; i++) {
        list[i].tenant = tg_xstrdup(list[i].e->tenant);
        list[i].worker = tg_xstrdup(list[i].e->worker);
    }
    int64_t next = s->nheap ? fire_time(s->heap[0]) : NEVER;
    if (rc) next = now_ms + STORE_RETRY_MS;
    s->wake_at = s->renew_at < next ? s->renew_at : next;
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

/* Leaves e's run, this replica's, for another replica (or this one's next
 * start) to take at once, without waiting for its lease to lapse. */
static void release(tg_scheduler *s, entry *e, int64_t now_ms)
{
    tg_error err;
    if (lease_op(s, s->release_st, e, &err) < 0)
        tg_log_warn(&(tg_log_ctx){.tenant = e->tenant},
                    "the run of %s is owed; another replica takes it once its lease lapses: %s",
                    e->worker, err.message);
    e->state = ELSEWHERE;
    e->watch_at = now_ms;
    reschedule(s, e);
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
            /* Stopped under it: owed to another replica, or the next start. */
            release(s, e, now_ms);
            status = "interrupted";
        } else if (r->outcome == TG_SCHEDULE_RETRYABLE && e->attempt <= e->max_retries) {
            int64_t delay = retry_delay(e);
            e->state = WAITING;
            e->retry_due = now_ms + delay;
            reschedule(s, e);
            status = "retrying";
            json_object_set_new(body, "retry_in_ms", json_integer(delay));
        } else {
            /* Over for good. Other replicas may have written the row since
             * (a slot they skipped): read it again and end the run if it is
             * still this replica's. */
            for (int i = 0; i < MAX_TRIES; i++) {
                entry before = *e;
                e->state = IDLE;
                e->pending_ms = NO_SLOT;
                rc = put(s, e, false, &err);
                if (rc != 0) break;
                restore(e, &before);
                rc = fetch(s, e, now_ms, &err);
                if (rc <= 0) break;
                reschedule(s, e);
                if (e->state != RUNNING || e->run_id != r->id) {
                    rc = 1; /* taken over meanwhile: the new owner ends it */
                    break;
                }
                rc = tg_error_set(&err, TG_EUNAVAILABLE, "the row keeps changing");
            }
            if (rc > 0) rc = 0;
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
    if (!s->stopping && s->shared) {
        /* Retries waiting here go to the other replicas now. Gathered first:
         * releasing reorders the heap. */
        entry **waiting = tg_xmalloc((s->nheap + 1) * sizeof *waiting);
        size_t nwaiting = 0;
        for (size_t i = 0; i < s->nheap; i++)
            if (s->heap[i]->state == WAITING) waiting[nwaiting++] = s->heap[i];
        int64_t now = tg_now_ms();
        for (size_t i = 0; i < nwaiting; i++)
            release(s, waiting[i], now);
        free(waiting);
    }
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
    tg_stmt_finalize(s->put_st);
    tg_stmt_finalize(s->insert_st);
    tg_stmt_finalize(s->read_st);
    tg_stmt_finalize(s->renew_st);
    tg_stmt_finalize(s->release_st);
    tg_stmt_finalize(s->drop_st);
    tg_stmt_finalize(s->drop_if_st);
    tg_store_close(s->db);
    free(s->replica);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
