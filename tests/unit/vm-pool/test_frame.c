/* Frames between host and sandbox: round trips, base64, and every kind of bad
 * frame the reader must refuse (neither side trusts the other). */
#include "tests/unit/check.h"
#include "vm-pool/frame.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int decode(const char *text)
{
    json_t *o = NULL;
    tg_frame_type t;
    int rc = tg_frame_decode(text, strlen(text), &o, &t);
    json_decref(o);
    return rc;
}

static void test_round_trip(void)
{
    int sv[2];
    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    json_t *run = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}], s:s, s:{s:s}, s:{s:i, s:i}}", "type",
                            "run", "runtime", "sh", "entry", "main.sh", "files", "path", "main.sh",
                            "data", "ZWNobyBoaQ==", "stdin", "{}", "env", "A", "b", "limits",
                            "timeout_ms", 1000, "max_output_bytes", 100);
    CHECK_INT_EQ(tg_frame_write(sv[0], run, -1), 0);
    json_t *got = NULL;
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_read(sv[1], TG_FRAME_MAX, -1, &got, &type), 0);
    CHECK_INT_EQ(type, TG_FRAME_RUN);
    CHECK(json_equal(run, got));
    json_decref(got);
    json_decref(run);

    /* Nothing to read before the deadline. */
    int64_t t0 = tg_frame_now_ns();
    CHECK_INT_EQ(tg_frame_read(sv[1], TG_FRAME_MAX, t0 + 50000000, &got, &type),
                 TG_FRAME_ETIMEDOUT);
    CHECK(tg_frame_now_ns() - t0 >= 50000000);

    /* A length over the reader's limit is refused before anything is allocated. */
    unsigned char big[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK_INT_EQ(write(sv[0], big, 4), 4);
    CHECK_INT_EQ(tg_frame_read(sv[1], TG_FRAME_MAX, -1, &got, &type), TG_FRAME_ETOOBIG);
    close(sv[0]);
    close(sv[1]);

    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    unsigned char small[4] = {0, 0, 0, 100};
    CHECK_INT_EQ(write(sv[0], small, 4), 4);
    CHECK_INT_EQ(tg_frame_read(sv[1], 50, -1, &got, &type), TG_FRAME_ETOOBIG);
    /* Cut inside a frame: an I/O error, not a clean end. */
    unsigned char cut[6] = {0, 0, 0, 10, '{', '}'};
    CHECK_INT_EQ(write(sv[0], cut, 6), 6);
    close(sv[0]);
    CHECK_INT_EQ(tg_frame_read(sv[1], TG_FRAME_MAX, -1, &got, &type), TG_FRAME_EIO);
    CHECK_INT_EQ(tg_frame_read(sv[1], TG_FRAME_MAX, -1, &got, &type), TG_FRAME_EOF);
    close(sv[1]);

    /* Writing to a closed peer fails without SIGPIPE. */
    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    json_t *ready = json_pack("{s:s}", "type", "ready");
    CHECK_INT_EQ(tg_frame_write(sv[0], ready, -1), TG_FRAME_EIO);
    json_decref(ready);
    close(sv[0]);
}

/* The microVM's port is a character device: frames go through write() there.
 * A pipe stands in for it. */
static void test_pipe(void)
{
    int p[2];
    CHECK_INT_EQ(pipe2(p, O_CLOEXEC), 0);
    json_t *ready = json_pack("{s:s}", "type", "ready");
    CHECK_INT_EQ(tg_frame_write(p[1], ready, -1), 0);
    json_t *got = NULL;
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_read(p[0], TG_FRAME_MAX, -1, &got, &type), 0);
    CHECK_INT_EQ(type, TG_FRAME_READY);
    CHECK(json_equal(ready, got));
    json_decref(got);
    json_decref(ready);
    close(p[0]);
    close(p[1]);
}

/* A run frame with limits (a JSON object text) and extra members (text to
 * put after "limits", starting with a comma, or ""). */
static int decode_run(const char *limits, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"type\":\"run\",\"runtime\":\"sh\",\"entry\":\"m\",\"files\":[],"
             "\"stdin\":\"\",\"env\":{},\"limits\":%s%s}",
             limits, extra);
    return decode(text);
}

static void test_run_options(void)
{
    const char *base = "{\"timeout_ms\":1,\"max_output_bytes\":1";
    char limits[512];
    static const struct {
        const char *field;
        long long lo, hi;
    } opt[] = {
        {"cpu_seconds", 1, 86400},
        {"max_files", 1, 1048576},
        {"max_file_bytes", 0, 1ll << 40},
        {"max_pids", 1, 65536},
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        const long long ok[] = {opt[i].lo, opt[i].hi};
        const long long bad[] = {opt[i].lo - 1, opt[i].hi + 1};
        for (size_t j = 0; j < 2; j++) {
            snprintf(limits, sizeof limits, "%s,\"%s\":%lld}", base, opt[i].field, ok[j]);
            CHECK_INT_EQ(decode_run(limits, ""), 0);
            snprintf(limits, sizeof limits, "%s,\"%s\":%lld}", base, opt[i].field, bad[j]);
            CHECK_INT_EQ(decode_run(limits, ""), TG_FRAME_EINVAL);
        }
        snprintf(limits, sizeof limits, "%s,\"%s\":\"1\"}", base, opt[i].field);
        CHECK_INT_EQ(decode_run(limits, ""), TG_FRAME_EINVAL);
        snprintf(limits, sizeof limits, "%s,\"%s\":1.5}", base, opt[i].field);
        CHECK_INT_EQ(decode_run(limits, ""), TG_FRAME_EINVAL);
    }
    snprintf(limits, sizeof limits, "%s}", base);
    CHECK_INT_EQ(decode_run(limits, ""), 0);

    /* The seed: canonical base64 of at most TG_FRAME_SEED_MAX bytes. */
    unsigned char bytes[TG_FRAME_SEED_MAX + 1] = {0};
    char extra[1024];
    for (size_t n = 0; n <= TG_FRAME_SEED_MAX + 1; n += TG_FRAME_SEED_MAX / 2) {
        size_t len = n > TG_FRAME_SEED_MAX ? TG_FRAME_SEED_MAX + 1 : n;
        json_t *seed = tg_frame_b64(bytes, len);
        snprintf(extra, sizeof extra, ",\"seed\":\"%s\"", json_string_value(seed));
        CHECK_INT_EQ(decode_run(limits, extra), len <= TG_FRAME_SEED_MAX ? 0 : TG_FRAME_EINVAL);
        json_decref(seed);
    }
    const char *bad_seeds[] = {",\"seed\":1", ",\"seed\":null", ",\"seed\":\"abc\"",
                               ",\"seed\":\"!!!!\"", ",\"seed\":\"aGk=\\n\""};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof bad_seeds[0]; i++)
        CHECK_INT_EQ(decode_run(limits, bad_seeds[i]), TG_FRAME_EINVAL);

    /* The host's wall clock in milliseconds, for a guest without an RTC. */
    CHECK_INT_EQ(decode_run(limits, ",\"now_ms\":1795407586000"), 0);
    CHECK_INT_EQ(decode_run(limits, ",\"now_ms\":0"), 0);
    CHECK_INT_EQ(decode_run(limits, ",\"now_ms\":-1"), TG_FRAME_EINVAL);
    CHECK_INT_EQ(decode_run(limits, ",\"now_ms\":\"now\""), TG_FRAME_EINVAL);
    CHECK_INT_EQ(decode_run(limits, ",\"now_ms\":1.5"), TG_FRAME_EINVAL);
}

static void test_bad_frames(void)
{
    CHECK_INT_EQ(decode("{\"type\":\"ready\"}"), 0);
    CHECK_INT_EQ(decode("{\"type\":\"ping\"}"), 0);
    CHECK_INT_EQ(decode("{\"type\":\"stdout\",\"data\":\"aGk=\"}"), 0);
    CHECK_INT_EQ(decode("{\"type\":\"event\",\"event\":{\"progress\":1}}"), 0);
    CHECK_INT_EQ(decode("{\"type\":\"result\",\"exit_code\":0,\"signal\":0,"
                        "\"output_truncated\":false,\"cpu_us\":5}"),
                 0);
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "\"ready\"",
        "{}",
        "{\"type\":1}",
        "{\"type\":\"bogus\"}",
        "{\"type\":\"ready\",\"type\":\"ready\"}",
        "{\"type\":\"ready\"} trailing",
        "{\"type\":\"ping\",\"seed\":\"aGk=\"}",
        "{\"type\":\"stdout\"}",
        "{\"type\":\"stdout\",\"data\":5}",
        "{\"type\":\"event\",\"event\":\"text\"}",
        "{\"type\":\"result\",\"exit_code\":0,\"signal\":0,\"output_truncated\":false}",
        "{\"type\":\"result\",\"exit_code\":999,\"signal\":0,\"output_truncated\":false,"
        "\"cpu_us\":0}",
        "{\"type\":\"result\",\"exit_code\":0,\"signal\":0,\"output_truncated\":1,\"cpu_us\":0}",
        "{\"type\":\"run\",\"runtime\":\"sh\"}",
        /* env names may not contain '=', strings may not hide a NUL */
        "{\"type\":\"run\",\"runtime\":\"sh\",\"entry\":\"m\",\"files\":[],\"stdin\":\"\","
        "\"env\":{\"A=B\":\"c\"},\"limits\":{\"timeout_ms\":1,\"max_output_bytes\":1}}",
        "{\"type\":\"run\",\"runtime\":\"sh\",\"entry\":\"m\\u0000x\",\"files\":[],\"stdin\":\"\","
        "\"env\":{},\"limits\":{\"timeout_ms\":1,\"max_output_bytes\":1}}",
        "{\"type\":\"run\",\"runtime\":\"sh\",\"entry\":\"m\",\"files\":[{\"path\":1}],"
        "\"stdin\":\"\",\"env\":{},\"limits\":{\"timeout_ms\":1,\"max_output_bytes\":1}}",
        "{\"type\":\"run\",\"runtime\":\"sh\",\"entry\":\"m\",\"files\":[],\"stdin\":\"\","
        "\"env\":{},\"limits\":{\"timeout_ms\":0,\"max_output_bytes\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = decode(bad[i]);
        if (rc != TG_FRAME_EINVAL) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, TG_FRAME_EINVAL);
    }
}

/* An egress frame (response: an egress_response) with one member replaced
 * or added: member is "name" and value its JSON text, or NULL for none. */
static int decode_egress(bool response, const char *member, const char *value)
{
    json_t *f =
        response ? json_pack("{s:s, s:i, s:i, s:[[s,s]], s:s}", "type", "egress_response", "id", 1,
                             "status", 200, "headers", "Content-Type", "text/plain", "body", "aGk=")
                 : json_pack("{s:s, s:i, s:s, s:s, s:[[s,s]], s:s}", "type", "egress", "id", 1,
                             "method", "GET", "url", "http://api.example:8443/v1?q=1", "headers",
                             "Accept", "*/*", "body", "");
    if (member) {
        if (value)
            json_object_set_new(f, member,
                                json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
        else
            json_object_del(f, member);
    }
    char *text = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    int rc = text ? decode(text) : TG_FRAME_EINVAL;
    free(text);
    return rc;
}

static void test_egress(void)
{
    CHECK_INT_EQ(decode_egress(false, NULL, NULL), 0);
    CHECK_INT_EQ(decode_egress(true, NULL, NULL), 0);
    const struct {
        const char *member, *value;
        bool ok_request, ok_response;
    } cases[] = {
        {"id", "0", true, true},
        {"id", "9007199254740991", true, true},
        {"id", "9007199254740992", false, false},
        {"id", "-1", false, false},
        {"id", "1.0", false, false},
        {"id", "\"1\"", false, false},
        {"id", NULL, false, false},
        {"headers", "[]", true, true},
        {"headers", "{}", false, false},
        {"headers", NULL, false, false},
        {"headers", "[[\"A\",\"b\",\"c\"]]", false, false},
        {"headers", "[[\"A\"]]", false, false},
        {"headers", "[[\"A\",1]]", false, false},
        {"headers", "[\"A: b\"]", false, false},
        {"headers", "[[\"\",\"b\"]]", false, false},
        {"headers", "[[\"A B\",\"b\"]]", false, false},
        {"headers", "[[\"A:\",\"b\"]]", false, false},
        {"headers", "[[\"A\\u0000\",\"b\"]]", false, false},
        {"headers", "[[\"A\",\"b\\r\\nX: y\"]]", false, false},
        {"headers", "[[\"A\",\"b\\n\"]]", false, false},
        {"headers", "[[\"A\",\"b\\u0000c\"]]", false, false},
        {"headers", "[[\"X-Ok_1!~\",\"tab\\tand \\u00e9\"],[\"A\",\"\"]]", true, true},
        {"body", "\"aGk\"", false, false},
        {"body", "\"aGk=\\n\"", false, false},
        {"body", "5", false, false},
        {"body", NULL, false, false},
        {"method", "\"get\"", false, true},
        {"method", "\"\"", false, true},
        {"method", "\"ABCDEFGHIJKLMNOPQ\"", false, true},
        {"method", "\"ABCDEFGHIJKLMNOP\"", true, true},
        {"method", "\"G1\"", false, true},
        {"method", NULL, false, true},
        {"url", "\"https://h/\"", false, true},
        {"url", "\"http://\"", false, true},
        {"url", "\"HTTP://h/\"", false, true},
        {"url", "\"http://h/a b\"", false, true},
        {"url", "\"http://h/\\u00e9\"", false, true},
        /* never on the wire: the reader refuses \u0000 in any string */
        {"url", "\"http://h/\\u0000\"", false, false},
        {"url", "7", false, true},
        {"url", NULL, false, true},
        {"status", "100", true, true},
        {"status", "599", true, true},
        {"status", "99", true, false},
        {"status", "600", true, false},
        {"status", "\"200\"", true, false},
        {"status", NULL, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int response = 0; response < 2; response++) {
            int want =
                (response ? cases[i].ok_response : cases[i].ok_request) ? 0 : TG_FRAME_EINVAL;
            int rc = decode_egress(response, cases[i].member, cases[i].value);
            if (rc != want)
                fprintf(stderr, "egress%s with %s=%s: %d\n", response ? "_response" : "",
                        cases[i].member, cases[i].value ? cases[i].value : "(none)", rc);
            CHECK_INT_EQ(rc, want);
        }
    }

    /* The limits: 200 header pairs, an 8 KiB url, a 4 MiB body. */
    json_t *headers = json_array();
    for (int i = 0; i < TG_FRAME_EGRESS_HEADERS_MAX; i++)
        json_array_append_new(headers, json_pack("[s,s]", "X", "y"));
    char *text = json_dumps(headers, JSON_COMPACT);
    CHECK_INT_EQ(decode_egress(false, "headers", text), 0);
    free(text);
    json_array_append_new(headers, json_pack("[s,s]", "X", "y"));
    text = json_dumps(headers, JSON_COMPACT);
    CHECK_INT_EQ(decode_egress(true, "headers", text), TG_FRAME_EINVAL);
    free(text);
    json_decref(headers);

    char *url = malloc(TG_FRAME_EGRESS_URL_MAX + 8);
    memcpy(url, "\"http://h/", 10);
    memset(url + 10, 'a', TG_FRAME_EGRESS_URL_MAX - 9);
    memcpy(url + TG_FRAME_EGRESS_URL_MAX + 1, "\"", 2);
    CHECK_INT_EQ(decode_egress(false, "url", url), 0);
    memcpy(url + TG_FRAME_EGRESS_URL_MAX + 1, "a\"", 3);
    CHECK_INT_EQ(decode_egress(false, "url", url), TG_FRAME_EINVAL);
    free(url);

    unsigned char *bytes = calloc(1, TG_FRAME_EGRESS_BODY_MAX + 1);
    for (size_t len = TG_FRAME_EGRESS_BODY_MAX; len <= TG_FRAME_EGRESS_BODY_MAX + 1; len++) {
        json_t *b = tg_frame_b64(bytes, len);
        text = json_dumps(b, JSON_ENCODE_ANY);
        CHECK_INT_EQ(decode_egress(true, "body", text),
                     len <= TG_FRAME_EGRESS_BODY_MAX ? 0 : TG_FRAME_EINVAL);
        free(text);
        json_decref(b);
    }
    free(bytes);
}

static void test_base64(void)
{
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    for (size_t n = 0; n <= 6; n++) {
        json_t *s = tg_frame_b64(bin + 250 - n, n);
        unsigned char *back;
        size_t len;
        CHECK_INT_EQ(tg_frame_unb64(s, &back, &len), 0);
        CHECK_INT_EQ(len, n);
        CHECK(memcmp(back, bin + 250 - n, n) == 0);
        free(back);
        json_decref(s);
    }
    json_t *s = tg_frame_b64(bin, sizeof bin);
    unsigned char *back;
    size_t len;
    CHECK_INT_EQ(tg_frame_unb64(s, &back, &len), 0);
    CHECK_INT_EQ(len, 256);
    CHECK(memcmp(back, bin, 256) == 0);
    free(back);
    json_decref(s);

    const char *bad[] = {"abc", "ab c", "!!!!", "aGk=\n", " aGk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_string(bad[i]);
        CHECK_INT_EQ(tg_frame_unb64(b, &back, &len), TG_FRAME_EINVAL);
        json_decref(b);
    }
    json_t *num = json_integer(1);
    CHECK_INT_EQ(tg_frame_unb64(num, &back, &len), TG_FRAME_EINVAL);
    json_decref(num);
}

int main(void)
{
    test_round_trip();
    test_pipe();
    test_run_options();
    test_bad_frames();
    test_egress();
    test_base64();
    return check_report();
}
