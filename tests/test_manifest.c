/* tests/test_manifest.c — manifests (TSV, DeepSpeech CSV with quoting, BOM, CRLF,
   relative paths), transcript normalisation, alphabet errors naming file, line and
   character, empty transcripts, duplicates, --skip-bad, and word lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "train/manifest.h"
#include "train/text.h"

/* Warnings the library logs, collected for inspection. */
static char warnings[16][512];
static int n_warnings;

static void collect(voz_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == VOZ_LOG_WARN && n_warnings < 16)
        snprintf(warnings[n_warnings++], sizeof warnings[0], "%s", msg);
}

static struct voz_alphabet alpha;

static int setup(void **state)
{
    (void)state;
    n_warnings = 0;
    voz_set_log(collect, NULL);
    return voz_alphabet_init(&alpha, VOZ_DEFAULT_ALPHABET) == VOZ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    voz_alphabet_release(&alpha);
    voz_set_log(NULL, NULL);
    return 0;
}

static voz_status parse(const char *text, const char *name, int skip_bad, struct voz_manifest *m)
{
    return voz_manifest_parse(text, strlen(text), name, &alpha, skip_bad, m);
}

static void test_tsv_relative_paths_and_lines(void **state)
{
    (void)state;
    struct voz_manifest m;
    const char *text = "a.wav\tone two\n"
                       "\n"
                       "sub/b.wav\tthree\n"
                       "/abs/c.wav\tfour\n";
    assert_int_equal(parse(text, "data/set/train.tsv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 3);
    assert_string_equal(m.rows[0].path, "data/set/a.wav");
    assert_string_equal(m.rows[1].path, "data/set/sub/b.wav");
    assert_string_equal(m.rows[2].path, "/abs/c.wav");
    assert_int_equal(m.rows[0].line, 1);
    assert_int_equal(m.rows[1].line, 3);
    assert_int_equal(m.rows[2].line, 4);
    assert_string_equal(m.rows[0].text, "one two");
    /* Labels: space is class 1, 'a' class 2 ... (blank 0). */
    assert_int_equal(m.rows[0].n_labels, 7);
    assert_int_equal(m.rows[0].labels[0], 'o' - 'a' + 2);
    assert_int_equal(m.rows[0].labels[3], 1);
    voz_manifest_release(&m);
    /* No folder in the name: paths stay relative to the working directory. */
    assert_int_equal(parse("x.wav\tfive\n", "train.tsv", 0, &m), VOZ_OK);
    assert_string_equal(m.rows[0].path, "x.wav");
    voz_manifest_release(&m);
    assert_int_equal(n_warnings, 0);
}

static void test_bom_crlf_and_normalisation(void **state)
{
    (void)state;
    struct voz_manifest m;
    const char *text = "\xEF\xBB\xBF" "a.wav\t  Hello   WORLD \r\n"
                       "b.wav\tIt's   TAB\xC2\xA0" "separated\t \t\r\n"
                       "c.wav\tlast line without newline";
    assert_int_equal(parse(text, "m.tsv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 3);
    assert_string_equal(m.rows[0].path, "a.wav"); /* the BOM is not part of the path */
    assert_string_equal(m.rows[0].text, "hello world");
    assert_string_equal(m.rows[1].text, "it's tab separated");
    assert_string_equal(m.rows[2].text, "last line without newline");
    voz_manifest_release(&m);
}

static void test_csv_header_and_quotes(void **state)
{
    (void)state;
    struct voz_manifest m;
    const char *text = "wav_filename,wav_filesize,transcript\r\n"
                       "clips/a.wav,1234,one\r\n"
                       "\"clips/with, comma.wav\",99,\"two three\"\r\n"
                       "\"q\"\"uote.wav\",1,\"four\nfive\"\r\n"
                       "/abs/d.wav,5,  SIX  \r\n";
    assert_int_equal(parse(text, "corpus/train.csv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 4);
    assert_string_equal(m.rows[0].path, "corpus/clips/a.wav");
    assert_string_equal(m.rows[0].text, "one");
    assert_int_equal(m.rows[0].line, 2);
    assert_string_equal(m.rows[1].path, "corpus/clips/with, comma.wav");
    assert_string_equal(m.rows[1].text, "two three");
    assert_string_equal(m.rows[2].path, "corpus/q\"uote.wav");
    assert_string_equal(m.rows[2].text, "four five"); /* a line break inside quotes is white space */
    assert_int_equal(m.rows[2].line, 4);
    assert_string_equal(m.rows[3].path, "/abs/d.wav");
    assert_string_equal(m.rows[3].text, "six");
    assert_int_equal(m.rows[3].line, 6); /* the quoted line break counted */
    voz_manifest_release(&m);

    /* Columns in another order, with a BOM. */
    assert_int_equal(parse("\xEF\xBB\xBFtranscript,wav_filename\nseven,x.wav\n", "t.csv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 1);
    assert_string_equal(m.rows[0].path, "x.wav");
    assert_string_equal(m.rows[0].text, "seven");
    voz_manifest_release(&m);

    /* A row with the wrong field count, an unterminated quote. */
    assert_int_equal(parse("wav_filename,wav_filesize,transcript\na.wav,1\n", "bad.csv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "bad.csv:2: expected 3 fields as in the header, found 2");
    assert_int_equal(parse("wav_filename,wav_filesize,transcript\n\"a.wav,1,x\n", "q.csv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "q.csv:2: unterminated quoted field");
    /* A column named twice: which one is meant cannot be guessed (the last one won). */
    assert_int_equal(parse("wav_filename,wav_filename,transcript\na.wav,b.wav,x\n", "d.csv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "d.csv:1: CSV header has column 'wav_filename' twice (fields 1 and 2)");
}

static void test_bad_character_names_line(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 1; i <= 11; i++)
        strcat(text, "ok.wav\tfine\n");
    strcat(text, "bad.wav\tnumber #1\n");
    struct voz_manifest m;
    assert_int_equal(parse(text, "dev.tsv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "dev.tsv:12: character '#' (U+0023) is not in the model's alphabet");
    assert_int_equal(m.n_rows, 0);
    assert_null(m.rows);

    /* A non-ASCII character is named by its UTF-8 and code point. */
    assert_int_equal(parse("a.wav\tcaf\xC3\xA9\n", "fr.tsv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "fr.tsv:1: character '\xC3\xA9' (U+00E9) is not in the model's alphabet");

    /* With skip_bad: a warning naming the line, the row dropped, the rest kept. */
    n_warnings = 0;
    assert_int_equal(parse(text, "dev.tsv", 1, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 11);
    assert_int_equal(m.n_skipped, 1);
    assert_int_equal(n_warnings >= 1, 1);
    assert_non_null(strstr(warnings[0], "dev.tsv:12: character '#' (U+0023)"));
    voz_manifest_release(&m);

    /* Invalid UTF-8 and a missing tab are errors naming the line. */
    assert_int_equal(parse("a.wav\tok\nb.wav\tbad \xFF byte\n", "u.tsv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "u.tsv:2: transcript is not valid UTF-8 (byte 5)");
    assert_int_equal(parse("a.wav one\n", "t.tsv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "t.tsv:1: expected 'path<TAB>transcript', found no tab");
}

/* A third TSV column is an error naming the line, the column count and the column
   (with --skip-bad a warning and the row dropped); trailing tabs are not a column.
   DeepSpeech CSV finds its columns by the header and ignores extra ones. */
static void test_extra_columns(void **state)
{
    (void)state;
    struct voz_manifest m;
    const char *tsv = "a.wav\tone two\n"
                      "b.wav\tthree\tspeaker1\n"
                      "c.wav\tfour\t\t\n";
    assert_int_equal(parse(tsv, "x.tsv", 0, &m), VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "x.tsv:2: 3 tab-separated columns, expected 2 (path<TAB>transcript); "
                                          "column 3 is 'speaker1' (a transcript cannot contain a tab)");
    n_warnings = 0;
    assert_int_equal(parse(tsv, "x.tsv", 1, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 2);
    assert_int_equal(m.n_skipped, 1);
    assert_string_equal(m.rows[0].text, "one two");
    assert_string_equal(m.rows[1].text, "four");
    assert_int_equal(n_warnings, 1);
    assert_non_null(strstr(warnings[0], "x.tsv:2: 3 tab-separated columns"));
    voz_manifest_release(&m);

    const char *csv = "speaker,wav_filename,wav_filesize,transcript,duration\n"
                      "s1,a.wav,1000,One Two,0.5\n"
                      "s2,\"b,c.wav\",2000,\"three, four\",1.5\n";
    assert_int_equal(parse(csv, "x.csv", 0, &m), VOZ_ERR_FORMAT); /* ',' is not in the alphabet */
    assert_non_null(strstr(voz_last_error(), "x.csv:3: character ','"));
    csv = "speaker,wav_filename,wav_filesize,transcript,duration\n"
          "s1,a.wav,1000,One Two,0.5\n"
          "s2,\"b,c.wav\",2000,\"three four\",1.5\n";
    assert_int_equal(parse(csv, "x.csv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 2);
    assert_string_equal(m.rows[0].path, "a.wav");
    assert_string_equal(m.rows[0].text, "one two");
    assert_string_equal(m.rows[1].path, "b,c.wav");
    assert_string_equal(m.rows[1].text, "three four");
    voz_manifest_release(&m);
}

static void test_empty_transcript_skipped(void **state)
{
    (void)state;
    struct voz_manifest m;
    n_warnings = 0;
    assert_int_equal(parse("a.wav\tone\nb.wav\t   \nc.wav\t\n", "e.tsv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 1);
    assert_int_equal(m.n_skipped, 2);
    assert_int_equal(n_warnings, 2);
    assert_string_equal(warnings[0], "e.tsv:2: empty transcript (row skipped)");
    assert_string_equal(warnings[1], "e.tsv:3: empty transcript (row skipped)");
    voz_manifest_release(&m);
}

static void test_duplicates_kept_and_warned_once(void **state)
{
    (void)state;
    struct voz_manifest m;
    n_warnings = 0;
    const char *text = "a.wav\tone\n"
                       "b.wav\ttwo\n"
                       "a.wav\tONE\n"  /* same after normalisation */
                       "a.wav\tone\n"
                       "b.wav\tthree\n"; /* same file, other text: not a duplicate */
    assert_int_equal(parse(text, "d.tsv", 0, &m), VOZ_OK);
    assert_int_equal(m.n_rows, 5);
    assert_int_equal(m.n_duplicates, 2);
    assert_int_equal(n_warnings, 1);
    assert_string_equal(warnings[0], "d.tsv:3: 2 duplicate rows (this one repeats line 1); duplicates are kept");
    voz_manifest_release(&m);
}

static void test_normalise_text(void **state)
{
    (void)state;
    long bad = 0;
    char *s = voz_text_normalize("  \xC3\x89" "COLE  \t \xC3\x9C" "BER\xC3\x9F \xCE\xA3\xCE\x9F\xCE\xA6 \xD0\x94\xD0\x90  ", &bad);
    assert_non_null(s);
    /* École -> école, ÜBERß -> überß, ΣΟΦ -> σοφ, ДА -> да; runs of white space -> one. */
    assert_string_equal(s, "\xC3\xA9" "cole \xC3\xBC" "ber\xC3\x9F \xCF\x83\xCE\xBF\xCF\x86 \xD0\xB4\xD0\xB0");
    free(s);
    s = voz_text_normalize("\xC4\x80\xC5\x81\xC5\xB8", &bad); /* Ā Ł Ÿ */
    assert_string_equal(s, "\xC4\x81\xC5\x82\xC3\xBF");
    free(s);
    assert_null(voz_text_normalize("ok \xC3", &bad)); /* truncated sequence */
    assert_int_equal(bad, 3);
    assert_null(voz_text_normalize("\xC0\xAF", &bad)); /* overlong '/' */
    assert_null(voz_text_normalize("\xED\xA0\x80", &bad)); /* surrogate */
    s = voz_text_normalize(" \t\r\n", &bad);
    assert_string_equal(s, "");
    free(s);
}

static void test_alphabet(void **state)
{
    (void)state;
    struct voz_alphabet a;
    assert_int_equal(voz_alphabet_init(&a, " ab\xC3\xA9"), VOZ_OK);
    assert_int_equal(a.size, 4);
    assert_string_equal(a.classes[0], "");
    assert_string_equal(a.classes[4], "\xC3\xA9");
    assert_int_equal(voz_alphabet_class(&a, 0xE9), 4);
    assert_int_equal(voz_alphabet_class(&a, 'z'), -1);
    int labels[8];
    uint32_t cp = 0;
    assert_int_equal(voz_alphabet_encode(&a, "b\xC3\xA9 a", labels, &cp), 4);
    assert_int_equal(labels[1], 4);
    char *t = voz_alphabet_decode(&a, labels, 4);
    assert_string_equal(t, "b\xC3\xA9 a");
    free(t);
    assert_int_equal(voz_alphabet_encode(&a, "abc", labels, &cp), -1);
    assert_int_equal(cp, 'c');
    const char *classes[5] = { "", " ", "a", "b", "\xC3\xA9" };
    struct voz_alphabet b;
    assert_int_equal(voz_alphabet_init_classes(&b, classes, 5, 0), VOZ_OK);
    assert_int_equal(voz_alphabet_class(&b, 0xE9), 4);
    voz_alphabet_release(&b);
    voz_alphabet_release(&a);
    assert_int_equal(voz_alphabet_init(&a, "abca"), VOZ_ERR_INVALID); /* duplicate */
}

static void test_words_file(void **state)
{
    (void)state;
    char path[] = "/tmp/voz_words_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "\xEF\xBB\xBFOne\r\n two \n\nthree\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char **w;
    int n;
    assert_int_equal(voz_words_read(path, &alpha, &w, &n), VOZ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(w[0], "one");
    assert_string_equal(w[1], "two");
    assert_string_equal(w[2], "three");
    voz_words_free(w, n);
    FILE *fp = fopen(path, "w");
    fputs("one\ntwo words\n", fp);
    fclose(fp);
    assert_int_equal(voz_words_read(path, &alpha, &w, &n), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), ":2: expected one word per line"));
    fp = fopen(path, "w");
    fputs("one\nn0pe\n", fp);
    fclose(fp);
    assert_int_equal(voz_words_read(path, &alpha, &w, &n), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), ":2: character '0' (U+0030) is not in the model's alphabet"));
    unlink(path);
}

static void test_read_missing_file(void **state)
{
    (void)state;
    struct voz_manifest m;
    assert_int_equal(voz_manifest_read("/nonexistent/train.tsv", &alpha, 0, &m), VOZ_ERR_IO);
    assert_non_null(strstr(voz_last_error(), "/nonexistent/train.tsv: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tsv_relative_paths_and_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom_crlf_and_normalisation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_header_and_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_character_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_transcript_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_kept_and_warned_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_normalise_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alphabet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_words_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
