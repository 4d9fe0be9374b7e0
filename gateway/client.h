/* The CLI's HTTP client for a running gateway: which gateway and which token
 * (a flag, else the environment, else the default), one request at a time
 * with an optional body, and the gateway's answers and refusals reported the
 * same way by every command.
 *
 * An answer is read whole into memory, up to a limit fixed when the client
 * is made; a longer one ends the request as TG_CLIENT_TOO_LARGE. */
#ifndef TG_GATEWAY_CLIENT_H
#define TG_GATEWAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define TG_CLIENT_DEFAULT_URL "http://127.0.0.1:8080"

typedef struct tg_client tg_client;

typedef enum tg_client_result {
    TG_CLIENT_OK = 0,           /* the gateway answered (any HTTP status) */
    TG_CLIENT_UNREACHABLE = -1, /* no answer: refused, reset, unresolvable */
    TG_CLIENT_TIMEOUT = -2,     /* no whole answer in time */
    TG_CLIENT_TOO_LARGE = -3,   /* the answer passed the client's limit */
} tg_client_result;

typedef struct tg_client_answer {
    long status;        /* HTTP status; 0 without an answer */
    char *body;         /* NUL-terminated, or NULL when empty */
    size_t len;         /* of body */
    char *content_type; /* or NULL */
    char *headers;      /* the response's header lines, for tg_client_answer_header */
    char *why;          /* set when the request did not return TG_CLIENT_OK */
} tg_client_answer;

/* Borrowed: flag when it is set, else $TOOLGATE_URL, else the default. */
const char *tg_client_url(const char *flag);
/* Borrowed: flag when it is set, else $TOOLGATE_TOKEN, else NULL. */
const char *tg_client_token(const char *flag);

/* url and token are copied; token NULL or "" sends no Authorization.
 * max_answer bounds the body read (0: 16 MiB). Returns: new client. */
tg_client *tg_client_new(const char *url, const char *token, size_t max_answer);
/* Wipes the token from memory, too. */
void tg_client_free(tg_client *c);

/* Seconds a whole request may take (default 30). */
void tg_client_set_timeout(tg_client *c, long seconds);
/* Adds "Name: value" to every later request, replacing a header of the same
 * name. */
void tg_client_set_header(tg_client *c, const char *name, const char *value);
/* Borrowed: the base URL, without a trailing slash. */
const char *tg_client_base(const tg_client *c);

/* Sends method to base + path; body[0..len) with content_type, or no body
 * when body is NULL. The body is sent from the caller's buffer, never copied
 * (a secret's value is wiped by its owner). Fills *answer (cleared first; the
 * caller clears it) and returns TG_CLIENT_OK or why there is no answer. */
tg_client_result tg_client_request(tg_client *c, const char *method, const char *path,
                                   const char *content_type, const void *body, size_t len,
                                   tg_client_answer *answer);

/* Returns: new string, s escaped for a URL's path or query. */
char *tg_client_escape(const char *s);

/* Returns: new string, the value of the answer's header name (the last one
 * of that name), or NULL. */
char *tg_client_answer_header(const tg_client_answer *a, const char *name);
void tg_client_answer_clear(tg_client_answer *a);

/* Says on stderr why a request failed, one way for every command:
 * "cannot reach URL: why", or "the gateway refused (HTTP status): CODE:
 * message" with the error's details indented below, or the start of a body
 * that is not the gateway's error object. Returns: 1, the exit status. */
int tg_client_report(const tg_client_answer *a);

/* Whether the answer is a 2xx. */
bool tg_client_ok(const tg_client_answer *a);

#endif
