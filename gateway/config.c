/* The configuration (see config.h). */
#include "gateway/config.h"

#include "gateway/core/alloc.h"
#include "gateway/core/text.h"
#include "schemas/schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The configuration's shape: anything else is refused with every problem
 * listed, before the gateway starts. */
static const char config_schema_text[] =
    "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    " \"listen\": {\"type\": \"string\", \"minLength\": 3},"
    " \"data_dir\": {\"type\": \"string\", \"minLength\": 1},"
    " \"store\": {\"type\": \"string\", \"pattern\": \"^postgres(ql)?://\"},"
    " \"insecure_no_auth\": {\"type\": \"boolean\"},"
    " \"auth\": {\"type\": \"object\", \"additionalProperties\": false,"
    "   \"required\": [\"issuer\", \"keys\"], \"properties\": {"
    "   \"issuer\": {\"type\": \"string\", \"minLength\": 1},"
    "   \"audience\": {\"type\": \"string\", \"format\": \"uri\"},"
    "   \"leeway_s\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 300},"
    "   \"authorization_servers\": {\"type\": \"array\", \"maxItems\": 16,"
    "     \"items\": {\"type\": \"string\", \"format\": \"uri\"}},"
    "   \"keys\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 64, \"items\": {"
    "     \"type\": \"object\", \"additionalProperties\": false, \"required\": [\"alg\"],"
    "     \"properties\": {\"kid\": {\"type\": \"string\", \"minLength\": 1},"
    "       \"alg\": {\"enum\": [\"HS256\", \"RS256\", \"ES256\"]},"
    "       \"secret\": {\"type\": \"string\", \"minLength\": 32},"
    "       \"pem_file\": {\"type\": \"string\", \"minLength\": 1}},"
    "     \"oneOf\": [{\"required\": [\"secret\"]}, {\"required\": [\"pem_file\"]}]}}}},"
    " \"audit\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"path\": {\"type\": \"string\", \"minLength\": 1},"
    "   \"deadline_ms\": {\"type\": \"integer\", \"minimum\": 10, \"maximum\": 60000},"
    "   \"retention_days\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 36500}}},"
    " \"deploy\": {\"type\": \"array\", \"maxItems\": 64, \"items\": {\"type\": \"string\"}},"
    " \"egress\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"ca_file\": {\"type\": \"string\", \"minLength\": 1},"
    "   \"max_request_bytes\": {\"type\": \"integer\", \"minimum\": 1024, \"maximum\": 4194304},"
    "   \"max_response_bytes\": {\"type\": \"integer\", \"minimum\": 1024, \"maximum\": 4194304},"
    "   \"timeout_ms\": {\"type\": \"integer\", \"minimum\": 100, \"maximum\": 600000},"
    "   \"max_requests\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000000}}},"
    " \"runs\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"keep_results\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000}}},"
    " \"scheduler\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"jitter_ms\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 300000}}},"
    " \"state\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"max_value_bytes\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 4194304},"
    "   \"max_worker_bytes\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1073741824},"
    "   \"max_keys\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000000}}},"
    " \"secrets\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"master_key_file\": {\"type\": \"string\", \"minLength\": 1}}},"
    " \"pool\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"warm\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 64},"
    "   \"max\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1024},"
    "   \"spawners\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 16},"
    "   \"runtimes\": {\"type\": \"object\", \"additionalProperties\": false,"
    "     \"patternProperties\": {\"^(sh|python3)$\": {\"type\": \"object\","
    "       \"additionalProperties\": false, \"properties\": {"
    "         \"warm\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 64},"
    "         \"max\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1024}}}}}}},"
    " \"sandbox\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"driver\": {\"enum\": [\"auto\", \"microvm\", \"jail\"]},"
    "   \"accel\": {\"enum\": [\"auto\", \"kvm\", \"tcg\"]},"
    "   \"image\": {\"type\": \"string\", \"minLength\": 1},"
    "   \"memory_mb\": {\"type\": \"integer\", \"minimum\": 32, \"maximum\": 65536},"
    "   \"cpu_seconds\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 86400}}},"
    " \"admission\": {\"type\": \"object\", \"additionalProperties\": false,"
    "   \"properties\": {"
    "   \"tenant_rate\": {\"$ref\": \"#/$defs/rate\"}, \"tool_rate\": {\"$ref\": \"#/$defs/rate\"},"
    "   \"tenant_burst\": {\"$ref\": \"#/$defs/count\"}, \"tool_burst\": {\"$ref\": "
    "\"#/$defs/count\"},"
    "   \"tenant_concurrency\": {\"$ref\": \"#/$defs/count\"},"
    "   \"worker_concurrency\": {\"$ref\": \"#/$defs/count\"}}},"
    " \"calls\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"threads\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1024},"
    "   \"acquire_ms\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 600000}}},"
    " \"log\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"level\": {\"enum\": [\"debug\", \"info\", \"warn\", \"error\"]}}},"
    " \"http\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "   \"max_body_bytes\": {\"type\": \"integer\", \"minimum\": 1024, \"maximum\": 67108864},"
    "   \"threads\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 256},"
    "   \"allowed_hosts\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, "
    "\"maxItems\": 8},"
    "   \"allowed_origins\": {\"type\": \"array\", \"items\": {\"type\": \"string\", "
    "\"format\": \"uri\"}, \"maxItems\": 64}}}},"
    " \"$defs\": {"
    "   \"rate\": {\"description\": \"per second; -1 turns the limit off\","
    "     \"anyOf\": [{\"const\": -1}, {\"type\": \"number\", \"minimum\": 0.001, "
    "\"maximum\": 1000000}]},"
    "   \"count\": {\"description\": \"-1 turns the limit off\","
    "     \"anyOf\": [{\"const\": -1}, {\"type\": \"integer\", \"minimum\": 1, "
    "\"maximum\": 1000000}]}}}";

/* Appends one problem to problems. The parser quotes a file's bytes, which
 * need not be UTF-8: each byte that is not becomes '?', so that the problem
 * is still a JSON string. */
static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *problems, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) text = NULL;
    va_end(ap);
    if (!text) {
        json_array_append_new(problems, json_string("out of memory describing a problem"));
        return;
    }
    for (char *c = text; *c;) {
        size_t n = tg_utf8_char_len(c);
        if (n)
            c += n;
        else
            *c++ = '?';
    }
    json_array_append_new(problems, json_string(text));
    free(text);
}

/* The value of variable name in env, or NULL. */
static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return NULL;
}

/* A variable's text as the value the key's schema wants: strings as they
 * are, lists of strings split at commas, anything else read as JSON (a
 * number, true, -1) and, when it is not JSON, kept as a string, for the
 * schema to name the type it should have been. Returns NULL for text that
 * is not UTF-8. */
static json_t *env_value(const json_t *schema, const char *text)
{
    for (const char *c = text; *c;) {
        size_t n = tg_utf8_char_len(c);
        if (!n) return NULL;
        c += n;
    }
    const char *type = json_string_value(json_object_get(schema, "type"));
    const json_t *items = json_object_get(schema, "items");
    if ((type && strcmp(type, "string") == 0) ||
        json_is_string(json_array_get(json_object_get(schema, "enum"), 0)))
        return json_string(text);
    if (type && strcmp(type, "array") == 0 &&
        strcmp(json_string_value(json_object_get(items, "type")) ?: "", "string") == 0) {
        json_t *list = json_array();
        const char *p = text;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            while (n && isspace((unsigned char)*p))
                p++, n--;
            while (n && isspace((unsigned char)p[n - 1]))
                n--;
            if (n) json_array_append_new(list, json_stringn(p, n));
            p += comma ? (size_t)(comma - p) + 1 : strlen(p);
        }
        return list;
    }
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return v ? v : json_string(text);
}

typedef void (*leaf_fn)(void *ctx, const char *variable, const char *pointer, const json_t *schema);

/* Calls fn for every key of schema's objects that is not itself an object
 * of keys, with the variable that sets it and its JSON Pointer. */
static void walk(const json_t *schema, const char *variable, const char *pointer, leaf_fn fn,
                 void *ctx)
{
    const char *key;
    const json_t *sub;
    json_object_foreach((json_t *)json_object_get(schema, "properties"), key, sub)
    {
        char *var = tg_xasprintf("%s_%s", variable, key);
        for (char *c = var; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        char *ptr = tg_xasprintf("%s/%s", pointer, key);
        if (json_object_get(sub, "properties"))
            walk(sub, var, ptr, fn, ctx);
        else
            fn(ctx, var, ptr, sub);
        free(ptr);
        free(var);
    }
}

typedef struct overlay_ctx {
    json_t *doc;
    char *const *env;
    json_t *origins;  /* pointer -> variable, for the problems */
    json_t *problems; /* variables that are no value at all */
} overlay_ctx;

static void overlay_leaf(void *arg, const char *variable, const char *pointer, const json_t *schema)
{
    overlay_ctx *o = arg;
    const char *text = env_get(o->env, variable);
    if (!text) return;
    /* Down the pointer, making the objects on the way; a file whose section
     * is not an object keeps it, for the schema to refuse. */
    json_t *at = o->doc;
    char *path = tg_xstrdup(pointer + 1);
    char *save = NULL;
    char *part = strtok_r(path, "/", &save);
    for (char *next; part && (next = strtok_r(NULL, "/", &save)); part = next) {
        json_t *child = json_object_get(at, part);
        if (!child) json_object_set_new(at, part, child = json_object());
        at = child;
    }
    json_t *value = env_value(schema, text);
    if (!value) {
        /* Only text that is not UTF-8 makes no JSON string. */
        problem(o->problems, "%s: not UTF-8 (from %s)", pointer, variable);
    } else if (json_is_object(at)) {
        json_object_set_new(at, part, value);
        json_object_set_new(o->origins, pointer, json_string(variable));
    } else {
        json_decref(value);
    }
    free(path);
}

static json_t *compiled_schema_doc(void)
{
    return json_loads(config_schema_text, 0, NULL);
}

/* The variable a violation at pointer came from, or NULL. */
static const char *origin_of(const json_t *origins, const char *pointer)
{
    const char *key;
    const json_t *var;
    json_object_foreach((json_t *)origins, key, var)
    {
        size_t n = strlen(key);
        if (strncmp(pointer, key, n) == 0 && (pointer[n] == '\0' || pointer[n] == '/'))
            return json_string_value(var);
    }
    return NULL;
}

static void must_read(json_t *problems, const char *pointer, const char *path)
{
    if (path && access(path, R_OK) != 0)
        problem(problems, "%s: cannot read %s: %s", pointer, path, strerror(errno));
}

/* HOST:PORT, with HOST an IPv4 address, a name or [an IPv6 address]. */
static bool valid_listen(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return false;
    if (listen[0] == '[' && colon[-1] != ']') return false;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    return colon[1] && !*end && errno == 0 && port <= 65535;
}

bool tg_config_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
           strncmp(listen, "[::1]:", 6) == 0;
}

/* What the schema cannot see. A value of the wrong type is the schema's to
 * report and is passed over here. */
static void check_outside(const json_t *config, json_t *problems)
{
    const char *listen = json_string_value(json_object_get(config, "listen"));
    if (listen && !valid_listen(listen))
        problem(problems, "/listen: must be HOST:PORT with a port from 0 to 65535 (got \"%s\")",
                listen);
    if (json_is_true(json_object_get(config, "insecure_no_auth")) && listen &&
        !tg_config_loopback(listen))
        problem(problems,
                "/insecure_no_auth: only loopback addresses may be served without "
                "authentication (listen is %s)",
                listen);
    size_t i;
    const json_t *key;
    json_array_foreach(json_object_get(json_object_get(config, "auth"), "keys"), i, key)
    {
        char *pointer = tg_xasprintf("/auth/keys/%zu/pem_file", i);
        must_read(problems, pointer, json_string_value(json_object_get(key, "pem_file")));
        free(pointer);
    }
    must_read(problems, "/egress/ca_file",
              json_string_value(json_object_get(json_object_get(config, "egress"), "ca_file")));
    const char *master =
        json_string_value(json_object_get(json_object_get(config, "secrets"), "master_key_file"));
    struct stat st;
    if (master && stat(master, &st) != 0)
        problem(problems, "/secrets/master_key_file: %s: %s", master, strerror(errno));
    else if (master && (st.st_mode & 077))
        problem(problems, "/secrets/master_key_file: %s is open to group or others (chmod 600)",
                master);
    else if (master && st.st_size != 32)
        problem(problems, "/secrets/master_key_file: %s must hold exactly 32 bytes (holds %lld)",
                master, (long long)st.st_size);
    const char *image =
        json_string_value(json_object_get(json_object_get(config, "sandbox"), "image"));
    if (image && (stat(image, &st) != 0 || !S_ISDIR(st.st_mode)))
        problem(problems, "/sandbox/image: %s is not a directory (toolgate image build)", image);
    const json_t *dir;
    json_array_foreach(json_object_get(config, "deploy"), i, dir)
    {
        const char *path = json_string_value(dir);
        if (path && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
            problem(problems, "/deploy/%zu: %s is not a directory", i, path);
    }
    const char *data_dir = json_string_value(json_object_get(config, "data_dir"));
    if (data_dir && stat(data_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        problem(problems, "/data_dir: %s is not a directory", data_dir);
}

json_t *tg_config_read(const char *path, char *const *env, json_t **problems)
{
    if (!path) return tg_config_parse(NULL, 0, env, problems);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    FILE *out = f ? open_memstream(&text, &len) : NULL;
    char chunk[8192];
    size_t n;
    while (out && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, out);
    bool read_failed = !f || !out || ferror(f);
    int saved = errno;
    if (out) fclose(out);
    if (f) fclose(f);
    if (read_failed) {
        *problems = json_array();
        problem(*problems, "cannot read %s: %s", path, strerror(saved ? saved : EIO));
        free(text);
        return NULL;
    }
    json_t *doc = tg_config_parse(text, len, env, problems);
    free(text);
    return doc;
}

json_t *tg_config_parse(const char *text, size_t len, char *const *env, json_t **problems)
{
    *problems = NULL;
    json_t *doc;
    if (text) {
        json_error_t jerr;
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            *problems = json_array();
            if (jerr.line > 0)
                problem(*problems, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
            else
                problem(*problems, "%s", jerr.text);
            return NULL;
        }
        if (!json_is_object(doc)) {
            json_decref(doc);
            *problems = json_pack("[s]", "(top): must be an object");
            return NULL;
        }
    } else {
        doc = json_object();
    }
    json_t *schema_doc = compiled_schema_doc();
    *problems = json_array();
    overlay_ctx o = {.doc = doc, .env = env, .origins = json_object(), .problems = *problems};
    walk(schema_doc, TG_CONFIG_ENV_ROOT, "", overlay_leaf, &o);

    tg_schema_options sopts = {.format_assert = true};
    tg_schema *schema = NULL;
    tg_schema_compile(schema_doc, &sopts, &schema, NULL);
    json_decref(schema_doc);
    tg_schema_violations v = {0};
    if (!schema || tg_schema_validate(schema, doc, &v) != 0) {
        for (size_t i = 0; schema && i < v.count; i++) {
            const char *from = origin_of(o.origins, v.items[i].path);
            problem(*problems, "%s: %s%s%s%s", v.items[i].path[0] ? v.items[i].path : "(top)",
                    v.items[i].message, from ? " (from " : "", from ? from : "", from ? ")" : "");
        }
    }
    check_outside(doc, *problems);
    if (json_array_size(*problems)) {
        json_decref(doc);
        doc = NULL;
    } else {
        json_decref(*problems);
        *problems = NULL;
    }
    tg_schema_violations_free(&v);
    tg_schema_free(schema);
    json_decref(o.origins);
    return doc;
}

static void list_leaf(void *arg, const char *variable, const char *pointer, const json_t *schema)
{
    (void)schema;
    char *key = tg_xstrdup(pointer + 1);
    for (char *c = key; *c; c++)
        if (*c == '/') *c = '.';
    json_array_append_new(arg, json_pack("{s:s, s:s}", "variable", variable, "key", key));
    free(key);
}

json_t *tg_config_variables(void)
{
    json_t *schema_doc = compiled_schema_doc();
    json_t *list = json_array();
    walk(schema_doc, TG_CONFIG_ENV_ROOT, "", list_leaf, list);
    json_decref(schema_doc);
    return list;
}

json_t *tg_config_redacted(const json_t *config)
{
    json_t *copy = json_deep_copy(config);
    size_t i;
    json_t *key;
    json_array_foreach(json_object_get(json_object_get(copy, "auth"), "keys"), i, key)
    {
        if (json_object_get(key, "secret"))
            json_object_set_new(key, "secret", json_string("(hidden)"));
    }
    return copy;
}
