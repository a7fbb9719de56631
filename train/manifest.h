/* train/manifest.h — training and evaluation manifests: which audio file says what.
   Two formats, told apart by the first line:
     TSV  `path<TAB>transcript` per line (the transcript is everything after the
          first tab; blank lines are ignored);
     CSV  DeepSpeech's, whose header names the columns `wav_filename`, `transcript`
          (and usually `wav_filesize`, ignored); RFC 4180 quoting ("" inside quotes,
          quoted fields may hold commas and line breaks).
   A UTF-8 byte-order mark and CRLF line ends are accepted. Relative audio paths are
   relative to the manifest's folder. Transcripts are normalised (train/text.h) and
   checked against the alphabet; rows are numbered by their first line in the file. */
#ifndef VOZ_TRAIN_MANIFEST_H
#define VOZ_TRAIN_MANIFEST_H

#include "voz.h"
#include "train/text.h"

struct voz_manifest_row {
    char *path;  /* audio file, resolved against the manifest folder */
    char *text;  /* normalised transcript, never empty */
    int *labels; /* [n_labels] classes of text (blank = 0 never appears) */
    int n_labels;
    int line;    /* 1-based line of the row in the manifest */
};

struct voz_manifest {
    char *name;  /* the manifest path as given, for messages */
    struct voz_manifest_row *rows;
    int n_rows;
    int n_skipped;   /* rows dropped (empty transcript, or bad with skip_bad) */
    int n_duplicates;/* rows repeating an earlier (path, transcript) pair; kept */
};

/* Reads and validates a manifest. A malformed row, invalid UTF-8 or a character
   outside `alpha` is an error naming "FILE:LINE" and the character, unless skip_bad
   (then a warning through voz_log and the row is dropped). Empty transcripts are
   dropped with a warning; duplicates are kept and warned about once. Relative row
   paths are relative to the manifest's folder, or to the current folder when the
   manifest is not a regular file (a pipe). */
voz_status voz_manifest_read(const char *path, const struct voz_alphabet *alpha, int skip_bad,
                             struct voz_manifest *out);
/* The same from text in memory; `name` names it in messages and its folder is the base
   for relative paths. */
voz_status voz_manifest_parse(const char *text, size_t len, const char *name,
                              const struct voz_alphabet *alpha, int skip_bad, struct voz_manifest *out);
void voz_manifest_release(struct voz_manifest *m);

/* A word list: one word per line (normalised; blank lines ignored; each word one
   token without spaces, all characters in `alpha`). Malloc'ed array of strings. */
voz_status voz_words_read(const char *path, const struct voz_alphabet *alpha, char ***words, int *n);
void voz_words_free(char **words, int n);

#endif
