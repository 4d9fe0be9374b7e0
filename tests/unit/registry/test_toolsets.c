/* Toolsets: the definition parser (every problem with its path), the
 * matcher (exact names, globs, pins winning over globs, alwaysLoaded) and the
 * store (put, replace, get, list, delete, tenant scoping, a reopen), the
 * store on sqlite, then on PostgreSQL when TOOLGATE_TEST_POSTGRES gives a
 * cluster. */
#include "gateway/registry/toolsets.h"

#include "check.h"
#include "pgtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_toolsets.XXXXXX";
static bool on_postgres;

static tg_toolset *parse(const char *name, const char *text)
{
    json_t *def = json_loads(text, 0, NULL);
    tg_toolset *t = NULL;
    tg_error err = {0};
    int rc = tg_toolset_parse(name, def, &t, NULL, &err);
    json_decref(def);
    if (rc) fprintf(stderr, "parse %s: %s\n", text, err.message);
    return t;
}

/* The problems of a definition that must be refused, as compact JSON. */
static char *problems_of(const char *name, const char *text)
{
    json_t *def = json_loads(text, 0, NULL);
    tg_toolset *t = NULL;
    json_t *problems = NULL;
    tg_error err = {0};
    int rc = tg_toolset_parse(name, def ? def : json_null(), &t, &problems, &err);
    json_decref(def);
    CHECK_INT_EQ(rc, TG_EBAD_REQUEST);
    CHECK(t == NULL);
    CHECK(strncmp(err.message, "toolset definition: ", 20) == 0);
    char *s = problems ? json_dumps(problems, JSON_COMPACT) : strdup("none");
    json_decref(problems);
    tg_toolset_unref(t);
    return s;
}

static void check_refused(const char *name, const char *text, const char *path)
{
    char *s = problems_of(name, text);
    char want[128];
    snprintf(want, sizeof want, "\"path\":\"%s\"", path);
    if (!strstr(s, want)) fprintf(stderr, "%s: expected a problem at %s, got %s\n", text, path, s);
    CHECK(strstr(s, want) != NULL);
    free(s);
}

static void test_names(void)
{
    CHECK(tg_toolset_valid_name("default"));
    CHECK(tg_toolset_valid_name("crm-tools_2"));
    CHECK(tg_toolset_valid_name("0"));
    CHECK(!tg_toolset_valid_name(""));
    CHECK(!tg_toolset_valid_name(NULL));
    CHECK(!tg_toolset_valid_name("-x"));
    CHECK(!tg_toolset_valid_name("_x"));
    CHECK(!tg_toolset_valid_name("Crm"));
    CHECK(!tg_toolset_valid_name("a.b"));
    CHECK(!tg_toolset_valid_name("a/b"));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    CHECK(!tg_toolset_valid_name(long_name));
    long_name[64] = '\0';
    CHECK(tg_toolset_valid_name(long_name));
}

static void test_validation(void)
{
    check_refused("Bad", "{\"tools\":[\"a\"]}", "");
    check_refused("t", "[]", "");
    check_refused("t", "{}", "/tools");
    check_refused("t", "{\"tools\":[]}", "/tools");
    check_refused("t", "{\"tools\":\"a\"}", "/tools");
    check_refused("t", "{\"tools\":[1]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"a\",\"\"]}", "/tools/1");
    check_refused("t", "{\"tools\":[\"a b\"]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"a@\"]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"a*@1.0.0\"]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"@1.0.0\"]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"a@1 0\"]}", "/tools/0");
    check_refused("t", "{\"tools\":[\"a@1.0.0\",\"a@2.0.0\"]}", "/tools/1");
    check_refused("t", "{\"tools\":[\"a\"],\"mode\":\"fast\"}", "/mode");
    check_refused("t", "{\"tools\":[\"a\"],\"mode\":1}", "/mode");
    check_refused("t", "{\"tools\":[\"a\"],\"alwaysLoaded\":[\"a@1.0.0\"]}", "/alwaysLoaded/0");
    check_refused("t", "{\"tools\":[\"a\"],\"alwaysLoaded\":{}}", "/alwaysLoaded");
    check_refused("t", "{\"tools\":[\"a\"],\"description\":3}", "/description");
    check_refused("t", "{\"tools\":[\"a\"],\"extra\":true}", "/extra");
    check_refused("t", "{\"tools\":[\"a\"],\"name\":\"other\"}", "/name");
    /* An unknown field's path quotes 60 bytes of its name, never half a
     * character (é straddles the cut here). */
    check_refused("t",
                  "{\"tools\":[\"a\"],\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                  "x\xC3\xA9\":1}",
                  "/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    /* Every problem at once, not only the first. */
    char *s = problems_of("t", "{\"tools\":[1, \"ok\", \"a b\"],\"mode\":\"x\",\"zz\":1}");
    CHECK(strstr(s, "/tools/0") && strstr(s, "/tools/2") && strstr(s, "/mode") && strstr(s, "/zz"));
    free(s);
    /* A definition read back (name and updated_at) may be sent again. */
    tg_toolset *t = parse("t", "{\"name\":\"t\",\"updated_at\":5,\"tools\":[\"a\"]}");
    CHECK(t != NULL);
    tg_toolset_unref(t);
}

static void test_matcher(void)
{
    tg_toolset *t = parse("crm", "{\"tools\":[\"crm_*\", \"send_mail\", \"report@1.2.0\","
                                 " \"crm_export@abc123\", \"t?ol\"], \"mode\":\"search\","
                                 " \"alwaysLoaded\":[\"send_*\", \"missing\"],"
                                 " \"description\":\"CRM work\"}");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_STR_EQ(tg_toolset_name(t), "crm");
    CHECK_INT_EQ(tg_toolset_mode_of(t), TG_TOOLSET_SEARCH);
    const char *pin = "x";
    CHECK(tg_toolset_includes(t, "crm_sync", &pin));
    CHECK(pin == NULL);
    CHECK(tg_toolset_includes(t, "send_mail", &pin));
    CHECK(pin == NULL);
    CHECK(tg_toolset_includes(t, "report", &pin));
    CHECK_STR_EQ(pin, "1.2.0");
    /* The pin wins over the glob that matches it too. */
    CHECK(tg_toolset_includes(t, "crm_export", &pin));
    CHECK_STR_EQ(pin, "abc123");
    CHECK(tg_toolset_includes(t, "tool", NULL));
    CHECK(!tg_toolset_includes(t, "toool", NULL));
    CHECK(!tg_toolset_includes(t, "send_sms", NULL));
    CHECK(!tg_toolset_includes(t, "crm", NULL));
    CHECK(!tg_toolset_includes(t, "report2", NULL));
    CHECK(!tg_toolset_includes(t, "xcrm_sync", NULL));
    CHECK(tg_toolset_always_loaded(t, "send_mail"));
    /* alwaysLoaded never adds a tool the toolset does not have. */
    CHECK(!tg_toolset_always_loaded(t, "send_sms"));
    CHECK(!tg_toolset_always_loaded(t, "missing"));
    CHECK(!tg_toolset_always_loaded(t, "crm_sync"));
    json_t *doc = tg_toolset_json(t);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR_EQ(s, "{\"alwaysLoaded\":[\"send_*\",\"missing\"],\"description\":\"CRM work\","
                    "\"mode\":\"search\",\"name\":\"crm\",\"tools\":[\"crm_*\",\"send_mail\","
                    "\"report@1.2.0\",\"crm_export@abc123\",\"t?ol\"]}");
    free(s);
    json_decref(doc);
    tg_toolset_unref(t);

    t = parse("all", "{\"tools\":[\"*\"]}");
    CHECK(t && tg_toolset_mode_of(t) == TG_TOOLSET_ALL);
    CHECK(t && tg_toolset_includes(t, "anything.at-all", NULL));
    CHECK(t && !tg_toolset_always_loaded(t, "anything"));
    tg_toolset_unref(t);
}

static const char *where(const char *name)
{
    return pgtest_where(on_postgres, dir, "test_toolsets", name);
}

static void test_store(void)
{
    const char *at = where("toolsets.db");
    CHECK(at != NULL);
    if (!at) return;
    tg_toolsets *s = NULL;
    tg_error err = {0};
    CHECK_INT_EQ(tg_toolsets_open(at, &s, &err), 0);
    if (!s) {
        fprintf(stderr, "%s\n", err.message);
        return;
    }
    tg_toolset *a = parse("alpha", "{\"tools\":[\"a_*\"]}");
    tg_toolset *b = parse("beta", "{\"tools\":[\"b@1.0.0\"], \"mode\":\"search\"}");
    bool created = false;
    CHECK_INT_EQ(tg_toolsets_put(s, "t1", b, &created, &err), 0);
    CHECK(created);
    CHECK_INT_EQ(tg_toolsets_put(s, "t1", a, &created, &err), 0);
    CHECK(created);
    CHECK_INT_EQ(tg_toolsets_put(s, "t2", a, &created, &err), 0);
    tg_toolset *a2 = parse("alpha", "{\"tools\":[\"x\"], \"description\":\"now x\"}");
    CHECK_INT_EQ(tg_toolsets_put(s, "t1", a2, &created, &err), 0);
    CHECK(!created);

    tg_toolset *got = NULL;
    CHECK_INT_EQ(tg_toolsets_get(s, "t1", "alpha", &got, &err), 0);
    CHECK(got && tg_toolset_includes(got, "x", NULL) && !tg_toolset_includes(got, "a_1", NULL));
    tg_toolset_unref(got);
    CHECK_INT_EQ(tg_toolsets_get(s, "t2", "alpha", &got, &err), 0);
    CHECK(got && tg_toolset_includes(got, "a_1", NULL));
    tg_toolset_unref(got);
    CHECK_INT_EQ(tg_toolsets_get(s, "t2", "beta", &got, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_toolsets_get(s, "t1", "Bad Name", &got, &err), TG_ENOT_FOUND);

    json_t *list = NULL;
    CHECK_INT_EQ(tg_toolsets_list(s, "t1", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "name")), "alpha");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 1), "mode")), "search");
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "updated_at")) > 0);
    json_decref(list);

    CHECK_INT_EQ(tg_toolsets_delete(s, "t1", "beta", &err), 0);
    CHECK_INT_EQ(tg_toolsets_delete(s, "t1", "beta", &err), TG_ENOT_FOUND);
    tg_toolsets_close(s);

    /* What was stored is there after a reopen. */
    s = NULL;
    CHECK_INT_EQ(tg_toolsets_open(at, &s, &err), 0);
    CHECK_INT_EQ(tg_toolsets_list(s, "t1", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "description")),
                 "now x");
    json_decref(list);
    CHECK_INT_EQ(tg_toolsets_list(s, "nobody", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    tg_toolsets_close(s);
    tg_toolset_unref(a);
    tg_toolset_unref(a2);
    tg_toolset_unref(b);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    test_names();
    test_validation();
    test_matcher();
    test_store();
    on_postgres = true;
    const char *pg = getenv("TOOLGATE_TEST_POSTGRES");
    if (pg && *pg)
        test_store();
    else
        fprintf(stderr, "TOOLGATE_TEST_POSTGRES is not set: PostgreSQL cases skipped\n");
    pgtest_forget();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return check_report();
}
