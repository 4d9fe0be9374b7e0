/* `toolgate deprecate NAME`: deprecates a version of a worker through a
 * running gateway's admin API (POST /v1/workers/NAME/deprecate), or undoes
 * it (--undo: DELETE). The tool keeps running with a notice until the
 * sunset, then refuses its calls (TOOL_RETIRED) naming the replacement.
 *
 * Exit status: 0 done, 1 refused or unreachable, 2 bad command line. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/core/alloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: toolgate deprecate NAME --sunset DATE [--version V] [--message TEXT]\n"
    "                          [--replacement TOOL] [--url URL] [--token TOKEN]\n"
    "       toolgate deprecate NAME --undo [--version V] [--url URL] [--token TOKEN]\n"
    "  --sunset DATE       when calls start failing TOOL_RETIRED: a date (its UTC midnight)\n"
    "                      or an RFC 3339 time, e.g. 2027-01-31 or 2027-01-31T12:00:00Z\n"
    "  --version V         a version id or a semver (every version with it); default: the\n"
    "                      current version (with --undo: every version)\n"
    "  --message TEXT      one line shown first in the tool's description, e.g.\n"
    "                      \"use crm_sync_v2 instead\"\n"
    "  --replacement TOOL  the tool callers should use; named in TOOL_RETIRED errors\n"
    "  --undo              remove the deprecation: calls run again without a notice\n"
    "  --url URL           the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN       a bearer token with workers:deploy (default $TOOLGATE_TOKEN)\n";

int tg_cmd_deprecate(int argc, char **argv)
{
    const char *name = NULL, *version = NULL, *sunset = NULL, *message = NULL;
    const char *replacement = NULL, *url = NULL, *token = NULL;
    bool undo = false;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(arg, "--undo") == 0)
            undo = true;
        else if (strcmp(arg, "--version") == 0 && has_value)
            version = argv[++i];
        else if (strcmp(arg, "--sunset") == 0 && has_value)
            sunset = argv[++i];
        else if (strcmp(arg, "--message") == 0 && has_value)
            message = argv[++i];
        else if (strcmp(arg, "--replacement") == 0 && has_value)
            replacement = argv[++i];
        else if (strcmp(arg, "--url") == 0 && has_value)
            url = argv[++i];
        else if (strcmp(arg, "--token") == 0 && has_value)
            token = argv[++i];
        else if (arg[0] != '-' && !name)
            name = arg;
        else
            return tg_cmd_usage_error(usage_text);
    }
    /* Undoing takes nothing but the version: a sunset there is a mistake. */
    if (!name || (undo ? sunset || message || replacement : !sunset))
        return tg_cmd_usage_error(usage_text);

    char *escaped = tg_client_escape(name);
    char *path = NULL, *text = NULL;
    if (undo) {
        char *v = version ? tg_client_escape(version) : NULL;
        path = v ? tg_xasprintf("/v1/workers/%s/deprecate?version=%s", escaped, v)
                 : tg_xasprintf("/v1/workers/%s/deprecate", escaped);
        free(v);
    } else {
        path = tg_xasprintf("/v1/workers/%s/deprecate", escaped);
        json_t *body = json_pack("{s:s, s:s*, s:s*, s:s*}", "sunset", sunset, "version", version,
                                 "message", message, "replacement", replacement);
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    }
    free(escaped);

    tg_client *c = tg_client_new(tg_client_url(url), tg_client_token(token), 0);
    tg_client_answer a;
    tg_client_result cr =
        tg_client_request(c, undo ? "DELETE" : "POST", path, text ? "application/json" : NULL, text,
                          text ? strlen(text) : 0, &a);
    int rc = 1;
    if (cr == TG_CLIENT_OK && tg_client_ok(&a)) {
        printf("%s\n", a.body ? a.body : "");
        rc = 0;
    } else {
        tg_client_report(&a);
    }
    tg_client_answer_clear(&a);
    tg_client_free(c);
    free(text);
    free(path);
    return rc;
}
