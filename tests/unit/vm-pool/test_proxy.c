/* The sandbox's egress proxy on its own, on a free port of the host's
 * loopback: what a request becomes as an egress frame (method, normal URL,
 * headers in order without hop-by-hop ones, bodies by length and chunked),
 * what the host's answer becomes as a response, and each request it must
 * refuse, and how (status, and no frame). Also connections closed before
 * their answer, answers out of order, and the connection limit. */
#include "tests/unit/check.h"
/* Included, not linked: the proxy is part of the static agents only. */
#include "vm-pool/agent/proxy.c"

#include <arpa/inet.h>
#include <pthread.h>

static tg_proxy *px;
static json_t *sent; /* the egress frames the proxy sent, in order */

static void on_send(json_t *frame, void *userdata)
{
    (void)userdata;
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_check(frame, &type), 0);
    CHECK_INT_EQ(type, TG_FRAME_EGRESS);
    json_array_append_new(sent, frame);
}

/* Runs the proxy's loop for ms milliseconds. */
static void pump(int ms)
{
    int64_t until = tg_frame_now_ns() + (int64_t)ms * 1000000;
    while (tg_frame_now_ns() < until) {
        struct pollfd fds[TG_PROXY_POLLFDS];
        size_t n = tg_proxy_poll_fds(px, fds);
        if (poll(fds, n, 5) < 0) continue;
        tg_proxy_handle(px, fds, n);
    }
}

static int connect_proxy(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(tg_proxy_port(px))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_text(int fd, const char *text, size_t len)
{
    CHECK_INT_EQ(send(fd, text, len, MSG_NOSIGNAL), (long long)len);
}

/* Reads until the proxy closes (pumping it meanwhile). Returns malloc'd text. */
static char *read_all_of(int fd)
{
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    for (int i = 0; i < 400; i++) {
        pump(5);
        ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) len += (size_t)n;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    buf[len] = '\0';
    return buf;
}

/* Sends one request on a new connection and pumps until it is answered or
 * sent up. Returns the connection. */
static int request(const char *text)
{
    int fd = connect_proxy();
    send_text(fd, text, strlen(text));
    pump(30);
    return fd;
}

/* A request the proxy refuses: the status line it answers and no frame. */
static void refused(const char *text, const char *status_line)
{
    size_t before = json_array_size(sent);
    int fd = request(text);
    char *resp = read_all_of(fd);
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        fprintf(stderr, "request: %s\nresponse: %s\n", text, resp);
    CHECK(strncmp(resp, status_line, strlen(status_line)) == 0);
    CHECK(strstr(resp, "Connection: close\r\n") != NULL);
    CHECK_INT_EQ(json_array_size(sent), before);
    free(resp);
    close(fd);
}

static json_t *last_sent(void)
{
    return json_array_get(sent, json_array_size(sent) - 1);
}

/* Answers egress id with status, headers (JSON text) and body. */
static void answer(json_int_t id, int status, const char *headers, const char *body, size_t len)
{
    json_t *f =
        json_pack("{s:s, s:I, s:i, s:o, s:o}", "type", "egress_response", "id", id, "status",
                  status, "headers", json_loads(headers, 0, NULL), "body", tg_frame_b64(body, len));
    tg_frame_type type;
    CHECK_INT_EQ(tg_frame_check(f, &type), 0);
    tg_proxy_answer(px, f);
    json_decref(f);
}

static void test_get(void)
{
    int fd = request("GET http://API.Example:8443/v1/x?q=1 HTTP/1.1\r\n"
                     "Host: api.example:8443\r\n"
                     "Connection: keep-alive, X-Hop\r\n"
                     "X-Hop: gone\r\n"
                     "Accept: */*\r\n"
                     "Proxy-Connection: keep-alive\r\n"
                     "Proxy-Authorization: Basic eDp5\r\n"
                     "X-Empty:\r\n"
                     "User-Agent:  test/1.0 \r\n"
                     "\r\n");
    CHECK_INT_EQ(json_array_size(sent), 1);
    json_t *f = last_sent();
    CHECK_STR_EQ(json_string_value(json_object_get(f, "method")), "GET");
    CHECK_STR_EQ(json_string_value(json_object_get(f, "url")), "http://api.example:8443/v1/x?q=1");
    CHECK_STR_EQ(json_string_value(json_object_get(f, "body")), "");
    char *headers = json_dumps(json_object_get(f, "headers"), JSON_COMPACT);
    CHECK_STR_EQ(headers, "[[\"Host\",\"api.example:8443\"],[\"Accept\",\"*/*\"],"
                          "[\"X-Empty\",\"\"],[\"User-Agent\",\"test/1.0\"]]");
    free(headers);
    json_int_t id = json_integer_value(json_object_get(f, "id"));
    CHECK_INT_EQ(id, 1);

    answer(id, 200,
           "[[\"Content-Type\",\"text/plain\"],[\"Content-Length\",\"999\"],"
           "[\"Transfer-Encoding\",\"chunked\"],[\"Connection\",\"X-Drop\"],[\"X-Drop\",\"1\"],"
           "[\"Set-Cookie\",\"a=1\"],[\"Set-Cookie\",\"b=2\"]]",
           "hello", 5);
    char *resp = read_all_of(fd);
    CHECK_STR_EQ(resp, "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/plain\r\n"
                       "Set-Cookie: a=1\r\n"
                       "Set-Cookie: b=2\r\n"
                       "Content-Length: 5\r\n"
                       "Connection: close\r\n"
                       "\r\n"
                       "hello");
    free(resp);
    close(fd);
    /* Answered once: a second answer for the id finds no one. */
    answer(id, 200, "[]", "", 0);
}

static void test_urls(void)
{
    static const struct {
        const char *target, *url;
    } cases[] = {
        {"http://h", "http://h/"},
        {"http://h?q=1", "http://h/?q=1"},
        {"HTTP://Host.EXAMPLE:80/A/B?C=D", "http://host.example/A/B?C=D"},
        {"http://[::1]:8080/x", "http://[::1]:8080/x"},
        {"http://10.0.0.1:1/%41", "http://10.0.0.1:1/%41"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "DELETE %s HTTP/1.0\r\n\r\n", cases[i].target);
        size_t before = json_array_size(sent);
        int fd = request(text);
        CHECK_INT_EQ(json_array_size(sent), before + 1);
        json_t *f = last_sent();
        CHECK_STR_EQ(json_string_value(json_object_get(f, "url")), cases[i].url);
        CHECK_STR_EQ(json_string_value(json_object_get(f, "method")), "DELETE");
        close(fd);
    }
    pump(10);
}

static void test_bodies(void)
{
    /* By length, binary. */
    static const char post[] = "POST http://h/in HTTP/1.1\r\nContent-Length: 6\r\n\r\na\0b\r\nc";
    int fd = connect_proxy();
    send_text(fd, post, sizeof post - 1);
    pump(30);
    json_t *f = last_sent();
    unsigned char *body;
    size_t len;
    CHECK_INT_EQ(tg_frame_unb64(json_object_get(f, "body"), &body, &len), 0);
    CHECK_INT_EQ(len, 6);
    CHECK(memcmp(body, "a\0b\r\nc", 6) == 0);
    free(body);
    char *hs = json_dumps(json_object_get(f, "headers"), JSON_COMPACT);
    CHECK_STR_EQ(hs, "[[\"Content-Length\",\"6\"]]");
    free(hs);
    close(fd);

    /* Chunked, in pieces, with extensions and trailers; LF-only lines too. */
    fd = connect_proxy();
    const char *parts[] = {"PUT http://h/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
                           "X-After: 1\r\n\r\n4;ext=1\r\nab", "cd\r\n",
                           "A\r\n0123456789\r\n1\nZ\n0\r\n", "X-Trailer: t\r\n\r\n"};
    size_t before = json_array_size(sent);
    for (size_t i = 0; i < 5; i++) {
        send_text(fd, parts[i], strlen(parts[i]));
        pump(10);
        CHECK_INT_EQ(json_array_size(sent), before + (i == 4));
    }
    f = last_sent();
    CHECK_INT_EQ(tg_frame_unb64(json_object_get(f, "body"), &body, &len), 0);
    CHECK_STR_EQ((char *)body, "abcd0123456789Z");
    free(body);
    char *headers = json_dumps(json_object_get(f, "headers"), JSON_COMPACT);
    CHECK_STR_EQ(headers, "[[\"X-After\",\"1\"]]");
    free(headers);
    json_int_t id = json_integer_value(json_object_get(f, "id"));
    answer(id, 201, "[]", "made", 4);
    char *resp = read_all_of(fd);
    CHECK_STR_EQ(resp,
                 "HTTP/1.1 201 Created\r\nContent-Length: 4\r\nConnection: close\r\n\r\nmade");
    free(resp);
    close(fd);

    /* Expect: 100-continue is answered before the body comes. */
    fd = connect_proxy();
    const char *head =
        "POST http://h/e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    send_text(fd, head, strlen(head));
    pump(20);
    char cont[64] = {0};
    CHECK(recv(fd, cont, sizeof cont - 1, 0) > 0);
    CHECK_STR_EQ(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    send_text(fd, "xyz", 3);
    pump(20);
    f = last_sent();
    CHECK_STR_EQ(json_string_value(json_object_get(f, "body")), "eHl6");
    CHECK_INT_EQ(json_array_size(json_object_get(f, "headers")), 1); /* Content-Length only */
    close(fd);
    pump(10);
}

static void test_refused(void)
{
    refused("CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed\r\n");
    int fd = request("CONNECT api.example:443 HTTP/1.1\r\n\r\n");
    char *resp = read_all_of(fd);
    CHECK(strstr(resp, "request http://host/... and the gateway upgrades it to https") != NULL);
    free(resp);
    close(fd);

    refused("GET /v1/x HTTP/1.1\r\nHost: api.example\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET https://api.example/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET ftp://api.example/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("get http://h/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("LONGERTHANSIXTEEN http://h/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ");
    refused("GET http://h/ junk\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET  http://h/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/1.1\r\nBad Name: x\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/1.1\r\nX: a\x01\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/1.1\r\nX: \xff\xfe\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://user:pw@h/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/#frag HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h:0/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h:65536/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h:/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http:///x HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h_$/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("GET http://h/\x80 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "HTTP/1.1 501 ");
    refused("POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "HTTP/1.1 400 ");
    refused("POST http://h/ HTTP/1.1\r\nExpect: magic\r\n\r\n", "HTTP/1.1 417 ");
    refused("POST http://h/ HTTP/1.1\r\nContent-Length: 4194305\r\n\r\n", "HTTP/1.1 413 ");
    refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n",
            "HTTP/1.1 413 ");

    /* 201 header fields; a URL over 8 KiB; a head over 64 KiB. */
    char *big = malloc(TG_PROXY_HEAD_MAX + 100);
    size_t n = (size_t)snprintf(big, 64, "GET http://h/ HTTP/1.1\r\n");
    for (int i = 0; i < 201; i++)
        n += (size_t)snprintf(big + n, 32, "X-%d: v\r\n", i);
    snprintf(big + n, 8, "\r\n");
    refused(big, "HTTP/1.1 431 ");
    n = (size_t)snprintf(big, 64, "GET http://h/");
    memset(big + n, 'a', 8200);
    snprintf(big + n + 8200, 64, " HTTP/1.1\r\n\r\n");
    refused(big, "HTTP/1.1 414 ");
    n = (size_t)snprintf(big, 64, "GET http://h/ HTTP/1.1\r\nX: ");
    memset(big + n, 'a', TG_PROXY_HEAD_MAX);
    big[n + TG_PROXY_HEAD_MAX] = '\0';
    refused(big, "HTTP/1.1 431 ");
    free(big);
}

struct writer {
    int fd;
    const char *data;
    size_t len;
    ssize_t sent;
};

static void *write_all_of(void *arg)
{
    struct writer *w = arg;
    w->sent = 0;
    while ((size_t)w->sent < w->len) {
        ssize_t n = send(w->fd, w->data + w->sent, w->len - (size_t)w->sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        w->sent += n;
    }
    return NULL;
}

/* A body over the limit is answered 413 and read to its end, so the worker
 * sees the answer rather than a reset. */
static void test_too_large(void)
{
    size_t body = TG_FRAME_EGRESS_BODY_MAX + 1;
    char head[128];
    int hn = snprintf(head, sizeof head,
                      "POST http://h/big HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", body);
    char *text = calloc(1, (size_t)hn + body);
    memcpy(text, head, (size_t)hn);
    size_t before = json_array_size(sent);
    int fd = connect_proxy();
    struct writer w = {fd, text, (size_t)hn + body, 0};
    pthread_t t;
    pthread_create(&t, NULL, write_all_of, &w);
    char *resp = read_all_of(fd);
    pthread_join(t, NULL);
    CHECK_INT_EQ(w.sent, (long long)w.len);
    CHECK(strncmp(resp, "HTTP/1.1 413 ", 13) == 0);
    CHECK_INT_EQ(json_array_size(sent), before);
    free(resp);
    close(fd);

    /* The same by chunks: refused once the sum passes the limit. */
    size_t chunk = 1 << 20;
    char *chunked = malloc(5 * (chunk + 16) + 128);
    size_t n = (size_t)snprintf(chunked, 128,
                                "POST http://h/big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(chunked + n, 16, "%zx\r\n", chunk);
        memset(chunked + n, 'x', chunk);
        n += chunk;
        memcpy(chunked + n, "\r\n", 2);
        n += 2;
    }
    memcpy(chunked + n, "0\r\n\r\n", 5);
    n += 5;
    fd = connect_proxy();
    w = (struct writer){fd, chunked, n, 0};
    pthread_create(&t, NULL, write_all_of, &w);
    resp = read_all_of(fd);
    pthread_join(t, NULL);
    CHECK(strncmp(resp, "HTTP/1.1 413 ", 13) == 0);
    CHECK_INT_EQ(json_array_size(sent), before);
    free(resp);
    close(fd);
    free(chunked);

    /* Exactly the limit goes through. */
    memset(text, 0, (size_t)hn + body);
    hn = snprintf(head, sizeof head, "POST http://h/max HTTP/1.1\r\nContent-Length: %u\r\n\r\n",
                  TG_FRAME_EGRESS_BODY_MAX);
    memcpy(text, head, (size_t)hn);
    fd = connect_proxy();
    w = (struct writer){fd, text, (size_t)hn + TG_FRAME_EGRESS_BODY_MAX, 0};
    pthread_create(&t, NULL, write_all_of, &w);
    for (int i = 0; i < 200 && json_array_size(sent) == before; i++)
        pump(10);
    pthread_join(t, NULL);
    CHECK_INT_EQ(json_array_size(sent), before + 1);
    char *enc = json_dumps(last_sent(), JSON_COMPACT);
    CHECK(strlen(enc) < TG_FRAME_MAX);
    free(enc);
    close(fd);
    free(text);
    pump(10);
}

static void test_answers(void)
{
    /* Two at once, answered in the other order. */
    int a = request("GET http://h/a HTTP/1.1\r\n\r\n");
    int b = request("HEAD http://h/b HTTP/1.1\r\n\r\n");
    size_t n = json_array_size(sent);
    json_int_t ida = json_integer_value(json_object_get(json_array_get(sent, n - 2), "id"));
    json_int_t idb = json_integer_value(json_object_get(json_array_get(sent, n - 1), "id"));
    CHECK(ida != idb);
    answer(idb, 200, "[]", "body of b", 9);
    char *resp = read_all_of(b);
    /* HEAD: the length of what GET would send, and no body. */
    CHECK_STR_EQ(resp, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n");
    free(resp);
    answer(ida, 204, "[[\"X\",\"y\"]]", "", 0);
    resp = read_all_of(a);
    CHECK_STR_EQ(resp, "HTTP/1.1 204 No Content\r\nX: y\r\nConnection: close\r\n\r\n");
    free(resp);
    close(a);
    close(b);

    /* An interim status cannot be the answer; an unknown status has no reason. */
    a = request("GET http://h/ HTTP/1.1\r\n\r\n");
    answer(json_integer_value(json_object_get(last_sent(), "id")), 101, "[]", "", 0);
    resp = read_all_of(a);
    CHECK(strncmp(resp, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0);
    free(resp);
    close(a);
    a = request("GET http://h/ HTTP/1.1\r\n\r\n");
    answer(json_integer_value(json_object_get(last_sent(), "id")), 299, "[]", "", 0);
    resp = read_all_of(a);
    CHECK_STR_EQ(resp, "HTTP/1.1 299 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    free(resp);
    close(a);

    /* Closed by the worker before its answer: the answer is dropped, and the
     * slot is free again. */
    a = request("GET http://h/gone HTTP/1.1\r\n\r\n");
    json_int_t gone = json_integer_value(json_object_get(last_sent(), "id"));
    close(a);
    pump(20);
    size_t used = 0;
    for (size_t s = 0; s < TG_PROXY_CONNS_MAX; s++)
        used += px->conns[s] != NULL;
    CHECK_INT_EQ(used, 0);
    answer(gone, 200, "[]", "late", 4);
    answer(987654, 200, "[]", "never asked", 11);
    pump(10);
}

/* TG_PROXY_CONNS_MAX at once; the next waits in the backlog until one ends. */
static void test_limit(void)
{
    int fds[TG_PROXY_CONNS_MAX + 1];
    size_t before = json_array_size(sent);
    for (int i = 0; i <= TG_PROXY_CONNS_MAX; i++)
        fds[i] = request("GET http://h/n HTTP/1.1\r\n\r\n");
    CHECK_INT_EQ(json_array_size(sent), before + TG_PROXY_CONNS_MAX);
    answer(json_integer_value(json_object_get(json_array_get(sent, before), "id")), 200, "[]", "",
           0);
    char *resp = read_all_of(fds[0]);
    free(resp);
    close(fds[0]);
    pump(50);
    CHECK_INT_EQ(json_array_size(sent), before + TG_PROXY_CONNS_MAX + 1);
    for (int i = 1; i <= TG_PROXY_CONNS_MAX; i++)
        close(fds[i]);
    pump(20);
}

int main(void)
{
    sent = json_array();
    px = tg_proxy_open(0, on_send, NULL);
    CHECK(px != NULL);
    if (!px) return check_report();
    test_get();
    test_urls();
    test_bodies();
    test_refused();
    test_too_large();
    test_answers();
    test_limit();
    tg_proxy_close(px);
    json_decref(sent);
    return check_report();
}
