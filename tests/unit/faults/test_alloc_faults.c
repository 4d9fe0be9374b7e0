/* Allocation failures inside the libraries that report them. toolgate's own
 * allocations abort on out of memory (gateway/core/alloc.h), but jansson and
 * sqlite hand a failure back, and every caller must turn it into an error
 * return rather than a crash, a leak or a half-written store.
 *
 * A test allocator sits under both (json_set_alloc_funcs, and a wrapping
 * sqlite3_mem_methods) and fails exactly the Nth allocation made while it is
 * armed, N swept from 1 until a run makes no allocation fail (jansson's
 * test_chaos, curl's torture mode). Each run either succeeds as the run
 * without failures did or fails cleanly: an error code with a message, a NULL
 * in place of a JSON document, and afterwards a store that reopens and holds
 * the change either completely or not at all.
 *
 * Each N runs in a child process, so that one crash is reported with its N
 * and the sweep goes on. The builders of toolgate's own answers (error JSON,
 * JSON-RPC envelopes) treat a NULL from jansson as tg_xmalloc treats one from
 * malloc: they end the process with an "out of memory" error log line (the
 * one policy of alloc.h). Such an exit is counted, not failed; any other signal or a
 * sanitizer's report is a crash. Leaks: LeakSanitizer checks each child at
 * its exit (the tests run under ASan in CI).
 *
 * A full sweep makes thousands of runs, mostly inside sqlite, so by default
 * the first allocations are failed one by one and the rest at a stride that
 * keeps each sweep near RUNS_PER_SWEEP runs; TOOLGATE_FAULTS_FULL=1 fails
 * every one. */
#include "audit/audit.h"
#include "gateway/calls/result.h"
#include "gateway/core/errors.h"
#include "gateway/mcp/jsonrpc.h"
#include "gateway/registry/registry.h"

#include "check.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The test allocator. The audit log's writer thread allocates too, so the
 * counters are atomic. */
static atomic_bool armed;
static atomic_long counted;  /* allocations made since arm() */
static atomic_long fail_at;  /* the one to fail, from 1; 0 fails none */
static atomic_bool injected; /* fail_at was reached */

static void arm(void)
{
    atomic_store(&counted, 0);
    atomic_store(&armed, true);
}

static void disarm(void)
{
    atomic_store(&armed, false);
}

static bool fail_this_one(void)
{
    if (!atomic_load(&armed)) return false;
    long n = atomic_fetch_add(&counted, 1) + 1;
    if (n != atomic_load(&fail_at)) return false;
    atomic_store(&injected, true);
    return true;
}

static void *json_alloc(size_t n)
{
    return fail_this_one() ? NULL : malloc(n);
}

static sqlite3_mem_methods sqlite_default;

static void *sqlite_alloc(int n)
{
    return fail_this_one() ? NULL : sqlite_default.xMalloc(n);
}

static void *sqlite_realloc(void *p, int n)
{
    return fail_this_one() ? NULL : sqlite_default.xRealloc(p, n);
}

/* Before anything else touches either library: sqlite takes its allocator
 * only before it initializes. */
static void install_allocators(void)
{
    json_set_alloc_funcs(json_alloc, free);
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_default);
    sqlite3_mem_methods m = sqlite_default;
    m.xMalloc = sqlite_alloc;
    m.xRealloc = sqlite_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) {
        fprintf(stderr, "sqlite3_config(SQLITE_CONFIG_MALLOC) failed\n");
        exit(2);
    }
}

enum { RUNS_PER_SWEEP = 250, ONE_BY_ONE = 150 };

/* How a child's run went, as its exit status: RUN_EXIT plus these bits,
 * apart from the sanitizers' exit statuses (1, and 23 for a leak). */
enum { RUN_EXIT = 40, RUN_FAILED = 1, RUN_NOT_REACHED = 2 };

static char tmpdir[] = "/tmp/tg-faults-XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Runs the scenario once with allocation n failing (0: none) and returns its
 * RUN_ status. */
static int run_once(void (*scenario)(void), long n)
{
    atomic_store(&fail_at, n);
    atomic_store(&injected, false);
    int failed_before = check_failed;
    scenario();
    return RUN_EXIT | (check_failed != failed_before ? RUN_FAILED : 0) |
           (n > 0 && !atomic_load(&injected) ? RUN_NOT_REACHED : 0);
}

/* Whether the child ended by the out of memory policy: it said so on stderr,
 * in a log line (gateway/core/log.h), whose level and msg come in that order. */
static bool policy_abort(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "\"level\":\"error\",\"msg\":\"out of memory") != NULL;
    fclose(f);
    return found;
}

static void print_log(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return;
    char line[512];
    for (int i = 0; i < 40 && fgets(line, sizeof line, f); i++)
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* The run without failures in this process (it fills the expected answers
 * and warms process-wide caches), then one child per N. */
static void sweep(const char *name, void (*scenario)(void))
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (run_once(scenario, 0) != RUN_EXIT) {
        fprintf(stderr, "%s: the run without failures failed\n", name);
        return;
    }
    long total = atomic_load(&counted);
    const char *full = getenv("TOOLGATE_FAULTS_FULL");
    long stride = 1;
    if (!(full && strcmp(full, "1") == 0) && total > RUNS_PER_SWEEP)
        stride = (total - ONE_BY_ONE) / (RUNS_PER_SWEEP - ONE_BY_ONE) + 1;

    /* TOOLGATE_FAULTS_ONLY=<sweep>:<N> runs that one case in this process,
     * where a debugger or LeakSanitizer can look at it. */
    const char *only = getenv("TOOLGATE_FAULTS_ONLY");
    size_t len = strlen(name);
    if (only) {
        if (strncmp(only, name, len) == 0 && only[len] == ':') {
            int status = run_once(scenario, strtol(only + len + 1, NULL, 10));
            printf("%s: allocation %s failing: %s%s\n", name, only + len + 1,
                   status & RUN_FAILED ? "failed" : "passed",
                   status & RUN_NOT_REACHED ? " (not reached)" : "");
        }
        return;
    }

    char log_path[512];
    path_of(log_path, sizeof log_path, "child.log");
    long runs = 0, aborts = 0, n = 1;
    /* A child never makes many more allocations than the run without
     * failures; the bound only stops a sweep where every run crashes. */
    for (; n <= 2 * total + ONE_BY_ONE; n += n < ONE_BY_ONE ? 1 : stride) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(2);
        }
        if (pid == 0) {
            if (!freopen(log_path, "w", stderr)) _exit(2);
            /* Reopened on a file, stderr would buffer, and abort() loses that. */
            setvbuf(stderr, NULL, _IONBF, 0);
            int status = run_once(scenario, n);
            fflush(NULL);
            exit(status);
        }
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
            ;
        runs++;
        int status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
        bool checked = (status & ~(RUN_FAILED | RUN_NOT_REACHED)) == RUN_EXIT;
        if (checked && !(status & RUN_FAILED)) {
            check_passed++;
            if (status & RUN_NOT_REACHED) break;
            continue;
        }
        if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT && policy_abort(log_path)) {
            aborts++;
            check_passed++;
            continue;
        }
        check_failed++;
        if (checked)
            fprintf(stderr, "%s: allocation %ld failing:\n", name, n);
        else if (WIFSIGNALED(ws))
            fprintf(stderr, "%s: allocation %ld failing: killed by signal %d\n", name, n,
                    WTERMSIG(ws));
        else
            fprintf(stderr, "%s: allocation %ld failing: exit status %d\n", name, n,
                    WEXITSTATUS(ws));
        print_log(log_path);
        if (checked && (status & RUN_NOT_REACHED)) break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %ld allocations, %ld runs (stride %ld after %d), %ld ended by the out of memory "
           "policy (%.1f s)\n",
           name, total, runs, stride, ONE_BY_ONE, aborts,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* Removes a sqlite file with its journal files. */
static void remove_db(const char *path)
{
    char side[512];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-journal", path);
    unlink(side);
}

/* A realistic manifest: schemas in and out, limits, egress, a schedule. */
static const char manifest_text[] =
    "{\"name\": \"crm_sync\", \"version\": \"1.2.0\", \"title\": \"Sync CRM contacts\","
    " \"description\": \"Fetches contacts changed since a date.\", \"runtime\": \"python3\","
    " \"entry\": \"main.py\","
    " \"inputSchema\": {\"type\": \"object\", \"additionalProperties\": false,"
    "  \"properties\": {\"since\": {\"type\": \"string\", \"format\": \"date\"},"
    "   \"limit\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 500},"
    "   \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": "
    "\"^[a-z]+$\"}}},"
    "  \"required\": [\"since\"]},"
    " \"outputSchema\": {\"type\": \"object\", \"required\": [\"contacts\"],"
    "  \"properties\": {\"contacts\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    "   \"required\": [\"id\", \"email\"], \"properties\": {\"id\": {\"type\": \"integer\"},"
    "   \"email\": {\"type\": \"string\", \"format\": \"email\"}}}},"
    "   \"next\": {\"type\": [\"string\", \"null\"]}}},"
    " \"annotations\": {\"readOnlyHint\": true},"
    " \"limits\": {\"timeout_ms\": 10000, \"memory_mb\": 128, \"max_output_bytes\": 1048576},"
    " \"egress\": [{\"origin\": \"https://api.crm.example\", \"methods\": [\"GET\"],"
    "  \"inject\": {\"header\": \"Authorization\", \"secret\": \"CRM_TOKEN\","
    "  \"format\": \"Bearer {}\"}}],"
    " \"triggers\": {\"schedule\": \"*/15 * * * *\", \"arguments\": {\"since\": \"2026-01-01\"},"
    "  \"button\": true}}";

static const char main_py[] = "import json, sys\nprint(json.dumps({'contacts': []}))\n";
static const char util_py[] = "def page(n):\n    return n + 1\n";

static const tg_registry_file worker_files[] = {
    {"main.py", (const unsigned char *)main_py, sizeof main_py - 1},
    {"lib/util.py", (const unsigned char *)util_py, sizeof util_py - 1},
};
#define NFILES (sizeof worker_files / sizeof *worker_files)

static char deployed_version[65];

static bool clean_registry_error(int rc, const tg_registry_error *err)
{
    return rc >= TG_REGISTRY_EINTERNAL && rc < 0 && err->code == rc && err->message[0] != '\0';
}

/* Opens the registry, deploys, resolves: what POST /v1/workers and the first
 * call after it do. Then, with the allocator quiet, the store must reopen and
 * hold the version completely or not at all, and a redeploy must work. */
static void deploy_scenario(void)
{
    char path[512];
    path_of(path, sizeof path, "registry.db");
    remove_db(path);

    bool deployed = false;
    /* Parsed before arming: see check_result_shape on jansson's lexer. */
    json_t *manifest = json_loads(manifest_text, JSON_REJECT_DUPLICATES, NULL);
    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    arm();
    int orc = tg_registry_open(path, NULL, &reg, &err);
    if (orc != 0) {
        CHECK(clean_registry_error(orc, &err));
        CHECK(reg == NULL);
    }
    if (reg) {
        tg_registry_deploy_result res = {0};
        int rc = tg_registry_deploy(reg, "acme", manifest, worker_files, NFILES, &res, &err);
        if (rc == 0) {
            deployed = true;
            if (atomic_load(&fail_at) == 0) memcpy(deployed_version, res.version, 65);
            CHECK_STR_EQ(res.version, deployed_version);
            CHECK(res.created);
            tg_registry_snapshot *snap = NULL;
            rc = tg_registry_resolve(reg, "acme", "crm_sync", &snap, &err);
            if (rc == 0) {
                CHECK_STR_EQ(tg_registry_snapshot_version(snap), deployed_version);
                CHECK(tg_registry_snapshot_input_schema(snap) != NULL);
                CHECK(tg_registry_snapshot_output_schema(snap) != NULL);
                CHECK_INT_EQ(tg_registry_snapshot_file_count(snap), NFILES);
                tg_registry_snapshot_unref(snap);
            } else {
                CHECK(clean_registry_error(rc, &err));
                CHECK(snap == NULL);
            }
        } else {
            CHECK(clean_registry_error(rc, &err));
        }
        tg_registry_close(reg);
    }
    tg_registry_error_clear(&err);
    disarm();
    json_decref(manifest);

    /* The store as the next process finds it. */
    int rc = tg_registry_open(path, NULL, &reg, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  reopen: %s\n", err.message);
        tg_registry_error_clear(&err);
        return;
    }
    tg_registry_snapshot *snap = NULL;
    rc = tg_registry_resolve(reg, "acme", "crm_sync", &snap, &err);
    if (deployed) CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK_STR_EQ(tg_registry_snapshot_version(snap), deployed_version);
        CHECK_INT_EQ(tg_registry_snapshot_file_count(snap), NFILES);
        tg_registry_snapshot_unref(snap);
    } else {
        CHECK_INT_EQ(rc, TG_REGISTRY_ENOTFOUND);
    }
    manifest = json_loads(manifest_text, JSON_REJECT_DUPLICATES, NULL);
    tg_registry_deploy_result res = {0};
    rc = tg_registry_deploy(reg, "acme", manifest, worker_files, NFILES, &res, &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(res.version, deployed_version);
    json_decref(manifest);
    tg_registry_error_clear(&err);
    tg_registry_close(reg);
}

/* The call path's pure parts, on a tool resolved beforehand. */
static tg_registry_snapshot *tool;

static const char call_body[] =
    "{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": \"tools/call\", \"params\": {\"name\":"
    " \"crm_sync\", \"arguments\": {\"since\": \"2026-03-01\", \"limit\": 50, \"tags\": [\"vip\"]},"
    " \"_meta\": {\"progressToken\": \"p1\"}}}";
static const char bad_arguments[] =
    "{\"since\": \"yesterday\", \"limit\": 0, \"tags\": [\"VIP\", 3], \"extra\": true}";
/* Parsed without failures, once. */
static json_t *call_request, *bad_args;

typedef struct run_case {
    const char *name;
    tg_run_outcome outcome;
} run_case;

static const char ok_output[] =
    "{\"contacts\": [{\"id\": 1, \"email\": \"ada@example.com\"}, {\"id\": 2, \"email\":"
    " \"bob@example.com\"}], \"next\": null}";
static const char drift_output[] = "{\"contacts\": [{\"id\": \"1\", \"email\": \"nope\"}]}";
static const char worker_error_output[] =
    "{\"error\": {\"code\": \"CRM_DOWN\", \"message\": \"the CRM answered 502\","
    " \"retryable\": true, \"retryAfterMs\": 2000, \"details\": {\"status\": 502}}}";
static const char garbage_output[] = "contacts: 1, 2\n\xff\xfe";

static const run_case run_cases[] = {
    {"ok", {.stdout_data = ok_output, .stdout_len = sizeof ok_output - 1}},
    {"output schema violation",
     {.stdout_data = drift_output, .stdout_len = sizeof drift_output - 1}},
    {"worker error",
     {.exit_code = 1,
      .stdout_data = worker_error_output,
      .stdout_len = sizeof worker_error_output - 1}},
    {"garbage", {.stdout_data = garbage_output, .stdout_len = sizeof garbage_output - 1}},
    {"killed", {.signal = 9, .stderr_tail = "Traceback: MemoryError \xc3\x28"}},
    {"timeout", {.timed_out = true}},
    {"too large", {.output_truncated = true}},
};
#define NRUNS (sizeof run_cases / sizeof *run_cases)

/* What each piece answers without failures, to compare with. */
static json_t *expected_results[3];

/* A JSON answer under failures: NULL (the failure, reported), or exactly the
 * answer made without failures, never a document with a part missing. */
static void check_answer(size_t i, const char *what, json_t *got)
{
    if (atomic_load(&fail_at) == 0) {
        CHECK(got != NULL);
        expected_results[i] = json_incref(got);
    } else if (got && !json_equal(got, expected_results[i])) {
        check_failed++;
        char *text = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "  %s: a different answer: %s\n", what, text ? text : "(no memory)");
        free(text);
    }
    json_decref(got);
}

/* A CallToolResult whose content may differ under failures from the one made
 * without: a worker's stdout is parsed by jansson, whose lexer (2.14) can drop
 * a byte of a string when its buffer cannot grow (lex_save ignores the failure
 * of strbuffer_append_byte), and a refusal may list fewer violations, each
 * with less of the value shown. It must still be a whole result. */
static void check_result_shape(const char *what, json_t *got, const char *code)
{
    if (!got) return;
    const char *got_code = json_string_value(json_object_get(tg_result_error(got), "code"));
    if (code && !(got_code && strcmp(got_code, code) == 0)) {
        check_failed++;
        fprintf(stderr, "  %s: not %s\n", what, code);
    }
    bool ok = json_is_array(json_object_get(got, "content")) &&
              json_array_size(json_object_get(got, "content")) == 1;
    if (ok && json_is_true(json_object_get(got, "isError"))) {
        const json_t *error = tg_result_error(got);
        ok = error && json_is_string(json_object_get(error, "code")) &&
             json_is_string(json_object_get(error, "message"));
    }
    if (!ok) {
        check_failed++;
        char *text = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "  %s: not a whole result: %s\n", what, text ? text : "(no memory)");
        free(text);
    }
    json_decref(got);
}

static void call_scenario(void)
{
    json_t *good = json_object_get(json_object_get(call_request, "params"), "arguments");
    json_t *details = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "path", "/since", "keyword",
                                "format", "message", "must be a date", "path", "/limit", "keyword",
                                "minimum", "message", "must be at least 1");
    json_t *id = json_integer(7);
    arm();
    tg_jsonrpc_msg *msg = NULL;
    int rc = tg_jsonrpc_parse(call_body, sizeof call_body - 1, NULL, &msg);
    CHECK(msg != NULL);
    if (rc == 0) {
        CHECK_INT_EQ(tg_jsonrpc_msg_kind(msg), TG_JSONRPC_REQUEST);
        check_answer(0, "result", tg_jsonrpc_result(tg_jsonrpc_msg_id(msg), json_object()));
    } else {
        CHECK_INT_EQ(tg_jsonrpc_msg_kind(msg), TG_JSONRPC_INVALID);
        CHECK(tg_jsonrpc_msg_err_message(msg)[0] != '\0');
        json_t *answer = tg_jsonrpc_error_for(msg);
        CHECK(answer == NULL || json_is_object(answer));
        json_decref(answer);
    }
    tg_jsonrpc_msg_free(msg);

    json_t *refusal = NULL;
    rc = tg_call_check_arguments(tool, good, "call-1", &refusal);
    /* Valid arguments may be refused for want of memory, never the reverse. */
    if (rc != 0) {
        CHECK_INT_EQ(rc, TG_EINVALID_ARGUMENTS);
        CHECK(atomic_load(&fail_at) != 0);
    }
    json_decref(refusal);

    refusal = NULL;
    rc = tg_call_check_arguments(tool, bad_args, "call-2", &refusal);
    /* Fail closed: whatever fails, these never pass. */
    CHECK_INT_EQ(rc, TG_EINVALID_ARGUMENTS);
    check_result_shape("refusal", refusal, "INVALID_ARGUMENTS");

    for (size_t i = 0; i < NRUNS; i++)
        check_result_shape(run_cases[i].name, tg_call_result(tool, &run_cases[i].outcome, "call-3"),
                           NULL);

    check_answer(1, "tool error",
                 tg_tool_error_result(TG_EINVALID_ARGUMENTS, NULL, details, "call-4"));
    json_decref(details);
    check_answer(2, "jsonrpc error", tg_jsonrpc_error(id, TG_EAUDIT_UNAVAILABLE, NULL, NULL));
    json_decref(id);
    disarm();
}

static int64_t in_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + ms * 1000000;
}

/* Opens the log, appends a record, verifies the chain; then, quiet, the file
 * must verify intact and hold the record if the append said it was durable. */
static void audit_scenario(void)
{
    char path[512];
    path_of(path, sizeof path, "audit.db");
    remove_db(path);

    bool appended = false;
    arm();
    tg_audit_options opts = {.busy_timeout_ms = 200, .retry_ms = 1};
    tg_audit *a = NULL;
    tg_error err = {0};
    int rc = tg_audit_open(path, &opts, &a, &err);
    if (rc != 0) {
        CHECK_INT_EQ(rc, TG_EAUDIT_UNAVAILABLE);
        CHECK(err.message[0] != '\0');
    } else {
        json_t *body = json_pack("{s:s, s:{s:s, s:i}}", "phase", "end", "arguments", "since",
                                 "2026-03-01", "limit", 50);
        tg_audit_record rec = {.kind = "call.end",
                               .tenant = "acme",
                               .principal = "acme/agent",
                               .trigger_kind = "agent",
                               .call_id = "call-5",
                               .tool = "crm_sync",
                               .status = "ok",
                               .body = body};
        uint64_t seq = 0;
        rc = tg_audit_append(a, &rec, in_ms(2000), &seq, &err);
        json_decref(body);
        if (rc == 0) {
            appended = true;
            CHECK_INT_EQ(seq, 1);
        } else {
            CHECK(rc == TG_EAUDIT_UNAVAILABLE || rc == TG_EINVALID_PARAMS);
            CHECK(err.message[0] != '\0');
        }
        tg_audit_report report = {0};
        rc = tg_audit_verify(a, &report, &err);
        if (rc == 0)
            CHECK_INT_EQ(report.problem, TG_AUDIT_INTACT);
        else
            CHECK(err.message[0] != '\0');
        tg_audit_report_clear(&report);
        tg_audit_close(a);
    }
    disarm();

    rc = tg_audit_open(path, &opts, &a, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  reopen: %s\n", err.message);
        return;
    }
    tg_audit_report report = {0};
    rc = tg_audit_verify(a, &report, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK_INT_EQ(report.problem, TG_AUDIT_INTACT);
        if (appended) CHECK_INT_EQ(report.records, 1);
        CHECK(report.records <= 1);
    } else {
        fprintf(stderr, "  verify: %s\n", err.message);
    }
    tg_audit_report_clear(&report);
    tg_audit_close(a);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    install_allocators();
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    sweep("deploy", deploy_scenario);

    char path[512];
    path_of(path, sizeof path, "registry.db");
    tg_registry *reg = NULL;
    tg_registry_error err = {0};
    if (tg_registry_open(path, NULL, &reg, &err) != 0 ||
        tg_registry_resolve(reg, "acme", "crm_sync", &tool, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.message);
        return 2;
    }
    call_request = json_loads(call_body, 0, NULL);
    bad_args = json_loads(bad_arguments, 0, NULL);
    sweep("call", call_scenario);
    json_decref(call_request);
    json_decref(bad_args);
    for (size_t i = 0; i < sizeof expected_results / sizeof *expected_results; i++)
        json_decref(expected_results[i]);
    tg_registry_snapshot_unref(tool);
    tg_registry_close(reg);

    sweep("audit", audit_scenario);

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
