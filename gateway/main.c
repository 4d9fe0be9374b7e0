/* toolgate: the agent tool gateway's single binary. main only dispatches to
 * the subcommand named by the first argument; `toolgate help COMMAND` is
 * `toolgate COMMAND --help`, which every command answers on stdout. */
#include "gateway/commands.h"

#include <stdio.h>
#include <string.h>

static const char version_usage[] = "usage: toolgate version\n"
                                    "  print the version of this binary\n";

static int cmd_version(int argc, char **argv)
{
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(version_usage);
    if (argc > 0) return tg_cmd_usage_error(version_usage);
    printf("toolgate %s\n", TOOLGATE_VERSION);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"version", cmd_version, "print the version"},
    {"serve", tg_cmd_serve, "run the gateway"},
    {"status", tg_cmd_status, "show a running gateway's health, driver, pool and calls"},
    {"deploy", tg_cmd_deploy, "deploy a worker folder to a running gateway"},
    {"deprecate", tg_cmd_deprecate, "deprecate a worker's version, or undo it"},
    {"schema", tg_cmd_schema, "validate JSON documents against JSON Schema 2020-12"},
    {"image", tg_cmd_image, "build the microVM guest image"},
    {"token", tg_cmd_token, "mint a token with a gateway's development key"},
    {"audit", tg_cmd_audit, "verify, query or export a gateway's audit log"},
    {"secret", tg_cmd_secret, "set, list or delete a running gateway's secrets"},
    {"toolset", tg_cmd_toolset, "define, show, list or delete a running gateway's toolsets"},
    {"runs", tg_cmd_runs, "list a running gateway's runs, or one run's logs"},
    {"contract", tg_cmd_contract, "replay or generate contract fixtures against a gateway"},
    {"config", tg_cmd_config, "check a configuration file, list its variables"},
};

bool tg_cmd_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    return false;
}

int tg_cmd_help(const char *usage)
{
    fputs(usage, stdout);
    return 0;
}

int tg_cmd_usage_error(const char *usage)
{
    fputs(usage, stderr);
    return 2;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: toolgate COMMAND [ARGS...]\n"
                "       toolgate help [COMMAND]    (or toolgate COMMAND --help)\n\n"
                "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n  --help, -h     this help; after a command, that command's options\n"
                "  --version      the version\n");
}

static int find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(name, commands[i].name) == 0) return (int)i;
    return -1;
}

static int unknown(const char *name)
{
    fprintf(stderr, "toolgate: unknown command \"%s\"\n", name);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 ||
        (strcmp(first, "help") == 0 && argc == 2)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(first, "--version") == 0) return cmd_version(0, NULL);
    if (strcmp(first, "help") == 0) {
        if (argc > 3) {
            usage(stderr);
            return 2;
        }
        int i = find(argv[2]);
        if (i < 0) return unknown(argv[2]);
        char help[] = "--help";
        char *args[] = {help, NULL};
        return commands[i].run(1, args);
    }
    int i = find(first);
    return i < 0 ? unknown(first) : commands[i].run(argc - 2, argv + 2);
}
