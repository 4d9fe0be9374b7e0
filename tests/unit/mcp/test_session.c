/* Sessions and protocol versions (gateway/mcp/session.h): create, lookup, end,
 * expiry with an injected clock, principals, capacity, many threads at once,
 * version negotiation, the header check and the initialize result. Then the
 * same sessions kept in a store, on sqlite and on PostgreSQL (when
 * TOOLGATE_TEST_POSTGRES gives a cluster), where two tables on one store
 * stand for two replicas behind a load balancer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gateway/core/clock.h"
#include "gateway/mcp/session.h"
#include "gateway/store/store.h"
#include "json_check.h"
#include "pgtest.h"

static int64_t fake_now;
static int64_t fake_clock(void *userdata)
{
    (void)userdata;
    return fake_now;
}

static json_t *init_params(const char *version)
{
    return json_pack("{s:s, s:{s:{}}, s:{s:s, s:s}}", "protocolVersion", version, "capabilities",
                     "roots", "clientInfo", "name", "test-client", "version", "1.0");
}

static bool id_ok(const char *id)
{
    if (strlen(id) != TG_SESSION_ID_LEN) return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static void test_versions(void)
{
    CHECK_STR_EQ(tg_session_version_negotiate("2025-11-25"), "2025-11-25");
    CHECK_STR_EQ(tg_session_version_negotiate("2025-06-18"), "2025-06-18");
    CHECK_STR_EQ(tg_session_version_negotiate("2025-03-26"), "2025-03-26");
    CHECK_STR_EQ(tg_session_version_negotiate("2024-11-05"), "2025-11-25");
    CHECK_STR_EQ(tg_session_version_negotiate("2099-01-01"), "2025-11-25");
    CHECK_STR_EQ(tg_session_version_negotiate(NULL), "2025-11-25");
    CHECK(tg_session_version_allows_batch("2025-03-26"));
    CHECK(!tg_session_version_allows_batch("2025-06-18"));
    CHECK(!tg_session_version_allows_batch(NULL));

    const char *v = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_version_check(NULL, NULL, &v, &err), 0);
    CHECK_STR_EQ(v, "2025-03-26");
    CHECK_INT_EQ(tg_session_version_check(NULL, "2025-06-18", &v, &err), 0);
    CHECK_STR_EQ(v, "2025-06-18");
    CHECK_INT_EQ(tg_session_version_check("2025-11-25", NULL, &v, &err), 0);
    CHECK_STR_EQ(v, "2025-11-25");
    CHECK_INT_EQ(tg_session_version_check("2025-11-25", "2025-11-25", &v, &err), 0);
    CHECK_INT_EQ(tg_session_version_check("2024-11-05", NULL, &v, &err), TG_EBAD_REQUEST);
    CHECK(v == NULL);
    CHECK_INT_EQ(err.code, TG_EBAD_REQUEST);
    CHECK_INT_EQ(tg_session_version_check("garbage", "2025-11-25", &v, &err), TG_EBAD_REQUEST);
    /* Supported but not the negotiated one: accepted, the session's version spoken. */
    CHECK_INT_EQ(tg_session_version_check("2025-03-26", "2025-11-25", &v, &err), 0);
    CHECK_STR_EQ(v, "2025-11-25");

    tg_mcp_log_level l;
    CHECK_INT_EQ(tg_mcp_log_level_parse("warning", &l), 0);
    CHECK_INT_EQ(l, TG_MCP_LOG_WARNING);
    CHECK_INT_EQ(tg_mcp_log_level_parse("emergency", &l), 0);
    CHECK_INT_EQ(l, TG_MCP_LOG_EMERGENCY);
    CHECK_INT_EQ(tg_mcp_log_level_parse("WARNING", &l), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_mcp_log_level_parse("warn", &l), TG_EINVALID_PARAMS);
    CHECK_STR_EQ(tg_mcp_log_level_name(TG_MCP_LOG_CRITICAL), "critical");
}

/* Without a store: the endpoint and the unlocked tools live in the session. */
static void test_endpoint_in_memory(void)
{
    tg_session_table *t = NULL;
    CHECK_INT_EQ(tg_session_table_new(NULL, &t), 0);
    json_t *p = init_params("2025-11-25");
    tg_session *s = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_create_at(t, p, NULL, "ops", &s, &err), 0);
    json_decref(p);
    if (s) {
        CHECK_STR_EQ(tg_session_endpoint(s), "ops");
        const char *names[] = {"a"};
        CHECK_INT_EQ(tg_session_unlock(s, names, 1), 0);
        CHECK(tg_session_unlocked(s, "a") && !tg_session_unlocked(s, "b"));
    }
    tg_session_release(s);
    tg_session_table_free(t);
}

static void test_lifecycle(void)
{
    tg_session_options o = {.idle_timeout_ms = 1000, .now_ms = fake_clock};
    tg_session_table *t = NULL;
    fake_now = 5000;
    CHECK_INT_EQ(tg_session_table_new(&o, &t), 0);

    json_t *p = init_params("2024-11-05");
    tg_session *s = NULL, *s2 = NULL, *found = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_create(t, p, "alice", &s, &err), 0);
    CHECK_INT_EQ(tg_session_create(t, p, "alice", &s2, &err), 0);
    json_decref(p);
    CHECK(id_ok(tg_session_id(s)));
    CHECK(strcmp(tg_session_id(s), tg_session_id(s2)) != 0);
    CHECK_STR_EQ(tg_session_version(s), "2025-11-25");
    CHECK_JSON(json_deep_copy(tg_session_client_info(s)),
               "{\"name\":\"test-client\",\"version\":\"1.0\"}");
    CHECK_JSON(json_deep_copy(tg_session_client_capabilities(s)), "{\"roots\":{}}");
    CHECK_INT_EQ(tg_session_table_count(t), 2);
    CHECK(!tg_session_initialized(s));
    CHECK_INT_EQ(tg_session_log_level(s), TG_MCP_LOG_INFO);

    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "alice", &found), 0);
    CHECK(found == s);
    tg_session_set_initialized(found);
    tg_session_set_log_level(found, TG_MCP_LOG_ERROR);
    tg_session_release(found);
    CHECK(tg_session_initialized(s));
    CHECK_INT_EQ(tg_session_log_level(s), TG_MCP_LOG_ERROR);

    /* Another principal, no principal, a wrong or truncated id: not found. */
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "mallory", &found), TG_ENOT_FOUND);
    CHECK(found == NULL);
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), NULL, &found), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_lookup(t, "nope", "alice", &found), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_lookup(t, NULL, "alice", &found), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_end(t, tg_session_id(s), "mallory"), TG_ENOT_FOUND);

    /* Idle expiry: a use at 5900 keeps s alive to 6900; s2 (last used 5000) goes. */
    fake_now = 5900;
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "alice", &found), 0);
    tg_session_release(found);
    fake_now = 6500;
    CHECK_INT_EQ(tg_session_expire(t), 1);
    CHECK(tg_session_ended(s2));
    CHECK(!tg_session_ended(s));
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s2), "alice", &found), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_table_count(t), 1);
    /* A lookup after the timeout refuses the session even before the timer runs. */
    fake_now = 7000;
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "alice", &found), TG_ENOT_FOUND);
    CHECK(tg_session_ended(s));
    CHECK_INT_EQ(tg_session_table_count(t), 0);
    /* Our references stay valid after the table let go. */
    CHECK_STR_EQ(tg_session_version(s2), "2025-11-25");
    tg_session_release(s);
    tg_session_release(s2);

    /* DELETE. */
    p = init_params("2025-03-26");
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &s, &err), 0);
    json_decref(p);
    CHECK_STR_EQ(tg_session_version(s), "2025-03-26");
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), NULL, &found), 0);
    tg_session_release(found);
    CHECK_INT_EQ(tg_session_end(t, tg_session_id(s), NULL), 0);
    CHECK(tg_session_ended(s));
    CHECK_INT_EQ(tg_session_end(t, tg_session_id(s), NULL), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), NULL, &found), TG_ENOT_FOUND);
    tg_session_release(s);

    /* A session still held when the table goes stays valid. */
    p = init_params("2025-06-18");
    CHECK_INT_EQ(tg_session_create(t, p, "bob", &s, &err), 0);
    json_decref(p);
    tg_session_table_free(t);
    CHECK(tg_session_ended(s));
    CHECK_STR_EQ(tg_session_version(s), "2025-06-18");
    tg_session_release(s);
}

static void test_bad_init_params(void)
{
    tg_session_table *t = NULL;
    CHECK_INT_EQ(tg_session_table_new(NULL, &t), 0);
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"protocolVersion\":1,\"capabilities\":{},\"clientInfo\":{\"name\":\"n\","
        "\"version\":\"v\"}}",
        "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":[],\"clientInfo\":{\"name\":\"n\","
        "\"version\":\"v\"}}",
        "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}",
        "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"n\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *p = json_loads(bad[i], 0, NULL);
        tg_session *s = (tg_session *)1;
        tg_error err = {0};
        CHECK_INT_EQ(tg_session_create(t, p, NULL, &s, &err), TG_EINVALID_PARAMS);
        CHECK(s == NULL);
        CHECK(err.message[0] != '\0');
        json_decref(p);
    }
    tg_session *s = NULL;
    CHECK_INT_EQ(tg_session_create(t, NULL, NULL, &s, NULL), TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_session_table_count(t), 0);
    tg_session_table_free(t);
}

static void test_capacity(void)
{
    tg_session_options o = {.max_sessions = 2, .idle_timeout_ms = 100, .now_ms = fake_clock};
    tg_session_table *t = NULL;
    fake_now = 0;
    CHECK_INT_EQ(tg_session_table_new(&o, &t), 0);
    json_t *p = init_params("2025-11-25");
    tg_session *a = NULL, *b = NULL, *c = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &a, &err), 0);
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &b, &err), 0);
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &c, &err), TG_ECAPACITY);
    CHECK(c == NULL);
    /* Once idle sessions can expire, creation makes room. */
    fake_now = 101;
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &c, &err), 0);
    CHECK_INT_EQ(tg_session_table_count(t), 1);
    json_decref(p);
    tg_session_release(a);
    tg_session_release(b);
    tg_session_release(c);
    tg_session_table_free(t);
}

static void test_initialize_result(void)
{
    tg_session_table *t = NULL;
    CHECK_INT_EQ(tg_session_table_new(NULL, &t), 0);
    json_t *p = init_params("2025-06-18");
    tg_session *s = NULL;
    CHECK_INT_EQ(tg_session_create(t, p, NULL, &s, NULL), 0);
    json_decref(p);
    CHECK_JSON(tg_session_initialize_result(s, NULL),
               "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{\"listChanged\":"
               "true},\"logging\":{}},\"serverInfo\":{\"name\":\"toolgate\",\"version\":"
               "\"" TOOLGATE_VERSION "\"}}");
    CHECK_JSON(tg_session_initialize_result(s, "Call tools/list first."),
               "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{\"listChanged\":"
               "true},\"logging\":{}},\"serverInfo\":{\"name\":\"toolgate\",\"version\":"
               "\"" TOOLGATE_VERSION "\"},\"instructions\":\"Call tools/list first.\"}");
    tg_session_release(s);
    tg_session_table_free(t);
}

/* Many threads create, look up and end sessions at once; under the sanitizers
 * (and TSan when someone runs it) this finds races in the table and counts. */
#define THREADS    8
#define PER_THREAD 300

static tg_session_table *shared;
static int thread_failures[THREADS];

static void *worker(void *arg)
{
    int *fail = arg;
    json_t *p = init_params("2025-11-25");
    for (int i = 0; i < PER_THREAD; i++) {
        tg_session *s = NULL, *f = NULL;
        if (tg_session_create(shared, p, "t", &s, NULL) != 0) {
            (*fail)++;
            continue;
        }
        if (tg_session_lookup(shared, tg_session_id(s), "t", &f) != 0 || f != s) (*fail)++;
        if (f) tg_session_release(f);
        tg_session_set_log_level(s, TG_MCP_LOG_DEBUG);
        if (i % 2 == 0 && tg_session_end(shared, tg_session_id(s), "t") != 0) (*fail)++;
        if (i % 7 == 0) tg_session_expire(shared);
        tg_session_release(s);
    }
    json_decref(p);
    return NULL;
}

static void test_concurrency(void)
{
    CHECK_INT_EQ(tg_session_table_new(NULL, &shared), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, &thread_failures[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        CHECK_INT_EQ(thread_failures[i], 0);
    CHECK_INT_EQ(tg_session_table_count(shared), THREADS * PER_THREAD / 2);
    tg_session_table_free(shared);
}

/* ---- sessions in a store ---- */

static char dir[] = "/tmp/test_mcp_session.XXXXXX";
static bool on_postgres;

/* A wall-clock time, as the store keeps them: tables on one store stand for
 * replicas, which share no monotonic clock. */
#define T0 1763900000000LL

/* Returns: a new location of an empty store called name (a file in dir, or
 * a fresh PostgreSQL database), or NULL when it cannot be made. */
static char *store_at(const char *name)
{
    if (!on_postgres) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.db", dir, name);
        return strdup(path);
    }
    char db[64];
    snprintf(db, sizeof db, "test_mcp_session_%s", name);
    return pgtest_database(db);
}

static tg_session_table *open_table(const char *store, size_t max_sessions, int64_t idle_ms,
                                    bool fake)
{
    tg_session_options o = {.max_sessions = max_sessions,
                            .idle_timeout_ms = idle_ms,
                            .now_ms = fake ? fake_clock : NULL,
                            .store = store};
    tg_session_table *t = NULL;
    tg_error err = {0};
    int rc = tg_session_table_open(&o, &t, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.message);
    return t;
}

static tg_session *create(tg_session_table *t, const char *version, const char *principal)
{
    json_t *p = json_pack("{s:s, s:{s:{s:b}, s:{}}, s:{s:s, s:s}}", "protocolVersion", version,
                          "capabilities", "roots", "listChanged", 1, "sampling", "clientInfo",
                          "name", "replica-client", "version", "2.1");
    tg_session *s = NULL;
    tg_error err = {0};
    int rc = tg_session_create(t, p, principal, &s, &err);
    json_decref(p);
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.message);
    return s;
}

/* A session made through A continues through B, with everything it
 * negotiated; changes through either are seen by the other, and an end
 * through one is an end for both. */
static void test_store_replicas(void)
{
    char *at = store_at("replicas");
    if (!at) return;
    fake_now = T0;
    tg_session_table *a = open_table(at, 0, 1000, true);
    tg_session_table *b = open_table(at, 0, 1000, true);
    if (!a || !b) goto out;

    tg_session *s = create(a, "2025-06-18", "alice");
    tg_session *f = NULL, *g = NULL;
    if (!s) goto out;
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &f), 0);
    if (!f) goto out;
    CHECK(f != s);
    CHECK_STR_EQ(tg_session_id(f), tg_session_id(s));
    CHECK_STR_EQ(tg_session_version(f), "2025-06-18");
    CHECK(tg_session_version(f) == tg_session_version(s)); /* the static string */
    CHECK_JSON(json_deep_copy(tg_session_client_capabilities(f)),
               "{\"roots\":{\"listChanged\":true},\"sampling\":{}}");
    CHECK_JSON(json_deep_copy(tg_session_client_info(f)),
               "{\"name\":\"replica-client\",\"version\":\"2.1\"}");
    CHECK_INT_EQ(tg_session_log_level(f), TG_MCP_LOG_INFO);
    CHECK(!tg_session_initialized(f));
    CHECK_INT_EQ(tg_session_table_count(b), 1);

    /* Set through B, seen through A (on A's own cached session). */
    CHECK_INT_EQ(tg_session_set_log_level(f, TG_MCP_LOG_WARNING), 0);
    CHECK_INT_EQ(tg_session_set_initialized(f), 0);
    CHECK_INT_EQ(tg_session_log_level(s), TG_MCP_LOG_INFO);
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(s), "alice", &g), 0);
    CHECK(g == s);
    CHECK_INT_EQ(tg_session_log_level(s), TG_MCP_LOG_WARNING);
    CHECK(tg_session_initialized(s));
    tg_session_release(g);
    tg_session_release(f);

    /* Another principal, or none, finds nothing, and ends nothing. */
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "mallory", &g), TG_ENOT_FOUND);
    CHECK(g == NULL);
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), NULL, &g), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_end(b, tg_session_id(s), "mallory"), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_lookup(a, "nope", "alice", &g), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &g), 0);
    CHECK(g && !tg_session_ended(g));
    tg_session_release(g);

    /* No auth: NULL matches only NULL. */
    tg_session *anon = create(b, "2025-03-26", NULL);
    if (!anon) goto out;
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(anon), NULL, &g), 0);
    CHECK(g && tg_session_version_allows_batch(tg_session_version(g)));
    tg_session_release(g);
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(anon), "alice", &g), TG_ENOT_FOUND);

    /* DELETE through B: A's next lookup sees it, and A's copy is ended. */
    CHECK_INT_EQ(tg_session_end(b, tg_session_id(s), "alice"), 0);
    CHECK(!tg_session_ended(s)); /* A has not asked yet */
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(s), "alice", &g), TG_ENOT_FOUND);
    CHECK(g == NULL);
    CHECK(tg_session_ended(s));
    CHECK_INT_EQ(tg_session_end(a, tg_session_id(s), "alice"), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_table_count(a), 1); /* anon */
    tg_session_release(s);

    /* A replica going away keeps the rows; a reference it handed out still
     * writes through. */
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(anon), NULL, &g), 0);
    tg_session_table_free(a);
    a = NULL;
    CHECK(tg_session_ended(g));
    CHECK_INT_EQ(tg_session_set_log_level(g, TG_MCP_LOG_DEBUG), 0);
    tg_session_release(g);
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(anon), NULL, &g), 0);
    CHECK(g == anon);
    CHECK_INT_EQ(tg_session_log_level(anon), TG_MCP_LOG_DEBUG);
    tg_session_release(g);
    tg_session_release(anon);
out:
    tg_session_table_free(a);
    tg_session_table_free(b);
    free(at);
}

/* Idle time is the store's: a use on any replica keeps a session alive on
 * all, and whichever replica sweeps ends it for all. */
static void test_store_expiry(void)
{
    char *at = store_at("expiry");
    if (!at) return;
    fake_now = T0;
    tg_session_table *a = open_table(at, 0, 1000, true);
    tg_session_table *b = open_table(at, 0, 1000, true);
    tg_session *s = NULL, *s2 = NULL, *g = NULL;
    if (!a || !b) goto out;
    s = create(a, "2025-11-25", "alice");
    s2 = create(a, "2025-11-25", "alice");
    if (!s || !s2) goto out;

    fake_now = T0 + 600;
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &g), 0);
    tg_session_release(g);
    /* A has not seen s for 1500 ms, B for 900: alive. s2 is not. */
    fake_now = T0 + 1500;
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(s), "alice", &g), 0);
    CHECK(g == s);
    tg_session_release(g);
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(s2), "alice", &g), TG_ENOT_FOUND);
    CHECK(tg_session_ended(s2));
    /* The lookup refused s2's row; B's sweep deletes it. */
    CHECK_INT_EQ(tg_session_expire(b), 1);
    CHECK_INT_EQ(tg_session_expire(a), 0);

    /* B has not used s for 1800 ms: it drops its copy, not the session. */
    fake_now = T0 + 2400;
    CHECK_INT_EQ(tg_session_table_count(b), 1);
    CHECK_INT_EQ(tg_session_expire(b), 0);
    CHECK_INT_EQ(tg_session_table_count(b), 0);
    CHECK(!tg_session_ended(s));
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &g), 0);
    tg_session_release(g);

    /* Idle everywhere: A's sweep ends it, and B's lookup knows. */
    fake_now = T0 + 5000;
    CHECK_INT_EQ(tg_session_expire(a), 1);
    CHECK(tg_session_ended(s));
    CHECK_INT_EQ(tg_session_table_count(a), 0);
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &g), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_session_table_count(b), 0);

    /* Without an injected clock a table with a store keeps wall-clock time
     * (CLOCK_REALTIME), which a replica with another boot time reads alike;
     * CLOCK_MONOTONIC counts from boot, and this session would look decades
     * idle to the fake-clock table below. */
    tg_session_table *real = open_table(at, 0, 1000, false);
    if (real) {
        tg_session *r = create(real, "2025-11-25", "bob");
        fake_now = tg_now_ms();
        CHECK_INT_EQ(r ? tg_session_lookup(a, tg_session_id(r), "bob", &g) : -1, 0);
        tg_session_release(g);
        fake_now += 5000;
        CHECK_INT_EQ(r ? tg_session_lookup(a, tg_session_id(r), "bob", &g) : -1, TG_ENOT_FOUND);
        tg_session_release(r);
        tg_session_table_free(real);
    }
out:
    tg_session_release(s);
    tg_session_release(s2);
    tg_session_table_free(a);
    tg_session_table_free(b);
    free(at);
}

/* max_sessions caps what one replica holds, not the store. */
static void test_store_capacity(void)
{
    char *at = store_at("capacity");
    if (!at) return;
    fake_now = T0;
    tg_session_table *a = open_table(at, 2, 1000, true);
    tg_session_table *b = open_table(at, 0, 1000, true);
    tg_session *x = NULL, *y = NULL, *z = NULL, *g = NULL, *h = NULL;
    if (!a || !b) goto out;
    x = create(a, "2025-11-25", "alice");
    y = create(a, "2025-11-25", "alice");
    json_t *p = init_params("2025-11-25");
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_create(a, p, "alice", &z, &err), TG_ECAPACITY);
    CHECK(z == NULL);
    json_decref(p);
    /* Another replica still takes sessions, and a full A still serves them. */
    z = create(b, "2025-11-25", "alice");
    if (!z) goto out;
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(z), "alice", &g), 0);
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(z), "alice", &h), 0);
    CHECK(g && h && g != h); /* uncached: each lookup reads the row */
    CHECK_INT_EQ(tg_session_table_count(a), 2);
    tg_session_release(g);
    tg_session_release(h);
    CHECK_INT_EQ(tg_session_end(a, tg_session_id(z), "alice"), 0);
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(z), "alice", &g), TG_ENOT_FOUND);
    CHECK(tg_session_ended(z));
    /* Once its sessions are idle, A makes room (its sweep ends them). */
    fake_now = T0 + 1001;
    tg_session_release(z);
    z = create(a, "2025-11-25", "alice");
    CHECK(tg_session_ended(x) && tg_session_ended(y));
    CHECK_INT_EQ(tg_session_table_count(a), 1);
out:
    tg_session_release(x);
    tg_session_release(y);
    tg_session_release(z);
    tg_session_table_free(a);
    tg_session_table_free(b);
    free(at);
}

static int raw_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)err, (void)kind;
    fprintf(stderr, "raw store: %s: %s\n", what, detail ? detail : "");
    return -1;
}

/* Runs sql on the sessions store at, as another gateway would. */
static bool store_exec(const char *at, const char *sql)
{
    tg_store *db = NULL;
    int rc = tg_store_open(at, "sessions", 0, 1000, NULL, NULL, &db, raw_fail, NULL);
    if (!rc) rc = tg_store_exec(db, sql, raw_fail, NULL);
    tg_store_close(db);
    return rc == 0;
}

/* Takes the store away under a table: PostgreSQL's database is dropped
 * (closing every connection to it), sqlite's table. */
static bool break_store(const char *at, const char *name)
{
    if (!on_postgres) return store_exec(at, "DROP TABLE sessions");
    PGconn *c = PQconnectdb(getenv("TOOLGATE_TEST_POSTGRES"));
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE test_mcp_session_%s WITH (FORCE)", name);
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

/* A row this gateway cannot serve: a version a newer replica speaks is
 * UNAVAILABLE (a replica that speaks it can serve the session), a row that
 * is not a session's is INTERNAL; neither is "not found". */
static void test_store_foreign_rows(void)
{
    char *at = store_at("foreign");
    if (!at) return;
    fake_now = T0;
    tg_session_table *t = open_table(at, 0, 1000, true);
    tg_session *s = t ? create(t, "2025-11-25", "alice") : NULL;
    tg_session *g = NULL;
    tg_session_table *fresh = open_table(at, 0, 1000, true);
    if (s && fresh) {
        CHECK(store_exec(at, "UPDATE sessions SET version = '2099-01-01'"));
        CHECK_INT_EQ(tg_session_lookup(fresh, tg_session_id(s), "alice", &g), TG_EUNAVAILABLE);
        CHECK(g == NULL);
        CHECK(store_exec(at, "UPDATE sessions SET version = '2025-11-25', client_info = '{'"));
        CHECK_INT_EQ(tg_session_lookup(fresh, tg_session_id(s), "alice", &g), TG_EINTERNAL);
        CHECK_INT_EQ(tg_session_table_count(fresh), 0);
        /* The replica that made it still has its copy, and the row is live. */
        CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "alice", &g), 0);
        tg_session_release(g);
    }
    tg_session_release(s);
    tg_session_table_free(t);
    tg_session_table_free(fresh);
    free(at);
}

/* A store that cannot be reached is UNAVAILABLE (retryable), never "not
 * found", which would make clients of live sessions start over. */
static void test_store_gone(void)
{
    tg_session_options o = {.store = on_postgres ? "postgresql://nobody@127.0.0.1:1/none"
                                                 : "/nonexistent/dir/sessions.db"};
    tg_session_table *t = (tg_session_table *)1;
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_table_open(&o, &t, &err), TG_EUNAVAILABLE);
    CHECK_INT_EQ(err.code, TG_EUNAVAILABLE);
    CHECK(t == NULL);
    CHECK(strstr(err.message, "sessions store") != NULL);
    CHECK_INT_EQ(tg_session_table_new(&o, &t), TG_EUNAVAILABLE);

    char *at = store_at("gone");
    if (!at) return;
    fake_now = T0;
    t = open_table(at, 0, 1000, true);
    tg_session *s = t ? create(t, "2025-11-25", "alice") : NULL;
    tg_session *g = NULL;
    if (s && break_store(at, "gone")) {
        CHECK_INT_EQ(tg_session_lookup(t, tg_session_id(s), "alice", &g), TG_EUNAVAILABLE);
        CHECK(g == NULL);
        CHECK(!tg_session_ended(s));
        CHECK_INT_EQ(tg_session_set_log_level(s, TG_MCP_LOG_ERROR), TG_EUNAVAILABLE);
        CHECK_INT_EQ(tg_session_log_level(s), TG_MCP_LOG_INFO);
        CHECK_INT_EQ(tg_session_set_initialized(s), TG_EUNAVAILABLE);
        CHECK(!tg_session_initialized(s));
        CHECK_INT_EQ(tg_session_end(t, tg_session_id(s), "alice"), TG_EUNAVAILABLE);
        CHECK(!tg_session_ended(s));
        json_t *p = init_params("2025-11-25");
        tg_session *n = NULL;
        CHECK_INT_EQ(tg_session_create(t, p, "alice", &n, &err), TG_EUNAVAILABLE);
        CHECK(n == NULL);
        json_decref(p);
        CHECK_INT_EQ(tg_session_expire(t), 0);
        CHECK_INT_EQ(tg_session_table_count(t), 1);
        /* An id that cannot be a session's needs no store to be unknown. */
        CHECK_INT_EQ(tg_session_lookup(t, "short", "alice", &g), TG_ENOT_FOUND);
    } else {
        CHECK(0);
    }
    tg_session_release(s);
    tg_session_table_free(t);
    free(at);
}

/* Two replicas' worth of threads on one store: creates on one, lookups,
 * writes and ends on the other. */
#define STORE_THREADS    4
#define STORE_PER_THREAD 40

static tg_session_table *replica[2];
static int store_failures[STORE_THREADS];
static struct {
    char id[TG_SESSION_ID_LEN + 1];
    bool ended;
} made[STORE_THREADS][STORE_PER_THREAD];

static void *store_worker(void *arg)
{
    int *fail = arg;
    int k = (int)(fail - store_failures);
    json_t *p = init_params("2025-11-25");
    for (int i = 0; i < STORE_PER_THREAD; i++) {
        tg_session *s = NULL, *f = NULL;
        if (tg_session_create(replica[i % 2], p, "t", &s, NULL) != 0) {
            (*fail)++;
            continue;
        }
        memcpy(made[k][i].id, tg_session_id(s), sizeof made[k][i].id);
        made[k][i].ended = i % 2 == 0;
        if (tg_session_lookup(replica[1 - i % 2], tg_session_id(s), "t", &f) != 0) (*fail)++;
        if (f && tg_session_set_log_level(f, TG_MCP_LOG_DEBUG) != 0) (*fail)++;
        tg_session_release(f);
        if (tg_session_lookup(replica[i % 2], tg_session_id(s), "t", &f) != 0 || f != s ||
            tg_session_log_level(s) != TG_MCP_LOG_DEBUG)
            (*fail)++;
        tg_session_release(f);
        if (i % 2 == 0 && tg_session_end(replica[1 - i % 2], tg_session_id(s), "t") != 0) (*fail)++;
        if (i % 7 == 0) tg_session_expire(replica[i % 2]);
        tg_session_release(s);
    }
    json_decref(p);
    return NULL;
}

static void test_store_concurrency(void)
{
    char *at = store_at("threads");
    if (!at) return;
    replica[0] = open_table(at, 0, 0, false);
    replica[1] = open_table(at, 0, 0, false);
    if (replica[0] && replica[1]) {
        pthread_t th[STORE_THREADS];
        for (int i = 0; i < STORE_THREADS; i++)
            pthread_create(&th[i], NULL, store_worker, &store_failures[i]);
        for (int i = 0; i < STORE_THREADS; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < STORE_THREADS; i++)
            CHECK_INT_EQ(store_failures[i], 0);
        /* Half the sessions were ended through the replica that did not make
         * them: both replicas agree on every one, and once they have asked,
         * each caches exactly the live half. */
        int wrong = 0;
        for (int k = 0; k < STORE_THREADS; k++) {
            for (int i = 0; i < STORE_PER_THREAD; i++) {
                for (int r = 0; r < 2; r++) {
                    tg_session *f = NULL;
                    int rc = tg_session_lookup(replica[r], made[k][i].id, "t", &f);
                    if (rc != (made[k][i].ended ? TG_ENOT_FOUND : 0)) wrong++;
                    tg_session_release(f);
                }
            }
        }
        CHECK_INT_EQ(wrong, 0);
        CHECK_INT_EQ(tg_session_table_count(replica[0]), STORE_THREADS * STORE_PER_THREAD / 2);
        CHECK_INT_EQ(tg_session_table_count(replica[1]), STORE_THREADS * STORE_PER_THREAD / 2);
    }
    tg_session_table_free(replica[0]);
    tg_session_table_free(replica[1]);
    memset(store_failures, 0, sizeof store_failures);
    free(at);
}

/* A session's endpoint (the toolset it was made on) and the tools search
 * unlocked in it: the endpoint is what it was made with, through either
 * replica; tools unlocked through one are unlocked through the other, and
 * unlocking adds (never drops) names. */
static void test_store_endpoint_and_unlocked(void)
{
    char *at = store_at("unlocked");
    if (!at) return;
    fake_now = T0;
    tg_session_table *a = open_table(at, 0, 1000, true);
    tg_session_table *b = open_table(at, 0, 1000, true);
    tg_session *s = NULL, *f = NULL, *g = NULL, *plain = NULL;
    if (!a || !b) goto out;
    json_t *p = init_params("2025-11-25");
    tg_error err = {0};
    CHECK_INT_EQ(tg_session_create_at(a, p, "alice", "crm", &s, &err), 0);
    CHECK_INT_EQ(tg_session_create(a, p, "alice", &plain, &err), 0);
    json_decref(p);
    if (!s || !plain) goto out;
    CHECK_STR_EQ(tg_session_endpoint(s), "crm");
    CHECK_STR_EQ(tg_session_endpoint(plain), "");
    CHECK(!tg_session_unlocked(s, "crm_find"));
    const char *first[] = {"crm_find", "crm_update"};
    CHECK_INT_EQ(tg_session_unlock(s, first, 2), 0);
    CHECK(tg_session_unlocked(s, "crm_find") && tg_session_unlocked(s, "crm_update"));
    CHECK(!tg_session_unlocked(plain, "crm_find"));

    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(s), "alice", &f), 0);
    if (!f) goto out;
    CHECK_STR_EQ(tg_session_endpoint(f), "crm");
    CHECK(tg_session_unlocked(f, "crm_find") && tg_session_unlocked(f, "crm_update"));
    CHECK(!tg_session_unlocked(f, "report"));
    const char *second[] = {"report", "crm_find"};
    CHECK_INT_EQ(tg_session_unlock(f, second, 2), 0);
    CHECK_INT_EQ(tg_session_lookup(a, tg_session_id(s), "alice", &g), 0);
    CHECK(g == s);
    CHECK(tg_session_unlocked(s, "report") && tg_session_unlocked(s, "crm_update"));
    tg_session_release(g);
    g = NULL;
    CHECK_INT_EQ(tg_session_lookup(b, tg_session_id(plain), "alice", &g), 0);
    CHECK(g && strcmp(tg_session_endpoint(g), "") == 0 && !tg_session_unlocked(g, "report"));
out:
    tg_session_release(g);
    tg_session_release(f);
    tg_session_release(s);
    tg_session_release(plain);
    tg_session_table_free(a);
    tg_session_table_free(b);
    free(at);
}

static void run_store_cases(void)
{
    test_store_replicas();
    test_store_endpoint_and_unlocked();
    test_store_expiry();
    test_store_capacity();
    test_store_foreign_rows();
    test_store_gone();
    test_store_concurrency();
}

int main(void)
{
    test_versions();
    test_lifecycle();
    test_endpoint_in_memory();
    test_bad_init_params();
    test_capacity();
    test_initialize_result();
    test_concurrency();

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("sqlite:\n");
    run_store_cases();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    on_postgres = true;
    char *probe = store_at("probe");
    if (probe) {
        printf("PostgreSQL:\n");
        run_store_cases();
        free(probe);
    }
    return check_report();
}
