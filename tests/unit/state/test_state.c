/* Sync state: the store (put, get, delete, list; tenant and worker scopes;
 * every limit at its edge; conditions; persistence across a reopen; writers
 * racing for the last key) and the request handler a sandbox's requests for
 * http://toolgate.internal reach (statuses, bodies, headers, the capability,
 * state.write records without values, and no change while the audit log
 * cannot take its record). Every case runs on sqlite, then on PostgreSQL
 * (when TOOLGATE_TEST_POSTGRES gives a cluster), where two handles on one
 * database also stand for replicas racing for a limit and an If-Match. */
#include "gateway/state/state.h"

#include "audit/audit.h"
#include "check.h"
#include "pgtest.h"
#include "vm-pool/frame.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char dir[] = "/tmp/test_state.XXXXXX";
static tg_audit *audit;

/* Which backend the cases run on now. */
static bool on_postgres;

/* Where the store called name lives (pgtest_where). */
static const char *where(const char *name)
{
    return pgtest_where(on_postgres, dir, "test_state", name);
}

static tg_state *open_store(const char *name, const tg_state_config *cfg)
{
    const char *at = where(name);
    tg_state *s = NULL;
    tg_error err = {0};
    int rc = at ? tg_state_open(at, cfg, &s, &err) : -1;
    CHECK_INT_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.message);
    return s;
}

static int put(tg_state *s, const char *tenant, const char *worker, const char *key,
               const char *value, size_t len)
{
    tg_state_write w = {.tenant = tenant, .worker = worker, .key = key, .value = value, .len = len};
    tg_error err;
    return tg_state_put(s, &w, NULL, &err);
}

static int put_str(tg_state *s, const char *tenant, const char *worker, const char *key,
                   const char *value)
{
    return put(s, tenant, worker, key, value, strlen(value));
}

static int del(tg_state *s, const char *tenant, const char *worker, const char *key)
{
    tg_state_write w = {.tenant = tenant, .worker = worker, .key = key};
    tg_error err;
    return tg_state_delete(s, &w, NULL, &err);
}

/* The value of key as a string, or "(none: CODE)". Returns: static buffer. */
static const char *get_str(tg_state *s, const char *tenant, const char *worker, const char *key)
{
    static char buf[256];
    tg_state_value v;
    tg_error err;
    int rc = tg_state_get(s, tenant, worker, key, &v, &err);
    if (rc)
        snprintf(buf, sizeof buf, "(none: %s)", tg_err_name(rc));
    else
        snprintf(buf, sizeof buf, "%s", (const char *)v.data);
    tg_state_value_clear(&v);
    return buf;
}

static void test_basic(void)
{
    tg_state *s = open_store("basic.db", NULL);
    CHECK_STR_EQ(get_str(s, "t", "w", "cursor"), "(none: NOT_FOUND)");
    tg_state_change ch;
    tg_error err;
    tg_state_write w = {.tenant = "t",
                        .worker = "w",
                        .key = "cursor",
                        .value = "2024-01-01",
                        .len = 10,
                        .content_type = "text/plain"};
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    CHECK(ch.created);
    CHECK_INT_EQ(ch.bytes, 10);
    CHECK_INT_EQ(strlen(ch.etag), TG_STATE_ETAG_HEX);
    tg_state_value v;
    CHECK_INT_EQ(tg_state_get(s, "t", "w", "cursor", &v, &err), 0);
    CHECK_INT_EQ(v.len, 10);
    CHECK_STR_EQ((const char *)v.data, "2024-01-01");
    CHECK_STR_EQ(v.content_type, "text/plain");
    CHECK_STR_EQ(v.etag, ch.etag);
    CHECK(v.updated_ms > 1700000000000);
    tg_state_value_clear(&v);

    /* Replaced: not created, a new ETag; equal bytes, equal ETags. */
    char first[TG_STATE_ETAG_HEX + 1];
    memcpy(first, ch.etag, sizeof first);
    w.value = "2024-02-01";
    w.content_type = NULL;
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    CHECK(!ch.created);
    CHECK(strcmp(ch.etag, first) != 0);
    CHECK_INT_EQ(tg_state_get(s, "t", "w", "cursor", &v, &err), 0);
    CHECK(v.content_type == NULL);
    tg_state_value_clear(&v);
    w.value = "2024-01-01";
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    CHECK_STR_EQ(ch.etag, first);

    /* Binary values, NULs included, and the empty value. */
    CHECK_INT_EQ(put(s, "t", "w", "bin", "a\0b\xff", 4), 0);
    CHECK_INT_EQ(tg_state_get(s, "t", "w", "bin", &v, &err), 0);
    CHECK_INT_EQ(v.len, 4);
    CHECK(memcmp(v.data, "a\0b\xff", 4) == 0);
    tg_state_value_clear(&v);
    CHECK_INT_EQ(put(s, "t", "w", "empty", "", 0), 0);
    CHECK_STR_EQ(get_str(s, "t", "w", "empty"), "");

    json_t *list = NULL;
    CHECK_INT_EQ(tg_state_list(s, "t", "w", &list, &err), 0);
    char *text = json_dumps(json_object_get(list, "keys"), JSON_COMPACT);
    CHECK_STR_EQ(text, "[\"bin\",\"cursor\",\"empty\"]");
    free(text);
    CHECK_INT_EQ(json_integer_value(json_object_get(list, "count")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(list, "bytes")), 3 + 4 + 6 + 10 + 5 + 0);
    CHECK(json_is_false(json_object_get(list, "truncated")));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(list, "limits"), "max_keys")),
                 1000);
    json_decref(list);

    CHECK_INT_EQ(tg_state_delete(s, &(tg_state_write){.tenant = "t", .worker = "w", .key = "bin"},
                                 &ch, &err),
                 0);
    CHECK_INT_EQ(ch.bytes, 4);
    CHECK_INT_EQ(del(s, "t", "w", "bin"), TG_ENOT_FOUND);
    CHECK_STR_EQ(get_str(s, "t", "w", "bin"), "(none: NOT_FOUND)");

    /* Keys: the URL segment alphabet, 1 to 256 bytes. */
    char key[300];
    memset(key, 'k', sizeof key);
    key[256] = '\0';
    CHECK_INT_EQ(put_str(s, "t", "w", key, "x"), 0);
    CHECK_STR_EQ(get_str(s, "t", "w", key), "x");
    key[256] = 'k';
    key[257] = '\0';
    CHECK_INT_EQ(put_str(s, "t", "w", key, "x"), TG_EBAD_REQUEST);
    CHECK_STR_EQ(get_str(s, "t", "w", key), "(none: BAD_REQUEST)");
    CHECK_INT_EQ(put_str(s, "t", "w", "A-z_0.9~", "x"), 0);
    const char *bad[] = {"", "a/b", "a b", "a%2F", "caf\xc3\xa9", "a?b", "a\nb", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!tg_state_valid_key(bad[i], strlen(bad[i])));
    CHECK(tg_state_valid_key("..", 2)); /* a segment, never a path: harmless */
    CHECK(!tg_state_valid_key("a", 0));
    CHECK_INT_EQ(put_str(s, "t", "w", "a/b", "x"), TG_EBAD_REQUEST);
    CHECK_INT_EQ(del(s, "t", "w", ""), TG_EBAD_REQUEST);
    CHECK_INT_EQ(tg_state_put(s,
                              &(tg_state_write){.tenant = "t",
                                                .worker = "w",
                                                .key = "ct",
                                                .value = "x",
                                                .len = 1,
                                                .content_type = "text/plain\x01"},
                              NULL, &err),
                 TG_EBAD_REQUEST);
    tg_state_close(s);
}

static void test_scopes(void)
{
    tg_state *s = open_store("scopes.db", NULL);
    CHECK_INT_EQ(put_str(s, "acme", "sync", "cursor", "acme-sync"), 0);
    CHECK_INT_EQ(put_str(s, "acme", "other", "cursor", "acme-other"), 0);
    CHECK_INT_EQ(put_str(s, "globex", "sync", "cursor", "globex-sync"), 0);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "acme-sync");
    CHECK_STR_EQ(get_str(s, "acme", "other", "cursor"), "acme-other");
    CHECK_STR_EQ(get_str(s, "globex", "sync", "cursor"), "globex-sync");
    CHECK_STR_EQ(get_str(s, "initech", "sync", "cursor"), "(none: NOT_FOUND)");
    CHECK_INT_EQ(del(s, "globex", "sync", "cursor"), 0);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "acme-sync");
    json_t *list = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_state_list(s, "globex", "sync", &list, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(list, "keys")), 0);
    json_decref(list);
    /* Deleting a worker's state takes that worker's only. */
    size_t removed = 0;
    CHECK_INT_EQ(put_str(s, "acme", "sync", "more", "x"), 0);
    CHECK_INT_EQ(tg_state_delete_worker(s, "acme", "sync", &removed, &err), 0);
    CHECK_INT_EQ(removed, 2);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "(none: NOT_FOUND)");
    CHECK_STR_EQ(get_str(s, "acme", "other", "cursor"), "acme-other");
    tg_state_close(s);
}

static void test_limits(void)
{
    /* Values at most 10 bytes; per worker 3 keys and 40 bytes of keys and values. */
    tg_state_config cfg = {.max_value_bytes = 10, .max_worker_bytes = 40, .max_keys = 3};
    tg_state *s = open_store("limits.db", &cfg);
    CHECK_INT_EQ(tg_state_limits(s).max_keys, 3);
    CHECK_INT_EQ(put_str(s, "t", "w", "a", "0123456789"), 0); /* exactly the value limit */
    CHECK_INT_EQ(put_str(s, "t", "w", "b", "0123456789x"), TG_EPAYLOAD_TOO_LARGE);
    CHECK_STR_EQ(get_str(s, "t", "w", "b"), "(none: NOT_FOUND)");
    /* 11 + 11 + 11 = 33 bytes, 3 keys: the key limit exactly. */
    CHECK_INT_EQ(put_str(s, "t", "w", "b", "0123456789"), 0);
    CHECK_INT_EQ(put_str(s, "t", "w", "c", "0123456789"), 0);
    CHECK_INT_EQ(put_str(s, "t", "w", "d", "x"), TG_ESTATE_LIMIT);
    /* Another worker and another tenant have limits of their own. */
    CHECK_INT_EQ(put_str(s, "t", "v", "d", "x"), 0);
    CHECK_INT_EQ(put_str(s, "u", "w", "d", "x"), 0);
    /* Replacing an existing key is not a new key. */
    CHECK_INT_EQ(put_str(s, "t", "w", "c", "x"), 0); /* 11 + 11 + 2 = 24 bytes */
    CHECK_INT_EQ(del(s, "t", "w", "c"), 0);          /* 22 bytes, 2 keys */
    /* Bytes: 22 + 18 = 40, exactly the limit; one more is refused. */
    CHECK_INT_EQ(put_str(s, "t", "w", "key_c", "0123456789x"), TG_EPAYLOAD_TOO_LARGE);
    CHECK_INT_EQ(put_str(s, "t", "w", "keys_ccc", "0123456789"), 0); /* 8 + 10 = 18: 40 */
    CHECK_INT_EQ(del(s, "t", "w", "keys_ccc"), 0);
    CHECK_INT_EQ(put_str(s, "t", "w", "keys_cccc", "0123456789"), TG_ESTATE_LIMIT); /* 41 */
    CHECK_STR_EQ(get_str(s, "t", "w", "keys_cccc"), "(none: NOT_FOUND)");
    tg_state_close(s);

    /* Limits lowered since: growth is refused, shrinking and equal writes pass. */
    tg_state_config lower = {.max_value_bytes = 10, .max_worker_bytes = 15, .max_keys = 1};
    s = open_store("limits.db", &lower);
    CHECK_INT_EQ(put_str(s, "t", "w", "a", "0123456789"), 0); /* as large as before */
    CHECK_INT_EQ(put_str(s, "t", "w", "a", "01234567890"), TG_EPAYLOAD_TOO_LARGE);
    CHECK_INT_EQ(put_str(s, "t", "w", "b", "0"), 0);   /* 11 + 2 = 13 */
    CHECK_INT_EQ(put_str(s, "t", "w", "b", "012"), 0); /* 15: the limit exactly */
    CHECK_INT_EQ(put_str(s, "t", "w", "b", "0123"), TG_ESTATE_LIMIT);
    CHECK_INT_EQ(put_str(s, "t", "w", "z", "0"), TG_ESTATE_LIMIT); /* a third key */
    tg_state_close(s);
}

static void test_conditions(void)
{
    tg_state *s = open_store("cond.db", NULL);
    tg_state_change ch;
    tg_error err;
    tg_state_write w = {.tenant = "t", .worker = "w", .key = "k", .value = "v1", .len = 2};
    /* If-None-Match: * creates only. */
    w.if_none_match = "*";
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), TG_EPRECONDITION_FAILED);
    char tag[TG_STATE_ETAG_HEX + 3], list[2 * TG_STATE_ETAG_HEX + 32];
    snprintf(tag, sizeof tag, "\"%s\"", ch.etag);
    w.if_none_match = NULL;
    /* If-Match: the current ETag (alone or in a list), or * when there is a value. */
    w.value = "v2";
    w.if_match = "\"00000000000000000000000000000000\"";
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EPRECONDITION_FAILED);
    CHECK_STR_EQ(get_str(s, "t", "w", "k"), "v1");
    w.if_match = tag;
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EPRECONDITION_FAILED); /* stale now */
    snprintf(list, sizeof list, " \"0000\" ,W/\"%s\", \"%s\" ", ch.etag, ch.etag);
    w.if_match = list;
    w.value = "v3";
    CHECK_INT_EQ(tg_state_put(s, &w, &ch, &err), 0);
    snprintf(list, sizeof list, "W/\"%s\"", ch.etag);
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EPRECONDITION_FAILED); /* weak only */
    w.if_match = "*";
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), 0);
    w.key = "missing";
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EPRECONDITION_FAILED);
    /* If-None-Match with the current tag: only when the value changed. */
    w.key = "k";
    w.if_match = NULL;
    snprintf(tag, sizeof tag, "\"%s\"", ch.etag);
    w.if_none_match = tag;
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EPRECONDITION_FAILED);
    /* Delete obeys If-Match too. */
    tg_state_write d = {.tenant = "t", .worker = "w", .key = "k", .if_match = "\"nope\""};
    CHECK_INT_EQ(tg_state_delete(s, &d, NULL, &err), TG_EPRECONDITION_FAILED);
    d.if_match = tag;
    CHECK_INT_EQ(tg_state_delete(s, &d, NULL, &err), 0);
    tg_state_close(s);
}

static int confirm_refuses(void *userdata, const tg_state_change *change)
{
    (void)change;
    ++*(int *)userdata;
    return TG_EAUDIT_UNAVAILABLE;
}

static void test_confirm_and_reopen(void)
{
    tg_state *s = open_store("persist.db", NULL);
    CHECK_INT_EQ(put_str(s, "t", "w", "cursor", "c1"), 0);
    int calls = 0;
    tg_error err;
    tg_state_write w = {.tenant = "t",
                        .worker = "w",
                        .key = "cursor",
                        .value = "c2",
                        .len = 2,
                        .confirm = confirm_refuses,
                        .userdata = &calls};
    CHECK_INT_EQ(tg_state_put(s, &w, NULL, &err), TG_EAUDIT_UNAVAILABLE);
    CHECK_INT_EQ(calls, 1);
    CHECK_STR_EQ(get_str(s, "t", "w", "cursor"), "c1"); /* rolled back */
    CHECK_INT_EQ(tg_state_delete(s, &w, NULL, &err), TG_EAUDIT_UNAVAILABLE);
    CHECK_STR_EQ(get_str(s, "t", "w", "cursor"), "c1");
    w.key = "missing";
    CHECK_INT_EQ(tg_state_delete(s, &w, NULL, &err), TG_ENOT_FOUND);
    CHECK_INT_EQ(calls, 2); /* no change, nothing to confirm */
    CHECK_INT_EQ(put_str(s, "t", "w", "cursor", "c3"), 0);
    tg_state_close(s);
    s = open_store("persist.db", NULL);
    CHECK_STR_EQ(get_str(s, "t", "w", "cursor"), "c3");
    tg_state_close(s);
}

/* ---- writers racing for the last keys --------------------------------- */

typedef struct racer {
    tg_state *s;
    int id, ok, limited;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "r%d_%d", r->id, i);
        int rc = put_str(r->s, "t", "w", key, "x");
        if (rc == 0) r->ok++;
        if (rc == TG_ESTATE_LIMIT) r->limited++;
    }
    return NULL;
}

/* Four writers racing for 25 keys, through one handle or (other) through
 * two, as replicas would. */
static void race_on(tg_state *s, tg_state *other)
{
    racer r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){.s = i % 2 ? other : s, .id = i};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    int ok = 0, limited = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].ok;
        limited += r[i].limited;
    }
    CHECK_INT_EQ(ok, 25);
    CHECK_INT_EQ(limited, 80 - 25);
}

static void test_race(void)
{
    tg_state_config cfg = {.max_keys = 25};
    tg_state *s = open_store("race.db", &cfg);
    race_on(s, s);
    tg_state_close(s);
}

/* Holds the write open a while, as a slow audit fsync would: a writer that
 * read the row before this one commits must wait rather than go ahead. */
static int confirm_slowly(void *userdata, const tg_state_change *change)
{
    (void)userdata;
    (void)change;
    usleep(20000);
    return 0;
}

typedef struct cas {
    tg_state *s;
    const char *if_match;
    const char *value;
    pthread_barrier_t *go;
    int rc;
} cas;

static void *cas_one(void *arg)
{
    cas *c = arg;
    tg_state_write w = {.tenant = "t",
                        .worker = "w",
                        .key = "cursor",
                        .value = c->value,
                        .len = strlen(c->value),
                        .if_match = c->if_match,
                        .confirm = confirm_slowly};
    tg_error err;
    pthread_barrier_wait(c->go);
    c->rc = tg_state_put(c->s, &w, NULL, &err);
    return NULL;
}

/* Two replicas (two handles on one database): writers of both share one
 * worker's key limit, and of two compare-and-sets from the same ETag, each
 * round exactly one wins. */
static void test_replicas(void)
{
    tg_state_config cfg = {.max_keys = 25};
    tg_state *a = open_store("replicas.db", &cfg), *b = open_store("replicas.db", &cfg);
    if (!a || !b) {
        tg_state_close(a);
        tg_state_close(b);
        return;
    }
    race_on(a, b);
    /* Room for the cursor. Which racers won is up to the scheduler, but a
     * racer that won anything won its first key: once full, the store stays
     * full. */
    int freed = -1;
    for (int i = 0; i < 4 && freed != 0; i++) {
        char first[16];
        snprintf(first, sizeof first, "r%d_0", i);
        freed = del(a, "t", "w", first);
    }
    CHECK_INT_EQ(freed, 0);
    CHECK_INT_EQ(put_str(a, "t", "w", "cursor", "v0"), 0);
    enum { ROUNDS = 10 };
    int won_once = 0;
    for (int i = 0; i < ROUNDS; i++) {
        tg_state_value v;
        tg_error err;
        CHECK_INT_EQ(tg_state_get(b, "t", "w", "cursor", &v, &err), 0);
        char tag[TG_STATE_ETAG_HEX + 3];
        snprintf(tag, sizeof tag, "\"%s\"", v.etag);
        tg_state_value_clear(&v);
        char va[16], vb[16];
        snprintf(va, sizeof va, "a%d", i);
        snprintf(vb, sizeof vb, "b%d", i);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        cas ca = {.s = a, .if_match = tag, .value = va, .go = &go};
        cas cb = {.s = b, .if_match = tag, .value = vb, .go = &go};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, cas_one, &ca);
        pthread_create(&tb, NULL, cas_one, &cb);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&go);
        int won = (ca.rc == 0) + (cb.rc == 0);
        int lost = (ca.rc == TG_EPRECONDITION_FAILED) + (cb.rc == TG_EPRECONDITION_FAILED);
        CHECK_INT_EQ(lost, 1);
        won_once += won == 1;
        /* What both now read is the winner's value. */
        const char *now = get_str(a, "t", "w", "cursor");
        CHECK_STR_EQ(now, ca.rc == 0 ? va : vb);
        CHECK_STR_EQ(get_str(b, "t", "w", "cursor"), ca.rc == 0 ? va : vb);
    }
    CHECK_INT_EQ(won_once, ROUNDS);
    tg_state_close(a);
    tg_state_close(b);
}

/* ---- the request handler ---------------------------------------------- */

typedef struct answer {
    int status;
    json_t *headers;
    unsigned char *body;
    size_t len;
    json_t *doc; /* the body as JSON, when it is */
} answer;

static void answer_free(answer *a)
{
    json_decref(a->headers);
    json_decref(a->doc);
    free(a->body);
}

static const char *answer_header(const answer *a, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(a->headers, i, h)
    {
        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
            return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

static const char *error_code(const answer *a)
{
    return json_string_value(json_object_get(json_object_get(a->doc, "error"), "code"));
}

/* Sends method url (with body and header pairs name, value..., NULL) through
 * the handler; the answer must be a frame the pool would accept. */
static answer ask(const tg_state_call *c, const char *method, const char *url, const char *body,
                  size_t len, ...)
{
    json_t *headers = json_array();
    va_list ap;
    va_start(ap, len);
    for (const char *n; (n = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        json_array_append_new(headers, json_pack("[s,s]", n, v));
    }
    va_end(ap);
    json_t *req = json_pack("{s:s, s:i, s:s, s:s, s:o, s:o}", "type", "egress", "id", 1, "method",
                            method, "url", url, "headers", headers, "body",
                            tg_frame_b64(body ? body : "", body ? len : 0));
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_check(req, &type), 0);
    json_t *res = tg_state_handle(c, req, tg_frame_now_ns() + 5000000000LL);
    json_decref(req);
    answer a = {0};
    CHECK(res != NULL);
    if (!res) return a;
    json_t *frame =
        json_pack("{s:s, s:i, s:O, s:O, s:O}", "type", "egress_response", "id", 1, "status",
                  json_object_get(res, "status"), "headers", json_object_get(res, "headers"),
                  "body", json_object_get(res, "body"));
    CHECK_INT_EQ(tg_frame_check(frame, &type), 0);
    json_decref(frame);
    a.status = (int)json_integer_value(json_object_get(res, "status"));
    a.headers = json_incref(json_object_get(res, "headers"));
    CHECK_INT_EQ(tg_frame_unb64(json_object_get(res, "body"), &a.body, &a.len), 0);
    a.doc = json_loadb((const char *)a.body, a.len, 0, NULL);
    json_decref(res);
    return a;
}

#define URL "http://toolgate.internal/v1/state"

#define EXPECT(call, method, url, body, len, want_status, want_code, ...)                          \
    do {                                                                                           \
        answer a_ = ask(call, method, url, body, len, __VA_ARGS__);                                \
        CHECK_INT_EQ(a_.status, want_status);                                                      \
        if (want_code) CHECK_STR_EQ(error_code(&a_), (const char *)(want_code));                   \
        answer_free(&a_);                                                                          \
    } while (0)

/* The state.write records of call_id, oldest first. Returns: new reference. */
static json_t *records(tg_audit *log, const char *call_id)
{
    tg_audit_filter f = {
        .tenant = "acme", .kind = "state.write", .call_id = call_id, .oldest_first = true};
    json_t *page = NULL;
    char *next = NULL;
    tg_error err;
    if (tg_audit_query(log, &f, 1000, NULL, &page, &next, &err) != 0) {
        fprintf(stderr, "query: %s\n", err.message);
        return json_array();
    }
    free(next);
    return page;
}

static const char *rec_str(const json_t *rec, const char *field)
{
    const char *v = json_string_value(json_object_get(rec, field));
    return v ? v : json_string_value(json_object_get(json_object_get(rec, "body"), field));
}

static void test_handler(void)
{
    tg_state_config cfg = {.max_value_bytes = 100, .max_worker_bytes = 1000, .max_keys = 5};
    tg_state *s = open_store("handler.db", &cfg);
    tg_state_call c = {.state = s,
                       .audit = audit,
                       .tenant = "acme",
                       .worker = "sync",
                       .principal = "acme/alice",
                       .trigger_kind = "schedule",
                       .call_id = "call-1",
                       .trace_id = "0123456789abcdef0123456789abcdef",
                       .capable = true};

    CHECK(tg_state_is_internal(URL "/cursor"));
    CHECK(tg_state_is_internal("http://toolgate.internal"));
    CHECK(tg_state_is_internal("http://TOOLGATE.internal:8080/x"));
    CHECK(tg_state_is_internal("http://toolgate.internal./v1/state/a"));
    CHECK(tg_state_is_internal("http://toolgate.internal?x"));
    CHECK(!tg_state_is_internal("http://toolgate.internal.example.com/v1/state/a"));
    CHECK(!tg_state_is_internal("http://toolgate.internalx/"));
    CHECK(!tg_state_is_internal("http://xtoolgate.internal/"));
    CHECK(!tg_state_is_internal("https://toolgate.internal/v1/state/a"));
    CHECK(!tg_state_is_internal("http://api.example.com/v1/state"));
    CHECK(!tg_state_is_internal(NULL));

    EXPECT(&c, "GET", URL "/cursor", NULL, 0, 404, "NOT_FOUND", NULL);
    answer a = ask(&c, "PUT", URL "/cursor", "2024-05-01T00:00:00Z", 20, "Content-Type",
                   "text/plain", NULL);
    CHECK_INT_EQ(a.status, 201);
    CHECK_INT_EQ(a.len, 0);
    char etag[64];
    snprintf(etag, sizeof etag, "%s", answer_header(&a, "ETag") ? answer_header(&a, "ETag") : "");
    CHECK_INT_EQ(strlen(etag), TG_STATE_ETAG_HEX + 2);
    answer_free(&a);
    a = ask(&c, "GET", URL "/cursor", NULL, 0, NULL);
    CHECK_INT_EQ(a.status, 200);
    CHECK_INT_EQ(a.len, 20);
    CHECK(a.len == 20 && memcmp(a.body, "2024-05-01T00:00:00Z", 20) == 0);
    CHECK_STR_EQ(answer_header(&a, "Content-Type"), "text/plain");
    CHECK_STR_EQ(answer_header(&a, "ETag"), etag);
    answer_free(&a);
    a = ask(&c, "HEAD", URL "/cursor", NULL, 0, NULL);
    CHECK_INT_EQ(a.status, 200);
    answer_free(&a);
    /* Replaced: 204; the stored value is raw bytes whatever they are. */
    a = ask(&c, "PUT", URL "/cursor", "\x00\x01\xfe\xff", 4, "If-Match", etag, NULL);
    CHECK_INT_EQ(a.status, 204);
    CHECK(answer_header(&a, "ETag") && strcmp(answer_header(&a, "ETag"), etag) != 0);
    answer_free(&a);
    a = ask(&c, "GET", URL "/cursor", NULL, 0, NULL);
    CHECK(a.len == 4 && memcmp(a.body, "\x00\x01\xfe\xff", 4) == 0);
    CHECK_STR_EQ(answer_header(&a, "Content-Type"), "application/octet-stream");
    answer_free(&a);
    EXPECT(&c, "PUT", URL "/cursor", "late", 4, 412, "PRECONDITION_FAILED", "If-Match", etag, NULL);
    EXPECT(&c, "PUT", URL "/cursor", "new", 3, 412, "PRECONDITION_FAILED", "If-None-Match", "*",
           NULL);
    EXPECT(&c, "PUT", URL "/other", "one", 3, 201, NULL, "If-None-Match", "*", NULL);

    /* The list. */
    a = ask(&c, "GET", URL, NULL, 0, NULL);
    CHECK_INT_EQ(a.status, 200);
    CHECK_STR_EQ(answer_header(&a, "Content-Type"), "application/json");
    char *keys = json_dumps(json_object_get(a.doc, "keys"), JSON_COMPACT);
    CHECK_STR_EQ(keys, "[\"cursor\",\"other\"]");
    free(keys);
    CHECK_INT_EQ(json_integer_value(json_object_get(a.doc, "bytes")), 6 + 4 + 5 + 3);
    answer_free(&a);
    a = ask(&c, "GET", URL "/", NULL, 0, NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(a.doc, "keys")), 2);
    answer_free(&a);

    /* Refusals. */
    a = ask(&c, "POST", URL "/cursor", "x", 1, NULL);
    CHECK_INT_EQ(a.status, 405);
    CHECK_STR_EQ(error_code(&a), "METHOD_NOT_ALLOWED");
    CHECK_STR_EQ(answer_header(&a, "Allow"), "GET, HEAD, PUT, DELETE");
    answer_free(&a);
    a = ask(&c, "DELETE", URL, NULL, 0, NULL);
    CHECK_INT_EQ(a.status, 405);
    CHECK_STR_EQ(answer_header(&a, "Allow"), "GET, HEAD");
    answer_free(&a);
    EXPECT(&c, "PUT", URL "/a%2Fb", "x", 1, 400, "BAD_REQUEST", NULL);
    EXPECT(&c, "GET", URL "/a/b", NULL, 0, 400, "BAD_REQUEST", NULL);
    EXPECT(&c, "GET", URL "/cursor?x=1", NULL, 0, 400, "BAD_REQUEST", NULL);
    EXPECT(&c, "GET", URL "?x=1", NULL, 0, 400, "BAD_REQUEST", NULL);
    EXPECT(&c, "GET", "http://toolgate.internal/v1/statex", NULL, 0, 404, "NOT_FOUND", NULL);
    EXPECT(&c, "GET", "http://toolgate.internal/", NULL, 0, 404, "NOT_FOUND", NULL);
    EXPECT(&c, "GET", "http://toolgate.internal:8080/v1/state/cursor", NULL, 0, 404, "NOT_FOUND",
           NULL);
    char big[101];
    memset(big, 'b', sizeof big);
    EXPECT(&c, "PUT", URL "/big", big, 100, 201, NULL, NULL); /* exactly the limit */
    EXPECT(&c, "PUT", URL "/big2", big, 101, 413, "PAYLOAD_TOO_LARGE", NULL);
    EXPECT(&c, "PUT", URL "/k4", "x", 1, 201, NULL, NULL);
    EXPECT(&c, "PUT", URL "/k5", "x", 1, 201, NULL, NULL);
    EXPECT(&c, "PUT", URL "/k6", "x", 1, 413, "STATE_LIMIT", NULL);
    EXPECT(&c, "DELETE", URL "/k5", NULL, 0, 204, NULL, NULL);
    EXPECT(&c, "DELETE", URL "/k5", NULL, 0, 404, "NOT_FOUND", NULL);
    EXPECT(&c, "GET", URL "/k5", NULL, 0, 404, "NOT_FOUND", NULL);

    /* Another worker of the tenant, and another tenant's worker of the same name. */
    tg_state_call other = c;
    other.worker = "other";
    other.call_id = "call-2";
    EXPECT(&other, "GET", URL "/cursor", NULL, 0, 404, "NOT_FOUND", NULL);
    other.worker = "sync";
    other.tenant = "globex";
    EXPECT(&other, "GET", URL "/cursor", NULL, 0, 404, "NOT_FOUND", NULL);
    a = ask(&other, "GET", URL, NULL, 0, NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(a.doc, "keys")), 0);
    answer_free(&a);

    /* Without the capability: 403 for reads and writes, writes on the record. */
    tg_state_call denied = c;
    denied.capable = false;
    denied.call_id = "call-3";
    a = ask(&denied, "GET", URL "/cursor", NULL, 0, NULL);
    CHECK_INT_EQ(a.status, 403);
    CHECK_STR_EQ(error_code(&a), "CAPABILITY_DENIED");
    CHECK(strstr((const char *)a.body, "\\\"capabilities\\\": [\\\"state\\\"]") != NULL);
    answer_free(&a);
    EXPECT(&denied, "PUT", URL "/cursor", "stolen", 6, 403, "CAPABILITY_DENIED", NULL);
    EXPECT(&denied, "GET", URL, NULL, 0, 403, "CAPABILITY_DENIED", NULL);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "\x00\x01\xfe\xff");
    /* No store: 503. */
    tg_state_call nostore = c;
    nostore.state = NULL;
    nostore.call_id = "call-4";
    EXPECT(&nostore, "GET", URL "/cursor", NULL, 0, 503, "UNAVAILABLE", NULL);
    EXPECT(&nostore, "PUT", URL "/cursor", "x", 1, 503, "UNAVAILABLE", NULL);

    /* The records: one per write, done or refused; keys and sizes, never values. */
    json_t *recs = records(audit, "call-1");
    size_t i;
    json_t *rec;
    int set = 0, refused = 0, deleted = 0;
    json_array_foreach(recs, i, rec)
    {
        char *text = json_dumps(rec, JSON_COMPACT);
        CHECK(strstr(text, "2024-05-01") == NULL);
        CHECK(strstr(text, "\"bbbb") == NULL);
        free(text);
        CHECK_STR_EQ(rec_str(rec, "tool"), "sync");
        CHECK_STR_EQ(rec_str(rec, "principal"), "acme/alice");
        CHECK_STR_EQ(rec_str(rec, "trigger_kind"), "schedule");
        CHECK_STR_EQ(rec_str(rec, "trace_id"), "0123456789abcdef0123456789abcdef");
        const char *status = rec_str(rec, "status");
        set += strcmp(status, "set") == 0;
        deleted += strcmp(status, "deleted") == 0;
        refused += strcmp(status, "refused") == 0;
    }
    /* set: cursor twice, other, big, k4, k5; deleted: k5; refused: two 412s,
     * a%2Fb, big2, k6, the second delete of k5. */
    CHECK_INT_EQ(set, 6);
    CHECK_INT_EQ(deleted, 1);
    CHECK_INT_EQ(refused, 6);
    rec = json_array_get(recs, 0);
    CHECK_STR_EQ(rec_str(rec, "key"), "cursor");
    CHECK_STR_EQ(rec_str(rec, "method"), "PUT");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(rec, "body"), "bytes")), 20);
    CHECK(json_is_true(json_object_get(json_object_get(rec, "body"), "created")));
    rec = json_array_get(recs, 2);
    CHECK_STR_EQ(rec_str(rec, "error_code"), "PRECONDITION_FAILED");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(rec, "body"), "bytes")), 4);
    json_decref(recs);
    recs = records(audit, "call-3");
    CHECK_INT_EQ(json_array_size(recs), 1); /* the PUT; reads leave none */
    CHECK_STR_EQ(rec_str(json_array_get(recs, 0), "error_code"), "CAPABILITY_DENIED");
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(json_array_get(recs, 0), "body"), "bytes")),
                 6);
    json_decref(recs);
    recs = records(audit, "call-4");
    CHECK_INT_EQ(json_array_size(recs), 1);
    json_decref(recs);
    tg_state_close(s);
}

/* A malformed frame is a 400, not a crash. */
static void test_malformed(void)
{
    tg_state *s = open_store("malformed.db", NULL);
    tg_state_call c = {
        .state = s, .audit = audit, .tenant = "acme", .worker = "w", .capable = true};
    const char *frames[] = {
        "{}",
        "[]",
        "{\"method\": \"GET\"}",
        "{\"method\": 1, \"url\": \"http://toolgate.internal/v1/state/a\"}",
        "{\"method\": \"PUT\", \"url\": \"http://toolgate.internal/v1/state/a\", \"body\": \"*\"}",
        "{\"method\": \"PUT\", \"url\": \"http://toolgate.internal/v1/state/a\", \"body\": 7}",
        "{\"method\": \"GET\", \"url\": \"http://example.com/v1/state/a\"}",
    };
    int want[] = {400, 400, 400, 400, 400, 400, 400};
    for (size_t i = 0; i < sizeof frames / sizeof *frames; i++) {
        json_t *f = json_loads(frames[i], 0, NULL);
        json_t *res = tg_state_handle(&c, f, -1);
        CHECK_INT_EQ(json_integer_value(json_object_get(res, "status")), want[i]);
        json_decref(res);
        json_decref(f);
    }
    tg_state_close(s);
}

/* The audit log cannot take records: nothing changes, the worker hears 503. */
static void test_audit_down(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/sick-audit.db", dir);
    tg_audit *sick = NULL;
    tg_error err;
    CHECK_INT_EQ(tg_audit_open(path, &(tg_audit_options){.retry_ms = 10}, &sick, &err), 0);
    if (!sick) return;
    tg_state *s = open_store("sick.db", NULL);
    tg_state_call c = {.state = s,
                       .audit = sick,
                       .tenant = "acme",
                       .worker = "sync",
                       .call_id = "sick-1",
                       .capable = true,
                       .audit_deadline_ms = 300};
    EXPECT(&c, "PUT", URL "/cursor", "c1", 2, 201, NULL, NULL);
    CHECK_INT_EQ(unlink(path), 0);
    tg_audit_record rec = {.kind = "call.begin", .tenant = "acme", .call_id = "sick"};
    CHECK_INT_EQ(tg_audit_append(sick, &rec, tg_frame_now_ns() + 200000000, NULL, &err),
                 TG_EAUDIT_UNAVAILABLE);
    CHECK(!tg_audit_healthy(sick));
    EXPECT(&c, "PUT", URL "/cursor", "c2", 2, 503, "AUDIT_UNAVAILABLE", NULL);
    EXPECT(&c, "DELETE", URL "/cursor", NULL, 0, 503, "AUDIT_UNAVAILABLE", NULL);
    EXPECT(&c, "PUT", URL "/bad%20key", "c2", 2, 503, "AUDIT_UNAVAILABLE", NULL);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "c1");
    /* Reads need no record. */
    EXPECT(&c, "GET", URL "/cursor", NULL, 0, 200, NULL, NULL);
    /* No audit log at all: no write either. */
    c.audit = NULL;
    EXPECT(&c, "PUT", URL "/cursor", "c2", 2, 503, "AUDIT_UNAVAILABLE", NULL);
    CHECK_STR_EQ(get_str(s, "acme", "sync", "cursor"), "c1");
    tg_state_close(s);
    tg_audit_close(sick);
}

static int open_audit(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_error err;
    if (tg_audit_open(path, NULL, &audit, &err) != 0) {
        fprintf(stderr, "audit: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void run_cases(void)
{
    test_basic();
    test_scopes();
    test_limits();
    test_conditions();
    test_confirm_and_reopen();
    test_race();
    test_handler();
    test_malformed();
    test_audit_down();
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (open_audit("audit.db") != 0) return 1;
    run_cases();
    tg_audit_close(audit);
    /* A fresh audit log, so that the handler's records start from none. */
    on_postgres = true;
    if (where("basic.db") && open_audit("audit-pg.db") == 0) {
        printf("PostgreSQL:\n");
        run_cases();
        test_replicas();
        tg_audit_close(audit);
    }
    pgtest_forget();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
