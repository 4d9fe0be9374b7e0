/* The admin REST API for workers (/v1/workers): list, inspect, deploy,
 * roll back, delete. Bodies are JSON; errors carry the gateway's error object
 * with the registry's list of problems as details, so a refused deploy says
 * everything that is wrong with it at once. */
#include "gateway/admin/admin.h"

#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"
#include "gateway/core/text.h"

#include "gateway/auth/auth.h"
#include "gateway/registry/lint.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES 1000

static void reply_error(tg_http_request *req, tg_err_code code, const char *message,
                        json_t *details)
{
    tg_http_reply_json(req, (unsigned)tg_err_http_status(code),
                       json_pack("{s:o}", "error", tg_error_json(code, message, details, NULL)));
}

/* Maps a registry failure onto the error table. */
static void reply_registry_error(tg_http_request *req, int rc, tg_registry_error *err)
{
    tg_err_code code = rc == TG_REGISTRY_ENOTFOUND                            ? TG_ENOT_FOUND
                       : rc == TG_REGISTRY_EINVALID || rc == TG_REGISTRY_EARG ? TG_EBAD_REQUEST
                       : rc == TG_REGISTRY_ELIMIT ? TG_EPAYLOAD_TOO_LARGE
                       : rc == TG_REGISTRY_ESTORE ? TG_EUNAVAILABLE
                                                  : TG_EINTERNAL;
    reply_error(req, code, err->message, err->details);
    tg_registry_error_clear(err);
}

/* Changes are made only while the audit log takes records, so none goes
 * unrecorded for long: answers 503 and returns false when it does not. */
static bool audit_ready(const tg_admin *admin, tg_http_request *req)
{
    if (tg_audit_healthy(admin->who->audit)) return true;
    tg_http_set_header(req, "Retry-After", "5");
    reply_error(req, TG_EAUDIT_UNAVAILABLE, NULL, NULL);
    return false;
}

/* Records a change just made (body stolen). Returns false after answering
 * AUDIT_UNAVAILABLE when the record could not be written. */
static bool recorded(const tg_admin *admin, tg_http_request *req, const char *kind,
                     const char *name, const char *status, json_t *body)
{
    if (tg_caller_record(admin->who, kind, name, status, body) == 0) return true;
    tg_log_error(&(tg_log_ctx){.tenant = admin->tenant},
                 "%s of %s made but not recorded: the audit log is unwritable", kind, name);
    tg_http_set_header(req, "Retry-After", "5");
    reply_error(req, TG_EAUDIT_UNAVAILABLE,
                "the change was made, but its audit record could not be written", NULL);
    return false;
}

/* Decodes base64 into a new buffer; returns false when s is not base64. */
static bool unbase64(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4) return false;
    unsigned char *buf = tg_xmalloc(n / 4 * 3 + 1);
    int got = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
    if (got < 0) {
        free(buf);
        return false;
    }
    /* EVP_DecodeBlock counts the padding as data. */
    size_t pad = n >= 2 && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    *out = buf;
    *len = (size_t)got - pad;
    return true;
}

/* A deploy's checks and what they found. */
typedef struct deploy_checks {
    bool require_fixtures; /* a failing or missing fixture refuses the version */
    bool strict;           /* a lint warning refuses the version */
    json_t *warnings;      /* tg_lint_tool's, of the new definition */
    json_t *fixtures;      /* tg_admin_run_fixtures's, or NULL when not run */
    json_t *setup_error;   /* the setup's tool error result, or NULL */
} deploy_checks;

/* The fixtures that failed, as error details a client reads like any other. */
static json_t *failed_fixtures(const json_t *fixtures)
{
    json_t *details = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(fixtures, "cases"), i, c)
    {
        if (json_is_true(json_object_get(c, "passed"))) continue;
        char *path =
            tg_xasprintf("/fixtures/%s.json", json_string_value(json_object_get(c, "name")));
        json_array_append_new(details, json_pack("{s:s, s:s, s:O}", "path", path, "keyword",
                                                 "fixture", "message", json_object_get(c, "why")));
        free(path);
    }
    if (json_integer_value(json_object_get(fixtures, "passed")) +
            json_integer_value(json_object_get(fixtures, "failed")) ==
        0)
        json_array_append_new(
            details,
            json_pack("{s:s, s:s, s:s}", "path", "/fixtures", "keyword", "fixture", "message",
                      "the worker has no fixtures (fixtures/NAME.json) to check it with"));
    return details;
}

/* Why the checks refuse the version (a code, with *details new), or 0. */
static tg_err_code refusal(const deploy_checks *c, json_t **details)
{
    if (c->strict && json_array_size(c->warnings)) {
        *details = json_incref(c->warnings);
        return TG_EDEFINITION_LINT;
    }
    if (c->require_fixtures &&
        (!c->fixtures || json_integer_value(json_object_get(c->fixtures, "failed")) ||
         !json_integer_value(json_object_get(c->fixtures, "passed")))) {
        *details = failed_fixtures(c->fixtures);
        return TG_EFIXTURES_FAILED;
    }
    return 0;
}

static void reply_deployed(tg_http_request *req, const json_t *manifest,
                           const tg_registry_deploy_result *res, const deploy_checks *c)
{
    if (c->setup_error) {
        /* The version is stored and current, but cannot run: its calls
         * answer the same error until a version with a working setup. */
        json_t *error =
            json_object_get(json_object_get(c->setup_error, "structuredContent"), "error");
        tg_http_reply_json(req, (unsigned)tg_err_http_status(TG_ESETUP_FAILED),
                           json_pack("{s:O, s:s}", "error", error, "version", res->version));
        return;
    }
    json_t *body = json_pack("{s:O, s:s, s:b, s:b, s:O}", "name", json_object_get(manifest, "name"),
                             "version", res->version, "created", res->created, "current_changed",
                             res->changed, "warnings", c->warnings);
    if (c->fixtures) json_object_set(body, "fixtures", c->fixtures);
    tg_http_reply_json(req, res->created ? 201 : 200, body);
}

/* A summary of the checks for the deploy's audit record. */
static json_t *checks_record(const tg_registry_deploy_result *res, size_t nfiles,
                             const deploy_checks *c)
{
    json_t *body =
        json_pack("{s:s, s:b, s:b, s:I, s:I}", "version", res->version, "created", res->created,
                  "current_changed", res->changed, "files", (json_int_t)nfiles, "warnings",
                  (json_int_t)json_array_size(c->warnings));
    if (c->fixtures)
        json_object_set_new(body, "fixtures",
                            json_pack("{s:O, s:O}", "passed",
                                      json_object_get(c->fixtures, "passed"), "failed",
                                      json_object_get(c->fixtures, "failed")));
    return body;
}

/* Answers a deploy its checks refused, after dropping the version when this
 * deploy stored it first. */
static void refuse_version(tg_admin *admin, tg_http_request *req, const char *name,
                           tg_registry_deploy_result *res, size_t nfiles, const deploy_checks *c,
                           tg_err_code refused, json_t *details)
{
    tg_registry_error err = {0};
    if (res->created &&
        tg_registry_discard(admin->registry, admin->tenant, name, res->version, &err) != 0) {
        tg_log_warn(&(tg_log_ctx){.tenant = admin->tenant},
                    "refused version %s of %s stays stored: %s", res->version, name, err.message);
        tg_registry_error_clear(&err);
    }
    res->created = false;
    if (!recorded(admin, req, "deploy", name,
                  refused == TG_EDEFINITION_LINT ? "lint_refused" : "fixtures_failed",
                  checks_record(res, nfiles, c)))
        return;
    json_t *body =
        json_pack("{s:o, s:s, s:O}", "error", tg_error_json(refused, NULL, details, NULL),
                  "version", res->version, "warnings", c->warnings);
    if (c->fixtures) json_object_set(body, "fixtures", c->fixtures);
    tg_http_reply_json(req, (unsigned)tg_err_http_status(refused), body);
}

/* The new version is stored aside (staged), linted, set up and checked
 * against its fixtures, and only then made current: a refused version never
 * serves a call, and the one before it keeps serving. */
static void deploy_checked(tg_admin *admin, tg_http_request *req, json_t *manifest,
                           const tg_registry_file *files, size_t nfiles, deploy_checks *c)
{
    const char *name = json_string_value(json_object_get(manifest, "name"));
    tg_registry_deploy_result res;
    tg_registry_error err = {0};
    tg_registry_snapshot *staged = NULL;
    int rc = tg_registry_stage(admin->registry, admin->tenant, manifest, files, nfiles, &res, &err);
    if (!rc)
        rc = tg_registry_resolve_version(admin->registry, admin->tenant, name, res.version, &staged,
                                         &err);
    if (rc != 0) {
        reply_registry_error(req, rc, &err);
        return;
    }
    c->warnings = tg_lint_tool(manifest, NULL);
    if (admin->calls && !(c->strict && json_array_size(c->warnings))) {
        c->setup_error = tg_calls_prepare(admin->calls, staged);
        c->fixtures = tg_admin_run_fixtures(admin->calls, staged, admin->who->principal);
    }
    tg_registry_snapshot_unref(staged);
    json_t *details = NULL;
    tg_err_code refused = refusal(c, &details);
    if (refused) {
        refuse_version(admin, req, name, &res, nfiles, c, refused, details);
        json_decref(details);
        return;
    }
    if (c->fixtures && tg_registry_note_fixtures(
                           admin->registry, admin->tenant, name, res.version,
                           json_integer_value(json_object_get(c->fixtures, "passed")),
                           json_integer_value(json_object_get(c->fixtures, "failed")), &err) != 0) {
        /* The version stands: the count is what the console shows, not what serves. */
        tg_log_warn(&(tg_log_ctx){.tenant = admin->tenant}, "fixtures of %s not noted: %s", name,
                    err.message);
        tg_registry_error_clear(&err);
    }
    /* Whoever deploys a version is whom its scheduled runs act for. */
    if (tg_registry_note_deployer(admin->registry, admin->tenant, name, res.version,
                                  admin->who->principal, &err) != 0) {
        tg_log_warn(&(tg_log_ctx){.tenant = admin->tenant}, "deployer of %s not noted: %s", name,
                    err.message);
        tg_registry_error_clear(&err);
    }
    tg_registry_snapshot *current = NULL;
    res.changed = tg_registry_resolve(admin->registry, admin->tenant, name, &current, NULL) != 0 ||
                  strcmp(tg_registry_snapshot_version(current), res.version) != 0;
    tg_registry_snapshot_unref(current);
    if ((rc = tg_registry_rollback(admin->registry, admin->tenant, name, res.version, &err)) != 0)
        reply_registry_error(req, rc, &err);
    else if (recorded(admin, req, "deploy", name, c->setup_error ? "setup_failed" : "ok",
                      checks_record(&res, nfiles, c)))
        reply_deployed(req, manifest, &res, c);
}

/* A boolean option of the deploy body; false after answering 400 when it
 * is there but not a boolean. */
static bool flag(tg_http_request *req, const json_t *doc, const char *key, bool *out)
{
    json_t *v = json_object_get(doc, key);
    *out = json_is_true(v);
    if (!v || json_is_boolean(v)) return true;
    char *message = tg_xasprintf("\"%s\" must be true or false", key);
    reply_error(req, TG_EBAD_REQUEST, message, NULL);
    free(message);
    return false;
}

/* POST /v1/workers: {"manifest": {...}, "files": [{"path", "content_base64"}],
 * "require_fixtures": bool, "strict": bool}. */
static void deploy(tg_admin *admin, tg_http_request *req)
{
    size_t len;
    const char *body = tg_http_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *manifest = json_object_get(doc, "manifest");
    json_t *files = json_object_get(doc, "files");
    if (!json_is_object(manifest) || (files && !json_is_array(files)) ||
        json_array_size(files) > MAX_FILES) {
        reply_error(req, TG_EBAD_REQUEST,
                    doc ? "the body must be {\"manifest\": {...}, \"files\": [{\"path\", "
                          "\"content_base64\"}]}"
                        : "the body is not valid JSON",
                    NULL);
        json_decref(doc);
        return;
    }
    /* A deploy runs the worker (its setup, its fixtures): a token restricted
     * to toolsets deploys only their tools. */
    const char *tool = json_string_value(json_object_get(manifest, "name"));
    if (!tg_admin_tool_allowed(admin, admin->who, req, tool ? tool : "")) {
        json_decref(doc);
        return;
    }
    deploy_checks checks = {0};
    if (!flag(req, doc, "require_fixtures", &checks.require_fixtures) ||
        !flag(req, doc, "strict", &checks.strict)) {
        json_decref(doc);
        return;
    }
    size_t nfiles = json_array_size(files);
    tg_registry_file *list = tg_xcalloc(nfiles ? nfiles : 1, sizeof *list);
    json_t *problems = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        json_t *f = json_array_get(files, i);
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *content = json_string_value(json_object_get(f, "content_base64"));
        unsigned char *data = NULL;
        size_t dlen = 0;
        if (!path || !content || !unbase64(content, &data, &dlen)) {
            char *where = tg_xasprintf("/files/%zu", i);
            json_array_append_new(
                problems, json_pack("{s:s, s:s, s:s}", "path", where, "keyword", "files", "message",
                                    "each file needs a path and base64 content_base64"));
            free(where);
            continue;
        }
        list[i] = (tg_registry_file){path, data, dlen};
    }
    if (json_array_size(problems))
        reply_error(req, TG_EBAD_REQUEST, "the files are malformed", problems);
    else
        deploy_checked(admin, req, manifest, list, nfiles, &checks);
    json_decref(checks.warnings);
    json_decref(checks.fixtures);
    json_decref(checks.setup_error);
    for (size_t i = 0; i < nfiles; i++)
        free((void *)list[i].data);
    free(list);
    json_decref(problems);
    json_decref(doc);
}

/* /v1/workers/{name}/egress: the rules an admin sets in place of the
 * manifest's. PUT takes the rules array, DELETE returns to the manifest's,
 * GET answers {"source": "runtime" | "manifest", "rules": [...]}. A running
 * worker's next request obeys a change. */
static void egress_rules(tg_admin *admin, tg_http_request *req, const char *name)
{
    const char *method = tg_http_method(req);
    tg_registry_error err = {0};
    int rc;
    if (strcmp(method, "GET") == 0) {
        json_t *rules = NULL, *worker = NULL;
        rc = tg_registry_egress(admin->registry, admin->tenant, name, &rules, &err);
        if (!rc) rc = tg_registry_get(admin->registry, admin->tenant, name, &worker, &err);
        if (rc) {
            json_decref(rules);
            reply_registry_error(req, rc, &err);
            return;
        }
        const char *source = rules ? "runtime" : "manifest";
        if (!rules) {
            tg_registry_snapshot *tool = NULL;
            if (tg_registry_resolve(admin->registry, admin->tenant, name, &tool, NULL) == 0) {
                rules = json_object_get(tg_registry_snapshot_manifest(tool), "egress");
                rules = rules ? json_incref(rules) : NULL;
                tg_registry_snapshot_unref(tool);
            }
        }
        json_decref(worker);
        tg_http_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:o}", "name", name, "source", source, "rules",
                                     rules ? rules : json_array()));
        return;
    }
    if (strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0) {
        tg_http_set_header(req, "Allow", "GET, PUT, DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL, NULL);
        return;
    }
    json_t *rules = NULL;
    if (strcmp(method, "PUT") == 0) {
        size_t len;
        const char *body = tg_http_body(req, &len);
        rules = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_array(rules)) {
            json_decref(rules);
            reply_error(req, TG_EBAD_REQUEST, "the body must be an array of egress rules", NULL);
            return;
        }
    }
    rc = tg_registry_set_egress(admin->registry, admin->tenant, name, rules, &err);
    if (rc) {
        reply_registry_error(req, rc, &err);
    } else if (recorded(admin, req, "deploy", name,
                        rules ? "egress_rules_set" : "egress_rules_reset",
                        json_pack("{s:O}", "egress", rules ? rules : json_null()))) {
        tg_http_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:O}", "name", name, "source",
                                     rules ? "runtime" : "manifest", "rules",
                                     rules ? rules : json_null()));
    }
    json_decref(rules);
}

/* /v1/workers/{name}/deprecate. POST {version, sunset, message,
 * replacement} deprecates the version (an id or a semver; absent: the
 * current one): it keeps running, with a notice, until the sunset (RFC 3339,
 * a date meaning its UTC midnight, or ms since the epoch), then its calls
 * are refused TOOL_RETIRED. DELETE undoes it, for ?version= or every
 * version. Both answer {name, versions_changed, deprecation}. */
static void deprecate(tg_admin *admin, tg_http_request *req, const char *name)
{
    const char *method = tg_http_method(req);
    bool undo = strcmp(method, "DELETE") == 0;
    if (!undo && strcmp(method, "POST") != 0) {
        tg_http_set_header(req, "Allow", "POST, DELETE");
        reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL, NULL);
        return;
    }
    json_t *doc = NULL;
    const char *version = tg_http_query(req, "version");
    tg_registry_deprecation d = {0};
    if (!undo) {
        size_t len;
        const char *body = tg_http_body(req, &len);
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *sunset = json_object_get(doc, "sunset");
        const json_t *v = json_object_get(doc, "version"), *m = json_object_get(doc, "message"),
                     *r = json_object_get(doc, "replacement");
        /* A string must be a date or an RFC 3339 time: tg_parse_time_ms
         * would also read "2027" as ms since the epoch (retired at once) and
         * "7d" as a week ago. */
        const char *text = json_string_value(sunset);
        bool parsed = json_is_integer(sunset)
                          ? (d.sunset_ms = json_integer_value(sunset), true)
                          : text && strlen(text) >= 10 && text[4] == '-' &&
                                tg_parse_time_ms(text, tg_now_ms(), &d.sunset_ms);
        /* null is as good as absent, for clients that send every field. */
        if (!json_is_object(doc) || !parsed || (v && !json_is_null(v) && !json_is_string(v)) ||
            (m && !json_is_null(m) && !json_is_string(m)) ||
            (r && !json_is_null(r) && !json_is_string(r))) {
            reply_error(req, TG_EBAD_REQUEST,
                        "the body must be {\"sunset\": \"2027-01-31\" (RFC 3339 or a date),"
                        " \"version\", \"message\", \"replacement\": strings, all optional"
                        " but sunset}",
                        NULL);
            json_decref(doc);
            return;
        }
        version = json_string_value(v);
        d.message = json_string_value(m);
        d.replacement = json_string_value(r);
    }
    tg_registry_error err = {0};
    size_t changed = 0;
    int rc = tg_registry_deprecate(admin->registry, admin->tenant, name, version, undo ? NULL : &d,
                                   &changed, &err);
    json_t *worker = NULL;
    if (!rc) rc = tg_registry_get(admin->registry, admin->tenant, name, &worker, &err);
    if (rc) {
        reply_registry_error(req, rc, &err);
    } else {
        /* The deprecation as stored (the message worded when none came). */
        json_t *shown = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(worker, "versions"), i, e)
        {
            const char *id = json_string_value(json_object_get(e, "version"));
            const char *semver = json_string_value(json_object_get(e, "semver"));
            bool match = version ? strcmp(id, version) == 0 || strcmp(semver, version) == 0
                                 : json_is_true(json_object_get(e, "current"));
            if (match && !shown) shown = json_object_get(e, "deprecation");
        }
        json_t *record = json_pack("{s:s?, s:I, s:O}", "version", version, "versions_changed",
                                   (json_int_t)changed, "deprecation", shown ? shown : json_null());
        if (recorded(admin, req, "deploy", name, undo ? "undeprecated" : "deprecated", record))
            tg_http_reply_json(req, 200,
                               json_pack("{s:s, s:I, s:O}", "name", name, "versions_changed",
                                         (json_int_t)changed, "deprecation",
                                         shown ? shown : json_null()));
    }
    json_decref(worker);
    json_decref(doc);
}

static void rollback(tg_admin *admin, tg_http_request *req, const char *name)
{
    size_t len;
    const char *body = tg_http_body(req, &len);
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *version = json_string_value(json_object_get(doc, "version"));
    if (!version) {
        reply_error(req, TG_EBAD_REQUEST, "the body must be {\"version\": \"<version id>\"}", NULL);
    } else {
        tg_registry_error err = {0};
        int rc = tg_registry_rollback(admin->registry, admin->tenant, name, version, &err);
        if (rc != 0)
            reply_registry_error(req, rc, &err);
        else if (recorded(admin, req, "rollback", name, "ok",
                          json_pack("{s:s}", "version", version)))
            tg_http_reply_json(req, 200, json_pack("{s:s, s:s}", "name", name, "version", version));
    }
    json_decref(doc);
}

void tg_admin_handle(const tg_admin *shared, const tg_caller *who, tg_http_request *req)
{
    if (!tg_caller_may(who, TG_SCOPE_WORKERS_DEPLOY)) {
        tg_caller_refuse(req, who, TG_SCOPE_WORKERS_DEPLOY);
        return;
    }
    /* Every lookup below is the caller's tenant's, in the store itself. */
    tg_admin scoped = *shared;
    scoped.tenant = who->tenant;
    scoped.who = who;
    tg_admin *admin = &scoped;
    const char *method = tg_http_method(req);
    if (strcmp(method, "GET") != 0 && !audit_ready(admin, req)) return;
    const char *path = tg_http_path(req) + strlen("/v1/workers");
    tg_registry_error err = {0};
    json_t *out = NULL;
    int rc;
    if (*path == '\0' || strcmp(path, "/") == 0) {
        if (strcmp(method, "GET") == 0) {
            if ((rc = tg_registry_list(admin->registry, admin->tenant, &out, &err)) != 0)
                reply_registry_error(req, rc, &err);
            else
                tg_http_reply_json(req, 200, json_pack("{s:o}", "workers", out));
        } else if (strcmp(method, "POST") == 0) {
            deploy(admin, req);
        } else {
            tg_http_set_header(req, "Allow", "GET, POST");
            reply_error(req, TG_EMETHOD_NOT_ALLOWED, NULL, NULL);
        }
        return;
    }
    /* /{name} or /{name}/rollback */
    char *name = tg_xstrdup(path + 1);
    char *slash = strchr(name, '/');
    const char *action = slash ? slash + 1 : "";
    if (slash) *slash = '\0';
    /* A token restricted to toolsets changes only their tools. */
    if (strcmp(method, "GET") != 0 && !tg_admin_tool_allowed(admin, who, req, name)) {
        free(name);
        return;
    }
    if (*action == '\0' && strcmp(method, "GET") == 0) {
        if ((rc = tg_registry_get(admin->registry, admin->tenant, name, &out, &err)) != 0)
            reply_registry_error(req, rc, &err);
        else
            tg_http_reply_json(req, 200, out);
    } else if (*action == '\0' && strcmp(method, "DELETE") == 0) {
        tg_error herr;
        if ((rc = tg_registry_delete(admin->registry, admin->tenant, name, &err)) != 0) {
            reply_registry_error(req, rc, &err);
        } else {
            /* A worker deployed later under the name must not answer its hooks. */
            if (admin->hooks &&
                tg_hooks_delete_worker(admin->hooks, admin->tenant, name, NULL, &herr) != 0)
                tg_log_warn(&(tg_log_ctx){.tenant = admin->tenant},
                            "hooks of deleted worker %s not deleted: %s", name, herr.message);
            if (recorded(admin, req, "deploy", name, "deleted", NULL))
                tg_http_reply(req, 204, NULL, NULL, 0);
        }
    } else if (strcmp(action, "versions") == 0 && strcmp(method, "GET") == 0) {
        if ((rc = tg_registry_get(admin->registry, admin->tenant, name, &out, &err)) != 0)
            reply_registry_error(req, rc, &err);
        else
            tg_http_reply_json(req, 200,
                               json_pack("{s:s, s:O}", "name", name, "versions",
                                         json_object_get(out, "versions")));
        json_decref(out);
    } else if (strcmp(action, "rollback") == 0 && strcmp(method, "POST") == 0) {
        rollback(admin, req, name);
    } else if (strcmp(action, "egress") == 0) {
        egress_rules(admin, req, name);
    } else if (strcmp(action, "deprecate") == 0) {
        deprecate(admin, req, name);
    } else if (strncmp(action, "hooks", 5) == 0 && (action[5] == '\0' || action[5] == '/')) {
        tg_admin_hooks(admin, req, name, action + 5);
    } else {
        reply_error(req, TG_ENOT_FOUND, "no such admin endpoint", NULL);
    }
    free(name);
}
