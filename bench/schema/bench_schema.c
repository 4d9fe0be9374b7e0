/* bench_schema: times toolgate's JSON Schema validator on the cases in
 * bench/schema/cases and prints one JSON line per case, with the same fields
 * bench_ajv.js prints for ajv, so run.sh can join the two into one table.
 *
 *   bench_schema CASES_DIR [SECONDS_PER_MEASUREMENT]
 *
 * Instances are parsed before any clock starts: parsing is not validation. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/core/alloc.h"
#include "schemas/schema.h"

/* Every result is added here and the total printed at exit, so the compiler
 * cannot prove a validation unused and drop it. */
static volatile size_t sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench_case {
    const tg_schema *schema;
    json_t **instances; /* borrowed from the case document */
    size_t count;
} bench_case;

/* One pass: every instance validated once. */
typedef void (*pass_fn)(const bench_case *c);

static void pass_check(const bench_case *c)
{
    size_t valid = 0;
    for (size_t i = 0; i < c->count; i++)
        valid += tg_schema_valid(c->schema, c->instances[i]);
    sink += valid;
}

static void pass_errors(const bench_case *c)
{
    size_t errors = 0;
    for (size_t i = 0; i < c->count; i++) {
        tg_schema_violations v = {0};
        if (tg_schema_validate(c->schema, c->instances[i], &v) != 0) errors += v.count;
        tg_schema_violations_free(&v);
    }
    sink += errors;
}

/* Runs passes in batches that take about a millisecond, so reading the clock
 * costs nothing next to the work, after a warm-up that fills the caches and
 * sizes the batch; then times ROUNDS rounds and keeps the best, since noise
 * from the rest of the machine only ever slows a round down. Mirrors
 * passesPerSecond in bench_ajv.js. */
enum { ROUNDS = 3 };

static double passes_per_second(pass_fn pass, const bench_case *c, double seconds)
{
    size_t batch = 1;
    double warm_end = now_s() + seconds / 4;
    while (now_s() < warm_end) {
        double t0 = now_s();
        for (size_t i = 0; i < batch; i++)
            pass(c);
        if (now_s() - t0 < 0.001) batch *= 2;
    }
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        size_t passes = 0;
        double start = now_s(), elapsed;
        do {
            for (size_t i = 0; i < batch; i++)
                pass(c);
            passes += batch;
            elapsed = now_s() - start;
        } while (elapsed < seconds / ROUNDS);
        if ((double)passes / elapsed > best) best = (double)passes / elapsed;
    }
    return best;
}

/* Mean time of repeated compiles, in microseconds; only the compile call is
 * timed, not the free. Returns a negative number when the schema does not
 * compile, with err filled. */
static double compile_micros(json_t *schema, const tg_schema_options *opts, double seconds,
                             tg_schema_error *err)
{
    double total = 0, end = now_s() + (seconds / 2 < 0.2 ? seconds / 2 : 0.2);
    size_t n = 0;
    do {
        tg_schema *s = NULL;
        double t0 = now_s();
        int rc = tg_schema_compile(schema, opts, &s, err);
        total += now_s() - t0;
        if (rc != 0) return -1;
        tg_schema_free(s);
        n++;
    } while (n < 3 || now_s() < end);
    return total / (double)n * 1e6;
}

/* Copies the (borrowed) instances of the array doc[key] to out. */
static void collect(json_t *doc, const char *key, json_t **out)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, key), i, v) out[i] = v;
}

/* Returns: new reference, the case's result line (or NULL when the file is
 * not a case document, reported on stderr). */
static json_t *run_case(const char *dir, const char *file, double seconds)
{
    char *path = tg_xasprintf("%s/%s", dir, file);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    json_t *line = NULL;
    json_t **instances = NULL;
    tg_schema *schema = NULL;
    if (!doc || !json_is_array(json_object_get(doc, "valid")) ||
        !json_is_array(json_object_get(doc, "invalid"))) {
        fprintf(stderr, "bench_schema: %s: not a case (%s)\n", path,
                doc ? "needs valid and invalid arrays" : jerr.text);
        goto out;
    }

    size_t n_valid = json_array_size(json_object_get(doc, "valid"));
    size_t n_invalid = json_array_size(json_object_get(doc, "invalid"));
    instances = tg_xcalloc(n_valid + n_invalid + 1, sizeof *instances);
    collect(doc, "valid", instances);
    collect(doc, "invalid", instances + n_valid);
    bench_case c = {.instances = instances, .count = n_valid + n_invalid};

    line = json_object();
    json_object_set_new(line, "validator", json_string("toolgate"));
    json_object_set_new(line, "case", json_stringn(file, strlen(file) - strlen(".json")));

    tg_schema_options opts = {.format_assert = true};
    tg_schema_error err = {0};
    json_t *schema_doc = json_object_get(doc, "schema");
    double compile_us = compile_micros(schema_doc, &opts, seconds, &err);
    if (compile_us < 0 || tg_schema_compile(schema_doc, &opts, &schema, &err) != 0) {
        char *msg = tg_xasprintf("%s (at %s)", err.message, err.schema_path);
        json_object_set_new(line, "compile_error", json_string(msg));
        free(msg);
        goto out;
    }
    json_object_set_new(line, "compile_us", json_real(compile_us));
    c.schema = schema;

    json_t *check = json_array(), *errors = json_array();
    size_t error_count = 0;
    for (size_t i = 0; i < c.count; i++) {
        json_array_append_new(check, json_boolean(tg_schema_valid(schema, instances[i])));
        tg_schema_violations v = {0};
        int rc = tg_schema_validate(schema, instances[i], &v);
        json_array_append_new(errors, json_boolean(rc == 0));
        if (rc != 0) error_count += v.count;
        tg_schema_violations_free(&v);
    }
    json_object_set_new(line, "verdicts_check", check);
    json_object_set_new(line, "verdicts_errors", errors);
    json_object_set_new(line, "errors_per_invalid",
                        json_real(n_invalid ? (double)error_count / (double)n_invalid : 0));

    json_object_set_new(line, "check_per_sec",
                        json_real((double)c.count * passes_per_second(pass_check, &c, seconds)));
    json_object_set_new(line, "errors_per_sec",
                        json_real((double)c.count * passes_per_second(pass_errors, &c, seconds)));

out:
    tg_schema_free(schema);
    free(instances);
    json_decref(doc);
    free(path);
    return line;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    double seconds = 0.4;
    if (argc == 3) {
        char *end;
        seconds = strtod(argv[2], &end);
        if (*end != '\0' || !(seconds > 0)) argc = 0;
    }
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: bench_schema CASES_DIR [SECONDS]\n");
        return 2;
    }

    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "bench_schema: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char **files = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            files = tg_xrealloc(files, (n + 1) * sizeof *files);
            files[n++] = tg_xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (n > 0) qsort(files, n, sizeof *files, by_name);

    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *line = run_case(argv[1], files[i], seconds);
        if (line) {
            json_dumpf(line, stdout, JSON_COMPACT);
            putchar('\n');
            fflush(stdout);
            json_decref(line);
        } else {
            rc = 1;
        }
        free(files[i]);
    }
    free(files);
    fprintf(stderr, "toolgate: done (sink %zu)\n", (size_t)sink);
    return rc;
}
