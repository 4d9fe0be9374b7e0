/* `toolgate contract`: contract fixtures against a running gateway.
 *
 * `run` replays DIR/<worker>/<case>.json as a real MCP client would (Streamable
 * HTTP: initialize, notifications/initialized, one tools/call per case, the
 * answer as JSON or as an SSE stream) and checks each result against the
 * case's expectation (gateway/contract/fixture.h). `gen` writes a tool's
 * generated cases (gateway/contract/gen.h) from its manifest or from the
 * gateway's tools/list, replacing the cases generated before and never
 * touching hand-written ones.
 *
 * Exit status: 0 every case passed (at least one ran) or the cases were
 * written; 1 a case failed, no case was found, or the cases could not be
 * made; 2 bad command line, or the gateway cannot be reached or refuses the
 * session. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/contract/fixture.h"
#include "gateway/contract/gen.h"
#include "gateway/core/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: toolgate contract run [--url URL] [--token TOKEN] [--dir DIR] [--worker NAME]\n"
    "                             [--timeout SECONDS]\n"
    "       toolgate contract gen NAME [--url URL] [--token TOKEN] [--dir DIR]\n"
    "                                  [--from WORKER_DIR]\n"
    "  run             call each tool once per fixture DIR/<tool>/<case>.json over MCP and\n"
    "                  print PASS or FAIL per case\n"
    "  gen NAME        write the cases generated from tool NAME's schemas to DIR/NAME/,\n"
    "                  replacing the files generated before (hand-written ones stay)\n"
    "  --url URL       the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080);\n"
    "                  MCP is spoken at URL/mcp\n"
    "  --token TOKEN   a bearer token with tools:list and tools:call (default\n"
    "                  $TOOLGATE_TOKEN)\n"
    "  --dir DIR       the fixtures folder (default contract-fixtures)\n"
    "  --worker NAME   run only DIR/NAME/\n"
    "  --timeout S     seconds one call may take (default 120)\n"
    "  --from DIR      read the tool from a worker folder's toolgate.json instead of the\n"
    "                  gateway's tools/list\n";

/* The protocol revision this client speaks (Streamable HTTP transport). */
#define PROTOCOL_VERSION "2025-11-25"
/* An answer larger than this is not a fixture's result: stop reading. */
#define MAX_ANSWER ((size_t)64 << 20)
/* tools/list pages followed before the gateway is taken to be looping. */
#define MAX_PAGES 1000

/* One MCP session with the gateway, at its /mcp. */
typedef struct mcp_client {
    tg_client *http;
    char *endpoint;   /* URL/mcp, for messages */
    bool has_session; /* the gateway gave an Mcp-Session-Id at initialize */
    json_int_t next_id;
} mcp_client;

/* One HTTP request to the MCP endpoint: POST body, or DELETE when body is
 * NULL. Fills *answer as tg_client_request does. */
static tg_client_result request(mcp_client *c, const char *body, tg_client_answer *answer)
{
    return tg_client_request(c->http, body ? "POST" : "DELETE", "/mcp", "application/json", body,
                             body ? strlen(body) : 0, answer);
}

/* Returns: true when doc is the JSON-RPC response to request id. */
static bool answers(const json_t *doc, json_int_t id)
{
    const json_t *v = json_object_get(doc, "id");
    return json_is_integer(v) && json_integer_value(v) == id &&
           (json_object_get(doc, "result") || json_object_get(doc, "error"));
}

/* Returns: new reference, the response to id among the events of an SSE
 * stream (notifications and other events are skipped), or NULL. Each event's
 * data lines are joined with "\n", as the SSE format says. */
static json_t *sse_response(const char *text, json_int_t id)
{
    json_t *found = NULL;
    char *data = NULL;
    size_t data_len = 0;
    const char *line = text;
    while (!found) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 0) {
            /* A blank line (or the end) dispatches the event. */
            if (data) {
                json_t *doc = json_loadb(data, data_len, 0, NULL);
                if (answers(doc, id))
                    found = doc;
                else
                    json_decref(doc);
                free(data);
                data = NULL;
                data_len = 0;
            }
        } else if (len >= 5 && strncmp(line, "data:", 5) == 0) {
            const char *v = line + 5;
            size_t vlen = len - 5;
            if (vlen > 0 && *v == ' ') {
                v++;
                vlen--;
            }
            data = tg_xrealloc(data, data_len + vlen + 2);
            if (data_len) data[data_len++] = '\n';
            memcpy(data + data_len, v, vlen);
            data_len += vlen;
            data[data_len] = '\0';
        }
        if (!nl) {
            if (!data) break;
            line += len; /* dispatch what the stream ended with */
            continue;
        }
        line = nl + 1;
    }
    free(data);
    return found;
}

/* Returns: new string, why an answer with HTTP status other than 200 is not
 * a response: the error's message, JSON-RPC's or the gateway's. */
static char *refusal(const tg_client_answer *a)
{
    long status = a->status;
    json_t *doc = a->body ? json_loads(a->body, 0, NULL) : NULL;
    const json_t *e = json_object_get(doc, "error");
    const json_t *code = json_object_get(e, "code");
    const char *message = json_string_value(json_object_get(e, "message"));
    char *why;
    if (message && json_is_string(code))
        why = tg_xasprintf("HTTP %ld: %s: %s", status, json_string_value(code), message);
    else if (message)
        why = tg_xasprintf("HTTP %ld: %s", status, message);
    else
        why = tg_xasprintf("HTTP %ld: %.200s", status, a->body ? a->body : "");
    json_decref(doc);
    return why;
}

typedef enum rpc_status {
    RPC_OK,
    RPC_FAILED,      /* the gateway answered, with an error or nonsense */
    RPC_UNREACHABLE, /* no answer at all */
} rpc_status;

/* Sends the JSON-RPC request method(params) (params stolen). On RPC_OK,
 * *result is a new reference to the response's result; otherwise *why is a
 * new string saying what went wrong. */
static rpc_status rpc(mcp_client *c, const char *method, json_t *params, json_t **result,
                      char **why)
{
    json_int_t id = c->next_id++;
    json_t *msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params);
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    tg_client_answer a;
    tg_client_result cr = request(c, body, &a);
    free(body);
    *result = NULL;
    *why = NULL;
    rpc_status rs = RPC_FAILED;
    json_t *response = NULL;
    if (cr != TG_CLIENT_OK) {
        *why = a.why;
        a.why = NULL;
        rs = cr == TG_CLIENT_UNREACHABLE ? RPC_UNREACHABLE : RPC_FAILED;
        goto out;
    }
    if (a.status != 200) {
        *why = refusal(&a);
        goto out;
    }
    if (a.content_type && strncasecmp(a.content_type, "text/event-stream", 17) == 0) {
        response = sse_response(a.body ? a.body : "", id);
        if (!response) {
            *why = tg_xasprintf("the event stream ended without the response to %s", method);
            goto out;
        }
    } else {
        response = a.body ? json_loads(a.body, 0, NULL) : NULL;
        if (!answers(response, id)) {
            *why = tg_xasprintf("the answer to %s is not its JSON-RPC response: %.200s", method,
                                a.body ? a.body : "(empty)");
            goto out;
        }
    }
    const json_t *error = json_object_get(response, "error");
    if (error) {
        const char *message = json_string_value(json_object_get(error, "message"));
        *why = tg_xasprintf("JSON-RPC error %lld: %s",
                            (long long)json_integer_value(json_object_get(error, "code")),
                            message ? message : "(no message)");
        goto out;
    }
    *result = json_incref(json_object_get(response, "result"));
    rs = RPC_OK;
out:
    /* The session initialize opened goes with every later request. */
    if (rs == RPC_OK && !c->has_session && strcmp(method, "initialize") == 0) {
        char *sid = tg_client_answer_header(&a, "Mcp-Session-Id");
        if (sid) tg_client_set_header(c->http, "Mcp-Session-Id", sid);
        c->has_session = sid != NULL;
        free(sid);
    }
    json_decref(response);
    tg_client_answer_clear(&a);
    return rs;
}

/* Opens the session: initialize, then notifications/initialized. Returns 0,
 * or -1 after saying why on stderr. */
static int mcp_open(mcp_client *c, const char *url, const char *token, long timeout_s)
{
    c->http = tg_client_new(url, token, MAX_ANSWER);
    tg_client_set_timeout(c->http, timeout_s);
    tg_client_set_header(c->http, "Accept", "application/json, text/event-stream");
    c->endpoint = tg_xasprintf("%s/mcp", tg_client_base(c->http));
    c->next_id = 1;
    json_t *params =
        json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", PROTOCOL_VERSION, "capabilities",
                  "clientInfo", "name", "toolgate-contract", "version", TOOLGATE_VERSION);
    json_t *result = NULL;
    char *why = NULL;
    if (rpc(c, "initialize", params, &result, &why) != RPC_OK) {
        fprintf(stderr, "toolgate: cannot open an MCP session at %s: %s\n", c->endpoint, why);
        free(why);
        return -1;
    }
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    tg_client_set_header(c->http, "MCP-Protocol-Version", version ? version : PROTOCOL_VERSION);
    json_decref(result);

    tg_client_answer a;
    tg_client_result cr =
        request(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &a);
    int rc = 0;
    if (cr != TG_CLIENT_OK) {
        fprintf(stderr, "toolgate: %s\n", a.why);
        rc = -1;
    } else if (!tg_client_ok(&a)) {
        why = refusal(&a);
        fprintf(stderr, "toolgate: the gateway refused notifications/initialized: %s\n", why);
        free(why);
        rc = -1;
    }
    tg_client_answer_clear(&a);
    return rc;
}

/* Ends the session politely (the gateway would expire it anyway). */
static void mcp_close(mcp_client *c)
{
    if (c->has_session) {
        tg_client_answer a;
        request(c, NULL, &a);
        tg_client_answer_clear(&a);
    }
    tg_client_free(c->http);
    free(c->endpoint);
}

/* Names that become folder and file names: no separators, no dot files. */
static bool safe_name(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            *s != '_' && *s != '-')
            return false;
    return true;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int not_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int json_file_name(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
}

/* A fixture file to replay. */
typedef struct fixture_file {
    char *worker;
    char *name; /* the file's stem */
    char *path;
} fixture_file;

typedef struct fixture_list {
    fixture_file *items;
    size_t count;
} fixture_list;

/* Appends the .json files in dir/worker to list, in name order. */
static void list_worker(fixture_list *list, const char *dir, const char *worker)
{
    char *folder = tg_xasprintf("%s/%s", dir, worker);
    struct dirent **names = NULL;
    int n = scandir(folder, &names, json_file_name, alphasort);
    for (int i = 0; i < n; i++) {
        char *path = tg_xasprintf("%s/%s", folder, names[i]->d_name);
        if (is_file(path)) {
            list->items = tg_xrealloc(list->items, (list->count + 1) * sizeof *list->items);
            size_t len = strlen(names[i]->d_name);
            list->items[list->count++] = (fixture_file){
                .worker = tg_xstrdup(worker),
                .name = tg_xstrndup(names[i]->d_name, len - 5),
                .path = path,
            };
            path = NULL;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    free(folder);
}

/* Returns: the fixtures in dir (only worker's when not NULL), sorted by
 * worker, then case. */
static fixture_list list_fixtures(const char *dir, const char *worker)
{
    fixture_list list = {NULL, 0};
    if (worker) {
        list_worker(&list, dir, worker);
        return list;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, not_hidden, alphasort);
    for (int i = 0; i < n; i++) {
        char *folder = tg_xasprintf("%s/%s", dir, names[i]->d_name);
        if (is_dir(folder)) list_worker(&list, dir, names[i]->d_name);
        free(folder);
        free(names[i]);
    }
    free(names);
    return list;
}

static void fixture_list_free(fixture_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].worker);
        free(list->items[i].name);
        free(list->items[i].path);
    }
    free(list->items);
}

/* Returns: NULL when the case passed, else a new string saying why not. */
static char *run_case(mcp_client *c, const fixture_file *f)
{
    json_error_t je;
    json_t *fixture = json_load_file(f->path, JSON_REJECT_DUPLICATES, &je);
    if (!fixture) return tg_xasprintf("not a JSON document: line %d: %s", je.line, je.text);
    char *why = NULL;
    tg_error err = {0};
    if (tg_fixture_check(fixture, &err) != 0) {
        why = tg_xasprintf("malformed fixture: %s", err.message);
        json_decref(fixture);
        return why;
    }
    json_t *params = json_pack("{s:s, s:O}", "name", f->worker, "arguments",
                               json_object_get(fixture, "arguments"));
    json_t *result = NULL;
    if (rpc(c, "tools/call", params, &result, &why) == RPC_OK)
        tg_fixture_met(fixture, result, &why);
    json_decref(result);
    json_decref(fixture);
    return why;
}

static int cmd_run(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    const char *dir = "contract-fixtures", *worker = NULL;
    long timeout_s = 120;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--url") == 0 && has_value) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && has_value) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && has_value) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--worker") == 0 && has_value && argv[i + 1][0] != '.' &&
                   argv[i + 1][0] && !strchr(argv[i + 1], '/')) {
            worker = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && has_value) {
            char *end;
            timeout_s = strtol(argv[++i], &end, 10);
            if (*end || timeout_s <= 0 || timeout_s > 86400) return tg_cmd_usage_error(usage_text);
        } else {
            return tg_cmd_usage_error(usage_text);
        }
    }
    url = tg_client_url(url);
    token = tg_client_token(token);

    fixture_list list = list_fixtures(dir, worker);
    if (list.count == 0) {
        fprintf(stderr, "toolgate: no fixtures in %s%s%s (expected DIR/<tool>/<case>.json)\n", dir,
                worker ? "/" : "", worker ? worker : "");
        printf("0 passed, 0 failed\n");
        fixture_list_free(&list);
        return 1;
    }
    mcp_client c = {0};
    int rc = 2;
    if (mcp_open(&c, url, token, timeout_s) == 0) {
        size_t passed = 0, failed = 0;
        for (size_t i = 0; i < list.count; i++) {
            const fixture_file *f = &list.items[i];
            char *why = run_case(&c, f);
            if (why) {
                printf("FAIL %s/%s: %s\n", f->worker, f->name, why);
                failed++;
            } else {
                printf("PASS %s/%s\n", f->worker, f->name);
                passed++;
            }
            fflush(stdout);
            free(why);
        }
        printf("%zu passed, %zu failed\n", passed, failed);
        rc = failed ? 1 : 0;
    }
    mcp_close(&c);
    fixture_list_free(&list);
    return rc;
}

/* Returns: new reference, the tool named name from the gateway's tools/list
 * (every page), or NULL after saying why on stderr; *unreachable tells
 * whether the gateway could not be asked at all. */
static json_t *listed_tool(mcp_client *c, const char *name, bool *unreachable)
{
    json_t *cursor = NULL, *found = NULL;
    *unreachable = false;
    for (int page = 0; page < MAX_PAGES && !found; page++) {
        json_t *params = json_object();
        if (cursor) json_object_set(params, "cursor", cursor);
        json_t *result = NULL;
        char *why = NULL;
        rpc_status rs = rpc(c, "tools/list", params, &result, &why);
        if (rs != RPC_OK) {
            fprintf(stderr, "toolgate: tools/list failed: %s\n", why);
            *unreachable = rs == RPC_UNREACHABLE;
            free(why);
            break;
        }
        size_t i;
        json_t *tool;
        json_array_foreach(json_object_get(result, "tools"), i, tool)
        {
            const char *n = json_string_value(json_object_get(tool, "name"));
            if (n && strcmp(n, name) == 0) {
                found = json_incref(tool);
                break;
            }
        }
        json_decref(cursor);
        cursor = json_incref(json_object_get(result, "nextCursor"));
        json_decref(result);
        if (!found && !json_is_string(cursor)) {
            fprintf(stderr, "toolgate: the gateway lists no tool \"%s\" for this token\n", name);
            break;
        }
    }
    json_decref(cursor);
    return found;
}

/* Returns: new reference, the manifest in dir/toolgate.json when it names
 * the tool name, or NULL after saying why on stderr. */
static json_t *manifest_tool(const char *dir, const char *name)
{
    char *path = tg_xasprintf("%s/toolgate.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!m) {
        fprintf(stderr, "toolgate: cannot read %s: %s\n", path, je.text);
    } else if (!json_is_object(m)) {
        fprintf(stderr, "toolgate: %s is not a manifest (not an object)\n", path);
        json_decref(m);
        m = NULL;
    } else {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (!n || strcmp(n, name) != 0) {
            fprintf(stderr, "toolgate: %s is the manifest of \"%s\", not of \"%s\"\n", path,
                    n ? n : "(no name)", name);
            json_decref(m);
            m = NULL;
        }
    }
    free(path);
    return m;
}

/* mkdir -p. Returns 0, or -1 with errno. */
static int make_dirs(const char *path)
{
    char *p = tg_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

/* Whether the file at path is a fixture `gen` wrote ("generated": true). */
static bool generated_file(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    bool generated = json_is_true(json_object_get(doc, "generated"));
    json_decref(doc);
    return generated;
}

/* Writes fixture to path through a temporary file, so a reader never sees
 * half a case. Returns 0, or -1 after saying why on stderr. */
static int write_fixture(const char *path, const json_t *fixture)
{
    /* Sorted keys: the same tool gives the same bytes whether it came from a
     * manifest or from tools/list (which may order schema keys otherwise), so
     * a regeneration changes a file only when the case changed. */
    char *text = json_dumps(fixture, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *tmp = tg_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, path) == 0) rc = 0;
    }
    if (rc != 0) {
        fprintf(stderr, "toolgate: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}

/* Writes cases (an object from case name to fixture) into folder: first the
 * files generated before go, then the new ones are written; a hand-written
 * file keeps its name even when a generated case has the same one. Returns
 * 0, or -1 after saying why on stderr. */
static int write_cases(const char *folder, const json_t *cases)
{
    const char *name;
    const json_t *fixture;
    json_object_foreach((json_t *)cases, name, fixture)
    {
        tg_error err = {0};
        if (!safe_name(name) || tg_fixture_check(fixture, &err) != 0) {
            fprintf(stderr, "toolgate: the generator made a bad case \"%s\": %s\n", name,
                    err.message[0] ? err.message : "not a file name");
            return -1;
        }
    }
    struct dirent **names = NULL;
    int n = scandir(folder, &names, json_file_name, alphasort);
    size_t removed = 0, written = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char *path = tg_xasprintf("%s/%s", folder, names[i]->d_name);
        char *stem = tg_xstrndup(names[i]->d_name, strlen(names[i]->d_name) - 5);
        if (is_file(path) && generated_file(path)) {
            if (unlink(path) != 0) {
                fprintf(stderr, "toolgate: cannot remove %s: %s\n", path, strerror(errno));
                rc = -1;
            } else if (!json_object_get(cases, stem)) {
                printf("removed %s\n", path);
                removed++;
            }
        }
        free(stem);
        free(path);
        free(names[i]);
    }
    free(names);
    if (rc != 0) return rc;
    json_object_foreach((json_t *)cases, name, fixture)
    {
        char *path = tg_xasprintf("%s/%s.json", folder, name);
        if (access(path, F_OK) == 0) {
            printf("kept %s (hand-written; generated case \"%s\" not written)\n", path, name);
        } else if (write_fixture(path, fixture) != 0) {
            rc = -1;
        } else {
            printf("wrote %s\n", path);
            written++;
        }
        free(path);
    }
    printf("%zu written, %zu removed\n", written, removed);
    return rc;
}

static int cmd_gen(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    const char *dir = "contract-fixtures", *from = NULL, *name = NULL;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--url") == 0 && has_value) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && has_value) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && has_value) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--from") == 0 && has_value) {
            from = argv[++i];
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            return tg_cmd_usage_error(usage_text);
        }
    }
    if (!name) return tg_cmd_usage_error(usage_text);
    if (!safe_name(name)) {
        fprintf(stderr, "toolgate: \"%s\" is not a tool name of [A-Za-z0-9_-]\n", name);
        return 2;
    }
    url = tg_client_url(url);
    token = tg_client_token(token);

    json_t *tool = NULL;
    if (from) {
        tool = manifest_tool(from, name);
        if (!tool) return 1;
    } else {
        mcp_client c = {0};
        bool unreachable = true;
        if (mcp_open(&c, url, token, 120) == 0) tool = listed_tool(&c, name, &unreachable);
        mcp_close(&c);
        if (!tool) return unreachable ? 2 : 1;
    }

    json_t *cases = NULL;
    tg_error err = {0};
    int rc = 1;
    char *folder = tg_xasprintf("%s/%s", dir, name);
    if (tg_contract_generate(tool, &cases, &err) != 0) {
        fprintf(stderr, "toolgate: cannot generate the cases of %s: %s\n", name, err.message);
    } else if (make_dirs(folder) != 0) {
        fprintf(stderr, "toolgate: cannot create %s: %s\n", folder, strerror(errno));
    } else if (write_cases(folder, cases) == 0) {
        rc = 0;
    }
    free(folder);
    json_decref(cases);
    json_decref(tool);
    return rc;
}

int tg_cmd_contract(int argc, char **argv)
{
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (argc >= 1 && strcmp(argv[0], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "gen") == 0) return cmd_gen(argc - 1, argv + 1);
    return tg_cmd_usage_error(usage_text);
}
