/* frontend/features.c — the feature pipeline around the MFCC computer: default options,
   the offline driver (MFCC -> deltas -> CMVN), Kaldi's compute-deltas, per-utterance and
   running mean/variance normalisation. Shapes: T frames, C cepstra, D = C * (1 + order). */
#include "frontend/mfcc.h"
#include "common/util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

voz_feature_params voz_feature_default_params(void)
{
    return (voz_feature_params){
        .sample_rate = 16000.0f,
        .frame_length_ms = 25.0f,
        .frame_shift_ms = 10.0f,
        .preemph = 0.97f,
        .remove_dc = 1,
        .window = VOZ_WINDOW_POVEY,
        .round_pow2 = 1,
        .snip_edges = 1,
        .dither = 0.0f,
        .num_mel_bins = 23,
        .low_freq = 20.0f,
        .high_freq = 0.0f,
        .num_ceps = 13,
        .cepstral_lifter = 22.0f,
        .use_energy = 0,
        .raw_energy = 1,
        .energy_floor = 0.0f,
        .htk_compat = 0,
        .delta_order = 2,
        .delta_window = 2,
        .cmvn = VOZ_CMVN_UTTERANCE,
        .cmvn_var = 1,
        .vtln_warp = 1.0f,
        .vtln_low = 100.0f,
        .vtln_high = -500.0f,
    };
}

int voz_feature_dim(const voz_feature_params *p)
{
    return p->num_ceps * (1 + p->delta_order);
}

/* ---- deltas --------------------------------------------------------------------------- */

/* Kaldi's DeltaFeatures filters: order 0 is [1]; order i convolves order i-1 with
   [-w .. w] / sum(j^2). scales[i] has 2*i*w + 1 taps centred on tap i*w. */
#define MAX_ORDER 2
#define MAX_TAPS (2 * MAX_ORDER * 16 + 1)

static void delta_scales(int order, int w, double scales[MAX_ORDER + 1][MAX_TAPS])
{
    memset(scales, 0, sizeof(double) * (MAX_ORDER + 1) * MAX_TAPS);
    scales[0][0] = 1.0;
    double norm = 0;
    for (int j = -w; j <= w; j++)
        norm += (double)j * j;
    for (int i = 1; i <= order; i++) {
        int prev_half = (i - 1) * w, cur_half = i * w;
        for (int j = -w; j <= w; j++)
            for (int k = -prev_half; k <= prev_half; k++)
                scales[i][j + k + cur_half] += j * scales[i - 1][k + prev_half] / norm;
    }
}

void voz_deltas_compute(const float *in, size_t T, int C, int order, int window, float *out)
{
    if (order > MAX_ORDER)
        order = MAX_ORDER;
    if (window > 16)
        window = 16;
    if (window < 1)
        window = 1;
    double scales[MAX_ORDER + 1][MAX_TAPS];
    delta_scales(order, window, scales);
    size_t D = (size_t)C * (1 + order);
    for (size_t t = 0; t < T; t++) {
        float *o = out + t * D;
        memcpy(o, in + t * (size_t)C, (size_t)C * sizeof *o);
        for (int i = 1; i <= order; i++) {
            int half = i * window;
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int j = -half; j <= half; j++) {
                    /* Edge frames are replicated, as compute-deltas does. */
                    int64_t u = (int64_t)t + j;
                    if (u < 0)
                        u = 0;
                    if (u >= (int64_t)T)
                        u = (int64_t)T - 1;
                    acc += scales[i][j + half] * in[(size_t)u * C + c];
                }
                o[(size_t)i * C + c] = (float)acc;
            }
        }
    }
}

/* ---- CMVN ------------------------------------------------------------------------------ */

void voz_cmvn_column(const float *feats, size_t T, int D, int d, int norm_var, double *mean_out, double *scale_out)
{
    /* Two passes in double: exact zero variance for constant columns. */
    double mean = 0, var = 0;
    for (size_t t = 0; t < T; t++)
        mean += feats[t * D + d];
    mean /= (double)(T ? T : 1);
    for (size_t t = 0; t < T; t++) {
        double x = feats[t * D + d] - mean;
        var += x * x;
    }
    var /= (double)(T ? T : 1);
    *mean_out = mean;
    *scale_out = norm_var ? 1.0 / sqrt(var > VOZ_CMVN_VAR_FLOOR ? var : VOZ_CMVN_VAR_FLOOR) : 1.0;
}

void voz_cmvn_apply(float *feats, size_t T, int D, int norm_var)
{
    if (T == 0)
        return;
    for (int d = 0; d < D; d++) {
        double mean, scale;
        voz_cmvn_column(feats, T, D, d, norm_var, &mean, &scale);
        for (size_t t = 0; t < T; t++)
            feats[t * D + d] = (float)((feats[t * D + d] - mean) * scale);
    }
}

voz_status voz_cmvn_running_init(struct voz_cmvn_running *r, int D, float window_frames)
{
    memset(r, 0, sizeof *r);
    if (D < 1 || !(window_frames >= 1))
        return voz_fail(VOZ_ERR_INVALID, "running cmvn: expected dimension >= 1 and window >= 1 frame, "
                        "found %d and %g", D, window_frames);
    r->D = D;
    r->decay = 1.0f - 1.0f / window_frames;
    r->norm_var = 1;
    r->sum = calloc((size_t)D, sizeof *r->sum);
    r->sumsq = calloc((size_t)D, sizeof *r->sumsq);
    if (!r->sum || !r->sumsq) {
        voz_cmvn_running_release(r);
        return voz_fail(VOZ_ERR_NOMEM, "running cmvn: out of memory");
    }
    return VOZ_OK;
}

void voz_cmvn_running_reset(struct voz_cmvn_running *r)
{
    r->count = 0;
    for (int d = 0; d < r->D; d++)
        r->sum[d] = r->sumsq[d] = 0;
}

void voz_cmvn_running_apply(struct voz_cmvn_running *r, float *frame)
{
    r->count = r->decay * r->count + 1.0;
    for (int d = 0; d < r->D; d++) {
        double x = frame[d];
        r->sum[d] = r->decay * r->sum[d] + x;
        r->sumsq[d] = r->decay * r->sumsq[d] + x * x;
        double mean = r->sum[d] / r->count;
        double y = x - mean;
        if (r->norm_var) {
            double var = r->sumsq[d] / r->count - mean * mean;
            y /= sqrt(var > VOZ_CMVN_VAR_FLOOR ? var : VOZ_CMVN_VAR_FLOOR);
        }
        frame[d] = (float)y;
    }
}

void voz_cmvn_running_release(struct voz_cmvn_running *r)
{
    free(r->sum);
    free(r->sumsq);
    r->sum = r->sumsq = NULL;
    r->D = 0;
}

/* ---- the offline driver ------------------------------------------------------------------ */

/* Frames below this stay on one thread: starting a worker costs tens of microseconds,
   about ten frames' worth. */
#define SPLIT_MIN_FRAMES 64

struct voz_features_ws {
    voz_feature_params p;
    int threads;               /* 1 or 2 */
    struct voz_mfcc *mfcc[2];  /* one computer per thread */
    float *base;               /* [cap_base] base MFCC [T][C] (deltas read it) */
    float *out;                /* [cap_out] final features [T][D] when D != C */
    size_t cap_base, cap_out;  /* in floats */
};

voz_status voz_features_ws_create(const voz_feature_params *p, int threads, struct voz_features_ws **out)
{
    *out = NULL;
    if (threads != 1 && threads != 2)
        return voz_fail(VOZ_ERR_INVALID, "features: threads is %d, expected 1 or 2", threads);
    voz_status s = voz_feature_params_check(p);
    if (s != VOZ_OK)
        return s;
    struct voz_features_ws *w = calloc(1, sizeof *w);
    if (!w)
        return voz_fail(VOZ_ERR_NOMEM, "features: out of memory");
    w->p = *p;
    w->threads = threads;
    for (int i = 0; i < threads; i++)
        if ((s = voz_mfcc_create(p, &w->mfcc[i])) != VOZ_OK) {
            voz_features_ws_free(w);
            return s;
        }
    *out = w;
    return VOZ_OK;
}

void voz_features_ws_free(struct voz_features_ws *w)
{
    if (!w)
        return;
    voz_mfcc_free(w->mfcc[0]);
    voz_mfcc_free(w->mfcc[1]);
    free(w->base);
    free(w->out);
    free(w);
}

/* Grows *buf to hold n floats; the old contents are not kept. */
static voz_status grow(float **buf, size_t *cap, size_t n, size_t T)
{
    if (n <= *cap)
        return VOZ_OK;
    free(*buf);
    *cap = 0;
    if (!(*buf = malloc(n * sizeof **buf)))
        return voz_fail(VOZ_ERR_NOMEM, "features: out of memory for %zu frames", T);
    *cap = n;
    return VOZ_OK;
}

struct half_job {
    struct voz_mfcc *m;
    const float *pcm;
    size_t n, f0, f1;
    float *out;
    voz_status s;
    char err[256];             /* voz_fail's message lives per thread: carried back */
};

static void *half_run(void *v)
{
    struct half_job *j = v;
    voz_mfcc_seek(j->m, j->f0);
    j->s = voz_mfcc_compute_range(j->m, j->pcm, j->n, j->f0, j->f1, j->out);
    if (j->s != VOZ_OK)
        snprintf(j->err, sizeof j->err, "%s", voz_last_error());
    return NULL;
}

/* Base MFCC of all T frames into base[T][C], on one or two computers. */
static voz_status mfcc_frames(struct voz_mfcc *const *mfcc, int threads, const float *pcm, size_t n, size_t T,
                              int C, float *base)
{
    if (threads < 2 || !mfcc[1] || T < SPLIT_MIN_FRAMES) {
        voz_mfcc_seek(mfcc[0], 0);
        return voz_mfcc_compute_range(mfcc[0], pcm, n, 0, T, base);
    }
    size_t mid = T / 2;
    struct half_job hi = { .m = mfcc[1], .pcm = pcm, .n = n, .f0 = mid, .f1 = T, .out = base + mid * (size_t)C };
    pthread_t th;
    int started = pthread_create(&th, NULL, half_run, &hi) == 0;
    voz_mfcc_seek(mfcc[0], 0);
    voz_status s = voz_mfcc_compute_range(mfcc[0], pcm, n, 0, mid, base);
    if (started)
        pthread_join(th, NULL);
    else
        half_run(&hi); /* no thread to be had: the same work, here */
    if (s == VOZ_OK && hi.s != VOZ_OK)
        s = voz_fail(hi.s, "%s", hi.err);
    return s;
}

/* 1 when every x[i] is finite. x * 0 is 0 for finite x and NaN for NaN and +-Inf,
   and NaN survives the sums: four lanes a step instead of a branch per sample. */
typedef float v4f __attribute__((vector_size(16), aligned(4)));
static int all_finite(const float *x, size_t n)
{
    v4f acc = { 0, 0, 0, 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        acc += *(const v4f *)(x + i) * 0.0f;
    float s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; i < n; i++)
        s += x[i] * 0.0f;
    return s == 0.0f;
}

/* The pipeline on buffers the caller provides: base [T][C] and, when deltas are on,
   out [T][D] (else out may be NULL and the result is in base). *result names the one
   holding the final features. */
static voz_status features_run(const voz_feature_params *p, struct voz_mfcc *const *mfcc, int threads,
                               const float *pcm, size_t n, size_t T, float *base, float *out, float **result)
{
    int C = p->num_ceps, D = voz_feature_dim(p);
    voz_status s = mfcc_frames(mfcc, threads, pcm, n, T, C, base);
    if (s != VOZ_OK)
        return s;
    float *f = base;
    if (p->delta_order > 0) {
        voz_deltas_compute(base, T, C, p->delta_order, p->delta_window, out);
        f = out;
    }
    if (p->cmvn == VOZ_CMVN_UTTERANCE) {
        voz_cmvn_apply(f, T, D, p->cmvn_var);
    } else if (p->cmvn == VOZ_CMVN_RUNNING) {
        struct voz_cmvn_running r;
        if ((s = voz_cmvn_running_init(&r, D, VOZ_CMVN_RUNNING_FRAMES)) != VOZ_OK)
            return s;
        r.norm_var = p->cmvn_var;
        for (size_t t = 0; t < T; t++)
            voz_cmvn_running_apply(&r, f + t * (size_t)D);
        voz_cmvn_running_release(&r);
    }
    /* Finite samples can still overflow the analysis (float files may hold values
       like 1e30): such features are refused, never handed on. */
    for (size_t i = 0, bad = !all_finite(f, T * (size_t)D); bad && i < T * (size_t)D; i++)
        if (!isfinite(f[i])) {
            float peak = 0;
            for (size_t k = 0; k < n; k++)
                peak = fabsf(pcm[k]) > peak ? fabsf(pcm[k]) : peak;
            return voz_fail(VOZ_ERR_NONFINITE, "features: frame %zu of %zu is not finite: samples of magnitude "
                            "up to %g overflow the analysis, expected audio within about -1..1", i / D, T,
                            (double)peak);
        }
    *result = f;
    return VOZ_OK;
}

/* Shared checks of both drivers: finite input, frame count, buffer sizes in floats. */
static voz_status features_plan(const voz_feature_params *p, const float *pcm, size_t n, size_t *T,
                                size_t *n_base, size_t *n_out)
{
    *T = 0;
    if (!all_finite(pcm, n)) /* then find the first, to name it */
        for (size_t i = 0; i < n; i++)
            if (!isfinite(pcm[i]))
                return voz_fail(VOZ_ERR_NONFINITE, "features: sample %zu of %zu is %s, expected finite audio",
                                i, n, isnan(pcm[i]) ? "NaN" : "infinite");
    size_t frames = voz_mfcc_num_frames(p, n);
    int C = p->num_ceps, D = voz_feature_dim(p);
    size_t bytes;
    if (voz_mul3_size(frames, (size_t)C, sizeof(float), &bytes) ||
        voz_mul3_size(frames, (size_t)D, sizeof(float), &bytes))
        return voz_fail(VOZ_ERR_NOMEM, "features: %zu frames of %d values overflow memory", frames, D);
    *T = frames;
    *n_base = frames * (size_t)C;
    *n_out = p->delta_order > 0 ? frames * (size_t)D : 0;
    return VOZ_OK;
}

voz_status voz_features_ws_compute(struct voz_features_ws *w, const float *pcm, size_t n,
                                   const float **feats, size_t *T_out)
{
    *feats = NULL;
    *T_out = 0;
    size_t T, n_base, n_out;
    voz_status s = features_plan(&w->p, pcm, n, &T, &n_base, &n_out);
    if (s != VOZ_OK || T == 0)
        return s;
    if ((s = grow(&w->base, &w->cap_base, n_base, T)) || (s = grow(&w->out, &w->cap_out, n_out, T)))
        return s;
    float *f;
    if ((s = features_run(&w->p, w->mfcc, w->threads, pcm, n, T, w->base, w->out, &f)) != VOZ_OK)
        return s;
    *feats = f;
    *T_out = T;
    return VOZ_OK;
}

voz_status voz_features_compute(const voz_feature_params *p, const float *pcm, size_t n,
                                float **feats, size_t *T_out)
{
    *feats = NULL;
    *T_out = 0;
    voz_status s = voz_feature_params_check(p);
    if (s != VOZ_OK)
        return s;
    size_t T, n_base, n_out;
    if ((s = features_plan(p, pcm, n, &T, &n_base, &n_out)) != VOZ_OK || T == 0)
        return s;
    struct voz_mfcc *m[2] = { NULL, NULL };
    if ((s = voz_mfcc_create(p, &m[0])) != VOZ_OK)
        return s;
    float *base = malloc(n_base * sizeof *base), *out = n_out ? malloc(n_out * sizeof *out) : NULL, *f = NULL;
    if (!base || (n_out && !out))
        s = voz_fail(VOZ_ERR_NOMEM, "features: out of memory for %zu frames", T);
    else
        s = features_run(p, m, 1, pcm, n, T, base, out, &f);
    voz_mfcc_free(m[0]);
    if (s != VOZ_OK) {
        free(base);
        free(out);
        return s;
    }
    if (f != base)
        free(base);
    *feats = f;
    *T_out = T;
    return VOZ_OK;
}
