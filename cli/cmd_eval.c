/* cli/cmd_eval.c — `voz eval`: decode every row of a manifest with a model and print
   WER, CER, SER and the real-time factor (decode seconds / audio seconds; reading the
   file is not counted). Transcripts are normalised as in training (train/text.h). */
#include "cli/cli.h"
#include "recognizer/internal.h"
#include "frontend/audio.h"
#include "train/manifest.h"
#include "train/metrics.h"
#include "train/text.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fputs("usage: voz eval -m MODEL MANIFEST [--verbose] [--decoder auto|greedy|beam] [--beam N] [--threads N]\n"
          "\n"
          "Decodes every row of MANIFEST (TSV path<TAB>transcript or DeepSpeech CSV) and prints\n"
          "WER, CER, SER and RTF, one per line. --verbose adds REF/HYP for each file.\n", fp);
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *manifest = NULL;
    int verbose = 0;
    voz_decode_params dp = voz_decode_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            cli_check_stdout();
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc)
                cli_die(EXIT_USAGE, "%s needs a model file", a);
            model_path = argv[i];
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = 1;
        } else if (!strcmp(a, "--decoder")) {
            const char *v = ++i < argc ? argv[i] : "";
            if (!strcmp(v, "auto"))
                dp.decoder = VOZ_DECODER_AUTO;
            else if (!strcmp(v, "greedy"))
                dp.decoder = VOZ_DECODER_GREEDY;
            else if (!strcmp(v, "beam"))
                dp.decoder = VOZ_DECODER_BEAM;
            else
                cli_die(EXIT_USAGE, "--decoder must be auto, greedy or beam, not '%s'", v);
        } else if (!strcmp(a, "--beam")) {
            dp.beam = cli_parse_int(a, ++i < argc ? argv[i] : NULL, 1, 4096);
        } else if (!strcmp(a, "--threads")) {
            int t = cli_parse_int(a, ++i < argc ? argv[i] : NULL, 1, 64);
            dp.threads = t >= 2 ? 2 : 1; /* the network runs its two directions at most */
        } else if (a[0] == '-' && a[1]) {
            cli_die(EXIT_USAGE, "unknown option '%s' (see voz eval --help)", a);
        } else if (!manifest) {
            manifest = a;
        } else {
            cli_die(EXIT_USAGE, "one manifest only, found '%s' after '%s'", a, manifest);
        }
    }
    if (!manifest)
        cli_die(EXIT_USAGE, "no manifest given (see voz eval --help)");
    cli_setup_log(0);
    struct voz_model *m = cli_load_model(model_path);
    int C = voz_model_num_classes(m);
    const char **classes = malloc((size_t)C * sizeof *classes);
    if (!classes)
        cli_die(1, "out of memory");
    for (int k = 0; k < C; k++)
        classes[k] = voz_model_class(m, k);
    struct voz_alphabet alpha;
    if (voz_alphabet_init_classes(&alpha, classes, C, voz_model_blank(m)) != VOZ_OK)
        cli_die(1, "%s: %s", m->name, voz_last_error());
    free(classes);
    struct voz_manifest man;
    if (voz_manifest_read(manifest, &alpha, 0, &man) != VOZ_OK)
        cli_die(1, "%s", voz_last_error());
    if (man.n_rows == 0)
        cli_die(1, "%s: no rows to evaluate", manifest);

    struct voz_error_counts ec = { 0 };
    double decode_s = 0, audio_s = 0;
    int rate = voz_model_sample_rate(m);
    for (int i = 0; i < man.n_rows; i++) {
        const struct voz_manifest_row *r = &man.rows[i];
        float *pcm = NULL;
        size_t n = 0;
        if (voz_audio_load(r->path, rate, &pcm, &n) != VOZ_OK)
            cli_die(1, "%s:%d: cannot read audio '%s': %s", manifest, r->line, r->path, voz_last_error());
        voz_transcript tr;
        memset(&tr, 0, sizeof tr);
        double t0 = voz_now();
        voz_status s = voz_decode_utterance(m, pcm, n, &dp, 0, &tr, NULL, NULL);
        decode_s += voz_now() - t0;
        free(pcm);
        if (s != VOZ_OK)
            cli_die(1, "%s:%d: '%s': %s", manifest, r->line, r->path, voz_last_error());
        audio_s += (double)n / rate;
        const char *hyp = tr.text ? tr.text : "";
        size_t before = ec.word_errors;
        if (voz_metrics_add(&ec, r->text, hyp) != VOZ_OK)
            cli_die(1, "%s:%d: %s", manifest, r->line, voz_last_error());
        if (verbose) {
            printf("%s %s\nREF: %s\nHYP: %s\n", ec.word_errors != before || strcmp(r->text, hyp) ? "ERR" : "OK ",
                   r->path, r->text, hyp);
        }
        voz_transcript_release(&tr);
    }
    printf("WER %.2f%%\nCER %.2f%%\nSER %.2f%%\nRTF %.4f\n", 100 * voz_metrics_wer(&ec), 100 * voz_metrics_cer(&ec),
           100 * voz_metrics_ser(&ec), audio_s > 0 ? decode_s / audio_s : 0.0);
    cli_check_stdout();
    voz_manifest_release(&man);
    voz_alphabet_release(&alpha);
    voz_model_free(m);
    return 0;
}
