/* train/manifest.c — TSV and DeepSpeech CSV manifests, and word lists. The parser
   works on the whole file in memory: manifests are text of at most a few MB. */
#include "train/manifest.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX_BYTES ((size_t)1 << 30)

/* One raw row before validation: pointers into a scratch copy of the text. */
struct raw_row {
    char *path, *text;
    int line;
};

struct parser {
    const char *name;
    char *dir;           /* manifest folder with a trailing '/', or "" */
    const struct voz_alphabet *alpha;
    int skip_bad;
    struct voz_manifest *out;
    int cap;
};

static voz_status read_all(const char *path, char **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (n < cap)
            break;
        if (cap >= MANIFEST_MAX_BYTES) {
            free(b);
            fclose(fp);
            return voz_fail(VOZ_ERR_FORMAT, "%s: larger than %zu bytes, expected a text manifest", path,
                            MANIFEST_MAX_BYTES);
        }
        cap *= 2;
        char *nb = realloc(b, cap + 1);
        if (!nb)
            free(b);
        b = nb;
    }
    int err = ferror(fp);
    fclose(fp);
    if (!b)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(b);
        return voz_fail(VOZ_ERR_IO, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return VOZ_OK;
}

/* Reports a bad row: an error, or with skip_bad a warning and VOZ_OK (row dropped). */
static voz_status bad_row(struct parser *ps, voz_status s, const char *msg)
{
    if (!ps->skip_bad)
        return voz_fail(s, "%s", msg);
    voz_log(VOZ_LOG_WARN, "%s (row skipped)", msg);
    ps->out->n_skipped++;
    return VOZ_OK;
}

static voz_status add_row(struct parser *ps, const struct raw_row *r)
{
    char msg[1024];
    struct voz_manifest *m = ps->out;
    if (!*r->path) {
        snprintf(msg, sizeof msg, "%s:%d: empty audio path", ps->name, r->line);
        return bad_row(ps, VOZ_ERR_FORMAT, msg);
    }
    long bad = 0;
    char *text = voz_text_normalize(r->text, &bad);
    if (!text) {
        if (bad < 0)
            return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", ps->name);
        snprintf(msg, sizeof msg, "%s:%d: transcript is not valid UTF-8 (byte %ld)", ps->name, r->line, bad + 1);
        return bad_row(ps, VOZ_ERR_FORMAT, msg);
    }
    if (!*text) {
        voz_log(VOZ_LOG_WARN, "%s:%d: empty transcript (row skipped)", ps->name, r->line);
        m->n_skipped++;
        free(text);
        return VOZ_OK;
    }
    int *labels = malloc((strlen(text) + 1) * sizeof *labels);
    if (!labels) {
        free(text);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", ps->name);
    }
    uint32_t cp = 0;
    int L = voz_alphabet_encode(ps->alpha, text, labels, &cp);
    if (L < 0) {
        char d[32];
        snprintf(msg, sizeof msg, "%s:%d: character %s is not in the model's alphabet", ps->name, r->line,
                 voz_text_describe_cp(cp, d));
        free(text);
        free(labels);
        return bad_row(ps, VOZ_ERR_FORMAT, msg);
    }
    char *path;
    if (r->path[0] == '/' || !ps->dir[0]) {
        path = strdup(r->path);
    } else {
        size_t n = strlen(ps->dir) + strlen(r->path) + 1;
        path = malloc(n);
        if (path)
            snprintf(path, n, "%s%s", ps->dir, r->path);
    }
    if (!path || (m->n_rows == ps->cap && ps->cap > (1 << 28))) {
        free(path);
        free(text);
        free(labels);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", ps->name);
    }
    if (m->n_rows == ps->cap) {
        int nc = ps->cap ? ps->cap * 2 : 256;
        struct voz_manifest_row *nr = realloc(m->rows, (size_t)nc * sizeof *nr);
        if (!nr) {
            free(path);
            free(text);
            free(labels);
            return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", ps->name);
        }
        m->rows = nr;
        ps->cap = nc;
    }
    m->rows[m->n_rows++] = (struct voz_manifest_row){
        .path = path, .text = text, .labels = labels, .n_labels = L, .line = r->line };
    return VOZ_OK;
}

/* Trims ASCII spaces and tabs at both ends in place (paths in TSV/CSV fields). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static voz_status parse_tsv(struct parser *ps, char *text)
{
    char msg[512];
    int line = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = 0;
        line++;
        size_t n = strlen(p);
        if (n && p[n - 1] == '\r')
            p[--n] = 0;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (*q) {
            char *tab = strchr(p, '\t');
            if (!tab) {
                snprintf(msg, sizeof msg, "%s:%d: expected 'path<TAB>transcript', found no tab", ps->name, line);
                voz_status s = bad_row(ps, VOZ_ERR_FORMAT, msg);
                if (s != VOZ_OK)
                    return s;
            } else {
                *tab = 0;
                /* A third column (a speaker, a duration) would otherwise become words of
                   the transcript: an error naming it. Trailing tabs alone are harmless. */
                char *tab2 = strchr(tab + 1, '\t');
                char *extra = tab2 ? tab2 + strspn(tab2, " \t") : NULL;
                if (extra && *extra) {
                    int cols = 2;
                    for (char *t = tab2; t; t = strchr(t + 1, '\t'))
                        cols++;
                    snprintf(msg, sizeof msg, "%s:%d: %d tab-separated columns, expected 2 (path<TAB>transcript); "
                             "column 3 is '%.40s%s' (a transcript cannot contain a tab)", ps->name, line, cols,
                             tab2 + 1, strlen(tab2 + 1) > 40 ? "..." : "");
                    voz_status s = bad_row(ps, VOZ_ERR_FORMAT, msg);
                    if (s != VOZ_OK)
                        return s;
                    p = next;
                    continue;
                }
                if (tab2)
                    *tab2 = 0;
                struct raw_row r = { .path = trim(p), .text = tab + 1, .line = line };
                voz_status s = add_row(ps, &r);
                if (s != VOZ_OK)
                    return s;
            }
        }
        p = next;
    }
    return VOZ_OK;
}

/* One CSV record starting at *pp: fields are unquoted in place (the text is a scratch
   copy) and their starts stored in f[] (at most max). Advances *pp past the record and
   *line past its line breaks. Returns the field count, or -1 for an unterminated quote. */
static int csv_record(char **pp, int *line, char **f, int max, int *nf_total)
{
    char *p = *pp, *w = p;
    int nf = 0, total = 0;
    for (;;) {
        char *start = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    (*line)++;
                *w++ = *p++;
            }
            /* Text between the closing quote and the separator is kept verbatim. */
            while (*p && *p != ',' && *p != '\n')
                *w++ = *p++;
        } else {
            while (*p && *p != ',' && *p != '\n')
                *w++ = *p++;
        }
        char sep = *p;
        if (sep)
            p++;
        *w++ = 0;
        if (nf < max)
            f[nf++] = start;
        total++;
        if (sep != ',') {
            if (sep == '\n')
                (*line)++;
            break;
        }
    }
    /* Drop the CR of a CRLF line end from the last field. */
    if (nf) {
        size_t n = strlen(f[nf - 1]);
        if (n && f[nf - 1][n - 1] == '\r')
            f[nf - 1][n - 1] = 0;
    }
    *pp = p;
    *nf_total = total;
    return nf;
}

#define CSV_MAX_FIELDS 64

static voz_status parse_csv(struct parser *ps, char *text)
{
    char msg[512];
    char *f[CSV_MAX_FIELDS];
    int line = 1, total;
    char *p = text;
    int nf = csv_record(&p, &line, f, CSV_MAX_FIELDS, &total);
    int c_path = -1, c_text = -1;
    for (int i = 0; i < nf; i++) {
        char *h = trim(f[i]);
        int *c = !strcmp(h, "wav_filename") ? &c_path : !strcmp(h, "transcript") ? &c_text : NULL;
        if (c && *c >= 0) /* which one is meant cannot be guessed */
            return voz_fail(VOZ_ERR_FORMAT, "%s:1: CSV header has column '%s' twice (fields %d and %d)", ps->name,
                            h, *c + 1, i + 1);
        if (c)
            *c = i;
    }
    if (c_path < 0 || c_text < 0)
        return voz_fail(VOZ_ERR_FORMAT, "%s:1: CSV header needs columns 'wav_filename' and 'transcript'", ps->name);
    int header_fields = total;
    while (*p) {
        int row_line = line;
        nf = csv_record(&p, &line, f, CSV_MAX_FIELDS, &total);
        if (nf < 0)
            return voz_fail(VOZ_ERR_FORMAT, "%s:%d: unterminated quoted field", ps->name, row_line);
        if (nf == 1 && !*trim(f[0]))
            continue; /* blank line */
        if (total != header_fields) {
            snprintf(msg, sizeof msg, "%s:%d: expected %d fields as in the header, found %d", ps->name, row_line,
                     header_fields, total);
            voz_status s = bad_row(ps, VOZ_ERR_FORMAT, msg);
            if (s != VOZ_OK)
                return s;
            continue;
        }
        struct raw_row r = { .path = trim(f[c_path]), .text = f[c_text], .line = row_line };
        voz_status s = add_row(ps, &r);
        if (s != VOZ_OK)
            return s;
    }
    return VOZ_OK;
}

static int is_csv_header(const char *text)
{
    const char *nl = strchr(text, '\n');
    size_t n = nl ? (size_t)(nl - text) : strlen(text);
    const char *key = "wav_filename";
    for (size_t i = 0; i + strlen(key) <= n; i++)
        if (!strncmp(text + i, key, strlen(key)))
            return memchr(text, ',', n) != NULL;
    return 0;
}

static int cmp_row_key(const void *a, const void *b, void *rows_)
{
    const struct voz_manifest_row *rows = rows_;
    const struct voz_manifest_row *x = &rows[*(const int *)a], *y = &rows[*(const int *)b];
    int c = strcmp(x->path, y->path);
    if (!c)
        c = strcmp(x->text, y->text);
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    return c;
}

static void warn_duplicates(struct voz_manifest *m)
{
    if (m->n_rows < 2)
        return;
    int *idx = malloc((size_t)m->n_rows * sizeof *idx);
    if (!idx)
        return; /* a missing warning is not worth failing for */
    for (int i = 0; i < m->n_rows; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)m->n_rows, sizeof *idx, cmp_row_key, m->rows);
    /* Sorted by (path, text, line): each run of equal keys starts with its original. */
    int first_dup = -1, first_orig = -1, run = 0;
    for (int i = 1; i < m->n_rows; i++) {
        const struct voz_manifest_row *o = &m->rows[idx[run]], *b = &m->rows[idx[i]];
        if (strcmp(o->path, b->path) || strcmp(o->text, b->text)) {
            run = i;
            continue;
        }
        m->n_duplicates++;
        if (first_dup < 0 || b->line < first_dup) {
            first_dup = b->line;
            first_orig = o->line;
        }
    }
    free(idx);
    if (m->n_duplicates)
        voz_log(VOZ_LOG_WARN, "%s:%d: %d duplicate row%s (this one repeats line %d); duplicates are kept",
                m->name, first_dup, m->n_duplicates, m->n_duplicates == 1 ? "" : "s", first_orig);
}

/* Rows' relative paths resolve against the first dlen bytes of name (its folder). */
static voz_status parse_in(const char *text, size_t len, const char *name, size_t dlen,
                           const struct voz_alphabet *alpha, int skip_bad, struct voz_manifest *out)
{
    memset(out, 0, sizeof *out);
    if (memchr(text, 0, len))
        return voz_fail(VOZ_ERR_FORMAT, "%s: contains a NUL byte, expected a text manifest", name);
    char *buf = malloc(len + 1);
    out->name = strdup(name);
    char *dir = malloc(dlen + 1);
    if (!buf || !out->name || !dir) {
        free(buf);
        free(dir);
        voz_manifest_release(out);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(buf, text, len);
    buf[len] = 0;
    memcpy(dir, name, dlen);
    dir[dlen] = 0;
    char *body = buf;
    if (len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3))
        body += 3;
    struct parser ps = { .name = name, .dir = dir, .alpha = alpha, .skip_bad = skip_bad, .out = out };
    voz_status s = is_csv_header(body) ? parse_csv(&ps, body) : parse_tsv(&ps, body);
    free(buf);
    free(dir);
    if (s != VOZ_OK) {
        voz_manifest_release(out);
        return s;
    }
    warn_duplicates(out);
    return VOZ_OK;
}

voz_status voz_manifest_parse(const char *text, size_t len, const char *name, const struct voz_alphabet *alpha,
                              int skip_bad, struct voz_manifest *out)
{
    const char *slash = strrchr(name, '/');
    return parse_in(text, len, name, slash ? (size_t)(slash - name) + 1 : 0, alpha, skip_bad, out);
}

voz_status voz_manifest_read(const char *path, const struct voz_alphabet *alpha, int skip_bad,
                             struct voz_manifest *out)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    /* A manifest that is not a file (`voz eval <(grep ... m.tsv)`, /dev/stdin) has no
       folder of its own: its rows are relative to the current one, as with `-`. */
    int piped = voz_not_regular_file(path) != NULL;
    voz_status s = read_all(path, &buf, &len);
    if (s != VOZ_OK)
        return s;
    s = piped ? parse_in(buf, len, path, 0, alpha, skip_bad, out) : voz_manifest_parse(buf, len, path, alpha, skip_bad, out);
    free(buf);
    return s;
}

void voz_manifest_release(struct voz_manifest *m)
{
    for (int i = 0; i < m->n_rows; i++) {
        free(m->rows[i].path);
        free(m->rows[i].text);
        free(m->rows[i].labels);
    }
    free(m->rows);
    free(m->name);
    memset(m, 0, sizeof *m);
}

voz_status voz_words_read(const char *path, const struct voz_alphabet *alpha, char ***words, int *n)
{
    char *buf;
    size_t len;
    *words = NULL;
    *n = 0;
    voz_status s = read_all(path, &buf, &len);
    if (s != VOZ_OK)
        return s;
    char **w = NULL;
    int nw = 0, cap = 0, line = 0;
    char *body = buf;
    if (len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3))
        body += 3;
    for (char *p = body; *p && s == VOZ_OK;) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = 0;
        line++;
        long bad = 0;
        char *word = voz_text_normalize(p, &bad);
        p = next;
        if (!word) {
            s = bad < 0 ? voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path)
                        : voz_fail(VOZ_ERR_FORMAT, "%s:%d: not valid UTF-8 (byte %ld)", path, line, bad + 1);
            break;
        }
        if (!*word) {
            free(word);
            continue;
        }
        int *labels = malloc((strlen(word) + 1) * sizeof *labels);
        uint32_t cp = 0;
        int L = labels ? voz_alphabet_encode(alpha, word, labels, &cp) : -2;
        free(labels);
        char d[32];
        if (L == -2)
            s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
        else if (strchr(word, ' '))
            s = voz_fail(VOZ_ERR_FORMAT, "%s:%d: expected one word per line, found '%s'", path, line, word);
        else if (L < 0)
            s = voz_fail(VOZ_ERR_FORMAT, "%s:%d: character %s is not in the model's alphabet", path, line,
                         voz_text_describe_cp(cp, d));
        if (s == VOZ_OK && nw == cap) {
            cap = cap ? cap * 2 : 64;
            char **nwp = realloc(w, (size_t)cap * sizeof *nwp);
            if (!nwp)
                s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
            else
                w = nwp;
        }
        if (s != VOZ_OK) {
            free(word);
            break;
        }
        w[nw++] = word;
    }
    free(buf);
    if (s == VOZ_OK && nw == 0)
        s = voz_fail(VOZ_ERR_FORMAT, "%s: no words, expected one word per line", path);
    if (s != VOZ_OK) {
        voz_words_free(w, nw);
        return s;
    }
    *words = w;
    *n = nw;
    return VOZ_OK;
}

void voz_words_free(char **words, int n)
{
    for (int i = 0; i < n; i++)
        free(words[i]);
    free(words);
}
