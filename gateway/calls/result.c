/* Shaping a run into a CallToolResult; see result.h and docs/workers.md.
 *
 * Nothing a worker writes is trusted: stdout must parse as one JSON document,
 * content blocks are checked against a schema of MCP's content types, and
 * text taken from stderr is made valid UTF-8 before it enters a message. */
#include "gateway/calls/result.h"

#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"
#include "gateway/core/log.h"
#include "gateway/core/text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The shape of {"content": [...]} results ("output": "content"). */
static const char content_result_schema[] =
    "{\"type\": \"object\", \"required\": [\"content\"], \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"content\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/block\"}},"
    "  \"structuredContent\": {\"type\": \"object\"},"
    "  \"_meta\": {\"type\": \"object\"}},"
    " \"$defs\": {"
    "  \"block\": {\"oneOf\": ["
    "   {\"type\": \"object\", \"required\": [\"type\", \"text\"],"
    "    \"properties\": {\"type\": {\"const\": \"text\"}, \"text\": {\"type\": \"string\"}}},"
    "   {\"type\": \"object\", \"required\": [\"type\", \"data\", \"mimeType\"],"
    "    \"properties\": {\"type\": {\"enum\": [\"image\", \"audio\"]},"
    "     \"data\": {\"type\": \"string\", \"contentEncoding\": \"base64\"},"
    "     \"mimeType\": {\"type\": \"string\", \"minLength\": 1}}},"
    "   {\"type\": \"object\", \"required\": [\"type\", \"resource\"],"
    "    \"properties\": {\"type\": {\"const\": \"resource\"}, \"resource\": {"
    "     \"type\": \"object\", \"required\": [\"uri\"],"
    "     \"properties\": {\"uri\": {\"type\": \"string\", \"minLength\": 1},"
    "      \"mimeType\": {\"type\": \"string\"}, \"text\": {\"type\": \"string\"},"
    "      \"blob\": {\"type\": \"string\"}},"
    "     \"oneOf\": [{\"required\": [\"text\"]}, {\"required\": [\"blob\"]}]}}},"
    "   {\"type\": \"object\", \"required\": [\"type\", \"uri\", \"name\"],"
    "    \"properties\": {\"type\": {\"const\": \"resource_link\"},"
    "     \"uri\": {\"type\": \"string\", \"minLength\": 1}, \"name\": {\"type\": \"string\"}}}"
    "  ]}}}";

static tg_schema *content_schema;

static void compile_content_schema(void)
{
    json_t *doc = json_loads(content_result_schema, 0, NULL);
    tg_schema_error err;
    if (!doc || tg_schema_compile(doc, NULL, &content_schema, &err) != 0) {
        tg_log_error(NULL, "the built-in content schema does not compile: %s at %s",
                     doc ? err.message : "bad JSON", doc ? err.schema_path : "");
        abort();
    }
    json_decref(doc);
}

static const tg_schema *content_result_checker(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, compile_content_schema);
    return content_schema;
}

/* Returns: new reference, a tool error result with the violations as details. */
static json_t *refuse(tg_err_code code, const char *message, const tg_schema_violations *v,
                      const char *call_id)
{
    json_t *details = tg_schema_violations_json(v);
    json_t *result = tg_tool_error_result(code, message, details, call_id);
    json_decref(details);
    return result;
}

int tg_call_check_arguments(const tg_registry_snapshot *tool, const json_t *args,
                            const char *call_id, json_t **refusal)
{
    *refusal = NULL;
    const tg_schema *schema = tg_registry_snapshot_input_schema(tool);
    if (tg_schema_valid(schema, args)) return 0;
    tg_schema_violations v;
    tg_schema_validate(schema, args, &v);
    *refusal = refuse(TG_EINVALID_ARGUMENTS, NULL, &v, call_id);
    tg_schema_violations_free(&v);
    return TG_EINVALID_ARGUMENTS;
}

/* Copies at most the last max bytes of s, starting on a character boundary,
 * with every byte that does not begin valid UTF-8 replaced by '?'. */
static char *utf8_tail(const char *s, size_t max)
{
    size_t n = strlen(s);
    const unsigned char *p = (const unsigned char *)(n > max ? s + n - max : s);
    while ((*p & 0xC0) == 0x80)
        p++;
    char *out = tg_xmalloc(strlen((const char *)p) + 1), *o = out;
    while (*p) {
        size_t len = tg_utf8_char_len((const char *)p);
        if (len == 0) {
            *o++ = '?';
            p++;
            continue;
        }
        memcpy(o, p, len);
        o += len;
        p += len;
    }
    *o = '\0';
    return out;
}

static json_t *worker_failed(const tg_run_outcome *run, const char *what, const char *call_id)
{
    char *tail = utf8_tail(run->stderr_tail ? run->stderr_tail : "", 500);
    char *msg;
    if (run->signal)
        msg = tg_xasprintf("%s (killed by signal %d)%s%s", what, run->signal, *tail ? ": " : "",
                           tail);
    else
        msg =
            tg_xasprintf("%s (exit status %d)%s%s", what, run->exit_code, *tail ? ": " : "", tail);
    json_t *result = tg_tool_error_result(TG_EWORKER_FAILED, msg, NULL, call_id);
    free(msg);
    free(tail);
    return result;
}

static const char *output_mode(const tg_registry_snapshot *tool)
{
    const char *mode =
        json_string_value(json_object_get(tg_registry_snapshot_manifest(tool), "output"));
    return mode ? mode : "structured";
}

/* A structured result: the document itself, checked against the outputSchema. */
static json_t *structured_result(const tg_registry_snapshot *tool, json_t *doc, const char *call_id)
{
    const tg_schema *out_schema = tg_registry_snapshot_output_schema(tool);
    if (out_schema) {
        tg_schema_violations v;
        if (tg_schema_validate(out_schema, doc, &v) != 0) {
            json_t *refusal = refuse(TG_EOUTPUT_SCHEMA_VIOLATION, NULL, &v, call_id);
            tg_schema_violations_free(&v);
            return refusal;
        }
        tg_schema_violations_free(&v);
    }
    /* The text block repeats the result for clients that do not read
     * structuredContent, as MCP recommends. */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *result = json_pack("{s:[{s:s, s:s}]}", "content", "type", "text", "text", text);
    free(text);
    if (json_is_object(doc)) json_object_set(result, "structuredContent", doc);
    return result;
}

static json_t *content_result(const tg_registry_snapshot *tool, json_t *doc, const char *call_id)
{
    tg_schema_violations v;
    if (tg_schema_validate(content_result_checker(), doc, &v) != 0) {
        json_t *refusal =
            refuse(TG_EWORKER_FAILED,
                   "the worker's result is not a valid list of MCP content blocks", &v, call_id);
        tg_schema_violations_free(&v);
        return refusal;
    }
    tg_schema_violations_free(&v);
    const tg_schema *out_schema = tg_registry_snapshot_output_schema(tool);
    json_t *structured = json_object_get(doc, "structuredContent");
    if (out_schema && structured) {
        if (tg_schema_validate(out_schema, structured, &v) != 0) {
            json_t *refusal = refuse(TG_EOUTPUT_SCHEMA_VIOLATION, NULL, &v, call_id);
            tg_schema_violations_free(&v);
            return refusal;
        }
        tg_schema_violations_free(&v);
    }
    return json_incref(doc);
}

json_t *tg_call_result(const tg_registry_snapshot *tool, const tg_run_outcome *run,
                       const char *call_id)
{
    if (run->timed_out) return tg_tool_error_result(TG_ETIMEOUT, NULL, NULL, call_id);
    if (run->output_truncated)
        return tg_tool_error_result(TG_EOUTPUT_TOO_LARGE, NULL, NULL, call_id);

    json_error_t jerr;
    json_t *doc = run->stdout_len ? json_loadb(run->stdout_data, run->stdout_len,
                                               JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)
                                  : NULL;
    json_t *result;
    if (run->signal || run->exit_code != 0) {
        json_t *error = json_object_get(doc, "error");
        json_t *worker_result = NULL;
        tg_error err;
        if (json_is_object(error) && json_object_size(doc) == 1 &&
            tg_worker_error_result(error, call_id, &worker_result, &err) == 0)
            result = worker_result;
        else
            result = worker_failed(run, "the worker failed without a structured error", call_id);
    } else if (!doc) {
        result = worker_failed(run, "the worker wrote no JSON result on stdout", call_id);
    } else if (strcmp(output_mode(tool), "content") == 0) {
        result = content_result(tool, doc, call_id);
    } else {
        result = structured_result(tool, doc, call_id);
    }
    json_decref(doc);
    return result;
}
