/* Frames between host and sandbox: round trips, base64, and every kind of bad
 * frame the reader must refuse (neither side trusts the other). */
#include "tests/unit/check.h"
#include "vm-pool/frame.h"

#include <fcntl.h>
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
    test_base64();
    return check_report();
}
