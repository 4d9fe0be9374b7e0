/* The admin console's files; see ui.h.
 *
 * Every answer under /ui carries the same security headers, errors included:
 * the page may load only its own script and style, may not be framed, and
 * leaks no URL to anyone through a Referer. */
#include "gateway/ui/ui.h"

#include "gateway/core/alloc.h"
#include "gateway/ui/assets.h"

#include <string.h>

#define PREFIX "/ui/"

static const char CSP[] = "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                          "frame-ancestors 'none'";

static const struct {
    const char *suffix;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
};

bool tg_ui_is(const char *path)
{
    return strcmp(path, "/ui") == 0 || strncmp(path, PREFIX, strlen(PREFIX)) == 0;
}

static const char *content_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t m = strlen(types[i].suffix);
        if (n >= m && strcmp(name + n - m, types[i].suffix) == 0) return types[i].type;
    }
    return "application/octet-stream";
}

/* The embedded file a path under /ui/ names: "" is the page itself. Names
 * are compared whole, so no path reaches anything but the table. */
static const tg_ui_asset *find(const char *name)
{
    if (*name == '\0') name = "index.html";
    for (size_t i = 0; i < tg__ui_asset_count; i++)
        if (strcmp(tg__ui_assets[i].name, name) == 0) return &tg__ui_assets[i];
    return NULL;
}

void tg_ui_serve(tg_http_request *req)
{
    tg_http_set_header(req, "Content-Security-Policy", CSP);
    tg_http_set_header(req, "X-Content-Type-Options", "nosniff");
    tg_http_set_header(req, "Referrer-Policy", "no-referrer");
    tg_http_set_header(req, "Cache-Control", "no-cache");
    const char *method = tg_http_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        tg_http_set_header(req, "Allow", "GET, HEAD");
        tg_http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "the console answers GET and HEAD");
        return;
    }
    const char *path = tg_http_path(req);
    if (strcmp(path, "/ui") == 0) {
        /* Relative URLs in the page resolve against /ui/, not /. */
        tg_http_set_header(req, "Location", PREFIX);
        tg_http_reply(req, 308, NULL, NULL, 0);
        return;
    }
    const tg_ui_asset *asset = find(path + strlen(PREFIX));
    if (!asset) {
        tg_http_reply_error(req, 404, "NOT_FOUND", "no such file in the console");
        return;
    }
    /* tg_http_reply takes a malloc'd body; the files are a few kilobytes. */
    char *body = tg_xmalloc(asset->size ? asset->size : 1);
    memcpy(body, asset->data, asset->size);
    tg_http_reply(req, 200, content_type(asset->name), body, asset->size);
}
