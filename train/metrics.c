/* train/metrics.c — Levenshtein distances over words and characters, and the word
   equivalences applied before scoring. */
#include "train/metrics.h"
#include "train/text.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t voz_metrics_edit_distance(const unsigned *a, size_t na, const unsigned *b, size_t nb)
{
    if (na == 0)
        return nb;
    if (nb == 0)
        return na;
    /* One row of the DP table, [nb + 1]; row i holds distances of a[0..i) to b[0..j). */
    size_t *row = malloc((nb + 1) * sizeof *row);
    if (!row)
        return (size_t)-1;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[nb];
    free(row);
    return d;
}

/* Tokenises normalised text: code points into chars[], word ids into words[] where
   equal words get equal ids by interning them in `dict` (a shared list of strings). */
struct tokens {
    unsigned *chars, *words;
    size_t n_chars, n_words;
};

struct dict {
    char **s;
    size_t n, cap;
};

static long dict_id(struct dict *d, const char *w, size_t len)
{
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->s[i]) == len && !memcmp(d->s[i], w, len))
            return (long)i;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        char **ns = realloc(d->s, nc * sizeof *ns);
        if (!ns)
            return -1;
        d->s = ns;
        d->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    memcpy(c, w, len);
    c[len] = 0;
    d->s[d->n] = c;
    return (long)d->n++;
}

static voz_status tokenize(const char *text, struct dict *d, struct tokens *t)
{
    size_t n = strlen(text);
    memset(t, 0, sizeof *t);
    t->chars = malloc((n + 1) * sizeof *t->chars);
    t->words = malloc((n + 1) * sizeof *t->words);
    if (!t->chars || !t->words)
        return voz_fail(VOZ_ERR_NOMEM, "metrics: out of memory");
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = voz_utf8_decode(text + i, &cp);
        if (len < 0)
            return voz_fail(VOZ_ERR_FORMAT, "metrics: invalid UTF-8 at byte %zu", i);
        t->chars[t->n_chars++] = cp;
        i += (size_t)len;
    }
    for (const char *p = text; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        long id = dict_id(d, p, len);
        if (id < 0)
            return voz_fail(VOZ_ERR_NOMEM, "metrics: out of memory");
        t->words[t->n_words++] = (unsigned)id;
        p += len;
        if (*p == ' ')
            p++;
    }
    return VOZ_OK;
}

voz_status voz_metrics_add(struct voz_error_counts *c, const char *ref, const char *hyp)
{
    long bad;
    char *r = voz_text_normalize(ref, &bad);
    char *h = voz_text_normalize(hyp, &bad);
    struct dict d = { 0 };
    struct tokens tr = { 0 }, th = { 0 };
    voz_status s = VOZ_OK;
    if (!r || !h)
        s = voz_fail(VOZ_ERR_FORMAT, "metrics: transcript is not valid UTF-8");
    if (s == VOZ_OK)
        s = tokenize(r, &d, &tr);
    if (s == VOZ_OK)
        s = tokenize(h, &d, &th);
    if (s == VOZ_OK) {
        size_t we = voz_metrics_edit_distance(tr.words, tr.n_words, th.words, th.n_words);
        size_t ce = voz_metrics_edit_distance(tr.chars, tr.n_chars, th.chars, th.n_chars);
        if (we == (size_t)-1 || ce == (size_t)-1) {
            s = voz_fail(VOZ_ERR_NOMEM, "metrics: out of memory");
        } else {
            c->word_errors += we;
            c->ref_words += tr.n_words;
            c->char_errors += ce;
            c->ref_chars += tr.n_chars;
            c->sent_errors += strcmp(r, h) != 0;
            c->sentences++;
        }
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.s[i]);
    free(d.s);
    free(tr.chars);
    free(tr.words);
    free(th.chars);
    free(th.words);
    free(r);
    free(h);
    return s;
}

static double rate(size_t err, size_t total)
{
    if (total == 0)
        return err ? 1.0 : 0.0;
    return (double)err / (double)total;
}

double voz_metrics_wer(const struct voz_error_counts *c) { return rate(c->word_errors, c->ref_words); }
double voz_metrics_cer(const struct voz_error_counts *c) { return rate(c->char_errors, c->ref_chars); }
double voz_metrics_ser(const struct voz_error_counts *c) { return rate(c->sent_errors, c->sentences); }

/* ---- word equivalences ---------------------------------------------------------------- */

voz_status voz_word_map_add(struct voz_word_map *m, const char *canonical, const char *alt)
{
    char *to = voz_text_normalize(canonical, NULL), *from = voz_text_normalize(alt, NULL);
    voz_status s = VOZ_OK;
    if (!to || !from)
        s = voz_fail(VOZ_ERR_FORMAT, "word equivalence '%s' = '%s': not valid UTF-8 text", alt, canonical);
    else if (!*to || !*from || strchr(to, ' ') || strchr(from, ' '))
        s = voz_fail(VOZ_ERR_FORMAT, "word equivalence '%s' = '%s': expected one word on each side", alt, canonical);
    if (s != VOZ_OK) {
        free(to);
        free(from);
        return s;
    }
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->from[i], from)) {
            free(m->to[i]);
            m->to[i] = to;
            free(from);
            return VOZ_OK;
        }
    if (m->n == m->cap) {
        int nc = m->cap ? 2 * m->cap : 8;
        char **nf = realloc(m->from, (size_t)nc * sizeof *nf);
        if (nf)
            m->from = nf;
        char **nt = nf ? realloc(m->to, (size_t)nc * sizeof *nt) : NULL;
        if (nt)
            m->to = nt;
        if (!nf || !nt) {
            free(to);
            free(from);
            return voz_fail(VOZ_ERR_NOMEM, "word equivalences: out of memory");
        }
        m->cap = nc;
    }
    m->from[m->n] = from;
    m->to[m->n++] = to;
    return VOZ_OK;
}

voz_status voz_word_map_read(const char *path, struct voz_word_map *m)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char buf[4096];
    int line = 0, pairs = 0;
    voz_status s = VOZ_OK;
    while (s == VOZ_OK && fgets(buf, sizeof buf, fp)) {
        line++;
        size_t n = strlen(buf);
        if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
            s = voz_fail(VOZ_ERR_FORMAT, "%s:%d: line longer than %zu bytes", path, line, sizeof buf - 2);
            break;
        }
        /* fgets stops at a newline, not at NUL: a shorter strlen means a NUL inside */
        if (n < sizeof buf - 1 && !feof(fp) && (n == 0 || buf[n - 1] != '\n')) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s:%d: NUL byte in the line, expected text", path, line);
            break;
        }
        char *start = buf;
        if (line == 1 && !memcmp(start, "\xEF\xBB\xBF", 3)) /* UTF-8 byte-order mark */
            start += 3;
        char *save = NULL, *canon = strtok_r(start, " \t\r\n", &save);
        if (!canon || canon[0] == '#')
            continue;
        char *alt = strtok_r(NULL, " \t\r\n", &save);
        if (!alt) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s:%d: '%s' alone, expected 'CANONICAL ALTERNATIVE...'", path, line, canon);
            break;
        }
        for (; alt && s == VOZ_OK; alt = strtok_r(NULL, " \t\r\n", &save), pairs++)
            if ((s = voz_word_map_add(m, canon, alt)) != VOZ_OK) {
                char why[512]; /* voz_fail writes the buffer voz_last_error returns */
                snprintf(why, sizeof why, "%s", voz_last_error());
                s = voz_fail(s, "%s:%d: %s", path, line, why);
            }
    }
    if (s == VOZ_OK && ferror(fp))
        s = voz_fail(VOZ_ERR_IO, "%s: read error (is it a directory?)", path);
    fclose(fp);
    if (s == VOZ_OK && pairs == 0)
        s = voz_fail(VOZ_ERR_FORMAT, "%s: no word equivalences, expected lines 'CANONICAL ALTERNATIVE...'", path);
    return s;
}

char *voz_word_map_apply(const struct voz_word_map *m, const char *text)
{
    char *norm = voz_text_normalize(text, NULL);
    if (!norm || !m->n)
        return norm;
    /* A mapped word may be longer than the original: size the result for the worst. */
    size_t longest = 0, words = 1;
    for (int i = 0; i < m->n; i++)
        if (strlen(m->to[i]) > longest)
            longest = strlen(m->to[i]);
    for (const char *c = norm; *c; c++)
        words += *c == ' ';
    size_t cap = strlen(norm) + words * longest + 1;
    char *out = malloc(cap), *o = out;
    if (!out) {
        free(norm);
        return NULL;
    }
    *o = 0;
    char *save = NULL;
    for (char *w = strtok_r(norm, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        const char *rep = w;
        for (int i = 0; i < m->n; i++)
            if (!strcmp(m->from[i], w)) {
                rep = m->to[i];
                break;
            }
        o += snprintf(o, cap - (size_t)(o - out), "%s%s", o == out ? "" : " ", rep);
    }
    free(norm);
    return out;
}

void voz_word_map_release(struct voz_word_map *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->from[i]);
        free(m->to[i]);
    }
    free(m->from);
    free(m->to);
    memset(m, 0, sizeof *m);
}
