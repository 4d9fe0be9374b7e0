/* toolgate token --tenant T --sub S --scope "..." [--ttl 1h] [--data-dir DIR]
 *               [--audience URL] [--toolsets a,b]
 * Mints an HS256 token with the development key a gateway made in its data
 * dir (authn.h), for local use and tests. It prints only the token. */
#include "gateway/commands.h"

#include "gateway/authn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: toolgate token --tenant TENANT --sub SUBJECT --scope \"SCOPE ...\" [--ttl 1h]\n"
    "                      [--data-dir DIR] [--audience URL] [--toolsets NAME,...]\n"
    "  --tenant     the tenant the token acts in (1-128 of A-Z a-z 0-9 _ . -)\n"
    "  --sub        the subject: who the token stands for (the audit's principal)\n"
    "  --scope      space-separated: tools:list tools:call workers:deploy workers:trigger\n"
    "               secrets:write audit:read admin\n"
    "  --ttl        how long it is valid: N, Ns, Nm, Nh or Nd (default 1h, at most 30d)\n"
    "  --data-dir   the gateway's data dir, which holds its development key\n"
    "               (default ./toolgate-data)\n"
    "  --audience   the gateway's resource URL (default http://127.0.0.1:8080/mcp)\n"
    "  --toolsets   restrict the token to these toolsets (comma-separated; \"\" for none):\n"
    "               it may use only /mcp/NAME for them, /mcp only when one is \"default\",\n"
    "               and run only their tools\n";

/* Seconds in "90", "90s", "15m", "1h", "2d"; -1 when it is none of those. */
static long long parse_ttl(const char *s)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n <= 0) return -1;
    long long unit = *end == '\0' || strcmp(end, "s") == 0 ? 1
                     : strcmp(end, "m") == 0               ? 60
                     : strcmp(end, "h") == 0               ? 3600
                     : strcmp(end, "d") == 0               ? 86400
                                                           : -1;
    if (unit < 0 || n > 30 * 86400 / unit) return -1;
    return n * unit;
}

int tg_cmd_token(int argc, char **argv)
{
    const char *tenant = NULL, *sub = NULL, *scope = NULL, *ttl = "1h", *toolsets = NULL;
    const char *data_dir = "./toolgate-data", *audience = "http://127.0.0.1:8080/mcp";
    if (tg_cmd_wants_help(argc, argv)) return tg_cmd_help(usage_text);
    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--tenant") == 0     ? &tenant
                            : strcmp(argv[i], "--sub") == 0      ? &sub
                            : strcmp(argv[i], "--scope") == 0    ? &scope
                            : strcmp(argv[i], "--ttl") == 0      ? &ttl
                            : strcmp(argv[i], "--data-dir") == 0 ? &data_dir
                            : strcmp(argv[i], "--audience") == 0 ? &audience
                            : strcmp(argv[i], "--toolsets") == 0 ? &toolsets
                                                                 : NULL;
        if (!slot || i + 1 >= argc) return tg_cmd_usage_error(usage_text);
        *slot = argv[++i];
    }
    long long seconds = parse_ttl(ttl);
    if (!tenant || !sub || !scope || seconds < 0) return tg_cmd_usage_error(usage_text);
    char err[256];
    char *secret = tg_authn_dev_secret(data_dir, false, err, sizeof err);
    if (!secret) {
        fprintf(stderr, "toolgate: %s\n", err);
        return 1;
    }
    char *token =
        tg_auth_mint_hs256_toolsets(TG_DEV_KID, secret, TG_DEV_ISSUER, audience, sub, tenant, scope,
                                    toolsets, (int64_t)time(NULL), seconds);
    free(secret);
    if (!token) {
        fprintf(stderr,
                "toolgate: cannot mint that token (the tenant must be 1-128 of "
                "A-Z a-z 0-9 _ . -, the subject 1-255 bytes, --toolsets at most 16 names of\n"
                "a-z 0-9 _ -)\n");
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}
