/* libFuzzer target for worker manifests as POST /v1/workers receives them
 * (gateway/registry): the manifest is parsed and deployed with one code file
 * into a registry in a temporary folder, which checks it against the
 * manifest schema and compiles its inputSchema and outputSchema.
 *
 * Every manifest is also linted, as a deploy does (gateway/registry/lint.h).
 *
 * Input: the manifest's JSON text. Beyond "no crash, no leak", the target
 * abort()s when a refused deploy comes without a message, a refusal for
 * bad content (TG_REGISTRY_EINVALID) lists no problem, or a lint warning
 * lacks its path, rule or message. */
#include "gateway/registry/lint.h"
#include "gateway/registry/registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tg_registry *registry;

/* Names the broken invariant on stderr before aborting, so a CI log says
 * which check failed even without the reproducer. */
static void broken(const char *what, int rc)
{
    fprintf(stderr, "fuzz_manifest: %s (rc %d)\n", what, rc);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/fuzz_manifest.XXXXXX";
    if (!mkdtemp(dir)) abort();
    char path[64];
    snprintf(path, sizeof path, "%s/registry.db", dir);
    tg_registry_error err = {0};
    if (tg_registry_open(path, NULL, &registry, &err) != 0) broken(err.message, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    json_t *manifest = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!manifest) return 0;
    static const unsigned char code[] = "#!/bin/sh\ncat\n";
    const char *entry = json_string_value(json_object_get(manifest, "entry"));
    tg_registry_file file = {entry && *entry ? entry : "main.sh", code, sizeof code - 1};
    tg_registry_deploy_result res;
    tg_registry_error err = {0};
    int rc = tg_registry_deploy(registry, "fuzz", manifest, &file, 1, &res, &err);
    if (rc != 0 && err.message[0] == '\0') broken("a refused deploy has no message", rc);
    if (rc == TG_REGISTRY_EINVALID && json_array_size(err.details) == 0)
        broken("a refusal for bad content lists no problem", rc);
    tg_registry_error_clear(&err);
    json_t *warnings = tg_lint_tool(manifest, NULL);
    size_t i;
    json_t *w;
    json_array_foreach(warnings, i, w)
    {
        if (!json_is_string(json_object_get(w, "path")) ||
            !json_string_length(json_object_get(w, "rule")) ||
            !json_string_length(json_object_get(w, "message")))
            broken("a lint warning lacks its path, rule or message", 0);
    }
    if (!json_is_array(warnings)) broken("lint gave no array", 0);
    json_decref(warnings);
    json_decref(manifest);
    return 0;
}
