/* `toolgate deploy DIR`: reads a worker folder by the same rules as the
 * gateway (registry's reader) and sends it to a running gateway's admin API
 * (POST /v1/workers), so a refused manifest is reported with every problem
 * the gateway found. The gateway replays the folder's fixtures/ against the
 * new version before making it current and lints its definition; the
 * warnings and failed fixtures are also printed as lines on stderr.
 *
 * Exit status: 0 deployed, 1 refused or unreachable, 2 bad command line or
 * an unreadable folder. */
#include "gateway/commands.h"

#include "gateway/client.h"
#include "gateway/core/alloc.h"
#include "gateway/progress.h"
#include "gateway/registry/registry.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: toolgate deploy DIR [--url URL] [--token TOKEN] [--require-fixtures] [--strict]\n"
    "  --url URL           the gateway (default $TOOLGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN       a bearer token with workers:deploy (default $TOOLGATE_TOKEN)\n"
    "  --require-fixtures  refuse the version unless DIR/fixtures/ has fixtures and all pass\n"
    "                      (the version before stays current)\n"
    "  --strict            refuse the version when its definition has lint warnings\n"
    "  --fixtures DIR2     also send DIR2/*.json as the version's fixtures/ (for example\n"
    "                      contract-fixtures/NAME, kept apart from the worker's code)\n"
    "On a terminal a progress line shows while the gateway checks the version.\n";

/* A fixture is a call and its expected answer: small. */
#define MAX_FIXTURE_BYTES (1 << 20)

/* The checks' findings in the gateway's answer, one line each, for people
 * reading a terminal rather than JSON. */
static void print_findings(const char *reply)
{
    json_t *doc = reply ? json_loads(reply, 0, NULL) : NULL;
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(doc, "warnings"), i, w)
    {
        fprintf(stderr, "warning: %s: %s (%s)\n", json_string_value(json_object_get(w, "path")),
                json_string_value(json_object_get(w, "message")),
                json_string_value(json_object_get(w, "rule")));
    }
    json_t *fixtures = json_object_get(doc, "fixtures");
    json_array_foreach(json_object_get(fixtures, "cases"), i, w)
    {
        if (!json_is_true(json_object_get(w, "passed")))
            fprintf(stderr, "fixture %s failed: %s\n",
                    json_string_value(json_object_get(w, "name")),
                    json_string_value(json_object_get(w, "why")));
    }
    if (fixtures)
        fprintf(stderr, "fixtures: %lld passed, %lld failed\n",
                (long long)json_integer_value(json_object_get(fixtures, "passed")),
                (long long)json_integer_value(json_object_get(fixtures, "failed")));
    json_decref(doc);
}

static json_t *file_entry(const char *path, const unsigned char *data, size_t len)
{
    char *b64 = tg_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
    json_t *entry = json_pack("{s:s, s:s}", "path", path, "content_base64", b64);
    free(b64);
    return entry;
}

/* Adds every DIR2/NAME.json to the body's files as fixtures/NAME.json.
 * Returns -1, having said why, when one cannot be read or the worker folder
 * has a fixture of the same name (which of the two counts would be a guess). */
static int add_fixtures(json_t *body, const char *fixtures_dir)
{
    json_t *list = json_object_get(body, "files");
    DIR *d = opendir(fixtures_dir);
    if (!d) {
        fprintf(stderr, "toolgate: cannot read %s: %s\n", fixtures_dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
        char *src = tg_xasprintf("%s/%s", fixtures_dir, e->d_name);
        char *path = tg_xasprintf("fixtures/%s", e->d_name);
        size_t i;
        json_t *f;
        json_array_foreach(list, i, f)
        {
            if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0) {
                fprintf(stderr, "toolgate: %s is also in the worker folder\n", path);
                rc = -1;
            }
        }
        unsigned char *data = NULL;
        size_t len = 0;
        FILE *in = rc ? NULL : fopen(src, "rb");
        if (!rc && !in) {
            fprintf(stderr, "toolgate: cannot read %s: %s\n", src, strerror(errno));
            rc = -1;
        } else if (in) {
            data = tg_xmalloc(MAX_FIXTURE_BYTES + 1);
            len = fread(data, 1, MAX_FIXTURE_BYTES + 1, in);
            if (ferror(in) || len > MAX_FIXTURE_BYTES) {
                fprintf(stderr, "toolgate: %s: unreadable, or over %d bytes\n", src,
                        MAX_FIXTURE_BYTES);
                rc = -1;
            } else {
                json_array_append_new(list, file_entry(path, data, len));
            }
            fclose(in);
        }
        free(data);
        free(path);
        free(src);
    }
    closedir(d);
    return rc;
}

/* Returns: new reference, the POST /v1/workers body for the folder. */
static json_t *deploy_body(json_t *manifest, const tg_registry_file *files, size_t nfiles,
                           bool require_fixtures, bool strict)
{
    json_t *list = json_array();
    for (size_t i = 0; i < nfiles; i++)
        json_array_append_new(list, file_entry(files[i].path, files[i].data, files[i].len));
    return json_pack("{s:O, s:o, s:b, s:b}", "manifest", manifest, "files", list,
                     "require_fixtures", require_fixtures, "strict", strict);
}

int tg_cmd_deploy(int argc, char **argv)
{
    const char *dir = NULL, *url = NULL, *token = NULL;
    const char *fixtures_dir = NULL;
    bool require_fixtures = false, strict = false;
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--require-fixtures") == 0) {
            require_fixtures = true;
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = true;
        } else if (strcmp(argv[i], "--fixtures") == 0 && i + 1 < argc) {
            fixtures_dir = argv[++i];
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            return tg_cmd_usage_error(usage_text);
        }
    }
    if (!dir) return tg_cmd_usage_error(usage_text);

    json_t *manifest = NULL;
    tg_registry_file *files = NULL;
    size_t nfiles = 0;
    tg_registry_error err = {0};
    if (tg_registry_read_dir(dir, NULL, &manifest, &files, &nfiles, &err) != 0) {
        char *details = err.details ? json_dumps(err.details, JSON_INDENT(2)) : NULL;
        fprintf(stderr, "toolgate: cannot read %s: %s\n%s%s", dir, err.message,
                details ? details : "", details ? "\n" : "");
        free(details);
        tg_registry_error_clear(&err);
        return 2;
    }
    json_t *body = deploy_body(manifest, files, nfiles, require_fixtures, strict);
    tg_registry_files_free(files, nfiles);
    json_decref(manifest);
    if (fixtures_dir && add_fixtures(body, fixtures_dir) != 0) {
        json_decref(body);
        return 2;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    tg_client *c = tg_client_new(tg_client_url(url), tg_client_token(token), 0);
    /* The gateway answers after the version's setup and fixtures have run. */
    tg_client_set_timeout(c, 900);
    tg_progress *p = tg_progress_start("deploying");
    tg_progress_step(p, fixtures_dir || require_fixtures
                            ? "the gateway checks the version and runs its fixtures"
                            : "the gateway checks the version");
    tg_client_answer a;
    tg_client_result cr =
        tg_client_request(c, "POST", "/v1/workers", "application/json", text, strlen(text), &a);
    tg_progress_end(p);
    int rc = 1;
    if (cr == TG_CLIENT_OK) {
        /* The gateway's answer, as it gave it: the version, or every problem. */
        printf("%s\n", a.body ? a.body : "");
        print_findings(a.body);
        if (tg_client_ok(&a))
            rc = 0;
        else
            tg_client_report(&a);
    } else {
        tg_client_report(&a);
    }
    tg_client_answer_clear(&a);
    tg_client_free(c);
    free(text);
    return rc;
}
