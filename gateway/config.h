/* The gateway's configuration: one JSON file (docs/configuration.md), with
 * any key overridden by an environment variable named after its path
 * (TOOLGATE_POOL_WARM for pool.warm), and both checked against one schema
 * before anything starts, so that every problem is reported at once.
 *
 * Flags on the command line come last and are the caller's (serve.c). */
#ifndef TG_GATEWAY_CONFIG_H
#define TG_GATEWAY_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

/* A key's variable is this, "_", and its path in capitals joined by "_". */
#define TG_CONFIG_ENV_ROOT "TOOLGATE"

/* Reads the file at path (NULL: no file, every key at its default), lays the
 * TOOLGATE_* variables of env (a NULL-terminated "NAME=value" list, such as
 * environ) over it, and checks the result: against the schema, and what the
 * schema cannot see (files it names that must be there: auth key files, the
 * secrets key, the CA file, the guest image, worker folders; the listen
 * address; that only loopback is served without authentication).
 * Returns: new reference to the configuration, or NULL with *problems a new
 * array of strings ("/pool/warm: must be <= 64 (got 1000)"), one per problem
 * found, each naming the variable a bad value came from. */
json_t *tg_config_read(const char *path, char *const *env, json_t **problems);

/* The same on the file's text (text NULL: no file). */
json_t *tg_config_parse(const char *text, size_t len, char *const *env, json_t **problems);

/* Returns: new reference, config with its HS256 secrets hidden, for logs. */
json_t *tg_config_redacted(const json_t *config);

/* Whether listen (HOST:PORT) is a loopback address. */
bool tg_config_loopback(const char *listen);

/* Every key a variable can set, as {"variable": "TOOLGATE_POOL_WARM",
 * "key": "pool.warm"} in the schema's order. Returns: new reference. */
json_t *tg_config_variables(void);

#endif
