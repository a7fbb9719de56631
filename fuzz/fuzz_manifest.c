/* fuzz/fuzz_manifest.c — libFuzzer target for the manifest and word-list parsers
   (train/manifest.c, train/text.c): the input is a manifest's text, parsed with the
   default alphabet and with a non-ASCII one, strict and with skip_bad, and read as a
   word list. Invariants: a refusal names the manifest in one line; every row has a
   path, a non-empty normalised transcript whose labels decode back to it, and a line
   number inside the file, rows in file order; skip_bad accepts whatever strict mode
   accepts, with the same rows. */
#include "fuzz/fuzz.h"
#include "train/manifest.h"
#include "common/util.h"

#define FUZZ_MANIFEST_NAME "fuzzdir/m.tsv"

static void manifest_refusal(voz_status s, const char *name)
{
    const char *e = voz_last_error();
    size_t n = strlen(name);
    FUZZ_CHECK(s != VOZ_OK, "status %d", (int)s);
    FUZZ_CHECK(!strncmp(e, name, n) && e[n] == ':', "message '%s' does not name %s", e, name);
    FUZZ_CHECK(!strchr(e, '\n'), "message '%s' is not one line", e);
}

static void manifest_rows(const struct voz_manifest *m, const struct voz_alphabet *alpha, int lines)
{
    FUZZ_CHECK(m->n_rows >= 0 && m->n_duplicates >= 0 && m->n_duplicates <= m->n_rows, "%d rows, %d duplicates",
               m->n_rows, m->n_duplicates);
    int prev = 0;
    for (int i = 0; i < m->n_rows; i++) {
        const struct voz_manifest_row *r = &m->rows[i];
        FUZZ_CHECK(r->path && r->path[0], "row %d has no path", i);
        FUZZ_CHECK(r->path[0] == '/' || !strncmp(r->path, "fuzzdir/", 8), "row %d path '%s' not resolved", i,
                   r->path);
        FUZZ_CHECK(r->text && r->text[0] && r->n_labels >= 1, "row %d has an empty transcript", i);
        FUZZ_CHECK(r->line > prev && r->line <= lines, "row %d at line %d (previous %d, file has %d)", i, r->line,
                   prev, lines);
        prev = r->line;
        for (int k = 0; k < r->n_labels; k++)
            FUZZ_CHECK(r->labels[k] >= 1 && r->labels[k] <= alpha->size, "row %d label %d is %d", i, k,
                       r->labels[k]);
        char *back = voz_alphabet_decode(alpha, r->labels, r->n_labels);
        FUZZ_CHECK(back && !strcmp(back, r->text), "row %d labels decode to '%s', text '%s'", i, back ? back : "",
                   r->text);
        free(back);
        char *again = voz_text_normalize(r->text, NULL);
        FUZZ_CHECK(again && !strcmp(again, r->text), "row %d text '%s' is not normalised", i, r->text);
        free(again);
    }
}

static void parse_with(const char *text, size_t len, const struct voz_alphabet *alpha, int lines)
{
    struct voz_manifest strict, lax;
    voz_status s1 = voz_manifest_parse(text, len, FUZZ_MANIFEST_NAME, alpha, 0, &strict);
    if (s1 == VOZ_OK)
        manifest_rows(&strict, alpha, lines);
    else
        manifest_refusal(s1, FUZZ_MANIFEST_NAME);
    voz_status s2 = voz_manifest_parse(text, len, FUZZ_MANIFEST_NAME, alpha, 1, &lax);
    if (s2 == VOZ_OK)
        manifest_rows(&lax, alpha, lines);
    else
        manifest_refusal(s2, FUZZ_MANIFEST_NAME);
    if (s1 == VOZ_OK) {
        FUZZ_CHECK(s2 == VOZ_OK, "skip_bad refuses what strict mode accepts: %s", voz_last_error());
        FUZZ_CHECK(lax.n_rows == strict.n_rows, "skip_bad gives %d rows, strict %d", lax.n_rows, strict.n_rows);
        for (int i = 0; i < strict.n_rows; i++)
            FUZZ_CHECK(!strcmp(lax.rows[i].path, strict.rows[i].path) &&
                           !strcmp(lax.rows[i].text, strict.rows[i].text) && lax.rows[i].line == strict.rows[i].line,
                       "row %d differs between strict and skip_bad", i);
        voz_manifest_release(&strict);
    }
    if (s2 == VOZ_OK)
        voz_manifest_release(&lax);
}

static int fuzz_manifest_one(const uint8_t *data, size_t size)
{
    static struct voz_alphabet ascii, other;
    static int ready;
    if (!ready) {
        /* Multibyte classes too: Latin-1, Greek, Cyrillic and a CJK character. */
        if (voz_alphabet_init(&ascii, VOZ_DEFAULT_ALPHABET) ||
            voz_alphabet_init(&other, " ae\xC3\xA9\xC3\xB1\xCE\xB1\xD0\xB6\xE4\xB8\xAD-"))
            abort();
        ready = 1;
    }
    const char *text = (const char *)data;
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    /* memchr/memcpy of a NULL pointer are undefined even for 0 bytes. */
    static const char empty[1] = "";
    parse_with(size ? text : empty, size, &ascii, lines);
    parse_with(size ? text : empty, size, &other, lines);

    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    char **words = NULL;
    int n = 0;
    voz_status s = voz_words_read(path, &ascii, &words, &n);
    if (s == VOZ_OK) {
        FUZZ_CHECK(n >= 1 && words, "%d words", n);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(words[i][0] && !strchr(words[i], ' '), "word %d is '%s'", i, words[i]);
        voz_words_free(words, n);
    } else {
        FUZZ_CHECK(!words && !n, "words returned with an error");
        manifest_refusal(s, path);
    }
    close(fd);
    return 0;
}

#ifndef VOZ_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_manifest_one(data, size); }
#endif
