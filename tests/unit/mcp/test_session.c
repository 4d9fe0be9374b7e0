/* Sessions and protocol versions (gateway/mcp/session.h): create, lookup, end,
 * expiry with an injected clock, principals, capacity, many threads at once,
 * version negotiation, the header check and the initialize result. */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "gateway/mcp/session.h"
#include "json_check.h"

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

int main(void)
{
    test_versions();
    test_lifecycle();
    test_bad_init_params();
    test_capacity();
    test_initialize_result();
    test_concurrency();
    return check_report();
}
