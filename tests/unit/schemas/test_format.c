/* Format checkers against every file of the JSON Schema Test Suite's
 * optional/format directory, then edge cases of our own for each format. */
#include "check.h"
#include "schemas/format.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ${TOOLGATE_SHARED_DIR}; without it, ../shared next to the source root
 * (from TOOLGATE_SOURCE_DIR, else from this file's path). */
static void format_dir(char *out, size_t n)
{
    const char *shared = getenv("TOOLGATE_SHARED_DIR");
    const char *src = getenv("TOOLGATE_SOURCE_DIR");
    const char *rel = "json-schema-test-suite/tests/draft2020-12/optional/format";
    if (shared && *shared) {
        snprintf(out, n, "%s/%s", shared, rel);
    } else if (src && *src) {
        snprintf(out, n, "%s/../shared/%s", src, rel);
    } else {
        const char *self = __FILE__, *tail = strstr(self, "tests/unit/schemas/");
        int root = tail ? (int)(tail - self) : 0;
        snprintf(out, n, "%.*s%s../shared/%s", root, self, root ? "" : "./", rel);
    }
}

static int suite_total, suite_strings;

static void run_file(const char *dir, const char *file)
{
    char path[8192];
    json_error_t e;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &e);
    if (!doc) fprintf(stderr, "cannot load %s: %s\n", path, e.text);
    CHECK(doc != NULL);
    size_t i, j;
    json_t *group, *test;
    json_array_foreach(doc, i, group)
    {
        json_t *schema = json_object_get(group, "schema");
        const char *name = json_string_value(json_object_get(schema, "format"));
        size_t keys = json_object_size(schema) - (json_object_get(schema, "$schema") ? 1 : 0);
        if (!name || keys != 1) continue;
        tg_format_fn fn = tg_format_lookup(name);
        json_array_foreach(json_object_get(group, "tests"), j, test)
        {
            json_t *data = json_object_get(test, "data");
            bool want = json_is_true(json_object_get(test, "valid"));
            /* Non-strings are valid by definition; unknown formats always pass. */
            bool got = true;
            if (json_is_string(data) && fn) {
                got = fn(json_string_value(data), json_string_length(data));
                suite_strings++;
            }
            if (got != want)
                fprintf(stderr, "%s: %s: \"%s\" (%s): got %s\n", file, name,
                        json_is_string(data) ? json_string_value(data) : "(not a string)",
                        json_string_value(json_object_get(test, "description")),
                        got ? "valid" : "invalid");
            CHECK_INT_EQ(got, want);
            suite_total++;
        }
    }
    json_decref(doc);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_suite(void)
{
    char dir[4096];
    format_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) fprintf(stderr, "cannot open %s\n", dir);
    CHECK(d != NULL);
    if (!d) return;
    char *names[256];
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && n < 256) {
        size_t l = strlen(ent->d_name);
        if (l > 5 && strcmp(ent->d_name + l - 5, ".json") == 0) names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++) {
        run_file(dir, names[i]);
        free(names[i]);
    }
    printf("suite: %zu files, %d tests (%d strings checked)\n", n, suite_total, suite_strings);
    CHECK(n >= 20);
}

static const char *current;

static void yes(const char *s)
{
    tg_format_fn fn = tg_format_lookup(current);
    bool got = fn && fn(s, strlen(s));
    if (!got) fprintf(stderr, "%s: \"%s\" should be valid\n", current, s);
    CHECK(got);
}

static void no(const char *s)
{
    tg_format_fn fn = tg_format_lookup(current);
    bool got = fn && fn(s, strlen(s));
    if (got) fprintf(stderr, "%s: \"%s\" should be invalid\n", current, s);
    CHECK(!got);
}

/* Checkers must stop at len: the byte after it is not part of the value. */
static void bounded(const char *name, const char *s, size_t len, bool want)
{
    tg_format_fn fn = tg_format_lookup(name);
    CHECK(fn != NULL);
    bool got = fn && fn(s, len);
    if (got != want)
        fprintf(stderr, "%s: \"%.*s\" (len %zu) should be %s\n", name, (int)len, s, len,
                want ? "valid" : "invalid");
    CHECK_INT_EQ(got, want);
}

static void edge_cases(void)
{
    CHECK(tg_format_lookup("unknown-format") == NULL);
    CHECK(tg_format_lookup("") == NULL);
    CHECK(tg_format_lookup(NULL) == NULL);
    CHECK(tg_format_lookup("Date") == NULL);

    current = "date";
    yes("2000-02-29");
    yes("9999-12-31");
    yes("0000-01-01");
    no("1900-02-29");
    no("2023-02-29");
    no("2023-04-31");
    no("2023-1-01");
    no("2023-01-01T");
    bounded("date", "2023-01-01X", 10, true);
    bounded("date", "2023-01-0", 9, false);

    current = "time";
    yes("00:00:00Z");
    yes("23:59:59.999999999+14:00");
    yes("23:59:60.5Z");
    yes("00:59:60+01:00");
    yes("12:00:00-00:00");
    no("23:59:60+00:01");
    no("12:00:00.Z");
    no("12:00:00+1:00");
    no("12:00:00+01:00:00");
    no("12:00:00 Z");
    no("12:00Z");
    no("12:00:00ZZ");
    no("12:00:00+0100");

    current = "date-time";
    yes("2016-12-31T23:59:60Z");
    yes("2017-01-01T00:59:60+01:00");
    yes("2020-02-29t00:00:00z");
    no("2016-12-31 23:59:59Z");
    no("2016-12-31T23:59:59");
    no("2016-12-31TT23:59:59Z");
    no("2021-02-29T00:00:00Z");
    no("2016-12-31T23:59:60+01:00");

    current = "duration";
    yes("P1W");
    yes("P0W");
    yes("P1Y2M3DT4H5M6S");
    yes("p1dt2h");
    yes("PT1S");
    yes("P1M");
    no("P1.5Y");
    no("PT1H2M3S4S");
    no("P1Y1Y");
    no("PT1M1H");
    no("P1DT");
    no("PT");
    no("P");
    no("");
    no("P1W1D");
    no("PW");
    no("P1M2Y");
    no("P1D1M");

    current = "email";
    yes("a@b");
    yes("first.last@sub.example.co");
    yes("\"a\\\"b\"@example.com");
    yes("\"\"@example.com");
    yes("user+tag@example.com");
    yes("x@[IPv6:2001:db8::1]");
    yes("x@[ipv6:::1]");
    yes("x@xn--bcher-kva.example");
    no("x@[IPv6:1.2.3.4]");
    no("x@[tag:content]");
    no("x@[1.2.3]");
    no("x@-example.com");
    no("x@example-.com");
    no("x@exa_mple.com");
    no("x@example..com");
    no("x@example.com.");
    no("\"unterminated@example.com");
    no("\"a\"b@example.com");
    no("a@b@c");
    no("a@");
    no("d\u00e9j\u00e0@example.com");
    no("x@b\u00fccher.example");
    no("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com");
    no("x@xn--X");

    current = "idn-email";
    yes("d\u00e9j\u00e0@example.com");
    yes("x@b\u00fccher.example");
    yes("\"d\u00e9j\u00e0 vu\"@example.com");
    yes("x@[127.0.0.1]");
    no("x@B\u00fccher.example");
    no("\xff@example.com");
    no(".x@example.com");
    no("x@\u3002example.com");

    current = "hostname";
    yes("a");
    yes("A-1.example");
    yes("xn--bcher-kva.example");
    yes("XN--BCHER-KVA.example");
    yes("0.0.0.256");
    no("b\u00fccher.example");
    no("ab--c.example");
    no("xn--abc");
    no("xn--.example");
    no("-");
    no("a.-b");
    no("a b");
    no("a\tb");
    no("a..");
    bounded("hostname", "example.com.", 11, true);
    bounded("hostname", "example.com", 8, false);

    current = "idn-hostname";
    yes("b\u00fccher.example");
    yes("xn--bcher-kva.example");
    yes("\u4f8b\u3048.\u30c6\u30b9\u30c8");
    yes("\u05d0\u05d1.\u05d2");  /* Bidi name, all RTL */
    yes("\u05d0\u05d1.example"); /* an LTR label in a Bidi name is fine */
    yes("\u05d0\u0660.example"); /* AN in an RTL label */
    no("B\u00fccher.example");   /* upper case is DISALLOWED in IDNA2008 */
    no("cafe\xcc\x81.example");  /* not NFC */
    no("1a.\u05d0");             /* digit-first label in a Bidi name */
    no("\u05d0a");               /* L in an RTL label */
    no("\u05d01\u0660");         /* EN and AN in one RTL label */
    no("\u2603.example");        /* DISALLOWED symbol */
    no("\xc3\x28.example");      /* ill-formed UTF-8 */
    no("a\u3002");

    current = "ipv4";
    yes("1.2.3.4");
    yes("100.200.250.255");
    no("1.2.3.04");
    no("1.2.3.4.");
    no("1.2.3");
    no("1.2.3.1000");
    no("01.2.3.4");
    bounded("ipv4", "1.2.3.45", 7, true);

    current = "ipv6";
    yes("::");
    yes("1::");
    yes("::1");
    yes("1:2:3:4:5:6:7::");
    yes("::2:3:4:5:6:7:8");
    yes("1:2:3:4:5:6:1.2.3.4");
    yes("::1.2.3.4");
    yes("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789");
    yes("fe80::1:2");
    no("1:2:3:4:5:6:7:8:9");
    no("1:2:3:4:5:6:7::8");
    no("1:2:3:4:5:6:7:8::");
    no("::1.2.3");
    no("1.2.3.4::");
    no("::1.2.3.4:5");
    no(":::");
    no("1:::2");
    no("g::1");
    no("::00001");
    no("1:2:3:4:5:6:7:1.2.3.4");

    current = "uri";
    yes("a:");
    yes("a:b");
    yes("http://user:pw@host:8080/p/a/t/h?q=1&r%5B%5D=2#f/?");
    no("http://h/?r[]=2");
    yes("http://[v7.abc:def]/");
    yes("http://host:/");
    yes("urn:isbn:0451450523");
    yes("http://example.com/%E2%82%AC");
    yes("http://@host/");
    yes("http://h/#");
    no("http://h/##");
    no("http://[::1/");
    no("http://[::1]x/");
    no("http://[v.x]/");
    no("http://[vx.y]/");
    no("http://h:8o/");
    no("http://h/\u20ac");
    no("a b:c");
    no("+a:b");
    no("http://h/%2");
    no("http://h/p q");
    bounded("uri", "http://a/b c", 10, true);

    current = "uri-reference";
    yes("");
    yes(".");
    yes("../a/b?c#d");
    yes("a/b:c");
    yes("//h");
    yes("#");
    yes("?");
    no("a:b:c d");
    no(":a");
    no("%");
    no("\\");
    no("#\u00e9");

    current = "iri";
    yes("http://\u00e9xample.org/\u00e9?\u00e9#\u00e9");
    yes("http://h/?\ue000");
    yes("http://[::1]/\U0001F432");
    no("http://h/\ue000"); /* iprivate only in the query */
    no("http://h/#\ue000");
    no("http://h/\ufffe");
    no("http://h/\xc3");
    no("\u00e9:x");

    current = "iri-reference";
    yes("\u00e9");
    yes("//\u00e9/\u00e9");
    no("\u00e9 ");

    current = "uuid";
    yes("f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
    no("f81d4fae-7dec-11d0-a765-00a0c91e6bf");
    no("f81d4fae_7dec-11d0-a765-00a0c91e6bf6");
    no("{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}");
    no("g81d4fae-7dec-11d0-a765-00a0c91e6bf6");

    current = "uri-template";
    yes("{a}{b}");
    yes("/{+path}/{.ext,x*}{?q:3}{&r*}{#frag}");
    yes("{a_b.c%20}");
    yes("{=x}");
    yes("%20");
    no("{");
    no("}");
    no("{a b}");
    no("{a.}");
    no("{a:}");
    no("{a:1*}");
    no("{a*:1}");
    no("{a}}");
    no("a%2");
    no("a%zz");
    no("<a>");
    no("a\"b");
    no("a\\b");
    no("a^b");
    no("a`b");
    no("a|b");
    no("a\x01");
    no("a\ufffe");

    current = "json-pointer";
    yes("/~0~1");
    yes("/\u00e9");
    no("/~");
    no("/~a");
    no("x/");
    no("/\xff");
    bounded("json-pointer", "/a~0", 3, false);

    current = "relative-json-pointer";
    yes("0");
    yes("0#");
    yes("10/a~1b");
    yes("3/");
    no("#");
    no("00");
    no("0#/");
    no("1a");
    no("1 ");
    no("-0");

    current = "regex";
    yes("^[a-z]+$");
    yes("(?<year>\\d{4})-\\k<year>");
    no("(?<year>\\d{4})-\\k<month>");
    no("a{2,1}");
    no("[b-a]");
    no("\\");
}

int main(void)
{
    run_suite();
    edge_cases();
    return check_report();
}
