/* The console's files as the build embedded them (embed.cmake writes the
 * table); shared by ui.c and the generated assets.c only. */
#ifndef TG_GATEWAY_UI_ASSETS_H
#define TG_GATEWAY_UI_ASSETS_H

#include <stddef.h>

typedef struct tg_ui_asset {
    const char *name; /* the file name under /ui/ */
    const unsigned char *data;
    size_t size;
} tg_ui_asset;

extern const tg_ui_asset tg__ui_assets[];
extern const size_t tg__ui_asset_count;

#endif
