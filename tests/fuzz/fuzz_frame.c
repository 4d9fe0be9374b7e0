/* libFuzzer target for host/sandbox frames as the host reads them from a
 * guest it does not trust (vm-pool/frame.h): a frame body is decoded and
 * checked, and base64 payloads are decoded.
 *
 * Input: one frame body (the JSON text after the length prefix). Beyond "no
 * crash, no leak", the target abort()s when decoding accepts a frame that
 * tg_frame_check would refuse, when the bytes a payload ("data", or an egress
 * frame's "body") decodes to do not survive an encode and decode round trip
 * unchanged, or when an accepted egress frame has a header that could end an
 * HTTP line early. */
#include "vm-pool/frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > TG_FRAME_MAX) return 0;
    json_t *frame = NULL;
    tg_frame_type type;
    if (tg_frame_decode(data, size, &frame, &type) != TG_FRAME_OK) return 0;
    tg_frame_type checked;
    if (tg_frame_check(frame, &checked) != TG_FRAME_OK || checked != type) abort();
    /* stdout/stderr carry "data", egress frames "body". */
    const char *const keys[] = {"data", "body"};
    for (size_t k = 0; k < 2; k++) {
        json_t *payload = json_object_get(frame, keys[k]);
        if (!json_is_string(payload)) continue;
        unsigned char *bytes = NULL;
        size_t len = 0;
        if (tg_frame_unb64(payload, &bytes, &len) != TG_FRAME_OK) continue;
        json_t *back = tg_frame_b64(bytes, len);
        unsigned char *again = NULL;
        size_t again_len = 0;
        if (tg_frame_unb64(back, &again, &again_len) != TG_FRAME_OK || again_len != len ||
            memcmp(again, bytes, len) != 0)
            abort();
        free(again);
        json_decref(back);
        free(bytes);
    }
    /* An egress frame is what the proxy or the host writes out as HTTP
     * lines: no header may end a line early, whatever the checks let by. */
    if (type == TG_FRAME_EGRESS || type == TG_FRAME_EGRESS_RESPONSE) {
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(frame, "headers"), i, h)
        {
            const json_t *name = json_array_get(h, 0), *value = json_array_get(h, 1);
            if (strcspn(json_string_value(name), ":\r\n \t") != json_string_length(name) ||
                strcspn(json_string_value(value), "\r\n") != json_string_length(value))
                abort();
        }
    }
    json_decref(frame);
    return 0;
}
