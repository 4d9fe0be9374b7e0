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
 * lookup and a bounded eviction scan). */
#include "gateway/calls/admission.h"

#include "gateway/core/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

struct tg_admission {
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

static int set_limit(limit *l, double rate, int64_t burst, double default_rate,
                     int64_t default_burst, const char *name, tg_error *err)
{
    if (rate == TG_ADMISSION_OFF || burst == TG_ADMISSION_OFF) {
        l->on = false;
        return 0;
    }
    if (rate == 0) rate = default_rate;
    if (burst == 0) burst = default_burst;
    if (!(rate >= MIN_RATE && rate <= MAX_RATE))
        return tg_error_set(err, TG_EINTERNAL, "%s_rate must be 0.001 to 1000000 per second", name);
    if (burst < 1 || burst > MAX_BURST)
        return tg_error_set(err, TG_EINTERNAL, "%s_burst must be 1 to 1000000", name);
    l->on = true;
    l->rate = (int64_t)(rate * 1000.0 + 0.5); /* rate > 0: rounds to nearest */
    l->cap = burst * TOKEN;
    return 0;
}

static int set_concurrency(int64_t *out, int64_t value, int64_t default_value, const char *name,
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

int tg_admission_new(const tg_admission_config *config, tg_admission **out, tg_error *err)
{
    static const tg_admission_config defaults;
    const tg_admission_config *c = config ? config : &defaults;
    *out = NULL;
    tg_admission *a = tg_xcalloc(1, sizeof *a);
    int rc = set_limit(&a->tenant_limit, c->tenant_rate, c->tenant_burst, DEFAULT_TENANT_RATE,
                       DEFAULT_TENANT_BURST, "tenant", err);
    if (rc == 0)
        rc = set_limit(&a->tool_limit, c->tool_rate, c->tool_burst, DEFAULT_TOOL_RATE,
                       DEFAULT_TOOL_BURST, "tool", err);
    if (rc == 0)
        rc = set_concurrency(&a->tenant_concurrency, c->tenant_concurrency,
                             DEFAULT_TENANT_CONCURRENCY, "tenant_concurrency", err);
    if (rc == 0)
        rc = set_concurrency(&a->worker_concurrency, c->worker_concurrency,
                             DEFAULT_WORKER_CONCURRENCY, "worker_concurrency", err);
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
    *out = a;
    return 0;
}

int tg_admission_reconfigure(tg_admission *a, const tg_admission_config *config, int64_t now_ns,
                             tg_error *err)
{
    static const tg_admission_config defaults;
    const tg_admission_config *c = config ? config : &defaults;
    limit tenant_limit, tool_limit;
    int64_t tenant_concurrency, worker_concurrency;
    int rc = set_limit(&tenant_limit, c->tenant_rate, c->tenant_burst, DEFAULT_TENANT_RATE,
                       DEFAULT_TENANT_BURST, "tenant", err);
    if (rc == 0)
        rc = set_limit(&tool_limit, c->tool_rate, c->tool_burst, DEFAULT_TOOL_RATE,
                       DEFAULT_TOOL_BURST, "tool", err);
    if (rc == 0)
        rc = set_concurrency(&tenant_concurrency, c->tenant_concurrency, DEFAULT_TENANT_CONCURRENCY,
                             "tenant_concurrency", err);
    if (rc == 0)
        rc = set_concurrency(&worker_concurrency, c->worker_concurrency, DEFAULT_WORKER_CONCURRENCY,
                             "worker_concurrency", err);
    if (rc != 0) return rc;
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
    a->tenant_limit = tenant_limit;
    a->tool_limit = tool_limit;
    a->tenant_concurrency = tenant_concurrency;
    a->worker_concurrency = worker_concurrency;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

void tg_admission_free(tg_admission *a)
{
    if (!a) return;
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
    size_t tenant_key_len = tenant_len + 1, tool_key_len = tenant_len + 1 + tool_len;
    uint64_t tenant_hash = hash_key(key, tenant_key_len);
    uint64_t tool_hash = hash_key(key, tool_key_len);

    pthread_mutex_lock(&a->lock);
    entry *te = lookup(a, key, tenant_key_len, tenant_hash);
    if (!te) {
        if (a->count >= a->max_entries &&
            !make_room(a, &a->lru, offsetof(entry, lru), NULL, now_ns))
            goto busy;
        te = insert(a, key, tenant_key_len, tenant_hash, NULL, now_ns);
    }
    ring_move_front(&a->lru, &te->lru);

    entry *we = lookup(a, key, tool_key_len, tool_hash);
    if (!we) {
        if (te->ntools >= a->max_tools &&
            !make_room(a, &te->tools, offsetof(entry, sibling), NULL, now_ns))
            goto busy;
        if (a->count >= a->max_entries && !make_room(a, &a->lru, offsetof(entry, lru), te, now_ns))
            goto busy;
        we = insert(a, key, tool_key_len, tool_hash, te, now_ns);
    }
    ring_move_front(&a->lru, &we->lru);
    ring_move_front(&te->tools, &we->sibling);

    refill(&a->tenant_limit, te, now_ns);
    refill(&a->tool_limit, we, now_ns);
    int64_t wait_ns = token_wait_ns(&a->tenant_limit, te);
    int64_t tool_wait_ns = token_wait_ns(&a->tool_limit, we);
    if (tool_wait_ns > wait_ns) wait_ns = tool_wait_ns;
    bool full = te->running >= a->tenant_concurrency || we->running >= a->worker_concurrency;
    if (full || wait_ns > 0) {
        int64_t ms = wait_ns > 0 ? ns_to_retry_ms(wait_ns) : 0;
        if (full && ms < TG_ADMISSION_BUSY_RETRY_MS) ms = TG_ADMISSION_BUSY_RETRY_MS;
        *retry_after_ms = ms;
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

busy:
    pthread_mutex_unlock(&a->lock);
    *retry_after_ms = TG_ADMISSION_BUSY_RETRY_MS;
    return TG_ERATE_LIMITED;
}

void tg_admission_leave(tg_admission *a, tg_admission_ticket *ticket)
{
    if (!ticket->tenant) return;
    pthread_mutex_lock(&a->lock);
    ticket->tenant->running--;
    ticket->tool->running--;
    pthread_mutex_unlock(&a->lock);
    *ticket = (tg_admission_ticket){0};
}
