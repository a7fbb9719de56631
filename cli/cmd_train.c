/* cli/cmd_train.c — `voz train`: options -> voz_train_run, with a Keras-style progress
   line on a terminal (plain lines otherwise), SIGINT/SIGTERM stopping cleanly after the
   current batch, and a one-line summary at the end. */
#include "cli/cli.h"
#include "train/trainer.h"
#include "train/text.h"
#include "common/util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fputs("usage: voz train --out MODEL.voz [--train M]... [--compose M]... [--dev M] [OPTIONS]\n"
          "\n"
          "Trains a bidirectional recurrent CTC model. Manifests are TSV (path<TAB>transcript)\n"
          "or DeepSpeech CSV; paths are relative to the manifest. Writes MODEL.voz (best by dev\n"
          "WER), MODEL.voz.ckpt, MODEL.voz.log.csv and MODEL.voz.curve.svg.\n"
          "\n"
          "data:\n"
          "  --train M              rows used as they are (repeatable)\n"
          "  --compose M            isolated-word clips joined into utterances (repeatable)\n"
          "  --dev M                dev set: CER/WER after every epoch, picks the best model\n"
          "  --compose-count N      composed utterances per epoch (default: about one use per clip)\n"
          "  --compose-words MIN:MAX  words per composed utterance (1:4)\n"
          "  --gap-ms MIN:MAX       pauses around composed words (50:300)\n"
          "  --skip-bad             skip rows with bad characters or unreadable audio (warn)\n"
          "model:\n"
          "  --cell lstm|gru|rnn|rnn_relu (lstm)  --layers N (2)  --hidden N (128)\n"
          "  --sample-rate HZ (16000)  --alphabet STRING (\" abcdefghijklmnopqrstuvwxyz'\")\n"
          "  --words FILE           word list embedded in the model (vocabulary beam search)\n"
          "optimisation:\n"
          "  --epochs N (20)  --batch-size N (16)  --optimizer adam|sgd (adam)  --lr X (0.001)\n"
          "  --momentum X (0.9, sgd)  --clip X (5, global norm)  --warmup STEPS (0)\n"
          "  --lr-decay X (1, per epoch)  --plateau (halve lr when dev WER stalls)\n"
          "  --seed N (1)  --threads N (2)\n"
          "  --dropout P (0: off)  probability of zeroing each layer output while training\n"
          "augmentation (compose clips; SpecAugment on every batch):\n"
          "  --augment-variants K (4)  --speed MIN:MAX (0.9:1.1)  --snr-db MIN:MAX (10:40)\n"
          "  --gain-db MIN:MAX (-6:6)  --specaug-time N:W (off)  --specaug-freq N:F (off)\n"
          "  --specaug-mel N:F (off)  N masks of up to F mel bands (at most all but one), on the\n"
          "                         spectrum the cepstra describe, inside CMVN\n"
          "  --crop P:MS (off)  cut each clip edge with probability P at the speech boundary +-MS\n"
          "  --vtlp MIN:MAX (off)  warp each variant's mel filterbank by a factor in MIN..MAX\n"
          "run control:\n"
          "  --resume               continue from MODEL.voz.ckpt (same options)\n"
          "  --checkpoint-every S (300)  --max-minutes M (stop cleanly after M minutes)\n"
          "  --name NAME  --meta KEY=VALUE (repeatable)  -v, --verbose  -h, --help\n"
          "\n"
          "Every option takes its value as the next argument or after '=' (--out=-m.voz).\n"
          "Exit status: 0 done (or stopped by --max-minutes), 1 an input or runtime error,\n"
          "a signal (checkpoint written), or no usable model; 2 usage error.\n", fp);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    stop_requested = 1;
    signal(sig, SIG_DFL); /* a second signal ends the process at once */
}

static int should_stop(void *user)
{
    (void)user;
    return stop_requested;
}

struct ui {
    int tty;
    double last_draw;   /* voz_now() of the last progress output */
    int line_open;      /* a \r line is on screen */
};

static void fmt_time(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_rate(double r, char *buf, size_t n)
{
    if (r >= 1e6)
        snprintf(buf, n, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, n, "%.1fk", r / 1e3);
    else
        snprintf(buf, n, "%.0f", r);
}

/* "-" while no batch of the epoch has been applied (all skipped so far). */
static const char *fmt_loss(double v, char *buf)
{
    if (isfinite(v))
        snprintf(buf, 32, "%.4f", v);
    else
        snprintf(buf, 32, "-");
    return buf;
}

static void on_progress(const voz_train_progress *p, void *user)
{
    struct ui *ui = user;
    double now = voz_now();
    char eta[32], rate[32], loss[32];
    if (p->event == VOZ_TRAIN_INFO) {
        if (ui->line_open)
            fputs("\r\033[K", stderr);
        ui->line_open = 0;
        cli_error("%s", p->message);
        return;
    }
    fmt_rate(p->frames_per_s, rate, sizeof rate);
    if (p->event == VOZ_TRAIN_STEP) {
        int last = p->batch == p->batches;
        if (ui->tty) {
            if (!last && now - ui->last_draw < 0.2)
                return;
            int width = 24, done = p->batches ? width * p->batch / p->batches : width;
            char bar[64];
            for (int i = 0; i < width; i++)
                bar[i] = i < done ? '=' : i == done ? '>' : '.';
            bar[width] = 0;
            fmt_time(p->eta_s, eta, sizeof eta);
            fprintf(stderr, "\r\033[Kepoch %d/%d %*d/%d [%s] loss %s - %s frames/s - ETA %s", p->epoch, p->epochs,
                    (int)snprintf(NULL, 0, "%d", p->batches), p->batch, p->batches, bar, fmt_loss(p->loss, loss),
                    rate, eta);
            if (p->skipped)
                fprintf(stderr, " - %llu skipped", (unsigned long long)p->skipped);
            fflush(stderr);
            ui->line_open = 1;
            ui->last_draw = now;
        } else if (now - ui->last_draw >= 30 && !last) {
            fmt_time(p->eta_s, eta, sizeof eta);
            fprintf(stderr, "epoch %d/%d: batch %d/%d, loss %s, %s frames/s, %llu skipped, ETA %s\n", p->epoch,
                    p->epochs, p->batch, p->batches, fmt_loss(p->loss, loss), rate, (unsigned long long)p->skipped, eta);
            ui->last_draw = now;
        }
        return;
    }
    /* Epoch end. */
    if (ui->line_open)
        fputs("\r\033[K", stderr);
    ui->line_open = 0;
    fmt_time(p->seconds, eta, sizeof eta);
    fprintf(stderr, "epoch %d/%d: loss %s", p->epoch, p->epochs, fmt_loss(p->loss, loss));
    if (isfinite(p->dev_wer)) {
        fprintf(stderr, ", dev loss %.4f, CER %.2f%%, WER %.2f%%", p->dev_loss, 100 * p->dev_cer, 100 * p->dev_wer);
        if (fabs(p->greedy_wer - p->dev_wer) > 1e-12 || fabs(p->greedy_cer - p->dev_cer) > 1e-12)
            fprintf(stderr, " (greedy CER %.2f%%, WER %.2f%%)", 100 * p->greedy_cer, 100 * p->greedy_wer);
    }
    fprintf(stderr, ", %d batches, %llu skipped, %s frames/s, lr %.3g, %s%s\n", p->batches,
            (unsigned long long)p->skipped, rate, p->lr, eta, p->is_best && isfinite(p->dev_wer) ? " [best]" : "");
    ui->last_draw = now;
}

/* "MIN:MAX" of doubles, each within [lo, hi], MIN <= MAX. */
/* "A:B" with A in [lo_a, hi_a] and B in [lo_b, hi_b]; `form` names the two in errors. */
static void parse_two(const char *opt, const char *form, const char *s, double lo_a, double hi_a, double lo_b,
                      double hi_b, double *a, double *b)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon)
        cli_die(EXIT_USAGE, "%s needs %s, not '%s'", opt, form, s ? s : "");
    char left[64];
    size_t n = (size_t)(colon - s);
    if (n >= sizeof left)
        cli_die(EXIT_USAGE, "%s needs %s, not '%s'", opt, form, s);
    memcpy(left, s, n);
    left[n] = 0;
    *a = cli_parse_double(opt, left, lo_a, hi_a);
    *b = cli_parse_double(opt, colon + 1, lo_b, hi_b);
}

static void parse_range(const char *opt, const char *s, double lo, double hi, double *a, double *b)
{
    parse_two(opt, "MIN:MAX", s, lo, hi, lo, hi, a, b);
    if (*a > *b)
        cli_die(EXIT_USAGE, "%s: MIN %g is above MAX %g", opt, *a, *b);
}

static void parse_int_pair(const char *opt, const char *s, int lo, int hi, int *a, int *b)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || strchr(colon + 1, ':'))
        cli_die(EXIT_USAGE, "%s needs two whole numbers as A:B, not '%s'", opt, s ? s : "");
    char left[32];
    size_t n = (size_t)(colon - s);
    if (n >= sizeof left)
        cli_die(EXIT_USAGE, "%s needs two whole numbers as A:B, not '%s'", opt, s);
    memcpy(left, s, n);
    left[n] = 0;
    *a = cli_parse_int(opt, left, lo, hi);
    *b = cli_parse_int(opt, colon + 1, lo, hi);
}

int cmd_train(int argc, char **argv)
{
    voz_train_params p = voz_train_default_params();
    const char **train = calloc((size_t)argc + 1, sizeof *train);
    const char **compose = calloc((size_t)argc + 1, sizeof *compose);
    const char **meta = calloc((size_t)argc + 1, sizeof *meta);
    if (!train || !compose || !meta)
        cli_die(1, "out of memory");
    int verbose = 0, n_ens = 0;
    float ens[VOZ_MAX_WARPS];
    const char *wave_opt = NULL; /* the first waveform augmentation option given */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64];
        const char *val = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            free(train);
            free(compose);
            free(meta);
            usage(stdout);
            cli_check_stdout();
            return 0;
        }
        if (!strcmp(a, "-v")) {
            verbose = 1;
            continue;
        }
        /* Every input is an option's value (a name starting with '-' included: --out -m.voz). */
        if (a[0] == '-' && a[1] && a[1] != '-')
            cli_die(EXIT_USAGE, "unknown option '%s' (see voz train --help)", a);
        if (strncmp(a, "--", 2) || !a[2])
            cli_die(EXIT_USAGE, "unexpected argument '%s'; voz train takes only options (see voz train --help)", a);
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
#define FLAG(n) (!strcmp(name, n) && !val)
#define OPT(n) (!strcmp(name, n) && (val || (i + 1 < argc ? (val = argv[++i], 1) : \
                (cli_die(EXIT_USAGE, "option '%s' needs a value (see voz train --help)", n), 0))))
        if (OPT("--out")) {
            p.out = val;
        } else if (OPT("--train")) {
            train[p.n_train++] = val;
        } else if (OPT("--compose")) {
            compose[p.n_compose++] = val;
        } else if (OPT("--dev")) {
            p.dev = val;
        } else if (OPT("--cell")) {
            if (voz_cell_parse(val, &p.cell))
                cli_die(EXIT_USAGE, "--cell must be lstm, gru, rnn or rnn_relu, not '%s'", val);
        } else if (OPT("--layers")) {
            p.layers = cli_parse_int(name, val, 1, VOZ_NET_MAX_LAYERS);
        } else if (OPT("--hidden")) {
            p.hidden = cli_parse_int(name, val, 1, 4096);
        } else if (OPT("--epochs")) {
            p.epochs = cli_parse_int(name, val, 1, 100000);
        } else if (OPT("--batch-size")) {
            p.batch_size = cli_parse_int(name, val, 1, 4096);
        } else if (OPT("--lr")) {
            p.lr.base_lr = (float)cli_parse_double(name, val, 1e-12, 1e12);
        } else if (OPT("--optimizer")) {
            if (voz_optim_parse(val, &p.optim.kind))
                cli_die(EXIT_USAGE, "--optimizer must be adam or sgd, not '%s'", val);
        } else if (OPT("--momentum")) {
            p.optim.momentum = (float)cli_parse_double(name, val, 0, 0.999999);
        } else if (OPT("--clip")) {
            p.clip = (float)cli_parse_double(name, val, 0, 1e12);
        } else if (OPT("--warmup")) {
            p.lr.warmup = cli_parse_int(name, val, 0, 100000000);
        } else if (OPT("--lr-decay")) {
            p.lr.decay = (float)cli_parse_double(name, val, 1e-6, 1);
        } else if (FLAG("--plateau")) {
            p.lr.plateau = 1;
        } else if (OPT("--seed")) {
            p.seed = (uint64_t)cli_parse_int(name, val, 0, 2147483647);
        } else if (OPT("--threads")) {
            p.threads = cli_parse_int(name, val, 1, 64);
        } else if (FLAG("--resume")) {
            p.resume = 1;
        } else if (OPT("--checkpoint-every")) {
            p.checkpoint_every = cli_parse_double(name, val, 0, 1e9);
        } else if (OPT("--max-minutes")) {
            p.max_minutes = cli_parse_double(name, val, 0, 1e9);
        } else if (OPT("--sample-rate")) {
            p.sample_rate = cli_parse_int(name, val, 1000, 384000);
        } else if (OPT("--alphabet")) {
            p.alphabet = val;
            struct voz_alphabet alpha;
            if (voz_alphabet_init(&alpha, val) != VOZ_OK) /* a bad option: a usage error */
                cli_die(EXIT_USAGE, "--%s", voz_last_error());
            voz_alphabet_release(&alpha);
        } else if (OPT("--words")) {
            p.words = val;
        } else if (OPT("--compose-count")) {
            p.compose_count = cli_parse_int(name, val, 1, 100000000);
        } else if (OPT("--compose-words")) {
            parse_int_pair(name, val, 1, 100, &p.compose_min, &p.compose_max);
            if (p.compose_min > p.compose_max)
                cli_die(EXIT_USAGE, "--compose-words: MIN %d is above MAX %d", p.compose_min, p.compose_max);
        } else if (OPT("--gap-ms")) {
            double lo, hi;
            parse_range(name, val, 0, 10000, &lo, &hi);
            p.gap_min_ms = (float)lo, p.gap_max_ms = (float)hi;
        } else if (OPT("--dropout")) {
            p.dropout = (float)cli_parse_double(name, val, 0.0, 0.9);
        } else if (OPT("--augment-variants")) {
            p.augment_variants = cli_parse_int(name, val, 0, 64);
        } else if (OPT("--speed")) {
            wave_opt = wave_opt ? wave_opt : "--speed";
            double lo, hi;
            parse_range(name, val, 0.25, 4, &lo, &hi);
            p.augment.speed_min = (float)lo, p.augment.speed_max = (float)hi;
        } else if (OPT("--crop")) {
            wave_opt = wave_opt ? wave_opt : "--crop";
            double pr, ms;
            parse_two(name, "P:MS", val, 0, 1, 0, 1000, &pr, &ms);
            p.augment.crop_prob = (float)pr, p.augment.crop_ms = (float)ms;
        } else if (OPT("--vtlp")) {
            wave_opt = wave_opt ? wave_opt : "--vtlp";
            double lo, hi;
            parse_range(name, val, 0.5, 2, &lo, &hi);
            p.augment.warp_min = (float)lo, p.augment.warp_max = (float)hi;
        } else if (OPT("--snr-db")) {
            wave_opt = wave_opt ? wave_opt : "--snr-db";
            double lo, hi;
            parse_range(name, val, -30, 120, &lo, &hi);
            p.augment.snr_min_db = (float)lo, p.augment.snr_max_db = (float)hi;
        } else if (OPT("--gain-db")) {
            wave_opt = wave_opt ? wave_opt : "--gain-db";
            double lo, hi;
            parse_range(name, val, -60, 60, &lo, &hi);
            p.augment.gain_min_db = (float)lo, p.augment.gain_max_db = (float)hi;
        } else if (OPT("--specaug-time")) {
            parse_int_pair(name, val, 0, 10000, &p.specaug.time_masks, &p.specaug.time_width);
        } else if (OPT("--specaug-freq")) {
            parse_int_pair(name, val, 0, 10000, &p.specaug.freq_masks, &p.specaug.freq_width);
        } else if (OPT("--specaug-mel")) {
            parse_int_pair(name, val, 0, 10000, &p.specaug.mel_masks, &p.specaug.mel_width);
        } else if (FLAG("--skip-bad")) {
            p.skip_bad = 1;
        } else if (OPT("--name")) {
            p.name = val;
        } else if (OPT("--meta")) {
            if (!strchr(val, '=') || val[0] == '=')
                cli_die(EXIT_USAGE, "--meta needs KEY=VALUE, not '%s'", val);
            /* A decoding default the model could not be loaded with: refused now, not
               after the training. */
            if (!strncmp(val, "vtln_ensemble=", 14)) {
                if (voz_warps_parse(val + 14, ens, &n_ens) != VOZ_OK)
                    cli_die(EXIT_USAGE, "--meta vtln_ensemble: %s", voz_last_error());
            }
            meta[p.n_meta++] = val;
        } else if (FLAG("--verbose")) {
            verbose = 1;
        } else if (val && (!strcmp(name, "--plateau") || !strcmp(name, "--resume") || !strcmp(name, "--skip-bad") ||
                           !strcmp(name, "--verbose"))) {
            cli_die(EXIT_USAGE, "option '%s' takes no value, found '%s' (see voz train --help)", name, val);
        } else {
            cli_die(EXIT_USAGE, "unknown option '%s' (see voz train --help)", name);
        }
#undef FLAG
#undef OPT
    }
    if (!p.out)
        cli_die(EXIT_USAGE, "--out MODEL.voz is required (see voz train --help)");
    /* Warps must fit the filterbank at the model's rate (the VTLN knees sit 100 Hz and
       500 Hz inside the band): found here, not by the first clip's features. */
    voz_feature_params feat = voz_feature_default_params();
    feat.sample_rate = (float)p.sample_rate;
    const float vtlp[2] = { p.augment.warp_min, p.augment.warp_max };
    char vtlp_opt[64];
    snprintf(vtlp_opt, sizeof vtlp_opt, "--vtlp (at --sample-rate %d)", p.sample_rate);
    cli_check_warps_fit(vtlp_opt, &feat, vtlp, vtlp[0] != 1 || vtlp[1] != 1 ? 2 : 0);
    snprintf(vtlp_opt, sizeof vtlp_opt, "--meta vtln_ensemble (at --sample-rate %d)", p.sample_rate);
    cli_check_warps_fit(vtlp_opt, &feat, ens, n_ens);
    if (p.n_train + p.n_compose == 0)
        cli_die(EXIT_USAGE, "no training data: give --train or --compose manifests");
    /* Waveform augmentation makes the variants of --compose clips; without any, the
       option would be silently ignored. */
    if (wave_opt && (p.n_compose == 0 || p.augment_variants == 0))
        cli_die(EXIT_USAGE, "%s shapes the augmented variants of --compose clips, and this run has none (%s)",
                wave_opt, p.n_compose == 0 ? "no --compose manifest" : "--augment-variants 0");
    p.train = train;
    p.compose = compose;
    p.meta = meta;

    cli_setup_log(verbose);
    struct ui ui = { .tty = isatty(STDERR_FILENO), .last_draw = voz_now() };
    p.on_progress = on_progress;
    p.should_stop = should_stop;
    p.user_data = &ui;
    /* Ctrl-C, kill and a closed terminal all stop after the current batch and leave a
       checkpoint to --resume from. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    voz_train_result r;
    voz_status s = voz_train_run(&p, &r);
    if (ui.line_open)
        fputs("\n", stderr);
    free(train);
    free(compose);
    free(meta);
    if (s != VOZ_OK)
        cli_die(r.options_changed ? EXIT_USAGE : 1, "%s", voz_last_error()[0] ? voz_last_error() : voz_status_str(s));
    if (!r.has_model) {
        /* Stopped before the first epoch ended: only the checkpoint exists. */
        printf("%s: not written (stopped inside epoch %d before any model was finished), %llu batches skipped; "
               "continue with --resume\n", p.out, r.epochs_done + 1, (unsigned long long)r.skipped);
        cli_check_stdout();
        return stop_requested ? 1 : 0;
    }
    printf("%s: %d epochs", p.out, r.epochs_done);
    if (isfinite(r.best_wer))
        printf(", best dev WER %.2f%% (epoch %d)", 100 * r.best_wer, r.best_epoch);
    printf(", %llu batches skipped, %.0f frames/s, weights crc32 %08x%s\n", (unsigned long long)r.skipped,
           r.frames_per_s, r.weights_crc, r.stopped ? " (stopped early; continue with --resume)" : "");
    cli_check_stdout();
    if (r.stopped && stop_requested)
        return 1;
    return 0;
}
