/* train/text.c — UTF-8, transcript normalisation and the character alphabet. */
#include "train/text.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int voz_utf8_decode(const char *s, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c = p[0];
    int len;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, c &= 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) /* also catches the terminating NUL */
            return -1;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *cp = c;
    return len;
}

int voz_utf8_encode(uint32_t cp, char *out)
{
    int n;
    if (cp < 0x80) {
        out[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    out[n] = 0;
    return n;
}

uint32_t voz_text_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c < 0xC0)
        return c;
    if (c <= 0xDE && c != 0xD7) /* Latin-1 capitals, except the multiplication sign */
        return c + 32;
    /* Latin Extended-A pairs capital/small on even/odd code points, with the
       dotless-i block and U+0178 (Y diaeresis) shifting the parity in between. */
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c & 1) ? c : c + 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) /* Greek capitals */
        return c + 32;
    if (c >= 0x410 && c <= 0x42F) /* Cyrillic basic capitals */
        return c + 32;
    if (c >= 0x400 && c <= 0x40F) /* Cyrillic capitals with marks (Ѐ..Џ) */
        return c + 80;
    return c;
}

static int is_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0;
}

char *voz_text_normalize(const char *in, long *bad_offset)
{
    size_t n = strlen(in);
    /* Lower-casing within the handled ranges never lengthens the UTF-8 encoding. */
    char *out = malloc(n + 1);
    if (!out) {
        if (bad_offset)
            *bad_offset = -1;
        return NULL;
    }
    size_t o = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = voz_utf8_decode(in + i, &cp);
        if (len < 0) {
            free(out);
            if (bad_offset)
                *bad_offset = (long)i;
            return NULL;
        }
        i += (size_t)len;
        if (is_space(cp)) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = 0;
        char buf[5];
        int k = voz_utf8_encode(voz_text_lower(cp), buf);
        memcpy(out + o, buf, (size_t)k);
        o += (size_t)k;
    }
    out[o] = 0;
    return out;
}

void voz_alphabet_release(struct voz_alphabet *a)
{
    if (a->classes)
        for (int k = 0; k <= a->size; k++)
            free(a->classes[k]);
    free(a->classes);
    free(a->cps);
    memset(a, 0, sizeof *a);
}

static voz_status alphabet_add(struct voz_alphabet *a, uint32_t cp, int cap)
{
    char buf[32];
    if (a->size >= cap)
        return voz_fail(VOZ_ERR_INVALID, "alphabet: too many characters");
    if (voz_alphabet_class(a, cp) >= 0)
        return voz_fail(VOZ_ERR_INVALID, "alphabet: character %s appears twice", voz_text_describe_cp(cp, buf));
    char enc[5];
    voz_utf8_encode(cp, enc);
    a->cps[a->size] = cp;
    a->classes[a->size + 1] = strdup(enc);
    if (!a->classes[a->size + 1])
        return voz_fail(VOZ_ERR_NOMEM, "alphabet: out of memory");
    a->size++;
    return VOZ_OK;
}

static voz_status alphabet_alloc(struct voz_alphabet *a, int cap)
{
    memset(a, 0, sizeof *a);
    a->cps = calloc((size_t)cap + 1, sizeof *a->cps);
    a->classes = calloc((size_t)cap + 2, sizeof *a->classes);
    if (!a->cps || !a->classes || !(a->classes[0] = strdup(""))) {
        voz_alphabet_release(a);
        return voz_fail(VOZ_ERR_NOMEM, "alphabet: out of memory");
    }
    return VOZ_OK;
}

voz_status voz_alphabet_init(struct voz_alphabet *a, const char *chars)
{
    int cap = (int)strlen(chars);
    if (cap == 0 || cap > 4096)
        return voz_fail(VOZ_ERR_INVALID, "alphabet: expected 1 to 4096 characters, found %d bytes", cap);
    voz_status s = alphabet_alloc(a, cap);
    if (s != VOZ_OK)
        return s;
    for (const char *p = chars; *p;) {
        uint32_t cp;
        int len = voz_utf8_decode(p, &cp);
        if (len < 0) {
            voz_alphabet_release(a);
            return voz_fail(VOZ_ERR_INVALID, "alphabet: invalid UTF-8 at byte %ld", (long)(p - chars));
        }
        p += len;
        if ((s = alphabet_add(a, cp, cap)) != VOZ_OK) {
            voz_alphabet_release(a);
            return s;
        }
    }
    return VOZ_OK;
}

voz_status voz_alphabet_init_classes(struct voz_alphabet *a, const char *const *classes, int C, int blank)
{
    if (C < 2 || blank < 0 || blank >= C)
        return voz_fail(VOZ_ERR_INVALID, "alphabet: expected at least 2 classes and a blank among them, "
                        "found %d classes, blank %d", C, blank);
    /* Class indices must survive: only blank == 0 keeps "class = index + 1". */
    if (blank != 0)
        return voz_fail(VOZ_ERR_UNSUPPORTED, "alphabet: blank must be class 0, found %d", blank);
    voz_status s = alphabet_alloc(a, C - 1);
    if (s != VOZ_OK)
        return s;
    for (int k = 1; k < C; k++) {
        uint32_t cp;
        int len = classes[k] ? voz_utf8_decode(classes[k], &cp) : -1;
        if (len <= 0 || classes[k][len] != 0) {
            voz_alphabet_release(a);
            return voz_fail(VOZ_ERR_UNSUPPORTED, "alphabet: class %d is not a single character", k);
        }
        if ((s = alphabet_add(a, cp, C - 1)) != VOZ_OK) {
            voz_alphabet_release(a);
            return s;
        }
    }
    return VOZ_OK;
}

int voz_alphabet_class(const struct voz_alphabet *a, uint32_t cp)
{
    for (int k = 0; k < a->size; k++)
        if (a->cps[k] == cp)
            return k + 1;
    return -1;
}

int voz_alphabet_encode(const struct voz_alphabet *a, const char *text, int *labels, uint32_t *bad_cp)
{
    int L = 0;
    for (const char *p = text; *p;) {
        uint32_t cp;
        int len = voz_utf8_decode(p, &cp);
        if (len < 0) {
            if (bad_cp)
                *bad_cp = (unsigned char)*p;
            return -1;
        }
        p += len;
        int k = voz_alphabet_class(a, cp);
        if (k < 0) {
            if (bad_cp)
                *bad_cp = cp;
            return -1;
        }
        labels[L++] = k;
    }
    return L;
}

char *voz_alphabet_decode(const struct voz_alphabet *a, const int *labels, int L)
{
    size_t n = 0;
    for (int i = 0; i < L; i++)
        if (labels[i] >= 0 && labels[i] <= a->size)
            n += strlen(a->classes[labels[i]]);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (int i = 0; i < L; i++) {
        if (labels[i] < 0 || labels[i] > a->size)
            continue;
        size_t k = strlen(a->classes[labels[i]]);
        memcpy(out + o, a->classes[labels[i]], k);
        o += k;
    }
    out[o] = 0;
    return out;
}

const char *voz_text_describe_cp(uint32_t cp, char *buf)
{
    char enc[5];
    if (cp < 0x20 || cp == 0x7F)
        snprintf(buf, 32, "U+%04X", (unsigned)cp);
    else {
        voz_utf8_encode(cp, enc);
        snprintf(buf, 32, "'%s' (U+%04X)", enc, (unsigned)cp);
    }
    return buf;
}
