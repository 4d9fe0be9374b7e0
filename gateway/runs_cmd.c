/* `toolgate runs`: a running gateway's runs history, through its admin API
 * (/v1/runs), as a table newest first, or one run's logs.
 *
 * Exit status: 0 done, 1 refused or unreachable, 2 bad command line. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/core/alloc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: toolgate runs [--worker W] [--trigger T] [--status S] [--limit N] [--json]\n"
    "                     [--url URL] [--token TOKEN]\n"
    "       toolgate runs --logs CALL_ID [--json] [--url URL] [--token TOKEN]\n"
    "  --worker W      only this worker's runs\n"
    "  --trigger T     only runs of this trigger: agent, button, schedule or cli\n"
    "  --status S      only runs that ended ok, error or refused\n"
    "  --limit N       at most N runs, 1 to 1000 (default 50)\n"
    "  --logs CALL_ID  that run's stderr tail and log lines (kept for its worker's\n"
    "                  newest runs only)\n"
    "  --json          print the gateway's answer as it is\n"
    "  --url URL       the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN   a bearer token with audit:read (default $TOOLGATE_TOKEN)\n";

/* Appends "&name=value" (value escaped) to *query when value is set. */
static void add_param(char **query, const char *name, const char *value)
{
    if (!value) return;
    char *escaped = tg_client_escape(value);
    char *q = tg_xasprintf("%s%s%s=%s", *query, **query ? "&" : "?", name, escaped);
    free(escaped);
    free(*query);
    *query = q;
}

static void print_table(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    printf("%-24s %9s %-8s %-20s %9s %-16s %-8s %s\n", "STARTED", "DURATION", "STATUS", "ERROR",
           "OUTPUT", "WORKER", "TRIGGER", "CALL ID");
    size_t i;
    json_t *run;
    json_array_foreach(json_object_get(doc, "runs"), i, run)
    {
        const char *code = json_string_value(json_object_get(run, "error_code"));
        printf("%-24s %7lldms %-8s %-20s %8lldB %-16s %-8s %s\n",
               json_string_value(json_object_get(run, "started_at")),
               (long long)json_integer_value(json_object_get(run, "duration_ms")),
               json_string_value(json_object_get(run, "status")), code ? code : "-",
               (long long)json_integer_value(json_object_get(run, "output_bytes")),
               json_string_value(json_object_get(run, "worker")),
               json_string_value(json_object_get(run, "trigger")),
               json_string_value(json_object_get(run, "call_id")));
    }
    if (json_object_get(doc, "next_cursor")) printf("(more runs: raise --limit)\n");
    json_decref(doc);
}

static void print_logs(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    const char *err = json_string_value(json_object_get(doc, "stderr"));
    printf("--- stderr (tail)\n%s", err ? err : "");
    if (err && *err && err[strlen(err) - 1] != '\n') putchar('\n');
    printf("--- log lines\n");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "events"), i, e)
    {
        json_t *data = json_object_get(e, "data");
        char *d = json_is_string(data) ? NULL : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%-8s %s\n", json_string_value(json_object_get(e, "log")),
               json_is_string(data) ? json_string_value(data)
               : d                  ? d
                                    : "null");
        free(d);
    }
    json_int_t dropped = json_integer_value(json_object_get(doc, "events_dropped"));
    if (dropped) printf("(%lld more log lines not kept)\n", (long long)dropped);
    json_decref(doc);
}

int tg_cmd_runs(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    const char *worker = NULL, *trigger = NULL, *status_filter = NULL, *limit = NULL;
    const char *logs = NULL;
    bool as_json = false;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--url") == 0 && has_value) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && has_value) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--worker") == 0 && has_value) {
            worker = argv[++i];
        } else if (strcmp(argv[i], "--trigger") == 0 && has_value) {
            trigger = argv[++i];
        } else if (strcmp(argv[i], "--status") == 0 && has_value) {
            status_filter = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && has_value) {
            limit = argv[++i];
        } else if (strcmp(argv[i], "--logs") == 0 && has_value) {
            logs = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else {
            return tg_cmd_usage_error(usage_text);
        }
    }
    if (logs && (worker || trigger || status_filter || limit))
        return tg_cmd_usage_error(usage_text);
    char *path;
    if (logs) {
        char *id = tg_client_escape(logs);
        path = tg_xasprintf("/v1/runs/%s/logs", id);
        free(id);
    } else {
        char *query = tg_xstrdup("");
        add_param(&query, "worker", worker);
        add_param(&query, "trigger", trigger);
        add_param(&query, "status", status_filter);
        add_param(&query, "limit", limit);
        path = tg_xasprintf("/v1/runs%s", query);
        free(query);
    }
    tg_client *c = tg_client_new(tg_client_url(url), tg_client_token(token), 0);
    tg_client_answer a;
    int rc = 1;
    if (tg_client_request(c, "GET", path, NULL, NULL, 0, &a) == TG_CLIENT_OK && a.status == 200) {
        rc = 0;
        if (as_json)
            printf("%s\n", a.body ? a.body : "");
        else if (logs)
            print_logs(a.body ? a.body : "");
        else
            print_table(a.body ? a.body : "");
    } else {
        tg_client_report(&a);
    }
    tg_client_answer_clear(&a);
    tg_client_free(c);
    free(path);
    return rc;
}
