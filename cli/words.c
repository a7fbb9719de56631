/* cli/words.c — `--words FILE` for transcribe, live and eval: one word per line, read
   once, normalised like transcripts (ASCII letters lower-cased), and checked against the
   model's classes once at start-up, so a word the model cannot spell is one error naming
   the file and line instead of one per audio file. */
#include "cli/cli.h"
#include "decoder/ctc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS_FILE (64L << 20)

struct cli_words *cli_words_read(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        cli_die(1, "%s: cannot open word list: %s", path, strerror(errno));
    char *buf = malloc(MAX_WORDS_FILE + 1);
    if (!buf)
        cli_die(1, "%s: out of memory", path);
    size_t len = fread(buf, 1, MAX_WORDS_FILE + 1, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err)
        cli_die(1, "%s: cannot read word list (is it a directory?)", path);
    if (len > MAX_WORDS_FILE)
        cli_die(1, "%s: word list larger than %ld bytes", path, MAX_WORDS_FILE);
    buf[len] = 0;
    if (strlen(buf) != len)
        cli_die(1, "%s: word list contains a NUL byte, expected text", path);
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += buf[i] == '\n';
    struct cli_words *w = calloc(1, sizeof *w);
    char **words = calloc(cap, sizeof *words);
    int *lines = calloc(cap, sizeof *lines);
    if (!w || !words || !lines)
        cli_die(1, "%s: out of memory", path);
    int n = 0, line = 0;
    char *p0 = buf;
    if (!memcmp(p0, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte-order mark, as manifests allow */
        p0 += 3;
    for (char *p = p0; *p;) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = 0;
        line++;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = 0;
        if (*p) {
            for (char *q = p; *q; q++) {
                if ((unsigned char)*q <= ' ')
                    cli_die(1, "%s:%d: '%s' is not one word (one word per line)", path, line, p);
                if (*q >= 'A' && *q <= 'Z') /* as transcripts are normalised; UTF-8 left alone */
                    *q = (char)(*q - 'A' + 'a');
            }
            lines[n] = line;
            words[n++] = p;
        }
        p = next;
    }
    if (n == 0)
        cli_die(1, "%s: word list has no words", path);
    w->path = path;
    w->words = words;
    w->lines = lines;
    w->n = n;
    w->storage = buf;
    return w;
}

void cli_words_check(const struct cli_words *w, const struct voz_model *m)
{
    int C = voz_model_num_classes(m);
    const char **classes = cli_model_classes(m);
    /* One word at a time, so the message can name its line. */
    for (int i = 0; i < w->n; i++) {
        struct voz_ctc_beam *b = NULL;
        const char *one[1] = { w->words[i] };
        if (voz_ctc_beam_create(classes, C, voz_model_blank(m), one, 1, 1, &b) != VOZ_OK)
            cli_die(1, "%s:%d: the model cannot spell '%s' (%s)", w->path, w->lines[i], w->words[i],
                    voz_last_error());
        voz_ctc_beam_free(b);
    }
    free(classes);
}

void cli_words_free(struct cli_words *w)
{
    if (!w)
        return;
    free(w->words);
    free(w->lines);
    free(w->storage);
    free(w);
}
