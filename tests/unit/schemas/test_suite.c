/* Runs the official JSON Schema Test Suite (draft 2020-12) against the engine.
 *
 * Every file under tests/draft2020-12/ is required: any failure fails the test.
 * Files under optional/ are counted and listed separately; optional/format/
 * runs with format assertion on, as its tests expect. Remote references to
 * http://localhost:1234/ are served from the suite's remotes/ folder.
 *
 * Each test also checks that the engine agrees with itself: the fast path
 * (tg_schema_valid) and the collecting path (tg_schema_validate) must give the
 * same answer, and an invalid instance must come with at least one violation. */
#include "check.h"
#include "schemas/mapdir.h"
#include "schemas/schema.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally {
    int passed, failed;
} tally;

static tg_schema_mapdirs remotes;

static json_t *load_suite_file(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &err);
    /* bignum.json holds integers beyond 64 bits, which jansson reads only as reals. */
    if (!doc) doc = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!doc) fprintf(stderr, "%s: %s (line %d)\n", path, err.text, err.line);
    return doc;
}

static void run_file(const char *path, const char *label, bool format_assert, tally *t)
{
    json_t *groups = load_suite_file(path);
    if (!groups) {
        t->failed++;
        return;
    }
    size_t gi;
    json_t *group;
    json_array_foreach(groups, gi, group)
    {
        const char *gdesc = json_string_value(json_object_get(group, "description"));
        json_t *tests = json_object_get(group, "tests");
        tg_schema_options opts = {
            .resolve = tg_schema_mapdir_resolve,
            .resolve_userdata = &remotes,
            .format_assert = format_assert,
        };
        tg_schema *schema = NULL;
        tg_schema_error err;
        int rc = tg_schema_compile(json_object_get(group, "schema"), &opts, &schema, &err);
        size_t ti;
        json_t *test;
        json_array_foreach(tests, ti, test)
        {
            const char *tdesc = json_string_value(json_object_get(test, "description"));
            bool expected = json_is_true(json_object_get(test, "valid"));
            json_t *data = json_object_get(test, "data");
            if (rc != 0) {
                t->failed++;
                printf("FAIL %s: %s / %s: schema did not compile: %s at \"%s\"\n", label, gdesc,
                       tdesc, err.message, err.schema_path);
                continue;
            }
            bool fast = tg_schema_valid(schema, data);
            tg_schema_violations v;
            int full = tg_schema_validate(schema, data, &v);
            bool consistent = (full == 0) == fast && (fast || v.count > 0);
            if (fast == expected && consistent) {
                t->passed++;
            } else {
                t->failed++;
                printf("FAIL %s: %s / %s: expected %s, got %s%s\n", label, gdesc, tdesc,
                       expected ? "valid" : "invalid", fast ? "valid" : "invalid",
                       consistent ? "" : " (fast and collecting paths disagree)");
            }
            tg_schema_violations_free(&v);
        }
        tg_schema_free(schema);
    }
    json_decref(groups);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every .json file of dir in name order. */
static void run_dir(const char *dir, const char *prefix, bool format_assert, tally *t)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        t->failed++;
        return;
    }
    char *names[256];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 256) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    for (size_t i = 0; i < count; i++) {
        char path[4096], label[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(label, sizeof label, "%s%s", prefix, names[i]);
        run_file(path, label, format_assert, t);
        free(names[i]);
    }
}

int main(void)
{
    const char *shared = getenv("TOOLGATE_SHARED_DIR");
    if (!shared) shared = "../shared";
    char suite[4096], dir[4200], remotes_dir[4200];
    snprintf(suite, sizeof suite, "%s/json-schema-test-suite", shared);
    snprintf(remotes_dir, sizeof remotes_dir, "%s/remotes", suite);
    tg_schema_mapdir map = {"http://localhost:1234/", remotes_dir};
    remotes = (tg_schema_mapdirs){&map, 1};

    tally required = {0}, optional = {0}, formats = {0};
    snprintf(dir, sizeof dir, "%s/tests/draft2020-12", suite);
    run_dir(dir, "", false, &required);
    snprintf(dir, sizeof dir, "%s/tests/draft2020-12/optional", suite);
    run_dir(dir, "optional/", false, &optional);
    snprintf(dir, sizeof dir, "%s/tests/draft2020-12/optional/format", suite);
    run_dir(dir, "optional/format/", true, &formats);

    printf("optional: %d passed, %d failed\n", optional.passed, optional.failed);
    printf("optional/format: %d passed, %d failed\n", formats.passed, formats.failed);
    printf("required: %d passed, %d failed\n", required.passed, required.failed);
    /* The required tests decide; the optional ones are reported above. */
    check_passed = required.passed;
    check_failed = required.failed;
    if (required.passed == 0) check_failed++;
    return check_report();
}
