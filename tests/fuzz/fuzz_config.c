/* libFuzzer target for the configuration reader (gateway/config.h): the
 * file an operator writes and the TOOLGATE_* variables laid over it.
 *
 * Input: bytes up to the first NUL are one variable's "NAME=value" (NAME
 * picked by byte 0 from the variables the schema has, the rest its value);
 * the bytes after that NUL are the file.
 *
 * Invariants, beyond "no crash, no leak, no read past the input":
 *   - exactly one of a configuration and a list of problems comes back, and
 *     the list is never empty;
 *   - every problem is a non-empty string;
 *   - a configuration that comes back reads the same a second time, and is
 *     an object. */
#include "gateway/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *variables;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384) return 0;
    if (!variables) variables = tg_config_variables();
    const char *name = json_string_value(json_object_get(
        json_array_get(variables, data[0] % json_array_size(variables)), "variable"));
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t value_len = nul ? (size_t)(nul - data - 1) : size - 1;
    size_t name_len = strlen(name);
    char *var = malloc(name_len + value_len + 2);
    memcpy(var, name, name_len);
    var[name_len] = '=';
    memcpy(var + name_len + 1, data + 1, value_len);
    var[name_len + 1 + value_len] = '\0';
    char *env[] = {var, NULL};
    const char *file = nul ? (const char *)nul + 1 : NULL;
    size_t file_len = nul ? size - (size_t)(nul + 1 - data) : 0;

    json_t *problems = NULL;
    json_t *config = tg_config_parse(file, file_len, env, &problems);
    if ((config == NULL) == (problems == NULL)) abort();
    if (problems && json_array_size(problems) == 0) abort();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) if (!json_is_string(p) || json_string_length(p) == 0)
        abort();
    if (config) {
        if (!json_is_object(config)) abort();
        json_t *again_problems = NULL;
        json_t *again = tg_config_parse(file, file_len, env, &again_problems);
        if (!again || !json_equal(again, config)) abort();
        json_decref(again);
        json_t *shown = tg_config_redacted(config);
        json_decref(shown);
    }
    json_decref(config);
    json_decref(problems);
    free(var);
    return 0;
}
