/* tests/test_train.c — the training support code: WER/CER/SER on known pairs,
   seeded randomness and augmentation (determinism, speed, SNR), SpecAugment masks,
   mel-band masks, utterance composition (labels, lengths, features = deltas + CMVN of
   the joined frames, plans covering every utterance once), training rows giving the
   inference features, the CSV log, and the checkpoint
   format (round trip, corrupted and truncated files rejected, NaN refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acoustic/optim.h"
#include "common/util.h"
#include "frontend/mfcc.h"
#include "train/augment.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/metrics.h"
#include "train/report.h"
#include "train/text.h"

/* ---- metrics ------------------------------------------------------------------------ */

static void test_edit_distance(void **state)
{
    (void)state;
    const unsigned kitten[] = { 'k', 'i', 't', 't', 'e', 'n' }, sitting[] = { 's', 'i', 't', 't', 'i', 'n', 'g' };
    assert_int_equal(voz_metrics_edit_distance(kitten, 6, sitting, 7), 3);
    assert_int_equal(voz_metrics_edit_distance(kitten, 6, kitten, 6), 0);
    assert_int_equal(voz_metrics_edit_distance(kitten, 6, NULL, 0), 6);
    assert_int_equal(voz_metrics_edit_distance(NULL, 0, sitting, 7), 7);
}

static void test_wer_cer_known_pairs(void **state)
{
    (void)state;
    struct voz_error_counts c = { 0 };
    /* One substitution (sat->sit) and one deletion (the): 2 of 6 words. Characters:
       "the cat sat on the mat" (22) vs "the cat sit on mat": a->i, then "the " deleted. */
    assert_int_equal(voz_metrics_add(&c, "the cat sat on the mat", "the cat sit on mat"), VOZ_OK);
    assert_int_equal(c.word_errors, 2);
    assert_int_equal(c.ref_words, 6);
    assert_int_equal(c.char_errors, 5);
    assert_int_equal(c.ref_chars, 22);
    assert_int_equal(c.sent_errors, 1);
    assert_float_equal(voz_metrics_wer(&c), 2.0 / 6, 1e-12);
    /* Case and white space are normalised away: a perfect match. */
    assert_int_equal(voz_metrics_add(&c, "One  Two", " one two "), VOZ_OK);
    assert_int_equal(c.word_errors, 2);
    assert_int_equal(c.sent_errors, 1);
    assert_int_equal(c.sentences, 2);
    assert_float_equal(voz_metrics_ser(&c), 0.5, 1e-12);
    /* Insertions can push WER above 100%. */
    struct voz_error_counts d = { 0 };
    assert_int_equal(voz_metrics_add(&d, "a", "a b c"), VOZ_OK);
    assert_float_equal(voz_metrics_wer(&d), 2.0, 1e-12);
    assert_float_equal(voz_metrics_cer(&d), 4.0, 1e-12); /* " b c" inserted */
    /* An empty hypothesis deletes everything. */
    struct voz_error_counts e = { 0 };
    assert_int_equal(voz_metrics_add(&e, "seven eight nine", ""), VOZ_OK);
    assert_float_equal(voz_metrics_wer(&e), 1.0, 1e-12);
    assert_float_equal(voz_metrics_cer(&e), 1.0, 1e-12);
    /* Multi-byte characters count once each. */
    struct voz_error_counts f = { 0 };
    assert_int_equal(voz_metrics_add(&f, "\xC3\xA9t\xC3\xA9", "ete"), VOZ_OK);
    assert_int_equal(f.ref_chars, 3);
    assert_int_equal(f.char_errors, 2);
    /* Nothing counted at all: rates are 0. */
    struct voz_error_counts z = { 0 };
    assert_float_equal(voz_metrics_wer(&z), 0.0, 0);
}

/* ---- randomness and augmentation ------------------------------------------------------ */

static void test_rng_streams(void **state)
{
    (void)state;
    struct voz_rng a = voz_rng_derive(1, 2, 3, 4), b = voz_rng_derive(1, 2, 3, 4), c = voz_rng_derive(1, 3, 2, 4);
    uint64_t x = voz_rng_next(&a);
    assert_true(x == voz_rng_next(&b));
    assert_true(x != voz_rng_next(&c));
    int v[50], seen[50] = { 0 };
    for (int i = 0; i < 50; i++)
        v[i] = i;
    voz_rng_shuffle(&a, v, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > 25);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = voz_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
        int k = voz_rng_int(&a, -2, 2);
        assert_true(k >= -2 && k <= 2);
        sum += voz_rng_gauss(&a);
    }
    assert_true(fabs(sum / 10000) < 0.05);
}

static float *tone(size_t n, int rate, double hz, double amp)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(6.283185307179586 * hz * (double)i / rate));
    return x;
}

static void test_augment_deterministic(void **state)
{
    (void)state;
    const int rate = 8000;
    size_t n = 4000;
    float *x = tone(n, rate, 440, 0.3);
    voz_augment_params p = voz_augment_default_params();
    float *y1, *y2, *y3;
    size_t n1, n2, n3;
    struct voz_rng r1 = voz_rng_derive(7, 1, 2, 3), r2 = voz_rng_derive(7, 1, 2, 3), r3 = voz_rng_derive(8, 1, 2, 3);
    assert_int_equal(voz_augment_wave(&p, &r1, x, n, rate, &y1, &n1), VOZ_OK);
    assert_int_equal(voz_augment_wave(&p, &r2, x, n, rate, &y2, &n2), VOZ_OK);
    assert_int_equal(voz_augment_wave(&p, &r3, x, n, rate, &y3, &n3), VOZ_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(y1, y2, n1 * sizeof *y1);
    assert_true(n1 != n3 || memcmp(y1, y3, n1 * sizeof *y1) != 0);
    free(y1);
    free(y2);
    free(y3);
    free(x);
}

static void test_augment_speed_and_snr(void **state)
{
    (void)state;
    const int rate = 8000;
    size_t n = 8000;
    float *x = tone(n, rate, 300, 0.5);
    /* Speed 1.25, no gain, always noisy at exactly 20 dB SNR. */
    voz_augment_params p = { .speed_min = 1.25f, .speed_max = 1.25f, .snr_min_db = 20, .snr_max_db = 20,
                             .clean_prob = 0 };
    struct voz_rng r = voz_rng_derive(3, 0, 0, 0);
    float *y;
    size_t m;
    assert_int_equal(voz_augment_wave(&p, &r, x, n, rate, &y, &m), VOZ_OK);
    /* Playing 1.25x faster leaves n / 1.25 samples (the resampler may round by a few). */
    assert_true(labs((long)m - 6400) <= 8);
    free(y);
    /* Speed 1: compare with the clean signal to measure the added noise. */
    p.speed_min = p.speed_max = 1.0f;
    for (int pink = 0; pink < 2; pink++) {
        double sig = 0, noise = 0;
        int tries = 0;
        for (int k = 0; k < 40 && tries < 1; k++) {
            struct voz_rng rk = voz_rng_derive(5, (uint64_t)k, 0, 0);
            /* Find a draw with the wanted noise colour: the colour is the 4th draw. */
            struct voz_rng peek = rk;
            voz_rng_uniform(&peek), voz_rng_uniform(&peek), voz_rng_uniform(&peek);
            if ((voz_rng_uniform(&peek) < 0.5) != pink)
                continue;
            assert_int_equal(voz_augment_wave(&p, &rk, x, n, rate, &y, &m), VOZ_OK);
            assert_int_equal(m, n);
            for (size_t i = 0; i < n; i++) {
                sig += (double)x[i] * x[i];
                noise += (double)(y[i] - x[i]) * (y[i] - x[i]);
            }
            free(y);
            tries++;
        }
        assert_int_equal(tries, 1);
        double snr = 10 * log10(sig / noise);
        if (fabs(snr - 20) > 0.5) {
            print_error("%s noise: SNR %.2f dB, expected 20 dB\n", pink ? "pink" : "white", snr);
            fail();
        }
    }
    /* Gain: +6.0206 dB doubles the amplitude. */
    voz_augment_params g = { .speed_min = 1, .speed_max = 1, .gain_min_db = 6.0206f, .gain_max_db = 6.0206f,
                             .clean_prob = 1 };
    assert_int_equal(voz_augment_wave(&g, &r, x, n, rate, &y, &m), VOZ_OK);
    for (size_t i = 0; i < n; i += 97)
        assert_float_equal(y[i], 2 * x[i], 1e-4);
    free(y);
    free(x);
}

static void test_augment_crop_and_warp(void **state)
{
    (void)state;
    /* 200 ms of silence, 300 ms of tone, 200 ms of silence: the speech boundary is at
       1600 and 4000 samples, so with crop_ms 50 (400 samples) each kept edge lies within
       400 samples of it, and the copy is an exact slice of the input (no speed, gain or
       noise). */
    const int rate = 8000;
    size_t n = 5600;
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    /* A cosine of 441 Hz: nonzero at every sample, no period within the clip, so the
       slice's position is unambiguous. */
    for (size_t i = 0; i < 2400; i++)
        x[1600 + i] = 0.5f * (float)cos(2 * M_PI * 441.0 * (double)i / rate);
    voz_augment_params p = { .speed_min = 1, .speed_max = 1, .clean_prob = 1, .crop_prob = 1, .crop_ms = 50,
                             .warp_min = 0.9f, .warp_max = 1.1f };
    int into_head = 0, before_head = 0, into_tail = 0, after_tail = 0;
    double wmin = 2, wmax = 0;
    for (int k = 0; k < 200; k++) {
        struct voz_rng r = voz_rng_derive(11, (uint64_t)k, 0, 0);
        float *y;
        size_t m;
        assert_int_equal(voz_augment_wave(&p, &r, x, n, rate, &y, &m), VOZ_OK);
        long zeros = 0;
        while (zeros < (long)m && y[zeros] == 0)
            zeros++;
        assert_true(zeros < (long)m);
        long start = zeros > 0 ? 1600 - zeros : -1;
        for (long s0 = 1600; start < 0 && s0 + (long)m <= (long)n; s0++)
            if (!memcmp(y, x + s0, m * sizeof *y))
                start = s0;
        assert_true(start >= 1200 && start <= 2000);
        assert_true(start + (long)m <= (long)n);
        assert_memory_equal(y, x + start, m * sizeof *y);
        long end = start + (long)m;
        assert_true(end >= 3600 && end <= 4400);
        into_head += start > 1601, before_head += start < 1600;
        into_tail += end < 3999, after_tail += end > 4000;
        free(y);
        double w = voz_augment_warp(&p, &r);
        wmin = w < wmin ? w : wmin, wmax = w > wmax ? w : wmax;
    }
    /* Both directions of both edges occur, and the warps span their range. */
    assert_true(into_head > 20 && before_head > 20 && into_tail > 20 && after_tail > 20);
    assert_true(wmin >= 0.9 && wmin < 0.92 && wmax < 1.1 && wmax > 1.08);
    /* crop_prob 0: the clip is untouched (and warp 1:1 gives exactly 1). */
    p.crop_prob = 0, p.warp_min = p.warp_max = 1;
    struct voz_rng r = voz_rng_derive(12, 0, 0, 0);
    float *y;
    size_t m;
    assert_int_equal(voz_augment_wave(&p, &r, x, n, rate, &y, &m), VOZ_OK);
    assert_int_equal(m, n);
    assert_memory_equal(y, x, n * sizeof *y);
    assert_true(voz_augment_warp(&p, &r) == 1.0);
    free(y);
    free(x);
}

static void test_pink_noise_spectrum_tilts(void **state)
{
    (void)state;
    /* Pink noise has more power at low frequencies: compare a smoothed (low-pass)
       version's share of the power for white and pink noise. */
    size_t n = 1 << 15;
    float *w = malloc(n * sizeof *w), *p = malloc(n * sizeof *p);
    struct voz_rng r = voz_rng_derive(11, 0, 0, 0);
    voz_augment_noise(&r, 0, 1.0f, w, n);
    voz_augment_noise(&r, 1, 1.0f, p, n);
    double share[2];
    for (int k = 0; k < 2; k++) {
        const float *x = k ? p : w;
        double tot = 0, low = 0;
        for (size_t i = 16; i < n; i++) {
            double s = 0;
            for (int j = 0; j < 16; j++)
                s += x[i - j];
            s /= 16;
            low += s * s;
            tot += (double)x[i] * x[i];
        }
        share[k] = low / tot;
        assert_float_equal(tot / (n - 16), 1.0, 0.15); /* unit RMS */
    }
    assert_true(share[1] > 3 * share[0]);
    free(w);
    free(p);
}

static void test_specaug_masks(void **state)
{
    (void)state;
    const int T = 100, C = 13, D = 39;
    float *f = malloc(sizeof(float) * T * D), *g = malloc(sizeof(float) * T * D);
    for (int i = 0; i < T * D; i++)
        f[i] = g[i] = 1.0f + (float)(i % 7);
    voz_specaug_params p = { .time_masks = 2, .time_width = 50, .freq_masks = 1, .freq_width = 4 };
    struct voz_rng r1 = voz_rng_derive(1, 1, 1, 1), r2 = voz_rng_derive(1, 1, 1, 1);
    voz_specaug_apply(&p, &r1, f, T, D, C);
    voz_specaug_apply(&p, &r2, g, T, D, C);
    assert_memory_equal(f, g, sizeof(float) * T * D);
    int zero_rows = 0;
    for (int t = 0; t < T; t++) {
        int z = 0;
        for (int d = 0; d < D; d++)
            z += f[t * D + d] == 0;
        zero_rows += z == D;
    }
    /* Two masks of at most T/5 = 20 frames each (the width is capped). */
    assert_true(zero_rows <= 40);
    /* A frequency mask hits the same coefficients in all three blocks. */
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            assert_true((f[t * D + c] == 0) == (f[t * D + C + c] == 0) &&
                        (f[t * D + c] == 0) == (f[t * D + 2 * C + c] == 0));
    free(f);
    free(g);
}

/* The mel-band masks against a double-precision reference written from the definition:
   on the mean-free features, each block's smoothed log-mel S = D^T (x / lifter) over the
   DCT rows, masked bands set to 0 (their mean), cepstra back as lifter * D S, then CMVN's
   scales of the unmasked features. The bands come from the same draws (width, then
   start, per mask). */
static void melmask_reference(const voz_feature_params *f, const float *feats, int T, const int *band, double *out)
{
    const int M = f->num_mel_bins, C = f->num_ceps, D = 3 * C, k0 = f->use_energy ? 1 : 0;
    double Dm[13][23], lift[13], mean[39] = { 0 }, var[39] = { 0 };
    for (int k = 0; k < C; k++) {
        lift[k] = 1.0 + 0.5 * f->cepstral_lifter * sin(M_PI * k / f->cepstral_lifter);
        for (int j = 0; j < M; j++)
            Dm[k][j] = k == 0 ? sqrt(1.0 / M) : sqrt(2.0 / M) * cos(M_PI * (j + 0.5) * k / M);
    }
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            mean[d] += feats[t * D + d] / (double)T;
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            var[d] += (feats[t * D + d] - mean[d]) * (feats[t * D + d] - mean[d]) / T;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < D; b += C) {
            double x[13], S[23];
            for (int k = 0; k < C; k++)
                x[k] = feats[t * D + b + k] - mean[b + k];
            for (int j = 0; j < M; j++) {
                S[j] = 0;
                for (int k = k0; k < C; k++)
                    S[j] += Dm[k][j] * x[k] / lift[k];
            }
            for (int k = 0; k < C; k++) {
                double v = x[k];
                for (int j = 0; j < M && k >= k0; j++)
                    v -= band[j] ? lift[k] * Dm[k][j] * S[j] : 0;
                out[t * D + b + k] = v / sqrt(var[b + k] > 1e-10 ? var[b + k] : 1e-10);
            }
        }
}

static void test_mel_masks(void **state)
{
    (void)state;
    enum { T = 60, C = 13, D = 39, M = 23 };
    float base[T * C], raw[T * D], x[T * D];
    double want[T * D];
    for (int i = 0; i < T * C; i++)
        base[i] = (float)(sin(0.37 * i) * 4 + (i % C) * 0.3 + cos(0.05 * (i / C)));
    voz_deltas_compute(base, T, C, 2, 2, raw);
    for (int use_energy = 0; use_energy <= 1; use_energy++) {
        voz_feature_params f = voz_feature_default_params();
        f.use_energy = use_energy;
        struct voz_melmask mm;
        assert_int_equal(voz_melmask_init(&mm, &f), VOZ_OK);
        voz_specaug_params p = { .mel_masks = 2, .mel_width = 6 };
        float plain[T * D];
        memcpy(plain, raw, sizeof plain);
        voz_cmvn_apply(plain, T, D, 1);
        for (int seed = 1; seed <= 20; seed++) {
            memcpy(x, raw, sizeof x);
            struct voz_rng r = voz_rng_derive((uint64_t)seed, 5, 6, 7), rd = r;
            int band[M] = { 0 }, n_band = 0;
            for (int k = 0; k < p.mel_masks; k++) {
                int w = voz_rng_int(&rd, 0, p.mel_width), f0 = voz_rng_int(&rd, 0, M - w);
                for (int j = f0; j < f0 + w; j++)
                    n_band += !band[j], band[j] = 1;
            }
            voz_melmask_cmvn(&mm, &p, &r, x, T, 1);
            assert_true(voz_rng_next(&r) == voz_rng_next(&rd)); /* two draws per mask */
            melmask_reference(&f, raw, T, band, want);
            for (int i = 0; i < T * D; i++) {
                assert_true(fabs(x[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])));
                if (use_energy && i % C == 0) /* c0 is the energy, not a DCT row: plain CMVN */
                    assert_true(fabsf(x[i] - plain[i]) <= 1e-6f * (1 + fabsf(plain[i])));
            }
            if (!n_band) /* nothing masked: plain CMVN, bit for bit */
                assert_memory_equal(x, plain, sizeof plain);
        }
        /* No masks: plain CMVN, and no draw. */
        p = (voz_specaug_params){ .mel_masks = 0, .mel_width = M };
        float y[T * D];
        memcpy(x, raw, sizeof x);
        memcpy(y, raw, sizeof y);
        struct voz_rng r0 = voz_rng_derive(9, 9, 9, 9), r0c = r0;
        voz_melmask_cmvn(&mm, &p, &r0, x, T, 1);
        voz_cmvn_apply(y, T, D, 1);
        assert_memory_equal(x, y, sizeof y);
        assert_true(voz_rng_next(&r0) == voz_rng_next(&r0c));
        /* Masks covering every band leave nothing of the DCT-row cepstra (and, being
           inside CMVN, nothing is scaled back up). */
        p = (voz_specaug_params){ .mel_masks = 3, .mel_width = M };
        int covered = 0;
        for (uint64_t seed = 1; seed < 100000 && !covered; seed++) {
            struct voz_rng r = voz_rng_derive(seed, 1, 2, 3), rd = r;
            int band[M] = { 0 }, n = 0;
            for (int k = 0; k < p.mel_masks; k++) {
                int w = voz_rng_int(&rd, 0, M - 1), f0 = voz_rng_int(&rd, 0, M - w);
                for (int j = f0; j < f0 + w; j++)
                    n += !band[j], band[j] = 1;
            }
            if (n < M)
                continue;
            covered = 1;
            memcpy(x, raw, sizeof x);
            voz_melmask_cmvn(&mm, &p, &r, x, T, 1);
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++)
                    if (d % C >= use_energy)
                        assert_true(fabsf(x[t * D + d]) < 1e-3f);
        }
        assert_true(covered);
        voz_melmask_release(&mm);
    }
    voz_feature_params f = voz_feature_default_params();
    f.htk_compat = 1;
    struct voz_melmask mm;
    assert_int_equal(voz_melmask_init(&mm, &f), VOZ_ERR_INVALID);
}

/* ---- composition --------------------------------------------------------------------- */

/* A dataset built by hand: three "clips" with base MFCC frames whose values encode the
   clip and frame, plus one gap source. */
static struct voz_alphabet alpha;
static int lab_one[3], lab_two[3], lab_three[5];

static void fake_dataset(struct voz_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    assert_int_equal(voz_alphabet_init(&alpha, VOZ_DEFAULT_ALPHABET), VOZ_OK);
    ds->p.feat = voz_feature_default_params();
    ds->p.seed = 42;
    ds->p.alpha = &alpha;
    ds->C = 13;
    ds->D = 39;
    ds->space = voz_alphabet_class(&alpha, ' ');
    assert_int_equal(voz_alphabet_encode(&alpha, "one", lab_one, NULL), 3);
    assert_int_equal(voz_alphabet_encode(&alpha, "two", lab_two, NULL), 3);
    assert_int_equal(voz_alphabet_encode(&alpha, "three", lab_three, NULL), 5);
    const int *labs[3] = { lab_one, lab_two, lab_three };
    const int L[3] = { 3, 3, 5 };
    ds->n_clips = 3;
    ds->clips = calloc(3, sizeof *ds->clips);
    for (int k = 0; k < 3; k++) {
        struct voz_clip *c = &ds->clips[k];
        c->labels = labs[k];
        c->L = L[k];
        c->n_var = 2;
        c->mfcc = calloc(2, sizeof *c->mfcc);
        c->T = calloc(2, sizeof *c->T);
        for (int v = 0; v < 2; v++) {
            c->T[v] = 20 + 5 * k + v;
            c->mfcc[v] = malloc(sizeof(float) * c->T[v] * 13);
            for (int i = 0; i < c->T[v] * 13; i++)
                c->mfcc[v][i] = (float)(100 * k + 10 * v) + (float)(i % 13) * 0.5f + (float)(i / 13) * 0.01f;
        }
    }
    ds->n_gap = 1;
    ds->gap = calloc(1, sizeof *ds->gap);
    ds->gap_T = calloc(1, sizeof *ds->gap_T);
    ds->gap_T[0] = 100;
    ds->gap[0] = malloc(sizeof(float) * 100 * 13);
    for (int i = 0; i < 100 * 13; i++)
        ds->gap[0][i] = -5.0f + (float)(i % 13) * 0.1f;
}

static void test_composition_labels_and_features(void **state)
{
    (void)state;
    struct voz_dataset ds;
    fake_dataset(&ds);
    struct voz_compose_params cp = { .count = 40, .min_words = 1, .max_words = 3, .gap_min_ms = 50,
                                     .gap_max_ms = 300 };
    struct voz_epoch_plan plan, again, other;
    assert_int_equal(voz_epoch_plan_build(&ds, &cp, 4, 0, &plan), VOZ_OK);
    assert_int_equal(plan.n_items, 40);
    assert_int_equal(plan.n_batches, 10);
    int seen[40] = { 0 };
    for (int b = 0; b < plan.n_batches; b++)
        for (int i = plan.batch_start[b]; i < plan.batch_start[b + 1]; i++)
            seen[plan.order[i]]++;
    for (int i = 0; i < 40; i++)
        assert_int_equal(seen[i], 1);
    int labels[64];
    float feats[400 * 39], scratch[400 * 13], base[400 * 13], want[400 * 39];
    for (int i = 0; i < plan.n_items; i++) {
        const struct voz_item *it = &plan.items[i];
        assert_int_equal(it->train, -1);
        assert_true(it->n_parts >= 2 && it->n_parts <= 4);
        assert_true(it->L < 64 && it->T <= 400);
        voz_item_labels(&ds, &plan, it, labels);
        char *text = voz_alphabet_decode(&alpha, labels, it->L);
        /* The transcript is the clip words joined by single spaces, in plan order. */
        char expect[128] = "";
        int T = 0;
        for (int k = 0; k < it->n_parts; k++) {
            const struct voz_part *pt = &plan.parts[it->part0 + k];
            assert_true(pt->gap_T >= 5 && pt->gap_T <= 30); /* 50..300 ms at 10 ms frames */
            /* Expected base frames: gap frames, then the clip variant's frames. */
            for (int f = 0; f < pt->gap_T; f++, T++)
                memcpy(base + T * 13, ds.gap[0] + (pt->gap_off + f) * 13, 13 * sizeof(float));
            if (pt->clip < 0) {
                assert_int_equal(k, it->n_parts - 1);
                continue;
            }
            const char *w = pt->clip == 0 ? "one" : pt->clip == 1 ? "two" : "three";
            if (expect[0])
                strcat(expect, " ");
            strcat(expect, w);
            const struct voz_clip *c = &ds.clips[pt->clip];
            memcpy(base + T * 13, c->mfcc[pt->variant], sizeof(float) * c->T[pt->variant] * 13);
            T += c->T[pt->variant];
        }
        assert_string_equal(text, expect);
        free(text);
        assert_int_equal(T, it->T);
        voz_item_features(&ds, &plan, it, feats, scratch);
        voz_deltas_compute(base, (size_t)T, 13, 2, 2, want);
        voz_cmvn_apply(want, (size_t)T, 39, 1);
        assert_memory_equal(feats, want, sizeof(float) * T * 39);
    }
    /* Same epoch: the same plan; another epoch: another one. */
    assert_int_equal(voz_epoch_plan_build(&ds, &cp, 4, 0, &again), VOZ_OK);
    assert_memory_equal(plan.order, again.order, sizeof(int) * 40);
    assert_memory_equal(plan.parts, again.parts, sizeof(struct voz_part) * plan.n_parts);
    assert_int_equal(voz_epoch_plan_build(&ds, &cp, 4, 1, &other), VOZ_OK);
    assert_true(other.n_parts != plan.n_parts ||
                memcmp(plan.parts, other.parts, sizeof(struct voz_part) * plan.n_parts) != 0);
    voz_epoch_plan_release(&plan);
    voz_epoch_plan_release(&again);
    voz_epoch_plan_release(&other);
    voz_dataset_release(&ds);
    voz_alphabet_release(&alpha);
}

/* A --train row goes through the cache as base MFCC and comes out of a batch as the
   features inference computes for the same audio: deltas and CMVN at batch time. */
static void test_train_rows_as_inference(void **state)
{
    (void)state;
    char dir[] = "/tmp/voz-rows-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char wav[64], tsv[64];
    snprintf(wav, sizeof wav, "%s/a.wav", dir);
    snprintf(tsv, sizeof tsv, "%s/m.tsv", dir);
    enum { N = 8000 };
    static short pcm16[N];
    for (int i = 0; i < N; i++)
        pcm16[i] = (short)(6000 * sin(2 * M_PI * 440 * i / 8000.0) * (0.5 + 0.5 * sin(i * 0.002)));
    SF_INFO info = { .samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
    SNDFILE *sf = sf_open(wav, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_write_short(sf, pcm16, N), N);
    sf_close(sf);
    FILE *fp = fopen(tsv, "w");
    assert_non_null(fp);
    fputs("a.wav\tone two\n", fp);
    fclose(fp);

    struct voz_alphabet al;
    assert_int_equal(voz_alphabet_init(&al, VOZ_DEFAULT_ALPHABET), VOZ_OK);
    voz_feature_params f = voz_feature_default_params();
    f.sample_rate = 8000;
    f.cmvn = VOZ_CMVN_UTTERANCE;
    struct voz_dataset_params dp = { .feat = f, .alpha = &al, .seed = 1, .augment = voz_augment_default_params(),
                                     .threads = 1 };
    struct voz_dataset ds;
    assert_int_equal(voz_dataset_init(&ds, &dp), VOZ_OK);
    assert_int_equal(voz_dataset_add(&ds, tsv, 0), VOZ_OK);
    assert_int_equal(ds.n_train, 1);
    struct voz_compose_params cp = { 0 };
    struct voz_epoch_plan plan;
    assert_int_equal(voz_epoch_plan_build(&ds, &cp, 1, 0, &plan), VOZ_OK);
    assert_int_equal(plan.n_items, 1);
    const struct voz_item *it = &plan.items[0];
    float *want = NULL;
    size_t T = 0;
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = pcm16[i] / 32768.0f;
    assert_int_equal(voz_features_compute(&f, x, N, &want, &T), VOZ_OK);
    assert_int_equal(it->T, (int)T);
    float *feats = malloc(sizeof(float) * T * ds.D), *scratch = malloc(sizeof(float) * T * ds.C);
    voz_item_features(&ds, &plan, it, feats, scratch);
    assert_memory_equal(feats, want, sizeof(float) * T * ds.D);
    free(feats);
    free(scratch);
    free(want);
    voz_epoch_plan_release(&plan);
    voz_dataset_release(&ds);
    voz_alphabet_release(&al);
    unlink(wav);
    unlink(tsv);
    rmdir(dir);
}

static void test_batches_group_lengths(void **state)
{
    (void)state;
    struct voz_dataset ds;
    fake_dataset(&ds);
    struct voz_compose_params cp = { .count = 256, .min_words = 1, .max_words = 8, .gap_min_ms = 50,
                                     .gap_max_ms = 300 };
    struct voz_epoch_plan plan;
    assert_int_equal(voz_epoch_plan_build(&ds, &cp, 8, 3, &plan), VOZ_OK);
    /* Bucketing: the padding (max - len) within batches is far below what random
       batches of the same items would have. */
    long pad = 0, pad_random = 0;
    for (int b = 0; b < plan.n_batches; b++) {
        int mx = 0, mx_r = 0;
        for (int i = plan.batch_start[b]; i < plan.batch_start[b + 1]; i++) {
            mx = plan.items[plan.order[i]].T > mx ? plan.items[plan.order[i]].T : mx;
            mx_r = plan.items[i].T > mx_r ? plan.items[i].T : mx_r;
        }
        for (int i = plan.batch_start[b]; i < plan.batch_start[b + 1]; i++) {
            pad += mx - plan.items[plan.order[i]].T;
            pad_random += mx_r - plan.items[i].T;
        }
    }
    if (!(pad * 4 < pad_random)) {
        print_error("padding %ld frames with buckets vs %ld in plan order\n", pad, pad_random);
        fail();
    }
    voz_epoch_plan_release(&plan);
    voz_dataset_release(&ds);
    voz_alphabet_release(&alpha);
}

/* ---- CSV log ------------------------------------------------------------------------- */

static void test_csv_log(void **state)
{
    (void)state;
    char path[] = "/tmp/voz_log_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct voz_epoch_record h[2] = {
        { .epoch = 1, .step = 10, .train_loss = 50.5, .dev_loss = NAN, .dev_cer = NAN, .dev_wer = NAN, .lr = 0.001,
          .skipped = 2, .seconds = 12.25 },
        { .epoch = 2, .step = 20, .train_loss = 10, .dev_loss = 4, .dev_cer = 0.1, .dev_wer = 0.25, .lr = 0.0005,
          .skipped = 0, .seconds = 30 },
    };
    assert_int_equal(voz_report_write_csv(path, h, 2), VOZ_OK);
    char buf[512] = "";
    FILE *fp = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    assert_string_equal(buf, "epoch,step,train_loss,dev_loss,dev_cer,dev_wer,lr,skipped,seconds\n"
                             "1,10,50.500000,,,,0.001,2,12.2\n"
                             "2,20,10.000000,4.000000,0.100000,0.250000,0.0005,0,30.0\n");
    assert_int_equal(voz_report_write_svg(path, h, 2, "t <&>"), VOZ_OK);
    fp = fopen(path, "r");
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    assert_non_null(strstr(buf, "<svg"));
    unlink(path);
    /* An unwritable place fails with a message and leaves nothing behind. */
    assert_int_equal(voz_report_write_csv("/nonexistent/dir/x.csv", h, 2), VOZ_ERR_IO);
    assert_non_null(strstr(voz_last_error(), "/nonexistent/dir/x.csv"));
}

/* ---- checkpoints --------------------------------------------------------------------- */

static void make_checkpoint(struct voz_checkpoint *c, voz_net_config *cfg)
{
    memset(c, 0, sizeof *c);
    *cfg = (voz_net_config){ .cell = VOZ_CELL_GRU, .input_dim = 5, .hidden = 3, .layers = 2, .bidirectional = 1,
                             .classes = 4 };
    c->options = "cell=gru\nlr=0.001\n";
    c->net = *cfg;
    c->n_floats = voz_net_num_floats(cfg);
    c->params = voz_alloc_aligned(c->n_floats * sizeof(float));
    c->m = voz_alloc_aligned(c->n_floats * sizeof(float));
    c->v = voz_alloc_aligned(c->n_floats * sizeof(float));
    struct voz_rng r = voz_rng_derive(9, 9, 9, 9);
    for (size_t i = 0; i < c->n_floats; i++) {
        c->params[i] = (float)voz_rng_gauss(&r);
        c->m[i] = (float)voz_rng_gauss(&r) * 0.01f;
        c->v[i] = (float)voz_rng_uniform(&r) * 1e-4f;
    }
    c->optim_kind = VOZ_OPTIM_ADAM;
    c->optim_t = 1234;
    c->epoch = 3;
    c->batch = 17;
    c->step = 5000;
    c->lr_scale = 0.25;
    c->lr_best = 0.125;
    c->lr_bad_epochs = 1;
    c->best_wer = 0.0625;
    c->best_epoch = 2;
    c->epoch_loss_sum = 1234.5;
    c->epoch_utts = 272;
    c->epoch_skipped = 1;
    c->total_skipped = 4;
    c->seconds = 99.5;
    c->n_history = 2;
    c->history = calloc(2, sizeof *c->history);
    c->history[0] = (struct voz_epoch_record){ 1, 100, 80.0, 30.0, 0.5, 0.9, 0.001, 3, 40.0 };
    c->history[1] = (struct voz_epoch_record){ 2, 200, 20.0, NAN, NAN, 0.0625, 0.001, 0, 80.0 };
}

static void free_made(struct voz_checkpoint *c)
{
    voz_free_aligned(c->params);
    voz_free_aligned(c->m);
    voz_free_aligned(c->v);
    free(c->history);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/voz_ckpt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct voz_checkpoint c, r;
    voz_net_config cfg;
    make_checkpoint(&c, &cfg);
    assert_int_equal(voz_checkpoint_write(&c, path), VOZ_OK);
    assert_int_equal(voz_checkpoint_read(path, &r), VOZ_OK);
    assert_string_equal(r.options, c.options);
    assert_memory_equal(&r.net, &c.net, sizeof cfg);
    assert_int_equal(r.n_floats, c.n_floats);
    assert_memory_equal(r.params, c.params, c.n_floats * sizeof(float));
    assert_memory_equal(r.m, c.m, c.n_floats * sizeof(float));
    assert_memory_equal(r.v, c.v, c.n_floats * sizeof(float));
    assert_int_equal(r.optim_t, 1234);
    assert_int_equal(r.epoch, 3);
    assert_int_equal(r.batch, 17);
    assert_int_equal(r.step, 5000);
    assert_true(r.lr_scale == 0.25 && r.lr_best == 0.125 && r.lr_bad_epochs == 1);
    assert_true(r.best_wer == 0.0625 && r.best_epoch == 2);
    assert_true(r.epoch_loss_sum == 1234.5 && r.epoch_utts == 272 && r.epoch_skipped == 1 && r.total_skipped == 4);
    assert_true(r.seconds == 99.5);
    assert_int_equal(r.n_history, 2);
    assert_memory_equal(&r.history[0], &c.history[0], sizeof c.history[0]);
    assert_true(isnan(r.history[1].dev_loss) && r.history[1].dev_wer == 0.0625);
    voz_checkpoint_release(&r);

    /* SGD: no second moments stored. */
    c.optim_kind = VOZ_OPTIM_SGD;
    float *v = c.v;
    c.v = NULL;
    assert_int_equal(voz_checkpoint_write(&c, path), VOZ_OK);
    assert_int_equal(voz_checkpoint_read(path, &r), VOZ_OK);
    assert_null(r.v);
    assert_int_equal(r.optim_kind, VOZ_OPTIM_SGD);
    voz_checkpoint_release(&r);
    c.v = v;
    c.optim_kind = VOZ_OPTIM_ADAM;

    /* Non-finite weights are refused and the file on disk stays as it was. */
    size_t n0;
    unsigned char *before = slurp(path, &n0);
    c.params[3] = NAN;
    assert_int_equal(voz_checkpoint_write(&c, path), VOZ_ERR_NONFINITE);
    size_t n1;
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    free_made(&c);
    unlink(path);
}

static void test_checkpoint_corruption_rejected(void **state)
{
    (void)state;
    char path[] = "/tmp/voz_ckpt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct voz_checkpoint c, r;
    voz_net_config cfg;
    make_checkpoint(&c, &cfg);
    assert_int_equal(voz_checkpoint_write(&c, path), VOZ_OK);
    size_t n;
    unsigned char *img = slurp(path, &n);
    assert_int_equal(voz_checkpoint_parse(img, n, "ok", &r), VOZ_OK);
    voz_checkpoint_release(&r);
    /* Every single-byte flip is caught (CRC-32 detects all of them). */
    for (size_t i = 0; i < n; i += 7) {
        img[i] ^= 0x20;
        voz_status s = voz_checkpoint_parse(img, n, "flip", &r);
        img[i] ^= 0x20;
        if (s == VOZ_OK) {
            voz_checkpoint_release(&r);
            print_error("flipping byte %zu of %zu went unnoticed\n", i, n);
            fail();
        }
    }
    img[n / 2] ^= 1;
    assert_int_equal(voz_checkpoint_parse(img, n, "x.ckpt", &r), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), "x.ckpt: checksum mismatch"));
    img[n / 2] ^= 1;
    /* Every truncation is rejected without reading out of bounds. */
    for (size_t k = 0; k < n; k += 13)
        assert_int_not_equal(voz_checkpoint_parse(img, k, "short", &r), VOZ_OK);
    /* A consistent CRC over inconsistent content: the length checks catch it. */
    unsigned char *bad = malloc(n);
    memcpy(bad, img, n);
    bad[16] = 0xFF; /* the options length's low byte */
    uint32_t crc = voz_crc32(0, bad, n - 4);
    for (int b = 0; b < 4; b++)
        bad[n - 4 + b] = (unsigned char)(crc >> (8 * b));
    assert_int_equal(voz_checkpoint_parse(bad, n, "len", &r), VOZ_ERR_FORMAT);
    free(bad);
    assert_int_equal(voz_checkpoint_parse("VOZMODEL\0\0\0\0\0\0\0\0\0\0\0\0", 20, "m", &r), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), "not a voz checkpoint"));
    free(img);
    free_made(&c);
    unlink(path);
}

/* Word equivalences: alternatives become the canonical word in both texts before
   scoring ("oh" and "zero" one word); text is normalised; a later mapping of the same
   alternative wins; malformed pairs are refused. */
static void test_word_map(void **state)
{
    (void)state;
    struct voz_word_map m = { 0 };
    char *t = voz_word_map_apply(&m, "  Oh  One ");
    assert_string_equal(t, "oh one"); /* no mapping: only normalised */
    free(t);
    assert_int_equal(voz_word_map_add(&m, "zero", "OH"), VOZ_OK);
    assert_int_equal(voz_word_map_add(&m, "two", "to"), VOZ_OK);
    assert_int_equal(voz_word_map_add(&m, "two", "too"), VOZ_OK);
    assert_int_equal(voz_word_map_add(&m, "zero", "o"), VOZ_OK);
    assert_int_equal(voz_word_map_add(&m, "zero", "too"), VOZ_OK); /* remaps "too" */
    t = voz_word_map_apply(&m, "oh o to too ohh");
    assert_string_equal(t, "zero zero two zero ohh");
    free(t);
    assert_int_equal(voz_word_map_add(&m, "zero", "two words"), VOZ_ERR_FORMAT);
    assert_int_equal(voz_word_map_add(&m, "", "x"), VOZ_ERR_FORMAT);
    struct voz_error_counts plain = { 0 }, mapped = { 0 };
    char *r = voz_word_map_apply(&m, "oh one"), *h = voz_word_map_apply(&m, "zero one");
    assert_int_equal(voz_metrics_add(&plain, "oh one", "zero one"), VOZ_OK);
    assert_int_equal(voz_metrics_add(&mapped, r, h), VOZ_OK);
    assert_int_equal(plain.word_errors, 1);
    assert_int_equal(mapped.word_errors, 0);
    free(r);
    free(h);
    voz_word_map_release(&m);

    char path[] = "/tmp/voz_equiv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("# comment\n\nzero oh o\r\nnine\n", fp);
    fclose(fp);
    assert_int_equal(voz_word_map_read(path, &m), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), ":4: 'nine' alone"));
    assert_int_equal(m.n, 2);
    voz_word_map_release(&m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_wer_cer_known_pairs),
        cmocka_unit_test(test_word_map),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_augment_deterministic),
        cmocka_unit_test(test_augment_speed_and_snr),
        cmocka_unit_test(test_augment_crop_and_warp),
        cmocka_unit_test(test_pink_noise_spectrum_tilts),
        cmocka_unit_test(test_specaug_masks),
        cmocka_unit_test(test_mel_masks),
        cmocka_unit_test(test_composition_labels_and_features),
        cmocka_unit_test(test_train_rows_as_inference),
        cmocka_unit_test(test_batches_group_lengths),
        cmocka_unit_test(test_csv_log),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_corruption_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
