/* The HTTP front against a real server on 127.0.0.1 and a real client
 * (libcurl): Host and Origin allow-lists, body limits, and late replies from
 * another thread that hold no server thread while they wait. */
#include "check.h"
#include "gateway/core/alloc.h"
#include "gateway/http/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOW_CALLS 40

typedef struct response {
    long status;
    char *body;
    size_t len;
} response;

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    response *r = userdata;
    r->body = tg_xrealloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, data, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

/* One request; headers is a NULL-terminated list of "Name: value". */
static response request(uint16_t port, const char *method, const char *path, const char *body,
                        const char *const *headers)
{
    response r = {0, NULL, 0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (!r.body) r.body = tg_xstrdup("");
    return r;
}

/* Late replies: the handler parks /slow requests here and a worker thread
 * answers them after a delay, as a tool call would. */
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_http_request *parked[SLOW_CALLS];
static size_t parked_count;

static void handler(tg_http_request *req, void *userdata)
{
    (void)userdata;
    const char *path = tg_http_path(req);
    if (strcmp(path, "/slow") == 0) {
        pthread_mutex_lock(&parked_lock);
        parked[parked_count++] = req;
        pthread_mutex_unlock(&parked_lock);
        return;
    }
    if (strcmp(path, "/echo") == 0) {
        size_t len;
        const char *body = tg_http_body(req, &len);
        tg_http_set_header(req, "X-Method", tg_http_method(req));
        tg_http_reply(req, 200, "text/plain", tg_xstrndup(body, len), len);
        return;
    }
    tg_http_reply_error(req, 404, "NOT_FOUND", "no such path");
}

static void answer_parked(void)
{
    pthread_mutex_lock(&parked_lock);
    for (size_t i = 0; i < parked_count; i++)
        tg_http_reply_json(parked[i], 200, json_pack("{s:b}", "done", 1));
    parked_count = 0;
    pthread_mutex_unlock(&parked_lock);
}

typedef struct slow_job {
    uint16_t port;
    long status;
} slow_job;

static void *slow_client(void *arg)
{
    slow_job *job = arg;
    response r = request(job->port, "POST", "/slow", "{}", NULL);
    job->status = r.status;
    free(r.body);
    return NULL;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *origins[] = {"https://console.example"};
    tg_http_config config = {
        .listen = "127.0.0.1:0",
        .max_body = 1024,
        .threads = 2,
        .allowed_origins = origins,
        .allowed_origins_count = 1,
    };
    tg_http_server *server = NULL;
    char err[256];
    CHECK_INT_EQ(tg_http_start(&config, handler, NULL, &server, err, sizeof err), 0);
    if (!server) return check_report();
    uint16_t port = tg_http_port(server);
    CHECK(port != 0);

    response r = request(port, "POST", "/echo", "hello", NULL);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "hello");
    free(r.body);

    r = request(port, "GET", "/nowhere", NULL, NULL);
    CHECK_INT_EQ(r.status, 404);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such path\"}}");
    free(r.body);

    /* DNS rebinding: a name that resolves to loopback but is not ours. */
    const char *rebound[] = {"Host: attacker.example:80", NULL};
    r = request(port, "GET", "/echo", NULL, rebound);
    CHECK_INT_EQ(r.status, 403);
    CHECK(strstr(r.body, "\"FORBIDDEN\"") != NULL);
    free(r.body);

    char host[64];
    snprintf(host, sizeof host, "Host: localhost:%u", port);
    const char *local[] = {host, NULL};
    r = request(port, "POST", "/echo", "x", local);
    CHECK_INT_EQ(r.status, 200);
    free(r.body);

    const char *page[] = {"Origin: https://evil.example", NULL};
    r = request(port, "POST", "/echo", "x", page);
    CHECK_INT_EQ(r.status, 403);
    free(r.body);
    const char *console[] = {"Origin: https://console.example", NULL};
    r = request(port, "POST", "/echo", "x", console);
    CHECK_INT_EQ(r.status, 200);
    free(r.body);

    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    r = request(port, "POST", "/echo", big, NULL);
    CHECK_INT_EQ(r.status, 413);
    CHECK(strstr(r.body, "PAYLOAD_TOO_LARGE") != NULL);
    free(r.body);
    /* Chunked, so the limit is met while reading rather than from Content-Length. */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    r = request(port, "POST", "/echo", big, chunked);
    CHECK_INT_EQ(r.status, 413);
    free(r.body);

    /* Forty calls wait for their reply on a server with two threads; a quick
     * request is still answered while every one of them waits (were they
     * holding threads, it would not be, and the client would time out). */
    pthread_t clients[SLOW_CALLS];
    slow_job jobs[SLOW_CALLS];
    for (int i = 0; i < SLOW_CALLS; i++) {
        jobs[i] = (slow_job){port, 0};
        pthread_create(&clients[i], NULL, slow_client, &jobs[i]);
    }
    for (int tries = 0; tries < 200; tries++) {
        pthread_mutex_lock(&parked_lock);
        size_t n = parked_count;
        pthread_mutex_unlock(&parked_lock);
        if (n == SLOW_CALLS) break;
        usleep(10 * 1000);
    }
    r = request(port, "POST", "/echo", "quick", NULL);
    CHECK_INT_EQ(r.status, 200);
    free(r.body);
    pthread_mutex_lock(&parked_lock);
    CHECK_INT_EQ(parked_count, SLOW_CALLS);
    pthread_mutex_unlock(&parked_lock);
    answer_parked();
    for (int i = 0; i < SLOW_CALLS; i++) {
        pthread_join(clients[i], NULL);
        CHECK_INT_EQ(jobs[i].status, 200);
    }

    tg_http_stop(server);
    curl_global_cleanup();
    return check_report();
}
