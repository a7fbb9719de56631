/* cli/cli.h — helpers shared by the subcommands: die()-style errors (CLI only),
   option parsing utilities and the model loading policy (-m or the default). */
#ifndef VOZ_CLI_H
#define VOZ_CLI_H

#include "voz.h"
#include <stdio.h>

#define EXIT_USAGE 2

/* Prints "voz: MESSAGE" on stderr and exits with `code`. */
_Noreturn void cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "voz: MESSAGE" on stderr without exiting. All three print one line: control
   characters in the message (from file names) become '?'. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Installs a log callback printing warnings (and info when verbose) on stderr. */
void cli_setup_log(int verbose);
/* Loads -m PATH, or the embedded default model when path is NULL; dies with a
   message on failure. */
struct voz_model *cli_load_model(const char *path);
/* Decoding threads when --threads is not given: 2 on a machine with two or more
   cores (the results are the same at 1 and 2), else 1. */
int cli_default_threads(void);
/* --decoder auto|greedy|beam; dies with a usage error otherwise. */
voz_decoder cli_parse_decoder(const char *s);
/* --vtln LIST|none into p->warps / p->n_warps; dies with a usage error otherwise. */
void cli_parse_warps(const char *s, voz_decode_params *p);
/* Dies with a usage error when the decode params do not fit the model (--vtln or
   --members > 1 with a decoder other than the beam, warps its filterbank cannot take,
   more members than it has): after the model and --words are known. */
void cli_check_decode(const struct voz_model *m, const voz_decode_params *p);
/* Dies with a usage error naming `opt` when a warp does not fit feature options f
   (VTLN knees outside the band at a low sample rate, an empty mel bin). */
void cli_check_warps_fit(const char *opt, const voz_feature_params *f, const float *warps, int n);
/* The model's class strings (malloc'ed array of voz_model_num_classes, free it). */
const char **cli_model_classes(const struct voz_model *m);
/* Dies (exit 1) when path is "-" and the caller started voz with standard input closed. */
void cli_check_stdin(const char *path, const char *what);
/* Flushes stdout and dies (exit 1) when any write to it failed. */
void cli_check_stdout(void);
/* Dies (usage error) for getopt_long's ':' or '?' return `c`, naming the argument that
   failed from optopt and the long option table rather than argv[optind - 1], which is
   not the failing argument for combined short options ("-vx"):
   "voz CMD: unknown option '-x'", "option '--out' needs a value". `longopts` is the
   table given to getopt_long (struct option *, void here to keep getopt.h out). */
_Noreturn void cli_option_error(const char *cmd, int c, const void *longopts, int argc, char **argv);
/* Parses numbers strictly; dies with a usage error naming the option otherwise. */
int cli_parse_int(const char *opt, const char *s, int lo, int hi);
double cli_parse_double(const char *opt, const char *s, double lo, double hi);

/* --words FILE: one word per line, ASCII letters lower-cased; dies naming the file and
   line on a bad list. cli_words_check dies when the model cannot spell a word. */
struct cli_words {
    const char *path;
    char **words;  /* n words, pointing into storage */
    int *lines;    /* the line of each */
    int n;
    char *storage;
};
struct cli_words *cli_words_read(const char *path);
void cli_words_check(const struct cli_words *w, const struct voz_model *m);
void cli_words_free(struct cli_words *w);

/* JSON output on stdout: a string literal (escaped; invalid UTF-8 becomes U+FFFD),
   and the `,"words":[...]` member of a transcript. */
void cli_json_string(const char *s);
void cli_json_words(const voz_transcript *t);

/* Each subcommand: argv[0] is the subcommand name. Returns the exit status. */
int cmd_transcribe(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_ensemble(int argc, char **argv);

#endif
