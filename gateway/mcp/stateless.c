/* MCP 2026-07-28 request checks: see stateless.h for the contract.
 *
 * The order of the checks follows what a client can fix: the mirrored
 * headers first (Mcp-Method, MCP-Protocol-Version, Mcp-Name), then the _meta
 * the revision requires, then whether the two versions agree, and only then
 * whether the version is one this endpoint serves, so the supported list goes
 * only to a client that asked for a version coherently. The Mcp-Param-*
 * headers are checked apart (tg_stateless_check_params), once the tool they
 * belong to, and so its inputSchema, is known; so are the client
 * capabilities the tool's manifest requires (tg_stateless_missing_capabilities),
 * which a 2025 session's call is held to as well. */
#include "gateway/mcp/stateless.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/mcp/jsonrpc.h"

#define META_VERSION      "io.modelcontextprotocol/protocolVersion"
#define META_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define META_LOG_LEVEL    "io.modelcontextprotocol/logLevel"
#define META_SERVER_INFO  "io.modelcontextprotocol/serverInfo"

/* The sentinel around a Base64 header value (Value Encoding). */
#define B64_PREFIX "=?base64?"
#define B64_SUFFIX "?="

/* Longest Base64 header value this decodes: longer ones are refused rather
 * than decoded (MHD already bounds the whole header block). */
#define MAX_VALUE_BYTES 8192
/* How deep in an inputSchema's properties x-mcp-header is looked for. */
#define MAX_PARAM_DEPTH 16

bool tg_stateless_selected(const char *header_version, const json_t *params)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(params, "_meta"), META_VERSION));
    if (!v) v = header_version;
    return v && !tg_session_version_supported(v);
}

json_t *tg_stateless_versions(void)
{
    json_t *a = json_pack("[s]", TG_MCP_VERSION_STATELESS);
    for (size_t i = 0; i < tg_session_n_versions; i++)
        json_array_append_new(a, json_string(tg_session_versions[i]));
    return a;
}

json_t *tg_stateless_server_info(void)
{
    return json_pack("{s:s, s:s}", "name", "toolgate", "version", TOOLGATE_VERSION);
}

void tg_stateless_complete(json_t *result)
{
    json_t *meta = json_object_get(result, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(result, "_meta", meta);
    }
    json_object_set_new(meta, META_SERVER_INFO, tg_stateless_server_info());
    json_object_set_new(result, "resultType", json_string("complete"));
}

/* Returns: new reference, a JSON-RPC error response with a code of this
 * revision's own (tg_jsonrpc_error knows only the table's). data is stolen. */
static json_t *error_response(json_t *id, int code, const char *message, json_t *data)
{
    json_t *error = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data) json_object_set_new(error, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     error);
}

const json_t *tg_stateless_client_capabilities(const json_t *params)
{
    json_t *caps = json_object_get(json_object_get(params, "_meta"), META_CAPABILITIES);
    return json_is_object(caps) ? caps : NULL;
}

json_t *tg_stateless_missing_capabilities(const json_t *manifest, const json_t *client_capabilities)
{
    json_t *required = json_object_get(json_object_get(manifest, "requires"), "clientCapabilities");
    json_t *missing = NULL;
    size_t i;
    json_t *name;
    json_array_foreach(required, i, name)
    {
        const char *capability = json_string_value(name);
        if (!capability || json_is_object(json_object_get(client_capabilities, capability)))
            continue;
        if (!missing) missing = json_object();
        json_object_set_new(missing, capability, json_object());
    }
    return missing;
}

json_t *tg_stateless_missing_capability_error(json_t *id, json_t *missing)
{
    /* The message names what is missing, so a client's log says what to
     * declare without reading data. */
    size_t n = 0;
    const char *key;
    json_t *value;
    json_object_foreach(missing, key, value) n += strlen(key) + 2;
    char *names = tg_xmalloc(n + 1);
    size_t at = 0;
    json_object_foreach(missing, key, value)
    {
        size_t len = strlen(key);
        if (at) {
            memcpy(names + at, ", ", 2);
            at += 2;
        }
        memcpy(names + at, key, len);
        at += len;
    }
    names[at] = '\0';
    char *message = tg_xasprintf("the tool requires client capabilities the request does not "
                                 "declare: %s",
                                 names);
    json_t *response = error_response(id, TG_MCP_CODE_MISSING_CAPABILITY, message,
                                      json_pack("{s:o}", "requiredCapabilities", missing));
    free(message);
    free(names);
    return response;
}

static int mismatch(json_t *id, json_t **error, const char *message)
{
    *error = error_response(id, TG_MCP_CODE_HEADER_MISMATCH, message, NULL);
    return -1;
}

static int invalid_params(json_t *id, json_t **error, const char *message)
{
    *error = tg_jsonrpc_error(id, TG_EINVALID_PARAMS, message, NULL);
    return -1;
}

/* A header's value without the whitespace around it, which is not part of
 * the value (RFC 9110, section 5.5), as a span. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static span field_value(const char *v)
{
    size_t n = strlen(v);
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return (span){v, n};
}

/* RFC 9110 field values: visible ASCII, space and tab. */
static bool field_value_ok(span v)
{
    for (size_t i = 0; i < v.n; i++)
        if (!((v.p[i] >= 0x20 && v.p[i] <= 0x7E) || v.p[i] == '\t')) return false;
    return true;
}

static bool span_is(span v, const char *s, size_t len)
{
    return v.n == len && memcmp(v.p, s, len) == 0;
}

/* The value a header carries: the Base64 sentinel form decoded, any other
 * value as it is. Returns: a new NUL-terminated copy (*len without the NUL,
 * which the decoded bytes may also hold), or NULL when the Base64 is broken
 * or longer than MAX_VALUE_BYTES. */
static char *header_decode(span header, size_t *len)
{
    size_t pre = strlen(B64_PREFIX), suf = strlen(B64_SUFFIX);
    if (header.n < pre + suf || memcmp(header.p, B64_PREFIX, pre) != 0 ||
        memcmp(header.p + header.n - suf, B64_SUFFIX, suf) != 0) {
        *len = header.n;
        return tg_xstrndup(header.p, header.n);
    }
    const char *b64 = header.p + pre;
    size_t b64_len = header.n - pre - suf;
    if (b64_len % 4 != 0 || b64_len > MAX_VALUE_BYTES) return NULL;
    char *decoded = tg_xmalloc(b64_len / 4 * 3 + 1);
    /* EVP_DecodeBlock counts the padding as data: drop a byte per '='. */
    int got = EVP_DecodeBlock((unsigned char *)decoded, (const unsigned char *)b64, (int)b64_len);
    size_t padding = 0;
    while (padding < 2 && padding < b64_len && b64[b64_len - 1 - padding] == '=')
        padding++;
    if (got < 0 || (size_t)got < padding) {
        free(decoded);
        return NULL;
    }
    *len = (size_t)got - padding;
    decoded[*len] = '\0';
    return decoded;
}

/* Whether a header names body (a string of len bytes), once decoded. */
static bool header_names(span header, const char *body, size_t len)
{
    size_t n;
    char *value = field_value_ok(header) ? header_decode(header, &n) : NULL;
    bool same = value && n == len && memcmp(value, body, len) == 0;
    free(value);
    return same;
}

/* The methods whose request mirrors params.name or params.uri into Mcp-Name. */
static const char *named_by(const char *method)
{
    if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0) return "name";
    if (strcmp(method, "resources/read") == 0) return "uri";
    return NULL;
}

/* Checks the mirrored headers against the body; the version header is
 * compared with _meta's later, once _meta is known to hold one. */
static int check_headers(const tg_stateless_headers *h, const char *method, json_t *id,
                         const json_t *params, json_t **error)
{
    if (!h->method) return mismatch(id, error, "the Mcp-Method header is required");
    if (!span_is(field_value(h->method), method, strlen(method)))
        return mismatch(id, error, "the Mcp-Method header does not match the body's method");
    if (!h->protocol_version)
        return mismatch(id, error, "the MCP-Protocol-Version header is required");
    const char *field = named_by(method);
    if (!field) return 0;
    if (!h->name) {
        char *m = tg_xasprintf("the Mcp-Name header is required for %s", method);
        mismatch(id, error, m);
        free(m);
        return -1;
    }
    json_t *body = json_object_get(params, field);
    if (!json_is_string(body) ||
        !header_names(field_value(h->name), json_string_value(body), json_string_length(body))) {
        char *m = tg_xasprintf("the Mcp-Name header does not match params.%s", field);
        mismatch(id, error, m);
        free(m);
        return -1;
    }
    return 0;
}

int tg_stateless_check(const tg_stateless_headers *h, const char *method, json_t *id,
                       const json_t *params, tg_stateless_request *out, json_t **error,
                       unsigned *http_status)
{
    *out = (tg_stateless_request){0};
    *error = NULL;
    *http_status = 400;
    if (check_headers(h, method, id, params, error) != 0) return -1;

    json_t *meta = json_object_get(params, "_meta");
    if (!json_is_object(meta))
        return invalid_params(id, error,
                              "params._meta is required: " TG_MCP_VERSION_STATELESS
                              " carries the protocol version and the client's "
                              "capabilities in every request");
    const char *version = json_string_value(json_object_get(meta, META_VERSION));
    if (!version)
        return invalid_params(id, error, "params._meta[\"" META_VERSION "\"] must be a string");
    if (!json_is_object(json_object_get(meta, META_CAPABILITIES)))
        return invalid_params(id, error,
                              "params._meta[\"" META_CAPABILITIES "\"] must be an object");
    if (!span_is(field_value(h->protocol_version), version, strlen(version)))
        return mismatch(
            id, error,
            "the MCP-Protocol-Version header does not match params._meta[\"" META_VERSION "\"]");
    if (strcmp(version, TG_MCP_VERSION_STATELESS) != 0) {
        *error = error_response(
            id, TG_MCP_CODE_UNSUPPORTED_VERSION, "Unsupported protocol version",
            json_pack("{s:o, s:s}", "supported", tg_stateless_versions(), "requested", version));
        return -1;
    }
    json_t *level = json_object_get(meta, META_LOG_LEVEL);
    if (level) {
        if (tg_mcp_log_level_parse(json_string_value(level), &out->log_level) != 0)
            return invalid_params(id, error,
                                  "params._meta[\"" META_LOG_LEVEL "\"] must be a log level name");
        out->wants_logs = true;
    }
    *http_status = 200;
    return 0;
}

/* Whether the Mcp-Param header (present) carries value, an argument of a
 * primitive type: a string byte for byte, a number compared as a number
 * (42 and 42.0 agree), a boolean as true or false. */
static bool param_matches(span header, const json_t *value)
{
    if (json_is_string(value))
        return header_names(header, json_string_value(value), json_string_length(value));
    size_t n;
    char *text = field_value_ok(header) ? header_decode(header, &n) : NULL;
    bool same = false;
    if (text && strlen(text) == n) {
        if (json_is_boolean(value)) {
            same = strcmp(text, json_is_true(value) ? "true" : "false") == 0;
        } else if (json_is_number(value) && n > 0) {
            char *end;
            double d = strtod(text, &end);
            same = *end == '\0' && d == json_number_value(value);
        }
    }
    free(text);
    return same;
}

static int check_params(const json_t *schema, const json_t *arguments, unsigned depth,
                        tg_stateless_header_fn header, void *ctx, json_t *id, json_t **error)
{
    const char *key;
    json_t *property;
    json_object_foreach((json_t *)json_object_get(schema, "properties"), key, property)
    {
        json_t *value = json_object_get(arguments, key);
        const char *suffix = json_string_value(json_object_get(property, "x-mcp-header"));
        /* An absent or null value is sent without its header; objects and
         * arrays cannot be mirrored, so a definition never marks them. */
        if (suffix && value &&
            (json_is_string(value) || json_is_number(value) || json_is_boolean(value))) {
            char *name = tg_xasprintf("Mcp-Param-%s", suffix);
            const char *v = header(ctx, name);
            bool ok = v && param_matches(field_value(v), value);
            char *m = ok ? NULL
                         : tg_xasprintf("the %s header %s params.arguments", name,
                                        v ? "does not match" : "is required for");
            free(name);
            if (!ok) {
                mismatch(id, error, m);
                free(m);
                return -1;
            }
        }
        if (json_is_object(value) && depth < MAX_PARAM_DEPTH &&
            check_params(property, value, depth + 1, header, ctx, id, error) != 0)
            return -1;
    }
    return 0;
}

int tg_stateless_check_params(const json_t *input_schema, const json_t *arguments,
                              tg_stateless_header_fn header, void *ctx, json_t *id, json_t **error)
{
    *error = NULL;
    return check_params(input_schema, arguments, 0, header, ctx, id, error);
}
