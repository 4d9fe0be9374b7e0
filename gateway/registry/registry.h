/* The worker registry: every deployed version of every worker, per tenant, in
 * one store (a sqlite file in WAL mode, or a PostgreSQL database that
 * replicas share), and the current version of each tool for calls.
 *
 * Invariants: a version is immutable and named by the SHA-256 of its canonical
 * manifest and its files, so deploying the same content twice changes nothing;
 * exactly one version of a worker is current, and rollback only moves that
 * pointer; every read and write is scoped by tenant, so one tenant never sees
 * another's workers. Any number of threads may read (list, get, resolve) while
 * one deploys; writes are serialized. */
#ifndef TG_REGISTRY_REGISTRY_H
#define TG_REGISTRY_REGISTRY_H

#include "schemas/schema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_registry tg_registry;
/* An immutable, reference-counted view of one version, safe to share between
 * threads; it stays valid after a rollback or delete until its last unref. */
typedef struct tg_registry_snapshot tg_registry_snapshot;

enum {
    TG_REGISTRY_OK = 0,
    TG_REGISTRY_EINVALID = -1,  /* the manifest or the files are wrong: see details */
    TG_REGISTRY_ENOTFOUND = -2, /* no such worker or version in this tenant */
    TG_REGISTRY_ELIMIT = -3,    /* too many files, too many bytes, too deep */
    TG_REGISTRY_EIO = -4,       /* the worker folder could not be read */
    TG_REGISTRY_ESTORE = -5,    /* the store failed (full disk, corrupt file, locked, down) */
    TG_REGISTRY_EARG = -6,      /* a NULL or empty argument where one is needed */
    TG_REGISTRY_EINTERNAL = -7, /* hashing failed, or a stored version no longer loads */
};

/* Why a call failed. details, when not NULL, is an array of
 * {path, keyword, message} (every problem found, not just the first).
 * Start it zeroed (= {0}); a failing call replaces earlier details, and
 * tg_registry_error_clear releases them when done. */
typedef struct tg_registry_error {
    int code;
    char message[512];
    json_t *details;
} tg_registry_error;

void tg_registry_error_clear(tg_registry_error *err);

/* Limits on what one deploy may hold; 0 takes the default. */
typedef struct tg_registry_options {
    size_t max_total_bytes; /* sum of all file sizes (default 16 MiB) */
    size_t max_files;       /* default 1000 */
    size_t max_depth;       /* folder nesting (default 16) */
    int busy_timeout_ms;    /* how long a write waits for another process's lock (default 5000) */
} tg_registry_options;

/* One code file of a worker, in memory. path is relative, '/'-separated. */
typedef struct tg_registry_file {
    const char *path;
    const unsigned char *data;
    size_t len;
} tg_registry_file;

/* What a successful deploy did. */
typedef struct tg_registry_deploy_result {
    char version[65]; /* lowercase hex SHA-256: the version id */
    bool created;     /* a new version row was written */
    bool changed;     /* the current version of the worker moved */
} tg_registry_deploy_result;

typedef enum tg_registry_event {
    TG_REGISTRY_DEPLOYED,
    TG_REGISTRY_ROLLED_BACK,
    TG_REGISTRY_DELETED,
    TG_REGISTRY_DEPRECATED, /* a deprecation of the current version was set or undone */
} tg_registry_event;

/* What moved: the current version of tenant's worker name (borrowed for the
 * call). definition_changed says whether what tools/list shows of the tool
 * changed with it (its definition hash), which a deploy of new code under the
 * same definition does not: clients are told to list tools again only then. */
typedef struct tg_registry_change {
    const char *tenant;
    const char *name;
    tg_registry_event event;
    bool definition_changed;
} tg_registry_change;

/* Called after a deploy, rollback or delete has committed and moved or
 * removed a current version, or a deprecation changed how the current
 * version is listed, outside the registry's locks (the callback may
 * call the registry). */
typedef void (*tg_registry_change_fn)(const tg_registry_change *change, void *userdata);

/* Opens (creating when missing) the store where, a sqlite file's path or a
 * postgres:// URL, and brings its tables to the current schema version. opts
 * may be NULL. */
int tg_registry_open(const char *where, const tg_registry_options *opts, tg_registry **out,
                     tg_registry_error *err);
/* Snapshots still held stay valid: they do not point back to the registry. */
void tg_registry_close(tg_registry *reg);

/* One callback; a second call replaces it, NULL removes it. Set it before
 * other threads use the registry. */
void tg_registry_set_change_callback(tg_registry *reg, tg_registry_change_fn fn, void *userdata);

/* Deploys the worker folder dir: toolgate.json is the manifest (duplicate keys
 * refused); every other regular file under dir is a code file. Symlinks are
 * followed only when they stay inside dir and name a regular file. */
int tg_registry_deploy_dir(tg_registry *reg, const char *tenant, const char *dir,
                           tg_registry_deploy_result *res, tg_registry_error *err);

/* Reads the worker folder dir into memory by the rules and limits of a deploy
 * (opts may be NULL), for a client that deploys over HTTP. On success the
 * caller owns *manifest and *files (tg_registry_files_free). */
int tg_registry_read_dir(const char *dir, const tg_registry_options *opts, json_t **manifest,
                         tg_registry_file **files, size_t *nfiles, tg_registry_error *err);
void tg_registry_files_free(tg_registry_file *files, size_t nfiles);

/* Deploys from memory (POST /v1/workers). manifest is borrowed; the caller
 * parses it with JSON_REJECT_DUPLICATES. files must not include toolgate.json. */
int tg_registry_deploy(tg_registry *reg, const char *tenant, json_t *manifest,
                       const tg_registry_file *files, size_t nfiles, tg_registry_deploy_result *res,
                       tg_registry_error *err);

/* Stores the version like tg_registry_deploy but leaves the current version
 * where it is (a worker never deployed stays absent from lists and calls):
 * the version can be resolved by id (tg_registry_resolve_version), checked,
 * then made current (tg_registry_rollback) or dropped (tg_registry_discard).
 * res->changed is always false. */
int tg_registry_stage(tg_registry *reg, const char *tenant, json_t *manifest,
                      const tg_registry_file *files, size_t nfiles, tg_registry_deploy_result *res,
                      tg_registry_error *err);

/* Deletes a version that is not current (TG_REGISTRY_EINVALID when it is):
 * a staged version that failed its checks. */
int tg_registry_discard(tg_registry *reg, const char *tenant, const char *name, const char *version,
                        tg_registry_error *err);

/* *out: new reference, an array of {name, version, semver, title, description,
 * updated_at, deprecation} sorted by name (updated_at in ms since the epoch;
 * description the manifest's; deprecation the current version's, or null). */
int tg_registry_list(tg_registry *reg, const char *tenant, json_t **out, tg_registry_error *err);

/* *out: new reference, {name, version, definition_hash, manifest, updated_at,
 * output_schema_violations, deprecation, versions: [{version, semver,
 * created_at, current, definition_hash, output_schema_violations,
 * last_violation_at, deprecation}]} with versions oldest first
 * (last_violation_at null when there was none; deprecation null, or as
 * tg_registry_deprecation_json shows it). */
int tg_registry_get(tg_registry *reg, const char *tenant, const char *name, json_t **out,
                    tg_registry_error *err);

/* Calls fn with the current manifest (borrowed) of every worker, of every
 * tenant, that has a schedule (triggers.schedule), in (tenant, name) order:
 * the scheduler's view of what should run by itself. */
typedef void (*tg_registry_scheduled_fn)(void *ctx, const char *tenant, const char *name,
                                         const json_t *manifest);
int tg_registry_scheduled(tg_registry *reg, tg_registry_scheduled_fn fn, void *ctx,
                          tg_registry_error *err);

/* Makes version (a full version id of this worker, staged or current
 * before) current. */
int tg_registry_rollback(tg_registry *reg, const char *tenant, const char *name,
                         const char *version, tg_registry_error *err);

/* Deletes the worker with every version and file. */
int tg_registry_delete(tg_registry *reg, const char *tenant, const char *name,
                       tg_registry_error *err);

/* Egress rules an admin sets at runtime (PUT /v1/workers/{name}/egress) in
 * place of the manifest's, for every version of the worker, until removed
 * (rules NULL) or the worker is deleted. rules must match the manifest's
 * "egress" array (TG_REGISTRY_EINVALID with the violations as details). */
int tg_registry_set_egress(tg_registry *reg, const char *tenant, const char *name,
                           const json_t *rules, tg_registry_error *err);
/* *rules: new reference to the rules set at runtime, or NULL when there are
 * none (the manifest's apply). */
int tg_registry_egress(tg_registry *reg, const char *tenant, const char *name, json_t **rules,
                       tg_registry_error *err);

/* A version's deprecation: the tool still runs until sunset_ms, then every
 * call is refused (TOOL_RETIRED) without running. */
typedef struct tg_registry_deprecation {
    int64_t sunset_ms;       /* ms since the epoch */
    const char *message;     /* one line for the model and its user; never NULL */
    const char *replacement; /* the tool to call instead, or NULL */
} tg_registry_deprecation;

/* Deprecates versions of tenant's worker name with d (borrowed; its strings
 * are copied), or undoes their deprecation (d NULL). version is a full
 * version id or a semver (every stored version with it); NULL takes the
 * current version when deprecating and every version when undoing.
 * message must be one line of at most 500 bytes (an empty one is worded
 * from the replacement), replacement a tool name. *count (may be NULL) gets
 * the number of versions changed; TG_REGISTRY_ENOTFOUND when no version
 * matches (undoing where nothing was deprecated is not an error). When what
 * tools/list shows of the current version changes, the change callback
 * gets TG_REGISTRY_DEPRECATED with definition_changed. */
int tg_registry_deprecate(tg_registry *reg, const char *tenant, const char *name,
                          const char *version, const tg_registry_deprecation *d, size_t *count,
                          tg_registry_error *err);

/* Returns: new reference, {sunset, message, replacement} as tools/list's
 * _meta, results and the audit show it (sunset as RFC 3339 UTC, or a date
 * when it is a UTC midnight; replacement null when none). */
json_t *tg_registry_deprecation_json(const tg_registry_deprecation *d);

/* The current version of tool name, for a call. *out: new reference, release
 * with tg_registry_snapshot_unref. Compiled schemas are cached by version, so
 * resolving never recompiles a version already seen. */
int tg_registry_resolve(tg_registry *reg, const char *tenant, const char *name,
                        tg_registry_snapshot **out, tg_registry_error *err);

/* Version version of tool name, current or not (a staged version, or one a
 * rollback could return to). */
int tg_registry_resolve_version(tg_registry *reg, const char *tenant, const char *name,
                                const char *version, tg_registry_snapshot **out,
                                tg_registry_error *err);

/* Reads the store once, as every lookup does. Returns 0, or an error when
 * the store cannot be read (its file gone, unreadable, corrupt). */
int tg_registry_ping(tg_registry *reg, tg_registry_error *err);

/* Counts one result of this version that did not match its outputSchema:
 * the worker drifted from its contract. Kept with the version, so the count
 * survives restarts and names the version that drifted. */
int tg_registry_note_violation(tg_registry *reg, const char *tenant, const char *name,
                               const char *version, tg_registry_error *err);

/* Records principal ("<tenant>/<sub>"; borrowed) as the one who deployed
 * this version last: its scheduled runs go as that principal, with its own
 * secrets where egress rules ask for them. */
int tg_registry_note_deployer(tg_registry *reg, const char *tenant, const char *name,
                              const char *version, const char *principal, tg_registry_error *err);
/* *principal: new string, who deployed this version last, or NULL when
 * nobody was recorded (deployed before deployers were, or by the local
 * CLI) or there is no such version. Returns 0 or a registry error. */
int tg_registry_deployer(tg_registry *reg, const char *tenant, const char *name,
                         const char *version, char **principal, tg_registry_error *err);

/* Keeps the outcome of the last replay of this version's contract fixtures,
 * which GET /v1/workers/{name} and its versions show as "fixtures". */
int tg_registry_note_fixtures(tg_registry *reg, const char *tenant, const char *name,
                              const char *version, int64_t passed, int64_t failed,
                              tg_registry_error *err);

/* Calls fn for every version of every tenant with at least one output schema
 * violation, in (tenant, name, version) order. */
typedef void (*tg_registry_violations_fn)(void *ctx, const char *tenant, const char *name,
                                          const char *version, int64_t count);
int tg_registry_violations(tg_registry *reg, tg_registry_violations_fn fn, void *ctx,
                           tg_registry_error *err);

tg_registry_snapshot *tg_registry_snapshot_ref(tg_registry_snapshot *s);
void tg_registry_snapshot_unref(tg_registry_snapshot *s);

/* All borrowed from the snapshot and read-only. */
const char *tg_registry_snapshot_tenant(const tg_registry_snapshot *s);
const char *tg_registry_snapshot_name(const tg_registry_snapshot *s);
const char *tg_registry_snapshot_version(const tg_registry_snapshot *s);
/* SHA-256 (hex) over the tool as tools/list shows it: name, title,
 * description (with its deprecation line), inputSchema, outputSchema,
 * annotations, and the deprecation: deprecating a version changes it, so a
 * client that pinned the hash learns of the deprecation. */
const char *tg_registry_snapshot_definition_hash(const tg_registry_snapshot *s);
const json_t *tg_registry_snapshot_manifest(const tg_registry_snapshot *s);
const tg_schema *tg_registry_snapshot_input_schema(const tg_registry_snapshot *s);
/* NULL when the manifest has no outputSchema. */
const tg_schema *tg_registry_snapshot_output_schema(const tg_registry_snapshot *s);
/* The description as tools/list shows it: for a deprecated version, a
 * first line "Deprecated: <message> (sunset <date>)" before the manifest's;
 * NULL when there is neither. */
const char *tg_registry_snapshot_description(const tg_registry_snapshot *s);
/* NULL when the version is not deprecated. The deprecation is the one the
 * store held when the snapshot was resolved. */
const tg_registry_deprecation *tg_registry_snapshot_deprecation(const tg_registry_snapshot *s);
/* Whether the version is deprecated and now_ms (ms since the epoch) is at
 * or past its sunset: calls are refused. */
bool tg_registry_snapshot_retired(const tg_registry_snapshot *s, int64_t now_ms);
size_t tg_registry_snapshot_file_count(const tg_registry_snapshot *s);
/* Files sorted by path; NULL past the end. */
const tg_registry_file *tg_registry_snapshot_file(const tg_registry_snapshot *s, size_t i);

#endif
