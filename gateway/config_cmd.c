/* `toolgate config`: checks a configuration as `toolgate serve` would read
 * it, before it is put in front of a running gateway (SIGHUP) or a restart,
 * and lists the variables that can set each key. */
#include "gateway/commands.h"

#include "gateway/config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: toolgate config check [FILE]\n"
    "       toolgate config variables\n"
    "  check [FILE]   read FILE (or no file) with the TOOLGATE_* variables over it, as\n"
    "                 toolgate serve does, and list every problem; exit 0 when there is\n"
    "                 none, 1 otherwise\n"
    "  variables      list every TOOLGATE_* variable and the key it sets\n"
    "  -h, --help     print this help\n";

static int check(const char *path)
{
    json_t *problems = NULL;
    json_t *config = tg_config_read(path, environ, &problems);
    const char *name = path ? path : "the configuration (no file)";
    size_t n = json_array_size(problems);
    if (n == 0) {
        printf("%s: ok\n", name);
    } else {
        fprintf(stderr, "%s: %zu problem%s:\n", name, n, n == 1 ? "" : "s");
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p) fprintf(stderr, "  %s\n", json_string_value(p));
    }
    json_decref(problems);
    json_decref(config);
    return n ? 1 : 0;
}

static int variables(void)
{
    json_t *list = tg_config_variables();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        printf("%-40s %s\n", json_string_value(json_object_get(v, "variable")),
               json_string_value(json_object_get(v, "key")));
    json_decref(list);
    return 0;
}

int tg_cmd_config(int argc, char **argv)
{
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (argc >= 1 && argc <= 2 && strcmp(argv[0], "check") == 0 && (argc == 1 || argv[1][0] != '-'))
        return check(argc == 2 ? argv[1] : NULL);
    if (argc == 1 && strcmp(argv[0], "variables") == 0) return variables();
    return tg_cmd_usage_error(usage_text);
}
