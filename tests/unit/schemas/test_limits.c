/* Hostile schemas and instances: size and depth limits, costly patterns,
 * deep recursion, large arrays and objects, and concurrent use of one
 * compiled schema. Each must end in a clear answer, never a crash or a stall. */
#include "check.h"
#include "gateway/core/alloc.h"
#include "schemas/schema.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v) fprintf(stderr, "bad test JSON: %s\n", err.text);
    return v;
}

static tg_schema *compile_opts(const char *text, const tg_schema_options *opts)
{
    json_t *doc = parse(text);
    tg_schema *s = NULL;
    tg_schema_error err;
    if (tg_schema_compile(doc, opts, &s, &err))
        fprintf(stderr, "compile failed: %s at %s\n", err.message, err.schema_path);
    json_decref(doc);
    return s;
}

static json_t *nested_not(size_t depth)
{
    json_t *s = json_object();
    for (size_t i = 0; i < depth; i++)
        s = json_pack("{s:o}", "not", s);
    return s;
}

static void test_schema_depth(void)
{
    json_t *deep = nested_not(200);
    tg_schema *s = NULL;
    tg_schema_error err;
    CHECK_INT_EQ(tg_schema_compile(deep, NULL, &s, &err), TG_SCHEMA_ELIMIT);
    CHECK_STR_EQ(err.message, "schema is nested more than 128 levels deep");
    CHECK(strncmp(err.schema_path, "/not/not/not", 12) == 0);
    json_decref(deep);

    json_t *ok = nested_not(100);
    CHECK_INT_EQ(tg_schema_compile(ok, NULL, &s, &err), 0);
    json_t *x = json_integer(1);
    /* An even number of nots around {} accepts everything. */
    CHECK(tg_schema_valid(s, x));
    tg_schema_free(s);
    json_decref(x);
    json_decref(ok);
}

static void test_schema_size(void)
{
    tg_schema_options opts = {.max_schema_nodes = 10};
    json_t *props = json_object();
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        json_object_set_new(props, name, json_pack("{s:s}", "type", "string"));
    }
    json_t *doc = json_pack("{s:o}", "properties", props);
    tg_schema *s = NULL;
    tg_schema_error err;
    CHECK_INT_EQ(tg_schema_compile(doc, &opts, &s, &err), TG_SCHEMA_ELIMIT);
    CHECK_STR_EQ(err.message, "schema has more than 10 subschemas");
    json_decref(doc);
}

static void test_violation_cap(void)
{
    tg_schema *s = compile_opts("{\"items\":{\"type\":\"string\"}}", NULL);
    json_t *arr = json_array();
    for (int i = 0; i < 500; i++)
        json_array_append_new(arr, json_integer(i));
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, arr, &v), 1);
    CHECK_INT_EQ(v.count, 100);
    CHECK(v.truncated);
    CHECK_STR_EQ(v.items[99].path, "/99");
    tg_schema_violations_free(&v);
    json_decref(arr);
    tg_schema_free(s);
}

static void test_redos(void)
{
    tg_schema *s = compile_opts("{\"type\":\"string\",\"pattern\":\"^(a+)+$\"}", NULL);
    CHECK(s != NULL);
    char subject[64];
    memset(subject, 'a', 40);
    subject[40] = '!';
    subject[41] = '\0';
    json_t *x = json_string(subject);
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    CHECK_INT_EQ(v.count, 1);
    if (v.count)
        CHECK_STR_EQ(v.items[0].message,
                     "pattern \"^(a+)+$\" is too costly to match against this value");
    tg_schema_violations_free(&v);
    json_decref(x);
    tg_schema_free(s);
}

static void test_deep_instance(void)
{
    tg_schema *s = compile_opts("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", NULL);
    json_t *x = json_array();
    for (int i = 0; i < 2000; i++)
        x = json_pack("[o]", x);
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    CHECK_INT_EQ(v.count, 1);
    if (v.count) CHECK_STR_EQ(v.items[0].message, "instance is nested too deeply to validate");
    tg_schema_violations_free(&v);
    json_decref(x);

    x = json_array();
    for (int i = 0; i < 100; i++)
        x = json_pack("[o]", x);
    CHECK(tg_schema_valid(s, x));
    json_decref(x);
    tg_schema_free(s);
}

static void test_large_arrays(void)
{
    tg_schema *s = compile_opts("{\"uniqueItems\":true}", NULL);
    json_t *x = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(x, json_pack("{s:i}", "id", i));
    CHECK(tg_schema_valid(s, x));
    /* 1.0 equals 1, far apart in a large array. */
    json_array_append_new(x, json_pack("{s:f}", "id", 17.0));
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    if (v.count)
        CHECK_STR_EQ(v.items[0].message,
                     "must not contain duplicates (items 17 and 100000 are equal)");
    tg_schema_violations_free(&v);
    json_decref(x);
    tg_schema_free(s);
}

static void test_wide_objects(void)
{
    /* Over 64 members: the evaluated-property record leaves its inline word. */
    tg_schema *s = compile_opts("{\"patternProperties\":{\"^p\":{\"type\":\"integer\"}},"
                                "\"unevaluatedProperties\":false}",
                                NULL);
    json_t *x = json_object();
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        json_object_set_new(x, name, json_integer(i));
    }
    CHECK(tg_schema_valid(s, x));
    json_object_set_new(x, "q", json_true());
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    CHECK_INT_EQ(v.count, 1);
    if (v.count) CHECK_STR_EQ(v.items[0].path, "/q");
    tg_schema_violations_free(&v);
    json_decref(x);
    tg_schema_free(s);
}

static void test_fan_out(void)
{
    /* d0 -> d1 twice -> d2 four times ...: 2^40 evaluations of one integer. */
    json_t *defs = json_object();
    for (int i = 0; i < 40; i++) {
        char name[16], ref[32];
        snprintf(name, sizeof name, "d%d", i);
        snprintf(ref, sizeof ref, "#/$defs/d%d", i + 1);
        json_object_set_new(defs, name,
                            json_pack("{s:[{s:s},{s:s}]}", "allOf", "$ref", ref, "$ref", ref));
    }
    json_object_set_new(defs, "d40", json_pack("{s:s}", "type", "integer"));
    json_t *doc = json_pack("{s:o, s:s}", "$defs", defs, "$ref", "#/$defs/d0");
    tg_schema_options opts = {.max_steps = 100000};
    tg_schema *s = NULL;
    CHECK_INT_EQ(tg_schema_compile(doc, &opts, &s, NULL), 0);
    json_t *x = json_integer(1);
    CHECK(!tg_schema_valid(s, x));
    tg_schema_violations v;
    CHECK_INT_EQ(tg_schema_validate(s, x, &v), 1);
    CHECK_INT_EQ(v.count, 1);
    if (v.count)
        CHECK_STR_EQ(
            v.items[0].message,
            "validation stopped: the schema takes more than 100000 steps on this instance");
    tg_schema_violations_free(&v);
    json_decref(x);
    json_decref(doc);
    tg_schema_free(s);
}

typedef struct thread_job {
    const tg_schema *schema;
    int mismatches;
} thread_job;

static void *validate_many(void *arg)
{
    thread_job *job = arg;
    json_t *good = parse("{\"name\":\"abc\",\"n\":3}");
    json_t *bad = parse("{\"name\":\"ABC\",\"n\":30}");
    for (int i = 0; i < 2000; i++) {
        tg_schema_violations v;
        if (tg_schema_validate(job->schema, good, &v) != 0) job->mismatches++;
        if (tg_schema_validate(job->schema, bad, &v) != 1 || v.count != 2) job->mismatches++;
        tg_schema_violations_free(&v);
    }
    json_decref(good);
    json_decref(bad);
    return NULL;
}

static void test_threads(void)
{
    tg_schema *s = compile_opts("{\"properties\":{\"name\":{\"pattern\":\"^[a-z]+$\"},"
                                "\"n\":{\"maximum\":10}}}",
                                NULL);
    thread_job jobs[4] = {{s, 0}, {s, 0}, {s, 0}, {s, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, validate_many, &jobs[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(jobs[i].mismatches, 0);
    }
    tg_schema_free(s);
}

int main(void)
{
    test_schema_depth();
    test_schema_size();
    test_violation_cap();
    test_redos();
    test_deep_instance();
    test_large_arrays();
    test_wide_objects();
    test_fan_out();
    test_threads();
    return check_report();
}
