/* The admin console at /ui: a static page, embedded into the binary, whose
 * data comes from the documented /v1 API with the token the user signs in
 * with. The page itself is public and holds no data, so it is served before
 * token authentication; a strict Content-Security-Policy keeps anything but
 * its own files from running in it. */
#ifndef TG_GATEWAY_UI_H
#define TG_GATEWAY_UI_H

#include "gateway/http/http.h"

#include <stdbool.h>

/* True for the console's paths: /ui, /ui/ and /ui/<asset>. */
bool tg_ui_is(const char *path);

/* Answers a request for a path tg_ui_is accepted: the asset (GET and HEAD),
 * a 308 from /ui to /ui/, 404 for an unknown asset, 405 for other methods. */
void tg_ui_serve(tg_http_request *req);

#endif
