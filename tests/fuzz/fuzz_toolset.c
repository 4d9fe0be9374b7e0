/* libFuzzer target for toolset definitions (gateway/registry/toolsets.h),
 * which come from admins over /v1/toolsets and are matched against every
 * tool name a tenant deploys.
 *
 * Input: the toolset's name up to the first '\n', then the definition (any
 * bytes: most are not JSON, which the admin API refuses before the parser;
 * those are given to the parser as a string, which it must refuse too).
 *
 * Invariants, beyond "no crash, no leak, no undefined behaviour":
 *   - a definition is accepted only under a valid name, and a refused one
 *     has at least one problem, each with a string path and message;
 *   - what an accepted definition shows (tg_toolset_json) parses again, to
 *     the same JSON: the store keeps it and reads it back that way;
 *   - matching is total: every probe name gets an answer, a pinned version
 *     only for a name the toolset includes, and alwaysLoaded never adds a
 *     tool the toolset does not have. */
#include "gateway/registry/toolsets.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const probes[] = {"crm_find", "report", "a",          "send_mail", "x.y-z",  "*",
                                     "",         "[",      "crm_export", "tool",      "default"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t name_len = nl ? (size_t)(nl - data) : size;
    char *name = strndup((const char *)data, name_len);
    const char *rest = nl ? (const char *)nl + 1 : "";
    size_t rest_len = nl ? size - name_len - 1 : 0;
    json_t *def = json_loadb(rest, rest_len, JSON_REJECT_DUPLICATES, NULL);
    if (!def) def = json_stringn(rest, rest_len);
    if (!def) def = json_null();

    tg_toolset *t = NULL;
    json_t *problems = NULL;
    tg_error err = {0};
    int rc = tg_toolset_parse(name, def, &t, &problems, &err);
    if (rc == 0) {
        if (!t || problems || !tg_toolset_valid_name(name)) abort();
        json_t *shown = tg_toolset_json(t);
        tg_toolset *again = NULL;
        if (tg_toolset_parse(name, shown, &again, NULL, NULL) != 0) abort();
        json_t *shown_again = tg_toolset_json(again);
        if (!json_equal(shown, shown_again)) abort();
        json_decref(shown_again);
        json_decref(shown);
        tg_toolset_unref(again);
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
            const char *pinned = NULL;
            bool in = tg_toolset_includes(t, probes[i], &pinned);
            if (pinned && !in) abort();
            if (tg_toolset_always_loaded(t, probes[i]) && !in) abort();
        }
    } else {
        if (t || !json_is_array(problems) || json_array_size(problems) == 0 || !err.message[0])
            abort();
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p) if (!json_is_string(json_object_get(p, "path")) ||
                                               !json_is_string(json_object_get(p, "message")))
            abort();
    }
    tg_toolset_unref(t);
    json_decref(problems);
    json_decref(def);
    free(name);
    return 0;
}
