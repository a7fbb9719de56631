/* cli/cmd_ensemble.c — `voz ensemble -o OUT MODEL...`: joins models trained apart (other
   seeds, other data orders) into one file whose networks the beam decoder combines.
   Networks trained from different starting points make different mistakes on a
   speaker none of them heard; the decoder's sequence-level choice among their readings
   (voz_ctc_ensemble_pick) is right more often than either alone. */
#include "cli/cli.h"
#include "acoustic/model_file.h"
#include "common/util.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: voz ensemble -o OUT MODEL MODEL...\n"
                "\n"
                "Writes OUT holding the networks of every MODEL (at most %d in all; a MODEL may\n"
                "itself be an ensemble). The beam decoder of transcribe, live and eval then\n"
                "combines them: the best reading of each network and of their mean posterior\n"
                "are candidates, and the one the networks together find likeliest wins. Each\n"
                "network costs one pass per VTLN warp (--members N uses the first N). The\n"
                "models must agree on everything but their weights: sample rate, feature\n"
                "options, network shape, alphabet and word list, as models trained by the same\n"
                "recipe with another --seed do. The word list and metadata come from the first\n"
                "MODEL.\n"
                "\n"
                "options:\n"
                "  -o, --out FILE   the ensemble to write (a temporary file, then renamed)\n"
                "  -h, --help       this text\n",
                VOZ_MODEL_MAX_MEMBERS);
}

static int same_strings(char *const *a, char *const *b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

/* What makes `b` unfit to join `a`, or NULL. Both come from the same parser, which
   zeroes the structs before filling them, so whole-struct comparisons are exact. */
static const char *mismatch(const struct voz_model_data *a, const struct voz_model_data *b)
{
    if (a->sample_rate != b->sample_rate)
        return "its sample rate differs";
    if (memcmp(&a->feat, &b->feat, sizeof a->feat))
        return "its feature options differ";
    /* The alphabet first: a different class count is an alphabet difference to the user. */
    if (a->net.classes != b->net.classes || a->blank != b->blank ||
        !same_strings(a->classes, b->classes, a->net.classes))
        return "its alphabet differs";
    if (memcmp(&a->net, &b->net, sizeof a->net))
        return "its network shape differs";
    if (a->n_words != b->n_words || !same_strings(a->words, b->words, a->n_words))
        return "its word list differs";
    return NULL;
}

/* The index of the first network that came from the same file as network e. */
static int first_of(const int *src, int e)
{
    while (e > 0 && src[e - 1] == src[e])
        e--;
    return e;
}

int cmd_ensemble(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h':
            usage(stdout);
            cli_check_stdout();
            return 0;
        default: cli_option_error("ensemble", c, longopts, argc, argv);
        }
    }
    const int n_in = argc - optind;
    if (!out || !*out)
        cli_die(EXIT_USAGE, "ensemble: --out FILE is required (see voz ensemble --help)");
    if (n_in < 2)
        cli_die(EXIT_USAGE, "ensemble: expected at least two models, found %d (see voz ensemble --help)", n_in);

    struct voz_model_data first, d;
    if (voz_model_data_read(argv[optind], &first))
        cli_die(1, "%s", voz_last_error());
    const size_t per = voz_net_num_floats(&first.net);
    float *params = first.params; /* grown as members join */
    uint32_t *crcs = calloc((size_t)n_in, sizeof *crcs);
    if (!crcs)
        cli_die(1, "ensemble: out of memory");
    int members = first.members;
    int src[VOZ_MODEL_MAX_MEMBERS]; /* the argv index each joined network came from */
    for (int e = 0; e < members; e++)
        src[e] = optind;
    first.params = NULL;
    for (int i = optind + 1; i < argc; i++) {
        if (voz_model_data_read(argv[i], &d))
            cli_die(1, "%s", voz_last_error());
        const char *why = mismatch(&first, &d);
        if (why)
            cli_die(1, "%s: cannot join %s: %s (members must differ only in their weights)", argv[i],
                    argv[optind], why);
        if (members + d.members > VOZ_MODEL_MAX_MEMBERS)
            cli_die(1, "%s: the ensemble would hold %d networks, at most %d fit in a model file", argv[i],
                    members + d.members, VOZ_MODEL_MAX_MEMBERS);
        float *grown = voz_alloc_aligned((size_t)(members + d.members) * per * sizeof *grown);
        if (!grown)
            cli_die(1, "ensemble: out of memory for %d networks", members + d.members);
        memcpy(grown, params, (size_t)members * per * sizeof *grown);
        memcpy(grown + (size_t)members * per, d.params, (size_t)d.members * per * sizeof *grown);
        /* The same network twice costs twice as much and changes nothing (a file given
           twice, or a copy of one): worth a warning naming where the first came from. */
        for (int q = members; q < members + d.members; q++) {
            src[q] = i;
            for (int e = 0; e < q; e++)
                if (!memcmp(grown + (size_t)q * per, grown + (size_t)e * per, per * sizeof *grown)) {
                    cli_warn("%s: its network %d is identical to network %d of %s: it adds decoding time and "
                             "changes no answer (an ensemble needs networks trained apart)", argv[i],
                             q - members + 1, e + 1 - first_of(src, e), argv[src[e]]);
                    break;
                }
        }
        crcs[i - optind] = d.checksum;
        voz_free_aligned(params);
        params = grown;
        members += d.members;
        voz_model_data_release(&d);
    }
    first.params = params;
    first.members = members;
    /* Provenance: which files, by name and checksum (the metadata is the first's). */
    size_t cap = 64;
    for (int i = optind; i < argc; i++)
        cap += strlen(argv[i]) + 32;
    char *from = malloc(cap);
    if (!from)
        cli_die(1, "ensemble: out of memory");
    size_t k = (size_t)snprintf(from, cap, "%d networks from", members);
    for (int i = optind; i < argc; i++) {
        const char *base = strrchr(argv[i], '/');
        uint32_t crc = i == optind ? first.checksum : crcs[i - optind];
        k += (size_t)snprintf(from + k, cap - k, "%s %s (crc 0x%08x)", i == optind ? "" : ",", base ? base + 1 : argv[i],
                              (unsigned)crc);
    }
    if (voz_model_data_set_meta(&first, "ensemble", from))
        cli_die(1, "ensemble: out of memory");
    free(from);
    voz_atomic_sweep(out); /* what a killed earlier run left */
    if (voz_model_data_write(&first, out)) {
        /* The writer's own checks say "model: ..."; file errors name the file already. */
        const char *e = voz_last_error();
        if (!strncmp(e, "model: ", 7))
            cli_die(1, "%s: %s", out, e + 7);
        cli_die(1, "%s", e);
    }
    printf("%s: %d networks (%s and %d more)\n", out, members, argv[optind], n_in - 1);
    voz_model_data_release(&first);
    free(crcs);
    cli_check_stdout();
    return 0;
}
