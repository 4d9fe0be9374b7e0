/* toolgate: the agent tool gateway's single binary. main only dispatches to
 * the subcommand named by the first argument. */
#include "gateway/commands.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
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
    {"deploy", tg_cmd_deploy, "deploy a worker folder to a running gateway"},
    {"schema", tg_cmd_schema, "validate JSON documents against JSON Schema 2020-12"},
    {"image", tg_cmd_image, "build the microVM guest image"},
    {"token", tg_cmd_token, "mint a token with a gateway's development key"},
    {"audit", tg_cmd_audit, "verify, query or export a gateway's audit log"},
    {"secret", tg_cmd_secret, "set, list or delete a running gateway's secrets"},
    {"runs", tg_cmd_runs, "list a running gateway's runs, or one run's logs"},
    {"contract", tg_cmd_contract, "replay or generate contract fixtures against a gateway"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: toolgate COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "toolgate: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
