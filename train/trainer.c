/* train/trainer.c — the training loop: data -> feature cache -> epochs of shuffled,
   length-bucketed batches -> CTC loss -> backward -> clip -> Adam/SGD; dev CER/WER per
   epoch; best model, checkpoint, CSV log and SVG curve next to --out.
   Shapes: B batch, T frames (the batch's longest), D feature dim, C classes.
   Determinism: every random draw derives from (seed, epoch, batch, item), the state
   that changes (weights, moments, counters, schedule, sums) is all in the checkpoint,
   and checkpoints are taken between batches, so a resumed run repeats the
   uninterrupted one bit for bit. */
#include "train/trainer.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/manifest.h"
#include "train/metrics.h"
#include "train/report.h"
#include "train/text.h"
#include "acoustic/model_file.h"
#include "decoder/ctc.h"
#include "frontend/audio.h"
#include "frontend/mfcc.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum { RNG_SPECAUG = 11, RNG_INIT = 12 };

voz_train_params voz_train_default_params(void)
{
    return (voz_train_params){
        .cell = VOZ_CELL_LSTM,
        .layers = 2,
        .hidden = 128,
        .sample_rate = 16000,
        .alphabet = VOZ_DEFAULT_ALPHABET,
        .epochs = 20,
        .batch_size = 16,
        .optim = voz_optim_default_params(),
        .lr = voz_lr_default_params(),
        .clip = 5.0f,
        .seed = 1,
        .threads = 2,
        .checkpoint_every = 300,
        .compose_min = 1,
        .compose_max = 4,
        .gap_min_ms = 50,
        .gap_max_ms = 300,
        .augment_variants = 4,
        .augment = voz_augment_default_params(),
    };
}

uint32_t voz_train_weights_crc(const float *params, size_t n)
{
    return voz_crc32(0, params, n * sizeof *params);
}

struct trainer {
    const voz_train_params *p;
    struct voz_alphabet alpha;
    char **words;
    int n_words;
    voz_feature_params feat;
    voz_net_config cfg;
    size_t nf;                       /* floats in the parameter block */
    float *params, *grads;           /* [nf] */
    float *backup;                   /* [3 nf] params, m, v before an update */
    struct voz_net net, gnet;
    struct voz_net_ws *ws;
    struct voz_optim opt;
    struct voz_lr_schedule lr;
    struct voz_dataset ds;
    struct voz_compose_params cp;
    struct voz_melmask melmask;      /* SpecAugment on mel bands (--specaug-mel) */
    struct voz_ctc_beam *beam;       /* over the word list, or NULL */
    int *dev_order;                  /* dev utterances by length */
    char *options;                   /* canonical options text (checkpoint) */
    char *ckpt_path, *csv_path, *svg_path;
    char *lock_path;                 /* OUT.lock, held while the run lasts (take_lock) */
    int lock_fd;
    struct voz_checkpoint st;        /* the training state; params/m/v borrowed */
    int wrote_out;                   /* --out written by this run or an earlier one */
    int options_changed;             /* --resume refused: an option differs */
    struct voz_checkpoint resume_from; /* read and checked by setup(), taken by load_checkpoint() */
    int have_resume;
    float *probe_x;                  /* [probe_T][D] one utterance's features: a model is */
    int probe_T;                     /* written only when it gives finite output on it */
    /* batch buffers, grown on demand */
    float *x, *lp, *dl, *fbuf, *scratch;
    size_t x_cap, lp_cap, dl_cap, f_cap, s_cap;
    int *lens, *labels, *label_off;
    size_t lab_cap;
    int B_cap;
    double t0;                       /* voz_now() at the start of this run */
    double seconds0;                 /* training seconds of earlier runs */
    double last_ckpt;
    double run_frames, run_compute;  /* throughput of this run */
};

static void info(struct trainer *tr, const char *fmt, ...) VOZ_PRINTF(2, 3);
static void info(struct trainer *tr, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (tr->p->on_progress) {
        voz_train_progress pr = { .event = VOZ_TRAIN_INFO, .message = buf };
        tr->p->on_progress(&pr, tr->p->user_data);
    }
}

static char *path_with(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", base, suffix);
    return s;
}

/* ---- options that must not change across --resume ------------------------------------- */

struct sbuf { char *s; size_t n, cap; int oom; };

static void sb_printf(struct sbuf *b, const char *fmt, ...) VOZ_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (b->oom)
            return;
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        int k = b->s ? vsnprintf(b->s + b->n, room, fmt, ap) : -2;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 1024;
        if (k >= 0)
            while (nc < b->n + (size_t)k + 1)
                nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

/* CRC-32 of a whole file (0 when unreadable: the reading step reports that). */
static uint32_t file_crc(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    unsigned char buf[1 << 14];
    uint32_t crc = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        crc = voz_crc32(crc, buf, n);
    fclose(fp);
    return crc;
}

/* Manifests and the word list are read twice (their CRC for the resume check, then the
   rows), so a pipe would be empty the second time, and a FIFO without a writer blocks:
   training takes regular files only (`voz eval` reads a manifest once and takes pipes). */
static voz_status check_input_file(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return VOZ_OK; /* missing or unreadable: the reader names the error */
    if (S_ISDIR(st.st_mode))
        return voz_fail(VOZ_ERR_IO, "%s: is a directory, expected a %s file", path, what);
    if (!S_ISREG(st.st_mode))
        return voz_fail(VOZ_ERR_IO, "%s: not a regular file (a pipe or device); voz train reads each %s twice, "
                        "so give it a file", path, what);
    return VOZ_OK;
}

static voz_status check_input_files(const voz_train_params *p)
{
    voz_status s = p->words ? check_input_file(p->words, "word list") : VOZ_OK;
    for (int i = 0; i < p->n_train && s == VOZ_OK; i++)
        s = check_input_file(p->train[i], "manifest");
    for (int i = 0; i < p->n_compose && s == VOZ_OK; i++)
        s = check_input_file(p->compose[i], "manifest");
    if (s == VOZ_OK && p->dev)
        s = check_input_file(p->dev, "manifest");
    return s;
}

static char *canonical_options(const voz_train_params *p)
{
    struct sbuf b = { 0 };
    sb_printf(&b, "cell=%s\nlayers=%d\nhidden=%d\nsample_rate=%d\nalphabet=%s\n", voz_cell_name(p->cell), p->layers,
              p->hidden, p->sample_rate, p->alphabet);
    sb_printf(&b, "words=%s crc %08x\n", p->words ? p->words : "", p->words ? file_crc(p->words) : 0);
    for (int i = 0; i < p->n_train; i++)
        sb_printf(&b, "train=%s crc %08x\n", p->train[i], file_crc(p->train[i]));
    for (int i = 0; i < p->n_compose; i++)
        sb_printf(&b, "compose=%s crc %08x\n", p->compose[i], file_crc(p->compose[i]));
    sb_printf(&b, "dev=%s crc %08x\n", p->dev ? p->dev : "", p->dev ? file_crc(p->dev) : 0);
    sb_printf(&b, "batch_size=%d\noptimizer=%s\nlr=%.9g\nmomentum=%.9g\nclip=%.9g\nwarmup=%d\nlr_decay=%.9g\n"
              "plateau=%d\nseed=%llu\n", p->batch_size, voz_optim_name(p->optim.kind), p->lr.base_lr,
              p->optim.momentum, p->clip, p->lr.warmup, p->lr.decay, p->lr.plateau, (unsigned long long)p->seed);
    sb_printf(&b, "compose_count=%d\ncompose_words=%d:%d\ngap_ms=%.9g:%.9g\naugment_variants=%d\n"
              "speed=%.9g:%.9g\nsnr_db=%.9g:%.9g\ngain_db=%.9g:%.9g\nspecaug_time=%d:%d\nspecaug_freq=%d:%d\n"
              "skip_bad=%d\n", p->compose_count, p->compose_min, p->compose_max, p->gap_min_ms, p->gap_max_ms,
              p->augment_variants, p->augment.speed_min, p->augment.speed_max, p->augment.snr_min_db,
              p->augment.snr_max_db, p->augment.gain_min_db, p->augment.gain_max_db, p->specaug.time_masks,
              p->specaug.time_width, p->specaug.freq_masks, p->specaug.freq_width, p->skip_bad);
    /* Only when used, so checkpoints from before dropout existed still match. */
    if (p->dropout > 0)
        sb_printf(&b, "dropout=%.9g\n", p->dropout);
    if (p->augment.crop_prob > 0)
        sb_printf(&b, "crop=%.9g:%.9g\n", p->augment.crop_prob, p->augment.crop_ms);
    if (p->augment.warp_min != 1 || p->augment.warp_max != 1)
        sb_printf(&b, "vtlp=%.9g:%.9g\n", p->augment.warp_min, p->augment.warp_max);
    if (p->specaug.mel_masks > 0)
        sb_printf(&b, "specaug_mel=%d:%d\n", p->specaug.mel_masks, p->specaug.mel_width);
    /* Last, so a checkpoint from before this line existed names it when it differs. The
       thread count decides how the two directions' gradients are summed, so the bit-exact
       resume holds only for the same count. */
    sb_printf(&b, "threads=%d\n", p->threads >= 2 ? 2 : 1);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Names the first option line that differs between two canonical texts. A changed
   thread count is only a warning: today both counts give the same weights, but the
   bit-exact promise is made for the same --threads only. */
/* The values of key `k` (length kl) in an options text, one "key=value" per line,
   joined by '\n' into out (a key such as train= may repeat; order matters). */
static void option_values(const char *text, const char *k, size_t kl, struct sbuf *out)
{
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        if (ll > kl && l[kl] == '=' && !memcmp(l, k, kl))
            sb_printf(out, "%s%.*s", out->s && out->s[0] ? "\n" : "", (int)(ll - kl - 1), l + kl + 1);
        l += ll + (e != NULL);
    }
}

/* An option value for a message: its decimal fractions at float precision ("0.002"
   for the stored "0.00200000009", "0.8:1.25"), so the user sees what was typed. Only
   whole tokens between ':', ',', ';' and spaces that are numbers with a point change;
   paths, names and checksums stay as they are. */
static void pretty_value(const char *v, char *out, size_t cap)
{
    size_t k = 0;
    while (*v && k + 1 < cap) {
        size_t tok = strcspn(v, ":,; ");
        char *end = NULL;
        double d = tok && memchr(v, '.', tok) && strspn(v, "0123456789.eE+-") >= tok ? strtod(v, &end) : 0;
        if (end == v + tok && k + 32 < cap) {
            k += (size_t)snprintf(out + k, cap - k, "%.7g", d);
            v += tok;
        } else {
            for (size_t i = 0; i < tok && k + 1 < cap; i++)
                out[k++] = *v++;
        }
        if (*v && k + 1 < cap)
            out[k++] = *v++; /* the separator */
    }
    out[k] = 0;
}

static void lines_to_semicolons(char *s, size_t cap)
{
    for (char *nl; (nl = strchr(s, '\n'));) {
        size_t n = strlen(s);
        if (n + 2 > cap) { /* no room to widen: the separator alone */
            *nl = ';';
            continue;
        }
        memmove(nl + 2, nl + 1, n - (size_t)(nl - s));
        nl[0] = ';';
        nl[1] = ' ';
    }
}

/* Compares the options a checkpoint was written with to the current ones, key by key
   (a checkpoint may predate a key, or a key may be written only when used, like
   dropout). A changed --threads is a warning; any other change refuses the resume. */
static voz_status options_mismatch(struct trainer *tr, const char *ckpt, const char *saved, const char *now)
{
    for (int side = 0; side < 2; side++) {
        for (const char *l = side ? saved : now; *l;) {
            const char *e = strchr(l, '\n');
            size_t ll = e ? (size_t)(e - l) : strlen(l);
            const char *eq = memchr(l, '=', ll);
            size_t kl = eq ? (size_t)(eq - l) : ll;
            struct sbuf va = { 0 }, vb = { 0 };
            option_values(saved, l, kl, &va);
            option_values(now, l, kl, &vb);
            if (va.oom || vb.oom) {
                free(va.s);
                free(vb.s);
                return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory comparing options", ckpt);
            }
            const char *sa = va.s ? va.s : "", *sn = vb.s ? vb.s : "";
            int differ = (va.s != NULL) != (vb.s != NULL) || strcmp(sa, sn) != 0;
            voz_status st = VOZ_OK;
            if (differ && kl == 7 && !memcmp(l, "threads", 7)) {
                if (side == 0) /* report once */
                    info(tr, "warning: %s: threads=%s differs from the checkpoint's %s%s; training continues, but a "
                         "resumed run is promised to repeat an uninterrupted one bit for bit only with the same "
                         "--threads", ckpt, vb.s ? sn : "(not set)", "threads=",
                         va.s ? sa : "(not recorded)");
            } else if (differ) {
                /* Shown at float precision unless that would make the two look alike. */
                char pa[160], pn[160];
                pretty_value(sa, pa, sizeof pa);
                pretty_value(sn, pn, sizeof pn);
                if (!strcmp(pa, pn) || strlen(sa) >= sizeof pa - 32 || strlen(sn) >= sizeof pn - 32) {
                    snprintf(pa, sizeof pa, "%s", sa);
                    snprintf(pn, sizeof pn, "%s", sn);
                }
                /* A repeated key (train=) joins its values by newlines: shown as "; ". */
                lines_to_semicolons(pa, sizeof pa);
                lines_to_semicolons(pn, sizeof pn);
                st = voz_fail(VOZ_ERR_INVALID, "%s: option '%.*s' differs from the checkpoint (was %s%.*s%s%s%s, "
                              "now %s%.*s%s%s%s); resume with the same options, or delete the checkpoint to start afresh",
                              ckpt, (int)kl, l, va.s ? "'" : "", va.s ? (int)kl : 0, l, va.s ? "=" : "",
                              va.s ? pa : "not set", va.s ? "'" : "", vb.s ? "'" : "", vb.s ? (int)kl : 0, l,
                              vb.s ? "=" : "", vb.s ? pn : "not set", vb.s ? "'" : "");
            }
            free(va.s);
            free(vb.s);
            if (st != VOZ_OK)
                return st;
            l += ll + (e != NULL);
        }
    }
    return VOZ_OK;
}

/* ---- buffers ------------------------------------------------------------------------- */

static int grow(float **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = need + need / 2;
    float *nb = NULL;
    if (nc > SIZE_MAX / sizeof(float) || !(nb = voz_alloc_aligned(nc * sizeof *nb)))
        return -1;
    voz_free_aligned(*buf);
    *buf = nb;
    *cap = nc;
    return 0;
}

/* Prepares x [T][B][D], logprobs and dlogits [T][B][C], per-item feature scratch. */
static voz_status batch_buffers(struct trainer *tr, int T, int B, int maxT, size_t total_labels)
{
    size_t tb, xs, ls;
    if (voz_mul_size((size_t)T, (size_t)B, &tb) || voz_mul_size(tb, (size_t)tr->ds.D, &xs) ||
        voz_mul_size(tb, (size_t)tr->cfg.classes, &ls))
        return voz_fail(VOZ_ERR_NOMEM, "batch of %d x %d frames is too large", B, T);
    if (grow(&tr->x, &tr->x_cap, xs) || grow(&tr->lp, &tr->lp_cap, ls) || grow(&tr->dl, &tr->dl_cap, ls) ||
        grow(&tr->fbuf, &tr->f_cap, (size_t)maxT * tr->ds.D) || grow(&tr->scratch, &tr->s_cap, (size_t)maxT * tr->ds.C))
        return voz_fail(VOZ_ERR_NOMEM, "out of memory for a batch of %d x %d frames", B, T);
    if (B > tr->B_cap) {
        int *nl = realloc(tr->lens, (size_t)B * sizeof *nl);
        int *no = nl ? realloc(tr->label_off, (size_t)(B + 1) * sizeof *no) : NULL;
        if (nl)
            tr->lens = nl;
        if (no)
            tr->label_off = no;
        if (!nl || !no)
            return voz_fail(VOZ_ERR_NOMEM, "out of memory for a batch of %d", B);
        tr->B_cap = B;
    }
    if (total_labels > tr->lab_cap) {
        int *nl = realloc(tr->labels, total_labels * sizeof *nl);
        if (!nl)
            return voz_fail(VOZ_ERR_NOMEM, "out of memory for %zu labels", total_labels);
        tr->labels = nl;
        tr->lab_cap = total_labels;
    }
    return VOZ_OK;
}

/* ---- one training batch -------------------------------------------------------------- */

/* Fills x [T][B][D] (zero padding), lens, labels of batch `b` of the plan; with
   `augment`, SpecAugment from the (seed, epoch, batch, item) stream. */
static voz_status pack_batch(struct trainer *tr, const struct voz_epoch_plan *plan, int epoch, int b, int *T_out,
                             int *B_out, long *frames)
{
    const int *idx = plan->order + plan->batch_start[b];
    int B = plan->batch_start[b + 1] - plan->batch_start[b];
    int T = 0;
    size_t nl = 0;
    for (int j = 0; j < B; j++) {
        const struct voz_item *it = &plan->items[idx[j]];
        if (it->T > T)
            T = it->T;
        nl += (size_t)it->L;
    }
    voz_status s = batch_buffers(tr, T, B, T, nl + 1);
    if (s != VOZ_OK)
        return s;
    const int D = tr->ds.D;
    memset(tr->x, 0, (size_t)T * B * D * sizeof *tr->x);
    size_t off = 0;
    *frames = 0;
    for (int j = 0; j < B; j++) {
        const struct voz_item *it = &plan->items[idx[j]];
        voz_item_base(&tr->ds, plan, it, tr->scratch);
        struct voz_rng rng = voz_rng_derive(tr->p->seed, RNG_SPECAUG, (uint64_t)epoch, ((uint64_t)b << 20) | (uint64_t)j);
        if (tr->p->specaug.mel_masks > 0) {
            /* Mel-band masks sit inside CMVN (train/augment.h); the trainer's features
               are always normalised per utterance. */
            voz_deltas_compute(tr->scratch, (size_t)it->T, tr->ds.C, tr->feat.delta_order, tr->feat.delta_window,
                               tr->fbuf);
            voz_melmask_cmvn(&tr->melmask, &tr->p->specaug, &rng, tr->fbuf, it->T, tr->feat.cmvn_var);
        } else {
            voz_dataset_finish(&tr->ds, tr->scratch, it->T, tr->fbuf);
        }
        voz_specaug_apply(&tr->p->specaug, &rng, tr->fbuf, it->T, D, tr->ds.C);
        for (int t = 0; t < it->T; t++)
            memcpy(tr->x + ((size_t)t * B + j) * D, tr->fbuf + (size_t)t * D, (size_t)D * sizeof *tr->x);
        tr->lens[j] = it->T;
        tr->label_off[j] = (int)off;
        voz_item_labels(&tr->ds, plan, it, tr->labels + off);
        off += (size_t)it->L;
        *frames += it->T;
    }
    tr->label_off[B] = (int)off;
    *T_out = T;
    *B_out = B;
    return VOZ_OK;
}

/* Forward, CTC, backward, clip, update. *applied = 0 when the batch was skipped
   (non-finite loss, gradient or updated weights); the weights are then unchanged. */
static voz_status train_batch(struct trainer *tr, const struct voz_epoch_plan *plan, int epoch, int b,
                              double *loss_sum, int *n_utts, long *frames, int *applied)
{
    int T, B;
    *applied = 0;
    voz_status s = pack_batch(tr, plan, epoch, b, &T, &B, frames);
    if (s != VOZ_OK)
        return s;
    const int C = tr->cfg.classes;
    if (tr->p->dropout > 0) {
        struct voz_rng r = voz_rng_derive(tr->p->seed, 0xD809u, (uint64_t)epoch, (uint64_t)b);
        if ((s = voz_net_ws_dropout(tr->ws, tr->p->dropout, voz_rng_next(&r))) != VOZ_OK)
            return s;
    }
    s = voz_net_forward(&tr->net, tr->ws, tr->x, tr->lens, T, B, tr->lp, 1);
    if (s != VOZ_OK)
        return s;
    memset(tr->dl, 0, (size_t)T * B * C * sizeof *tr->dl);
    double loss = 0;
    for (int j = 0; j < B; j++) {
        double l = voz_ctc_loss(tr->lp + (size_t)j * C, tr->lens[j], C, (size_t)B * C, tr->labels + tr->label_off[j],
                                tr->label_off[j + 1] - tr->label_off[j], 0, tr->dl + (size_t)j * C);
        loss += l;
    }
    if (!isfinite(loss))
        return VOZ_OK;
    /* Mean over utterances: each utterance's gradient is scaled by 1/B. */
    const float inv_b = 1.0f / (float)B;
    for (size_t i = 0, n = (size_t)T * B * C; i < n; i++)
        tr->dl[i] *= inv_b;
    memset(tr->grads, 0, tr->nf * sizeof *tr->grads);
    s = voz_net_backward(&tr->net, tr->ws, tr->dl, &tr->gnet, NULL);
    if (s != VOZ_OK)
        return s;
    double norm = voz_optim_clip(tr->grads, tr->nf, tr->p->clip);
    if (!isfinite(norm))
        return VOZ_OK;
    size_t nf = tr->nf;
    memcpy(tr->backup, tr->params, nf * sizeof *tr->params);
    memcpy(tr->backup + nf, tr->opt.m, nf * sizeof *tr->params);
    if (tr->opt.v)
        memcpy(tr->backup + 2 * nf, tr->opt.v, nf * sizeof *tr->params);
    uint64_t t_before = tr->opt.t;
    voz_optim_step(&tr->opt, tr->params, tr->grads, voz_lr_at(&tr->lr, tr->st.step));
    if (!voz_optim_all_finite(tr->params, nf) || !voz_optim_all_finite(tr->opt.m, nf) ||
        (tr->opt.v && !voz_optim_all_finite(tr->opt.v, nf))) {
        memcpy(tr->params, tr->backup, nf * sizeof *tr->params);
        memcpy(tr->opt.m, tr->backup + nf, nf * sizeof *tr->params);
        if (tr->opt.v)
            memcpy(tr->opt.v, tr->backup + 2 * nf, nf * sizeof *tr->params);
        tr->opt.t = t_before;
        return VOZ_OK;
    }
    *loss_sum += loss;
    *n_utts += B;
    *applied = 1;
    return VOZ_OK;
}

/* ---- dev evaluation ------------------------------------------------------------------ */

static char *labels_text(const struct trainer *tr, const int *labels, int L)
{
    char *raw = voz_alphabet_decode(&tr->alpha, labels, L);
    if (!raw)
        return NULL;
    char *t = voz_text_normalize(raw, NULL);
    free(raw);
    return t;
}

struct dev_result {
    double loss;                      /* mean per utterance */
    struct voz_error_counts greedy, best; /* best: the default decoder */
};

static voz_status evaluate(struct trainer *tr, struct dev_result *r)
{
    memset(r, 0, sizeof *r);
    const int n = tr->ds.n_dev, D = tr->ds.D, C = tr->cfg.classes;
    const int Bmax = tr->p->batch_size;
    double loss = 0;
    int *hyp = NULL;
    size_t hyp_cap = 0;
    voz_status s = VOZ_OK;
    for (int i0 = 0; i0 < n && s == VOZ_OK; i0 += Bmax) {
        int B = n - i0 < Bmax ? n - i0 : Bmax;
        int T = 0;
        for (int j = 0; j < B; j++)
            if (tr->ds.dev[tr->dev_order[i0 + j]].T > T)
                T = tr->ds.dev[tr->dev_order[i0 + j]].T;
        if ((s = batch_buffers(tr, T, B, T, 1)) != VOZ_OK)
            break;
        if ((size_t)T + 1 > hyp_cap) {
            int *nh = realloc(hyp, ((size_t)T + 1) * sizeof *nh);
            if (!nh) {
                s = voz_fail(VOZ_ERR_NOMEM, "dev: out of memory");
                break;
            }
            hyp = nh;
            hyp_cap = (size_t)T + 1;
        }
        memset(tr->x, 0, (size_t)T * B * D * sizeof *tr->x);
        for (int j = 0; j < B; j++) {
            const struct voz_utt *u = &tr->ds.dev[tr->dev_order[i0 + j]];
            for (int t = 0; t < u->T; t++)
                memcpy(tr->x + ((size_t)t * B + j) * D, u->x + (size_t)t * D, (size_t)D * sizeof *tr->x);
            tr->lens[j] = u->T;
        }
        if ((s = voz_net_forward(&tr->net, tr->ws, tr->x, tr->lens, T, B, tr->lp, 0)) != VOZ_OK)
            break;
        for (int j = 0; j < B && s == VOZ_OK; j++) {
            const struct voz_utt *u = &tr->ds.dev[tr->dev_order[i0 + j]];
            const float *lp = tr->lp + (size_t)j * C;
            size_t stride = (size_t)B * C;
            loss += voz_ctc_loss(lp, u->T, C, stride, u->labels, u->L, 0, NULL);
            int L = voz_ctc_greedy(lp, u->T, C, stride, 0, hyp, NULL, NULL);
            char *text = labels_text(tr, hyp, L);
            if (!text) {
                s = voz_fail(VOZ_ERR_NOMEM, "dev: out of memory");
                break;
            }
            s = voz_metrics_add(&r->greedy, u->text, text);
            if (s == VOZ_OK && !tr->beam)
                s = voz_metrics_add(&r->best, u->text, text);
            free(text);
            if (s == VOZ_OK && tr->beam) {
                L = voz_ctc_beam_decode(tr->beam, lp, u->T, stride, hyp, NULL, NULL);
                text = labels_text(tr, hyp, L < 0 ? 0 : L);
                if (!text)
                    s = voz_fail(VOZ_ERR_NOMEM, "dev: out of memory");
                else
                    s = voz_metrics_add(&r->best, u->text, text);
                free(text);
            }
        }
    }
    free(hyp);
    r->loss = n ? loss / n : NAN;
    return s;
}

/* ---- model file ---------------------------------------------------------------------- */

/* Finite weights can still overflow in the forward pass (a ReLU RNN after a huge
   step): run the probe utterance, VOZ_ERR_NONFINITE when any log-probability is not
   finite. Uses the batch buffers between batches, so training is unaffected. */
static voz_status probe_model(struct trainer *tr)
{
    if (!tr->probe_x)
        return VOZ_OK;
    const int T = tr->probe_T, D = tr->ds.D, C = tr->cfg.classes;
    voz_status s = batch_buffers(tr, T, 1, T, 1);
    if (s != VOZ_OK)
        return s;
    memcpy(tr->x, tr->probe_x, (size_t)T * D * sizeof *tr->x);
    tr->lens[0] = T;
    if ((s = voz_net_forward(&tr->net, tr->ws, tr->x, tr->lens, T, 1, tr->lp, 0)) != VOZ_OK)
        return s;
    return voz_optim_all_finite(tr->lp, (size_t)T * C) ? VOZ_OK : VOZ_ERR_NONFINITE;
}

/* The probe: the first dev utterance, else the first training row, else the first
   composed utterance of epoch 1. */
static voz_status probe_init(struct trainer *tr)
{
    const int D = tr->ds.D;
    const struct voz_utt *u = tr->ds.n_dev ? &tr->ds.dev[0] : tr->ds.n_train ? &tr->ds.train[0] : NULL;
    if (u) {
        if (!(tr->probe_x = voz_alloc_aligned((size_t)u->T * D * sizeof(float))))
            return voz_fail(VOZ_ERR_NOMEM, "train: out of memory");
        if (tr->ds.n_dev)
            memcpy(tr->probe_x, u->x, (size_t)u->T * D * sizeof(float));
        else
            voz_dataset_finish(&tr->ds, u->x, u->T, tr->probe_x); /* training rows keep base MFCC */
        tr->probe_T = u->T;
        return VOZ_OK;
    }
    struct voz_epoch_plan plan;
    voz_status s = voz_epoch_plan_build(&tr->ds, &tr->cp, 1, 0, &plan);
    if (s != VOZ_OK)
        return s;
    if (plan.n_items > 0) {
        const struct voz_item *it = &plan.items[plan.order[0]];
        float *scratch = malloc((size_t)it->T * tr->ds.C * sizeof *scratch);
        tr->probe_x = voz_alloc_aligned((size_t)it->T * D * sizeof(float));
        if (!scratch || !tr->probe_x)
            s = voz_fail(VOZ_ERR_NOMEM, "train: out of memory");
        else
            voz_item_features(&tr->ds, &plan, it, tr->probe_x, scratch);
        tr->probe_T = it->T;
        free(scratch);
    }
    voz_epoch_plan_release(&plan);
    return s;
}

static char **copy_strings(char *const *src, int n)
{
    char **d = calloc(n ? (size_t)n : 1, sizeof *d);
    for (int i = 0; d && i < n; i++)
        if (!(d[i] = strdup(src[i]))) {
            while (i--)
                free(d[i]);
            free(d);
            return NULL;
        }
    return d;
}

static void utc_date(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static voz_status write_model(struct trainer *tr, const char *path, int epochs_done, const struct dev_result *dev)
{
    const voz_train_params *p = tr->p;
    if (!voz_optim_all_finite(tr->params, tr->nf))
        return voz_fail(VOZ_ERR_NONFINITE, "%s: weights are not finite; model not written", path);
    voz_status ps = probe_model(tr);
    if (ps != VOZ_OK)
        return ps == VOZ_ERR_NONFINITE ? voz_fail(ps, "%s: the weights are finite but give non-finite "
                                                  "log-probabilities; model not written", path) : ps;
    struct voz_model_data md;
    memset(&md, 0, sizeof md);
    md.sample_rate = p->sample_rate;
    md.feat = tr->feat;
    md.net = tr->cfg;
    md.blank = 0;
    md.classes = copy_strings(tr->alpha.classes, tr->alpha.size + 1);
    md.params = voz_alloc_aligned(tr->nf * sizeof *md.params);
    if (tr->n_words) {
        md.words = copy_strings(tr->words, tr->n_words);
        md.n_words = md.words ? tr->n_words : 0;
    }
    voz_status s = VOZ_OK;
    if (!md.classes || !md.params || (tr->n_words && !md.words)) {
        s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    memcpy(md.params, tr->params, tr->nf * sizeof *md.params);
    char buf[4096], date[64];
    utc_date(date, sizeof date);
    struct { const char *k; char v[1024]; } kv[24];
    int nkv = 0;
#define KV(key, ...) do { kv[nkv].k = key; snprintf(kv[nkv].v, sizeof kv[nkv].v, __VA_ARGS__); nkv++; } while (0)
    KV("name", "%s", p->name ? p->name : "");
    KV("trained_by", "voz train %s", voz_version());
    KV("date", "%s", date);
    KV("train.epochs", "%d", epochs_done);
    KV("train.steps", "%llu", (unsigned long long)tr->st.step);
    KV("train.skipped_batches", "%llu", (unsigned long long)tr->st.total_skipped);
    KV("train.seconds", "%.0f", tr->seconds0 + (voz_now() - tr->t0));
    {
        /* The manifests by role, "train: a.tsv b.tsv; compose: c.tsv; dev: d.tsv". */
        size_t o2 = 0;
        char *v = kv[nkv].v;
        const size_t cap = sizeof kv[nkv].v;
        v[0] = 0;
        const char *const *lists[3] = { p->train, p->compose, p->dev ? &p->dev : NULL };
        const int counts[3] = { p->n_train, p->n_compose, p->dev ? 1 : 0 };
        const char *roles[3] = { "train", "compose", "dev" };
        for (int r = 0; r < 3; r++) {
            if (!counts[r])
                continue;
            o2 += (size_t)snprintf(v + o2, o2 < cap ? cap - o2 : 0, "%s%s:", o2 ? "; " : "", roles[r]);
            for (int i = 0; i < counts[r]; i++)
                o2 += (size_t)snprintf(v + o2, o2 < cap ? cap - o2 : 0, " %s", lists[r][i]);
        }
        kv[nkv++].k = "data.manifests";
    }
    KV("data.train_utterances", "%d", tr->ds.n_train);
    KV("data.compose_clips", "%d", tr->ds.n_clips);
    KV("data.dev_utterances", "%d", tr->ds.n_dev);
    if (dev && tr->ds.n_dev) {
        KV("dev.wer", "%.4f", voz_metrics_wer(&dev->best));
        KV("dev.cer", "%.4f", voz_metrics_cer(&dev->best));
        KV("dev.greedy_wer", "%.4f", voz_metrics_wer(&dev->greedy));
    }
#undef KV
    for (int i = 0; i < nkv && s == VOZ_OK; i++)
        if (kv[i].v[0])
            s = voz_model_data_set_meta(&md, kv[i].k, kv[i].v);
    /* Training options, one "key=value; ..." line (the checkpoint's canonical text). */
    size_t o = 0;
    for (const char *c = tr->options; *c && o + 3 < sizeof buf; c++) {
        if (*c == '\n') {
            if (c[1]) {
                buf[o++] = ';';
                buf[o++] = ' ';
            }
        } else {
            buf[o++] = *c;
        }
    }
    buf[o] = 0;
    if (s == VOZ_OK)
        s = voz_model_data_set_meta(&md, "train.options", buf);
    for (int i = 0; i < p->n_meta && s == VOZ_OK; i++) {
        const char *eq = strchr(p->meta[i], '=');
        if (!eq || eq == p->meta[i] || (size_t)(eq - p->meta[i]) >= sizeof buf) {
            s = voz_fail(VOZ_ERR_INVALID, "--meta '%s': expected KEY=VALUE", p->meta[i]);
            break;
        }
        memcpy(buf, p->meta[i], (size_t)(eq - p->meta[i]));
        buf[eq - p->meta[i]] = 0;
        s = voz_model_data_set_meta(&md, buf, eq + 1);
    }
    if (s == VOZ_OK)
        s = voz_model_data_write(&md, path);
out:
    voz_model_data_release(&md);
    return s;
}

/* ---- checkpoint ---------------------------------------------------------------------- */

static voz_status save_checkpoint(struct trainer *tr)
{
    struct voz_checkpoint *c = &tr->st;
    c->options = tr->options;
    c->net = tr->cfg;
    c->n_floats = tr->nf;
    c->params = tr->params;
    c->optim_kind = (int)tr->opt.p.kind;
    c->m = tr->opt.m;
    c->v = tr->opt.v;
    c->optim_t = tr->opt.t;
    c->lr_scale = tr->lr.scale;
    c->lr_best = tr->lr.best;
    c->lr_bad_epochs = tr->lr.bad_epochs;
    c->seconds = tr->seconds0 + (voz_now() - tr->t0);
    voz_status s = voz_checkpoint_write(c, tr->ckpt_path);
    tr->last_ckpt = voz_now();
    return s;
}

static int same_config(const voz_net_config *a, const voz_net_config *b)
{
    return a->cell == b->cell && a->input_dim == b->input_dim && a->hidden == b->hidden && a->layers == b->layers &&
           a->bidirectional == b->bidirectional && a->classes == b->classes;
}

/* Takes the checkpoint setup() read and checked (OUT.ckpt with --resume) into the
   trainer. *found = 0 when there was none. */
static voz_status load_checkpoint(struct trainer *tr, int *found)
{
    *found = 0;
    if (!tr->have_resume)
        return VOZ_OK;
    struct voz_checkpoint c = tr->resume_from;
    tr->have_resume = 0;
    if (!same_config(&c.net, &tr->cfg) || c.optim_kind != (int)tr->opt.p.kind) {
        voz_checkpoint_release(&c);
        return voz_fail(VOZ_ERR_FORMAT, "%s: network or optimizer differs from the options", tr->ckpt_path);
    }
    memcpy(tr->params, c.params, tr->nf * sizeof *tr->params);
    memcpy(tr->opt.m, c.m, tr->nf * sizeof *tr->params);
    if (tr->opt.v)
        memcpy(tr->opt.v, c.v, tr->nf * sizeof *tr->params);
    tr->opt.t = c.optim_t;
    tr->lr.scale = c.lr_scale;
    tr->lr.best = c.lr_best;
    tr->lr.bad_epochs = c.lr_bad_epochs;
    tr->seconds0 = c.seconds;
    /* Keep the counters and history; the borrowed pointers are set at save time. */
    free(tr->st.history);
    tr->st = c;
    tr->st.options = NULL;
    tr->st.params = tr->st.m = tr->st.v = NULL;
    free(c.options);
    voz_free_aligned(c.params);
    voz_free_aligned(c.m);
    voz_free_aligned(c.v);
    *found = 1;
    return VOZ_OK;
}

static voz_status push_history(struct trainer *tr, const struct voz_epoch_record *r)
{
    struct voz_epoch_record *nh = realloc(tr->st.history, (size_t)(tr->st.n_history + 1) * sizeof *nh);
    if (!nh)
        return voz_fail(VOZ_ERR_NOMEM, "out of memory for the training log");
    tr->st.history = nh;
    nh[tr->st.n_history++] = *r;
    return VOZ_OK;
}

static voz_status write_reports(struct trainer *tr)
{
    voz_status s = voz_report_write_csv(tr->csv_path, tr->st.history, tr->st.n_history);
    if (s == VOZ_OK) {
        char title[512];
        snprintf(title, sizeof title, "%s — %s %dx%d", tr->p->name ? tr->p->name : tr->p->out,
                 voz_cell_name(tr->cfg.cell), tr->cfg.layers, tr->cfg.hidden);
        s = voz_report_write_svg(tr->svg_path, tr->st.history, tr->st.n_history, title);
    }
    return s;
}

/* ---- setup --------------------------------------------------------------------------- */

static voz_status check_params(const voz_train_params *p)
{
    if (!p->out || !*p->out)
        return voz_fail(VOZ_ERR_INVALID, "train: no output model path");
    if (p->n_train + p->n_compose == 0)
        return voz_fail(VOZ_ERR_INVALID, "train: no training data, expected --train or --compose manifests");
    if (p->epochs < 1 || p->batch_size < 1 || p->batch_size > 4096)
        return voz_fail(VOZ_ERR_INVALID, "train: epochs must be >= 1 and batch size 1..4096, found %d and %d",
                        p->epochs, p->batch_size);
    if (p->sample_rate < 1000 || p->sample_rate > 384000)
        return voz_fail(VOZ_ERR_INVALID, "train: sample rate %d Hz, expected 1000..384000", p->sample_rate);
    if (!(p->lr.base_lr > 0) || !isfinite(p->lr.base_lr) || p->lr.warmup < 0 || !(p->lr.decay > 0) ||
        !(p->clip >= 0))
        return voz_fail(VOZ_ERR_INVALID, "train: learning rate must be > 0, warm-up >= 0, decay > 0, clip >= 0");
    if (p->compose_min < 1 || p->compose_max < p->compose_min || p->compose_max > 100 || p->compose_count < 0)
        return voz_fail(VOZ_ERR_INVALID, "train: --compose-words needs 1 <= MIN <= MAX <= 100, found %d:%d",
                        p->compose_min, p->compose_max);
    if (!(p->gap_min_ms >= 0) || p->gap_max_ms < p->gap_min_ms || p->gap_max_ms > 10000)
        return voz_fail(VOZ_ERR_INVALID, "train: --gap-ms needs 0 <= MIN <= MAX <= 10000");
    if (!(p->dropout >= 0 && p->dropout < 0.95f))
        return voz_fail(VOZ_ERR_INVALID, "train: --dropout must be 0 <= P < 0.95, found %g", (double)p->dropout);
    if (p->augment_variants < 0 || p->augment_variants > 64)
        return voz_fail(VOZ_ERR_INVALID, "train: --augment-variants must be 0..64, found %d", p->augment_variants);
    if (!(p->augment.speed_min > 0.2f) || p->augment.speed_max < p->augment.speed_min || p->augment.speed_max > 5)
        return voz_fail(VOZ_ERR_INVALID, "train: --speed needs 0.2 < MIN <= MAX <= 5");
    if (!(p->augment.crop_prob >= 0 && p->augment.crop_prob <= 1) ||
        !(p->augment.crop_ms >= 0 && p->augment.crop_ms <= 1000))
        return voz_fail(VOZ_ERR_INVALID, "train: --crop needs 0 <= P <= 1 and 0 <= MS <= 1000");
    if (!(p->augment.warp_min >= 0.5f) || p->augment.warp_max < p->augment.warp_min || p->augment.warp_max > 2)
        return voz_fail(VOZ_ERR_INVALID, "train: --vtlp needs 0.5 <= MIN <= MAX <= 2");
    if (p->specaug.time_masks < 0 || p->specaug.time_width < 0 || p->specaug.freq_masks < 0 ||
        p->specaug.freq_width < 0 || p->specaug.mel_masks < 0 || p->specaug.mel_width < 0)
        return voz_fail(VOZ_ERR_INVALID, "train: SpecAugment counts and widths must be >= 0");
    return VOZ_OK;
}

static int cmp_dev_len(const void *a, const void *b, void *ds_)
{
    const struct voz_dataset *ds = ds_;
    int x = *(const int *)a, y = *(const int *)b;
    if (ds->dev[x].T != ds->dev[y].T)
        return ds->dev[x].T < ds->dev[y].T ? -1 : 1;
    return (x > y) - (x < y);
}

static voz_status take_lock(struct trainer *tr);

/* A model at a higher rate than its training audio learns from upsampled audio with
   nothing above the audio's Nyquist frequency, and is slower for nothing: the default
   --sample-rate 16000 on FSDD's 8 kHz files. Checked on the first row of the first
   manifest, before the features are computed. */
static void warn_upsampled(struct trainer *tr)
{
    const voz_train_params *p = tr->p;
    const char *man = p->n_train ? p->train[0] : p->n_compose ? p->compose[0] : NULL;
    struct voz_manifest m;
    voz_log_mute(1); /* the dataset reads it again and says what is wrong with it */
    voz_status s = man ? voz_manifest_read(man, &tr->alpha, 1, &m) : VOZ_ERR_INVALID;
    voz_log_mute(0);
    if (s != VOZ_OK)
        return;
    struct voz_audio *a = NULL;
    if (m.n_rows && !voz_not_regular_file(m.rows[0].path) && voz_audio_open(m.rows[0].path, 0, &a) == VOZ_OK) {
        int r = voz_audio_get_info(a)->file_rate;
        if (r > 0 && r < p->sample_rate)
            info(tr, "warning: %s:%d: '%s' is %d Hz audio, upsampled to the model's --sample-rate %d: the model "
                 "will hear nothing above %d Hz; --sample-rate %d matches the data", man, m.rows[0].line,
                 m.rows[0].path, r, p->sample_rate, r / 2, r);
        voz_audio_close(a);
    }
    voz_manifest_release(&m);
}

static voz_status setup(struct trainer *tr)
{
    const voz_train_params *p = tr->p;
    voz_status s = check_input_files(p);
    if (s == VOZ_OK)
        s = voz_alphabet_init(&tr->alpha, p->alphabet);
    if (s != VOZ_OK)
        return s;
    if (p->words && (s = voz_words_read(p->words, &tr->alpha, &tr->words, &tr->n_words)) != VOZ_OK)
        return s;
    tr->feat = voz_feature_default_params();
    tr->feat.sample_rate = (float)p->sample_rate;
    tr->feat.cmvn = VOZ_CMVN_UTTERANCE; /* what inference applies to a whole utterance */
    if ((s = voz_feature_params_check(&tr->feat)) != VOZ_OK)
        return s;
    tr->cfg = (voz_net_config){ .cell = p->cell, .input_dim = voz_feature_dim(&tr->feat), .hidden = p->hidden,
                                .layers = p->layers, .bidirectional = 1, .classes = tr->alpha.size + 1 };
    if ((s = voz_net_config_check(&tr->cfg)) != VOZ_OK)
        return s;
    tr->options = canonical_options(p);
    tr->ckpt_path = path_with(p->out, ".ckpt");
    tr->csv_path = path_with(p->out, ".log.csv");
    tr->svg_path = path_with(p->out, ".curve.svg");
    if (!tr->options || !tr->ckpt_path || !tr->csv_path || !tr->svg_path)
        return voz_fail(VOZ_ERR_NOMEM, "train: out of memory");

    /* An output that is one of the inputs would be destroyed by the first write. */
    {
        const char *outs[4] = { p->out, tr->ckpt_path, tr->csv_path, tr->svg_path };
        for (int k = 0; k < 4; k++) {
            const char *hit = NULL;
            for (int i = 0; i < p->n_train && !hit; i++)
                hit = voz_same_file(outs[k], p->train[i]) ? p->train[i] : NULL;
            for (int i = 0; i < p->n_compose && !hit; i++)
                hit = voz_same_file(outs[k], p->compose[i]) ? p->compose[i] : NULL;
            if (!hit && p->dev && voz_same_file(outs[k], p->dev))
                hit = p->dev;
            if (!hit && p->words && voz_same_file(outs[k], p->words))
                hit = p->words;
            if (hit)
                return voz_fail(VOZ_ERR_INVALID, "train: %s would be overwritten: it is the input '%s'", outs[k], hit);
        }
    }
    /* One run per --out: a second run would pass every check below (the checkpoint does
       not exist yet) and both would then write the same files. */
    if ((s = take_lock(tr)) != VOZ_OK)
        return s;
    /* Temporaries of an earlier run that was killed mid-write (kill -9). */
    voz_atomic_sweep(p->out);
    voz_atomic_sweep(tr->ckpt_path);
    voz_atomic_sweep(tr->csv_path);
    voz_atomic_sweep(tr->svg_path);

    /* A checkpoint can be hours of work: a run without --resume does not replace it
       silently. With --resume, options that differ are refused now, before the
       feature cache is built, rather than after minutes of MFCC work. */
    struct stat cst;
    if (stat(tr->ckpt_path, &cst) == 0) {
        if (!S_ISREG(cst.st_mode))
            return voz_fail(VOZ_ERR_IO, "%s: %s, not a checkpoint file", tr->ckpt_path,
                            S_ISDIR(cst.st_mode) ? "is a directory" : S_ISFIFO(cst.st_mode) ? "is a FIFO (named pipe)"
                            : "is not a regular file");
        if (!p->resume)
            return voz_fail(VOZ_ERR_INVALID, "train: %s is the checkpoint of an earlier run: --resume continues "
                            "it; delete it (or choose another --out) to start afresh", tr->ckpt_path);
        if ((s = voz_checkpoint_read(tr->ckpt_path, &tr->resume_from)) != VOZ_OK)
            return s;
        tr->have_resume = 1;
        if ((s = options_mismatch(tr, tr->ckpt_path, tr->resume_from.options, tr->options)) != VOZ_OK) {
            tr->options_changed = 1;
            return s;
        }
    }
    /* A link to a checkpoint that has gone (a moved disk, a deleted run) would be
       replaced by this run's file at the first save; the user meant the missing one. */
    else if (lstat(tr->ckpt_path, &cst) == 0 && S_ISLNK(cst.st_mode))
        return voz_fail(VOZ_ERR_IO, "%s: is a symbolic link to a missing file, not a checkpoint; remove the link "
                        "to start afresh", tr->ckpt_path);

    /* Fail before the feature cache and the first epoch when --out cannot be written. */
    struct voz_atomic_file af;
    if ((s = voz_atomic_open(&af, p->out)) != VOZ_OK)
        return s;
    voz_atomic_abort(&af);

    if (p->specaug.mel_masks > 0 && (s = voz_melmask_init(&tr->melmask, &tr->feat)) != VOZ_OK)
        return s;
    warn_upsampled(tr);
    double t = voz_now();
    struct voz_dataset_params dp = { .feat = tr->feat, .alpha = &tr->alpha, .seed = p->seed,
                                     .variants = p->augment_variants, .augment = p->augment,
                                     .skip_bad = p->skip_bad, .threads = p->threads };
    if ((s = voz_dataset_init(&tr->ds, &dp)) != VOZ_OK)
        return s;
    for (int i = 0; i < p->n_train && s == VOZ_OK; i++)
        s = voz_dataset_add(&tr->ds, p->train[i], 0);
    for (int i = 0; i < p->n_compose && s == VOZ_OK; i++)
        s = voz_dataset_add(&tr->ds, p->compose[i], 1);
    if (s == VOZ_OK && p->dev)
        s = voz_dataset_add(&tr->ds, p->dev, 2);
    if (s != VOZ_OK)
        return s;
    if (tr->ds.n_train + tr->ds.n_clips == 0) {
        /* Name the manifests: with one, "FILE: ..." like every other data error. */
        const char *one = p->n_train + p->n_compose == 1 ? (p->n_train ? p->train[0] : p->compose[0]) : NULL;
        if (one)
            return voz_fail(VOZ_ERR_INVALID, "%s: no usable rows (empty, or every row skipped); nothing to train on",
                            one);
        return voz_fail(VOZ_ERR_INVALID, "train: none of the %d manifests has a usable row (empty, or every row "
                        "skipped); nothing to train on", p->n_train + p->n_compose);
    }
    if (p->dev && tr->ds.n_dev == 0)
        return voz_fail(VOZ_ERR_INVALID, "%s: every dev row was skipped", p->dev);
    tr->cp = (struct voz_compose_params){ .count = p->compose_count, .min_words = p->compose_min,
                                          .max_words = p->compose_max, .gap_min_ms = p->gap_min_ms,
                                          .gap_max_ms = p->gap_max_ms };
    if (tr->ds.n_clips && !tr->cp.count) {
        /* About one use of every clip per epoch. */
        double mean_words = (p->compose_min + p->compose_max) / 2.0;
        tr->cp.count = (int)ceil(tr->ds.n_clips / mean_words);
    }
    long variants = 0;
    for (int i = 0; i < tr->ds.n_clips; i++)
        variants += tr->ds.clips[i].n_var;
    info(tr, "features cached in %.1f s: %d train utterances, %d compose clips (%ld variants, %d composed per "
         "epoch), %d dev utterances", voz_now() - t, tr->ds.n_train, tr->ds.n_clips, variants,
         tr->ds.n_clips ? tr->cp.count : 0, tr->ds.n_dev);

    if (tr->ds.n_dev) {
        tr->dev_order = malloc((size_t)tr->ds.n_dev * sizeof *tr->dev_order);
        if (!tr->dev_order)
            return voz_fail(VOZ_ERR_NOMEM, "train: out of memory");
        for (int i = 0; i < tr->ds.n_dev; i++)
            tr->dev_order[i] = i;
        qsort_r(tr->dev_order, (size_t)tr->ds.n_dev, sizeof *tr->dev_order, cmp_dev_len, &tr->ds);
    }
    if (tr->n_words) {
        voz_decode_params dp2 = voz_decode_default_params();
        s = voz_ctc_beam_create((const char *const *)tr->alpha.classes, tr->cfg.classes, 0,
                                (const char *const *)tr->words, tr->n_words, dp2.beam, &tr->beam);
        if (s != VOZ_OK)
            return s;
    }

    tr->nf = voz_net_num_floats(&tr->cfg);
    size_t bytes;
    if (voz_mul_size(tr->nf, 3 * sizeof(float), &bytes))
        return voz_fail(VOZ_ERR_NOMEM, "train: network too large");
    tr->params = voz_alloc_aligned(tr->nf * sizeof(float));
    tr->grads = voz_alloc_aligned(tr->nf * sizeof(float));
    tr->backup = voz_alloc_aligned(bytes);
    if (!tr->params || !tr->grads || !tr->backup)
        return voz_fail(VOZ_ERR_NOMEM, "train: out of memory for %zu parameters", tr->nf);
    voz_net_bind(&tr->net, &tr->cfg, tr->params);
    voz_net_bind(&tr->gnet, &tr->cfg, tr->grads);
    voz_net_init(&tr->net, voz_rng_derive(p->seed, RNG_INIT, 0, 0).s);
    if ((s = voz_optim_init(&tr->opt, &p->optim, tr->nf)) != VOZ_OK)
        return s;
    voz_lr_init(&tr->lr, &p->lr);
    tr->st.best_wer = INFINITY;
    tr->ws = voz_net_ws_create(&tr->cfg, p->threads >= 2 ? 2 : 1);
    if (!tr->ws)
        return voz_fail(VOZ_ERR_NOMEM, "train: cannot create the network workspace");
    return probe_init(tr);
}

/* OUT.lock, held with flock() for the whole run and removed at its end. A run killed
   with -9 leaves the file but not the lock (the kernel drops it). After locking, the
   path must still name the locked file: a run that ended in between removed it. */
static voz_status take_lock(struct trainer *tr)
{
    char *path = path_with(tr->p->out, ".lock");
    if (!path)
        return voz_fail(VOZ_ERR_NOMEM, "train: out of memory");
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            /* The folder of --out, most likely: named as a failed write of the model. */
            voz_status s = voz_fail(VOZ_ERR_IO, "%s: cannot write: %s (creating %s)", tr->p->out, strerror(errno),
                                    path);
            free(path);
            return s;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            voz_status s = e == EWOULDBLOCK
                               ? voz_fail(VOZ_ERR_INVALID, "train: another voz train is writing %s (it holds %s); "
                                          "wait for it, or choose another --out", tr->p->out, path)
                               : voz_fail(VOZ_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
            free(path);
            return s;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            tr->lock_fd = fd;
            tr->lock_path = path;
            return VOZ_OK;
        }
        close(fd);
    }
    free(path);
    return voz_fail(VOZ_ERR_IO, "%s.lock: keeps changing under this run; another voz train?", tr->p->out);
}

static void teardown(struct trainer *tr)
{
    if (tr->lock_path) { /* unlink first: a run waiting on this file then retries */
        unlink(tr->lock_path);
        close(tr->lock_fd);
        free(tr->lock_path);
    }
    voz_net_ws_free(tr->ws);
    voz_optim_release(&tr->opt);
    voz_free_aligned(tr->params);
    voz_free_aligned(tr->grads);
    voz_free_aligned(tr->backup);
    voz_free_aligned(tr->x);
    voz_free_aligned(tr->lp);
    voz_free_aligned(tr->dl);
    voz_free_aligned(tr->fbuf);
    voz_free_aligned(tr->scratch);
    free(tr->lens);
    free(tr->labels);
    free(tr->label_off);
    free(tr->dev_order);
    voz_free_aligned(tr->probe_x);
    free(tr->st.history);
    if (tr->beam)
        voz_ctc_beam_free(tr->beam);
    voz_dataset_release(&tr->ds);
    voz_melmask_release(&tr->melmask);
    voz_words_free(tr->words, tr->n_words);
    voz_alphabet_release(&tr->alpha);
    free(tr->options);
    free(tr->ckpt_path);
    free(tr->csv_path);
    free(tr->svg_path);
    if (tr->have_resume)
        voz_checkpoint_release(&tr->resume_from);
}

/* ---- the loop ------------------------------------------------------------------------ */

static int time_is_up(struct trainer *tr)
{
    const voz_train_params *p = tr->p;
    if (p->should_stop && p->should_stop(p->user_data))
        return 1;
    return p->max_minutes > 0 && voz_now() - tr->t0 >= p->max_minutes * 60.0;
}

static void progress(struct trainer *tr, voz_train_progress *pr)
{
    pr->epochs = tr->p->epochs;
    pr->seconds = tr->seconds0 + (voz_now() - tr->t0);
    if (tr->p->on_progress)
        tr->p->on_progress(pr, tr->p->user_data);
}

/* Every batch so far was skipped: the weights are the initialisation, not a model. */
static int nothing_learned(const struct trainer *tr)
{
    return tr->st.step > 0 && tr->st.total_skipped >= tr->st.step;
}

/* Stopping inside an epoch (time limit, signal): the weights of the partial epoch
   may beat the best so far, so with a dev set they are evaluated and kept when
   strictly better. The checkpoint saved right after records the new best. Inside the
   first epoch there is no best to beat, and half an epoch is not a model: nothing is
   written (the checkpoint resumes it). */
static voz_status stop_eval(struct trainer *tr)
{
    if (!tr->ds.n_dev || tr->st.epoch < 1)
        return VOZ_OK;
    struct dev_result dev;
    voz_status s = evaluate(tr, &dev);
    if (s != VOZ_OK)
        return s;
    double wer = voz_metrics_wer(&dev.best);
    info(tr, "stopping inside epoch %d: dev CER %.2f%%, WER %.2f%% (best so far %.2f%%)", tr->st.epoch + 1,
         100 * voz_metrics_cer(&dev.best), 100 * wer, 100 * tr->st.best_wer);
    if (!(wer < tr->st.best_wer) || nothing_learned(tr))
        return VOZ_OK;
    if ((s = write_model(tr, tr->p->out, tr->st.n_history, &dev)) == VOZ_ERR_NONFINITE) {
        info(tr, "warning: %s", voz_last_error());
        return VOZ_OK;
    }
    if (s != VOZ_OK)
        return s;
    tr->wrote_out = 1;
    tr->st.best_wer = wer;
    tr->st.best_epoch = tr->st.epoch + 1;
    return VOZ_OK;
}

static voz_status run_epochs(struct trainer *tr, voz_train_result *res)
{
    const voz_train_params *p = tr->p;
    voz_status s = VOZ_OK;
    struct voz_checkpoint *st = &tr->st;
    for (; st->epoch < p->epochs; st->epoch++) {
        struct voz_epoch_plan plan;
        if ((s = voz_epoch_plan_build(&tr->ds, &tr->cp, p->batch_size, st->epoch, &plan)) != VOZ_OK)
            return s;
        if (st->batch > plan.n_batches) {
            voz_epoch_plan_release(&plan);
            return voz_fail(VOZ_ERR_FORMAT, "%s: batch %d of epoch %d, but the epoch has %d batches",
                            tr->ckpt_path, st->batch, st->epoch + 1, plan.n_batches);
        }
        double e_t0 = voz_now(), e_frames = 0;
        int e_batches0 = st->batch;
        float lr = voz_lr_at(&tr->lr, st->step);
        while (st->batch < plan.n_batches) {
            double b_t0 = voz_now();
            long frames = 0;
            int utts = 0, applied = 0;
            double loss = 0;
            lr = voz_lr_at(&tr->lr, st->step);
            s = train_batch(tr, &plan, st->epoch, st->batch, &loss, &utts, &frames, &applied);
            if (s != VOZ_OK)
                break;
            if (applied) {
                st->epoch_loss_sum += loss;
                st->epoch_utts += (uint64_t)utts;
            } else {
                st->epoch_skipped++;
                st->total_skipped++;
            }
            st->batch++;
            st->step++;
            double now = voz_now();
            e_frames += (double)frames;
            tr->run_frames += (double)frames;
            tr->run_compute += now - b_t0;
            double per_batch = (now - e_t0) / (st->batch - e_batches0);
            voz_train_progress pr = {
                .event = VOZ_TRAIN_STEP, .epoch = st->epoch + 1, .batch = st->batch, .batches = plan.n_batches,
                .loss = st->epoch_utts ? st->epoch_loss_sum / (double)st->epoch_utts : NAN,
                .frames_per_s = e_frames / (now - e_t0 > 1e-9 ? now - e_t0 : 1e-9),
                .eta_s = per_batch * (plan.n_batches - st->batch), .lr = lr, .skipped = st->epoch_skipped };
            progress(tr, &pr);
            int stop = time_is_up(tr);
            if (st->batch < plan.n_batches && (stop || now - tr->last_ckpt >= p->checkpoint_every)) {
                if (stop && (s = stop_eval(tr)) != VOZ_OK)
                    break;
                if ((s = save_checkpoint(tr)) != VOZ_OK)
                    break;
                if (!stop)
                    info(tr, "checkpoint written to %s", tr->ckpt_path);
            }
            if (stop && st->batch < plan.n_batches) {
                res->stopped = 1;
                break;
            }
        }
        const int n_batches = plan.n_batches;
        voz_epoch_plan_release(&plan);
        if (s != VOZ_OK || res->stopped)
            return s;

        /* Epoch end: dev, log, schedule, best model, checkpoint. */
        struct dev_result dev = { .loss = NAN };
        if (tr->ds.n_dev && (s = evaluate(tr, &dev)) != VOZ_OK)
            return s;
        double wer = tr->ds.n_dev ? voz_metrics_wer(&dev.best) : NAN;
        struct voz_epoch_record rec = {
            .epoch = st->epoch + 1, .step = st->step,
            .train_loss = st->epoch_utts ? st->epoch_loss_sum / (double)st->epoch_utts : NAN,
            .dev_loss = dev.loss, .dev_cer = tr->ds.n_dev ? voz_metrics_cer(&dev.best) : NAN, .dev_wer = wer,
            .lr = lr, .skipped = st->epoch_skipped, .seconds = tr->seconds0 + (voz_now() - tr->t0) };
        if ((s = push_history(tr, &rec)) != VOZ_OK)
            return s;
        voz_lr_epoch_end(&tr->lr, wer);
        if (2 * st->epoch_skipped > (uint64_t)n_batches)
            info(tr, "warning: epoch %d: %llu of %d batches skipped (loss or gradient not finite); the learning "
                 "rate is probably too high, lower --lr (now %g)", st->epoch + 1,
                 (unsigned long long)st->epoch_skipped, n_batches, p->lr.base_lr);
        /* Ties keep the earlier epoch; without a dev set the latest model is the best.
           A model is written only when something was learned and its output is finite
           (write_model refuses otherwise): --out keeps the previous best then. */
        int best = (!tr->ds.n_dev || wer < st->best_wer) && !nothing_learned(tr);
        if (best) {
            s = write_model(tr, p->out, st->epoch + 1, &dev);
            if (s == VOZ_ERR_NONFINITE) {
                info(tr, "warning: epoch %d: %s", st->epoch + 1, voz_last_error());
                best = 0;
                s = VOZ_OK;
            } else if (s != VOZ_OK) {
                return s;
            }
        }
        if (best) {
            tr->wrote_out = 1;
            st->best_wer = tr->ds.n_dev ? wer : INFINITY;
            st->best_epoch = st->epoch + 1;
        }
        voz_train_progress pr = {
            .event = VOZ_TRAIN_EPOCH, .epoch = st->epoch + 1, .batch = n_batches, .batches = n_batches,
            .loss = rec.train_loss, .frames_per_s = e_frames / (voz_now() - e_t0 > 1e-9 ? voz_now() - e_t0 : 1e-9),
            .lr = lr, .skipped = st->epoch_skipped, .dev_loss = dev.loss, .dev_cer = rec.dev_cer, .dev_wer = wer,
            .greedy_cer = tr->ds.n_dev ? voz_metrics_cer(&dev.greedy) : NAN,
            .greedy_wer = tr->ds.n_dev ? voz_metrics_wer(&dev.greedy) : NAN, .is_best = best };
        if ((s = write_reports(tr)) != VOZ_OK)
            return s;
        st->batch = 0;
        st->epoch_loss_sum = 0;
        st->epoch_utts = 0;
        st->epoch_skipped = 0;
        /* The checkpoint names the next epoch: the loop increments after this. */
        st->epoch++;
        s = save_checkpoint(tr);
        st->epoch--;
        progress(tr, &pr);
        if (s != VOZ_OK)
            return s;
        if (time_is_up(tr) && st->epoch + 1 < p->epochs) {
            st->epoch++;
            res->stopped = 1;
            return VOZ_OK;
        }
    }
    return s;
}

voz_status voz_train_run(const voz_train_params *p, voz_train_result *res)
{
    struct trainer tr;
    memset(&tr, 0, sizeof tr);
    memset(res, 0, sizeof *res);
    res->best_wer = NAN;
    tr.p = p;
    tr.t0 = voz_now();
    tr.last_ckpt = tr.t0;
    voz_status s = check_params(p);
    if (s == VOZ_OK)
        s = setup(&tr);
    int resumed = 0;
    if (s == VOZ_OK && p->resume) {
        s = load_checkpoint(&tr, &resumed);
        if (s == VOZ_OK && resumed) {
            info(&tr, "resuming from %s at epoch %d, batch %d (step %llu)", tr.ckpt_path, tr.st.epoch + 1,
                 tr.st.batch, (unsigned long long)tr.st.step);
            tr.wrote_out = tr.st.best_epoch > 0 && access(p->out, F_OK) == 0;
            /* Nothing will be written, so new --meta values would vanish unnoticed. */
            if (tr.st.epoch >= p->epochs && tr.wrote_out)
                info(&tr, "training already finished (%d epochs): %s is left as it is%s; a larger --epochs "
                     "trains on", tr.st.epoch, p->out, p->n_meta ? ", without the new --meta values" : "");
        } else if (s == VOZ_OK) {
            info(&tr, "no checkpoint %s; starting afresh", tr.ckpt_path);
        }
    }
    if (s == VOZ_OK) {
        info(&tr, "network: %s, %d layer(s) x %d hidden, bidirectional, %d inputs, %d classes, %zu weights",
             voz_cell_name(tr.cfg.cell), tr.cfg.layers, tr.cfg.hidden, tr.cfg.input_dim, tr.cfg.classes,
             voz_net_num_weights(&tr.cfg));
        s = run_epochs(&tr, res);
    }
    /* --out holds only weights that finished an epoch (or beat the best on dev at a
       stop) and give finite output. A run that finished without one failed; a stopped
       run without one has only its checkpoint so far. A finished run resumed after its
       model was deleted writes the final weights again. */
    if (s == VOZ_OK && !tr.wrote_out && !res->stopped) {
        if (nothing_learned(&tr))
            s = voz_fail(VOZ_ERR_NONFINITE, "%s: all %llu batches were skipped (loss or gradient not finite): "
                         "nothing was learned and no model was written; lower --lr (now %g)", p->out,
                         (unsigned long long)tr.st.step, p->lr.base_lr);
        else if (tr.st.n_history == 0 || (s = write_model(&tr, p->out, tr.st.n_history, NULL)) == VOZ_ERR_NONFINITE)
            s = voz_fail(VOZ_ERR_NONFINITE, "%s: no epoch produced a model with finite output, so none was "
                         "written; lower --lr (now %g)", p->out, p->lr.base_lr);
        else if (s == VOZ_OK)
            tr.wrote_out = 1;
    }
    if (s == VOZ_OK && tr.st.n_history)
        s = write_reports(&tr);
    if (s == VOZ_OK && res->stopped)
        info(&tr, "stopped at epoch %d, batch %d; %scontinue with --resume", tr.st.epoch + 1, tr.st.batch,
             tr.wrote_out ? "" : "no model written yet (none finished an epoch); ");
    if (s == VOZ_OK && tr.wrote_out) {
        /* Read back as any user of the model will: a file the reader refuses is a failure. */
        struct voz_model_data md;
        if ((s = voz_model_data_read(p->out, &md)) == VOZ_OK) {
            res->weights_crc = voz_train_weights_crc(md.params, voz_net_num_floats(&md.net));
            voz_model_data_release(&md);
        }
    }
    res->epochs_done = tr.st.n_history;
    res->has_model = s == VOZ_OK && tr.wrote_out;
    res->options_changed = tr.options_changed;
    res->best_epoch = tr.st.best_epoch;
    res->best_wer = isfinite(tr.st.best_wer) ? tr.st.best_wer : NAN;
    res->skipped = tr.st.total_skipped;
    res->frames_per_s = tr.run_compute > 0 ? tr.run_frames / tr.run_compute : 0;
    teardown(&tr);
    return s;
}
