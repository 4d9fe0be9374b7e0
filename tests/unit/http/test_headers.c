/* The header values toolgate reads itself: Content-Type, Accept lists with
 * wildcards and q-values, and W3C traceparent. */
#include "gateway/http/headers.h"
#include "tests/unit/check.h"

#include <string.h>

static void test_media_type(void)
{
    CHECK(tg_http_media_type_is("application/json", "application/json"));
    CHECK(tg_http_media_type_is("Application/JSON; charset=utf-8", "application/json"));
    CHECK(tg_http_media_type_is("application/json ;charset=utf-8", "application/json"));
    CHECK(!tg_http_media_type_is("application/jsonx", "application/json"));
    CHECK(!tg_http_media_type_is("application/js", "application/json"));
    CHECK(!tg_http_media_type_is("text/plain", "application/json"));
    CHECK(!tg_http_media_type_is(NULL, "application/json"));
    CHECK(!tg_http_media_type_is("", "application/json"));
}

static void test_accept(void)
{
    const char *both = "application/json, text/event-stream";
    CHECK(tg_http_accepts(both, "application/json"));
    CHECK(tg_http_accepts(both, "text/event-stream"));
    CHECK(tg_http_accepts("*/*", "text/event-stream"));
    CHECK(tg_http_accepts("text/*", "text/event-stream"));
    CHECK(!tg_http_accepts("text/*", "application/json"));
    CHECK(tg_http_accepts("APPLICATION/JSON", "application/json"));
    CHECK(tg_http_accepts("application/json;q=0.5", "application/json"));
    CHECK(tg_http_accepts("application/json ; q=1.000", "application/json"));
    /* q=0 says "not acceptable", and the most specific range decides. */
    CHECK(!tg_http_accepts("application/json;q=0", "application/json"));
    CHECK(!tg_http_accepts("*/*, application/json;q=0", "application/json"));
    CHECK(tg_http_accepts("*/*;q=0, application/json", "application/json"));
    CHECK(!tg_http_accepts("application/*;q=0.000, */*", "application/json"));
    CHECK(tg_http_accepts("text/html;level=1;q=0.2, text/event-stream", "text/event-stream"));
    /* A substring is not a media range. */
    CHECK(!tg_http_accepts("application/jsonx", "application/json"));
    CHECK(!tg_http_accepts("xapplication/json", "application/json"));
    CHECK(!tg_http_accepts("text/event-streams", "text/event-stream"));
    /* A malformed q skips that range only. */
    CHECK(!tg_http_accepts("application/json;q=2", "application/json"));
    CHECK(!tg_http_accepts("application/json;q=abc", "application/json"));
    CHECK(tg_http_accepts("application/json;q=abc, */*", "application/json"));
    CHECK(!tg_http_accepts("", "application/json"));
    CHECK(!tg_http_accepts(",,, ,", "application/json"));
    CHECK(!tg_http_accepts(NULL, "application/json"));
    CHECK(tg_http_accepts("  text/event-stream  ,application/json", "text/event-stream"));
}

static void test_traceparent(void)
{
    char id[33];
    const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    CHECK(tg_http_traceparent_trace_id(good, id) == id);
    CHECK_STR_EQ(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    /* A later version may carry more fields after a dash. */
    CHECK(tg_http_traceparent_trace_id(
              "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", id) != NULL);
    static const char *const bad[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* 00 is exact */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* forbidden version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* zero parent id */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",       /* not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",        /* short */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",      /* no dash after */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (tg_http_traceparent_trace_id(bad[i], id) != NULL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(false);
        }
    }
    CHECK(tg_http_traceparent_trace_id(NULL, id) == NULL);
}

static void test_traceparent_sampled(void)
{
    CHECK(tg_http_traceparent_sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    CHECK(tg_http_traceparent_sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0b"));
    CHECK(!tg_http_traceparent_sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    /* Only the lowest bit of trace-flags is the sampled one. */
    CHECK(!tg_http_traceparent_sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02"));
    CHECK(!tg_http_traceparent_sampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-f0"));
    /* Invalid trace context is no sampling decision of anyone's. */
    CHECK(!tg_http_traceparent_sampled("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    CHECK(!tg_http_traceparent_sampled(NULL));
}

int main(void)
{
    test_media_type();
    test_accept();
    test_traceparent();
    test_traceparent_sampled();
    return check_report();
}
