/* libFuzzer target for host/sandbox frames as the host reads them from a
 * guest it does not trust (vm-pool/frame.h): a frame body is decoded and
 * checked, and base64 payloads are decoded.
 *
 * Input: one frame body (the JSON text after the length prefix). Beyond "no
 * crash, no leak", the target abort()s when decoding accepts a frame that
 * tg_frame_check would refuse, or when the bytes a payload decodes to do not
 * survive an encode and decode round trip unchanged. */
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
    json_t *payload = json_object_get(frame, "data");
    if (json_is_string(payload)) {
        unsigned char *bytes = NULL;
        size_t len = 0;
        if (tg_frame_unb64(payload, &bytes, &len) == TG_FRAME_OK) {
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
    }
    json_decref(frame);
    return 0;
}
