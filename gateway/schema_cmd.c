/* `toolgate schema validate`: the schema engine from the command line, for
 * writing and debugging a worker's inputSchema and outputSchema.
 *
 * Exit status: 0 the instance is valid, 1 it is not, 2 the schema, the
 * instance or the command line is bad. The result is always one JSON document
 * on stdout, so scripts need not parse stderr. */
#include "gateway/commands.h"

#include "gateway/core/alloc.h"
#include "schemas/mapdir.h"
#include "schemas/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAPS 32

static const char usage_text[] =
    "usage: toolgate schema validate [--format-assert] [--map URL_PREFIX=DIR]... SCHEMA.json "
    "INSTANCE.json\n"
    "  --format-assert        make \"format\" an assertion (as toolgate does for tool arguments)\n"
    "  --map URL_PREFIX=DIR   resolve references under URL_PREFIX from files in DIR\n"
    "                         (repeatable, up to 32)\n"
    "prints {\"valid\", \"violations\"} on stdout; exits 0 valid, 1 invalid, 2 bad input\n";

static void print_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text) puts(text);
    free(text);
    json_decref(doc);
}

static int bad_input(const char *code, const char *message, const char *where)
{
    fprintf(stderr, "toolgate: %s%s%s\n", message, where && *where ? " at " : "",
            where ? where : "");
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (where) json_object_set_new(err, "schemaPath", json_string(where));
    print_json(json_pack("{s:o}", "error", err));
    return 2;
}

static json_t *load(const char *path, const char *what)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        /* jansson reports no position when the file could not be read at all. */
        char *msg = jerr.line < 0 ? tg_xasprintf("cannot read %s %s: %s", what, path, jerr.text)
                                  : tg_xasprintf("%s %s is not valid JSON: %s (line %d, column %d)",
                                                 what, path, jerr.text, jerr.line, jerr.column);
        bad_input(jerr.line < 0 ? "UNREADABLE" : "INVALID_JSON", msg, NULL);
        free(msg);
    }
    return doc;
}

static int validate(int argc, char **argv)
{
    tg_schema_mapdir maps[MAX_MAPS];
    size_t nmaps = 0;
    bool format_assert = false;
    const char *files[2];
    size_t nfiles = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format-assert") == 0) {
            format_assert = true;
        } else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || nmaps == MAX_MAPS) {
                fputs(usage_text, stderr);
                return 2;
            }
            *eq = '\0';
            maps[nmaps++] = (tg_schema_mapdir){argv[i], eq + 1};
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fputs(usage_text, stderr);
            return 2;
        } else if (nfiles < 2) {
            files[nfiles++] = argv[i];
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (nfiles != 2) {
        fputs(usage_text, stderr);
        return 2;
    }

    int rc = 2;
    tg_schema *schema = NULL;
    json_t *instance = NULL;
    json_t *doc = load(files[0], "schema");
    if (!doc) goto out;
    instance = load(files[1], "instance");
    if (!instance) goto out;

    tg_schema_mapdirs mapset = {maps, nmaps};
    tg_schema_options opts = {
        .resolve = nmaps ? tg_schema_mapdir_resolve : NULL,
        .resolve_userdata = &mapset,
        .format_assert = format_assert,
    };
    tg_schema_error err;
    if (tg_schema_compile(doc, &opts, &schema, &err) != 0) {
        bad_input("INVALID_SCHEMA", err.message, err.schema_path);
        goto out;
    }
    tg_schema_violations v;
    rc = tg_schema_validate(schema, instance, &v);
    json_t *result =
        json_pack("{s:b, s:o}", "valid", rc == 0, "violations", tg_schema_violations_json(&v));
    if (v.truncated) json_object_set_new(result, "truncated", json_true());
    print_json(result);
    tg_schema_violations_free(&v);
out:
    tg_schema_free(schema);
    json_decref(instance);
    json_decref(doc);
    return rc;
}

int tg_cmd_schema(int argc, char **argv)
{
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (argc >= 1 && strcmp(argv[0], "validate") == 0) return validate(argc - 1, argv + 1);
    fputs(usage_text, stderr);
    return 2;
}
