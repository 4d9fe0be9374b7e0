/* bench_auth: the cost of one bearer token check, tg_auth_check from the
 * Authorization header's value to a principal, for an HS256 and an ES256
 * token, with a tg_auth holding both keys as the gateway's would. The same
 * token is checked over and over, as a client reuses its token until it
 * expires. Prints microseconds per check, one thread.
 *
 *   bench_auth SECONDS ISSUER AUDIENCE HS256_SECRET ES256_PUBLIC_PEM HS256_JWT ES256_JWT
 *
 * The keys' kids are "hs1" and "es1"; both tokens must verify, or nothing is
 * timed. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"

enum { ROUNDS = 3 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checks header batch times. Returns 0, or -1 when a check fails (reported
 * on stderr). */
static int check_batch(const tg_auth *a, const char *header, size_t batch)
{
    tg_principal who;
    char why[160];
    for (size_t i = 0; i < batch; i++) {
        int rc = tg_auth_check(a, header, (int64_t)time(NULL), &who, why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "bench_auth: the token is refused (%d): %s\n", rc, why);
            return -1;
        }
    }
    return 0;
}

/* Returns: checks per second, or -1 when a check fails. A warm-up of a
 * quarter of seconds sizes batches that take about a millisecond, so reading
 * the clock costs nothing next to the checks; then ROUNDS rounds share
 * seconds and the best is kept, since noise only ever slows a round down.
 * Mirrors bench_schema's passes_per_second. */
static double checks_per_second(const tg_auth *a, const char *header, double seconds)
{
    size_t batch = 1;
    double warm_end = now_s() + seconds / 4;
    while (now_s() < warm_end) {
        double t0 = now_s();
        if (check_batch(a, header, batch) != 0) return -1;
        if (now_s() - t0 < 0.001) batch *= 2;
    }
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        size_t checks = 0;
        double start = now_s(), elapsed;
        do {
            if (check_batch(a, header, batch) != 0) return -1;
            checks += batch;
            elapsed = now_s() - start;
        } while (elapsed < seconds / ROUNDS);
        if ((double)checks / elapsed > best) best = (double)checks / elapsed;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 8 || atof(argv[1]) <= 0) {
        fprintf(stderr, "usage: bench_auth SECONDS ISSUER AUDIENCE HS256_SECRET ES256_PUBLIC_PEM "
                        "HS256_JWT ES256_JWT\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    const tg_auth_key keys[] = {{"hs1", "HS256", argv[4]}, {"es1", "ES256", argv[5]}};
    tg_auth_config cfg = {.keys = keys, .nkeys = 2, .issuer = argv[2], .audience = argv[3]};
    tg_auth *a = NULL;
    char err[256];
    if (tg_auth_new(&cfg, &a, err, sizeof err) != 0) {
        fprintf(stderr, "bench_auth: %s\n", err);
        return 1;
    }
    const char *algs[] = {"HS256", "ES256"};
    int status = 0;
    printf("one tg_auth_check (Bearer header to principal, the same token each time), 1 thread, "
           "best of %d rounds:\n",
           ROUNDS);
    for (int i = 0; i < 2; i++) {
        char *header = tg_xasprintf("Bearer %s", argv[6 + i]);
        double rate = checks_per_second(a, header, seconds);
        free(header);
        if (rate < 0) {
            status = 1;
            continue;
        }
        printf("  %s  %8.2f us  (%.0f checks/s)\n", algs[i], 1e6 / rate, rate);
    }
    tg_auth_free(a);
    return status;
}
