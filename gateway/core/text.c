#include "gateway/core/text.h"

#include <stdio.h>

size_t tg_utf8_whole(const char *s, size_t len)
{
    size_t lead = len;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0) return len;
    unsigned char b = (unsigned char)s[lead - 1];
    size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    return len - (lead - 1) < need ? lead - 1 : len;
}

void tg_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    if (size == 0) return;
    int n = vsnprintf(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size) buf[tg_utf8_whole(buf, size - 1)] = '\0';
}

void tg_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_vformat(buf, size, fmt, ap);
    va_end(ap);
}
