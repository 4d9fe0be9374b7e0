/* `toolgate toolset put|get|list|delete`: a running gateway's toolsets
 * (docs/toolsets.md), through its admin API (/v1/toolsets).
 *
 * Exit status: 0 done, 1 refused or unreachable, 2 bad command line or an
 * unreadable file. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/core/alloc.h"
#include "gateway/registry/toolsets.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A definition is small: a few hundred entries of at most 256 bytes. */
#define MAX_FILE (1024 * 1024)

static const char usage_text[] =
    "usage: toolgate toolset put NAME --file FILE [--url URL] [--token TOKEN]\n"
    "       toolgate toolset get NAME [--url URL] [--token TOKEN]\n"
    "       toolgate toolset list [--json] [--url URL] [--token TOKEN]\n"
    "       toolgate toolset delete NAME [--url URL] [--token TOKEN]\n"
    "  put defines toolset NAME (served at /mcp/NAME) from FILE (- for standard input):\n"
    "    {\"tools\": [\"crm_*\", \"send_mail\", \"report@1.2.0\"], \"mode\": \"all\" | "
    "\"search\",\n"
    "     \"alwaysLoaded\": [\"send_mail\"], \"description\": \"...\"}\n"
    "  NAME matches ^[a-z0-9][a-z0-9_-]{0,63}$; a toolset named default is what /mcp serves.\n"
    "  --url URL      the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN  a bearer token with workers:deploy (default $TOOLGATE_TOKEN)\n"
    "  --json         list: print the gateway's answer as it is\n";

/* Reads FILE (or standard input for -) whole; NULL after saying why. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "toolgate: cannot open %s\n", path);
        return NULL;
    }
    char *buf = tg_xmalloc(MAX_FILE + 1);
    *len = fread(buf, 1, MAX_FILE + 1, f);
    bool bad = ferror(f) || *len > MAX_FILE;
    if (f != stdin) fclose(f);
    if (bad) {
        fprintf(stderr, "toolgate: cannot read %s (or it is larger than 1 MiB)\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static void print_list(const tg_client_answer *a)
{
    json_t *doc = json_loads(a->body ? a->body : "", 0, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "toolsets"), i, t)
    {
        const char *description = json_string_value(json_object_get(t, "description"));
        printf("%-24s %-6s %3zu entries  %s\n", json_string_value(json_object_get(t, "name")),
               json_string_value(json_object_get(t, "mode")),
               json_array_size(json_object_get(t, "tools")), description ? description : "");
    }
    json_decref(doc);
}

int tg_cmd_toolset(int argc, char **argv)
{
    const char *action = argc > 0 ? argv[0] : "";
    const char *name = NULL, *url = NULL, *token = NULL, *file = NULL;
    bool as_json = false;
    bool is_put = strcmp(action, "put") == 0, is_get = strcmp(action, "get") == 0,
         is_list = strcmp(action, "list") == 0, is_delete = strcmp(action, "delete") == 0;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (!is_put && !is_get && !is_list && !is_delete) return tg_cmd_usage_error(usage_text);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc && is_put)
            file = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && is_list)
            as_json = true;
        else if (argv[i][0] != '-' && !name && !is_list)
            name = argv[i];
        else
            return tg_cmd_usage_error(usage_text);
    }
    if ((!is_list && !name) || (is_put && !file)) return tg_cmd_usage_error(usage_text);
    if (name && !tg_toolset_valid_name(name)) {
        fputs("toolgate: a toolset's name must match ^[a-z0-9][a-z0-9_-]{0,63}$\n", stderr);
        return 2;
    }
    size_t len = 0;
    char *body = NULL;
    if (is_put && !(body = read_file(file, &len))) return 2;
    char *path = name ? tg_xasprintf("/v1/toolsets/%s", name) : tg_xstrdup("/v1/toolsets");
    tg_client *c = tg_client_new(tg_client_url(url), tg_client_token(token), 0);
    tg_client_answer a;
    tg_client_result cr = tg_client_request(c,
                                            is_put      ? "PUT"
                                            : is_delete ? "DELETE"
                                                        : "GET",
                                            path, "application/json", body, len, &a);
    tg_client_free(c);
    free(body);
    free(path);
    int rc = 1;
    if (cr == TG_CLIENT_OK && tg_client_ok(&a)) {
        rc = 0;
        if (is_delete)
            printf("deleted %s\n", name);
        else if (is_list && !as_json)
            print_list(&a);
        else
            printf("%s\n", a.body ? a.body : "");
    } else {
        tg_client_report(&a);
    }
    tg_client_answer_clear(&a);
    return rc;
}
