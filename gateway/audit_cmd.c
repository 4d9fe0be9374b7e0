/* toolgate audit verify|query|export: the operator's view of a gateway's
 * audit log, read straight from its file (a read-only snapshot, safe while
 * the gateway writes). Unlike /v1/audit it sees every tenant unless told
 * --tenant. */
#include "gateway/commands.h"

#include "audit/audit.h"
#include "gateway/core/alloc.h"
#include "gateway/core/clock.h"
#include "gateway/core/text.h"
#include "gateway/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: toolgate audit verify [--json] [LOG]\n"
    "       toolgate audit query [FILTERS] [--limit N] [--cursor C] [--json] [LOG]\n"
    "       toolgate audit export --since TIME [--until TIME] [FILTERS] [--format jsonl] [LOG]\n"
    "  verify              check the hash chain: exits 0 intact, 1 when a record was edited,\n"
    "                      removed or reordered (the first one is named), 2 unreadable\n"
    "  query               one page of matching records, newest first, as a table\n"
    "  export              every matching record, oldest first, one JSON object a line;\n"
    "                      on a terminal a progress line counts them on stderr\n"
    "LOG:\n"
    "  --data-dir DIR      the gateway's data dir; its audit.db (default ./toolgate-data)\n"
    "  --file PATH|URL     an audit log file, or the PostgreSQL store of replicas\n"
    "                      (postgres://...)\n"
    "FILTERS:\n"
    "  --tenant T          one tenant's records (default every tenant)\n"
    "  --since TIME        records at or after TIME\n"
    "  --until TIME        records before TIME\n"
    "  --tool NAME         one tool's records\n"
    "  --principal P       one caller's records\n"
    "  --status S          calls that ended ok, error or refused\n"
    "  --error-code CODE   calls that failed with CODE\n"
    "  --trigger T         calls by agent, button, schedule or cli\n"
    "  --call-id ID        one call's records\n"
    "  --kind K            one kind: call.begin, call.end, egress, deploy, secret.write, ...\n"
    "OUTPUT:\n"
    "  --limit N           query: at most N records, 1 to 1000\n"
    "  --cursor C          query: the page after the one that printed \"more: --cursor C\"\n"
    "  --json              verify, query: print JSON\n"
    "  --format jsonl      export: the format (jsonl, the only one)\n"
    "TIME: milliseconds since the epoch, RFC 3339 (2026-11-23T06:00:00Z, 2026-11-23)\n"
    "      or an age (90s, 15m, 24h, 7d)\n";

typedef struct audit_args {
    const char *data_dir, *file;
    tg_audit_filter filter;
    const char *since, *until, *cursor, *format;
    long limit;
    bool json;
} audit_args;

static bool parse_args(int argc, char **argv, audit_args *a)
{
    tg_audit_filter *f = &a->filter;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end;
            a->limit = strtol(argv[++i], &end, 10);
            if (*end || a->limit < 1 || a->limit > 1000) return false;
            continue;
        }
        const char **slot = strcmp(argv[i], "--data-dir") == 0     ? &a->data_dir
                            : strcmp(argv[i], "--file") == 0       ? &a->file
                            : strcmp(argv[i], "--tenant") == 0     ? &f->tenant
                            : strcmp(argv[i], "--since") == 0      ? &a->since
                            : strcmp(argv[i], "--until") == 0      ? &a->until
                            : strcmp(argv[i], "--tool") == 0       ? &f->tool
                            : strcmp(argv[i], "--principal") == 0  ? &f->principal
                            : strcmp(argv[i], "--status") == 0     ? &f->status
                            : strcmp(argv[i], "--error-code") == 0 ? &f->error_code
                            : strcmp(argv[i], "--trigger") == 0    ? &f->trigger_kind
                            : strcmp(argv[i], "--call-id") == 0    ? &f->call_id
                            : strcmp(argv[i], "--kind") == 0       ? &f->kind
                            : strcmp(argv[i], "--cursor") == 0     ? &a->cursor
                            : strcmp(argv[i], "--format") == 0     ? &a->format
                                                                   : NULL;
        if (!slot || i + 1 >= argc) return false;
        *slot = argv[++i];
    }
    int64_t now = tg_now_ms();
    if (a->since && !tg_parse_time_ms(a->since, now, &f->since_ms)) return false;
    if (a->until && !tg_parse_time_ms(a->until, now, &f->until_ms)) return false;
    return true;
}

static char *log_path(const audit_args *a)
{
    if (a->file) return tg_xstrdup(a->file);
    return tg_xasprintf("%s/audit.db", a->data_dir ? a->data_dir : "./toolgate-data");
}

static const char *const problem_names[] = {"intact", "edited", "removed", "reordered"};

static int verify(const char *path, bool json)
{
    tg_audit_report r = {0};
    tg_error err;
    if (tg_audit_verify_file(path, &r, &err) != 0) {
        fprintf(stderr, "toolgate: %s\n", err.message);
        return 2;
    }
    if (json) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:I, s:O}", "result", problem_names[r.problem],
                                "records", (json_int_t)r.records, "first_seq",
                                (json_int_t)r.first_seq, "last_seq", (json_int_t)r.last_seq,
                                "open_calls", r.open_calls ? r.open_calls : json_array());
        if (r.problem) {
            json_object_set_new(doc, "bad_seq", json_integer((json_int_t)r.bad_seq));
            json_object_set_new(doc, "message", json_string(r.message));
        }
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(doc);
    } else {
        if (r.problem)
            printf("audit log %s: NOT intact: record %llu was %s: %s\n", path,
                   (unsigned long long)r.bad_seq, problem_names[r.problem], r.message);
        else
            printf("audit log %s: intact: %llu records (seq %llu to %llu)\n", path,
                   (unsigned long long)r.records, (unsigned long long)r.first_seq,
                   (unsigned long long)r.last_seq);
        size_t open = json_array_size(r.open_calls);
        if (open) {
            printf("%zu calls began and never ended (cut off):\n", open);
            size_t i;
            json_t *id;
            json_array_foreach(r.open_calls, i, id) printf("  %s\n", json_string_value(id));
        }
    }
    int rc = r.problem ? 1 : 0;
    tg_audit_report_clear(&r);
    return rc;
}

static const char *str(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "-";
}

static void print_table_row(const json_t *rec)
{
    json_int_t ms = json_integer_value(json_object_get(rec, "time_ms"));
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char when[32];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%-8lld %s.%03dZ  %-12s %-10s %-24s %-16s %-8s %-20s %s\n",
           (long long)json_integer_value(json_object_get(rec, "seq")), when, (int)(ms % 1000),
           str(rec, "kind"), str(rec, "tenant"), str(rec, "principal"), str(rec, "tool"),
           str(rec, "status"), str(rec, "error_code"), str(rec, "call_id"));
}

static int query(const char *path, const audit_args *a)
{
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_audit_query_file(path, &a->filter, (size_t)a->limit, a->cursor, &page, &next, &err) !=
        0) {
        fprintf(stderr, "toolgate: %s\n", err.message);
        return 2;
    }
    if (a->json) {
        json_t *doc = json_pack("{s:o}", "records", page);
        if (next) json_object_set_new(doc, "next_cursor", json_string(next));
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(doc);
    } else {
        printf("%-8s %-24s  %-12s %-10s %-24s %-16s %-8s %-20s %s\n", "SEQ", "TIME", "KIND",
               "TENANT", "PRINCIPAL", "TOOL", "STATUS", "ERROR", "CALL");
        size_t i;
        json_t *rec;
        json_array_foreach(page, i, rec) print_table_row(rec);
        if (next) printf("more: --cursor %s\n", next);
        json_decref(page);
    }
    free(next);
    return 0;
}

/* Returns: how many records match, or -1 with *err filled. */
static long long count_matching(const char *path, const tg_audit_filter *f, tg_error *err)
{
    char *cursor = NULL;
    long long n = 0;
    do {
        json_t *page = NULL;
        char *next = NULL;
        if (tg_audit_query_file(path, f, 1000, cursor, &page, &next, err) != 0) {
            n = -1;
        } else {
            n += (long long)json_array_size(page);
            json_decref(page);
        }
        free(cursor);
        cursor = next;
    } while (n >= 0 && cursor);
    free(cursor);
    return n;
}

/* Every matching record, oldest first, one JSON object per line: what a
 * SIEM's file or HTTP collector takes. On a terminal the records are counted
 * first, so the progress line can say N of M: a second read of the log,
 * which a script (no progress line) never pays for. */
static int export_jsonl(const char *path, audit_args *a)
{
    a->filter.oldest_first = true;
    tg_progress *p = tg_progress_start("exporting");
    long long total = 0;
    if (p) {
        tg_progress_step(p, "counting records");
        tg_error err;
        total = count_matching(path, &a->filter, &err);
        if (total < 0) {
            tg_progress_end(p);
            fprintf(stderr, "toolgate: %s\n", err.message);
            return 2;
        }
        tg_progress_step(p, NULL);
        tg_progress_count(p, 0, (uint64_t)total);
    }
    char *cursor = NULL;
    uint64_t done = 0;
    int rc = 0;
    do {
        json_t *page = NULL;
        char *next = NULL;
        tg_error err;
        if (tg_audit_query_file(path, &a->filter, 1000, cursor, &page, &next, &err) != 0) {
            tg_progress_end(p);
            p = NULL;
            fprintf(stderr, "toolgate: %s\n", err.message);
            rc = 2;
        } else {
            size_t i;
            json_t *rec;
            json_array_foreach(page, i, rec)
            {
                json_dumpf(rec, stdout, JSON_COMPACT);
                putchar('\n');
            }
            done += json_array_size(page);
            tg_progress_count(p, done, (uint64_t)total);
            json_decref(page);
        }
        free(cursor);
        cursor = next;
    } while (rc == 0 && cursor);
    free(cursor);
    tg_progress_end(p);
    if (fflush(stdout) != 0) {
        perror("toolgate: export");
        rc = 2;
    }
    return rc;
}

int tg_cmd_audit(int argc, char **argv)
{
    audit_args a = {.limit = 0};
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    if (argc < 1 || !parse_args(argc - 1, argv + 1, &a)) return tg_cmd_usage_error(usage_text);
    const char *what = argv[0];
    bool is_export = strcmp(what, "export") == 0;
    if (is_export && (!a.since || (a.format && strcmp(a.format, "jsonl") != 0)))
        return tg_cmd_usage_error(usage_text);
    char *path = log_path(&a);
    int rc;
    if (strcmp(what, "verify") == 0) {
        rc = verify(path, a.json);
    } else if (strcmp(what, "query") == 0) {
        rc = query(path, &a);
    } else if (is_export) {
        rc = export_jsonl(path, &a);
    } else {
        fputs(usage_text, stderr);
        rc = 2;
    }
    free(path);
    return rc;
}
