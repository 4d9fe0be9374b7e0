/* `toolgate runs`: a running gateway's runs history, through its admin API
 * (/v1/runs), as a table newest first, or one run's logs.
 *
 * Exit status: 0 done, 1 refused or unreachable, 2 bad command line. */
#include "gateway/commands.h"

#include "gateway/core/alloc.h"

#include <curl/curl.h>
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

typedef struct buffer {
    char *data;
    size_t len;
} buffer;

static size_t collect(char *chunk, size_t size, size_t n, void *userdata)
{
    buffer *b = userdata;
    b->data = tg_xrealloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, chunk, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* GETs endpoint. Returns the HTTP status with the answer in *reply, or 0
 * after saying why the gateway could not be reached. */
static long get(CURL *curl, const char *endpoint, const char *token, buffer *reply)
{
    char *auth = token && *token ? tg_xasprintf("Authorization: Bearer %s", token) : NULL;
    struct curl_slist *headers = auth ? curl_slist_append(NULL, auth) : NULL;
    curl_easy_setopt(curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    if (cc != CURLE_OK)
        fprintf(stderr, "toolgate: cannot reach %s: %s\n", endpoint, curl_easy_strerror(cc));
    else
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    free(auth);
    return status;
}

static void refused(long status, const buffer *reply)
{
    json_t *doc = reply->data ? json_loads(reply->data, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    if (code)
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %s: %s\n", status, code,
                message ? message : "");
    else
        fprintf(stderr, "toolgate: the gateway refused (HTTP %ld): %s\n", status,
                reply->data ? reply->data : "");
    json_decref(doc);
}

/* Appends "&name=value" (value escaped) to *query when value is set. */
static void add_param(CURL *curl, char **query, const char *name, const char *value)
{
    if (!value) return;
    char *escaped = curl_easy_escape(curl, value, 0);
    char *q = tg_xasprintf("%s%s%s=%s", *query, **query ? "&" : "?", name, escaped);
    curl_free(escaped);
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
    const char *url = getenv("TOOLGATE_URL"), *token = getenv("TOOLGATE_TOKEN");
    const char *worker = NULL, *trigger = NULL, *status_filter = NULL, *limit = NULL;
    const char *logs = NULL;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(argv[i], "--url") == 0 && has_value) {
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
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (logs && (worker || trigger || status_filter || limit)) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (!url || !*url) url = "http://127.0.0.1:8080";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    char *endpoint;
    if (logs) {
        char *id = curl_easy_escape(curl, logs, 0);
        endpoint = tg_xasprintf("%s/v1/runs/%s/logs", url, id);
        curl_free(id);
    } else {
        char *query = tg_xstrdup("");
        add_param(curl, &query, "worker", worker);
        add_param(curl, &query, "trigger", trigger);
        add_param(curl, &query, "status", status_filter);
        add_param(curl, &query, "limit", limit);
        endpoint = tg_xasprintf("%s/v1/runs%s", url, query);
        free(query);
    }
    buffer reply = {NULL, 0};
    long status = get(curl, endpoint, token, &reply);
    int rc = 1;
    if (status == 200) {
        rc = 0;
        if (as_json)
            printf("%s\n", reply.data ? reply.data : "");
        else if (logs)
            print_logs(reply.data ? reply.data : "");
        else
            print_table(reply.data ? reply.data : "");
    } else if (status) {
        refused(status, &reply);
    }
    free(reply.data);
    free(endpoint);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return rc;
}
