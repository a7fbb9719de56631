/* cli/cmd_features.c — `voz features`: the feature matrix [T][D] a model computes for an
   audio file (its MFCC options, deltas and CMVN, at its sample rate), as text or as a
   NumPy .npy file, to standard output or written atomically to a file. */
#include "cli/cli.h"
#include "common/util.h"
#include "frontend/audio.h"
#include "frontend/mfcc.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* voz transcribe treats longer inputs as several utterances, each normalised alone. */
#define SEGMENT_S 30.0

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: voz features [OPTIONS] FILE\n"
            "\n"
            "Prints the features the model computes for audio FILE (any format libsndfile\n"
            "reads; '-' is standard input): the file resampled to the model's rate, then\n"
            "MFCC, deltas and mean/variance normalisation with the model's options, the\n"
            "whole file as one utterance. One row per frame (every frame_shift_ms of the\n"
            "model, 10 ms by default); `voz info MODEL` lists the options.\n"
            "\n"
            "options:\n"
            "  -m, --model MODEL     model whose feature options to use (default: the model\n"
            "                        built into voz)\n"
            "  --format text|npy     text: one frame per line, values separated by spaces\n"
            "                        (%%.6g); npy: NumPy .npy v1.0, float32, shape [T, D]\n"
            "                        (default: text)\n"
            "  -o, --output OUT      write to OUT, atomically: OUT is either left as it was or\n"
            "                        replaced by the complete result (default: standard\n"
            "                        output; '-' is standard output too)\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 done, 1 the file, the model or the output failed, 2 usage error.\n");
}

/* NumPy format v1.0: magic, version, little-endian header length, a Python dict
   literal padded with spaces to a multiple of 64 bytes and ended by '\n', then the
   float32 data in C order. */
static void write_npy(FILE *fp, const float *f, size_t T, int D)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", T, D);
    size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                              (unsigned char)(hlen >> 8) };
    fwrite(pre, 1, sizeof pre, fp);
    fwrite(dict, 1, (size_t)len, fp);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    unsigned char buf[4096];
    size_t n = T * (size_t)D, k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        buf[k++] = (unsigned char)u;
        buf[k++] = (unsigned char)(u >> 8);
        buf[k++] = (unsigned char)(u >> 16);
        buf[k++] = (unsigned char)(u >> 24);
        if (k == sizeof buf) {
            fwrite(buf, 1, k, fp);
            k = 0;
        }
    }
    fwrite(buf, 1, k, fp);
}

static void write_text(FILE *fp, const float *f, size_t T, int D)
{
    for (size_t t = 0; t < T; t++) {
        const float *row = f + t * (size_t)D;
        for (int d = 0; d < D; d++)
            fprintf(fp, d ? " %.6g" : "%.6g", row[d]);
        fputc('\n', fp);
    }
}

int cmd_features(int argc, char **argv)
{
    enum { OPT_FORMAT = 256 };
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model_path = NULL, *out_path = NULL;
    int npy = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_path = strcmp(optarg, "-") ? optarg : NULL; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "text"))
                npy = 0;
            else if (!strcmp(optarg, "npy"))
                npy = 1;
            else
                cli_die(EXIT_USAGE, "--format must be text or npy, not '%s'", optarg);
            break;
        case 'h':
            usage(stdout);
            cli_check_stdout();
            return 0;
        default: cli_option_error("features", c, opts, argc, argv);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (argc - optind > 1)
        cli_die(EXIT_USAGE, "one audio file at a time, found %d (see voz features --help)", argc - optind);
    const char *file = argv[optind];
    if (npy && !out_path && isatty(STDOUT_FILENO))
        cli_die(EXIT_USAGE, "not writing binary .npy data to a terminal; give -o OUT or redirect the output");
    /* -o naming the audio or the model would replace an input with features. */
    const char *victim = !out_path || !strcmp(out_path, "-") ? NULL
                         : voz_same_file(out_path, file)     ? file
                         : model_path && voz_same_file(out_path, model_path) ? model_path
                                                                             : NULL;
    if (victim)
        cli_die(EXIT_USAGE, "-o %s would overwrite the input '%s'", out_path, victim);
    cli_setup_log(0);

    struct voz_model *m = cli_load_model(model_path);
    voz_feature_params p = *voz_model_features(m);
    int rate = voz_model_sample_rate(m);
    float *pcm;
    size_t n;
    cli_check_stdin(file, "audio");
    voz_status s = voz_audio_load(file, rate, &pcm, &n);
    if (s != VOZ_OK)
        cli_die(1, "%s", voz_last_error());
    if ((double)n > SEGMENT_S * rate)
        cli_warn("%s: %.1f s of audio, normalised as one utterance; voz transcribe cuts inputs longer "
                 "than %.0f s at pauses and normalises each part alone", file, (double)n / rate, SEGMENT_S);
    float *feats;
    size_t T;
    s = voz_features_compute(&p, pcm, n, &feats, &T);
    free(pcm);
    if (s != VOZ_OK)
        cli_die(1, "%s: %s", file, voz_last_error());
    int D = voz_feature_dim(&p);

    if (out_path) {
        struct voz_atomic_file af;
        voz_atomic_sweep(out_path); /* what a killed earlier run left */
        if (voz_atomic_open(&af, out_path) != VOZ_OK)
            cli_die(1, "%s", voz_last_error());
        if (npy)
            write_npy(af.fp, feats, T, D);
        else
            write_text(af.fp, feats, T, D);
        if (voz_atomic_commit(&af) != VOZ_OK)
            cli_die(1, "%s", voz_last_error());
    } else {
        if (npy)
            write_npy(stdout, feats, T, D);
        else
            write_text(stdout, feats, T, D);
        cli_check_stdout();
    }
    free(feats);
    voz_model_free(m);
    return 0;
}
