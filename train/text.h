/* train/text.h — transcript text: UTF-8 decoding, the normalisation every manifest,
   word list and hypothesis goes through, and the alphabet that maps characters to
   CTC classes (class 0 is the blank, character k of the alphabet is class k + 1). */
#ifndef VOZ_TRAIN_TEXT_H
#define VOZ_TRAIN_TEXT_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

#define VOZ_DEFAULT_ALPHABET " abcdefghijklmnopqrstuvwxyz'"

/* Decodes one code point at s (NUL-terminated); returns its byte length (1..4), or
   -1 for a malformed sequence (overlong, surrogate, truncated, > U+10FFFF). */
int voz_utf8_decode(const char *s, uint32_t *cp);
/* Writes cp as UTF-8 into out (at least 5 bytes, NUL-terminated); returns the length. */
int voz_utf8_encode(uint32_t cp, char *out);
/* Simple one-to-one lower-casing: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic. */
uint32_t voz_text_lower(uint32_t cp);

/* Normalisation: lower case (voz_text_lower), every run of white space (ASCII
   space, tab, CR, LF, VT, FF, U+00A0 no-break space) folded to one space, leading
   and trailing white space removed. Returns a malloc'ed string, or NULL when `in`
   is not valid UTF-8 (*bad_offset, if non-NULL, receives the byte offset) or memory
   runs out (*bad_offset = -1). */
char *voz_text_normalize(const char *in, long *bad_offset);

struct voz_alphabet {
    int size;         /* characters; classes = size + 1 */
    uint32_t *cps;    /* [size] code point of class k + 1 */
    char **classes;   /* [size + 1] UTF-8 string of each class, classes[0] = "" */
};

/* From a UTF-8 string of distinct characters (duplicates are an error). */
voz_status voz_alphabet_init(struct voz_alphabet *a, const char *chars);
/* From class strings as a model stores them (`blank` is skipped; each other class
   must be exactly one character). */
voz_status voz_alphabet_init_classes(struct voz_alphabet *a, const char *const *classes, int C,
                                     int blank);
void voz_alphabet_release(struct voz_alphabet *a);
/* Class of a code point, or -1 when it is not in the alphabet. */
int voz_alphabet_class(const struct voz_alphabet *a, uint32_t cp);
/* Encodes normalised text into labels (capacity: strlen(text)). Returns the label
   count, or -1 when a character is not in the alphabet (*bad_cp receives it). */
int voz_alphabet_encode(const struct voz_alphabet *a, const char *text, int *labels, uint32_t *bad_cp);
/* Concatenates the class strings of labels[L]; malloc'ed, NULL on no memory. */
char *voz_alphabet_decode(const struct voz_alphabet *a, const int *labels, int L);

/* "'#' (U+0023)" style description of a code point for messages, into buf[32]. */
const char *voz_text_describe_cp(uint32_t cp, char *buf);

#endif
