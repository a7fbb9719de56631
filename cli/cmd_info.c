/* cli/cmd_info.c — `voz info [MODEL]`: what a model file holds, in the spirit of a
   Keras summary (layers, output shapes, parameter counts), then the feature options,
   the alphabet, the word list, the metadata, the file size and its checksum. */
#include "cli/cli.h"
#include "recognizer/internal.h"

#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: voz info [--] [MODEL]\n"
                "\n"
                "Describes a voz model file (default: the model built into voz): layers with\n"
                "output shapes and parameter counts, feature options, sample rate, alphabet\n"
                "(the CTC blank marked), word list, metadata, file size and CRC-32.\n"
                "\n"
                "options:\n"
                "  -h, --help   this text\n"
                "  --           end of options: a MODEL name starting with '-' follows\n");
}

/* A class or word as a readable quoted string: control bytes, quotes and
   backslashes escaped. */
static void print_quoted(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static const char *cell_title(voz_cell_type t)
{
    switch (t) {
    case VOZ_CELL_LSTM: return "LSTM";
    case VOZ_CELL_GRU: return "GRU";
    case VOZ_CELL_RNN_TANH: return "RNN(tanh)";
    case VOZ_CELL_RNN_RELU: return "RNN(relu)";
    }
    return "?";
}

static const char *window_name(voz_window w)
{
    static const char *const names[] = { "povey", "hamming", "hanning", "rectangular", "blackman" };
    return (unsigned)w < sizeof names / sizeof names[0] ? names[w] : "?";
}

static const char *cmvn_name(voz_cmvn c)
{
    static const char *const names[] = { "none", "utterance", "running" };
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

/* 1234567 -> "1,234,567" */
static const char *grouped(size_t v, char *buf, size_t cap)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v), k = 0;
    for (int i = 0; i < n && (size_t)k + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    return buf;
}

static void row(const char *layer, const char *type, const char *shape, size_t params)
{
    char num[32];
    printf("%-16s %-12s %-14s %12s\n", layer, type, shape, grouped(params, num, sizeof num));
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int options = 1; /* until "--": after it, a name starting with '-' is a file */
    for (int i = 1; i < argc; i++) {
        if (options && !strcmp(argv[i], "--")) {
            options = 0;
            continue;
        }
        if (options && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
            usage(stdout);
            cli_check_stdout();
            return 0;
        }
        if (options && argv[i][0] == '-' && argv[i][1])
            cli_die(EXIT_USAGE, "unknown option '%s' (see voz info --help)", argv[i]);
        if (path)
            cli_die(EXIT_USAGE, "one model at a time: '%s' and '%s' (see voz info --help)", path, argv[i]);
        path = argv[i];
    }
    struct voz_model *m = cli_load_model(path);
    const struct voz_model_data *d = &m->data;
    const voz_net_config *nc = &d->net;
    const voz_feature_params *f = &d->feat;
    const int dirs = nc->bidirectional ? 2 : 1, D = nc->hidden * dirs, G = voz_net_gate_rows(nc);
    char shape[32], num[32];

    printf("model: %s\n\n", path ? path : "default (built in)");
    printf("%-16s %-12s %-14s %12s\n", "layer", "type", "output shape", "parameters");
    printf("%.*s\n", 57, "==========================================================================");
    snprintf(shape, sizeof shape, "[T, %d]", nc->input_dim);
    row("features", "MFCC", shape, 0);
    size_t total = 0;
    for (int l = 0; l < nc->layers; l++) {
        size_t in = l == 0 ? (size_t)nc->input_dim : (size_t)D;
        size_t p = (size_t)dirs * ((size_t)G * in + (size_t)G * nc->hidden + 2 * (size_t)G);
        char name[32], type[32];
        snprintf(name, sizeof name, "rnn.l%d", l);
        snprintf(type, sizeof type, "%s%s", nc->bidirectional ? "Bi" : "", cell_title(nc->cell));
        snprintf(shape, sizeof shape, "[T, %d]", D);
        row(name, type, shape, p);
        total += p;
    }
    size_t fc = (size_t)nc->classes * D + nc->classes;
    snprintf(shape, sizeof shape, "[T, %d]", nc->classes);
    row("fc", "Dense", shape, fc);
    row("log_softmax", "LogSoftmax", shape, 0);
    total += fc;
    printf("%.*s\n", 57, "==========================================================================");
    if (d->members > 1) {
        printf("networks: %d of this shape (an ensemble: the beam decoder combines them)\n", d->members);
        total *= (size_t)d->members;
    }
    printf("total parameters: %s (%.1f KiB as float32)\n", grouped(total, num, sizeof num), total * 4 / 1024.0);
    printf("cell %s, hidden %d per direction, %d layer%s, %s, %d classes\n\n", voz_cell_name(nc->cell),
           nc->hidden, nc->layers, nc->layers == 1 ? "" : "s", nc->bidirectional ? "bidirectional" : "unidirectional",
           nc->classes);

    printf("sample rate: %d Hz\n", d->sample_rate);
    printf("features: %d per frame = %d cepstra x %d (%s)\n", voz_feature_dim(f), f->num_ceps, 1 + f->delta_order,
           f->delta_order == 0 ? "static" : f->delta_order == 1 ? "+ deltas" : "+ deltas + delta-deltas");
    printf("  frame_length_ms  %g\n  frame_shift_ms   %g\n  preemph          %g\n  remove_dc        %d\n"
           "  window           %s\n  round_pow2       %d\n  snip_edges       %d\n  dither           %g\n"
           "  num_mel_bins     %d\n  low_freq         %g\n  high_freq        %g\n  num_ceps         %d\n"
           "  cepstral_lifter  %g\n  use_energy       %d\n  raw_energy       %d\n  energy_floor     %g\n"
           "  htk_compat       %d\n  delta_order      %d\n  delta_window     %d\n  cmvn             %s\n"
           "  cmvn_var         %d\n\n",
           f->frame_length_ms, f->frame_shift_ms, f->preemph, f->remove_dc, window_name(f->window), f->round_pow2,
           f->snip_edges, f->dither, f->num_mel_bins, f->low_freq, f->high_freq, f->num_ceps, f->cepstral_lifter,
           f->use_energy, f->raw_energy, f->energy_floor, f->htk_compat, f->delta_order, f->delta_window,
           cmvn_name(f->cmvn), f->cmvn_var);

    printf("alphabet: %d classes, blank = %d\n ", nc->classes, d->blank);
    for (int k = 0; k < nc->classes; k++) {
        printf(" %d:", k);
        if (k == d->blank)
            fputs("<blank>", stdout);
        else
            print_quoted(d->classes[k]);
    }
    printf("\n\n");

    if (d->n_words) {
        printf("word list: %d words\n ", d->n_words);
        for (int i = 0; i < d->n_words; i++) {
            putchar(' ');
            print_quoted(d->words[i]);
        }
        printf("\n\n");
    } else {
        printf("word list: none\n\n");
    }
    if (d->n_meta) {
        printf("metadata:\n");
        for (int i = 0; i < d->n_meta; i++) {
            printf("  %s: ", d->meta_keys[i]);
            print_quoted(d->meta_values[i]);
            putchar('\n');
        }
        putchar('\n');
    } else {
        printf("metadata: none\n\n");
    }
    printf("file size: %s bytes\n", grouped(d->file_size, num, sizeof num));
    printf("CRC-32: 0x%08x\n", (unsigned)d->checksum);
    voz_model_free(m);
    cli_check_stdout();
    return 0;
}
