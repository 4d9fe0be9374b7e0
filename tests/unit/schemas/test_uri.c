/* URI reference resolution against RFC 3986 section 5.4's examples, plus the
 * bases JSON Schema meets: URNs, empty bases and fragments. */
#include "check.h"
#include "schemas/uri.h"

#include <stdlib.h>

static void resolves(const char *base, const char *ref, const char *want)
{
    char *got = tg_uri_resolve(base, ref);
    CHECK_STR_EQ(got, want);
    free(got);
}

int main(void)
{
    const char *b = "http://a/b/c/d;p?q";
    /* 5.4.1 normal examples */
    resolves(b, "g:h", "g:h");
    resolves(b, "g", "http://a/b/c/g");
    resolves(b, "./g", "http://a/b/c/g");
    resolves(b, "g/", "http://a/b/c/g/");
    resolves(b, "/g", "http://a/g");
    resolves(b, "//g", "http://g");
    resolves(b, "?y", "http://a/b/c/d;p?y");
    resolves(b, "g?y", "http://a/b/c/g?y");
    resolves(b, "#s", "http://a/b/c/d;p?q#s");
    resolves(b, "g#s", "http://a/b/c/g#s");
    resolves(b, "g?y#s", "http://a/b/c/g?y#s");
    resolves(b, ";x", "http://a/b/c/;x");
    resolves(b, "", "http://a/b/c/d;p?q");
    resolves(b, ".", "http://a/b/c/");
    resolves(b, "./", "http://a/b/c/");
    resolves(b, "..", "http://a/b/");
    resolves(b, "../", "http://a/b/");
    resolves(b, "../g", "http://a/b/g");
    resolves(b, "../..", "http://a/");
    resolves(b, "../../g", "http://a/g");
    /* 5.4.2 abnormal examples */
    resolves(b, "../../../g", "http://a/g");
    resolves(b, "/./g", "http://a/g");
    resolves(b, "/../g", "http://a/g");
    resolves(b, "g.", "http://a/b/c/g.");
    resolves(b, "..g", "http://a/b/c/..g");
    resolves(b, "./../g", "http://a/b/g");
    resolves(b, "g/./h", "http://a/b/c/g/h");
    resolves(b, "g/../h", "http://a/b/c/h");
    resolves(b, "g;x=1/../y", "http://a/b/c/y");
    resolves(b, "g?y/./x", "http://a/b/c/g?y/./x");
    resolves(b, "g#s/../x", "http://a/b/c/g#s/../x");

    /* What schemas do with them. */
    resolves("", "#/$defs/a", "#/$defs/a");
    resolves(NULL, "item.json", "item.json");
    resolves("urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed", "#/$defs/bar",
             "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed#/$defs/bar");
    resolves("http://localhost:1234/draft2020-12/tree", "node",
             "http://localhost:1234/draft2020-12/node");
    resolves("http://example.com/root.json", "#foo", "http://example.com/root.json#foo");

    const char *frag;
    char *doc = tg_uri_strip_fragment("http://x/y.json#/a/b", &frag);
    CHECK_STR_EQ(doc, "http://x/y.json");
    CHECK_STR_EQ(frag, "/a/b");
    free(doc);
    doc = tg_uri_strip_fragment("http://x/y.json", &frag);
    CHECK(frag == NULL);
    free(doc);

    char *dec = tg_uri_pct_decode("/definitions/foo%22bar%25");
    CHECK_STR_EQ(dec, "/definitions/foo\"bar%");
    free(dec);
    CHECK(tg_uri_pct_decode("%zz") == NULL);
    CHECK(tg_uri_pct_decode("%4") == NULL);

    CHECK(tg_uri_has_scheme("urn:x"));
    CHECK(!tg_uri_has_scheme("foo/bar:baz"));
    return check_report();
}
