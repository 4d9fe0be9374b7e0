/* The runs store: insert and read back, list filters, pages that neither
 * repeat nor skip while other threads keep inserting, results pruned beyond
 * keep_results per (tenant, worker), logs bounded, idempotency keys. */
#include "gateway/runs/runs.h"

#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_runs.XXXXXX";

static tg_runs *open_store(const char *name, unsigned keep)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_runs *r = NULL;
    tg_error err;
    tg_runs_config cfg = {.keep_results = keep};
    int rc = tg_runs_open(path, &cfg, &r, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.message);
    return r;
}

static int add(tg_runs *r, const char *call_id, const char *tenant, const char *worker,
               const char *trigger, const char *status)
{
    json_t *result = json_pack("{s:[{s:s, s:s}], s:{s:s}}", "content", "type", "text", "text",
                               call_id, "structuredContent", "id", call_id);
    json_t *logs = json_pack("[{s:s, s:s}]", "log", "info", "data", call_id);
    tg_run_summary s = {
        .call_id = call_id,
        .tenant = tenant,
        .worker = worker,
        .version = "v1",
        .trigger_kind = trigger,
        .principal = "t/alice",
        .started_ms = 1700000000000,
        .duration_ms = 12,
        .status = status,
        .error_code = strcmp(status, "ok") ? "NOT_TODAY" : NULL,
        .output_bytes = 42,
        .result = result,
        .stderr_tail = "warning: from stderr\n",
        .logs = logs,
    };
    tg_error err;
    int rc = tg_runs_insert(r, &s, &err);
    if (rc) fprintf(stderr, "insert %s: %s\n", call_id, err.message);
    json_decref(result);
    json_decref(logs);
    return rc;
}

static void test_insert_get(void)
{
    tg_runs *r = open_store("basic.db", 0);
    CHECK_INT_EQ(add(r, "c1", "t", "echo", "button", "ok"), 0);
    CHECK_INT_EQ(add(r, "c2", "t", "fail", "agent", "error"), 0);
    json_t *run = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_get(r, "t", "c2", &run, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "worker")), "fail");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "trigger")), "agent");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "status")), "error");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "error_code")), "NOT_TODAY");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "started_at")), "2023-11-14T22:13:20.000Z");
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "output_bytes")), 42);
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "duration_ms")), 12);
    CHECK(json_is_true(json_object_get(run, "kept")));
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(run, "result"), "structuredContent"), "id")),
                 "c2");
    json_decref(run);
    /* Another tenant sees nothing of it. */
    CHECK_INT_EQ(tg_runs_get(r, "u", "c2", &run, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_runs_logs(r, "u", "c2", &run, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(tg_runs_get(r, "t", "nope", &run, &err), TG_ENOT_FOUND);
    json_t *logs = NULL;
    CHECK_INT_EQ(tg_runs_logs(r, "t", "c1", &logs, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(logs, "stderr")), "warning: from stderr\n");
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_array_get(json_object_get(logs, "events"), 0), "data")),
                 "c1");
    CHECK_STR_EQ(json_string_value(json_object_get(logs, "call_id")), "c1");
    json_decref(logs);
    /* The same call id twice is refused, not recorded twice. */
    CHECK(add(r, "c1", "t", "echo", "button", "ok") != 0);
    tg_runs_close(r);
}

static size_t list_count(tg_runs *r, const tg_runs_filter *f)
{
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_runs_list(r, f, 1000, NULL, &page, &next, &err) != 0) return (size_t)-1;
    size_t n = json_array_size(page);
    json_decref(page);
    free(next);
    return n;
}

static void test_filters(void)
{
    tg_runs *r = open_store("filters.db", 0);
    add(r, "a1", "t", "echo", "button", "ok");
    add(r, "a2", "t", "echo", "agent", "ok");
    add(r, "a3", "t", "fail", "agent", "error");
    add(r, "a4", "t", "fail", "schedule", "refused");
    add(r, "a5", "u", "echo", "button", "ok");
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t"}), 4);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "u"}), 1);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .worker = "echo"}), 2);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .trigger_kind = "agent"}), 2);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t", .status = "refused"}), 1);
    CHECK_INT_EQ(
        list_count(r, &(tg_runs_filter){.tenant = "t", .worker = "fail", .trigger_kind = "agent"}),
        1);
    /* Newest first. */
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, NULL, &page, &next, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(page, 0), "call_id")), "a4");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(page, 1), "call_id")), "a3");
    CHECK(next != NULL);
    json_decref(page);
    char *cursor = next;
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, cursor, &page, &next, &err),
                 0);
    free(cursor);
    CHECK_INT_EQ(json_array_size(page), 2);
    CHECK(next == NULL); /* exactly two left: no empty page after */
    json_decref(page);
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, "x1", &page, &next, &err),
                 TG_EINVALID_PARAMS);
    CHECK_INT_EQ(tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 2, "-5", &page, &next, &err),
                 TG_EINVALID_PARAMS);
    tg_runs_close(r);
}

typedef struct inserter {
    tg_runs *r;
    int from, n;
} inserter;

static void *insert_many(void *arg)
{
    inserter *in = arg;
    for (int i = 0; i < in->n; i++) {
        char id[32];
        snprintf(id, sizeof id, "live-%d", in->from + i);
        add(in->r, id, "t", "echo", "agent", "ok");
    }
    return NULL;
}

/* Pages read while two threads insert: every run that existed before the
 * first page shows exactly once, in order, and no run appears twice. */
static void test_pagination_concurrent(void)
{
    tg_runs *r = open_store("pages.db", 5);
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%03d", i);
        add(r, id, "t", "echo", "agent", "ok");
    }
    inserter a = {r, 0, 150}, b = {r, 1000, 150};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, insert_many, &a);
    pthread_create(&tb, NULL, insert_many, &b);
    json_t *seen = json_object();
    char *cursor = NULL;
    int old_expected = 199, old_out_of_order = 0, pages = 0;
    bool dup = false;
    for (;;) {
        json_t *page = NULL;
        char *next = NULL;
        tg_error err;
        if (tg_runs_list(r, &(tg_runs_filter){.tenant = "t"}, 7, cursor, &page, &next, &err)) {
            CHECK(!"list failed");
            break;
        }
        pages++;
        size_t i;
        json_t *run;
        json_array_foreach(page, i, run)
        {
            const char *id = json_string_value(json_object_get(run, "call_id"));
            if (json_object_get(seen, id)) dup = true;
            json_object_set_new(seen, id, json_true());
            if (strncmp(id, "old-", 4) == 0) {
                if (strtol(id + 4, NULL, 10) != old_expected) old_out_of_order++;
                old_expected--;
            }
        }
        json_decref(page);
        free(cursor);
        cursor = next;
        if (!cursor) break;
        usleep(200);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(!dup);
    CHECK_INT_EQ(old_expected, -1);
    CHECK_INT_EQ(old_out_of_order, 0);
    CHECK(pages > 20);
    json_decref(seen);
    CHECK_INT_EQ(list_count(r, &(tg_runs_filter){.tenant = "t"}), 500);
    tg_runs_close(r);
}

static void test_pruning(void)
{
    tg_runs *r = open_store("prune.db", 3);
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d", i);
        add(r, id, "t", "echo", "agent", "ok");
        snprintf(id, sizeof id, "q%d", i);
        if (i < 2) add(r, id, "t", "other", "agent", "ok");
    }
    json_t *run = NULL, *logs = NULL;
    tg_error err;
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d", i);
        bool kept = i >= 3;
        CHECK_INT_EQ(tg_runs_get(r, "t", id, &run, &err), 0);
        CHECK_INT_EQ(json_is_true(json_object_get(run, "kept")), kept);
        CHECK_INT_EQ(json_object_get(run, "result") != NULL, kept);
        CHECK_STR_EQ(json_string_value(json_object_get(run, "status")), "ok");
        json_decref(run);
        CHECK_INT_EQ(tg_runs_logs(r, "t", id, &logs, &err), kept ? 0 : TG_ENOT_FOUND);
        json_decref(logs);
        logs = NULL;
    }
    /* Another worker's results are its own to count. */
    CHECK_INT_EQ(tg_runs_logs(r, "t", "q0", &logs, &err), 0);
    json_decref(logs);
    tg_runs_close(r);
}

static void test_log_bounds(void)
{
    tg_runs *r = open_store("bounds.db", 0);
    json_t *events = json_array();
    char *line = malloc(1001);
    memset(line, 'x', 1000);
    line[1000] = '\0';
    for (int i = 0; i < 200; i++)
        json_array_append_new(events, json_pack("{s:s, s:s}", "log", "info", "data", line));
    char *tail = malloc(40001);
    memset(tail, 'e', 40000);
    tail[40000] = '\0';
    tg_run_summary s = {.call_id = "big",
                        .tenant = "t",
                        .worker = "w",
                        .status = "ok",
                        .stderr_tail = tail,
                        .logs = events,
                        .logs_dropped = 3};
    tg_error err;
    CHECK_INT_EQ(tg_runs_insert(r, &s, &err), 0);
    json_t *logs = NULL;
    CHECK_INT_EQ(tg_runs_logs(r, "t", "big", &logs, &err), 0);
    char *text = json_dumps(logs, JSON_COMPACT);
    CHECK(strlen(text) < TG_RUNS_MAX_LOG_BYTES + 8192);
    CHECK_INT_EQ(strlen(json_string_value(json_object_get(logs, "stderr"))),
                 TG_RUNS_MAX_LOG_BYTES / 2);
    size_t kept = json_array_size(json_object_get(logs, "events"));
    CHECK(kept > 10 && kept < 200);
    CHECK_INT_EQ(json_integer_value(json_object_get(logs, "events_dropped")), 3 + 200 - kept);
    free(text);
    json_decref(logs);
    json_decref(events);
    free(line);
    free(tail);
    tg_runs_close(r);
}

static void test_idempotency(void)
{
    tg_runs *r = open_store("idem.db", 0);
    const char *sha = "aaaa", *other = "bbbb";
    int64_t now = 1700000000000;
    tg_runs_claim state;
    json_t *answer = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now + 1, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_RUNNING);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + 1, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_MISMATCH);
    /* Keys are per tenant and per worker. */
    CHECK_INT_EQ(tg_runs_claim_key(r, "u", "w", "k1", other, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w2", "k1", other, now, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    json_t *stored = json_pack("{s:s}", "call_id", "abc");
    CHECK_INT_EQ(tg_runs_complete_key(r, "t", "w", "k1", stored, &err), 0);
    json_decref(stored);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", sha, now + 2, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_ANSWERED);
    CHECK_STR_EQ(json_string_value(json_object_get(answer, "call_id")), "abc");
    json_decref(answer);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + 2, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_MISMATCH);
    /* After 24 hours the key is new again. */
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w", "k1", other, now + TG_RUNS_IDEMPOTENCY_MS + 1,
                                   &state, &answer, &err),
                 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    /* A released key may be claimed again. */
    CHECK_INT_EQ(tg_runs_complete_key(r, "u", "w", "k1", NULL, &err), 0);
    CHECK_INT_EQ(tg_runs_claim_key(r, "u", "w", "k1", sha, now + 3, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    tg_runs_close(r);
    /* Reopening releases keys whose call never answered ("t"/"w2" ran). */
    r = open_store("idem.db", 0);
    CHECK_INT_EQ(tg_runs_claim_key(r, "t", "w2", "k1", sha, now + 4, &state, &answer, &err), 0);
    CHECK_INT_EQ(state, TG_RUNS_CLAIMED);
    tg_runs_close(r);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_insert_get();
    test_filters();
    test_pagination_concurrent();
    test_pruning();
    test_log_bounds();
    test_idempotency();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return check_report();
}
