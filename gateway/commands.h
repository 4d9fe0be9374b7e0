/* The toolgate binary's subcommands: each takes the arguments after its own
 * name and returns the process exit status. */
#ifndef TG_GATEWAY_COMMANDS_H
#define TG_GATEWAY_COMMANDS_H

int tg_cmd_schema(int argc, char **argv);
int tg_cmd_serve(int argc, char **argv);
int tg_cmd_deploy(int argc, char **argv);

#endif
