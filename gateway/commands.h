/* The toolgate binary's subcommands: each takes the arguments after its own
 * name and returns the process exit status. */
#ifndef TG_GATEWAY_COMMANDS_H
#define TG_GATEWAY_COMMANDS_H

#include <stdbool.h>

int tg_cmd_schema(int argc, char **argv);
int tg_cmd_serve(int argc, char **argv);
int tg_cmd_deploy(int argc, char **argv);
int tg_cmd_deprecate(int argc, char **argv);
int tg_cmd_image(int argc, char **argv);
int tg_cmd_token(int argc, char **argv);
int tg_cmd_audit(int argc, char **argv);
int tg_cmd_secret(int argc, char **argv);
int tg_cmd_toolset(int argc, char **argv);
int tg_cmd_runs(int argc, char **argv);
int tg_cmd_contract(int argc, char **argv);
int tg_cmd_status(int argc, char **argv);
int tg_cmd_config(int argc, char **argv);

/* Whether the arguments ask for help (--help or -h anywhere). */
bool tg_cmd_wants_help(int argc, char **argv);
/* Prints a command's usage on stdout. Returns: 0, the exit status. */
int tg_cmd_help(const char *usage);
/* Prints a command's usage on stderr. Returns: 2, the exit status. */
int tg_cmd_usage_error(const char *usage);

/* Returns: new string, the folder our binary is in, or NULL. */
char *tg_binary_dir(void);
/* Returns: new string, the path of name beside our binary (or in its
 * vm-pool/ folder, as in a build tree), or NULL when there is none. */
char *tg_beside_binary(const char *name);

#endif
