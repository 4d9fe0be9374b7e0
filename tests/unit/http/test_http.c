/* The HTTP front against a real server on 127.0.0.1 and a real client
 * (libcurl): Host and Origin allow-lists, body limits, late replies from
 * another thread that hold no server thread while they wait, and streams
 * that tell when their client leaves, but not when the server ended them. */
#include "check.h"
#include "gateway/core/alloc.h"
#include "gateway/http/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* Streams: the handler starts one on /stream, says hello on it and leaves it
 * open here, with what its on_close was given, for the test to end. */
typedef struct watched {
    tg_http_stream *stream;
    atomic_int closes; /* on_close calls for this stream */
} watched;
static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;
static watched *open_stream;
static atomic_int closes; /* on_close calls for any stream */

static void say(tg_http_stream *st, const char *text)
{
    tg_http_stream_write(st, text, strlen(text));
}

static void stream_gone(void *ctx)
{
    watched *w = ctx;
    atomic_fetch_add(&w->closes, 1);
    atomic_fetch_add(&closes, 1);
}

static void handler(tg_http_request *req, void *userdata)
{
    (void)userdata;
    const char *path = tg_http_path(req);
    if (strcmp(path, "/stream") == 0) {
        watched *w = tg_xcalloc(1, sizeof *w);
        w->stream = tg_http_stream_start(req, 200, "text/event-stream");
        say(w->stream, "data: hello\n\n");
        tg_http_stream_on_close(w->stream, stream_gone, w);
        pthread_mutex_lock(&stream_lock);
        open_stream = w;
        pthread_mutex_unlock(&stream_lock);
        return;
    }
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

/* Waits up to 5 s for the handler to have opened a stream; takes it. Looks
 * often, so that the server may end a stream while its client leaves. */
static watched *take_stream(void)
{
    watched *w = NULL;
    for (int tries = 0; tries < 50000 && !w; tries++) {
        pthread_mutex_lock(&stream_lock);
        w = open_stream;
        open_stream = NULL;
        pthread_mutex_unlock(&stream_lock);
        if (!w) usleep(100);
    }
    return w;
}

/* Ends w's stream and frees w, which on_close must not reach from then on;
 * returns how many times it ran. */
static int end_stream(watched *w)
{
    tg_http_stream_end(w->stream);
    int n = atomic_load(&w->closes);
    free(w);
    return n;
}

/* Hangs up as soon as the first bytes arrive. */
static size_t hang_up(char *data, size_t size, size_t n, void *userdata)
{
    (void)data;
    (void)size;
    (void)n;
    (void)userdata;
    return 0;
}

typedef struct stream_job {
    uint16_t port;
    bool leave; /* hang up at the first bytes, else read to the end */
    response r;
    CURLcode left; /* leave: how the transfer ended, checked by the main thread */
} stream_job;

static void *stream_client(void *arg)
{
    stream_job *job = arg;
    if (!job->leave) {
        job->r = request(job->port, "GET", "/stream", NULL, NULL);
        return NULL;
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/stream", job->port);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, hang_up);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    job->left = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    return NULL;
}

static void check_streams(uint16_t port)
{
    /* A client that leaves a quiet stream: the connection waits suspended
     * for more to send, and its going is noticed all the same. */
    stream_job job = {.port = port, .leave = true};
    stream_client(&job);
    CHECK_INT_EQ(job.left, CURLE_WRITE_ERROR);
    watched *w = take_stream();
    CHECK(w != NULL);
    if (!w) return;
    for (int tries = 0; tries < 500 && atomic_load(&w->closes) == 0; tries++)
        usleep(10 * 1000);
    CHECK_INT_EQ(atomic_load(&w->closes), 1);
    CHECK(tg_http_stream_closed(w->stream));
    say(w->stream, "data: late\n\n");
    CHECK_INT_EQ(end_stream(w), 1);

    /* A stream the server ends from another thread, after it waited: the
     * client gets it all, and its leaving afterwards is no close. */
    pthread_t client;
    job = (stream_job){.port = port};
    pthread_create(&client, NULL, stream_client, &job);
    w = take_stream();
    CHECK(w != NULL);
    if (!w) return;
    usleep(100 * 1000);
    say(w->stream, "data: bye\n\n");
    CHECK_INT_EQ(end_stream(w), 0);
    pthread_join(client, NULL);
    CHECK_INT_EQ(job.r.status, 200);
    CHECK_STR_EQ(job.r.body, "data: hello\n\ndata: bye\n\n");
    free(job.r.body);
    usleep(100 * 1000);
    CHECK_INT_EQ(atomic_load(&closes), 1);

    /* Clients leaving while the server ends their streams: on_close runs
     * for some, at most once, and never once the end returned (w is freed
     * then, which a sanitizer build would also catch). */
    int seen = 1;
    for (int i = 0; i < 20; i++) {
        job = (stream_job){.port = port, .leave = true};
        pthread_create(&client, NULL, stream_client, &job);
        w = take_stream();
        CHECK(w != NULL);
        if (!w) break;
        int n = end_stream(w);
        pthread_join(client, NULL);
        CHECK_INT_EQ(job.left, CURLE_WRITE_ERROR);
        CHECK(n <= 1);
        seen += n;
    }
    usleep(100 * 1000);
    CHECK_INT_EQ(atomic_load(&closes), seen);
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

    check_streams(port);

    tg_http_stop(server);
    curl_global_cleanup();
    return check_report();
}
