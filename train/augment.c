/* train/augment.c — seeded random numbers, waveform augmentation, SpecAugment. */
#include "train/augment.h"
#include "frontend/audio.h"
#include "frontend/mfcc.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct voz_rng voz_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    /* Chained mixing: each index perturbs a fully mixed state, so (1, 2) and (2, 1)
       give unrelated streams. */
    uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull);
    h = mix64(h ^ (a + 0x632BE59BD9B4E019ull));
    h = mix64(h ^ (b + 0x8CB92BA72F3D8DD7ull));
    h = mix64(h ^ (c + 0xD6E8FEB86659FD93ull));
    return (struct voz_rng){ h };
}

uint64_t voz_rng_next(struct voz_rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return mix64(r->s);
}

double voz_rng_uniform(struct voz_rng *r)
{
    return (double)(voz_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double voz_rng_range(struct voz_rng *r, double lo, double hi)
{
    return hi > lo ? lo + (hi - lo) * voz_rng_uniform(r) : lo;
}

int voz_rng_int(struct voz_rng *r, int lo, int hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    return lo + (int)(voz_rng_next(r) % span); /* bias < span / 2^64: negligible */
}

double voz_rng_gauss(struct voz_rng *r)
{
    double u1 = voz_rng_uniform(r), u2 = voz_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void voz_rng_shuffle(struct voz_rng *r, int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = voz_rng_int(r, 0, i);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

voz_augment_params voz_augment_default_params(void)
{
    return (voz_augment_params){
        .speed_min = 0.9f, .speed_max = 1.1f,
        .gain_min_db = -6.0f, .gain_max_db = 6.0f,
        .snr_min_db = 10.0f, .snr_max_db = 40.0f,
        .clean_prob = 0.25f,
        .crop_prob = 0.0f, .crop_ms = 50.0f,
        .warp_min = 1.0f, .warp_max = 1.0f,
    };
}

double voz_augment_warp(const voz_augment_params *p, struct voz_rng *rng)
{
    double u = voz_rng_uniform(rng); /* always drawn: the stream does not depend on the range */
    return p->warp_max > p->warp_min ? p->warp_min + (p->warp_max - p->warp_min) * u : p->warp_min;
}

/* Sample range [*a, *b) of pcm[n] left after cropping its edges. The speech boundary
   is found on 10 ms frames: the first and last within 20 dB of the loudest frame. */
static void crop_range(const voz_augment_params *p, int rate, const float *pcm, size_t n, int head, int tail,
                       double uh, double ut, size_t *a, size_t *b)
{
    *a = 0;
    *b = n;
    size_t fl = (size_t)rate / 100;
    if ((!head && !tail) || fl == 0 || n < 4 * fl)
        return;
    size_t nf = n / fl, first = 0, last = 0;
    double peak = 0;
    for (int pass = 0; pass < 2; pass++) {
        int seen = 0;
        for (size_t f = 0; f < nf; f++) {
            double e = 0;
            for (size_t i = f * fl; i < (f + 1) * fl; i++)
                e += (double)pcm[i] * pcm[i];
            if (pass == 0) {
                if (e > peak)
                    peak = e;
            } else if (e >= peak * 0.01) { /* -20 dB */
                if (!seen)
                    first = f;
                last = f;
                seen = 1;
            }
        }
        if (!(peak > 0))
            return;
    }
    double reach = p->crop_ms * rate / 1000.0;
    double s0 = (double)(first * fl) + uh * reach, s1 = (double)((last + 1) * fl) + ut * reach;
    size_t na = head && s0 > 0 ? (size_t)s0 : 0;
    size_t nb = tail && s1 < (double)n ? (size_t)s1 : n;
    /* Keep at least 100 ms, or the word is gone rather than clipped. */
    if (nb > na && nb - na >= 10 * fl) {
        *a = na;
        *b = nb;
    }
}

#define PINK_ROWS 12

void voz_augment_noise(struct voz_rng *rng, int pink, float rms, float *out, size_t n)
{
    if (!pink) {
        for (size_t i = 0; i < n; i++)
            out[i] = rms * (float)voz_rng_gauss(rng);
        return;
    }
    /* Voss-McCartney: row k is redrawn every 2^k samples (the row whose bit flips
       in the sample counter), plus one white row; their sum falls off ~3 dB/octave.
       Each of the PINK_ROWS + 1 uniform terms has variance 1/3 on [-1, 1]. */
    double rows[PINK_ROWS], sum = 0;
    for (int k = 0; k < PINK_ROWS; k++) {
        rows[k] = voz_rng_range(rng, -1, 1);
        sum += rows[k];
    }
    const double norm = 1.0 / sqrt((PINK_ROWS + 1) / 3.0);
    for (size_t i = 0; i < n; i++) {
        size_t c = i + 1;
        int k = 0;
        while (k < PINK_ROWS - 1 && !(c & 1)) {
            c >>= 1;
            k++;
        }
        sum -= rows[k];
        rows[k] = voz_rng_range(rng, -1, 1);
        sum += rows[k];
        out[i] = rms * (float)((sum + voz_rng_range(rng, -1, 1)) * norm);
    }
}

voz_status voz_augment_wave(const voz_augment_params *p, struct voz_rng *rng, const float *pcm, size_t n,
                            int rate, float **out, size_t *n_out)
{
    /* Draw everything first, in a fixed order, so the stream of draws never depends
       on what the resampler returns. */
    double speed = voz_rng_range(rng, p->speed_min, p->speed_max);
    double gain_db = voz_rng_range(rng, p->gain_min_db, p->gain_max_db);
    int noisy = voz_rng_uniform(rng) >= p->clean_prob;
    int pink = voz_rng_uniform(rng) < 0.5;
    double snr_db = voz_rng_range(rng, p->snr_min_db, p->snr_max_db);
    struct voz_rng noise_rng = voz_rng_derive(voz_rng_next(rng), 0, 0, 0);
    int head = voz_rng_uniform(rng) < p->crop_prob, tail = voz_rng_uniform(rng) < p->crop_prob;
    double uh = voz_rng_range(rng, -1, 1), ut = voz_rng_range(rng, -1, 1);

    float *y = NULL;
    size_t m = 0;
    *out = NULL;
    *n_out = 0;
    if (!(speed > 0) || rate <= 0)
        return voz_fail(VOZ_ERR_INVALID, "augment: speed factor must be > 0, found %g", speed);
    size_t c0, c1;
    crop_range(p, rate, pcm, n, head, tail, uh, ut, &c0, &c1);
    pcm += c0;
    n = c1 - c0;
    if (fabs(speed - 1.0) > 1e-6 && n > 0) {
        voz_status s = voz_resample_buffer(pcm, n, (double)rate, (double)rate / speed, &y, &m);
        if (s != VOZ_OK)
            return s;
    } else {
        m = n;
        y = malloc((n ? n : 1) * sizeof *y);
        if (!y)
            return voz_fail(VOZ_ERR_NOMEM, "augment: out of memory for %zu samples", n);
        if (n)
            memcpy(y, pcm, n * sizeof *y);
    }
    const float g = (float)pow(10.0, gain_db / 20.0);
    double power = 0;
    for (size_t i = 0; i < m; i++) {
        y[i] *= g;
        power += (double)y[i] * y[i];
    }
    power = m ? power / (double)m : 0;
    if (noisy && power > 0 && m > 0) {
        float *noise = malloc(m * sizeof *noise);
        if (!noise) {
            free(y);
            return voz_fail(VOZ_ERR_NOMEM, "augment: out of memory for %zu samples", m);
        }
        float rms = (float)sqrt(power / pow(10.0, snr_db / 10.0));
        voz_augment_noise(&noise_rng, pink, rms, noise, m);
        for (size_t i = 0; i < m; i++)
            y[i] += noise[i];
        free(noise);
    }
    *out = y;
    *n_out = m;
    return VOZ_OK;
}

void voz_specaug_apply(const voz_specaug_params *p, struct voz_rng *rng, float *feats, int T, int D, int C)
{
    if (T <= 0 || D <= 0 || C <= 0 || D % C)
        return;
    int blocks = D / C;
    int max_w = p->time_width < T / 5 ? p->time_width : T / 5;
    for (int k = 0; k < p->time_masks; k++) {
        int w = voz_rng_int(rng, 0, max_w > 0 ? max_w : 0);
        int t0 = voz_rng_int(rng, 0, T - w);
        for (int t = t0; t < t0 + w; t++)
            memset(feats + (size_t)t * D, 0, (size_t)D * sizeof *feats);
    }
    int max_f = p->freq_width < C ? p->freq_width : C - 1;
    for (int k = 0; k < p->freq_masks; k++) {
        int f = voz_rng_int(rng, 0, max_f > 0 ? max_f : 0);
        int f0 = voz_rng_int(rng, 0, C - f);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < blocks; b++)
                for (int j = f0; j < f0 + f; j++)
                    feats[(size_t)t * D + (size_t)b * C + j] = 0;
    }
}

voz_status voz_melmask_init(struct voz_melmask *mm, const voz_feature_params *f)
{
    memset(mm, 0, sizeof *mm);
    if (f->htk_compat)
        return voz_fail(VOZ_ERR_INVALID, "train: mel-band masks need features without htk_compat");
    mm->M = f->num_mel_bins;
    mm->C = f->num_ceps;
    mm->D = voz_feature_dim(f);
    mm->k0 = f->use_energy ? 1 : 0;
    /* One block: the doubles first (alignment), then the floats, then the band flags. */
    size_t nd = 2 * (size_t)mm->D, nf = 2 * (size_t)mm->M * (size_t)mm->C + (size_t)mm->M;
    char *blk = calloc(1, nd * sizeof(double) + nf * sizeof(float) + (size_t)mm->M);
    if (!blk)
        return voz_fail(VOZ_ERR_NOMEM, "train: out of memory for the mel masks");
    mm->mean = (double *)blk;
    mm->scale = mm->mean + mm->D;
    mm->w = (float *)(mm->mean + nd);
    mm->u = mm->w + (size_t)mm->M * mm->C;
    mm->dev = mm->u + (size_t)mm->M * mm->C;
    mm->band = (unsigned char *)(mm->dev + mm->M);
    for (int j = 0; j < mm->M; j++)
        for (int k = mm->k0; k < mm->C; k++) {
            double d = voz_mfcc_dct_weight(mm->M, k, j), l = voz_mfcc_lifter_weight(f->cepstral_lifter, k);
            mm->w[(size_t)j * mm->C + k] = (float)(l * d);
            mm->u[(size_t)j * mm->C + k] = (float)(d / l);
        }
    return VOZ_OK;
}

void voz_melmask_release(struct voz_melmask *mm)
{
    free(mm->mean); /* the whole block */
    memset(mm, 0, sizeof *mm);
}

void voz_melmask_cmvn(struct voz_melmask *mm, const voz_specaug_params *p, struct voz_rng *rng, float *feats, int T,
                      int norm_var)
{
    const int M = mm->M, C = mm->C, D = mm->D;
    if (T <= 0)
        return;
    int n_band = 0;
    if (p->mel_masks > 0 && M > 0) {
        /* The union of the masks' bands (overlapping masks mask once). */
        memset(mm->band, 0, (size_t)M);
        int max_f = p->mel_width < M ? p->mel_width : M - 1;
        for (int k = 0; k < p->mel_masks; k++) {
            int f = voz_rng_int(rng, 0, max_f > 0 ? max_f : 0);
            int f0 = voz_rng_int(rng, 0, M - f);
            for (int j = f0; j < f0 + f; j++)
                n_band += !mm->band[j], mm->band[j] = 1;
        }
    }
    if (!n_band || C <= mm->k0 || D % C) {
        voz_cmvn_apply(feats, (size_t)T, D, norm_var);
        return;
    }
    for (int d = 0; d < D; d++)
        voz_cmvn_column(feats, (size_t)T, D, d, norm_var, &mm->mean[d], &mm->scale[d]);
    const unsigned char *band = mm->band;
    float *dev = mm->dev;
    for (int t = 0; t < T; t++) {
        float *x = feats + (size_t)t * D;
        for (int d = 0; d < D; d++)
            x[d] = (float)(x[d] - mm->mean[d]);
        /* Each block (static, deltas) of the mean-free frame: all bands from the unmasked
           values at once (the bands' DCT columns are not orthogonal, so masking one after
           another would differ). */
        for (int b = 0; b < D; b += C) {
            float *c = x + b;
            for (int j = 0; j < M; j++) {
                if (!band[j])
                    continue;
                const float *u = mm->u + (size_t)j * C;
                float a = 0;
                for (int k = mm->k0; k < C; k++)
                    a += u[k] * c[k];
                dev[j] = a;
            }
            for (int j = 0; j < M; j++) {
                if (!band[j])
                    continue;
                const float *w = mm->w + (size_t)j * C;
                for (int k = mm->k0; k < C; k++)
                    c[k] -= w[k] * dev[j];
            }
        }
        for (int d = 0; d < D; d++)
            x[d] = (float)(x[d] * mm->scale[d]);
    }
}
