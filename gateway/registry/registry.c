/* The worker registry: a store (a sqlite file in WAL mode, or the "registry"
 * schema of a PostgreSQL database shared by replicas) of workers, their
 * immutable versions and their files, scoped by tenant in every statement.
 *
 * Concurrency: one writer connection, used only under write_mu, so this
 * process's deploys, rollbacks and deletes are serialized; readers take a
 * connection of their own from a free list (opened on demand, kept for
 * reuse), so a reader never waits for the writer: each read transaction sees
 * one consistent snapshot while a write commits (sqlite's WAL, PostgreSQL's
 * REPEATABLE READ). Each connection is used by one thread at a time. Writers
 * in other processes (replicas on PostgreSQL) are kept apart per worker by
 * begin_worker.
 *
 * Resolved versions (manifest, files, compiled schemas) are cached by
 * (tenant, version id); a version is immutable, so a cached entry never goes
 * stale, and a call never recompiles a schema it has seen. Which version is
 * current is read from the store on every resolve, never cached, so another
 * replica's deploy or rollback is seen at the next call. */
#include "gateway/registry/registry.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/text.h"
#include "gateway/store/store.h"
#include "gateway/triggers/cron.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* schemas/worker-manifest.schema.json, built into the schema engine. */
#define MANIFEST_SCHEMA_URI "https://toolgate.dev/schemas/worker-manifest.schema.json"

#define MANIFEST_FILE          "toolgate.json"
#define MAX_MANIFEST_BYTES     (1u << 20)
#define MAX_PATH_BYTES         1024
#define MAX_TENANT_BYTES       128
#define MAX_NAME_BYTES         128
#define DEFAULT_MAX_TOTAL      (16u << 20)
#define DEFAULT_MAX_FILES      1000
#define DEFAULT_MAX_DEPTH      16
#define CACHE_MAX              256
#define BUSY_TIMEOUT_MS        5000
#define VERSION_HASH_DOMAIN    "toolgate.version.v1"
#define DEFINITION_HASH_DOMAIN "toolgate.definition.v1"
/* A deprecation's message is the first line of the tool's description. */
#define MAX_DEPRECATION_MESSAGE 500

struct tg_registry_snapshot {
    atomic_long refs;
    char *tenant;
    char *name;
    char version[65];
    char definition_hash[65];
    json_t *manifest;
    tg_schema *input;
    tg_schema *output;
    tg_registry_file *files; /* paths and data owned here */
    size_t nfiles;
    /* A deprecated version's snapshot is a view of the cached one (base,
     * which it holds a reference to and whose fields above it borrows) with
     * the deprecation the store held at resolve: the cache keeps only what
     * never changes. */
    tg_registry_snapshot *base;
    bool deprecated;
    tg_registry_deprecation deprecation; /* strings owned here */
    char *shown_description;             /* owned; NULL: the manifest's */
};

typedef struct cache_entry {
    struct cache_entry *next;
    tg_registry_snapshot *snap; /* the cache holds one reference */
} cache_entry;

struct tg_registry {
    char *where; /* the sqlite path or PostgreSQL URL the store was opened with */
    tg_registry_options opts;
    tg_schema *manifest_schema;
    tg_schema *egress_schema; /* the manifest's "egress" array, for runtime rules */

    pthread_mutex_t write_mu; /* guards wdb */
    tg_store *wdb;

    pthread_mutex_t pool_mu; /* guards readers */
    tg_store **readers;      /* idle read connections */
    size_t nreaders, readers_cap;

    pthread_mutex_t cache_mu; /* guards cache, ncache */
    cache_entry *cache;       /* most recently inserted first */
    size_t ncache;

    tg_registry_change_fn change_fn;
    void *change_userdata;
};

/* ---- errors ---------------------------------------------------------- */

void tg_registry_error_clear(tg_registry_error *err)
{
    if (!err) return;
    json_decref(err->details);
    err->details = NULL;
    err->code = 0;
    err->message[0] = '\0';
}

__attribute__((format(printf, 3, 4))) static int fail(tg_registry_error *err, int code,
                                                      const char *fmt, ...)
{
    if (!err) return code;
    /* An error struct may be reused: no details from an earlier failure stay. */
    json_decref(err->details);
    err->details = NULL;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/* How the registry words a failed store call (a tg_store_fail_fn); a failed
 * exec names its SQL as what. */
static int store_fail(void *err, tg_store_failure kind, const char *what, const char *detail)
{
    if (kind == TG_STORE_NOT_WAL)
        return fail(err, TG_REGISTRY_ESTORE, "%s: cannot use WAL mode", what);
    return fail(err, TG_REGISTRY_ESTORE, "%s: %s", what, detail);
}

/* Appends {path, keyword, message} to *details (created on first use). */
static void add_problem(json_t **details, const char *path, const char *keyword,
                        const char *message)
{
    if (!*details) *details = json_array();
    json_array_append_new(*details, json_pack("{s:s, s:s, s:s}", "path", path, "keyword", keyword,
                                              "message", message));
}

/* Hands details to err (or drops them) and returns TG_REGISTRY_EINVALID. */
static int fail_problems(tg_registry_error *err, json_t *details, const char *message)
{
    if (!err) {
        json_decref(details);
        return TG_REGISTRY_EINVALID;
    }
    fail(err, TG_REGISTRY_EINVALID, "%s (%zu problem%s)", message, json_array_size(details),
         json_array_size(details) == 1 ? "" : "s");
    err->details = details;
    return TG_REGISTRY_EINVALID;
}

/* ---- small helpers --------------------------------------------------- */

static bool valid_key(const char *s, size_t max)
{
    if (!s || !*s) return false;
    size_t n = strnlen(s, max + 1);
    return n <= max;
}

/* A relative, '/'-separated path that stays inside the worker folder: no
 * leading '/', no empty, "." or ".." component, no backslash or control byte. */
static bool valid_rel_path(const char *p)
{
    size_t n = strnlen(p, MAX_PATH_BYTES + 1);
    if (n == 0 || n > MAX_PATH_BYTES || p[0] == '/' || p[n - 1] == '/') return false;
    const char *c = p;
    while (*c) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == '\\' || c[i] == 0x7f) return false;
        c += len;
        if (*c == '/') c++;
    }
    return true;
}

static void hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Lengths go into the hash as 8 bytes big-endian, so no two different
 * (path, content) sequences can feed the digest the same bytes. */
static int digest_len(EVP_MD_CTX *ctx, uint64_t n)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(n & 0xff);
        n >>= 8;
    }
    return EVP_DigestUpdate(ctx, b, sizeof b);
}

static int digest_field(EVP_MD_CTX *ctx, const void *data, size_t len)
{
    if (digest_len(ctx, len) != 1) return 0;
    return len == 0 || EVP_DigestUpdate(ctx, data, len) == 1;
}

/* The version id: SHA-256 over a domain tag, the canonical manifest and the
 * files in path order (files must already be sorted). */
static int version_hash(const char *canon, const tg_registry_file *files, size_t nfiles,
                        const size_t *order, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, VERSION_HASH_DOMAIN, sizeof VERSION_HASH_DOMAIN) == 1 &&
             digest_field(ctx, canon, strlen(canon)) && digest_len(ctx, nfiles) == 1;
    for (size_t i = 0; ok && i < nfiles; i++) {
        const tg_registry_file *f = &files[order[i]];
        ok = digest_field(ctx, f->path, strlen(f->path)) && digest_field(ctx, f->data, f->len);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    hex(md, 32, out);
    return 0;
}

/* How a sunset reads: a date for a UTC midnight (what people deprecate
 * "on"), else RFC 3339 to the second. */
static void sunset_text(int64_t ms, char out[64])
{
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 64, "%lld", (long long)ms);
        return;
    }
    if (ms % 86400000 == 0)
        snprintf(out, 64, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    else
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

json_t *tg_registry_deprecation_json(const tg_registry_deprecation *d)
{
    char sunset[64];
    sunset_text(d->sunset_ms, sunset);
    return json_pack("{s:s, s:s, s:s?}", "sunset", sunset, "message", d->message, "replacement",
                     d->replacement);
}

/* Returns: the description tools/list shows for a deprecated version, the
 * deprecation's line first, so a model reading only the start sees it. */
static char *deprecated_description(const char *description, const tg_registry_deprecation *d)
{
    char sunset[64];
    sunset_text(d->sunset_ms, sunset);
    return tg_xasprintf("Deprecated: %s (sunset %s)%s%s", d->message, sunset,
                        description ? "\n" : "", description ? description : "");
}

/* The definition hash: SHA-256 over the tool as tools/list shows it, so a
 * client that pinned it notices any change to what the model sees. A
 * deprecation (dep, may be NULL) is part of that: it rewrites the
 * description and adds its _meta. */
static int definition_hash(const json_t *manifest, const tg_registry_deprecation *dep, char out[65])
{
    static const char *const keys[] = {"name",        "title",        "description",
                                       "inputSchema", "outputSchema", "annotations"};
    json_t *def = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(manifest, keys[i]);
        if (v) json_object_set(def, keys[i], v);
    }
    if (dep) {
        char *shown =
            deprecated_description(json_string_value(json_object_get(def, "description")), dep);
        json_object_set_new(def, "description", json_string(shown));
        free(shown);
        json_object_set_new(def, "deprecation", tg_registry_deprecation_json(dep));
    }
    char *canon = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(def);
    if (!canon) return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, DEFINITION_HASH_DOMAIN, sizeof DEFINITION_HASH_DOMAIN) == 1 &&
             EVP_DigestUpdate(ctx, canon, strlen(canon)) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    free(canon);
    if (!ok) return -1;
    hex(md, 32, out);
    return 0;
}

/* ---- the store ------------------------------------------------------- */

/* Each step moves the store from schema version i to i + 1, inside one
 * transaction; a store newer than this binary is refused. The sqlite texts
 * are the ones existing files were made with (PRAGMA user_version counts
 * them). In PostgreSQL, key columns compare bytewise (COLLATE "C"), as
 * sqlite's do, so ORDER BY name or path gives the same order on both, and
 * versions.seq stands for sqlite's rowid: the order versions were stored in,
 * for two created in the same millisecond. */
static const tg_store_migration migrations[] = {
    {"CREATE TABLE versions ("
     "  tenant TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
     "  semver TEXT NOT NULL, title TEXT, description TEXT, manifest TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY (tenant, name, hash));"
     "CREATE TABLE files ("
     "  tenant TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
     "  path TEXT NOT NULL, content BLOB NOT NULL,"
     "  PRIMARY KEY (tenant, name, hash, path),"
     "  FOREIGN KEY (tenant, name, hash) REFERENCES versions (tenant, name, hash)"
     "    ON DELETE CASCADE);"
     "CREATE TABLE workers ("
     "  tenant TEXT NOT NULL, name TEXT NOT NULL, current_version TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
     "  PRIMARY KEY (tenant, name),"
     "  FOREIGN KEY (tenant, name, current_version) REFERENCES versions (tenant, name, hash)"
     "    DEFERRABLE INITIALLY DEFERRED);",
     "CREATE TABLE versions ("
     "  tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     "  hash TEXT COLLATE \"C\" NOT NULL,"
     "  semver TEXT NOT NULL, title TEXT, description TEXT, manifest TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL, seq BIGINT GENERATED BY DEFAULT AS IDENTITY,"
     "  PRIMARY KEY (tenant, name, hash));"
     "CREATE TABLE files ("
     "  tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     "  hash TEXT COLLATE \"C\" NOT NULL, path TEXT COLLATE \"C\" NOT NULL,"
     "  content BYTEA NOT NULL,"
     "  PRIMARY KEY (tenant, name, hash, path),"
     "  FOREIGN KEY (tenant, name, hash) REFERENCES versions (tenant, name, hash)"
     "    ON DELETE CASCADE);"
     "CREATE TABLE workers ("
     "  tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     "  current_version TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
     "  PRIMARY KEY (tenant, name),"
     "  FOREIGN KEY (tenant, name, current_version) REFERENCES versions (tenant, name, hash)"
     "    DEFERRABLE INITIALLY DEFERRED);"},
    /* Egress rules an admin set for a worker at runtime, which take the
     * place of its manifest's until removed. */
    {"CREATE TABLE egress_rules ("
     "  tenant TEXT NOT NULL, name TEXT NOT NULL, rules TEXT NOT NULL,"
     "  updated_at INTEGER NOT NULL, PRIMARY KEY (tenant, name));",
     "CREATE TABLE egress_rules ("
     "  tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     "  rules TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (tenant, name));"},
    /* Results that did not match the version's outputSchema: drift, counted
     * where it happened. */
    {"ALTER TABLE versions ADD COLUMN output_violations INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE versions ADD COLUMN last_violation_at INTEGER;",
     "ALTER TABLE versions ADD COLUMN output_violations BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN last_violation_at BIGINT;"},
    /* The last replay of the version's contract fixtures: NULL checked_at
     * when none ran (no fixtures, or deployed without the pipeline). */
    {"ALTER TABLE versions ADD COLUMN fixtures_passed INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE versions ADD COLUMN fixtures_failed INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE versions ADD COLUMN fixtures_checked_at INTEGER;",
     "ALTER TABLE versions ADD COLUMN fixtures_passed BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN fixtures_failed BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN fixtures_checked_at BIGINT;"},
    /* Deprecations, per version: the sunset after which calls are refused,
     * the message and the replacement. A table of their own, not columns of
     * versions, since a version row is otherwise immutable. */
    {"CREATE TABLE deprecations ("
     "  tenant TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,"
     "  sunset_ms INTEGER NOT NULL, message TEXT NOT NULL, replacement TEXT,"
     "  created_at INTEGER NOT NULL, PRIMARY KEY (tenant, name, version));",
     "CREATE TABLE deprecations ("
     "  tenant TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     "  version TEXT COLLATE \"C\" NOT NULL,"
     "  sunset_ms BIGINT NOT NULL, message TEXT NOT NULL, replacement TEXT,"
     "  created_at BIGINT NOT NULL, PRIMARY KEY (tenant, name, version));"},
    /* The principal that last deployed the version ("<tenant>/<sub>"), as
     * whom its scheduled runs go; NULL for versions deployed before. */
    {"ALTER TABLE versions ADD COLUMN deployed_by TEXT;",
     "ALTER TABLE versions ADD COLUMN deployed_by TEXT;"},
};

/* The columns a query selects from a LEFT JOIN of deprecations, in this
 * order (d the table's alias). */
#define DEPRECATION_COLUMNS "d.sunset_ms, d.message, d.replacement"

/* Reads DEPRECATION_COLUMNS starting at col into *d (strings borrowed from
 * the row); false when the row has no deprecation. */
static bool row_deprecation(tg_stmt *st, int col, tg_registry_deprecation *d)
{
    if (tg_stmt_is_null(st, col)) return false;
    *d = (tg_registry_deprecation){
        .sunset_ms = tg_stmt_int64(st, col),
        .message = tg_stmt_text(st, col + 1),
        .replacement = tg_stmt_is_null(st, col + 2) ? NULL : tg_stmt_text(st, col + 2),
    };
    return true;
}

static int exec(tg_store *db, const char *sql, tg_registry_error *err)
{
    return tg_store_exec(db, sql, store_fail, err);
}

/* Prepares sql and binds the n text arguments that follow (borrowed: they
 * must outlive the statement). */
static int prep(tg_store *db, tg_stmt **st, tg_registry_error *err, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int rc = tg_store_vprepare(db, st, store_fail, err, sql, n, ap);
    va_end(ap);
    return rc;
}

static int step_done(tg_stmt *st, tg_registry_error *err)
{
    return tg_stmt_run(st, store_fail, err);
}

static int step_row(tg_stmt *st, tg_registry_error *err)
{
    return tg_stmt_step(st, store_fail, err);
}

static bool postgres(const tg_store *db)
{
    return tg_store_backend(db) == TG_STORE_POSTGRES;
}

/* Begins a write transaction on tenant's worker name. sqlite's BEGIN
 * IMMEDIATE already serializes every writer of the file. In PostgreSQL,
 * where replicas write at once under READ COMMITTED, the transaction also
 * takes a lock on (tenant, name), held to its end: every read-then-write on
 * a worker (is this version new, which one is current, is it still there)
 * then sees what the previous writer committed and no writer in between. A
 * lock of its own rather than SELECT ... FOR UPDATE, because the rows to lock
 * may not exist yet (a first deploy, a staged version). Two names whose
 * hashes collide only wait for each other. */
static int begin_worker(tg_store *db, const char *tenant, const char *name, tg_registry_error *err)
{
    int rc = tg_store_begin(db, store_fail, err);
    if (rc || !postgres(db)) return rc;
    tg_stmt *st = NULL;
    rc = prep(db, &st, err, "SELECT pg_advisory_xact_lock(hashtext(?1), hashtext(?2))", 2, tenant,
              name);
    if (!rc) rc = step_done(st, err);
    tg_stmt_finalize(st);
    if (rc) tg_store_rollback(db);
    return rc;
}

/* Begins a read transaction on a reader: every statement in it sees the same
 * snapshot (sqlite's from its first read; PostgreSQL's READ COMMITTED would
 * give each statement its own, so REPEATABLE READ). */
static int begin_read(tg_store *db, tg_registry_error *err)
{
    return exec(db, postgres(db) ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN",
                err);
}

/* Commits, or rolls back when rc (a failure before) or the commit fails. */
static int finish(tg_store *db, int rc, tg_registry_error *err)
{
    if (!rc) rc = tg_store_commit(db, store_fail, err);
    if (rc) tg_store_rollback(db);
    return rc;
}

static int open_conn(const tg_registry *reg, bool readonly, tg_store **out, tg_registry_error *err)
{
    static const char *const setup[] = {"PRAGMA foreign_keys = ON", NULL};
    unsigned flags = readonly ? TG_STORE_READONLY : TG_STORE_CREATE | TG_STORE_DURABLE;
    return tg_store_open(reg->where, "registry", flags, reg->opts.busy_timeout_ms, setup, NULL, out,
                         store_fail, err);
}

static int reader_get(tg_registry *reg, tg_store **out, tg_registry_error *err)
{
    pthread_mutex_lock(&reg->pool_mu);
    tg_store *db = reg->nreaders ? reg->readers[--reg->nreaders] : NULL;
    pthread_mutex_unlock(&reg->pool_mu);
    if (db) {
        *out = db;
        return 0;
    }
    return open_conn(reg, true, out, err);
}

static void reader_put(tg_registry *reg, tg_store *db)
{
    if (!db) return;
    /* A connection goes back idle, never inside a transaction. */
    tg_store_rollback(db);
    pthread_mutex_lock(&reg->pool_mu);
    if (reg->nreaders == reg->readers_cap) {
        reg->readers_cap = reg->readers_cap ? 2 * reg->readers_cap : 8;
        reg->readers = tg_xrealloc(reg->readers, reg->readers_cap * sizeof *reg->readers);
    }
    reg->readers[reg->nreaders++] = db;
    pthread_mutex_unlock(&reg->pool_mu);
}

/* ---- open / close ---------------------------------------------------- */

int tg_registry_open(const char *where, const tg_registry_options *opts, tg_registry **out,
                     tg_registry_error *err)
{
    if (!where || !*where || !out) return fail(err, TG_REGISTRY_EARG, "no store path or URL");
    *out = NULL;
    tg_registry *reg = tg_xcalloc(1, sizeof *reg);
    reg->where = tg_xstrdup(where);
    if (opts) reg->opts = *opts;
    if (!reg->opts.max_total_bytes) reg->opts.max_total_bytes = DEFAULT_MAX_TOTAL;
    if (!reg->opts.max_files) reg->opts.max_files = DEFAULT_MAX_FILES;
    if (!reg->opts.max_depth) reg->opts.max_depth = DEFAULT_MAX_DEPTH;
    if (reg->opts.busy_timeout_ms <= 0) reg->opts.busy_timeout_ms = BUSY_TIMEOUT_MS;
    pthread_mutex_init(&reg->write_mu, NULL);
    pthread_mutex_init(&reg->pool_mu, NULL);
    pthread_mutex_init(&reg->cache_mu, NULL);

    int rc;
    json_error_t jerr;
    const char *text = tg_schema_builtin(MANIFEST_SCHEMA_URI);
    json_t *doc = text ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!doc) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "embedded manifest schema: %s",
                  text ? jerr.text : "not built into the schema engine");
        goto out;
    }
    tg_schema_options so = {.format_assert = true};
    tg_schema_error serr;
    rc = tg_schema_compile(doc, &so, &reg->manifest_schema, &serr);
    json_decref(doc);
    if (rc) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "embedded manifest schema: %s at %s", serr.message,
                  serr.schema_path);
        goto out;
    }
    json_t *egress_doc = json_pack("{s:s, s:i, s:{s:s}}", "type", "array", "maxItems", 64, "items",
                                   "$ref", MANIFEST_SCHEMA_URI "#/$defs/egressRule");
    rc = tg_schema_compile(egress_doc, &so, &reg->egress_schema, &serr);
    json_decref(egress_doc);
    if (rc) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "egress rule schema: %s", serr.message);
        goto out;
    }
    rc = open_conn(reg, false, &reg->wdb, err);
    if (!rc)
        rc = tg_store_migrate(reg->wdb, migrations, sizeof migrations / sizeof migrations[0],
                              store_fail, err);
out:
    if (rc) {
        tg_registry_close(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

static void snapshot_free(tg_registry_snapshot *s)
{
    free((char *)s->deprecation.message);
    free((char *)s->deprecation.replacement);
    free(s->shown_description);
    if (s->base) {
        tg_registry_snapshot_unref(s->base);
        free(s);
        return;
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        free((void *)s->files[i].path);
        free((void *)s->files[i].data);
    }
    free(s->files);
    tg_schema_free(s->input);
    tg_schema_free(s->output);
    json_decref(s->manifest);
    free(s->tenant);
    free(s->name);
    free(s);
}

void tg_registry_close(tg_registry *reg)
{
    if (!reg) return;
    for (cache_entry *e = reg->cache, *next; e; e = next) {
        next = e->next;
        tg_registry_snapshot_unref(e->snap);
        free(e);
    }
    for (size_t i = 0; i < reg->nreaders; i++)
        tg_store_close(reg->readers[i]);
    free(reg->readers);
    /* Every statement is finalized where it was prepared, so close succeeds. */
    tg_store_close(reg->wdb);
    tg_schema_free(reg->manifest_schema);
    tg_schema_free(reg->egress_schema);
    pthread_mutex_destroy(&reg->write_mu);
    pthread_mutex_destroy(&reg->pool_mu);
    pthread_mutex_destroy(&reg->cache_mu);
    free(reg->where);
    free(reg);
}

void tg_registry_set_change_callback(tg_registry *reg, tg_registry_change_fn fn, void *userdata)
{
    reg->change_fn = fn;
    reg->change_userdata = userdata;
}

static void notify(tg_registry *reg, const char *tenant, const char *name, tg_registry_event ev,
                   bool definition_changed)
{
    tg_registry_change change = {tenant, name, ev, definition_changed};
    if (reg->change_fn) reg->change_fn(&change, reg->change_userdata);
}

/* ---- snapshot cache -------------------------------------------------- */

static tg_registry_snapshot *cache_find(tg_registry *reg, const char *tenant, const char *version)
{
    tg_registry_snapshot *found = NULL;
    pthread_mutex_lock(&reg->cache_mu);
    for (cache_entry *e = reg->cache; e; e = e->next) {
        if (strcmp(e->snap->version, version) == 0 && strcmp(e->snap->tenant, tenant) == 0) {
            found = tg_registry_snapshot_ref(e->snap);
            break;
        }
    }
    pthread_mutex_unlock(&reg->cache_mu);
    return found;
}

/* Inserts s (steals the caller's reference) unless another thread got there
 * first. Returns: new reference to the cached snapshot. */
static tg_registry_snapshot *cache_insert(tg_registry *reg, tg_registry_snapshot *s)
{
    tg_registry_snapshot *have = cache_find(reg, s->tenant, s->version);
    if (have) {
        tg_registry_snapshot_unref(s);
        return have;
    }
    tg_registry_snapshot *evicted = NULL;
    pthread_mutex_lock(&reg->cache_mu);
    cache_entry *e = tg_xmalloc(sizeof *e);
    e->snap = s;
    e->next = reg->cache;
    reg->cache = e;
    if (++reg->ncache > CACHE_MAX) {
        /* Drop the oldest entry; whoever still holds it keeps it alive. */
        cache_entry **pp = &reg->cache;
        while ((*pp)->next)
            pp = &(*pp)->next;
        evicted = (*pp)->snap;
        free(*pp);
        *pp = NULL;
        reg->ncache--;
    }
    tg_registry_snapshot *ret = tg_registry_snapshot_ref(s);
    pthread_mutex_unlock(&reg->cache_mu);
    if (evicted) tg_registry_snapshot_unref(evicted);
    return ret;
}

/* Drops the cached snapshots of name's version (NULL: of every version). */
static void cache_forget(tg_registry *reg, const char *tenant, const char *name,
                         const char *version)
{
    cache_entry *dropped = NULL;
    pthread_mutex_lock(&reg->cache_mu);
    for (cache_entry **pp = &reg->cache; *pp;) {
        cache_entry *e = *pp;
        if (strcmp(e->snap->tenant, tenant) == 0 && strcmp(e->snap->name, name) == 0 &&
            (!version || strcmp(e->snap->version, version) == 0)) {
            *pp = e->next;
            e->next = dropped;
            dropped = e;
            reg->ncache--;
        } else {
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&reg->cache_mu);
    while (dropped) {
        cache_entry *next = dropped->next;
        tg_registry_snapshot_unref(dropped->snap);
        free(dropped);
        dropped = next;
    }
}

/* ---- deploy ---------------------------------------------------------- */

static const char *json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Compiles the schema at manifest[key] and records why it does not compile. */
/* Compiles the manifest's schema at key; with an instance (borrowed, may be
 * NULL), also checks it against the schema, its violations reported under
 * instance_at. */
static void check_tool_schema(json_t *manifest, const char *key, json_t **details,
                              const json_t *instance, const char *instance_at)
{
    json_t *schema = json_object_get(manifest, key);
    if (!json_is_object(schema)) return; /* the manifest schema already said so */
    tg_schema_options so = {.format_assert = true};
    tg_schema *compiled = NULL;
    tg_schema_error serr;
    if (tg_schema_compile(schema, &so, &compiled, &serr) != 0) {
        char *path = tg_xasprintf("/%s%s", key, serr.schema_path);
        add_problem(details, path, "schema", serr.message);
        free(path);
        return;
    }
    tg_schema_violations v = {0};
    if (instance && tg_schema_validate(compiled, instance, &v) != 0) {
        for (size_t i = 0; i < v.count; i++) {
            char *path = tg_xasprintf("%s%s", instance_at, v.items[i].path);
            add_problem(details, path, v.items[i].keyword, v.items[i].message);
            free(path);
        }
    }
    tg_schema_violations_free(&v);
    tg_schema_free(compiled);
}

static int cmp_paths(const void *a, const void *b, void *files)
{
    const tg_registry_file *f = files;
    return strcmp(f[*(const size_t *)a].path, f[*(const size_t *)b].path);
}

/* Returns: new string, the JSON Pointer /files/<path> with path escaped
 * (RFC 6901: '~' as ~0, '/' as ~1), so a nested path stays one token. */
static char *files_pointer(const char *path)
{
    size_t n = strnlen(path, MAX_PATH_BYTES + 1);
    char *out = tg_xmalloc(sizeof "/files/" + 2 * n);
    char *o = out + strlen("/files/");
    memcpy(out, "/files/", strlen("/files/"));
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '~' || path[i] == '/') {
            *o++ = '~';
            *o++ = path[i] == '~' ? '0' : '1';
        } else {
            *o++ = path[i];
        }
    }
    *o = '\0';
    return out;
}

/* Records a problem when entry (at pointer where) is not one of the files. */
static void check_entry(const char *entry, const char *where, const tg_registry_file *files,
                        size_t nfiles, json_t **details)
{
    if (!entry) return;
    for (size_t i = 0; i < nfiles; i++)
        if (strcmp(files[i].path, entry) == 0) return;
    char *msg = tg_xasprintf("the entry file %s is not in the worker", entry);
    add_problem(details, where, "entry", msg);
    free(msg);
}

/* A schedule the scheduler could not follow is refused at deploy, where its
 * author sees why, rather than skipped later in silence. The zone is checked
 * against this host's tzdata. */
static void check_schedule(const json_t *triggers, json_t **details)
{
    const char *expr = json_str(triggers, "schedule");
    if (!expr) return;
    char why[256];
    tg_cron *cron = NULL;
    if (tg_cron_parse(expr, json_str(triggers, "timezone"), &cron, why, sizeof why) != 0)
        add_problem(details, "/triggers/schedule", "schedule", why);
    tg_cron_free(cron);
}

/* Every problem with the manifest and the files, or NULL when there is none. */
static json_t *check_worker(tg_registry *reg, json_t *manifest, const tg_registry_file *files,
                            size_t nfiles, const size_t *order)
{
    json_t *details = NULL;
    tg_schema_violations v = {0};
    if (tg_schema_validate(reg->manifest_schema, manifest, &v) != 0) {
        for (size_t i = 0; i < v.count; i++)
            add_problem(&details, v.items[i].path, v.items[i].keyword, v.items[i].message);
    }
    tg_schema_violations_free(&v);

    for (size_t i = 0; i < nfiles; i++) {
        const char *p = files[order[i]].path;
        char *where = files_pointer(p);
        if (!valid_rel_path(p))
            add_problem(&details, where, "path",
                        "must be a relative path inside the worker folder (no '..')");
        else if (strcmp(p, MANIFEST_FILE) == 0)
            add_problem(&details, where, "path", "the manifest is not a code file");
        else if (i > 0 && strcmp(p, files[order[i - 1]].path) == 0)
            add_problem(&details, where, "path", "appears twice");
        free(where);
    }
    check_entry(json_str(manifest, "entry"), "/entry", files, nfiles, &details);
    check_entry(json_str(json_object_get(manifest, "setup"), "entry"), "/setup/entry", files,
                nfiles, &details);
    /* Every scheduled run takes the same arguments ({} when the manifest
     * gives none): ones the tool refuses would fail every run. */
    const json_t *triggers = json_object_get(manifest, "triggers");
    json_t *scheduled = NULL;
    if (json_is_string(json_object_get(triggers, "schedule"))) {
        scheduled = json_object_get(triggers, "arguments");
        scheduled = json_is_object(scheduled) ? json_incref(scheduled) : json_object();
    }
    check_tool_schema(manifest, "inputSchema", &details, scheduled, "/triggers/arguments");
    json_decref(scheduled);
    check_tool_schema(manifest, "outputSchema", &details, NULL, NULL);
    check_schedule(triggers, &details);
    return details;
}

static int insert_version(tg_store *db, const char *tenant, const char *name, const char *version,
                          json_t *manifest, const char *canon, const tg_registry_file *files,
                          size_t nfiles, tg_registry_error *err)
{
    tg_stmt *st = NULL;
    int rc = prep(db, &st, err,
                  "INSERT INTO versions (tenant, name, hash, semver, title, description,"
                  " manifest, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  7, tenant, name, version, json_str(manifest, "version"),
                  json_str(manifest, "title"), json_str(manifest, "description"), canon);
    if (rc) return rc;
    tg_stmt_bind_int64(st, 8, tg_now_ms());
    rc = step_done(st, err);
    tg_stmt_finalize(st);
    if (rc) return rc;

    rc = prep(db, &st, err,
              "INSERT INTO files (tenant, name, hash, path, content) VALUES (?1, ?2, ?3, ?4, ?5)",
              0);
    for (size_t i = 0; !rc && i < nfiles; i++) {
        /* A reset clears every bind, so each file binds all five. */
        tg_stmt_reset(st);
        tg_stmt_bind_text(st, 1, tenant);
        tg_stmt_bind_text(st, 2, name);
        tg_stmt_bind_text(st, 3, version);
        tg_stmt_bind_text(st, 4, files[i].path);
        tg_stmt_bind_blob(st, 5, files[i].data, files[i].len);
        rc = step_done(st, err);
    }
    tg_stmt_finalize(st);
    return rc;
}

/* The definition hash of a stored version of name into out, with its
 * deprecation. */
static int stored_definition(tg_store *db, const char *tenant, const char *name,
                             const char *version, char out[65], tg_registry_error *err)
{
    tg_stmt *st = NULL;
    int rc = prep(db, &st, err,
                  "SELECT v.manifest, " DEPRECATION_COLUMNS " FROM versions v"
                  " LEFT JOIN deprecations d ON d.tenant = v.tenant AND d.name = v.name"
                  " AND d.version = v.hash WHERE v.tenant = ?1 AND v.name = ?2 AND v.hash = ?3",
                  3, tenant, name, version);
    int row = rc ? rc : step_row(st, err);
    if (row == 1) {
        json_t *manifest = json_loads(tg_stmt_text(st, 0), 0, NULL);
        tg_registry_deprecation dep;
        bool deprecated = row_deprecation(st, 1, &dep);
        if (!manifest || definition_hash(manifest, deprecated ? &dep : NULL, out) != 0)
            rc = fail(err, TG_REGISTRY_EINTERNAL, "a stored manifest of %s does not load", name);
        json_decref(manifest);
    } else {
        rc = row < 0
                 ? row
                 : fail(err, TG_REGISTRY_ENOTFOUND, "worker %s has no version %s", name, version);
    }
    tg_stmt_finalize(st);
    return rc;
}

/* Inside a write transaction: makes version current (a worker row for a new
 * worker), noting whether the definition clients see changed with it. */
static int make_current(tg_store *db, const char *tenant, const char *name, const char *version,
                        bool *changed, bool *definition_changed, tg_registry_error *err)
{
    *changed = *definition_changed = false;
    tg_stmt *st = NULL;
    int rc =
        prep(db, &st, err, "SELECT current_version FROM workers WHERE tenant = ?1 AND name = ?2", 2,
             tenant, name);
    if (rc) return rc;
    int row = step_row(st, err);
    char old[65] = "";
    if (row == 1) snprintf(old, sizeof old, "%s", tg_stmt_text(st, 0));
    tg_stmt_finalize(st);
    if (row < 0) return row;
    if (row == 1 && strcmp(old, version) == 0) return 0;
    char before[65] = "", after[65];
    if (row == 1 && (rc = stored_definition(db, tenant, name, old, before, err)) != 0) return rc;
    if ((rc = stored_definition(db, tenant, name, version, after, err)) != 0) return rc;
    rc = prep(db, &st, err,
              row ? "UPDATE workers SET current_version = ?3, updated_at = ?4"
                    " WHERE tenant = ?1 AND name = ?2"
                  : "INSERT INTO workers (tenant, name, current_version, updated_at,"
                    " created_at) VALUES (?1, ?2, ?3, ?4, ?4)",
              3, tenant, name, version);
    if (rc) return rc;
    tg_stmt_bind_int64(st, 4, tg_now_ms());
    rc = step_done(st, err);
    tg_stmt_finalize(st);
    if (rc) return rc;
    *changed = true;
    *definition_changed = strcmp(before, after) != 0;
    return 0;
}

/* The write half of a deploy, under write_mu: store the version when it is
 * new, then make it current unless it is only staged. */
static int store_version(tg_registry *reg, const char *tenant, const char *name,
                         const char *version, json_t *manifest, const char *canon,
                         const tg_registry_file *files, size_t nfiles, bool stage,
                         tg_registry_deploy_result *res, bool *definition_changed,
                         tg_registry_error *err)
{
    tg_store *db = reg->wdb;
    tg_stmt *st = NULL;
    *definition_changed = false;
    int rc = begin_worker(db, tenant, name, err);
    if (rc) return rc;

    rc = prep(db, &st, err, "SELECT 1 FROM versions WHERE tenant = ?1 AND name = ?2 AND hash = ?3",
              3, tenant, name, version);
    int exists = rc ? rc : step_row(st, err);
    tg_stmt_finalize(st);
    if (exists < 0) {
        rc = exists;
        goto out;
    }
    if (!exists) {
        rc = insert_version(db, tenant, name, version, manifest, canon, files, nfiles, err);
        if (rc) goto out;
        res->created = true;
    }
    if (!stage)
        rc = make_current(db, tenant, name, version, &res->changed, definition_changed, err);
out:
    rc = finish(db, rc, err);
    if (rc) res->created = res->changed = *definition_changed = false;
    return rc;
}

static int deploy_as(tg_registry *reg, const char *tenant, json_t *manifest,
                     const tg_registry_file *files, size_t nfiles, bool stage,
                     tg_registry_deploy_result *res, tg_registry_error *err)
{
    if (!reg || !res || !json_is_object(manifest) || (nfiles && !files))
        return fail(err, TG_REGISTRY_EARG, "a manifest object and a result are required");
    if (!valid_key(tenant, MAX_TENANT_BYTES))
        return fail(err, TG_REGISTRY_EARG, "the tenant must be 1-%d bytes", MAX_TENANT_BYTES);
    memset(res, 0, sizeof *res);
    if (nfiles > reg->opts.max_files)
        return fail(err, TG_REGISTRY_ELIMIT, "%zu files; the limit is %zu", nfiles,
                    reg->opts.max_files);
    size_t total = 0;
    for (size_t i = 0; i < nfiles; i++) {
        if (!files[i].path || (files[i].len && !files[i].data))
            return fail(err, TG_REGISTRY_EARG, "file %zu has no path or no data", i);
        total += files[i].len;
        if (total > reg->opts.max_total_bytes || total < files[i].len)
            return fail(err, TG_REGISTRY_ELIMIT, "the files exceed %zu bytes",
                        reg->opts.max_total_bytes);
    }

    size_t *order = tg_xmalloc((nfiles ? nfiles : 1) * sizeof *order);
    for (size_t i = 0; i < nfiles; i++)
        order[i] = i;
    qsort_r(order, nfiles, sizeof *order, cmp_paths, (void *)files);

    char *canon = NULL;
    int rc;
    json_t *details = check_worker(reg, manifest, files, nfiles, order);
    if (details) {
        rc = fail_problems(err, details, "the worker cannot be deployed");
        goto out;
    }
    canon = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon || version_hash(canon, files, nfiles, order, res->version) != 0) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "cannot hash the worker");
        goto out;
    }
    const char *name = json_str(manifest, "name");
    bool definition_changed;
    pthread_mutex_lock(&reg->write_mu);
    rc = store_version(reg, tenant, name, res->version, manifest, canon, files, nfiles, stage, res,
                       &definition_changed, err);
    pthread_mutex_unlock(&reg->write_mu);
    if (!rc && res->changed) notify(reg, tenant, name, TG_REGISTRY_DEPLOYED, definition_changed);
out:
    free(canon);
    free(order);
    return rc;
}

int tg_registry_deploy(tg_registry *reg, const char *tenant, json_t *manifest,
                       const tg_registry_file *files, size_t nfiles, tg_registry_deploy_result *res,
                       tg_registry_error *err)
{
    return deploy_as(reg, tenant, manifest, files, nfiles, false, res, err);
}

int tg_registry_stage(tg_registry *reg, const char *tenant, json_t *manifest,
                      const tg_registry_file *files, size_t nfiles, tg_registry_deploy_result *res,
                      tg_registry_error *err)
{
    return deploy_as(reg, tenant, manifest, files, nfiles, true, res, err);
}

/* ---- deploy from a folder -------------------------------------------- */

typedef struct dir_files {
    tg_registry_file *items;
    size_t count, cap;
    size_t total;
} dir_files;

static void dir_files_free(dir_files *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free((void *)d->items[i].path);
        free((void *)d->items[i].data);
    }
    free(d->items);
}

/* Reads the regular file open on fd (size from fstat) within the byte budget
 * left. A file that grows while it is read is refused, not cut. */
static int read_fd(int fd, const char *rel, size_t budget, unsigned char **data, size_t *len,
                   tg_registry_error *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) return fail(err, TG_REGISTRY_EIO, "%s: %s", rel, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return fail(err, TG_REGISTRY_EINVALID, "%s: not a regular file", rel);
    if ((uint64_t)sb.st_size > budget)
        return fail(err, TG_REGISTRY_ELIMIT, "%s: the worker exceeds the size limit", rel);
    size_t want = (size_t)sb.st_size;
    unsigned char *buf = tg_xmalloc(want + 1);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, want + 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            free(buf);
            return fail(err, TG_REGISTRY_EIO, "%s: %s", rel, strerror(errno));
        }
        if (n == 0) break;
        got += (size_t)n;
        if (got > want) {
            free(buf);
            return fail(err, TG_REGISTRY_EIO, "%s: changed while being read", rel);
        }
    }
    *data = buf;
    *len = got;
    return 0;
}

/* Walks root/rel (rel "" is the root). root is a canonical path. */
static int walk(const tg_registry_options *opts, const char *root, const char *rel, size_t depth,
                dir_files *out, tg_registry_error *err)
{
    if (depth > opts->max_depth)
        return fail(err, TG_REGISTRY_ELIMIT, "%s: folders nest deeper than %zu", rel,
                    opts->max_depth);
    char *dirpath = *rel ? tg_xasprintf("%s/%s", root, rel) : tg_xstrdup(root);
    DIR *d = opendir(dirpath);
    if (!d) {
        int rc = fail(err, TG_REGISTRY_EIO, "%s: %s", dirpath, strerror(errno));
        free(dirpath);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    char *child_rel = NULL, *child = NULL, *target = NULL;
    while (rc == 0) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno) rc = fail(err, TG_REGISTRY_EIO, "%s: %s", dirpath, strerror(errno));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (depth == 0 && strcmp(de->d_name, MANIFEST_FILE) == 0) continue; /* the manifest */
        child_rel = *rel ? tg_xasprintf("%s/%s", rel, de->d_name) : tg_xstrdup(de->d_name);
        child = tg_xasprintf("%s/%s", root, child_rel);
        struct stat sb;
        if (strlen(child_rel) > MAX_PATH_BYTES || !valid_rel_path(child_rel)) {
            rc = fail(err, TG_REGISTRY_EINVALID, "%s: unusable file name", child_rel);
        } else if (lstat(child, &sb) != 0) {
            rc = fail(err, TG_REGISTRY_EIO, "%s: %s", child_rel, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            rc = walk(opts, root, child_rel, depth + 1, out, err);
        } else if (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) {
            const char *open_path = child;
            if (S_ISLNK(sb.st_mode)) {
                /* A link is kept only when it resolves inside the folder to a
                 * regular file: a deploy must not carry files from elsewhere. */
                target = realpath(child, NULL);
                size_t rl = strlen(root);
                if (!target || strncmp(target, root, rl) != 0 || target[rl] != '/') {
                    rc = fail(err, TG_REGISTRY_EINVALID, "%s: a symlink that leaves the folder",
                              child_rel);
                }
                open_path = target;
            }
            if (!rc && out->count >= opts->max_files)
                rc = fail(err, TG_REGISTRY_ELIMIT, "more than %zu files", opts->max_files);
            if (!rc) {
                int fd = open(open_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                    rc = fail(err, TG_REGISTRY_EIO, "%s: %s", child_rel, strerror(errno));
                } else {
                    unsigned char *data = NULL;
                    size_t len = 0;
                    rc = read_fd(fd, child_rel, opts->max_total_bytes - out->total, &data, &len,
                                 err);
                    close(fd);
                    if (!rc) {
                        if (out->count == out->cap) {
                            out->cap = out->cap ? 2 * out->cap : 16;
                            out->items = tg_xrealloc(out->items, out->cap * sizeof *out->items);
                        }
                        out->items[out->count++] =
                            (tg_registry_file){.path = child_rel, .data = data, .len = len};
                        out->total += len;
                        child_rel = NULL; /* owned by out now */
                    }
                }
            }
        } else {
            rc = fail(err, TG_REGISTRY_EINVALID, "%s: not a regular file or folder", child_rel);
        }
        free(target);
        free(child);
        free(child_rel);
        target = child = child_rel = NULL;
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static int read_manifest(const char *root, json_t **out, tg_registry_error *err)
{
    char *path = tg_xasprintf("%s/%s", root, MANIFEST_FILE);
    unsigned char *text = NULL;
    size_t len = 0;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = fail(err, errno == ENOENT ? TG_REGISTRY_EINVALID : TG_REGISTRY_EIO, "%s: %s", path,
                  strerror(errno));
        goto out;
    }
    rc = read_fd(fd, MANIFEST_FILE, MAX_MANIFEST_BYTES, &text, &len, err);
    close(fd);
    if (rc) goto out;
    json_error_t jerr;
    *out = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        json_t *details = NULL;
        char *msg = tg_xasprintf("line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        add_problem(&details, "", "json", msg);
        free(msg);
        rc = fail_problems(err, details, MANIFEST_FILE " is not valid JSON");
    }
out:
    free(text);
    free(path);
    return rc;
}

/* Fills the defaults of a deploy's limits. */
static tg_registry_options with_defaults(const tg_registry_options *opts)
{
    tg_registry_options o = opts ? *opts : (tg_registry_options){0};
    if (!o.max_total_bytes) o.max_total_bytes = DEFAULT_MAX_TOTAL;
    if (!o.max_files) o.max_files = DEFAULT_MAX_FILES;
    if (!o.max_depth) o.max_depth = DEFAULT_MAX_DEPTH;
    return o;
}

int tg_registry_read_dir(const char *dir, const tg_registry_options *opts, json_t **manifest,
                         tg_registry_file **files, size_t *nfiles, tg_registry_error *err)
{
    *manifest = NULL;
    *files = NULL;
    *nfiles = 0;
    if (!dir) return fail(err, TG_REGISTRY_EARG, "a folder is required");
    char *root = realpath(dir, NULL);
    if (!root) return fail(err, TG_REGISTRY_EIO, "%s: %s", dir, strerror(errno));
    tg_registry_options limits = with_defaults(opts);
    dir_files found = {0};
    int rc = read_manifest(root, manifest, err);
    if (!rc) rc = walk(&limits, root, "", 0, &found, err);
    if (rc) {
        dir_files_free(&found);
        json_decref(*manifest);
        *manifest = NULL;
    } else {
        *files = found.items;
        *nfiles = found.count;
    }
    free(root);
    return rc;
}

void tg_registry_files_free(tg_registry_file *files, size_t nfiles)
{
    dir_files d = {files, nfiles, nfiles, 0};
    dir_files_free(&d);
}

int tg_registry_deploy_dir(tg_registry *reg, const char *tenant, const char *dir,
                           tg_registry_deploy_result *res, tg_registry_error *err)
{
    if (!reg || !res) return fail(err, TG_REGISTRY_EARG, "a registry is required");
    json_t *manifest = NULL;
    tg_registry_file *files = NULL;
    size_t nfiles = 0;
    int rc = tg_registry_read_dir(dir, &reg->opts, &manifest, &files, &nfiles, err);
    if (!rc) rc = tg_registry_deploy(reg, tenant, manifest, files, nfiles, res, err);
    tg_registry_files_free(files, nfiles);
    json_decref(manifest);
    return rc;
}

/* ---- reads ----------------------------------------------------------- */

static json_t *col_json_str(tg_stmt *st, int col)
{
    return tg_stmt_is_null(st, col) ? json_null() : json_string(tg_stmt_text(st, col));
}

int tg_registry_list(tg_registry *reg, const char *tenant, json_t **out, tg_registry_error *err)
{
    if (!reg || !out || !valid_key(tenant, MAX_TENANT_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant is required");
    *out = NULL;
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    rc = prep(db, &st, err,
              "SELECT w.name, w.current_version, v.semver, v.title, v.description, "
              "w.updated_at, " DEPRECATION_COLUMNS
              " FROM workers w JOIN versions v ON v.tenant = w.tenant"
              " AND v.name = w.name AND v.hash = w.current_version LEFT JOIN deprecations d"
              " ON d.tenant = v.tenant AND d.name = v.name AND d.version = v.hash"
              " WHERE w.tenant = ?1 ORDER BY w.name",
              1, tenant);
    json_t *arr = json_array();
    int row;
    while (!rc && (row = step_row(st, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        json_array_append_new(
            arr, json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "name", col_json_str(st, 0), "version",
                           col_json_str(st, 1), "semver", col_json_str(st, 2), "title",
                           col_json_str(st, 3), "description", col_json_str(st, 4), "updated_at",
                           (json_int_t)tg_stmt_int64(st, 5)));
        tg_registry_deprecation dep;
        json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "deprecation",
                            row_deprecation(st, 6, &dep) ? tg_registry_deprecation_json(&dep)
                                                         : json_null());
    }
    tg_stmt_finalize(st);
    reader_put(reg, db);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int tg_registry_scheduled(tg_registry *reg, tg_registry_scheduled_fn fn, void *ctx,
                          tg_registry_error *err)
{
    if (!reg || !fn) return fail(err, TG_REGISTRY_EARG, "a callback is required");
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    /* Each dialect's JSON path; a JSON null reads as SQL NULL in both. */
#define SCHEDULED_SQL(schedule)                                                                    \
    "SELECT w.tenant, w.name, v.manifest FROM workers w JOIN versions v"                           \
    " ON v.tenant = w.tenant AND v.name = w.name AND v.hash = w.current_version"                   \
    " WHERE " schedule " IS NOT NULL ORDER BY w.tenant, w.name"
    rc = prep(db, &st, err,
              postgres(db) ? SCHEDULED_SQL("v.manifest::jsonb #>> '{triggers,schedule}'")
                           : SCHEDULED_SQL("json_extract(v.manifest, '$.triggers.schedule')"),
              0);
#undef SCHEDULED_SQL
    int row;
    while (!rc && (row = step_row(st, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        json_t *manifest = json_loads(tg_stmt_text(st, 2), 0, NULL);
        /* Stored manifests were validated and canonicalized at deploy. */
        if (manifest) fn(ctx, tg_stmt_text(st, 0), tg_stmt_text(st, 1), manifest);
        json_decref(manifest);
    }
    tg_stmt_finalize(st);
    reader_put(reg, db);
    return rc;
}

int tg_registry_get(tg_registry *reg, const char *tenant, const char *name, json_t **out,
                    tg_registry_error *err)
{
    if (!reg || !out || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    *out = NULL;
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    json_t *res = NULL, *versions = NULL;
    /* One read transaction: the worker row and its versions agree. */
    rc = begin_read(db, err);
    if (rc) goto out;
    rc = prep(db, &st, err,
              "SELECT w.current_version, w.updated_at, v.manifest, " DEPRECATION_COLUMNS
              " FROM workers w JOIN versions v ON v.tenant = w.tenant AND v.name = w.name"
              " AND v.hash = w.current_version LEFT JOIN deprecations d ON d.tenant = v.tenant"
              " AND d.name = v.name AND d.version = v.hash WHERE w.tenant = ?1 AND w.name = ?2",
              2, tenant, name);
    if (rc) goto out;
    int row = step_row(st, err);
    if (row <= 0) {
        rc = row < 0 ? row : fail(err, TG_REGISTRY_ENOTFOUND, "no worker %s in this tenant", name);
        goto out;
    }
    json_error_t jerr;
    json_t *manifest = json_loads(tg_stmt_text(st, 2), 0, &jerr);
    if (!manifest) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "stored manifest of %s: %s", name, jerr.text);
        goto out;
    }
    char current_definition[65];
    tg_registry_deprecation dep;
    bool deprecated = row_deprecation(st, 3, &dep);
    if (definition_hash(manifest, deprecated ? &dep : NULL, current_definition) != 0) {
        json_decref(manifest);
        rc = fail(err, TG_REGISTRY_EINTERNAL, "cannot hash the definition of %s", name);
        goto out;
    }
    res = json_pack("{s:s, s:o, s:s, s:o, s:I}", "name", name, "version", col_json_str(st, 0),
                    "definition_hash", current_definition, "manifest", manifest, "updated_at",
                    (json_int_t)tg_stmt_int64(st, 1));
    json_object_set_new(res, "deprecation",
                        deprecated ? tg_registry_deprecation_json(&dep) : json_null());
    tg_stmt_finalize(st);
    st = NULL;

    /* Versions created in the same millisecond in the order they were
     * stored: sqlite's rowid, PostgreSQL's seq. */
#define VERSIONS_SQL(stored)                                                                       \
    "SELECT v.hash, v.semver, v.created_at, v.hash = w.current_version, v.manifest,"               \
    " v.output_violations, v.last_violation_at, v.fixtures_passed,"                                \
    " v.fixtures_failed, v.fixtures_checked_at, " DEPRECATION_COLUMNS " FROM versions v"           \
    " JOIN workers w ON w.tenant = v.tenant AND w.name = v.name"                                   \
    " LEFT JOIN deprecations d ON d.tenant = v.tenant AND d.name = v.name AND d.version = v.hash"  \
    " WHERE v.tenant = ?1 AND v.name = ?2 ORDER BY v.created_at, " stored
    rc = prep(db, &st, err, postgres(db) ? VERSIONS_SQL("v.seq") : VERSIONS_SQL("v.rowid"), 2,
              tenant, name);
#undef VERSIONS_SQL
    versions = json_array();
    while (!rc && (row = step_row(st, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        json_t *stored = json_loads(tg_stmt_text(st, 4), 0, NULL);
        char hash[65];
        tg_registry_deprecation vdep;
        bool vdeprecated = row_deprecation(st, 10, &vdep);
        if (!stored || definition_hash(stored, vdeprecated ? &vdep : NULL, hash) != 0) {
            json_decref(stored);
            rc = fail(err, TG_REGISTRY_EINTERNAL, "a stored manifest of %s does not load", name);
            break;
        }
        json_decref(stored);
        bool current = tg_stmt_int64(st, 3) != 0;
        json_int_t violations = (json_int_t)tg_stmt_int64(st, 5);
        json_t *last =
            tg_stmt_is_null(st, 6) ? json_null() : json_integer((json_int_t)tg_stmt_int64(st, 6));
        json_array_append_new(
            versions,
            json_pack("{s:o, s:o, s:I, s:b, s:s, s:I, s:o}", "version", col_json_str(st, 0),
                      "semver", col_json_str(st, 1), "created_at", (json_int_t)tg_stmt_int64(st, 2),
                      "current", current, "definition_hash", hash, "output_schema_violations",
                      violations, "last_violation_at", last));
        json_t *fixtures =
            tg_stmt_is_null(st, 9)
                ? json_null()
                : json_pack("{s:I, s:I, s:I}", "passed", (json_int_t)tg_stmt_int64(st, 7), "failed",
                            (json_int_t)tg_stmt_int64(st, 8), "checked_at",
                            (json_int_t)tg_stmt_int64(st, 9));
        json_t *entry = json_array_get(versions, json_array_size(versions) - 1);
        json_object_set_new(entry, "fixtures", fixtures);
        json_object_set_new(entry, "deprecation",
                            vdeprecated ? tg_registry_deprecation_json(&vdep) : json_null());
        if (current) json_object_set_new(res, "output_schema_violations", json_integer(violations));
    }
    if (!rc) {
        json_object_set_new(res, "versions", versions);
        versions = NULL;
    }
out:
    tg_stmt_finalize(st);
    json_decref(versions);
    reader_put(reg, db); /* ends the read transaction */
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* ---- rollback, delete ------------------------------------------------ */

int tg_registry_rollback(tg_registry *reg, const char *tenant, const char *name,
                         const char *version, tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES) ||
        !version)
        return fail(err, TG_REGISTRY_EARG, "a tenant, a name and a version are required");
    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    bool changed = false, definition_changed = false;
    int rc = begin_worker(db, tenant, name, err);
    if (!rc) rc = make_current(db, tenant, name, version, &changed, &definition_changed, err);
    rc = finish(db, rc, err);
    pthread_mutex_unlock(&reg->write_mu);
    if (!rc && changed) notify(reg, tenant, name, TG_REGISTRY_ROLLED_BACK, definition_changed);
    return rc;
}

int tg_registry_discard(tg_registry *reg, const char *tenant, const char *name, const char *version,
                        tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES) ||
        !version)
        return fail(err, TG_REGISTRY_EARG, "a tenant, a name and a version are required");
    static const char *const sql[] = {
        "SELECT 1 FROM workers WHERE tenant = ?1 AND name = ?2 AND current_version = ?3",
        "DELETE FROM deprecations WHERE tenant = ?1 AND name = ?2 AND version = ?3",
        "DELETE FROM files WHERE tenant = ?1 AND name = ?2 AND hash = ?3",
        "DELETE FROM versions WHERE tenant = ?1 AND name = ?2 AND hash = ?3",
    };
    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    int rc = begin_worker(db, tenant, name, err);
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++) {
        tg_stmt *st = NULL;
        rc = prep(db, &st, err, sql[i], 3, tenant, name, version);
        int row = rc ? rc : i == 0 ? step_row(st, err) : step_done(st, err);
        int64_t changed = rc ? 0 : tg_stmt_changes(st);
        tg_stmt_finalize(st);
        if (i == 0 && row == 1)
            rc = fail(err, TG_REGISTRY_EINVALID, "version %s of %s is current", version, name);
        else if (row < 0)
            rc = row;
        else if (i == 3 && changed == 0)
            rc = fail(err, TG_REGISTRY_ENOTFOUND, "worker %s has no version %s", name, version);
    }
    rc = finish(db, rc, err);
    pthread_mutex_unlock(&reg->write_mu);
    if (!rc) cache_forget(reg, tenant, name, version);
    return rc;
}

int tg_registry_delete(tg_registry *reg, const char *tenant, const char *name,
                       tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    static const char *const sql[] = {
        "DELETE FROM workers WHERE tenant = ?1 AND name = ?2",
        "DELETE FROM egress_rules WHERE tenant = ?1 AND name = ?2",
        "DELETE FROM deprecations WHERE tenant = ?1 AND name = ?2",
        "DELETE FROM files WHERE tenant = ?1 AND name = ?2",
        "DELETE FROM versions WHERE tenant = ?1 AND name = ?2",
    };
    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    int rc = begin_worker(db, tenant, name, err);
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++) {
        tg_stmt *st = NULL;
        rc = prep(db, &st, err, sql[i], 2, tenant, name);
        if (!rc) rc = step_done(st, err);
        if (!rc && i == 0 && tg_stmt_changes(st) == 0)
            rc = fail(err, TG_REGISTRY_ENOTFOUND, "no worker %s in this tenant", name);
        tg_stmt_finalize(st);
    }
    rc = finish(db, rc, err);
    pthread_mutex_unlock(&reg->write_mu);
    if (rc) return rc;
    cache_forget(reg, tenant, name, NULL);
    notify(reg, tenant, name, TG_REGISTRY_DELETED, true);
    return 0;
}

/* ---- deprecation ------------------------------------------------------ */

/* The message a deprecation shows: one line, as the description's first. */
static bool valid_message(const char *m)
{
    size_t n = strnlen(m, MAX_DEPRECATION_MESSAGE + 1);
    if (n > MAX_DEPRECATION_MESSAGE) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f) return false;
    return true;
}

/* Inside the write transaction: replaces or removes the deprecation of the
 * versions of name that match (version NULL: all of them, for an undo). */
static int write_deprecation(tg_store *db, const char *tenant, const char *name,
                             const char *version, const tg_registry_deprecation *d,
                             int64_t *changed, tg_registry_error *err)
{
    /* A version matches by its id or its semver, so "1.4.0" covers every
     * deploy of that release (new code under the same semver included). */
#define MATCHING                                                                                   \
    " version IN (SELECT hash FROM versions WHERE tenant = ?1 AND name = ?2"                       \
    " AND (hash = ?3 OR semver = ?3))"
    tg_stmt *st = NULL;
    int rc = version
                 ? prep(db, &st, err,
                        "DELETE FROM deprecations WHERE tenant = ?1 AND name = ?2 AND" MATCHING, 3,
                        tenant, name, version)
                 : prep(db, &st, err, "DELETE FROM deprecations WHERE tenant = ?1 AND name = ?2", 2,
                        tenant, name);
#undef MATCHING
    if (!rc) rc = step_done(st, err);
    *changed = rc ? 0 : tg_stmt_changes(st);
    tg_stmt_finalize(st);
    if (rc || !d) return rc;
    /* The casts give PostgreSQL the parameters' types, which a SELECT list
     * does not. */
    rc = prep(db, &st, err,
              "INSERT INTO deprecations (tenant, name, version, sunset_ms, message, replacement,"
              " created_at) SELECT tenant, name, hash, CAST(?4 AS BIGINT), ?5, ?6,"
              " CAST(?7 AS BIGINT) FROM versions"
              " WHERE tenant = ?1 AND name = ?2 AND (hash = ?3 OR semver = ?3)",
              6, tenant, name, version, NULL, d->message, d->replacement);
    if (rc) return rc;
    tg_stmt_bind_int64(st, 4, d->sunset_ms);
    tg_stmt_bind_int64(st, 7, tg_now_ms());
    rc = step_done(st, err);
    *changed = rc ? 0 : tg_stmt_changes(st);
    tg_stmt_finalize(st);
    if (!rc && *changed == 0)
        rc = fail(err, TG_REGISTRY_ENOTFOUND, "worker %s has no version %s", name, version);
    return rc;
}

int tg_registry_deprecate(tg_registry *reg, const char *tenant, const char *name,
                          const char *version, const tg_registry_deprecation *d, size_t *count,
                          tg_registry_error *err)
{
    if (count) *count = 0;
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    if (version && !valid_key(version, 64)) return fail(err, TG_REGISTRY_EARG, "bad version");
    char *message = NULL;
    if (d) {
        if (d->replacement &&
            (!valid_key(d->replacement, MAX_NAME_BYTES) || !valid_message(d->replacement)))
            return fail(err, TG_REGISTRY_EINVALID, "the replacement must be a tool name");
        if (d->message && !valid_message(d->message))
            return fail(err, TG_REGISTRY_EINVALID,
                        "the message must be one line of at most %d bytes",
                        MAX_DEPRECATION_MESSAGE);
        message = d->message && *d->message ? tg_xstrdup(d->message)
                  : d->replacement          ? tg_xasprintf("use %s instead", d->replacement)
                                            : tg_xstrdup("this tool will be retired");
    }
    tg_registry_deprecation with_message = d ? *d : (tg_registry_deprecation){0};
    with_message.message = message;

    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    tg_stmt *st = NULL;
    int64_t changed = 0;
    char current[65] = "", before[65] = "", after[65] = "";
    int rc = begin_worker(db, tenant, name, err);
    if (rc) goto unlock;
    rc = prep(db, &st, err, "SELECT current_version FROM workers WHERE tenant = ?1 AND name = ?2",
              2, tenant, name);
    int row = rc ? -1 : step_row(st, err);
    if (row == 1) snprintf(current, sizeof current, "%s", tg_stmt_text(st, 0));
    tg_stmt_finalize(st);
    if (row <= 0) {
        rc = row < 0 ? (rc ? rc : row)
                     : fail(err, TG_REGISTRY_ENOTFOUND, "no worker %s in this tenant", name);
        goto out;
    }
    rc = stored_definition(db, tenant, name, current, before, err);
    if (!rc)
        rc = write_deprecation(db, tenant, name, version || !d ? version : current,
                               d ? &with_message : NULL, &changed, err);
    if (!rc) rc = stored_definition(db, tenant, name, current, after, err);
out:
    rc = finish(db, rc, err);
unlock:
    pthread_mutex_unlock(&reg->write_mu);
    free(message);
    if (rc) return rc;
    if (count) *count = (size_t)changed;
    /* Only the current version is in tools/list; a change to another
     * version's deprecation shows when it is rolled back to. */
    if (strcmp(before, after) != 0) notify(reg, tenant, name, TG_REGISTRY_DEPRECATED, true);
    return 0;
}

/* ---- egress rules set at runtime --------------------------------------- */

int tg_registry_set_egress(tg_registry *reg, const char *tenant, const char *name,
                           const json_t *rules, tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    if (rules) {
        tg_schema_violations v;
        if (tg_schema_validate(reg->egress_schema, rules, &v) != 0) {
            int rc = fail(err, TG_REGISTRY_EINVALID, "the egress rules are refused");
            if (err) err->details = tg_schema_violations_json(&v);
            tg_schema_violations_free(&v);
            return rc;
        }
        tg_schema_violations_free(&v);
    }
    char *text = rules ? json_dumps(rules, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    tg_stmt *st = NULL;
    int rc = begin_worker(db, tenant, name, err);
    if (rc) goto unlock;
    rc = prep(db, &st, err, "SELECT 1 FROM workers WHERE tenant = ?1 AND name = ?2", 2, tenant,
              name);
    int row = rc ? -1 : step_row(st, err);
    tg_stmt_finalize(st);
    st = NULL;
    if (row <= 0) {
        rc = row < 0 ? (rc ? rc : row)
                     : fail(err, TG_REGISTRY_ENOTFOUND, "no worker %s in this tenant", name);
        goto out;
    }
    if (text) {
        rc = prep(
            db, &st, err,
            "INSERT INTO egress_rules (tenant, name, rules, updated_at) VALUES (?1, ?2, ?3, ?4)"
            " ON CONFLICT (tenant, name) DO UPDATE SET rules = ?3, updated_at = ?4",
            3, tenant, name, text);
        if (!rc) tg_stmt_bind_int64(st, 4, tg_now_ms());
    } else {
        rc = prep(db, &st, err, "DELETE FROM egress_rules WHERE tenant = ?1 AND name = ?2", 2,
                  tenant, name);
    }
    if (!rc) rc = step_done(st, err);
out:
    tg_stmt_finalize(st);
    rc = finish(db, rc, err);
unlock:
    pthread_mutex_unlock(&reg->write_mu);
    free(text);
    return rc;
}

int tg_registry_egress(tg_registry *reg, const char *tenant, const char *name, json_t **rules,
                       tg_registry_error *err)
{
    if (!reg || !tenant || !name || !rules)
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    *rules = NULL;
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    rc = prep(db, &st, err, "SELECT rules FROM egress_rules WHERE tenant = ?1 AND name = ?2", 2,
              tenant, name);
    int row = rc ? -1 : step_row(st, err);
    if (row == 1) {
        *rules = json_loads(tg_stmt_text(st, 0), 0, NULL);
        if (!*rules) rc = fail(err, TG_REGISTRY_ESTORE, "the egress rules of %s are corrupt", name);
    } else if (row < 0 && !rc) {
        rc = row;
    }
    tg_stmt_finalize(st);
    reader_put(reg, db);
    return rc;
}

/* ---- resolve --------------------------------------------------------- */

/* Builds the snapshot of (tenant, name, version) from the store, inside the
 * caller's read transaction on db. */
static int load_snapshot(tg_store *db, const char *tenant, const char *name, const char *version,
                         tg_registry_snapshot **out, tg_registry_error *err)
{
    tg_registry_snapshot *s = tg_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->tenant = tg_xstrdup(tenant);
    s->name = tg_xstrdup(name);
    snprintf(s->version, sizeof s->version, "%s", version);
    tg_stmt *st = NULL;
    int rc = prep(db, &st, err,
                  "SELECT manifest FROM versions WHERE tenant = ?1 AND name = ?2 AND hash = ?3", 3,
                  tenant, name, version);
    if (rc) goto out;
    int row = step_row(st, err);
    if (row <= 0) {
        rc = row < 0 ? row : fail(err, TG_REGISTRY_ENOTFOUND, "version %s is gone", version);
        goto out;
    }
    json_error_t jerr;
    s->manifest = json_loads(tg_stmt_text(st, 0), 0, &jerr);
    tg_stmt_finalize(st);
    st = NULL;
    if (!s->manifest) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "stored manifest of %s: %s", name, jerr.text);
        goto out;
    }

    rc = prep(db, &st, err,
              "SELECT path, content FROM files WHERE tenant = ?1 AND name = ?2 AND hash = ?3"
              " ORDER BY path",
              3, tenant, name, version);
    size_t cap = 0;
    while (!rc && (row = step_row(st, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        if (s->nfiles == cap) {
            cap = cap ? 2 * cap : 8;
            s->files = tg_xrealloc(s->files, cap * sizeof *s->files);
        }
        size_t len = 0;
        const void *blob = tg_stmt_blob(st, 1, &len);
        unsigned char *data = tg_xmalloc(len + 1);
        if (len) memcpy(data, blob, len);
        data[len] = '\0';
        s->files[s->nfiles++] =
            (tg_registry_file){.path = tg_xstrdup(tg_stmt_text(st, 0)), .data = data, .len = len};
    }
    if (rc) goto out;

    tg_schema_options so = {.format_assert = true};
    tg_schema_error serr;
    json_t *out_schema = json_object_get(s->manifest, "outputSchema");
    if (tg_schema_compile(json_object_get(s->manifest, "inputSchema"), &so, &s->input, &serr) ||
        (out_schema && tg_schema_compile(out_schema, &so, &s->output, &serr))) {
        rc = fail(err, TG_REGISTRY_EINTERNAL, "stored schema of %s: %s at %s", name, serr.message,
                  serr.schema_path);
        goto out;
    }
    if (definition_hash(s->manifest, NULL, s->definition_hash) != 0)
        rc = fail(err, TG_REGISTRY_EINTERNAL, "cannot hash the definition of %s", name);
out:
    tg_stmt_finalize(st);
    if (rc) {
        snapshot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Returns: a new snapshot that shows base (stolen) with the deprecation d
 * (copied), or NULL when its definition cannot be hashed (base released). */
static tg_registry_snapshot *deprecated_view(tg_registry_snapshot *base,
                                             const tg_registry_deprecation *d)
{
    tg_registry_snapshot *s = tg_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->base = base;
    s->tenant = base->tenant;
    s->name = base->name;
    memcpy(s->version, base->version, sizeof s->version);
    s->manifest = base->manifest;
    s->input = base->input;
    s->output = base->output;
    s->files = base->files;
    s->nfiles = base->nfiles;
    s->deprecated = true;
    s->deprecation = (tg_registry_deprecation){
        .sunset_ms = d->sunset_ms,
        .message = tg_xstrdup(d->message),
        .replacement = d->replacement ? tg_xstrdup(d->replacement) : NULL,
    };
    s->shown_description =
        deprecated_description(json_str(base->manifest, "description"), &s->deprecation);
    if (definition_hash(base->manifest, &s->deprecation, s->definition_hash) != 0) {
        snapshot_free(s);
        return NULL;
    }
    return s;
}

/* The snapshot of version (NULL: the current one) of tenant's tool name. */
static int resolve_at(tg_registry *reg, const char *tenant, const char *name, const char *version,
                      tg_registry_snapshot **out, tg_registry_error *err)
{
    if (!reg || !out || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES))
        return fail(err, TG_REGISTRY_EARG, "a tenant and a name are required");
    *out = NULL;
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    tg_registry_snapshot *s = NULL;
    char id[65];
    rc = begin_read(db, err);
    /* The deprecation comes with the version id, in the same round trip:
     * it may change at any time, so it is never cached. */
    if (!rc)
        rc = version ? prep(db, &st, err,
                            "SELECT v.hash, " DEPRECATION_COLUMNS " FROM versions v"
                            " LEFT JOIN deprecations d ON d.tenant = v.tenant AND d.name = v.name"
                            " AND d.version = v.hash"
                            " WHERE v.tenant = ?1 AND v.name = ?2 AND v.hash = ?3",
                            3, tenant, name, version)
                     : prep(db, &st, err,
                            "SELECT w.current_version, " DEPRECATION_COLUMNS " FROM workers w"
                            " LEFT JOIN deprecations d ON d.tenant = w.tenant AND d.name = w.name"
                            " AND d.version = w.current_version"
                            " WHERE w.tenant = ?1 AND w.name = ?2",
                            2, tenant, name);
    if (rc) goto out;
    int row = step_row(st, err);
    if (row <= 0) {
        rc = row < 0 ? row
             : version
                 ? fail(err, TG_REGISTRY_ENOTFOUND, "tool %s has no version %s", name, version)
                 : fail(err, TG_REGISTRY_ENOTFOUND, "no tool %s in this tenant", name);
        goto out;
    }
    snprintf(id, sizeof id, "%s", tg_stmt_text(st, 0));
    s = cache_find(reg, tenant, id);
    if (!s) {
        rc = load_snapshot(db, tenant, name, id, &s, err);
        if (!rc) s = cache_insert(reg, s);
    }
    tg_registry_deprecation dep;
    if (!rc && row_deprecation(st, 1, &dep)) {
        tg_registry_snapshot *view = deprecated_view(s, &dep);
        /* The view holds s now, or has let go of it. */
        s = view;
        if (!s) rc = fail(err, TG_REGISTRY_EINTERNAL, "cannot hash the definition of %s", name);
    }
out:
    tg_stmt_finalize(st);
    reader_put(reg, db);
    if (rc) return rc;
    *out = s;
    return 0;
}

int tg_registry_resolve(tg_registry *reg, const char *tenant, const char *name,
                        tg_registry_snapshot **out, tg_registry_error *err)
{
    return resolve_at(reg, tenant, name, NULL, out, err);
}

int tg_registry_resolve_version(tg_registry *reg, const char *tenant, const char *name,
                                const char *version, tg_registry_snapshot **out,
                                tg_registry_error *err)
{
    if (!version) return fail(err, TG_REGISTRY_EARG, "a version is required");
    return resolve_at(reg, tenant, name, version, out, err);
}

int tg_registry_ping(tg_registry *reg, tg_registry_error *err)
{
    if (!reg) return fail(err, TG_REGISTRY_EARG, "a registry is required");
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    tg_stmt *st = NULL;
    /* The store's own check first: a sqlite file deleted or replaced under
     * a running gateway still answers queries from its open descriptor. */
    if (!rc) rc = tg_store_ping(db, store_fail, err);
    if (!rc) rc = prep(db, &st, err, "SELECT count(*) FROM workers", 0);
    if (!rc && (rc = step_row(st, err)) == 1) rc = 0;
    tg_stmt_finalize(st);
    reader_put(reg, db);
    return rc;
}

/* ---- drift ----------------------------------------------------------- */

/* Runs "UPDATE versions SET <set> WHERE" one version, with ?4 the time now
 * and ?5, ?6 the nvalues (0 or 2) values given. One statement, so it needs
 * no transaction: a concurrent increment from another replica is not lost. */
static int update_version(tg_registry *reg, const char *tenant, const char *name,
                          const char *version, const char *set, int nvalues, int64_t v5, int64_t v6,
                          tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES) ||
        !version)
        return fail(err, TG_REGISTRY_EARG, "a tenant, a name and a version are required");
    char *sql =
        tg_xasprintf("UPDATE versions SET %s WHERE tenant = ?1 AND name = ?2 AND hash = ?3", set);
    pthread_mutex_lock(&reg->write_mu);
    tg_store *db = reg->wdb;
    tg_stmt *st = NULL;
    int rc = prep(db, &st, err, sql, 3, tenant, name, version);
    if (!rc) {
        tg_stmt_bind_int64(st, 4, tg_now_ms());
        if (nvalues) {
            tg_stmt_bind_int64(st, 5, v5);
            tg_stmt_bind_int64(st, 6, v6);
        }
        rc = step_done(st, err);
    }
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&reg->write_mu);
    free(sql);
    return rc;
}

int tg_registry_note_violation(tg_registry *reg, const char *tenant, const char *name,
                               const char *version, tg_registry_error *err)
{
    return update_version(reg, tenant, name, version,
                          "output_violations = output_violations + 1, last_violation_at = ?4", 0, 0,
                          0, err);
}

int tg_registry_note_fixtures(tg_registry *reg, const char *tenant, const char *name,
                              const char *version, int64_t passed, int64_t failed,
                              tg_registry_error *err)
{
    return update_version(reg, tenant, name, version,
                          "fixtures_checked_at = ?4, fixtures_passed = ?5, fixtures_failed = ?6", 2,
                          passed, failed, err);
}

int tg_registry_note_deployer(tg_registry *reg, const char *tenant, const char *name,
                              const char *version, const char *principal, tg_registry_error *err)
{
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES) ||
        !version || !principal)
        return fail(err, TG_REGISTRY_EARG,
                    "a tenant, a name, a version and a principal are required");
    pthread_mutex_lock(&reg->write_mu);
    tg_stmt *st = NULL;
    int rc =
        prep(reg->wdb, &st, err,
             "UPDATE versions SET deployed_by = ?4 WHERE tenant = ?1 AND name = ?2 AND hash = ?3",
             4, tenant, name, version, principal);
    if (!rc) rc = step_done(st, err);
    tg_stmt_finalize(st);
    pthread_mutex_unlock(&reg->write_mu);
    return rc;
}

int tg_registry_deployer(tg_registry *reg, const char *tenant, const char *name,
                         const char *version, char **principal, tg_registry_error *err)
{
    *principal = NULL;
    if (!reg || !valid_key(tenant, MAX_TENANT_BYTES) || !valid_key(name, MAX_NAME_BYTES) ||
        !version)
        return fail(err, TG_REGISTRY_EARG, "a tenant, a name and a version are required");
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    rc = prep(db, &st, err,
              "SELECT deployed_by FROM versions WHERE tenant = ?1 AND name = ?2 AND hash = ?3", 3,
              tenant, name, version);
    int row = rc ? 0 : step_row(st, err);
    if (row < 0)
        rc = row;
    else if (row > 0 && !tg_stmt_is_null(st, 0))
        *principal = tg_xstrdup(tg_stmt_text(st, 0));
    tg_stmt_finalize(st);
    reader_put(reg, db);
    return rc;
}

int tg_registry_violations(tg_registry *reg, tg_registry_violations_fn fn, void *ctx,
                           tg_registry_error *err)
{
    if (!reg || !fn) return fail(err, TG_REGISTRY_EARG, "a callback is required");
    tg_store *db = NULL;
    int rc = reader_get(reg, &db, err);
    if (rc) return rc;
    tg_stmt *st = NULL;
    rc = prep(db, &st, err,
              "SELECT tenant, name, hash, output_violations FROM versions"
              " WHERE output_violations > 0 ORDER BY tenant, name, hash",
              0);
    int row;
    while (!rc && (row = step_row(st, err)) != 0) {
        if (row < 0) {
            rc = row;
            break;
        }
        fn(ctx, tg_stmt_text(st, 0), tg_stmt_text(st, 1), tg_stmt_text(st, 2),
           tg_stmt_int64(st, 3));
    }
    tg_stmt_finalize(st);
    reader_put(reg, db);
    return rc;
}

/* ---- snapshot accessors ---------------------------------------------- */

tg_registry_snapshot *tg_registry_snapshot_ref(tg_registry_snapshot *s)
{
    if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void tg_registry_snapshot_unref(tg_registry_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) snapshot_free(s);
}

const char *tg_registry_snapshot_tenant(const tg_registry_snapshot *s)
{
    return s->tenant;
}

const char *tg_registry_snapshot_name(const tg_registry_snapshot *s)
{
    return s->name;
}

const char *tg_registry_snapshot_version(const tg_registry_snapshot *s)
{
    return s->version;
}

const char *tg_registry_snapshot_definition_hash(const tg_registry_snapshot *s)
{
    return s->definition_hash;
}

const json_t *tg_registry_snapshot_manifest(const tg_registry_snapshot *s)
{
    return s->manifest;
}

const tg_schema *tg_registry_snapshot_input_schema(const tg_registry_snapshot *s)
{
    return s->input;
}

const tg_schema *tg_registry_snapshot_output_schema(const tg_registry_snapshot *s)
{
    return s->output;
}

const char *tg_registry_snapshot_description(const tg_registry_snapshot *s)
{
    return s->shown_description ? s->shown_description : json_str(s->manifest, "description");
}

const tg_registry_deprecation *tg_registry_snapshot_deprecation(const tg_registry_snapshot *s)
{
    return s->deprecated ? &s->deprecation : NULL;
}

bool tg_registry_snapshot_retired(const tg_registry_snapshot *s, int64_t now_ms)
{
    return s->deprecated && now_ms >= s->deprecation.sunset_ms;
}

size_t tg_registry_snapshot_file_count(const tg_registry_snapshot *s)
{
    return s->nfiles;
}

const tg_registry_file *tg_registry_snapshot_file(const tg_registry_snapshot *s, size_t i)
{
    return i < s->nfiles ? &s->files[i] : NULL;
}
