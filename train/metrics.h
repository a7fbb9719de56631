/* train/metrics.h — error rates of hypotheses against references: WER (word-level
   Levenshtein distance over reference words), CER (code-point-level distance,
   spaces included, over reference characters) and SER (share of utterances with any
   word error). Both strings are compared after voz_text_normalize, so case and
   white space never count as errors. Shared by `voz train` (dev set) and `voz eval`. */
#ifndef VOZ_TRAIN_METRICS_H
#define VOZ_TRAIN_METRICS_H

#include "voz.h"
#include <stddef.h>

/* Levenshtein distance between token sequences a[na] and b[nb] (unit costs);
   (size_t)-1 when memory runs out. */
size_t voz_metrics_edit_distance(const unsigned *a, size_t na, const unsigned *b, size_t nb);

struct voz_error_counts {
    size_t word_errors, ref_words;  /* WER = word_errors / ref_words */
    size_t char_errors, ref_chars;  /* CER = char_errors / ref_chars */
    size_t sent_errors, sentences;  /* SER = sent_errors / sentences */
};

/* Adds one (reference, hypothesis) pair to the counts. VOZ_ERR_NOMEM or
   VOZ_ERR_FORMAT (invalid UTF-8) on failure. */
voz_status voz_metrics_add(struct voz_error_counts *c, const char *ref, const char *hyp);
/* Rates as fractions (0 when the denominator is 0 and there are no errors, 1 when
   there are errors against an empty reference). */
double voz_metrics_wer(const struct voz_error_counts *c);
double voz_metrics_cer(const struct voz_error_counts *c);
double voz_metrics_ser(const struct voz_error_counts *c);

/* Word equivalences for scoring (`voz eval --equiv`, `--digits`): every alternative
   word is replaced by its canonical word in reference and hypothesis alike before
   they are compared, so "oh" and "zero" can count as the same word. */
struct voz_word_map {
    char **from, **to;   /* [n] normalised single words */
    int n, cap;
};

/* Adds "alt counts as canonical" (both normalised here; one word each, else
   VOZ_ERR_FORMAT). A later mapping of the same alternative replaces the earlier. */
voz_status voz_word_map_add(struct voz_word_map *m, const char *canonical, const char *alt);
/* Reads lines "CANONICAL ALT [ALT...]" (white space separated; blank lines and lines
   starting with '#' ignored); errors name FILE:LINE. */
voz_status voz_word_map_read(const char *path, struct voz_word_map *m);
/* The normalised text with every mapped word replaced (malloc'd; NULL when out of
   memory or the text is not valid UTF-8). */
char *voz_word_map_apply(const struct voz_word_map *m, const char *text);
void voz_word_map_release(struct voz_word_map *m);

#endif
