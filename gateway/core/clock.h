/* Wall-clock time as the stores and records keep it. */
#ifndef TG_CORE_CLOCK_H
#define TG_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t tg_now_ms(void);

#endif
