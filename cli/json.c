/* cli/json.c — the JSON output shared by transcribe and live: one object per line. */
#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>

/* A JSON string: quotes, backslashes and control characters escaped; bytes that are
   not UTF-8 become U+FFFD so the output always parses. */
void cli_json_string(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putchar('"');
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
            p++;
        } else if (c == '\n') {
            fputs("\\n", stdout);
            p++;
        } else if (c == '\t') {
            fputs("\\t", stdout);
            p++;
        } else if (c == '\r') {
            fputs("\\r", stdout);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            printf("\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            putchar(c);
            p++;
        } else {
            int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len > 0;
            uint32_t cp = len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
            for (int k = 1; ok && k < len; k++) {
                if ((p[k] & 0xC0) != 0x80)
                    ok = 0;
                else
                    cp = cp << 6 | (p[k] & 0x3Fu);
            }
            if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                       cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
                ok = 0;
            if (ok) {
                fwrite(p, 1, (size_t)len, stdout);
                p += len;
            } else {
                fputs("\\ufffd", stdout);
                p++;
            }
        }
    }
    putchar('"');
}

/* ,"words":[{"word":..,"start":..,"end":..},...] (seconds, millisecond precision). */
void cli_json_words(const voz_transcript *t)
{
    fputs(",\"words\":[", stdout);
    for (int i = 0; i < t->n_words; i++) {
        fputs(i ? ",{\"word\":" : "{\"word\":", stdout);
        cli_json_string(t->words[i].text);
        printf(",\"start\":%.3f,\"end\":%.3f}", t->words[i].start, t->words[i].end);
    }
    putchar(']');
}
