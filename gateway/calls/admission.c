/* Admission control; see admission.h.
 *
 * Every tenant and every (tenant, tool) pair seen is an entry in one hash
 * table: a token bucket and a count of running calls. Buckets count in
 * picotokens and refill by rate * elapsed nanoseconds, all in integers, so a
 * retryAfterMs computed now is exactly when the token will be there.
 *
 * Memory is bounded by forgetting entries, and only entries whose bucket is
 * full and that run no call (and, for a tenant, hold no tool entries) are
 * forgotten: such an entry is exactly what a new one would be, so forgetting
 * never changes a decision and cannot be used to win tokens back. When the
 * table, or one tenant's share of it, is full of entries that cannot be
 * forgotten yet, a new name is refused rather than let the table grow.
 *
 * One mutex guards everything; each operation under it is O(1) (a hash
 * lookup and a bounded eviction scan).
 *
 * Shared mode (the second half of this file) keeps the table, with its own
 * limits off, as this replica's exact count of its running calls: the truth
 * the store's rows for this replica copy, written again whole whenever they
 * may have drifted (a leave that failed, a replica taken for dead, a database
 * that lost its unlogged tables). The limits themselves are checked in the
 * store, by the SQL functions its migration creates. */
#include "gateway/calls/admission.h"

#include "gateway/core/alloc.h"
#include "gateway/core/log.h"
#include "gateway/store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TENANT_RATE        50.0
#define DEFAULT_TENANT_BURST       100
#define DEFAULT_TOOL_RATE          20.0
#define DEFAULT_TOOL_BURST         40
#define DEFAULT_TENANT_CONCURRENCY 64
#define DEFAULT_WORKER_CONCURRENCY 16
#define DEFAULT_MAX_ENTRIES        100000
#define DEFAULT_MAX_TOOLS          1024

#define MAX_RATE    1000000.0
#define MIN_RATE    0.001
#define MAX_BURST   1000000
#define MAX_ENTRIES ((size_t)1 << 24)

/* One token in bucket units. A rate in millitokens per second is then exactly
 * units per nanosecond, and the largest bucket (MAX_BURST tokens, 1e18 units)
 * still fits an int64_t. */
#define TOKEN INT64_C(1000000000000)

/* Entries looked at per eviction attempt: a clock sweep, so a full table
 * costs a bounded amount of work per call, not a scan. */
#define EVICT_SCAN 8

typedef struct ring {
    struct ring *prev, *next;
} ring;

/* An entry on two lists: every entry on the table's LRU list, and a tool
 * entry also on its tenant's list, which the per-tenant cap evicts from. */
typedef struct tg__admission_entry {
    struct tg__admission_entry *hnext;
    ring lru;
    ring sibling;
    /* Tool entries: their tenant's entry, which is kept while they exist.
     * NULL for a tenant entry. */
    struct tg__admission_entry *tenant;
    ring tools; /* tenant entries: their tool entries, newest first */
    size_t ntools;
    int64_t level;   /* units */
    int64_t last_ns; /* when level was last brought up to date */
    int64_t running;
    /* Shared mode: the store said this bucket holds no token before then
     * (CLOCK_MONOTONIC), so admissions are refused here until then. */
    int64_t empty_until_ns;
    uint64_t hash;
    size_t key_len;
    char key[]; /* tenant '\0' for a tenant entry, tenant '\0' tool '\0' for a tool's */
} entry;

#define ENTRY_OF(l, member) ((entry *)(void *)((char *)(l)-offsetof(entry, member)))

typedef struct limit {
    bool on;
    int64_t rate; /* units per nanosecond */
    int64_t cap;  /* units */
} limit;

/* The limits of a config, checked and with its defaults: what both modes
 * start from. */
typedef struct settings {
    double tenant_rate, tool_rate; /* tokens per second; 0: that bucket is off */
    int64_t tenant_burst, tool_burst;
    int64_t tenant_concurrency, worker_concurrency; /* INT64_MAX when off */
} settings;

typedef struct shared shared;

struct tg_admission {
    /* Shared mode: the store, and the limits it checks (the table's own are
     * off). NULL in memory. */
    shared *shared;
    settings settings;
    pthread_mutex_t lock;
    limit tenant_limit, tool_limit;
    int64_t tenant_concurrency, worker_concurrency; /* INT64_MAX when off */
    size_t max_entries, max_tools;
    entry **table;
    size_t mask;
    size_t count;
    ring lru; /* newest first */
};

static void ring_init(ring *l)
{
    l->prev = l->next = l;
}

static void ring_remove(ring *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    ring_init(l);
}

static void ring_push_front(ring *head, ring *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void ring_move_front(ring *head, ring *l)
{
    ring_remove(l);
    ring_push_front(head, l);
}

/* FNV-1a with a final mix for the low bits the mask keeps. */
static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(1099511628211);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static const limit *limit_of(const tg_admission *a, const entry *e)
{
    return e->tenant ? &a->tool_limit : &a->tenant_limit;
}

/* Brings e's level up to now. Clocks read before the lock can arrive out of
 * order, so a now before last_ns adds nothing and keeps last_ns. */
static void refill(const limit *l, entry *e, int64_t now_ns)
{
    if (!l->on || now_ns <= e->last_ns) return;
    uint64_t elapsed = (uint64_t)now_ns - (uint64_t)e->last_ns;
    e->last_ns = now_ns;
    int64_t need = l->cap - e->level;
    if (need <= 0) return;
    uint64_t to_full = (uint64_t)((need + l->rate - 1) / l->rate);
    if (elapsed >= to_full)
        e->level = l->cap;
    else
        e->level += (int64_t)elapsed * l->rate; /* < need: cannot overflow */
}

/* Nanoseconds until e holds a token (0: it holds one now). */
static int64_t token_wait_ns(const limit *l, const entry *e)
{
    if (!l->on || e->level >= TOKEN) return 0;
    return (TOKEN - e->level + l->rate - 1) / l->rate;
}

static bool evictable(const tg_admission *a, entry *e, int64_t now_ns)
{
    if (e->running > 0 || e->ntools > 0) return false;
    const limit *l = limit_of(a, e);
    refill(l, e, now_ns);
    return !l->on || e->level == l->cap;
}

static void evict(tg_admission *a, entry *e)
{
    for (entry **p = &a->table[e->hash & a->mask]; *p; p = &(*p)->hnext) {
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    }
    ring_remove(&e->lru);
    if (e->tenant) {
        ring_remove(&e->sibling);
        e->tenant->ntools--;
    }
    a->count--;
    free(e);
}

/* Forgets one entry of list (threaded through member), oldest first, looking
 * at no more than EVICT_SCAN of them; those that must stay get a second
 * chance at the front, so the next sweep looks at others. keep is never
 * forgotten. Returns whether one was. */
static bool make_room(tg_admission *a, ring *list, size_t member, const entry *keep, int64_t now_ns)
{
    for (int i = 0; i < EVICT_SCAN && list->prev != list; i++) {
        ring *l = list->prev;
        entry *e = (entry *)(void *)((char *)l - member);
        if (e != keep && evictable(a, e, now_ns)) {
            evict(a, e);
            return true;
        }
        ring_move_front(list, l);
    }
    return false;
}

static entry *lookup(tg_admission *a, const char *key, size_t len, uint64_t hash)
{
    for (entry *e = a->table[hash & a->mask]; e; e = e->hnext) {
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) return e;
    }
    return NULL;
}

static entry *insert(tg_admission *a, const char *key, size_t len, uint64_t hash, entry *tenant,
                     int64_t now_ns)
{
    entry *e = tg_xcalloc(1, sizeof *e + len + 1); /* + 1: both parts read as strings */
    memcpy(e->key, key, len);
    e->key_len = len;
    e->hash = hash;
    e->tenant = tenant;
    e->level = limit_of(a, e)->cap;
    e->last_ns = now_ns;
    ring_init(&e->tools);
    ring_init(&e->sibling);
    ring_push_front(&a->lru, &e->lru);
    e->hnext = a->table[hash & a->mask];
    a->table[hash & a->mask] = e;
    a->count++;
    if (tenant) {
        ring_push_front(&tenant->tools, &e->sibling);
        tenant->ntools++;
    }
    return e;
}

static int64_t ns_to_retry_ms(int64_t ns)
{
    int64_t ms = (ns + 999999) / 1000000;
    return ms < 1 ? 1 : ms;
}

static int check_bucket(double *rate, int64_t *burst, double default_rate, int64_t default_burst,
                        const char *name, tg_error *err)
{
    if (*rate == TG_ADMISSION_OFF || *burst == TG_ADMISSION_OFF) {
        *rate = 0;
        *burst = 0;
        return 0;
    }
    if (*rate == 0) *rate = default_rate;
    if (*burst == 0) *burst = default_burst;
    if (!(*rate >= MIN_RATE && *rate <= MAX_RATE))
        return tg_error_set(err, TG_EINTERNAL, "%s_rate must be 0.001 to 1000000 per second", name);
    if (*burst < 1 || *burst > MAX_BURST)
        return tg_error_set(err, TG_EINTERNAL, "%s_burst must be 1 to 1000000", name);
    return 0;
}

static int check_concurrency(int64_t *out, int64_t value, int64_t default_value, const char *name,
                             tg_error *err)
{
    if (value == TG_ADMISSION_OFF) {
        *out = INT64_MAX;
        return 0;
    }
    if (value < 0) return tg_error_set(err, TG_EINTERNAL, "%s must be positive or off", name);
    *out = value ? value : default_value;
    return 0;
}

static int resolve(const tg_admission_config *c, settings *s, tg_error *err)
{
    *s = (settings){.tenant_rate = c->tenant_rate,
                    .tool_rate = c->tool_rate,
                    .tenant_burst = c->tenant_burst,
                    .tool_burst = c->tool_burst};
    int rc = check_bucket(&s->tenant_rate, &s->tenant_burst, DEFAULT_TENANT_RATE,
                          DEFAULT_TENANT_BURST, "tenant", err);
    if (rc == 0)
        rc = check_bucket(&s->tool_rate, &s->tool_burst, DEFAULT_TOOL_RATE, DEFAULT_TOOL_BURST,
                          "tool", err);
    if (rc == 0)
        rc = check_concurrency(&s->tenant_concurrency, c->tenant_concurrency,
                               DEFAULT_TENANT_CONCURRENCY, "tenant_concurrency", err);
    if (rc == 0)
        rc = check_concurrency(&s->worker_concurrency, c->worker_concurrency,
                               DEFAULT_WORKER_CONCURRENCY, "worker_concurrency", err);
    return rc;
}

/* A checked bucket in table units (rate 0: off). */
static limit bucket_limit(double rate, int64_t burst)
{
    if (rate == 0) return (limit){.on = false};
    /* rate > 0: rounds to the nearest millitoken per second. */
    return (limit){.on = true, .rate = (int64_t)(rate * 1000.0 + 0.5), .cap = burst * TOKEN};
}

static int shared_open(tg_admission *a, const tg_admission_config *c, tg_error *err);
static void shared_close(tg_admission *a);
static int shared_enter(tg_admission *a, const char *key, size_t tenant_len, size_t tool_len,
                        tg_admission_ticket *ticket, int64_t *retry_after_ms);
static void shared_leave(tg_admission *a, tg_admission_ticket *ticket);

int tg_admission_new(const tg_admission_config *config, tg_admission **out, tg_error *err)
{
    static const tg_admission_config defaults;
    const tg_admission_config *c = config ? config : &defaults;
    *out = NULL;
    tg_admission *a = tg_xcalloc(1, sizeof *a);
    int rc = resolve(c, &a->settings, err);
    a->max_entries = c->max_entries ? c->max_entries : DEFAULT_MAX_ENTRIES;
    a->max_tools = c->max_tools_per_tenant ? c->max_tools_per_tenant : DEFAULT_MAX_TOOLS;
    /* A new pair can need two entries: its tenant's and its own. */
    if (rc == 0 && (a->max_entries < 2 || a->max_entries > MAX_ENTRIES))
        rc = tg_error_set(err, TG_EINTERNAL, "max_entries must be 2 to %zu", MAX_ENTRIES);
    if (rc != 0) {
        free(a);
        return rc;
    }
    size_t nbuckets = 16;
    while (nbuckets < a->max_entries)
        nbuckets *= 2;
    a->table = tg_xcalloc(nbuckets, sizeof *a->table);
    a->mask = nbuckets - 1;
    ring_init(&a->lru);
    pthread_mutex_init(&a->lock, NULL);
    if (c->store) {
        /* The table only counts this replica's calls: the store limits them. */
        a->tenant_concurrency = a->worker_concurrency = INT64_MAX;
        rc = shared_open(a, c, err);
        if (rc != 0) {
            tg_admission_free(a);
            return rc;
        }
    } else {
        a->tenant_limit = bucket_limit(a->settings.tenant_rate, a->settings.tenant_burst);
        a->tool_limit = bucket_limit(a->settings.tool_rate, a->settings.tool_burst);
        a->tenant_concurrency = a->settings.tenant_concurrency;
        a->worker_concurrency = a->settings.worker_concurrency;
    }
    *out = a;
    return 0;
}

static void shared_reconfigure(tg_admission *a, const settings *s);

int tg_admission_reconfigure(tg_admission *a, const tg_admission_config *config, int64_t now_ns,
                             tg_error *err)
{
    static const tg_admission_config defaults;
    settings s;
    int rc = resolve(config ? config : &defaults, &s, err);
    if (rc != 0) return rc;
    if (a->shared) {
        shared_reconfigure(a, &s);
        return 0;
    }
    limit tenant_limit = bucket_limit(s.tenant_rate, s.tenant_burst);
    limit tool_limit = bucket_limit(s.tool_rate, s.tool_burst);
    pthread_mutex_lock(&a->lock);
    /* Each bucket keeps what it earned under the old rate up to now and no
     * more than the new burst; a bucket that had no limit starts full, as a
     * new one would. Running calls keep their slots: a lower cap only turns
     * away the calls that come after. */
    for (ring *l = a->lru.next; l != &a->lru; l = l->next) {
        entry *e = ENTRY_OF(l, lru);
        const limit *old = limit_of(a, e);
        const limit *now = e->tenant ? &tool_limit : &tenant_limit;
        refill(old, e, now_ns);
        if (!old->on || e->level > now->cap) e->level = now->cap;
        if (now_ns > e->last_ns) e->last_ns = now_ns;
    }
    a->settings = s;
    a->tenant_limit = tenant_limit;
    a->tool_limit = tool_limit;
    a->tenant_concurrency = s.tenant_concurrency;
    a->worker_concurrency = s.worker_concurrency;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

void tg_admission_free(tg_admission *a)
{
    if (!a) return;
    if (a->shared) shared_close(a);
    while (a->lru.next != &a->lru) {
        entry *e = ENTRY_OF(a->lru.next, lru);
        ring_remove(&e->lru);
        free(e);
    }
    free(a->table);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static bool valid_name(const char *s, size_t *len)
{
    if (!s) return false;
    *len = strnlen(s, TG_ADMISSION_NAME_MAX + 1);
    return *len > 0 && *len <= TG_ADMISSION_NAME_MAX;
}

/* retryAfterMs of a refusal: the wait for a token, and at least
 * TG_ADMISSION_BUSY_RETRY_MS when a cap is reached. */
static int64_t refusal_ms(int64_t wait_ns, bool full)
{
    int64_t ms = wait_ns > 0 ? ns_to_retry_ms(wait_ns) : 0;
    return full && ms < TG_ADMISSION_BUSY_RETRY_MS ? TG_ADMISSION_BUSY_RETRY_MS : ms;
}

/* The entries of key (tenant '\0' tool, as tg_admission_enter builds it):
 * its tenant's and its own, made when new. False when there is no room: the
 * table, or the tenant's share of it, is full of entries that cannot be
 * forgotten yet. Called with a->lock held. */
static bool find_entries(tg_admission *a, const char *key, size_t tenant_len, size_t tool_len,
                         int64_t now_ns, entry **tenant, entry **tool)
{
    size_t tenant_key_len = tenant_len + 1, tool_key_len = tenant_len + 1 + tool_len;
    uint64_t tenant_hash = hash_key(key, tenant_key_len);
    uint64_t tool_hash = hash_key(key, tool_key_len);

    entry *te = lookup(a, key, tenant_key_len, tenant_hash);
    if (!te) {
        if (a->count >= a->max_entries &&
            !make_room(a, &a->lru, offsetof(entry, lru), NULL, now_ns))
            return false;
        te = insert(a, key, tenant_key_len, tenant_hash, NULL, now_ns);
    }
    ring_move_front(&a->lru, &te->lru);

    entry *we = lookup(a, key, tool_key_len, tool_hash);
    if (!we) {
        if (te->ntools >= a->max_tools &&
            !make_room(a, &te->tools, offsetof(entry, sibling), NULL, now_ns))
            return false;
        if (a->count >= a->max_entries && !make_room(a, &a->lru, offsetof(entry, lru), te, now_ns))
            return false;
        we = insert(a, key, tool_key_len, tool_hash, te, now_ns);
    }
    ring_move_front(&a->lru, &we->lru);
    ring_move_front(&te->tools, &we->sibling);
    *tenant = te;
    *tool = we;
    return true;
}

/* Admits key against the table's limits. */
static int table_enter(tg_admission *a, const char *key, size_t tenant_len, size_t tool_len,
                       int64_t now_ns, tg_admission_ticket *ticket, int64_t *retry_after_ms)
{
    entry *te, *we;
    pthread_mutex_lock(&a->lock);
    if (!find_entries(a, key, tenant_len, tool_len, now_ns, &te, &we)) {
        pthread_mutex_unlock(&a->lock);
        *retry_after_ms = TG_ADMISSION_BUSY_RETRY_MS;
        return TG_ERATE_LIMITED;
    }

    refill(&a->tenant_limit, te, now_ns);
    refill(&a->tool_limit, we, now_ns);
    int64_t wait_ns = token_wait_ns(&a->tenant_limit, te);
    int64_t tool_wait_ns = token_wait_ns(&a->tool_limit, we);
    if (tool_wait_ns > wait_ns) wait_ns = tool_wait_ns;
    bool full = te->running >= a->tenant_concurrency || we->running >= a->worker_concurrency;
    if (full || wait_ns > 0) {
        *retry_after_ms = refusal_ms(wait_ns, full);
        pthread_mutex_unlock(&a->lock);
        return TG_ERATE_LIMITED;
    }
    if (a->tenant_limit.on) te->level -= TOKEN;
    if (a->tool_limit.on) we->level -= TOKEN;
    te->running++;
    we->running++;
    pthread_mutex_unlock(&a->lock);
    ticket->tenant = te;
    ticket->tool = we;
    return 0;
}

static void table_leave(tg_admission *a, tg_admission_ticket *ticket)
{
    pthread_mutex_lock(&a->lock);
    ticket->tenant->running--;
    ticket->tool->running--;
    pthread_mutex_unlock(&a->lock);
    *ticket = (tg_admission_ticket){0};
}

int tg_admission_enter(tg_admission *a, const char *tenant, const char *tool, int64_t now_ns,
                       tg_admission_ticket *ticket, int64_t *retry_after_ms)
{
    size_t tenant_len, tool_len;
    *ticket = (tg_admission_ticket){0};
    *retry_after_ms = 0;
    if (!valid_name(tenant, &tenant_len) || !valid_name(tool, &tool_len)) return TG_EINTERNAL;

    char key[2 * TG_ADMISSION_NAME_MAX + 2];
    memcpy(key, tenant, tenant_len);
    key[tenant_len] = '\0';
    memcpy(key + tenant_len + 1, tool, tool_len);
    key[tenant_len + 1 + tool_len] = '\0';
    if (a->shared) return shared_enter(a, key, tenant_len, tool_len, ticket, retry_after_ms);
    return table_enter(a, key, tenant_len, tool_len, now_ns, ticket, retry_after_ms);
}

void tg_admission_leave(tg_admission *a, tg_admission_ticket *ticket)
{
    if (!ticket->tenant) return;
    if (a->shared)
        shared_leave(a, ticket);
    else
        table_leave(a, ticket);
}

/* Shared mode.
 *
 * The store holds, in the "admission" schema (UNLOGGED: soft state, not worth
 * a WAL write per call, and emptied by a database crash, which every replica
 * notices and repairs):
 *   replicas  one row per live replica: its heartbeat, on the server's clock;
 *   running   (tenant, tool, replica) -> calls that replica runs, tool ''
 *             for the tenant's own count (names are never empty);
 *   buckets   (tenant, tool) -> tokens and when they were counted, tool ''
 *             for the tenant's bucket. A bucket not used for burst / rate
 *             is full, the same as no row: heartbeats delete such rows.
 * Names are TEXT, which PostgreSQL refuses when they are not UTF-8: they
 * come from the registry, which keeps them as TEXT in the same database.
 * enter() does an admission in one statement, so in one transaction: it
 * takes an advisory lock on the tenant (every admission of the tenant, from
 * any replica, takes turns there, which READ COMMITTED alone would not make
 * them do: two could each see the other's running row not yet there), sums
 * the running rows of live replicas, brings both buckets up to now and takes
 * a token from each and a slot from both counts, or nothing. Reading, then
 * writing, under the lock is simpler than one conditional UPDATE per bucket
 * and decides the four limits together. Only enter() takes an advisory
 * lock, one, before any row; heartbeats delete only rows nobody holds (SKIP
 * LOCKED), never waiting: so admissions and heartbeats cannot deadlock. (The
 * leave of a replica just taken for dead can meet the delete of its rows;
 * PostgreSQL breaks that rare deadlock, and the loser is repaired like any
 * failure.)
 *
 * Each replica talks to the store on one connection under shared.lock: an
 * admission or a leave is one round trip, about 0.2 ms on a local socket
 * (some 2300 calls admitted and left a second, with eight threads on one
 * tenant or eight). A pool would overlap the round trips of different
 * tenants, but that rate is well above what the sandboxes behind admission
 * run, and a caller who keeps knocking on an empty bucket is refused from
 * memory (empty_until_ns), not by the store; so one connection it is.
 *
 * Every admission refreshes the replica's heartbeat, as it checks that the
 * replica still counts; a thread of each replica refreshes it too, every
 * ADMISSION_HEARTBEAT_MS, because a replica with few calls, some of them
 * long, must stay alive while they run, and the thread is also what deletes
 * the dead replicas' rows and the full buckets.
 *
 * While the store fails, admissions and leaves try it at most once every
 * TG_ADMISSION_STORE_RETRY_MS (the heartbeat every ADMISSION_HEARTBEAT_MS)
 * and refuse, or count locally, in between: an outage neither makes every
 * call wait for a connection attempt nor makes every replica hammer the
 * database while it comes back. */

#ifndef ADMISSION_HEARTBEAT_MS
#define ADMISSION_HEARTBEAT_MS 2000
#endif
#ifndef ADMISSION_WINDOW_MS
#define ADMISSION_WINDOW_MS 10000
#endif
/* An admission that waits this long for its tenant's lock fails as the
 * store being unavailable rather than hold the caller (statement_timeout in
 * shared_open bounds the rest of it). */
#define STORE_LOCK_MS 2000

struct shared {
    /* Guards db, dirty and failing, and orders every change to the table's
     * running counts with the store's copy of them. Taken before a->lock. */
    pthread_mutex_t lock;
    tg_store *db;
    char *replica;
    /* This replica's rows may differ from the table (a statement failed, a
     * leave found its rows gone): write them again before the next
     * admission. */
    bool dirty;
    bool joined;            /* registered once: there are rows to take out at the end */
    bool failing;           /* the store's last use failed, and that was logged */
    int64_t quiet_until_ns; /* while failing: the store is not tried before (monotonic) */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond; /* on CLOCK_MONOTONIC */
    bool stopping;
    bool beating; /* heart was started and not joined yet */
    pthread_t heart;
};

static const tg_store_migration migrations[] = {
    {
        .sqlite = NULL, /* shared mode refuses sqlite */
        .postgres =
            "CREATE UNLOGGED TABLE replicas (replica TEXT PRIMARY KEY, seen_us BIGINT NOT NULL);"
            "CREATE UNLOGGED TABLE running ("
            " tenant TEXT NOT NULL, tool TEXT NOT NULL,"
            " replica TEXT NOT NULL REFERENCES replicas ON DELETE CASCADE,"
            " n BIGINT NOT NULL, PRIMARY KEY (tenant, tool, replica));"
            "CREATE INDEX running_replica ON running (replica);"
            "CREATE UNLOGGED TABLE buckets ("
            " tenant TEXT NOT NULL, tool TEXT NOT NULL,"
            " tokens DOUBLE PRECISION NOT NULL, updated_us BIGINT NOT NULL,"
            " PRIMARY KEY (tenant, tool));"
            "CREATE INDEX buckets_updated ON buckets (updated_us);"
            /* The server's clock, not the transaction's start: an admission
             * may have waited for its lock. */
            "CREATE FUNCTION now_us() RETURNS BIGINT LANGUAGE sql VOLATILE"
            " AS $$SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint$$;"
            /* A bucket's tokens at t: infinite when it is off (rate 0). A
             * clock that stepped back refills nothing. */
            "CREATE FUNCTION tokens(p_tenant TEXT, p_tool TEXT, rate DOUBLE PRECISION,"
            " burst BIGINT, t BIGINT) RETURNS DOUBLE PRECISION LANGUAGE sql VOLATILE AS $$"
            " SELECT CASE WHEN rate <= 0 THEN 'Infinity'::float8 ELSE coalesce("
            " (SELECT LEAST(burst, b.tokens + GREATEST(t - b.updated_us, 0) * rate / 1e6::float8)"
            " FROM buckets b WHERE b.tenant = p_tenant AND b.tool = p_tool), burst) END$$;"
            /* Leaves left tokens in a bucket; one that is off has no row, so
             * that it starts full when it is turned on again. */
            "CREATE FUNCTION take(p_tenant TEXT, p_tool TEXT, rate DOUBLE PRECISION,"
            " left_tokens DOUBLE PRECISION, t BIGINT) RETURNS VOID LANGUAGE plpgsql AS $$"
            "BEGIN"
            " IF rate <= 0 THEN"
            "  DELETE FROM buckets WHERE tenant = p_tenant AND tool = p_tool;"
            " ELSE"
            "  INSERT INTO buckets (tenant, tool, tokens, updated_us)"
            "  VALUES (p_tenant, p_tool, left_tokens, t) ON CONFLICT (tenant, tool) DO UPDATE"
            "  SET tokens = excluded.tokens,"
            "  updated_us = GREATEST(buckets.updated_us, excluded.updated_us);"
            " END IF;"
            "END$$;"
            /* One admission (see the comment above), which is a heartbeat
             * too. Rates are tokens a second (0: off), caps -1 when off.
             * alive false: this replica's heartbeat is gone or too old (it
             * was taken for dead), so nothing was decided. */
            "CREATE FUNCTION enter(p_replica TEXT, p_tenant TEXT, p_tool TEXT,"
            " tenant_rate DOUBLE PRECISION, tenant_burst BIGINT,"
            " tool_rate DOUBLE PRECISION, tool_burst BIGINT,"
            " tenant_cap BIGINT, tool_cap BIGINT, window_us BIGINT,"
            " OUT alive BOOLEAN, OUT admitted BOOLEAN, OUT busy BOOLEAN,"
            " OUT tenant_wait_us DOUBLE PRECISION, OUT tool_wait_us DOUBLE PRECISION)"
            " LANGUAGE plpgsql AS $$"
            "DECLARE"
            " t BIGINT;"
            " tenant_tokens DOUBLE PRECISION;"
            " tool_tokens DOUBLE PRECISION;"
            " tenant_running BIGINT;"
            " tool_running BIGINT;"
            "BEGIN"
            " admitted := false; busy := false; tenant_wait_us := 0; tool_wait_us := 0;"
            " PERFORM pg_advisory_xact_lock(hashtextextended('admission' || chr(1) || p_tenant, "
            "0));"
            " t := now_us();"
            " UPDATE replicas SET seen_us = GREATEST(seen_us, t)"
            " WHERE replica = p_replica AND seen_us >= t - window_us;"
            " alive := FOUND;"
            " IF NOT alive THEN RETURN; END IF;"
            " SELECT coalesce(sum(r.n) FILTER (WHERE r.tool = ''), 0),"
            " coalesce(sum(r.n) FILTER (WHERE r.tool = p_tool), 0)"
            " INTO tenant_running, tool_running"
            " FROM running r JOIN replicas p ON p.replica = r.replica"
            " WHERE r.tenant = p_tenant AND r.tool IN ('', p_tool) AND p.seen_us >= t - window_us;"
            " busy := (tenant_cap >= 0 AND tenant_running >= tenant_cap)"
            " OR (tool_cap >= 0 AND tool_running >= tool_cap);"
            " tenant_tokens := tokens(p_tenant, '', tenant_rate, tenant_burst, t);"
            " tool_tokens := tokens(p_tenant, p_tool, tool_rate, tool_burst, t);"
            " IF tenant_tokens < 1 THEN"
            "  tenant_wait_us := (1 - tenant_tokens) / tenant_rate * 1e6;"
            " END IF;"
            " IF tool_tokens < 1 THEN tool_wait_us := (1 - tool_tokens) / tool_rate * 1e6; END IF;"
            " IF busy OR tenant_wait_us > 0 OR tool_wait_us > 0 THEN RETURN; END IF;"
            " PERFORM take(p_tenant, '', tenant_rate, tenant_tokens - 1, t);"
            " PERFORM take(p_tenant, p_tool, tool_rate, tool_tokens - 1, t);"
            " INSERT INTO running (tenant, tool, replica, n)"
            " VALUES (p_tenant, '', p_replica, 1), (p_tenant, p_tool, p_replica, 1)"
            " ON CONFLICT (tenant, tool, replica) DO UPDATE SET n = running.n + 1;"
            " admitted := true;"
            "END$$;"
            /* A replica's heartbeat, which also deletes what no longer
             * counts: dead replicas (their running rows go with them), its
             * own counts at zero, and full buckets (tenant_full_us and
             * tool_full_us: burst / rate, -1 when off). Rows another
             * transaction holds are left for a later heartbeat (SKIP
             * LOCKED): two replicas deleting the same rows in different
             * orders could otherwise deadlock, and an admission never waits
             * for this. alive false: this replica was taken for dead and
             * must write its rows again. */
            "CREATE FUNCTION heartbeat(p_replica TEXT, window_us BIGINT,"
            " tenant_full_us BIGINT, tool_full_us BIGINT, OUT alive BOOLEAN)"
            " LANGUAGE plpgsql AS $$"
            "DECLARE"
            " t BIGINT := now_us();"
            "BEGIN"
            " UPDATE replicas SET seen_us = GREATEST(seen_us, t)"
            " WHERE replica = p_replica AND seen_us >= t - window_us;"
            " alive := FOUND;"
            " DELETE FROM replicas WHERE replica IN (SELECT replica FROM replicas"
            " WHERE seen_us < t - window_us FOR UPDATE SKIP LOCKED);"
            " DELETE FROM running WHERE replica = p_replica AND n <= 0;"
            " DELETE FROM buckets WHERE (tenant, tool) IN (SELECT tenant, tool FROM buckets"
            " WHERE CASE WHEN tool = '' THEN tenant_full_us ELSE tool_full_us END >= 0"
            " AND updated_us < t - CASE WHEN tool = '' THEN tenant_full_us ELSE tool_full_us END"
            " FOR UPDATE SKIP LOCKED);"
            "END$$;",
    },
};

static int store_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)kind;
    return tg_error_set(err, TG_EUNAVAILABLE, "admission store: %s: %s", what,
                        detail ? detail : "");
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Called with s->lock held after the store failed: a statement that failed
 * may still have been applied, so the rows are written again first thing. */
static void store_failed(shared *s, const tg_error *err)
{
    s->dirty = true;
    if (!s->failing) tg_log_error(NULL, "%s: calls are refused until it is back", err->message);
    s->failing = true;
    s->quiet_until_ns = monotonic_ns() + (int64_t)TG_ADMISSION_STORE_RETRY_MS * 1000000;
}

/* Whether the store failed so recently that it is not tried again yet. */
static bool store_quiet(const shared *s)
{
    return s->failing && monotonic_ns() < s->quiet_until_ns;
}

static void store_worked(shared *s)
{
    if (s->failing) tg_log_info(NULL, "admission store: back, calls are admitted again");
    s->failing = false;
}

/* The tool part of an entry's key, "" for a tenant's entry. */
static const char *tool_of(const entry *e)
{
    return e->tenant ? e->key + strlen(e->key) + 1 : "";
}

/* Writes this replica's rows again, in one transaction: its heartbeat, and a
 * running row for each table entry that runs calls. Called with s->lock
 * held, which every change of those counts takes. */
static int shared_register(tg_admission *a, tg_error *err)
{
    shared *s = a->shared;
    tg_stmt *st = NULL;
    int rc = tg_store_begin(s->db, store_fail, err);
    /* The old running rows go with the replica's row (ON DELETE CASCADE). */
    if (!rc)
        rc = tg_store_prepare(s->db, &st, store_fail, err,
                              "DELETE FROM replicas WHERE replica = ?1", 1, s->replica);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    tg_stmt_finalize(st);
    st = NULL;
    if (!rc)
        rc = tg_store_prepare(s->db, &st, store_fail, err,
                              "INSERT INTO replicas (replica, seen_us) VALUES (?1, now_us())", 1,
                              s->replica);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    tg_stmt_finalize(st);
    st = NULL;
    if (!rc)
        rc = tg_store_prepare(s->db, &st, store_fail, err,
                              "INSERT INTO running (tenant, tool, replica, n) VALUES (?, ?, ?, ?)",
                              0);
    pthread_mutex_lock(&a->lock);
    for (ring *l = a->lru.next; !rc && l != &a->lru; l = l->next) {
        entry *e = ENTRY_OF(l, lru);
        if (e->running == 0) continue;
        tg_stmt_reset(st);
        tg_stmt_bind_text(st, 1, e->key); /* the tenant: the key's first string */
        tg_stmt_bind_text(st, 2, tool_of(e));
        tg_stmt_bind_text(st, 3, s->replica);
        tg_stmt_bind_int64(st, 4, e->running);
        rc = tg_stmt_run(st, store_fail, err);
    }
    pthread_mutex_unlock(&a->lock);
    tg_stmt_finalize(st);
    if (!rc) rc = tg_store_commit(s->db, store_fail, err);
    if (rc)
        tg_store_rollback(s->db);
    else
        s->dirty = false;
    return rc;
}

static int64_t cap_of(int64_t concurrency)
{
    return concurrency == INT64_MAX ? -1 : concurrency;
}

/* x >= 0 rounded up (without libm). */
static int64_t round_up(double x)
{
    int64_t i = (int64_t)x;
    return (double)i < x ? i + 1 : i;
}

/* A bucket's time to fill from empty, in microseconds; -1 when off. */
static int64_t full_us(double rate, int64_t burst)
{
    return rate == 0 ? -1 : round_up((double)burst / rate * 1e6);
}

typedef struct decision {
    bool alive, admitted, busy;
    double tenant_wait_us, tool_wait_us; /* until each bucket holds a token */
} decision;

/* One round trip: enter() with this replica's limits. Called with s->lock
 * held. */
static int store_enter(tg_admission *a, const char *tenant, const char *tool, decision *d,
                       tg_error *err)
{
    shared *s = a->shared;
    const settings *c = &a->settings;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->db, &st, store_fail, err,
                              "SELECT alive, admitted, busy, tenant_wait_us, tool_wait_us"
                              " FROM enter(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                              3, s->replica, tenant, tool);
    if (!rc) {
        tg_stmt_bind_double(st, 4, c->tenant_rate);
        tg_stmt_bind_int64(st, 5, c->tenant_burst);
        tg_stmt_bind_double(st, 6, c->tool_rate);
        tg_stmt_bind_int64(st, 7, c->tool_burst);
        tg_stmt_bind_int64(st, 8, cap_of(c->tenant_concurrency));
        tg_stmt_bind_int64(st, 9, cap_of(c->worker_concurrency));
        tg_stmt_bind_int64(st, 10, (int64_t)ADMISSION_WINDOW_MS * 1000);
        int row = tg_stmt_step(st, store_fail, err);
        if (row == 1) {
            d->alive = tg_stmt_int64(st, 0);
            d->admitted = tg_stmt_int64(st, 1);
            d->busy = tg_stmt_int64(st, 2);
            d->tenant_wait_us = tg_stmt_double(st, 3);
            d->tool_wait_us = tg_stmt_double(st, 4);
        } else {
            rc = row < 0 ? row : tg_error_set(err, TG_EUNAVAILABLE, "admission store: no decision");
        }
    }
    tg_stmt_finalize(st);
    return rc;
}

/* One round trip: gives back a slot of both counts. Called with s->lock
 * held. */
static int store_leave(tg_admission *a, const char *tenant, const char *tool, tg_error *err)
{
    shared *s = a->shared;
    tg_stmt *st = NULL;
    int rc = tg_store_prepare(s->db, &st, store_fail, err,
                              "UPDATE running SET n = n - 1 WHERE tenant = ?1 AND tool IN ('', ?2)"
                              " AND replica = ?3 AND n > 0",
                              3, tenant, tool, s->replica);
    if (!rc) rc = tg_stmt_run(st, store_fail, err);
    /* Rows missing: this replica was taken for dead, and its rows went. */
    if (!rc && tg_stmt_changes(st) != 2) s->dirty = true;
    tg_stmt_finalize(st);
    return rc;
}

static int shared_enter(tg_admission *a, const char *key, size_t tenant_len, size_t tool_len,
                        tg_admission_ticket *ticket, int64_t *retry_after_ms)
{
    shared *s = a->shared;
    const char *tenant = key, *tool = key + tenant_len + 1;
    tg_error err = {0};
    decision d = {0};
    entry *te = NULL, *we = NULL;
    pthread_mutex_lock(&s->lock);
    /* The entries stay while s->lock is held: only this forgets entries. A
     * bucket the store said is empty refuses here, without a round trip, so
     * a caller who keeps knocking costs the store nothing: replicas with the
     * same limits only take tokens, so none can be there sooner. */
    int64_t now = monotonic_ns();
    pthread_mutex_lock(&a->lock);
    bool room = find_entries(a, key, tenant_len, tool_len, 0, &te, &we);
    int64_t until = 0;
    if (room)
        until = te->empty_until_ns > we->empty_until_ns ? te->empty_until_ns : we->empty_until_ns;
    pthread_mutex_unlock(&a->lock);
    if (!room || until > now) {
        pthread_mutex_unlock(&s->lock);
        *retry_after_ms = room ? ns_to_retry_ms(until - now) : TG_ADMISSION_BUSY_RETRY_MS;
        return TG_ERATE_LIMITED;
    }
    if (store_quiet(s)) {
        pthread_mutex_unlock(&s->lock);
        *retry_after_ms = TG_ADMISSION_STORE_RETRY_MS;
        return TG_EUNAVAILABLE;
    }
    int rc = 0;
    /* A replica the others took for dead writes its rows again and asks once
     * more. */
    for (int i = 0; i < 2 && !rc && !d.alive; i++) {
        if (s->dirty) rc = shared_register(a, &err);
        if (!rc) rc = store_enter(a, tenant, tool, &d, &err);
        if (!rc && !d.alive) s->dirty = true;
    }
    if (!rc && !d.alive)
        rc = tg_error_set(&err, TG_EUNAVAILABLE,
                          "admission store: this replica's registration was lost again at once");
    if (rc) {
        store_failed(s, &err);
        pthread_mutex_unlock(&s->lock);
        *retry_after_ms = TG_ADMISSION_STORE_RETRY_MS;
        return TG_EUNAVAILABLE;
    }
    store_worked(s);
    int64_t tenant_wait_ns = round_up(d.tenant_wait_us * 1000.0);
    int64_t tool_wait_ns = round_up(d.tool_wait_us * 1000.0);
    now = monotonic_ns();
    pthread_mutex_lock(&a->lock);
    if (d.admitted) {
        te->running++;
        we->running++;
        ticket->tenant = te;
        ticket->tool = we;
    }
    if (tenant_wait_ns > 0) te->empty_until_ns = now + tenant_wait_ns;
    if (tool_wait_ns > 0) we->empty_until_ns = now + tool_wait_ns;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&s->lock);
    if (d.admitted) return 0;
    *retry_after_ms =
        refusal_ms(tenant_wait_ns > tool_wait_ns ? tenant_wait_ns : tool_wait_ns, d.busy);
    return TG_ERATE_LIMITED;
}

static void shared_leave(tg_admission *a, tg_admission_ticket *ticket)
{
    shared *s = a->shared;
    tg_error err = {0};
    pthread_mutex_lock(&s->lock);
    const entry *e = ticket->tool;
    if (store_quiet(s))
        s->dirty = true; /* the rows are written again once the store is back */
    else if (store_leave(a, e->key, tool_of(e), &err) != 0)
        store_failed(s, &err);
    else
        store_worked(s);
    table_leave(a, ticket);
    pthread_mutex_unlock(&s->lock);
}

static void shared_reconfigure(tg_admission *a, const settings *s)
{
    pthread_mutex_lock(&a->shared->lock);
    a->settings = *s;
    /* A new rate or burst may fill a bucket sooner than the store said. */
    pthread_mutex_lock(&a->lock);
    for (ring *l = a->lru.next; l != &a->lru; l = l->next)
        ENTRY_OF(l, lru)->empty_until_ns = 0;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->shared->lock);
}

/* One heartbeat, and the rows written again if they need to be. */
static void beat(tg_admission *a)
{
    shared *s = a->shared;
    tg_error err = {0};
    tg_stmt *st = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = tg_store_prepare(s->db, &st, store_fail, &err, "SELECT heartbeat(?1, ?2, ?3, ?4)", 1,
                              s->replica);
    if (!rc) {
        tg_stmt_bind_int64(st, 2, (int64_t)ADMISSION_WINDOW_MS * 1000);
        tg_stmt_bind_int64(st, 3, full_us(a->settings.tenant_rate, a->settings.tenant_burst));
        tg_stmt_bind_int64(st, 4, full_us(a->settings.tool_rate, a->settings.tool_burst));
        int row = tg_stmt_step(st, store_fail, &err);
        if (row == 1 && !tg_stmt_int64(st, 0)) s->dirty = true;
        rc = row < 0 ? row : 0;
    }
    tg_stmt_finalize(st);
    if (!rc && s->dirty) rc = shared_register(a, &err);
    if (rc)
        store_failed(s, &err);
    else
        store_worked(s);
    pthread_mutex_unlock(&s->lock);
}

/* The heartbeat thread: a beat every ADMISSION_HEARTBEAT_MS until stopped. */
static void *heart_main(void *arg)
{
    tg_admission *a = arg;
    shared *s = a->shared;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        struct timespec next;
        clock_gettime(CLOCK_MONOTONIC, &next);
        next.tv_sec += ADMISSION_HEARTBEAT_MS / 1000;
        next.tv_nsec += (long)(ADMISSION_HEARTBEAT_MS % 1000) * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        int waited = 0;
        while (!s->stopping && waited == 0)
            waited = pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &next);
        if (s->stopping) break;
        pthread_mutex_unlock(&s->stop_lock);
        beat(a);
        pthread_mutex_lock(&s->stop_lock);
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

/* Stops the heartbeats (for good). */
static void heart_stop(shared *s)
{
    pthread_mutex_lock(&s->stop_lock);
    s->stopping = true;
    pthread_cond_signal(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    if (s->beating) pthread_join(s->heart, NULL);
    s->beating = false;
}

static int shared_open(tg_admission *a, const tg_admission_config *c, tg_error *err)
{
    if (!tg_store_is_url(c->store))
        return tg_error_set(err, TG_EINTERNAL,
                            "a shared admission store must be a PostgreSQL URL: a sqlite store"
                            " belongs to one process, whose limits in memory hold already");
    size_t len = c->replica ? strnlen(c->replica, TG_ADMISSION_REPLICA_MAX + 1) : 0;
    if (len == 0 || len > TG_ADMISSION_REPLICA_MAX)
        return tg_error_set(err, TG_EINTERNAL,
                            "a shared admission store needs a replica id of 1 to %d bytes",
                            TG_ADMISSION_REPLICA_MAX);
    shared *s = tg_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    s->replica = tg_xstrdup(c->replica);
    s->dirty = true;
    a->shared = s; /* from here on tg_admission_free undoes what was done */

    /* READ COMMITTED whatever the database's default: each statement of
     * enter() must see what the lock's last holder committed. A statement
     * that runs 5 s fails rather than hold the caller. */
    static const char *const setup[] = {
        "SET default_transaction_isolation = 'read committed'",
        "SET statement_timeout = 5000",
        NULL,
    };
    int rc = tg_store_open(c->store, "admission", 0, STORE_LOCK_MS, NULL, setup, &s->db, store_fail,
                           err);
    if (!rc)
        rc = tg_store_migrate(s->db, migrations, sizeof migrations / sizeof *migrations, store_fail,
                              err);
    if (!rc) {
        pthread_mutex_lock(&s->lock);
        rc = shared_register(a, err);
        s->joined = rc == 0;
        pthread_mutex_unlock(&s->lock);
    }
    if (!rc) {
        if (pthread_create(&s->heart, NULL, heart_main, a) != 0)
            rc = tg_error_set(err, TG_EINTERNAL, "admission: cannot start the heartbeat thread");
        else
            s->beating = true;
    }
    return rc;
}

static void shared_close(tg_admission *a)
{
    shared *s = a->shared;
    heart_stop(s);
    if (s->joined) {
        /* The slots come back now rather than after the window. */
        tg_error err = {0};
        tg_stmt *st = NULL;
        int rc = tg_store_prepare(s->db, &st, store_fail, &err,
                                  "DELETE FROM replicas WHERE replica = ?1", 1, s->replica);
        if (!rc) rc = tg_stmt_run(st, store_fail, &err);
        tg_stmt_finalize(st);
        if (rc)
            tg_log_warn(NULL, "%s: this replica's slots are given back after %d s", err.message,
                        ADMISSION_WINDOW_MS / 1000);
    }
    tg_store_close(s->db);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_mutex_destroy(&s->lock);
    free(s->replica);
    free(s);
    a->shared = NULL;
}
