/* train/dataset.c — feature cache (computed in parallel, deterministic), epoch plans
   (composition, shuffling, length buckets) and batch feature assembly. */
#include "train/dataset.h"
#include "decoder/ctc.h"
#include "frontend/audio.h"
#include "frontend/mfcc.h"
#include "common/util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Purposes of derived random streams (train/augment.h). */
enum { RNG_AUGMENT = 1, RNG_GAP = 2, RNG_PLAN = 3, RNG_SHUFFLE = 4 };

#define GAP_NOISE_BUFFERS 4
#define BUCKET_BATCHES 32 /* batches per length bucket */

static voz_feature_params base_params(const voz_feature_params *f)
{
    voz_feature_params b = *f;
    b.delta_order = 0;
    b.cmvn = VOZ_CMVN_NONE;
    return b;
}

/* Base MFCC of samples as an int-counted [T][C] array. */
static voz_status base_mfcc(const voz_feature_params *bp, const float *pcm, size_t n, float **out, int *T)
{
    size_t t = 0;
    *out = NULL;
    voz_status s = voz_features_compute(bp, pcm, n, out, &t);
    if (s != VOZ_OK)
        return s;
    if (t > (size_t)1 << 24) {
        free(*out);
        *out = NULL;
        return voz_fail(VOZ_ERR_INVALID, "clip of %zu frames is too long for training", t);
    }
    *T = (int)t;
    return VOZ_OK;
}

voz_status voz_dataset_init(struct voz_dataset *ds, const struct voz_dataset_params *p)
{
    memset(ds, 0, sizeof *ds);
    ds->p = *p;
    ds->D = voz_feature_dim(&p->feat);
    ds->C = p->feat.num_ceps;
    ds->space = voz_alphabet_class(p->alpha, ' ');
    voz_status s = voz_feature_params_check(&p->feat);
    if (s != VOZ_OK)
        return s;
    /* Gap material: 1 s of digital silence, and noise buffers of 1 s at -70..-40 dBFS
       RMS (white and pink alternating). Gaps are cut from these at random offsets. */
    voz_feature_params bp = base_params(&p->feat);
    size_t n = (size_t)p->feat.sample_rate;
    float *pcm = calloc(n, sizeof *pcm);
    ds->gap = calloc(1 + GAP_NOISE_BUFFERS, sizeof *ds->gap);
    ds->gap_T = calloc(1 + GAP_NOISE_BUFFERS, sizeof *ds->gap_T);
    if (!pcm || !ds->gap || !ds->gap_T) {
        free(pcm);
        voz_dataset_release(ds);
        return voz_fail(VOZ_ERR_NOMEM, "dataset: out of memory");
    }
    for (int g = 0; g <= GAP_NOISE_BUFFERS && s == VOZ_OK; g++) {
        if (g > 0) {
            struct voz_rng rng = voz_rng_derive(p->seed, RNG_GAP, (uint64_t)g, 0);
            double dbfs = voz_rng_range(&rng, -70, -40);
            voz_augment_noise(&rng, g % 2 == 0, (float)pow(10.0, dbfs / 20.0), pcm, n);
        }
        s = base_mfcc(&bp, pcm, n, &ds->gap[g], &ds->gap_T[g]);
        ds->n_gap = g + 1;
    }
    free(pcm);
    if (s != VOZ_OK)
        voz_dataset_release(ds);
    return s;
}

void voz_dataset_release(struct voz_dataset *ds)
{
    for (int i = 0; i < ds->n_train; i++)
        free(ds->train[i].x);
    for (int i = 0; i < ds->n_dev; i++)
        free(ds->dev[i].x);
    for (int i = 0; i < ds->n_clips; i++) {
        for (int v = 0; v < ds->clips[i].n_var; v++)
            free(ds->clips[i].mfcc[v]);
        free(ds->clips[i].mfcc);
        free(ds->clips[i].T);
    }
    free(ds->train);
    free(ds->dev);
    free(ds->clips);
    if (ds->gap)
        for (int g = 0; g < ds->n_gap; g++)
            free(ds->gap[g]);
    free(ds->gap);
    free(ds->gap_T);
    for (int i = 0; i < ds->n_manifests; i++)
        voz_manifest_release(&ds->manifests[i]);
    free(ds->manifests);
    memset(ds, 0, sizeof *ds);
}

/* ---- the parallel cache ------------------------------------------------------------ */

struct job {
    voz_status status;
    char msg[512];       /* error, or the warning when the row is skipped */
    int skipped;
    float *x;            /* kind 0: base MFCC [T][C]; kind 2: final features [T][D] */
    int T;
    float **var;         /* kind 1: [n_var] base MFCC */
    int *var_T;
    int n_var;
};

struct pool {
    struct voz_dataset *ds;
    const struct voz_manifest *m;
    int manifest_idx, kind;
    struct job *jobs;
    int next;
    pthread_mutex_t lock;
};

static void run_job(struct pool *pl, int i)
{
    struct voz_dataset *ds = pl->ds;
    const struct voz_manifest_row *r = &pl->m->rows[i];
    struct job *j = &pl->jobs[i];
    const char *mname = pl->m->name;
    float *pcm = NULL;
    size_t n = 0;
    /* Training audio is a file: a FIFO would block the open until a writer came (and
       a signal would not end the wait), a device would never end. */
    voz_status s = VOZ_OK;
    const char *why = voz_not_regular_file(r->path);
    if (why)
        s = voz_fail(VOZ_ERR_IO, "%s", why);
    if (s == VOZ_OK)
        s = voz_audio_load(r->path, (int)ds->p.feat.sample_rate, &pcm, &n);
    if (s != VOZ_OK) {
        j->status = s;
        snprintf(j->msg, sizeof j->msg, "%s:%d: cannot read audio '%s': %s", mname, r->line, r->path,
                 voz_last_error());
        return;
    }
    int need = voz_ctc_min_frames(r->labels, r->n_labels);
    if (pl->kind != 1) {
        /* Training rows keep base MFCC: deltas and CMVN come per batch, with mel-band masks
           (inside CMVN) when asked for. */
        voz_feature_params bp = base_params(&ds->p.feat);
        size_t T = 0;
        s = voz_features_compute(pl->kind == 0 ? &bp : &ds->p.feat, pcm, n, &j->x, &T);
        free(pcm);
        if (s != VOZ_OK) {
            j->status = s;
            snprintf(j->msg, sizeof j->msg, "%s:%d: '%s': %s", mname, r->line, r->path, voz_last_error());
            return;
        }
        if (T > (size_t)1 << 24)
            T = (size_t)1 << 24; /* never reached by real audio; keeps int frame counts */
        j->T = (int)T;
        if ((int)T < need) {
            j->skipped = 1;
            snprintf(j->msg, sizeof j->msg, "%s:%d: '%s' has %d frames, its transcript needs at least %d "
                     "(row skipped)", mname, r->line, r->path, j->T, need);
        }
        return;
    }
    voz_feature_params bp = base_params(&ds->p.feat);
    int K = ds->p.variants;
    j->var = calloc((size_t)K + 1, sizeof *j->var);
    j->var_T = calloc((size_t)K + 1, sizeof *j->var_T);
    if (!j->var || !j->var_T) {
        free(pcm);
        j->status = VOZ_ERR_NOMEM;
        snprintf(j->msg, sizeof j->msg, "%s:%d: out of memory", mname, r->line);
        return;
    }
    for (int v = 0; v <= K; v++) {
        float *y = pcm;
        size_t m = n;
        voz_feature_params vp = bp;
        if (v > 0) {
            struct voz_rng rng = voz_rng_derive(ds->p.seed, RNG_AUGMENT, ((uint64_t)pl->manifest_idx << 32) | (uint64_t)i,
                                                (uint64_t)v);
            s = voz_augment_wave(&ds->p.augment, &rng, pcm, n, (int)ds->p.feat.sample_rate, &y, &m);
            vp.vtln_warp = (float)voz_augment_warp(&ds->p.augment, &rng);
        }
        float *f = NULL;
        int T = 0;
        if (s == VOZ_OK)
            s = base_mfcc(&vp, y, m, &f, &T);
        if (v > 0)
            free(y);
        if (s != VOZ_OK) {
            j->status = s;
            snprintf(j->msg, sizeof j->msg, "%s:%d: '%s': %s", mname, r->line, r->path, voz_last_error());
            break;
        }
        if (T < need) {
            free(f);
            if (v == 0) {
                j->skipped = 1;
                snprintf(j->msg, sizeof j->msg, "%s:%d: '%s' has %d frames, its transcript needs at least %d "
                         "(clip skipped)", mname, r->line, r->path, T, need);
                break;
            }
            continue; /* a sped-up copy too short for its word: dropped */
        }
        j->var[j->n_var] = f;
        j->var_T[j->n_var++] = T;
    }
    free(pcm);
}

static void *worker(void *arg)
{
    struct pool *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->lock);
        int i = pl->next < pl->m->n_rows ? pl->next++ : -1;
        pthread_mutex_unlock(&pl->lock);
        if (i < 0)
            return NULL;
        run_job(pl, i);
    }
}

static void free_job(struct job *j)
{
    free(j->x);
    for (int v = 0; v < j->n_var; v++)
        free(j->var[v]);
    free(j->var);
    free(j->var_T);
    memset(j, 0, sizeof *j);
}

voz_status voz_dataset_add(struct voz_dataset *ds, const char *manifest, int kind)
{
    struct voz_manifest *nm = realloc(ds->manifests, (size_t)(ds->n_manifests + 1) * sizeof *nm);
    if (!nm)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", manifest);
    ds->manifests = nm;
    struct voz_manifest *m = &ds->manifests[ds->n_manifests];
    voz_status s = voz_manifest_read(manifest, ds->p.alpha, ds->p.skip_bad, m);
    if (s != VOZ_OK)
        return s;
    int midx = ds->n_manifests++;
    if (kind == 1 && ds->space < 0)
        return voz_fail(VOZ_ERR_INVALID, "%s: composing utterances needs ' ' (space) in the alphabet", manifest);
    struct pool pl = { .ds = ds, .m = m, .manifest_idx = midx, .kind = kind };
    pl.jobs = calloc(m->n_rows ? (size_t)m->n_rows : 1, sizeof *pl.jobs);
    if (!pl.jobs)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", manifest);
    pthread_mutex_init(&pl.lock, NULL);
    int nt = ds->p.threads < 1 ? 1 : ds->p.threads > 16 ? 16 : ds->p.threads;
    pthread_t th[16];
    int started = 0;
    for (int t = 1; t < nt; t++)
        if (pthread_create(&th[started], NULL, worker, &pl) == 0)
            started++;
    worker(&pl);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&pl.lock);

    /* Results in row order, so messages and the first error do not depend on timing. */
    int keep = 0;
    for (int i = 0; i < m->n_rows && s == VOZ_OK; i++) {
        struct job *j = &pl.jobs[i];
        if (j->status != VOZ_OK) {
            if (!ds->p.skip_bad || j->status == VOZ_ERR_NOMEM)
                s = voz_fail(j->status, "%s", j->msg);
            else {
                voz_log(VOZ_LOG_WARN, "%s (row skipped)", j->msg);
                m->n_skipped++;
                free_job(j);
            }
        } else if (j->skipped) {
            voz_log(VOZ_LOG_WARN, "%s", j->msg);
            m->n_skipped++;
            free_job(j);
        } else {
            keep++;
        }
    }
    if (s == VOZ_OK) {
        if (kind == 1) {
            struct voz_clip *nc = realloc(ds->clips, (size_t)(ds->n_clips + keep + 1) * sizeof *nc);
            if (!nc)
                s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", manifest);
            else
                ds->clips = nc;
        } else {
            struct voz_utt **arr = kind == 0 ? &ds->train : &ds->dev;
            int *cnt = kind == 0 ? &ds->n_train : &ds->n_dev;
            struct voz_utt *nu = realloc(*arr, (size_t)(*cnt + keep + 1) * sizeof *nu);
            if (!nu)
                s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", manifest);
            else
                *arr = nu;
        }
    }
    for (int i = 0; i < m->n_rows; i++) {
        struct job *j = &pl.jobs[i];
        const struct voz_manifest_row *r = &m->rows[i];
        if (s != VOZ_OK || j->status != VOZ_OK || j->skipped || (!j->x && !j->n_var)) {
            free_job(j);
            continue;
        }
        if (kind == 1) {
            ds->clips[ds->n_clips++] = (struct voz_clip){
                .labels = r->labels, .L = r->n_labels, .n_var = j->n_var, .mfcc = j->var, .T = j->var_T };
        } else {
            struct voz_utt u = { .x = j->x, .T = j->T, .labels = r->labels, .L = r->n_labels, .text = r->text };
            if (kind == 0)
                ds->train[ds->n_train++] = u;
            else
                ds->dev[ds->n_dev++] = u;
        }
    }
    free(pl.jobs);
    return s;
}

/* ---- epoch plans ------------------------------------------------------------------- */

void voz_epoch_plan_release(struct voz_epoch_plan *plan)
{
    free(plan->items);
    free(plan->parts);
    free(plan->order);
    free(plan->batch_start);
    memset(plan, 0, sizeof *plan);
}

static const struct voz_item *sort_items;
static int cmp_by_length(const void *a, const void *b)
{
    const struct voz_item *x = &sort_items[*(const int *)a], *y = &sort_items[*(const int *)b];
    if (x->T != y->T)
        return x->T < y->T ? -1 : 1;
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int gap_frames(const struct voz_dataset *ds, struct voz_rng *rng, const struct voz_compose_params *cp)
{
    double ms = voz_rng_range(rng, cp->gap_min_ms, cp->gap_max_ms);
    int f = (int)lround(ms / ds->p.feat.frame_shift_ms);
    return f < 1 ? 1 : f;
}

static void draw_gap(const struct voz_dataset *ds, struct voz_rng *rng, const struct voz_compose_params *cp,
                     struct voz_part *pt)
{
    pt->gap_T = gap_frames(ds, rng, cp);
    pt->gap_src = voz_rng_int(rng, 0, ds->n_gap - 1);
    int avail = ds->gap_T[pt->gap_src];
    /* A gap longer than the material repeats it (offset 0, wrapping in assembly). */
    pt->gap_off = pt->gap_T < avail ? voz_rng_int(rng, 0, avail - pt->gap_T) : 0;
}

voz_status voz_epoch_plan_build(const struct voz_dataset *ds, const struct voz_compose_params *cp, int batch_size,
                                int epoch, struct voz_epoch_plan *out)
{
    memset(out, 0, sizeof *out);
    int n_comp = ds->n_clips > 0 ? cp->count : 0;
    if (batch_size < 1 || n_comp < 0 || (long)ds->n_train + n_comp > (1 << 28) ||
        (n_comp && (cp->min_words < 1 || cp->max_words < cp->min_words || cp->max_words > 1000)))
        return voz_fail(VOZ_ERR_INVALID, "epoch plan: invalid sizes (batch %d, %d composed, words %d:%d)",
                        batch_size, n_comp, cp->min_words, cp->max_words);
    int n = ds->n_train + n_comp;
    size_t max_parts = (size_t)n_comp * ((size_t)cp->max_words + 1);
    out->items = calloc(n ? (size_t)n : 1, sizeof *out->items);
    out->parts = calloc(max_parts ? max_parts : 1, sizeof *out->parts);
    out->order = calloc(n ? (size_t)n : 1, sizeof *out->order);
    out->batch_start = calloc((size_t)n / batch_size + 2, sizeof *out->batch_start);
    if (!out->items || !out->parts || !out->order || !out->batch_start) {
        voz_epoch_plan_release(out);
        return voz_fail(VOZ_ERR_NOMEM, "epoch plan: out of memory for %d utterances", n);
    }
    for (int i = 0; i < ds->n_train; i++)
        out->items[i] = (struct voz_item){ .train = i, .T = ds->train[i].T, .L = ds->train[i].L };
    struct voz_rng rng = voz_rng_derive(ds->p.seed, RNG_PLAN, (uint64_t)epoch, 0);
    for (int i = 0; i < n_comp; i++) {
        struct voz_item *it = &out->items[ds->n_train + i];
        int words = voz_rng_int(&rng, cp->min_words, cp->max_words);
        it->train = -1;
        it->part0 = out->n_parts;
        it->n_parts = words + 1;
        for (int w = 0; w <= words; w++) {
            struct voz_part *pt = &out->parts[out->n_parts++];
            draw_gap(ds, &rng, cp, pt);
            if (w == words) {
                pt->clip = -1; /* the tail gap */
                it->T += pt->gap_T;
                continue;
            }
            pt->clip = voz_rng_int(&rng, 0, ds->n_clips - 1);
            const struct voz_clip *c = &ds->clips[pt->clip];
            pt->variant = voz_rng_int(&rng, 0, c->n_var - 1);
            it->T += pt->gap_T + c->T[pt->variant];
            it->L += c->L + (w > 0);
        }
    }
    out->n_items = n;
    for (int i = 0; i < n; i++)
        out->order[i] = i;
    struct voz_rng sh = voz_rng_derive(ds->p.seed, RNG_SHUFFLE, (uint64_t)epoch, 0);
    voz_rng_shuffle(&sh, out->order, n);
    /* Length buckets: sort each run of BUCKET_BATCHES batches by length, so a batch
       holds similar lengths (little padding) while the epoch stays shuffled. */
    int bucket = BUCKET_BATCHES * batch_size;
    sort_items = out->items;
    for (int b0 = 0; b0 < n; b0 += bucket) {
        int len = n - b0 < bucket ? n - b0 : bucket;
        qsort(out->order + b0, (size_t)len, sizeof *out->order, cmp_by_length);
    }
    out->n_batches = (n + batch_size - 1) / batch_size;
    /* Shuffle the batches themselves: permute batch indices, then lay them out. */
    int *perm = malloc((size_t)(out->n_batches ? out->n_batches : 1) * sizeof *perm);
    int *neworder = malloc((size_t)(n ? n : 1) * sizeof *neworder);
    if (!perm || !neworder) {
        free(perm);
        free(neworder);
        voz_epoch_plan_release(out);
        return voz_fail(VOZ_ERR_NOMEM, "epoch plan: out of memory");
    }
    for (int b = 0; b < out->n_batches; b++)
        perm[b] = b;
    voz_rng_shuffle(&sh, perm, out->n_batches);
    int pos = 0;
    for (int b = 0; b < out->n_batches; b++) {
        int s0 = perm[b] * batch_size;
        int len = n - s0 < batch_size ? n - s0 : batch_size;
        out->batch_start[b] = pos;
        memcpy(neworder + pos, out->order + s0, (size_t)len * sizeof *neworder);
        pos += len;
    }
    out->batch_start[out->n_batches] = pos;
    free(out->order);
    free(perm);
    out->order = neworder;
    return VOZ_OK;
}

void voz_item_labels(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                     int *labels)
{
    if (it->train >= 0) {
        memcpy(labels, ds->train[it->train].labels, (size_t)it->L * sizeof *labels);
        return;
    }
    int L = 0;
    for (int k = 0; k < it->n_parts; k++) {
        const struct voz_part *pt = &plan->parts[it->part0 + k];
        if (pt->clip < 0)
            continue;
        if (L > 0)
            labels[L++] = ds->space;
        const struct voz_clip *c = &ds->clips[pt->clip];
        memcpy(labels + L, c->labels, (size_t)c->L * sizeof *labels);
        L += c->L;
    }
}

int voz_item_base(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                  float *base)
{
    const int C = ds->C;
    if (it->train >= 0) {
        memcpy(base, ds->train[it->train].x, (size_t)it->T * C * sizeof *base);
        return it->T;
    }
    size_t t = 0;
    for (int k = 0; k < it->n_parts; k++) {
        const struct voz_part *pt = &plan->parts[it->part0 + k];
        const float *g = ds->gap[pt->gap_src];
        int gT = ds->gap_T[pt->gap_src];
        for (int f = 0; f < pt->gap_T; f++, t++)
            memcpy(base + t * C, g + (size_t)((pt->gap_off + f) % gT) * C, (size_t)C * sizeof *base);
        if (pt->clip < 0)
            continue;
        const struct voz_clip *c = &ds->clips[pt->clip];
        int cT = c->T[pt->variant];
        memcpy(base + t * C, c->mfcc[pt->variant], (size_t)cT * C * sizeof *base);
        t += (size_t)cT;
    }
    return (int)t;
}

void voz_dataset_finish(const struct voz_dataset *ds, const float *base, int T, float *feats)
{
    const voz_feature_params *f = &ds->p.feat;
    voz_deltas_compute(base, (size_t)T, ds->C, f->delta_order, f->delta_window, feats);
    if (f->cmvn == VOZ_CMVN_UTTERANCE)
        voz_cmvn_apply(feats, (size_t)T, ds->D, f->cmvn_var);
}

void voz_item_features(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                       float *feats, float *scratch)
{
    voz_dataset_finish(ds, scratch, voz_item_base(ds, plan, it, scratch), feats);
}
