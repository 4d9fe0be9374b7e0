/* Admission control: token buckets, concurrency caps, honest retry delays,
 * atomic admission, bounded memory. Time is synthetic, so every case is
 * exact. Includes the .c to look at entries (STYLE.md: h2o's habit). */
#include "gateway/calls/admission.c"

#include "check.h"

#include <stdatomic.h>

#define MS INT64_C(1000000)
#define S  INT64_C(1000000000)
/* Any start; far from 0 so that nothing depends on time starting there. */
#define T0 (INT64_C(1000) * S)

static tg_admission *make(const tg_admission_config *c)
{
    tg_admission *a = NULL;
    tg_error err = {0};
    int rc = tg_admission_new(c, &a, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) fprintf(stderr, "tg_admission_new: %s\n", err.message);
    return a;
}

static entry *find(tg_admission *a, const char *tenant, const char *tool)
{
    char key[2 * TG_ADMISSION_NAME_MAX + 2];
    size_t n = strlen(tenant) + 1;
    memcpy(key, tenant, n);
    if (tool) {
        memcpy(key + n, tool, strlen(tool));
        n += strlen(tool);
    }
    return lookup(a, key, n, hash_key(key, n));
}

/* Enters and leaves at once: one token spent, no slot kept. */
static int tap(tg_admission *a, const char *tenant, const char *tool, int64_t now,
               int64_t *retry_ms)
{
    tg_admission_ticket t;
    int rc = tg_admission_enter(a, tenant, tool, now, &t, retry_ms);
    if (rc == 0) tg_admission_leave(a, &t);
    return rc;
}

/* Every entry's counters agree with the lists they are on. */
static void check_consistent(tg_admission *a, int64_t running_total)
{
    size_t n = 0;
    int64_t running = 0;
    for (ring *l = a->lru.next; l != &a->lru; l = l->next) {
        entry *e = ENTRY_OF(l, lru);
        n++;
        running += e->running;
        CHECK(e->running >= 0);
        if (!e->tenant) {
            size_t tools = 0;
            for (ring *s = e->tools.next; s != &e->tools; s = s->next)
                tools++;
            CHECK_INT_EQ(tools, e->ntools);
            CHECK(e->ntools <= a->max_tools);
        }
        CHECK(find(a, e->key, e->tenant ? e->key + strlen(e->key) + 1 : NULL) == e);
    }
    CHECK_INT_EQ(n, a->count);
    CHECK(a->count <= a->max_entries);
    CHECK_INT_EQ(running, running_total);
}

static void test_defaults_burst_then_refusal(void)
{
    tg_admission *a = make(NULL);
    int64_t retry = -1;
    /* The tool's burst (40) binds before the tenant's (100). */
    for (int i = 0; i < 40; i++)
        CHECK_INT_EQ(tap(a, "acme", "crm_sync", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "crm_sync", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 50); /* one token at 20 per second */
    CHECK_INT_EQ(tap(a, "acme", "crm_sync", T0 + 49 * MS, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 1);
    CHECK_INT_EQ(tap(a, "acme", "crm_sync", T0 + 50 * MS, &retry), 0);
    tg_admission_free(a);
}

static void test_refill(void)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 10, .tool_burst = 5};
    tg_admission *a = make(&c);
    int64_t retry;
    for (int i = 0; i < 5; i++)
        CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 100);
    /* Half a second refills five tokens... */
    for (int i = 0; i < 5; i++)
        CHECK_INT_EQ(tap(a, "acme", "t", T0 + 500 * MS, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 500 * MS, &retry), TG_ERATE_LIMITED);
    /* ...and an hour no more than the burst. */
    int admitted = 0;
    while (tap(a, "acme", "t", T0 + 3600 * S, &retry) == 0)
        admitted++;
    CHECK_INT_EQ(admitted, 5);
    /* A clock read before another thread's (out of order) refills nothing. */
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 3599 * S, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 100);
    tg_admission_free(a);
}

/* Empties the binding bucket, then checks that retry_after_ms is exact:
 * refused one millisecond early, admitted on time. */
static void check_honest(double rate, bool tenant_binds, int64_t want_ms)
{
    tg_admission_config c = {.tenant_rate = tenant_binds ? rate : 1000,
                             .tenant_burst = tenant_binds ? 2 : 1000,
                             .tool_rate = tenant_binds ? 1000 : rate,
                             .tool_burst = tenant_binds ? 1000 : 2};
    tg_admission *a = make(&c);
    int64_t retry = 0, now = T0 + 123456789; /* not on a millisecond */
    CHECK_INT_EQ(tap(a, "acme", "t", now, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", now, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", now, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, want_ms);
    int64_t retry_early = 0;
    CHECK_INT_EQ(tap(a, "acme", "t", now + (retry - 1) * MS, &retry_early), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry_early, 1);
    CHECK_INT_EQ(tap(a, "acme", "t", now + retry * MS, &retry), 0);
    tg_admission_free(a);
}

static void test_retry_after_is_honest(void)
{
    static const struct {
        double rate;
        int64_t ms;
    } cases[] = {{1, 1000},  {3, 334},  {7, 143},        {0.3, 3334},
                 {999.9, 2}, {1000, 1}, {0.001, 1000000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_honest(cases[i].rate, true, cases[i].ms);
        check_honest(cases[i].rate, false, cases[i].ms);
    }
}

/* Both buckets empty: the wait is the longer one, and it is enough for both. */
static void test_retry_after_waits_for_both(void)
{
    tg_admission_config c = {.tenant_rate = 4, .tenant_burst = 1, .tool_rate = 3, .tool_burst = 1};
    tg_admission *a = make(&c);
    int64_t retry;
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 334);
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 333 * MS, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 334 * MS, &retry), 0);
    tg_admission_free(a);
}

static void test_tenants_are_isolated(void)
{
    tg_admission_config c = {.tenant_rate = 1, .tenant_burst = 3};
    tg_admission *a = make(&c);
    int64_t retry;
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(tap(a, "noisy", "t", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "noisy", "t", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(tap(a, "noisy", "other", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 1000);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(tap(a, "quiet", "t", T0, &retry), 0);
    tg_admission_free(a);
}

static void test_tool_binds_before_tenant(void)
{
    tg_admission *a = make(NULL);
    int64_t retry;
    int n1 = 0, n2 = 0, n3 = 0;
    while (tap(a, "acme", "t1", T0, &retry) == 0)
        n1++;
    CHECK_INT_EQ(retry, 50); /* the tool's bucket refused */
    while (tap(a, "acme", "t2", T0, &retry) == 0)
        n2++;
    while (tap(a, "acme", "t3", T0, &retry) == 0)
        n3++;
    CHECK_INT_EQ(n1, 40);
    CHECK_INT_EQ(n2, 40);
    CHECK_INT_EQ(n3, 20);    /* the tenant's 100 are spent */
    CHECK_INT_EQ(retry, 20); /* one token at 50 per second */
    tg_admission_free(a);
}

static void test_concurrency(void)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF,
                             .tool_burst = TG_ADMISSION_OFF,
                             .tenant_concurrency = 3,
                             .worker_concurrency = 2};
    tg_admission *a = make(&c);
    tg_admission_ticket t[4];
    int64_t retry;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t1", T0, &t[0], &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t1", T0, &t[1], &retry), 0);
    /* The worker's cap. */
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t1", T0, &t[2], &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK(t[2].tenant == NULL);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t2", T0, &t[2], &retry), 0);
    /* The tenant's cap, though t3's worker runs nothing. */
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t3", T0, &t[3], &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK_INT_EQ(tg_admission_enter(a, "other", "t1", T0, &t[3], &retry), 0);
    tg_admission_leave(a, &t[3]);
    check_consistent(a, 3 * 2);

    tg_admission_leave(a, &t[0]);
    CHECK(t[0].tenant == NULL);
    tg_admission_leave(a, &t[0]); /* twice: harmless */
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t3", T0, &t[0], &retry), 0);
    CHECK_INT_EQ(find(a, "acme", NULL)->running, 3);
    for (int i = 0; i < 3; i++)
        tg_admission_leave(a, &t[i]);
    CHECK_INT_EQ(find(a, "acme", NULL)->running, 0);
    CHECK_INT_EQ(find(a, "acme", "t1")->running, 0);
    check_consistent(a, 0);
    tg_admission_free(a);
}

static void test_refusal_takes_nothing(void)
{
    tg_admission_config c = {.tool_rate = 1, .tool_burst = 1, .worker_concurrency = 1};
    tg_admission *a = make(&c);
    int64_t retry;
    tg_admission_ticket t, u;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0, &t, &retry), 0);
    entry *te = find(a, "acme", NULL), *we = find(a, "acme", "t");
    int64_t tenant_level = te->level, tool_level = we->level;
    CHECK_INT_EQ(tenant_level, 99 * TOKEN);
    CHECK_INT_EQ(tool_level, 0);

    /* The tool's bucket refuses: the tenant keeps its token. */
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0, &u, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(te->level, tenant_level);
    CHECK_INT_EQ(te->running, 1);
    CHECK_INT_EQ(we->running, 1);

    /* The worker's cap refuses with a token in both buckets (a second has
     * refilled them): both keep it. */
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0 + S, &u, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK_INT_EQ(te->level, 100 * TOKEN);
    CHECK_INT_EQ(we->level, TOKEN);
    CHECK_INT_EQ(te->running, 1);

    /* The tool's bucket and the worker's cap both refuse: the longer wait wins. */
    tg_admission_leave(a, &t);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0 + S, &t, &retry), 0);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0 + S, &u, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 1000);
    tg_admission_leave(a, &t);
    check_consistent(a, 0);
    tg_admission_free(a);
}

static void test_config(void)
{
    static const tg_admission_config bad[] = {
        {.tenant_rate = 0.0001},    {.tool_rate = 2e6},
        {.tenant_burst = 2000000},  {.tool_burst = -2},
        {.tenant_concurrency = -5}, {.worker_concurrency = -2},
        {.max_entries = 1},         {.max_entries = (size_t)1 << 30},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_admission *a = NULL;
        tg_error err = {0};
        CHECK_INT_EQ(tg_admission_new(&bad[i], &a, &err), TG_EINTERNAL);
        CHECK(a == NULL);
        CHECK(err.message[0] != '\0');
    }

    /* Every limit off: nothing is ever refused. */
    tg_admission_config off = {.tenant_rate = TG_ADMISSION_OFF,
                               .tool_rate = TG_ADMISSION_OFF,
                               .tenant_concurrency = TG_ADMISSION_OFF,
                               .worker_concurrency = TG_ADMISSION_OFF};
    tg_admission *a = make(&off);
    static tg_admission_ticket t[1000];
    int64_t retry;
    int admitted = 0;
    for (int i = 0; i < 1000; i++)
        admitted += tg_admission_enter(a, "acme", "t", T0, &t[i], &retry) == 0;
    CHECK_INT_EQ(admitted, 1000);
    for (int i = 0; i < 1000; i++)
        tg_admission_leave(a, &t[i]);
    check_consistent(a, 0);

    char longname[TG_ADMISSION_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_INT_EQ(tg_admission_enter(a, NULL, "t", T0, &t[0], &retry), TG_EINTERNAL);
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "", T0, &t[0], &retry), TG_EINTERNAL);
    CHECK_INT_EQ(tg_admission_enter(a, longname, "t", T0, &t[0], &retry), TG_EINTERNAL);
    longname[TG_ADMISSION_NAME_MAX] = '\0';
    CHECK_INT_EQ(tg_admission_enter(a, longname, longname, T0, &t[0], &retry), 0);
    tg_admission_leave(a, &t[0]);
    tg_admission_free(a);
}

static void test_table_cap(void)
{
    tg_admission_config c = {.max_entries = 6};
    tg_admission *a = make(&c);
    int64_t retry;
    char tool[16];
    /* "acme" and five tools, each with a token spent: none may be forgotten. */
    for (int i = 0; i < 5; i++) {
        snprintf(tool, sizeof tool, "t%d", i);
        CHECK_INT_EQ(tap(a, "acme", tool, T0, &retry), 0);
    }
    CHECK_INT_EQ(a->count, 6);
    CHECK_INT_EQ(tap(a, "acme", "t5", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    CHECK_INT_EQ(tap(a, "other", "t0", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(a->count, 6);
    CHECK(find(a, "other", NULL) == NULL);
    /* Known pairs are still served. */
    CHECK_INT_EQ(tap(a, "acme", "t0", T0, &retry), 0);

    /* t1 stays busy; once the others' buckets are full again they go. */
    tg_admission_ticket held;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t1", T0, &held, &retry), 0);
    int64_t later = T0 + 10 * S;
    for (int i = 5; i < 40; i++) {
        snprintf(tool, sizeof tool, "t%d", i);
        CHECK_INT_EQ(tap(a, "acme", tool, later + i * S, &retry), 0);
        CHECK(a->count <= 6);
    }
    CHECK(find(a, "acme", "t1") != NULL);
    CHECK(find(a, "acme", "t0") == NULL);
    check_consistent(a, 2);
    tg_admission_leave(a, &held);

    /* A tenant entry is kept while it has tool entries, and then can go. */
    CHECK_INT_EQ(tap(a, "other", "t0", later + 100 * S, &retry), 0);
    CHECK(find(a, "other", "t0") != NULL);
    CHECK_INT_EQ(tap(a, "third", "t0", later + 200 * S, &retry), 0);
    CHECK_INT_EQ(tap(a, "fourth", "t0", later + 300 * S, &retry), 0);
    CHECK_INT_EQ(tap(a, "fifth", "t0", later + 400 * S, &retry), 0);
    CHECK(find(a, "acme", NULL) == NULL);
    check_consistent(a, 0);
    tg_admission_free(a);
}

/* A tenant calling many tool names, even ones that do not exist, holds at most
 * max_tools_per_tenant entries, and its neighbours are still served. */
static void test_tenant_tool_cap(void)
{
    tg_admission_config c = {.max_tools_per_tenant = 4, .max_entries = 64};
    tg_admission *a = make(&c);
    int64_t retry;
    char tool[32];
    int admitted = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(tool, sizeof tool, "nope_%d", i);
        admitted += tap(a, "noisy", tool, T0, &retry) == 0;
        CHECK(find(a, "noisy", NULL)->ntools <= 4);
    }
    CHECK_INT_EQ(admitted, 4);
    CHECK_INT_EQ(a->count, 5);
    CHECK_INT_EQ(tap(a, "quiet", "t", T0, &retry), 0);

    /* Over time the noisy tenant's idle entries are recycled, one for one. */
    admitted = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(tool, sizeof tool, "later_%d", i);
        admitted += tap(a, "noisy", tool, T0 + (i + 1) * S, &retry) == 0;
    }
    CHECK_INT_EQ(admitted, 1000);
    CHECK_INT_EQ(find(a, "noisy", NULL)->ntools, 4);
    check_consistent(a, 0);
    tg_admission_free(a);
}

enum { THREADS = 8, ROUNDS = 20000, HELD = 3 };

struct hammer {
    tg_admission *a;
    atomic_llong *clock;
    int seed;
    long admitted;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    static const char *tenants[] = {"t0", "t1", "t2", "t3"};
    static const char *tools[] = {"a", "b", "c", "d", "e"};
    tg_admission_ticket held[HELD] = {{0}};
    unsigned r = (unsigned)h->seed;
    for (int i = 0; i < ROUNDS; i++) {
        r = r * 1103515245u + 12345u;
        int slot = (int)((r >> 8) % HELD);
        tg_admission_leave(h->a, &held[slot]);
        int64_t now = T0 + atomic_fetch_add(h->clock, 10000); /* 10 us a call */
        int64_t retry;
        int rc = tg_admission_enter(h->a, tenants[(r >> 12) % 4], tools[(r >> 16) % 5], now,
                                    &held[slot], &retry);
        if (rc == 0)
            h->admitted++;
        else if (rc != TG_ERATE_LIMITED || retry < 1)
            h->admitted = -1000000000L;
    }
    for (int i = 0; i < HELD; i++)
        tg_admission_leave(h->a, &held[i]);
    return NULL;
}

static void test_threads(void)
{
    /* A small table and tight limits, so eviction, refusal and admission all
     * race with each other. */
    tg_admission_config c = {.tenant_concurrency = 10,
                             .worker_concurrency = 4,
                             .max_entries = 16,
                             .max_tools_per_tenant = 3};
    tg_admission *a = make(&c);
    atomic_llong clock = 0;
    struct hammer h[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){.a = a, .clock = &clock, .seed = i + 1};
        pthread_create(&th[i], NULL, hammer_thread, &h[i]);
    }
    long admitted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(h[i].admitted > 0);
        admitted += h[i].admitted;
    }
    CHECK(admitted > 0 && admitted < (long)THREADS * ROUNDS);
    check_consistent(a, 0);
    tg_admission_free(a);
}

struct drain {
    tg_admission *a;
    atomic_long *admitted;
};

static void *drain_thread(void *arg)
{
    struct drain *d = arg;
    int64_t retry;
    while (tap(d->a, "acme", "t", T0, &retry) == 0)
        atomic_fetch_add(d->admitted, 1);
    return NULL;
}

/* However the threads interleave, a bucket hands out exactly its burst. */
static void test_threads_exact_burst(void)
{
    tg_admission_config c = {.tenant_burst = 1000, .tool_rate = TG_ADMISSION_OFF};
    tg_admission *a = make(&c);
    atomic_long admitted = 0;
    struct drain d = {a, &admitted};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, drain_thread, &d);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_INT_EQ(atomic_load(&admitted), 1000);
    check_consistent(a, 0);
    tg_admission_free(a);
}

/* New limits apply to names already seen: a bucket keeps what it earned but
 * no more than the new burst, one that had no limit starts full, running
 * calls keep their slots, and a bad config changes nothing. */
static void test_reconfigure(void)
{
    tg_admission_config c = {.tenant_rate = TG_ADMISSION_OFF, .tool_rate = 10, .tool_burst = 10};
    tg_admission *a = make(&c);
    int64_t retry;
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), 0);
    tg_admission_ticket held;
    CHECK_INT_EQ(tg_admission_enter(a, "acme", "t", T0, &held, &retry), 0);
    /* Five of ten spent; the new burst of two caps what is left. */
    tg_admission_config tight = {.tenant_rate = 1,
                                 .tenant_burst = 3,
                                 .tool_rate = 1,
                                 .tool_burst = 2,
                                 .worker_concurrency = 1};
    tg_error err;
    CHECK_INT_EQ(tg_admission_reconfigure(a, &tight, T0, &err), 0);
    /* The held call keeps its slot; the cap of one turns the next away. */
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, TG_ADMISSION_BUSY_RETRY_MS);
    tg_admission_leave(a, &held);
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 1000); /* the new rate: one a second */
    /* The tenant had no bucket: it starts full (three), two of which went. */
    CHECK_INT_EQ(tap(a, "acme", "u", T0, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "u", T0, &retry), TG_ERATE_LIMITED);
    CHECK_INT_EQ(retry, 1000);
    /* Out of range: refused, and the limits in force stay. */
    tg_admission_config bad = {.tool_rate = 2e6};
    CHECK(tg_admission_reconfigure(a, &bad, T0, &err) != 0);
    CHECK(strstr(err.message, "tool_rate") != NULL);
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 1000 * MS, &retry), 0);
    CHECK_INT_EQ(tap(a, "acme", "t", T0 + 1000 * MS, &retry), TG_ERATE_LIMITED);
    check_consistent(a, 0);
    tg_admission_free(a);
}

int main(void)
{
    test_defaults_burst_then_refusal();
    test_refill();
    test_retry_after_is_honest();
    test_retry_after_waits_for_both();
    test_tenants_are_isolated();
    test_tool_binds_before_tenant();
    test_concurrency();
    test_refusal_takes_nothing();
    test_config();
    test_table_cap();
    test_tenant_tool_cap();
    test_reconfigure();
    test_threads();
    test_threads_exact_burst();
    return check_report();
}
