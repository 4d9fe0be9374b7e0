/* The gateway's front door: who a request comes from (gateway/auth checks
 * the Bearer token), the RFC 9728 resource metadata, and the challenges a
 * refused request gets.
 *
 * Keys come from the configuration's "auth" section. Without one (and
 * without --insecure-no-auth) the gateway runs in development mode: an
 * HS256 key of its own in the data dir (dev-key, made on first start), which
 * `toolgate token` signs with, so the two-command setup works with real
 * tokens. */
#ifndef TG_GATEWAY_AUTHN_H
#define TG_GATEWAY_AUTHN_H

#include "gateway/auth/auth.h"
#include "gateway/caller.h"
#include "gateway/http/http.h"

#include <jansson.h>
#include <stdbool.h>

#define TG_DEV_ISSUER "toolgate-dev"
#define TG_DEV_KID    "dev"

typedef struct tg_authn {
    tg_auth *auth;      /* NULL: --insecure-no-auth, every request is the local caller */
    char *audience;     /* this gateway's resource URL, which tokens must name */
    char *metadata_url; /* where the RFC 9728 document is served */
    json_t *metadata;   /* that document */
    char *dev_secret;   /* development mode's key, else NULL */
    tg_audit *audit;    /* borrowed: refused tokens are recorded (auth.denied) */
} tg_authn;

/* The fields a request's caller points into. */
typedef struct tg_authn_request {
    tg_caller who;
    tg_principal token;
    char principal[400];
    const char *toolsets[TG_AUTH_MAX_TOOLSETS]; /* into token.toolsets */
} tg_authn_request;

/* Sets an up for the gateway at base_url ("http://127.0.0.1:8080"), from
 * config (the "auth" section, or NULL). Returns 0, or -1 with err set. */
int tg_authn_setup(tg_authn *an, const json_t *config, bool no_auth, const char *data_dir,
                   const char *base_url, char *err, size_t errlen);
void tg_authn_free(tg_authn *an);

/* True for the paths anyone may read: health, readiness, the metadata. */
bool tg_authn_public(const char *path);
/* Serves the metadata document (both of its paths). */
void tg_authn_metadata(const tg_authn *an, tg_http_request *req);

/* Establishes who sent req into *r. Returns true, or answers req (400 for a
 * token in the query string, 401 with a Bearer challenge) and returns false.
 * A token that came and was refused is recorded as auth.denied; a request
 * with none is not, since every client's first request is one (discovery). */
bool tg_authn_check(const tg_authn *an, tg_http_request *req, tg_authn_request *r);

/* The development key in data_dir (64 hex characters), made when create is
 * set and there is none. Returns: new string, or NULL with err set. */
char *tg_authn_dev_secret(const char *data_dir, bool create, char *err, size_t errlen);

#endif
