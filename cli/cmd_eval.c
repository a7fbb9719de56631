/* cli/cmd_eval.c — `voz eval`: decode every row of a manifest with a model and print
   WER, CER, SER and the real-time factor (decode seconds / audio seconds; reading the
   file is not counted). Each row goes through voz transcribe's path (30 s segments,
   speech regions, voz_transcribe_samples), so eval scores exactly what transcribe
   prints, in the memory of one segment. Transcripts are normalised as in training
   (train/text.h). All rows share one decoding context, so its scratch grows to the
   longest region instead of being made and freed for each. */
#include "cli/cli.h"
#include "recognizer/decode.h"
#include "frontend/audio.h"
#include "train/manifest.h"
#include "train/metrics.h"
#include "train/text.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fputs("usage: voz eval [OPTIONS] MANIFEST\n"
          "\n"
          "Decodes every row of MANIFEST (TSV path<TAB>transcript or DeepSpeech CSV; paths\n"
          "relative to the manifest; '-': standard input, paths relative to the current folder)\n"
          "and prints WER, CER, SER and RTF, one per line. Reference\n"
          "and hypothesis are normalised as in training; by default every differing word is\n"
          "an error (plain WER).\n"
          "\n"
          "options:\n"
          "  -m, --model MODEL     model file (default: the model built into voz)\n"
          "  --decoder auto|greedy|beam\n"
          "                        CTC decoder (default: auto = beam when the model has a\n"
          "                        word list, else greedy)\n"
          "  --beam N              prefix beam width, 1..4096 (default: 16)\n"
          "  --vtln LIST|none      VTLN warps whose posteriors are averaged, e.g.\n"
          "                        0.9,1.1 (default: the model's list, if it has one)\n"
            "  --members N           networks of an ensemble model to combine, 1..8\n"
            "                        (default: all of them)\n"
          "  --words FILE          word list, one word per line, constraining the beam search\n"
          "                        (default: the model's word list, if it has one)\n"
          "  --threads N           threads for the acoustic model, 1 or 2 (default: 2\n"
            "                        on a machine with two cores or more)\n"
          "  --equiv FILE          word equivalences applied to reference and hypothesis\n"
          "                        before scoring: lines 'CANONICAL ALT...' (e.g. 'zero oh')\n"
          "  --digits              the same as an --equiv line 'zero oh': \"oh\" and \"zero\"\n"
          "                        are one word (spoken digits)\n"
          "  -v, --verbose         REF/HYP for each file (after the equivalences)\n"
          "  -h, --help            this text\n"
          "  --                    end of options (a MANIFEST name starting with '-')\n"
          "\n"
          "Exit status: 0 done, 1 the manifest, an audio file or the model failed, 2 usage error.\n", fp);
}

/* The row's audio for voz_transcribe_samples; remembers whether reading failed, for the message. */
struct eval_source { struct voz_audio *a; int read_failed; };

static voz_status eval_read(void *user, float *buf, size_t max, size_t *got)
{
    struct eval_source *src = user;
    voz_status s = voz_audio_read(src->a, buf, max, got);
    src->read_failed = s != VOZ_OK;
    return s;
}

int cmd_eval(int argc, char **argv)
{
    enum { OPT_DECODER = 256, OPT_BEAM, OPT_VTLN, OPT_MEMBERS, OPT_THREADS, OPT_EQUIV, OPT_DIGITS, OPT_WORDS };
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "decoder", required_argument, NULL, OPT_DECODER },
        { "beam", required_argument, NULL, OPT_BEAM },
        { "vtln", required_argument, NULL, OPT_VTLN },
        { "members", required_argument, NULL, OPT_MEMBERS },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "equiv", required_argument, NULL, OPT_EQUIV },
        { "digits", no_argument, NULL, OPT_DIGITS },
        { "words", required_argument, NULL, OPT_WORDS },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model_path = NULL, *manifest = NULL, *equiv_path = NULL, *words_path = NULL;
    int verbose = 0, digits = 0, c;
    voz_decode_params dp = voz_decode_default_params();
    dp.threads = cli_default_threads();
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'v': verbose = 1; break;
        case OPT_DECODER: dp.decoder = cli_parse_decoder(optarg); break;
        case OPT_BEAM: dp.beam = cli_parse_int("--beam", optarg, 1, 4096); break;
        case OPT_VTLN: cli_parse_warps(optarg, &dp); break;
        case OPT_MEMBERS: dp.n_members = cli_parse_int("--members", optarg, 1, VOZ_MAX_MEMBERS); break;
        case OPT_THREADS: {
            int t = cli_parse_int("--threads", optarg, 1, 64);
            dp.threads = t >= 2 ? 2 : 1; /* the network runs its two directions at most */
            break;
        }
        case OPT_EQUIV: equiv_path = optarg; break;
        case OPT_DIGITS: digits = 1; break;
        case OPT_WORDS: words_path = optarg; break;
        case 'h':
            usage(stdout);
            cli_check_stdout();
            return 0;
        default: cli_option_error("eval", c, opts, argc, argv);
        }
    }
    if (optind >= argc)
        cli_die(EXIT_USAGE, "no manifest given (see voz eval --help)");
    manifest = argv[optind];
    if (argc - optind > 1)
        cli_die(EXIT_USAGE, "one manifest only, found '%s' after '%s'", argv[optind + 1], manifest);
    struct voz_word_map equiv = { 0 };
    if (digits && voz_word_map_add(&equiv, "zero", "oh") != VOZ_OK)
        cli_die(1, "%s", voz_last_error());
    if (equiv_path && voz_word_map_read(equiv_path, &equiv) != VOZ_OK)
        cli_die(1, "%s", voz_last_error());
    cli_setup_log(0);
    struct cli_words *words = words_path ? cli_words_read(words_path) : NULL;
    struct voz_model *m = cli_load_model(model_path);
    if (words) {
        cli_words_check(words, m);
        dp.words = (const char *const *)words->words;
        dp.n_words = words->n;
    }
    cli_check_decode(m, &dp);
    int C = voz_model_num_classes(m);
    const char **classes = cli_model_classes(m);
    struct voz_alphabet alpha;
    if (voz_alphabet_init_classes(&alpha, classes, C, voz_model_blank(m)) != VOZ_OK)
        cli_die(1, "%s: %s", m->name, voz_last_error());
    free(classes);
    struct voz_manifest man;
    if (!strcmp(manifest, "-")) { /* standard input: relative paths from the current folder */
        cli_check_stdin(manifest, "a manifest");
        manifest = "standard input";
        size_t len = 0, cap = 1 << 16;
        char *text = malloc(cap);
        for (size_t got = 1; text && got > 0;) {
            if (len == cap) {
                char *grown = cap < ((size_t)1 << 28) ? realloc(text, 2 * cap) : NULL;
                if (!grown)
                    cli_die(1, "standard input: a manifest of more than %zu bytes", cap);
                text = grown;
                cap *= 2;
            }
            got = fread(text + len, 1, cap - len, stdin);
            len += got;
        }
        if (!text || ferror(stdin))
            cli_die(1, "standard input: %s", text ? strerror(errno) : "out of memory");
        voz_status ms = voz_manifest_parse(text, len, manifest, &alpha, 0, &man);
        free(text);
        if (ms != VOZ_OK)
            cli_die(1, "%s", voz_last_error());
    } else if (voz_manifest_read(manifest, &alpha, 0, &man) != VOZ_OK) {
        cli_die(1, "%s", voz_last_error());
    }
    if (man.n_rows == 0)
        cli_die(1, "%s: no rows to evaluate", manifest);

    struct voz_decode_ctx *ctx; /* dp.words (the --words list) outlives it: freed first */
    if (voz_decode_ctx_create(m, &dp, &ctx) != VOZ_OK) /* options are checked: out of memory */
        cli_die(1, "%s", voz_last_error());
    struct voz_error_counts ec = { 0 };
    double decode_s = 0, audio_s = 0;
    int rate = voz_model_sample_rate(m);
    for (int i = 0; i < man.n_rows; i++) {
        const struct voz_manifest_row *r = &man.rows[i];
        struct voz_audio *a = NULL;
        const char *why = voz_not_regular_file(r->path); /* a row names a recording */
        if (why)
            cli_die(1, "%s:%d: cannot read audio '%s': %s", manifest, r->line, r->path, why);
        if (voz_audio_open(r->path, rate, &a) != VOZ_OK)
            cli_die(1, "%s:%d: cannot read audio '%s': %s", manifest, r->line, r->path, voz_last_error());
        struct eval_source src = { a, 0 };
        voz_transcript tr;
        double row_s = 0;
        /* voz transcribe's own path: segments, speech regions, this context. */
        voz_status s = voz_transcribe_samples(m, ctx, eval_read, &src, VOZ_TRANSCRIBE_MAX_SEGMENT_S, &tr, &row_s);
        voz_audio_close(a);
        if (s != VOZ_OK)
            cli_die(1, "%s:%d: %s'%s': %s", manifest, r->line, src.read_failed ? "cannot read audio " : "", r->path,
                    voz_last_error());
        decode_s += row_s;
        audio_s += tr.duration;
        char *ref = voz_word_map_apply(&equiv, r->text);
        char *hyp = voz_word_map_apply(&equiv, tr.text ? tr.text : "");
        if (!ref || !hyp)
            cli_die(1, "%s:%d: out of memory or invalid UTF-8 in the transcript", manifest, r->line);
        size_t before = ec.word_errors;
        if (voz_metrics_add(&ec, ref, hyp) != VOZ_OK)
            cli_die(1, "%s:%d: %s", manifest, r->line, voz_last_error());
        if (verbose) {
            printf("%s %s\nREF: %s\nHYP: %s\n", ec.word_errors != before || strcmp(ref, hyp) ? "ERR" : "OK ",
                   r->path, ref, hyp);
        }
        free(ref);
        free(hyp);
        voz_transcript_release(&tr);
    }
    printf("WER %.2f%%\nCER %.2f%%\nSER %.2f%%\nRTF %.4f\n", 100 * voz_metrics_wer(&ec), 100 * voz_metrics_cer(&ec),
           100 * voz_metrics_ser(&ec), audio_s > 0 ? decode_s / audio_s : 0.0);
    cli_check_stdout();
    voz_decode_ctx_free(ctx);
    voz_manifest_release(&man);
    voz_word_map_release(&equiv);
    voz_alphabet_release(&alpha);
    voz_model_free(m);
    cli_words_free(words);
    return 0;
}
