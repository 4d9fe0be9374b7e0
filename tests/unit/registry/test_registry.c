/* The worker registry on both backends, a sqlite file in a temporary folder
 * and a fresh PostgreSQL database (pgtest.h): deploys from folders the test
 * writes, idempotence, versions, rollback, delete, tenant isolation, manifest
 * problems listed in full, path and size limits, definition hashes,
 * deprecations,
 * reopening, reads racing a deploy, and two registries (replicas) deploying
 * the same worker at once. */
#include "check.h"
#include "gateway/registry/registry.h"
#include "gateway/store/store.h"
#include "pgtest.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256];
static const char *where; /* the store under test: a path in base, or a URL */

#define MANIFEST_FMT                                                                               \
    "{\"name\": \"crm_sync\", \"version\": \"%s\", \"title\": \"Sync CRM contacts\","              \
    " \"description\": \"Fetches contacts.\", \"runtime\": \"python3\", \"entry\": \"main.py\","   \
    " \"inputSchema\": {\"type\": \"object\", \"properties\": {\"since\": {\"type\": \"%s\","      \
    " \"format\": \"date\"}}, \"required\": [\"since\"]},"                                         \
    " \"outputSchema\": {\"type\": \"object\"},"                                                   \
    " \"annotations\": {\"readOnlyHint\": true},"                                                  \
    " \"limits\": {\"timeout_ms\": 10000, \"memory_mb\": 128, \"max_output_bytes\": 1048576},"     \
    " \"egress\": [{\"origin\": \"https://api.crm.example\", \"methods\": [\"GET\"],"              \
    " \"inject\": {\"header\": \"Authorization\", \"secret\": \"CRM_TOKEN\","                      \
    " \"format\": \"Bearer {}\"}}],"                                                               \
    " \"triggers\": {\"schedule\": \"*/15 * * * *\", \"arguments\": {\"since\": %s},"              \
    " \"button\": true}}"

static void write_file(const char *dir, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* Make the parent folders of rel. */
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(content, f);
    fclose(f);
}

/* A worker folder base/<name> with the standard manifest and main.py. */
static char *make_worker(const char *name, const char *semver, const char *since_type,
                         const char *code)
{
    char *dir = malloc(512);
    snprintf(dir, 512, "%s/%s", base, name);
    mkdir(dir, 0755);
    char manifest[4096];
    /* Scheduled runs' arguments must pass the inputSchema at deploy. */
    const char *since = strcmp(since_type, "string") == 0 ? "\"2026-01-01\"" : "0";
    snprintf(manifest, sizeof manifest, MANIFEST_FMT, semver, since_type, since);
    write_file(dir, "toolgate.json", manifest);
    write_file(dir, "main.py", code);
    write_file(dir, "lib/util.py", "def f(): return 1\n");
    return dir;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int changes;
static tg_registry_event last_event;
static bool last_definition_changed;
static void on_change(const tg_registry_change *change, void *ud)
{
    (void)ud;
    changes++;
    last_event = change->event;
    last_definition_changed = change->definition_changed;
}

static json_t *detail(const tg_registry_error *err, size_t i, const char *key)
{
    return json_object_get(json_array_get(err->details, i), key);
}

static const char *detail_str(const tg_registry_error *err, size_t i, const char *key)
{
    const char *s = json_string_value(detail(err, i, key));
    return s ? s : "(none)";
}

/* Adds the stage tenant's violation counts to *(int *)ctx. */
static void count_violation(void *ctx, const char *tenant, const char *name, const char *version,
                            int64_t count)
{
    (void)name;
    (void)version;
    if (strcmp(tenant, "stage") == 0) *(int *)ctx += (int)count;
}

/* The engine's order of violations is its own; look for one anywhere. */
static bool has_problem(const tg_registry_error *err, const char *path, const char *keyword)
{
    for (size_t i = 0; i < json_array_size(err->details); i++)
        if (strcmp(detail_str(err, i, "path"), path) == 0 &&
            strcmp(detail_str(err, i, "keyword"), keyword) == 0)
            return true;
    return false;
}

static void dump_details(const tg_registry_error *err)
{
    if (!err->details) return;
    char *s = json_dumps(err->details, JSON_COMPACT);
    fprintf(stderr, "  details: %s\n", s);
    free(s);
}

static void test_deploy_cycle(tg_registry *reg, char v1[65], char v2[65])
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char *dir = make_worker("w1", "1.0.0", "string", "print('hello')\n");

    int rc = tg_registry_deploy_dir(reg, "acme", dir, &res, &err);
    if (rc) fprintf(stderr, "deploy: %s\n", err.message), dump_details(&err);
    CHECK_INT_EQ(rc, 0);
    CHECK(res.created);
    CHECK(res.changed);
    CHECK_INT_EQ(strlen(res.version), 64);
    CHECK_INT_EQ(changes, 1);
    CHECK_INT_EQ(last_event, TG_REGISTRY_DEPLOYED);
    CHECK(last_definition_changed);
    memcpy(v1, res.version, 65);

    /* The same content again: same version, nothing written, no notification. */
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), 0);
    CHECK_STR_EQ(res.version, v1);
    CHECK(!res.created);
    CHECK(!res.changed);
    CHECK_INT_EQ(changes, 1);

    /* New code: a new version that becomes current. */
    write_file(dir, "main.py", "print('hello, world')\n");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), 0);
    CHECK(res.created);
    CHECK(res.changed);
    CHECK(strcmp(res.version, v1) != 0);
    CHECK_INT_EQ(changes, 2);
    /* Only the code changed: clients need not list the tools again. */
    CHECK(!last_definition_changed);
    memcpy(v2, res.version, 65);

    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "acme", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    json_t *w = json_array_get(list, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(w, "name")), "crm_sync");
    CHECK_STR_EQ(json_string_value(json_object_get(w, "version")), v2);
    CHECK_STR_EQ(json_string_value(json_object_get(w, "semver")), "1.0.0");
    CHECK_STR_EQ(json_string_value(json_object_get(w, "title")), "Sync CRM contacts");
    CHECK_STR_EQ(json_string_value(json_object_get(w, "description")), "Fetches contacts.");
    CHECK(json_integer_value(json_object_get(w, "updated_at")) > 0);
    json_decref(list);

    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "acme", "crm_sync", &got, &err), 0);
    json_t *versions = json_object_get(got, "versions");
    CHECK_INT_EQ(json_array_size(versions), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(versions, 0), "version")), v1);
    CHECK(json_is_false(json_object_get(json_array_get(versions, 0), "current")));
    CHECK(json_is_true(json_object_get(json_array_get(versions, 1), "current")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "manifest"), "entry")),
                 "main.py");
    json_decref(got);

    /* Resolve sees the code files, sorted, without the manifest. */
    tg_registry_snapshot *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &s, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), v2);
    CHECK_STR_EQ(tg_registry_snapshot_name(s), "crm_sync");
    CHECK_INT_EQ(tg_registry_snapshot_file_count(s), 2);
    CHECK_STR_EQ(tg_registry_snapshot_file(s, 0)->path, "lib/util.py");
    CHECK_STR_EQ(tg_registry_snapshot_file(s, 1)->path, "main.py");
    CHECK_STR_EQ((const char *)tg_registry_snapshot_file(s, 1)->data, "print('hello, world')\n");
    CHECK(tg_registry_snapshot_file(s, 2) == NULL);
    CHECK(tg_registry_snapshot_input_schema(s) != NULL);
    CHECK(tg_registry_snapshot_output_schema(s) != NULL);
    /* format is an assertion in the compiled input schema. */
    json_t *good = json_pack("{s:s}", "since", "2024-01-31");
    json_t *bad = json_pack("{s:s}", "since", "yesterday");
    CHECK(tg_schema_valid(tg_registry_snapshot_input_schema(s), good));
    CHECK(!tg_schema_valid(tg_registry_snapshot_input_schema(s), bad));
    json_decref(good);
    json_decref(bad);

    /* Resolving again hands out the cached snapshot: nothing recompiled. */
    tg_registry_snapshot *again = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &again, &err), 0);
    CHECK(again == s);
    tg_registry_snapshot_unref(again);

    /* Rollback moves the pointer; the old snapshot stays usable. */
    CHECK_INT_EQ(tg_registry_rollback(reg, "acme", "crm_sync", v1, &err), 0);
    CHECK_INT_EQ(changes, 3);
    CHECK_INT_EQ(last_event, TG_REGISTRY_ROLLED_BACK);
    CHECK(!last_definition_changed);
    tg_registry_snapshot *old = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &old, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(old), v1);
    CHECK_STR_EQ((const char *)tg_registry_snapshot_file(old, 1)->data, "print('hello')\n");
    CHECK_STR_EQ(tg_registry_snapshot_version(s), v2);
    /* Only the code changed: the tool definition, and its hash, did not. */
    CHECK_STR_EQ(tg_registry_snapshot_definition_hash(old),
                 tg_registry_snapshot_definition_hash(s));
    CHECK_INT_EQ(strlen(tg_registry_snapshot_definition_hash(s)), 64);
    tg_registry_snapshot_unref(old);
    tg_registry_snapshot_unref(s);

    /* Rolling back to the current version is a no-op; to an unknown one, refused. */
    CHECK_INT_EQ(tg_registry_rollback(reg, "acme", "crm_sync", v1, &err), 0);
    CHECK_INT_EQ(changes, 3);
    CHECK_INT_EQ(tg_registry_rollback(reg, "acme", "crm_sync", "00", &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_rollback(reg, "acme", "nope", v1, &err), TG_REGISTRY_ENOTFOUND);

    /* Redeploying an older version's content makes it current without a new row. */
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), 0);
    CHECK_STR_EQ(res.version, v2);
    CHECK(!res.created);
    CHECK(res.changed);
    CHECK_INT_EQ(changes, 4);

    tg_registry_error_clear(&err);
    free(dir);
}

/* Counts, in *(int *)ctx, the workers handed over that have a schedule. */
static void count_scheduled(void *ctx, const char *tenant, const char *name, const json_t *manifest)
{
    (void)tenant;
    (void)name;
    if (json_is_string(json_object_get(json_object_get(manifest, "triggers"), "schedule")))
        ++*(int *)ctx;
}

/* Only current versions with a schedule are the scheduler's. */
static void test_scheduled(tg_registry *reg)
{
    tg_registry_error err = {0};
    int seen = 0;
    CHECK_INT_EQ(tg_registry_scheduled(reg, count_scheduled, &seen, &err), 0);
    CHECK_INT_EQ(seen, 1);
    char text[4096];
    snprintf(text, sizeof text, MANIFEST_FMT, "1.0.0", "string", "\"2026-01-01\"");
    json_t *manifest = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_object_del(manifest, "triggers");
    const unsigned char code[] = "x";
    tg_registry_file files[] = {{"main.py", code, 1}};
    tg_registry_deploy_result res;
    CHECK_INT_EQ(tg_registry_deploy(reg, "unscheduled", manifest, files, 1, &res, &err), 0);
    seen = 0;
    CHECK_INT_EQ(tg_registry_scheduled(reg, count_scheduled, &seen, &err), 0);
    CHECK_INT_EQ(seen, 1);
    CHECK_INT_EQ(tg_registry_delete(reg, "unscheduled", "crm_sync", &err), 0);
    json_decref(manifest);
    tg_registry_error_clear(&err);
}

/* Staging stores a version without moving the current one; the staged
 * version resolves by id, is made current or discarded; a definition change
 * is told apart from a code change; drift is counted per version. */
static void test_stage_and_drift(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    int before = changes;
    char *dir = make_worker("staged", "1.0.0", "string", "print(1)\n");
    /* A worker never deployed stays absent while its first version is staged. */
    json_t *manifest = NULL;
    tg_registry_file *files = NULL;
    size_t nfiles = 0;
    CHECK_INT_EQ(tg_registry_read_dir(dir, NULL, &manifest, &files, &nfiles, &err), 0);
    CHECK_INT_EQ(tg_registry_stage(reg, "stage", manifest, files, nfiles, &res, &err), 0);
    CHECK(res.created);
    CHECK(!res.changed);
    CHECK_INT_EQ(changes, before);
    char first[65];
    memcpy(first, res.version, 65);
    tg_registry_snapshot *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "stage", "crm_sync", &s, &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_resolve_version(reg, "stage", "crm_sync", first, &s, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), first);
    tg_registry_snapshot_unref(s);
    CHECK_INT_EQ(tg_registry_resolve_version(reg, "other", "crm_sync", first, &s, &err),
                 TG_REGISTRY_ENOTFOUND);
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "stage", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);

    /* Made current: a first version is a definition clients have not seen. */
    CHECK_INT_EQ(tg_registry_rollback(reg, "stage", "crm_sync", first, &err), 0);
    CHECK_INT_EQ(changes, before + 1);
    CHECK(last_definition_changed);
    CHECK_INT_EQ(tg_registry_discard(reg, "stage", "crm_sync", first, &err), TG_REGISTRY_EINVALID);

    /* A new definition, staged then discarded: the current one never moved. */
    tg_registry_files_free(files, nfiles);
    json_decref(manifest);
    char *retyped = make_worker("staged", "1.1.0", "integer", "print(2)\n");
    CHECK_INT_EQ(tg_registry_read_dir(retyped, NULL, &manifest, &files, &nfiles, &err), 0);
    CHECK_INT_EQ(tg_registry_stage(reg, "stage", manifest, files, nfiles, &res, &err), 0);
    char second[65];
    memcpy(second, res.version, 65);
    CHECK_INT_EQ(changes, before + 1);
    CHECK_INT_EQ(tg_registry_resolve(reg, "stage", "crm_sync", &s, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), first);
    tg_registry_snapshot_unref(s);
    CHECK_INT_EQ(tg_registry_discard(reg, "stage", "crm_sync", second, &err), 0);
    CHECK_INT_EQ(tg_registry_resolve_version(reg, "stage", "crm_sync", second, &s, &err),
                 TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_discard(reg, "stage", "crm_sync", second, &err),
                 TG_REGISTRY_ENOTFOUND);

    /* Deployed for real, the new definition is told to clients. */
    CHECK_INT_EQ(tg_registry_deploy(reg, "stage", manifest, files, nfiles, &res, &err), 0);
    CHECK_INT_EQ(changes, before + 2);
    CHECK(last_definition_changed);

    /* Drift is counted on the version it happened on, and survives in get. */
    CHECK_INT_EQ(tg_registry_note_violation(reg, "stage", "crm_sync", res.version, &err), 0);
    CHECK_INT_EQ(tg_registry_note_violation(reg, "stage", "crm_sync", res.version, &err), 0);
    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "stage", "crm_sync", &got, &err), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(got, "output_schema_violations")), 2);
    json_t *versions = json_object_get(got, "versions");
    CHECK_INT_EQ(json_array_size(versions), 2);
    json_t *older = json_array_get(versions, 0), *newer = json_array_get(versions, 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(older, "output_schema_violations")), 0);
    CHECK(json_is_null(json_object_get(older, "last_violation_at")));
    CHECK_INT_EQ(json_integer_value(json_object_get(newer, "output_schema_violations")), 2);
    CHECK(json_integer_value(json_object_get(newer, "last_violation_at")) > 0);
    const char *h1 = json_string_value(json_object_get(older, "definition_hash"));
    const char *h2 = json_string_value(json_object_get(newer, "definition_hash"));
    CHECK(h1 && h2 && strlen(h1) == 64 && strcmp(h1, h2) != 0);
    CHECK_STR_EQ(json_string_value(json_object_get(got, "definition_hash")), h2 ? h2 : "");
    CHECK(json_is_null(json_object_get(newer, "fixtures")));
    json_decref(got);

    /* The last fixture replay is kept with its version. */
    CHECK_INT_EQ(tg_registry_note_fixtures(reg, "stage", "crm_sync", res.version, 3, 1, &err), 0);
    CHECK_INT_EQ(tg_registry_get(reg, "stage", "crm_sync", &got, &err), 0);
    json_t *fixtures =
        json_object_get(json_array_get(json_object_get(got, "versions"), 1), "fixtures");
    CHECK_INT_EQ(json_integer_value(json_object_get(fixtures, "passed")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(fixtures, "failed")), 1);
    CHECK(json_integer_value(json_object_get(fixtures, "checked_at")) > 0);
    CHECK(json_is_null(
        json_object_get(json_array_get(json_object_get(got, "versions"), 0), "fixtures")));
    json_decref(got);
    CHECK_INT_EQ(tg_registry_note_fixtures(reg, "stage", "crm_sync", "0000", 1, 0, &err), 0);

    /* Who deployed a version last is kept with it; none before it is noted. */
    char *deployer = NULL;
    CHECK_INT_EQ(tg_registry_deployer(reg, "stage", "crm_sync", res.version, &deployer, &err), 0);
    CHECK(deployer == NULL);
    CHECK_INT_EQ(
        tg_registry_note_deployer(reg, "stage", "crm_sync", res.version, "stage/alice", &err), 0);
    CHECK_INT_EQ(
        tg_registry_note_deployer(reg, "stage", "crm_sync", res.version, "stage/bob", &err), 0);
    CHECK_INT_EQ(tg_registry_deployer(reg, "stage", "crm_sync", res.version, &deployer, &err), 0);
    CHECK(deployer && strcmp(deployer, "stage/bob") == 0);
    free(deployer);
    CHECK_INT_EQ(tg_registry_deployer(reg, "other", "crm_sync", res.version, &deployer, &err), 0);
    CHECK(deployer == NULL);
    CHECK_INT_EQ(tg_registry_note_deployer(reg, "stage", "crm_sync", res.version, NULL, &err),
                 TG_REGISTRY_EARG);
    tg_registry_error_clear(&err);
    int seen = 0;
    CHECK_INT_EQ(tg_registry_violations(reg, count_violation, &seen, &err), 0);
    CHECK_INT_EQ(seen, 2);

    tg_registry_files_free(files, nfiles);
    json_decref(manifest);
    tg_registry_error_clear(&err);
    free(dir);
    free(retyped);
}

static void test_tenants(tg_registry *reg, const char *v2)
{
    tg_registry_error err = {0};
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "other", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "other", "crm_sync", &got, &err), TG_REGISTRY_ENOTFOUND);
    CHECK(got == NULL);
    tg_registry_snapshot *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "other", "crm_sync", &s, &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_rollback(reg, "other", "crm_sync", v2, &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_delete(reg, "other", "crm_sync", &err), TG_REGISTRY_ENOTFOUND);

    /* The same worker in tenant B is B's own: deleting it leaves A's alone. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/w1", base);
    tg_registry_deploy_result res;
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "other", dir, &res, &err), 0);
    CHECK(res.created);
    CHECK_INT_EQ(tg_registry_delete(reg, "other", "crm_sync", &err), 0);
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &s, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), v2);
    tg_registry_snapshot_unref(s);
    CHECK_INT_EQ(tg_registry_get(reg, "acme", "crm_sync", &got, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(got, "versions")), 2);
    json_decref(got);
    tg_registry_error_clear(&err);
}

/* Egress rules set at runtime: checked against the manifest's shape, per
 * tenant, removed with NULL (and with the worker, in test_reopen_and_delete). */
static void test_egress_rules(tg_registry *reg)
{
    tg_registry_error err = {0};
    json_t *rules = json_loads("[{\"origin\": \"https://api.example.com\", \"methods\": [\"GET\"],"
                               " \"inject\": {\"query\": \"key\", \"secret\": \"K\"}}]",
                               0, NULL);
    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &got, &err), 0);
    CHECK(got == NULL);
    CHECK_INT_EQ(tg_registry_set_egress(reg, "acme", "crm_sync", rules, &err), 0);
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &got, &err), 0);
    CHECK(got && json_equal(got, rules));
    json_decref(got);
    CHECK_INT_EQ(tg_registry_set_egress(reg, "other", "crm_sync", rules, &err),
                 TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_egress(reg, "other", "crm_sync", &got, &err), 0);
    CHECK(got == NULL);
    json_t *bad =
        json_loads("[{\"origin\": \"http://plain.example\"},"
                   " {\"origin\": \"https://a.example\", \"inject\": {\"secret\": \"K\"}}]",
                   0, NULL);
    CHECK_INT_EQ(tg_registry_set_egress(reg, "acme", "crm_sync", bad, &err), TG_REGISTRY_EINVALID);
    CHECK(json_array_size(err.details) >= 2);
    json_decref(bad);
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &got, &err), 0);
    CHECK(got && json_equal(got, rules));
    json_decref(got);
    CHECK_INT_EQ(tg_registry_set_egress(reg, "acme", "crm_sync", NULL, &err), 0);
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &got, &err), 0);
    CHECK(got == NULL);
    /* Left set for test_reopen_and_delete to find after a reopen. */
    CHECK_INT_EQ(tg_registry_set_egress(reg, "acme", "crm_sync", rules, &err), 0);
    json_decref(rules);
    tg_registry_error_clear(&err);
}

static void test_manifest_problems(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char *dir = make_worker("w3", "1.0.0", "string", "x\n");
    /* Three problems: a bad name, an unknown runtime, a timeout below the minimum. */
    write_file(dir, "toolgate.json",
               "{\"name\": \"bad name!\", \"version\": \"1.0.0\", \"runtime\": \"ruby\","
               " \"entry\": \"main.py\", \"inputSchema\": {\"type\": \"object\"},"
               " \"limits\": {\"timeout_ms\": 5}}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_INT_EQ(json_array_size(err.details), 3);
    if (json_array_size(err.details) != 3) dump_details(&err);
    CHECK(has_problem(&err, "/name", "pattern"));
    CHECK(has_problem(&err, "/runtime", "enum"));
    CHECK(has_problem(&err, "/limits/timeout_ms", "minimum"));
    CHECK(json_is_string(detail(&err, 0, "message")));

    /* An unknown top-level key, a bad version and a missing entry file. */
    write_file(dir, "toolgate.json",
               "{\"name\": \"ok\", \"version\": \"1.0\", \"runtime\": \"sh\","
               " \"entry\": \"run.sh\", \"inputSchema\": {\"type\": \"object\"}, \"extra\": 1}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_INT_EQ(json_array_size(err.details), 3);
    if (json_array_size(err.details) != 3) dump_details(&err);
    CHECK(has_problem(&err, "/extra", "additionalProperties"));
    CHECK(has_problem(&err, "/version", "pattern"));
    CHECK(has_problem(&err, "/entry", "entry"));

    /* inputSchema must be an object schema, as MCP requires. */
    write_file(dir, "toolgate.json",
               "{\"name\": \"ok\", \"version\": \"1.0.0\", \"runtime\": \"sh\","
               " \"entry\": \"main.py\", \"inputSchema\": {\"type\": \"array\"}}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_STR_EQ(detail_str(&err, 0, "path"), "/inputSchema/type");

    /* An inputSchema that does not compile: refused with its schema path. */
    write_file(dir, "toolgate.json",
               "{\"name\": \"ok\", \"version\": \"1.0.0\", \"runtime\": \"sh\","
               " \"entry\": \"main.py\", \"inputSchema\": {\"type\": \"object\","
               " \"properties\": {\"x\": {\"type\": \"strnig\"}}}}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_INT_EQ(json_array_size(err.details), 1);
    CHECK(strncmp(detail_str(&err, 0, "path"), "/inputSchema/properties/x", 25) == 0);
    if (strncmp(detail_str(&err, 0, "path"), "/inputSchema/properties/x", 25) != 0)
        dump_details(&err);
    CHECK_STR_EQ(detail_str(&err, 0, "keyword"), "schema");

    /* A schema path too long for its buffer is cut between characters, so a
     * long non-ASCII property name still yields a problem with a JSON path. */
    char manifest[2048];
    int at = snprintf(manifest, sizeof manifest,
                      "{\"name\": \"ok\", \"version\": \"1.0.0\", \"runtime\": \"sh\","
                      " \"entry\": \"main.py\", \"inputSchema\": {\"type\": \"object\","
                      " \"properties\": {\"");
    for (int i = 0; i < 300; i++)
        at += snprintf(manifest + at, sizeof manifest - (size_t)at, "\u00e9");
    snprintf(manifest + at, sizeof manifest - (size_t)at, "\": {\"type\": \"strnig\"}}}}");
    write_file(dir, "toolgate.json", manifest);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_INT_EQ(json_array_size(err.details), 1);
    CHECK(strncmp(detail_str(&err, 0, "path"), "/inputSchema/properties/\u00e9", 26) == 0);

    /* Entries that leave the folder are refused by the schema. */
    write_file(dir, "toolgate.json",
               "{\"name\": \"ok\", \"version\": \"1.0.0\", \"runtime\": \"sh\","
               " \"entry\": \"../main.py\", \"inputSchema\": {\"type\": \"object\"}}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_STR_EQ(detail_str(&err, 0, "path"), "/entry");

    /* Duplicate keys and broken JSON. */
    write_file(dir, "toolgate.json", "{\"name\": \"a\", \"name\": \"b\"}");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK_STR_EQ(detail_str(&err, 0, "keyword"), "json");
    write_file(dir, "toolgate.json", "{\"name\": ");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "acme", dir, &res, &err), TG_REGISTRY_EINVALID);

    /* Nothing of those reached the store. */
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "acme", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    json_decref(list);
    tg_registry_error_clear(&err);
    free(dir);
}

static void test_paths_and_limits(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char *dir = make_worker("w4", "2.0.0", "string", "print(1)\n");
    char link[600], outside[600];

    /* A symlink inside the folder is a file of the worker... */
    snprintf(link, sizeof link, "%s/alias.py", dir);
    CHECK_INT_EQ(symlink("main.py", link), 0);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "paths", dir, &res, &err), 0);
    tg_registry_snapshot *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "paths", "crm_sync", &s, &err), 0);
    CHECK_INT_EQ(tg_registry_snapshot_file_count(s), 3);
    CHECK_STR_EQ(tg_registry_snapshot_file(s, 0)->path, "alias.py");
    CHECK_STR_EQ((const char *)tg_registry_snapshot_file(s, 0)->data, "print(1)\n");
    tg_registry_snapshot_unref(s);
    unlink(link);

    /* ...one that leaves it is refused. */
    snprintf(outside, sizeof outside, "%s/secret.txt", base);
    write_file(base, "secret.txt", "s3cret\n");
    snprintf(link, sizeof link, "%s/lib/leak.txt", dir);
    CHECK_INT_EQ(symlink(outside, link), 0);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "paths", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK(strstr(err.message, "lib/leak.txt") != NULL);
    unlink(link);
    snprintf(link, sizeof link, "%s/up", dir);
    CHECK_INT_EQ(symlink("..", link), 0);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "paths", dir, &res, &err), TG_REGISTRY_EINVALID);
    unlink(link);

    /* In memory: paths that escape, duplicates and a missing entry, all listed. */
    json_error_t jerr;
    char manifest_text[4096];
    snprintf(manifest_text, sizeof manifest_text, MANIFEST_FMT, "3.0.0", "string",
             "\"2026-01-01\"");
    json_t *manifest = json_loads(manifest_text, JSON_REJECT_DUPLICATES, &jerr);
    const unsigned char code[] = "x";
    tg_registry_file files[] = {
        {"../evil.py", code, 1}, {"/abs.py", code, 1}, {"a/./b", code, 1},
        {"dup.py", code, 1},     {"dup.py", code, 1},  {"toolgate.json", code, 1},
    };
    CHECK_INT_EQ(tg_registry_deploy(reg, "paths", manifest, files, 6, &res, &err),
                 TG_REGISTRY_EINVALID);
    /* five bad paths, and entry main.py is missing */
    CHECK_INT_EQ(json_array_size(err.details), 6);
    if (json_array_size(err.details) != 6) dump_details(&err);
    CHECK(has_problem(&err, "/files/..~1evil.py", "path"));
    CHECK(has_problem(&err, "/files/a~1.~1b", "path"));
    CHECK(has_problem(&err, "/files/dup.py", "path"));
    CHECK(has_problem(&err, "/entry", "entry"));

    tg_registry_file ok[] = {{"main.py", code, 1}, {"empty", NULL, 0}};
    CHECK_INT_EQ(tg_registry_deploy(reg, "paths", manifest, ok, 2, &res, &err), 0);
    CHECK(res.created);
    CHECK_INT_EQ(tg_registry_resolve(reg, "paths", "crm_sync", &s, &err), 0);
    CHECK_INT_EQ(tg_registry_snapshot_file_count(s), 2);
    CHECK_INT_EQ(tg_registry_snapshot_file(s, 0)->len, 0);
    tg_registry_snapshot_unref(s);

    /* Size, count and depth limits, from a store opened with small ones (in
     * PostgreSQL, the same database: the limits are the opener's). */
    char path[600];
    snprintf(path, sizeof path, "%s/small.db", base);
    tg_registry *small = NULL;
    tg_registry_options opts = {.max_total_bytes = 1000, .max_files = 3, .max_depth = 2};
    CHECK_INT_EQ(tg_registry_open(tg_store_is_url(where) ? where : path, &opts, &small, &err), 0);
    CHECK_INT_EQ(tg_registry_deploy_dir(small, "t", dir, &res, &err), 0);
    char big[1500];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file(dir, "big.bin", big);
    CHECK_INT_EQ(tg_registry_deploy_dir(small, "t", dir, &res, &err), TG_REGISTRY_ELIMIT);
    write_file(dir, "big.bin", "small");
    write_file(dir, "more.txt", "one too many");
    CHECK_INT_EQ(tg_registry_deploy_dir(small, "t", dir, &res, &err), TG_REGISTRY_ELIMIT);
    snprintf(path, sizeof path, "%s/big.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/more.txt", dir);
    unlink(path);
    write_file(dir, "a/b/c/deep.txt", "deep");
    CHECK_INT_EQ(tg_registry_deploy_dir(small, "t", dir, &res, &err), TG_REGISTRY_ELIMIT);
    big[999] = '\0';
    tg_registry_file too_big[] = {{"main.py", (const unsigned char *)big, 1001}};
    CHECK_INT_EQ(tg_registry_deploy(small, "t", manifest, too_big, 1, &res, &err),
                 TG_REGISTRY_ELIMIT);
    tg_registry_close(small);

    json_decref(manifest);
    tg_registry_error_clear(&err);
    free(dir);
}

static void test_definition_hash(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char *dir = make_worker("w5", "1.0.0", "string", "a\n");
    tg_registry_snapshot *a = NULL, *b = NULL, *c = NULL;
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "defs", dir, &res, &err), 0);
    CHECK_INT_EQ(tg_registry_resolve(reg, "defs", "crm_sync", &a, &err), 0);
    /* A semver bump and new code leave the tool definition unchanged... */
    free(make_worker("w5", "1.0.1", "string", "b\n"));
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "defs", dir, &res, &err), 0);
    CHECK_INT_EQ(tg_registry_resolve(reg, "defs", "crm_sync", &b, &err), 0);
    CHECK(strcmp(tg_registry_snapshot_version(a), tg_registry_snapshot_version(b)) != 0);
    CHECK_STR_EQ(tg_registry_snapshot_definition_hash(a), tg_registry_snapshot_definition_hash(b));
    /* ...a change to the inputSchema changes it. */
    free(make_worker("w5", "1.0.2", "integer", "b\n"));
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "defs", dir, &res, &err), 0);
    CHECK_INT_EQ(tg_registry_resolve(reg, "defs", "crm_sync", &c, &err), 0);
    CHECK(strcmp(tg_registry_snapshot_definition_hash(a),
                 tg_registry_snapshot_definition_hash(c)) != 0);
    tg_registry_snapshot_unref(a);
    tg_registry_snapshot_unref(b);
    tg_registry_snapshot_unref(c);
    tg_registry_error_clear(&err);
    free(dir);
}

/* 2099-01-31T00:00:00Z, a sunset far ahead. */
#define SUNSET_2099 INT64_C(4073500800000)

/* Deprecation: per version, shown in the description's first line and the
 * definition hash, told to the change callback when the current version's
 * listing changes, kept across a deploy of other versions, undone, and
 * gone with the worker. */
static void test_deprecation(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char v1[65];
    char *dir = make_worker("w8", "1.0.0", "string", "a\n");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "dep", dir, &res, &err), 0);
    memcpy(v1, res.version, sizeof v1);
    free(make_worker("w8", "1.0.1", "string", "b\n"));
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "dep", dir, &res, &err), 0);
    tg_registry_snapshot *before = NULL, *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "dep", "crm_sync", &before, &err), 0);
    CHECK(tg_registry_snapshot_deprecation(before) == NULL);
    CHECK_STR_EQ(tg_registry_snapshot_description(before), "Fetches contacts.");
    CHECK(!tg_registry_snapshot_retired(before, INT64_MAX));

    /* The current version (1.0.1), with a replacement. */
    tg_registry_deprecation d = {SUNSET_2099, "use crm_sync_v2 instead", "crm_sync_v2"};
    size_t count = 0;
    int before_changes = changes;
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, &d, &count, &err), 0);
    CHECK_INT_EQ(count, 1);
    CHECK_INT_EQ(changes, before_changes + 1);
    CHECK_INT_EQ(last_event, TG_REGISTRY_DEPRECATED);
    CHECK(last_definition_changed);
    CHECK_INT_EQ(tg_registry_resolve(reg, "dep", "crm_sync", &s, &err), 0);
    const tg_registry_deprecation *got = tg_registry_snapshot_deprecation(s);
    CHECK(got != NULL);
    if (got) {
        CHECK_INT_EQ(got->sunset_ms, SUNSET_2099);
        CHECK_STR_EQ(got->message, "use crm_sync_v2 instead");
        CHECK_STR_EQ(got->replacement, "crm_sync_v2");
    }
    CHECK_STR_EQ(tg_registry_snapshot_description(s),
                 "Deprecated: use crm_sync_v2 instead (sunset 2099-01-31)\nFetches contacts.");
    CHECK(strcmp(tg_registry_snapshot_definition_hash(s),
                 tg_registry_snapshot_definition_hash(before)) != 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), tg_registry_snapshot_version(before));
    CHECK(tg_registry_snapshot_file_count(s) == tg_registry_snapshot_file_count(before));
    CHECK(!tg_registry_snapshot_retired(s, SUNSET_2099 - 1));
    CHECK(tg_registry_snapshot_retired(s, SUNSET_2099));
    /* A snapshot resolved before keeps what it saw. */
    CHECK(tg_registry_snapshot_deprecation(before) == NULL);
    json_t *got_json = got ? tg_registry_deprecation_json(got) : NULL;
    char *shown = got_json ? json_dumps(got_json, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(got_json);
    CHECK_STR_EQ(shown ? shown : "(none)",
                 "{\"message\":\"use crm_sync_v2 instead\",\"replacement\":\"crm_sync_v2\","
                 "\"sunset\":\"2099-01-31\"}");
    free(shown);
    tg_registry_deprecation noon = {SUNSET_2099 + 45005000, "m", NULL};
    json_t *noon_json = tg_registry_deprecation_json(&noon);
    CHECK_STR_EQ(json_string_value(json_object_get(noon_json, "sunset")), "2099-01-31T12:30:05Z");
    CHECK(json_is_null(json_object_get(noon_json, "replacement")));
    json_decref(noon_json);

    /* The same deprecation again changes nothing a client sees. */
    before_changes = changes;
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, &d, &count, &err), 0);
    CHECK_INT_EQ(changes, before_changes);

    /* Another version, by semver, with the message worded for it: not the
     * current one, so nothing to tell. */
    tg_registry_deprecation bare = {SUNSET_2099, NULL, NULL};
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", "1.0.0", &bare, &count, &err), 0);
    CHECK_INT_EQ(count, 1);
    CHECK_INT_EQ(changes, before_changes);
    tg_registry_snapshot *old = NULL;
    CHECK_INT_EQ(tg_registry_resolve_version(reg, "dep", "crm_sync", v1, &old, &err), 0);
    CHECK(tg_registry_snapshot_deprecation(old) != NULL);
    if (tg_registry_snapshot_deprecation(old)) {
        CHECK_STR_EQ(tg_registry_snapshot_deprecation(old)->message, "this tool will be retired");
        CHECK(tg_registry_snapshot_deprecation(old)->replacement == NULL);
    }
    tg_registry_snapshot_unref(old);
    json_t *worker = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "dep", "crm_sync", &worker, &err), 0);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(worker, "deprecation"), "replacement")),
        "crm_sync_v2");
    CHECK_STR_EQ(json_string_value(json_object_get(worker, "definition_hash")),
                 tg_registry_snapshot_definition_hash(s));
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "dep", &list, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(list, 0), "deprecation"), "sunset")),
                 "2099-01-31");
    json_decref(list);
    json_t *versions = json_object_get(worker, "versions");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(versions, 0), "deprecation"), "message")),
                 "this tool will be retired");
    json_decref(worker);

    /* Refused: two lines, a replacement that is no name, no such version
     * or worker, another tenant's worker. */
    tg_registry_deprecation two_lines = {SUNSET_2099, "one\ntwo", NULL};
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, &two_lines, NULL, &err),
                 TG_REGISTRY_EINVALID);
    tg_registry_deprecation empty_name = {SUNSET_2099, "m", ""};
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, &empty_name, NULL, &err),
                 TG_REGISTRY_EINVALID);
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", "9.9.9", &d, NULL, &err),
                 TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "nope", NULL, &d, NULL, &err),
                 TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_deprecate(reg, "other", "crm_sync", NULL, &d, NULL, &err),
                 TG_REGISTRY_ENOTFOUND);

    /* Undone for every version: the definition is what it was. */
    before_changes = changes;
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, NULL, &count, &err), 0);
    CHECK_INT_EQ(count, 2);
    CHECK_INT_EQ(changes, before_changes + 1);
    CHECK(last_definition_changed);
    tg_registry_snapshot *after = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "dep", "crm_sync", &after, &err), 0);
    CHECK(tg_registry_snapshot_deprecation(after) == NULL);
    CHECK_STR_EQ(tg_registry_snapshot_definition_hash(after),
                 tg_registry_snapshot_definition_hash(before));
    tg_registry_snapshot_unref(after);

    /* A deleted worker's deprecations go with it. */
    CHECK_INT_EQ(tg_registry_deprecate(reg, "dep", "crm_sync", NULL, &d, NULL, &err), 0);
    CHECK_INT_EQ(tg_registry_delete(reg, "dep", "crm_sync", &err), 0);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "dep", dir, &res, &err), 0);
    CHECK_INT_EQ(tg_registry_resolve(reg, "dep", "crm_sync", &after, &err), 0);
    CHECK(tg_registry_snapshot_deprecation(after) == NULL);
    tg_registry_snapshot_unref(after);

    tg_registry_snapshot_unref(s);
    tg_registry_snapshot_unref(before);
    tg_registry_error_clear(&err);
    free(dir);
}

/* Readers hammer resolve, list and get while the main thread deploys. */
typedef struct reader_arg {
    tg_registry *reg;
    atomic_int *stop;
    int errors;
    int reads;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    tg_registry_error err = {0};
    while (!atomic_load(a->stop)) {
        tg_registry_snapshot *s = NULL;
        if (tg_registry_resolve(a->reg, "race", "crm_sync", &s, &err) != 0) {
            fprintf(stderr, "resolve: %s\n", err.message);
            a->errors++;
        } else if (tg_registry_snapshot_file_count(s) != 2 ||
                   strncmp((const char *)tg_registry_snapshot_file(s, 1)->data, "v", 1) != 0) {
            a->errors++;
        }
        tg_registry_snapshot_unref(s);
        json_t *list = NULL;
        if (tg_registry_list(a->reg, "race", &list, &err) != 0 || json_array_size(list) != 1)
            a->errors++;
        json_decref(list);
        json_t *got = NULL;
        if (tg_registry_get(a->reg, "race", "crm_sync", &got, &err) != 0) a->errors++;
        json_decref(got);
        a->reads++;
    }
    tg_registry_error_clear(&err);
    return NULL;
}

static void test_concurrent_reads(tg_registry *reg)
{
    tg_registry_error err = {0};
    tg_registry_deploy_result res;
    char *dir = make_worker("w6", "1.0.0", "string", "v0\n");
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "race", dir, &res, &err), 0);
    atomic_int stop;
    atomic_init(&stop, 0);
    enum { NREADERS = 4 };
    pthread_t th[NREADERS];
    reader_arg args[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        args[i] = (reader_arg){.reg = reg, .stop = &stop};
        CHECK_INT_EQ(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    int deploy_errors = 0;
    for (int i = 1; i <= 30; i++) {
        char code[32];
        snprintf(code, sizeof code, "v%d\n", i);
        write_file(dir, "main.py", code);
        if (tg_registry_deploy_dir(reg, "race", dir, &res, &err) != 0 || !res.created) {
            fprintf(stderr, "deploy %d: %s\n", i, err.message);
            deploy_errors++;
        }
    }
    atomic_store(&stop, 1);
    int reads = 0, errors = 0;
    for (int i = 0; i < NREADERS; i++) {
        pthread_join(th[i], NULL);
        reads += args[i].reads;
        errors += args[i].errors;
    }
    CHECK_INT_EQ(deploy_errors, 0);
    CHECK_INT_EQ(errors, 0);
    CHECK(reads > 0);
    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "race", "crm_sync", &got, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(got, "versions")), 31);
    json_decref(got);
    tg_registry_error_clear(&err);
    free(dir);
}

static void test_reopen_and_delete(const char *db, const char *v2)
{
    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    CHECK_INT_EQ(tg_registry_open(db, NULL, &reg, &err), 0);
    tg_registry_set_change_callback(reg, on_change, NULL);
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "acme", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "version")), v2);
    json_decref(list);
    tg_registry_snapshot *s = NULL;
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &s, &err), 0);
    CHECK_STR_EQ(tg_registry_snapshot_version(s), v2);
    CHECK_STR_EQ((const char *)tg_registry_snapshot_file(s, 1)->data, "print('hello, world')\n");

    json_t *rules = NULL;
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &rules, &err), 0);
    CHECK(json_array_size(rules) == 1);
    json_decref(rules);

    /* Delete: gone from every read, while a held snapshot stays valid. */
    int before = changes;
    CHECK_INT_EQ(tg_registry_delete(reg, "acme", "crm_sync", &err), 0);
    CHECK_INT_EQ(changes, before + 1);
    CHECK_INT_EQ(last_event, TG_REGISTRY_DELETED);
    CHECK_STR_EQ(tg_registry_snapshot_name(s), "crm_sync");
    tg_registry_snapshot_unref(s);
    CHECK_INT_EQ(tg_registry_resolve(reg, "acme", "crm_sync", &s, &err), TG_REGISTRY_ENOTFOUND);
    json_t *got = NULL;
    CHECK_INT_EQ(tg_registry_get(reg, "acme", "crm_sync", &got, &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_list(reg, "acme", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    CHECK_INT_EQ(tg_registry_delete(reg, "acme", "crm_sync", &err), TG_REGISTRY_ENOTFOUND);
    CHECK_INT_EQ(tg_registry_egress(reg, "acme", "crm_sync", &rules, &err), 0);
    CHECK(rules == NULL);
    tg_registry_close(reg);
    tg_registry_error_clear(&err);
}

static int store_failed(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    (void)err;
    fprintf(stderr, "store (%d): %s: %s\n", (int)kind, what, detail ? detail : "");
    return -1;
}

/* A connection of the test's own to the registry's store, as another
 * process would have. */
static tg_store *raw_store(const char *db)
{
    tg_store *h = NULL;
    CHECK_INT_EQ(tg_store_open(db, "registry", 0, 5000, NULL, NULL, &h, store_failed, NULL), 0);
    return h;
}

/* The first column of the one row sql returns, as text. */
static char *query(tg_store *h, const char *sql)
{
    tg_stmt *st = NULL;
    char *out = NULL;
    if (tg_store_prepare(h, &st, store_failed, NULL, sql, 0) == 0 &&
        tg_stmt_step(st, store_failed, NULL) == 1)
        out = strdup(tg_stmt_text(st, 0));
    tg_stmt_finalize(st);
    return out ? out : strdup("(no row)");
}

/* The store is at schema version 5 (a sqlite file in WAL mode), and a store
 * from a newer toolgate is refused rather than misread. */
static void test_store_format(const char *db)
{
    tg_registry *open_reg = NULL;
    tg_registry_error ping_err = {0};
    CHECK_INT_EQ(tg_registry_open(db, NULL, &open_reg, &ping_err), 0);
    CHECK_INT_EQ(tg_registry_ping(open_reg, &ping_err), 0);
    tg_registry_close(open_reg);
    tg_store *h = raw_store(db);
    if (!h) return;
    bool pg = tg_store_backend(h) == TG_STORE_POSTGRES;
    char *text;
    if (!pg) {
        text = query(h, "PRAGMA journal_mode");
        CHECK_STR_EQ(text, "wal");
        free(text);
    }
    text = query(h, pg ? "SELECT version FROM public.toolgate_schema WHERE component = 'registry'"
                       : "PRAGMA user_version");
    CHECK_STR_EQ(text, "6");
    free(text);
    CHECK_INT_EQ(tg_store_exec(h,
                               pg ? "UPDATE public.toolgate_schema SET version = 99"
                                    " WHERE component = 'registry'"
                                  : "PRAGMA user_version = 99",
                               store_failed, NULL),
                 0);
    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    CHECK_INT_EQ(tg_registry_open(db, NULL, &reg, &err), TG_REGISTRY_ESTORE);
    CHECK(reg == NULL);
    CHECK(strstr(err.message, "99") != NULL);
    CHECK_INT_EQ(tg_store_exec(h,
                               pg ? "UPDATE public.toolgate_schema SET version = 6"
                                    " WHERE component = 'registry'"
                                  : "PRAGMA user_version = 6",
                               store_failed, NULL),
                 0);
    tg_store_close(h);
    tg_registry_error_clear(&err);
}

/* A store another process holds locked (sqlite's write lock; in PostgreSQL,
 * the versions table against writers): the deploy fails with ESTORE after
 * the busy timeout, writes nothing, and succeeds once the lock is gone. */
static void test_store_busy(const char *db)
{
    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    tg_registry_options opts = {.busy_timeout_ms = 50};
    CHECK_INT_EQ(tg_registry_open(db, &opts, &reg, &err), 0);
    char *dir = make_worker("w7", "9.0.0", "string", "locked\n");
    tg_store *h = raw_store(db);
    if (!h) return;
    CHECK_INT_EQ(tg_store_begin(h, store_failed, NULL), 0);
    if (tg_store_backend(h) == TG_STORE_POSTGRES)
        CHECK_INT_EQ(tg_store_exec(h, "LOCK TABLE versions IN EXCLUSIVE MODE", store_failed, NULL),
                     0);
    tg_registry_deploy_result res;
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "busy", dir, &res, &err), TG_REGISTRY_ESTORE);
    CHECK(!res.created && !res.changed);
    /* Readers are not blocked by the writer (WAL, MVCC). */
    json_t *list = NULL;
    CHECK_INT_EQ(tg_registry_list(reg, "busy", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(list), 0);
    json_decref(list);
    tg_store_rollback(h);
    tg_store_close(h);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "busy", dir, &res, &err), 0);
    CHECK(res.created);
    CHECK_INT_EQ(tg_registry_delete(reg, "busy", "crm_sync", &err), 0);

    /* A folder without a manifest is refused with the reason. */
    char path[600];
    snprintf(path, sizeof path, "%s/toolgate.json", dir);
    unlink(path);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "busy", dir, &res, &err), TG_REGISTRY_EINVALID);
    CHECK(strstr(err.message, "toolgate.json") != NULL);
    CHECK_INT_EQ(tg_registry_deploy_dir(reg, "busy", "/nonexistent/worker", &res, &err),
                 TG_REGISTRY_EIO);
    tg_registry_close(reg);
    tg_registry_error_clear(&err);
    free(dir);
}

/* Two registries on one store, as two replicas (or two processes on one
 * sqlite file) are, deploying the same versions of one new worker at once:
 * every deploy succeeds, each version is stored once, and both end on the
 * same current version. */
typedef struct replica {
    tg_registry *reg;
    json_t *manifest;
    int errors;
    pthread_t thread;
} replica;

enum { REPLICA_VERSIONS = 12 };

static void *replica_deploys(void *arg)
{
    replica *r = arg;
    tg_registry_error err = {0};
    for (int i = 0; i < REPLICA_VERSIONS; i++) {
        char code[32];
        snprintf(code, sizeof code, "v%d\n", i);
        tg_registry_file files[] = {{"main.py", (const unsigned char *)code, strlen(code)}};
        tg_registry_deploy_result res;
        if (tg_registry_deploy(r->reg, "replicas", r->manifest, files, 1, &res, &err) != 0) {
            fprintf(stderr, "replica deploy %d: %s\n", i, err.message);
            r->errors++;
        }
    }
    tg_registry_error_clear(&err);
    return NULL;
}

static void test_replicas(const char *db)
{
    char text[4096];
    snprintf(text, sizeof text, MANIFEST_FMT, "1.0.0", "string", "\"2026-01-01\"");
    json_t *manifest = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    replica r[2];
    tg_registry_error err = {0};
    for (int i = 0; i < 2; i++) {
        /* A copy each: replicas share nothing but the store (and jansson's
         * reference counts are not for sharing a value across threads). */
        r[i] = (replica){.manifest = json_deep_copy(manifest)};
        CHECK_INT_EQ(tg_registry_open(db, NULL, &r[i].reg, &err), 0);
    }
    if (r[0].reg && r[1].reg) {
        for (int i = 0; i < 2; i++)
            pthread_create(&r[i].thread, NULL, replica_deploys, &r[i]);
        for (int i = 0; i < 2; i++) {
            pthread_join(r[i].thread, NULL);
            CHECK_INT_EQ(r[i].errors, 0);
        }
        json_t *got[2] = {NULL, NULL};
        for (int i = 0; i < 2; i++)
            CHECK_INT_EQ(tg_registry_get(r[i].reg, "replicas", "crm_sync", &got[i], &err), 0);
        CHECK_INT_EQ(json_array_size(json_object_get(got[0], "versions")), REPLICA_VERSIONS);
        CHECK(json_equal(json_object_get(got[0], "version"), json_object_get(got[1], "version")));
        json_decref(got[0]);
        json_decref(got[1]);
        CHECK_INT_EQ(tg_registry_delete(r[1].reg, "replicas", "crm_sync", &err), 0);
    }
    for (int i = 0; i < 2; i++) {
        tg_registry_close(r[i].reg);
        json_decref(r[i].manifest);
    }
    json_decref(manifest);
    tg_registry_error_clear(&err);
}

/* Every case against one backend, in a new folder for the workers: the
 * PostgreSQL database at url, or (url NULL) a sqlite file in the folder. */
static void run(const char *url)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/tg-registry-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        exit(2);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/registry.db", base);
    where = url ? url : path;
    changes = 0;

    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    int rc = tg_registry_open(where, NULL, &reg, &err);
    if (rc) fprintf(stderr, "open: %s\n", err.message);
    CHECK_INT_EQ(rc, 0);
    if (!rc) {
        tg_registry_set_change_callback(reg, on_change, NULL);
        char v1[65], v2[65];
        test_deploy_cycle(reg, v1, v2);
        test_scheduled(reg);
        test_tenants(reg, v2);
        test_stage_and_drift(reg);
        test_egress_rules(reg);
        test_manifest_problems(reg);
        test_paths_and_limits(reg);
        test_definition_hash(reg);
        test_deprecation(reg);
        test_concurrent_reads(reg);
        tg_registry_close(reg);
        test_replicas(where);
        test_store_busy(where);
        test_store_format(where);
        test_reopen_and_delete(where, v2);
    }
    tg_registry_error_clear(&err);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    run(NULL);
    char *url = pgtest_database("test_registry");
    if (url) run(url);
    free(url);
    return check_report();
}
