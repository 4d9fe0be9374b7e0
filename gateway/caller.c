#include "gateway/caller.h"

#include "gateway/auth/auth.h"
#include "gateway/core/alloc.h"
#include "gateway/core/errors.h"

#include <stdlib.h>

bool tg_caller_may(const tg_caller *who, uint32_t scope)
{
    return (who->scopes & (scope | TG_SCOPE_ADMIN)) != 0;
}

void tg_caller_refuse(tg_http_request *req, const tg_caller *who, uint32_t scope)
{
    const char *name = tg_scope_name(scope);
    char *challenge = tg_xasprintf("Bearer error=\"insufficient_scope\", scope=\"%s\", "
                                   "resource_metadata=\"%s\"",
                                   name, who->metadata_url ? who->metadata_url : "");
    tg_http_set_header(req, "WWW-Authenticate", challenge);
    free(challenge);
    char *message = tg_xasprintf("this token lacks the scope %s", name);
    tg_http_reply_json(
        req, (unsigned)tg_err_http_status(TG_EFORBIDDEN),
        json_pack("{s:o}", "error", tg_error_json(TG_EFORBIDDEN, message, NULL, NULL)));
    free(message);
}
