/* frontend/features.c — the feature pipeline around the MFCC computer: default options,
   the offline driver (MFCC -> deltas -> CMVN), Kaldi's compute-deltas, per-utterance and
   running mean/variance normalisation. Shapes: T frames, C cepstra, D = C * (1 + order). */
#include "frontend/mfcc.h"
#include "common/util.h"

#include <math.h>
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

void voz_cmvn_apply(float *feats, size_t T, int D, int norm_var)
{
    if (T == 0)
        return;
    for (int d = 0; d < D; d++) {
        /* Two passes in double: exact zero variance for constant columns. */
        double mean = 0, var = 0;
        for (size_t t = 0; t < T; t++)
            mean += feats[t * D + d];
        mean /= (double)T;
        for (size_t t = 0; t < T; t++) {
            double x = feats[t * D + d] - mean;
            var += x * x;
        }
        var /= (double)T;
        double scale = norm_var ? 1.0 / sqrt(var > VOZ_CMVN_VAR_FLOOR ? var : VOZ_CMVN_VAR_FLOOR) : 1.0;
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

voz_status voz_features_compute(const voz_feature_params *p, const float *pcm, size_t n,
                                float **feats, size_t *T_out)
{
    *feats = NULL;
    *T_out = 0;
    voz_status s = voz_feature_params_check(p);
    if (s != VOZ_OK)
        return s;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pcm[i]))
            return voz_fail(VOZ_ERR_NONFINITE, "features: sample %zu of %zu is %s, expected finite audio",
                            i, n, isnan(pcm[i]) ? "NaN" : "infinite");
    size_t T = voz_mfcc_num_frames(p, n);
    if (T == 0)
        return VOZ_OK;
    int C = p->num_ceps, D = voz_feature_dim(p);
    size_t base_bytes, out_bytes;
    if (voz_mul3_size(T, (size_t)C, sizeof(float), &base_bytes) ||
        voz_mul3_size(T, (size_t)D, sizeof(float), &out_bytes))
        return voz_fail(VOZ_ERR_NOMEM, "features: %zu frames of %d values overflow memory", T, D);
    struct voz_mfcc *m;
    if ((s = voz_mfcc_create(p, &m)) != VOZ_OK)
        return s;
    float *base = malloc(base_bytes), *out = NULL;
    if (!base) {
        voz_mfcc_free(m);
        return voz_fail(VOZ_ERR_NOMEM, "features: out of memory for %zu frames", T);
    }
    s = voz_mfcc_compute_buffer(m, pcm, n, base, T);
    voz_mfcc_free(m);
    if (s != VOZ_OK) {
        free(base);
        return s;
    }
    if (p->delta_order > 0) {
        out = malloc(out_bytes);
        if (!out) {
            free(base);
            return voz_fail(VOZ_ERR_NOMEM, "features: out of memory for %zu frames", T);
        }
        voz_deltas_compute(base, T, C, p->delta_order, p->delta_window, out);
        free(base);
    } else {
        out = base;
    }
    if (p->cmvn == VOZ_CMVN_UTTERANCE) {
        voz_cmvn_apply(out, T, D, p->cmvn_var);
    } else if (p->cmvn == VOZ_CMVN_RUNNING) {
        struct voz_cmvn_running r;
        if ((s = voz_cmvn_running_init(&r, D, VOZ_CMVN_RUNNING_FRAMES)) != VOZ_OK) {
            free(out);
            return s;
        }
        r.norm_var = p->cmvn_var;
        for (size_t t = 0; t < T; t++)
            voz_cmvn_running_apply(&r, out + t * (size_t)D);
        voz_cmvn_running_release(&r);
    }
    /* Finite samples can still overflow the analysis (float files may hold values
       like 1e30): such features are refused, never handed on. */
    for (size_t i = 0; i < T * (size_t)D; i++)
        if (!isfinite(out[i])) {
            float peak = 0;
            for (size_t k = 0; k < n; k++)
                peak = fabsf(pcm[k]) > peak ? fabsf(pcm[k]) : peak;
            free(out);
            return voz_fail(VOZ_ERR_NONFINITE, "features: frame %zu of %zu is not finite: samples of magnitude "
                            "up to %g overflow the analysis, expected audio within about -1..1", i / D, T,
                            (double)peak);
        }
    *feats = out;
    *T_out = T;
    return VOZ_OK;
}
