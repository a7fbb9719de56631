/* tests/test_mfcc.c — MFCC, deltas and CMVN against torchaudio references
   (tests/fixtures/mfcc, written by tools/fixtures_mfcc.py), plus properties that need
   no reference: block-size invariance of the streaming driver, finite output for
   silence, Kaldi's frame counts, option validation, CMVN statistics, hand-solved cases.

   Tolerance for reference comparisons: |got - want| <= 1e-3 * max(|want|, s), relative
   1e-3 with an absolute floor of 1e-3 * s for values near 0. For cepstrum k, s is its
   lifter weight |1 + L/2 sin(pi k / L)| but at least 1 (s = 1 without lifter, for the
   log energy and for deltas): an MFCC is a DCT of log mel energies of size ~10-25, so its rounding error is absolute,
   and the lifter multiplies value and error alike (up to 12x for c11 with L = 22).
   Float32 rounding alone (torchaudio in float32 vs float64) reaches ~7e-5 * s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/mfcc.h"
#include "frontend/audio.h"
#include "common/util.h"

#define FIXDIR "tests/fixtures/mfcc/"
#define REL_TOL 1e-3

static float *read_f32(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, FIXDIR "%s", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        print_error("cannot open fixture %s (run from the repository root)\n", path);
        fail();
    }
    fseek(fp, 0, SEEK_END);
    long bytes = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    assert_true(bytes >= 0 && bytes % 4 == 0);
    float *v = malloc(bytes ? (size_t)bytes : 4);
    assert_non_null(v);
    assert_int_equal(fread(v, 1, (size_t)bytes, fp), (size_t)bytes);
    fclose(fp);
    *n = (size_t)bytes / 4;
    return v;
}

/* Absolute-error floor of output column j of the MFCC for options p (see the top). */
static double coef_scale(const voz_feature_params *p, size_t j)
{
    int C = p->num_ceps, k = (int)j;
    if (p->htk_compat) /* c1 .. c(C-1), then c0 or energy */
        k = (int)j == C - 1 ? 0 : (int)j + 1;
    if (k == 0 || p->cepstral_lifter == 0)
        return 1.0;
    /* a lifter shorter than C makes some weights small or negative: floor at 1 */
    return fmax(1.0, fabs(1.0 + 0.5 * p->cepstral_lifter * sin(M_PI * k / p->cepstral_lifter)));
}

/* Largest scaled error between got and want over frames [t0, t1) of [T][C]; prints the
   worst element. `p` gives the per-column floors (NULL: floor 1 everywhere). */
static double compare(const char *what, const voz_feature_params *p, const float *got, const float *want,
                      size_t T, size_t C, size_t t0, size_t t1)
{
    double worst = 0;
    size_t wt = 0, wc = 0;
    for (size_t t = t0; t < t1; t++)
        for (size_t c = 0; c < C; c++) {
            double g = got[t * C + c], w = want[t * C + c];
            double e = fabs(g - w) / fmax(fabs(w), p ? coef_scale(p, c) : 1.0);
            if (!(e <= worst)) { /* NaN counts as worst */
                worst = isnan(e) ? INFINITY : e;
                wt = t;
                wc = c;
                if (isnan(e))
                    goto done;
            }
        }
done:
    if (worst > REL_TOL)
        print_error("%s: worst element frame %zu coeff %zu: got %.7g, expected %.7g (scaled error %.3g > %.g)\n",
                    what, wt, wc, got[wt * C + wc], want[wt * C + wc], worst, REL_TOL);
    (void)T;
    return worst;
}

/* Parses one cases.txt line into params; returns 0 on a comment or blank line. */
struct fcase {
    char name[64], input[64];
    voz_feature_params p;
    size_t T, C;
};

static int parse_case(char *line, struct fcase *fc)
{
    memset(fc, 0, sizeof *fc);
    fc->p = voz_feature_default_params();
    fc->p.delta_order = 0;
    fc->p.cmvn = VOZ_CMVN_NONE;
    char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
    if (!tok || tok[0] == '#')
        return 0;
    for (; tok; tok = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        voz_feature_params *p = &fc->p;
        if (!strcmp(k, "name")) snprintf(fc->name, sizeof fc->name, "%s", v);
        else if (!strcmp(k, "input")) snprintf(fc->input, sizeof fc->input, "%s", v);
        else if (!strcmp(k, "T")) fc->T = (size_t)atol(v);
        else if (!strcmp(k, "C")) fc->C = (size_t)atol(v);
        else if (!strcmp(k, "sample_rate")) p->sample_rate = strtof(v, NULL);
        else if (!strcmp(k, "frame_length_ms")) p->frame_length_ms = strtof(v, NULL);
        else if (!strcmp(k, "frame_shift_ms")) p->frame_shift_ms = strtof(v, NULL);
        else if (!strcmp(k, "preemph")) p->preemph = strtof(v, NULL);
        else if (!strcmp(k, "remove_dc")) p->remove_dc = atoi(v);
        else if (!strcmp(k, "round_pow2")) p->round_pow2 = atoi(v);
        else if (!strcmp(k, "snip_edges")) p->snip_edges = atoi(v);
        else if (!strcmp(k, "dither")) p->dither = strtof(v, NULL);
        else if (!strcmp(k, "num_mel_bins")) p->num_mel_bins = atoi(v);
        else if (!strcmp(k, "low_freq")) p->low_freq = strtof(v, NULL);
        else if (!strcmp(k, "high_freq")) p->high_freq = strtof(v, NULL);
        else if (!strcmp(k, "num_ceps")) p->num_ceps = atoi(v);
        else if (!strcmp(k, "cepstral_lifter")) p->cepstral_lifter = strtof(v, NULL);
        else if (!strcmp(k, "use_energy")) p->use_energy = atoi(v);
        else if (!strcmp(k, "raw_energy")) p->raw_energy = atoi(v);
        else if (!strcmp(k, "energy_floor")) p->energy_floor = strtof(v, NULL);
        else if (!strcmp(k, "htk_compat")) p->htk_compat = atoi(v);
        else if (!strcmp(k, "vtln_warp")) p->vtln_warp = strtof(v, NULL);
        else if (!strcmp(k, "vtln_low")) p->vtln_low = strtof(v, NULL);
        else if (!strcmp(k, "vtln_high")) p->vtln_high = strtof(v, NULL);
        else if (!strcmp(k, "window")) {
            if (!strcmp(v, "povey")) p->window = VOZ_WINDOW_POVEY;
            else if (!strcmp(v, "hamming")) p->window = VOZ_WINDOW_HAMMING;
            else if (!strcmp(v, "hanning")) p->window = VOZ_WINDOW_HANNING;
            else if (!strcmp(v, "rectangular")) p->window = VOZ_WINDOW_RECTANGULAR;
            else if (!strcmp(v, "blackman")) p->window = VOZ_WINDOW_BLACKMAN;
            else { print_error("unknown window %s\n", v); fail(); }
        } else {
            print_error("cases.txt: unknown key %s\n", k);
            fail();
        }
    }
    return 1;
}

/* Streams pcm through voz_mfcc_stream_* in blocks of `block` samples (0: a varying
   pattern of sizes), returns malloc'ed [T][C]. */
static float *stream_features(const voz_feature_params *p, const float *pcm, size_t n, size_t block,
                              size_t *T_out)
{
    struct voz_mfcc_stream *s;
    assert_int_equal(voz_mfcc_stream_create(p, &s), VOZ_OK);
    size_t C = (size_t)p->num_ceps, cap = voz_mfcc_num_frames(p, n) + 1, T = 0;
    float *out = malloc(cap * C * sizeof *out);
    assert_non_null(out);
    static const size_t pattern[] = { 1, 3, 159, 161, 17, 1000, 2, 400, 5 };
    size_t pi = 0;
    for (size_t i = 0; i < n;) {
        size_t b = block ? block : pattern[pi++ % (sizeof pattern / sizeof pattern[0])];
        if (b > n - i)
            b = n - i;
        assert_int_equal(voz_mfcc_stream_feed(s, pcm + i, b), VOZ_OK);
        i += b;
        while (voz_mfcc_stream_pop(s, out + T * C)) {
            T++;
            assert_true(T < cap);
        }
    }
    assert_int_equal(voz_mfcc_stream_flush(s), VOZ_OK);
    while (voz_mfcc_stream_pop(s, out + T * C)) {
        T++;
        assert_true(T < cap);
    }
    voz_mfcc_stream_free(s);
    *T_out = T;
    return out;
}

static void test_fixtures(void **state)
{
    (void)state;
    FILE *fp = fopen(FIXDIR "cases.txt", "r");
    if (!fp) {
        print_error("cannot open " FIXDIR "cases.txt (run from the repository root)\n");
        fail();
    }
    char line[2048];
    int n_cases = 0, bad = 0;
    while (fgets(line, sizeof line, fp)) {
        struct fcase fc;
        if (!parse_case(line, &fc))
            continue;
        n_cases++;
        size_t n, nref;
        float *pcm = read_f32(fc.input, &n);
        char refname[128];
        snprintf(refname, sizeof refname, "%s.mfcc.f32", fc.name);
        float *ref = read_f32(refname, &nref);
        assert_int_equal(nref, fc.T * fc.C);
        assert_int_equal(voz_feature_params_check(&fc.p), VOZ_OK);
        assert_int_equal(voz_feature_dim(&fc.p), (int)fc.C);
        assert_int_equal(voz_mfcc_num_frames(&fc.p, n), fc.T);

        float *got;
        size_t T;
        assert_int_equal(voz_features_compute(&fc.p, pcm, n, &got, &T), VOZ_OK);
        assert_int_equal(T, fc.T);
        double e = compare(fc.name, &fc.p, got, ref, T, fc.C, 0, T);
        printf("  %-24s T=%3zu C=%2zu  worst scaled error %.2e\n", fc.name, T, fc.C, e);
        if (!(e <= REL_TOL))
            bad++;

        /* The streaming driver must give the very same bits. */
        size_t Ts;
        float *st = stream_features(&fc.p, pcm, n, 0, &Ts);
        assert_int_equal(Ts, T);
        if (memcmp(st, got, T * fc.C * sizeof *got)) {
            print_error("%s: streaming features differ from offline\n", fc.name);
            bad++;
        }
        free(st);
        free(got);
        free(ref);
        free(pcm);
    }
    fclose(fp);
    assert_true(n_cases >= 5);

    /* The comparison can fail: a slightly wrong option is caught. */
    size_t n, nref;
    float *pcm = read_f32("synth16k.in.f32", &n), *ref = read_f32("default16.mfcc.f32", &nref), *got;
    voz_feature_params p = voz_feature_default_params();
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    p.preemph = 0.96f;
    size_t T;
    assert_int_equal(voz_features_compute(&p, pcm, n, &got, &T), VOZ_OK);
    assert_int_equal(T * 13, nref);
    printf("  (preemph 0.96 instead of 0.97 is expected to fail:)\n");
    assert_true(compare("default16 with preemph 0.96", &p, got, ref, T, 13, 0, T) > 10 * REL_TOL);
    free(got);
    free(ref);
    free(pcm);
    assert_int_equal(bad, 0);
}

static void test_deltas(void **state)
{
    (void)state;
    size_t nb, nta, nk;
    float *base = read_f32("default16.mfcc.f32", &nb);
    float *ta = read_f32("deltas_ta.f32", &nta);
    float *kd = read_f32("deltas_kaldi.f32", &nk);
    const size_t C = 13, T = nb / C, D = 3 * C;
    assert_int_equal(nta, T * D);
    assert_int_equal(nk, T * D);
    float *out = malloc(T * D * sizeof *out);
    assert_non_null(out);
    voz_deltas_compute(base, T, (int)C, 2, 2, out);
    /* Kaldi's rule everywhere. */
    assert_true(compare("deltas vs kaldi rule", NULL, out, kd, T, D, 0, T) <= REL_TOL);
    /* torchaudio's compute_deltas applied once is Kaldi's first order everywhere; applied
       twice it replicates the first-order deltas at the edges instead of the base
       features, so second order agrees only for frames 2 .. T-3. */
    float *o1 = malloc(T * C * sizeof *o1), *t1 = malloc(T * C * sizeof *t1);
    float *o2 = malloc(T * C * sizeof *o2), *t2 = malloc(T * C * sizeof *t2);
    for (size_t t = 0; t < T; t++) {
        memcpy(o1 + t * C, out + t * D + C, C * sizeof *o1);
        memcpy(t1 + t * C, ta + t * D + C, C * sizeof *t1);
        memcpy(o2 + t * C, out + t * D + 2 * C, C * sizeof *o2);
        memcpy(t2 + t * C, ta + t * D + 2 * C, C * sizeof *t2);
    }
    assert_true(compare("order 1 vs torchaudio", NULL, o1, t1, T, C, 0, T) <= REL_TOL);
    assert_true(compare("order 2 vs torchaudio (interior)", NULL, o2, t2, T, C, 2, T - 2) <= REL_TOL);
    free(o1); free(t1); free(o2); free(t2);
    free(out); free(base); free(ta); free(kd);
}

/* x[t] = t: interior deltas 1 and 0; at the edges Kaldi's replication gives values
   worked out by hand from the filters [-2 -1 0 1 2]/10 and their self-convolution /100. */
static void test_deltas_hand(void **state)
{
    (void)state;
    enum { T = 10 };
    float x[T], out[T * 3];
    for (int t = 0; t < T; t++)
        x[t] = (float)t;
    voz_deltas_compute(x, T, 1, 2, 2, out);
    for (int t = 2; t < T - 2; t++) /* 5 taps reach no edge */
        assert_float_equal(out[t * 3 + 1], 1.0, 1e-6);
    for (int t = 4; t < T - 4; t++) /* 9 taps reach no edge */
        assert_float_equal(out[t * 3 + 2], 0.0, 1e-6);
    /* t=0: (-2*0 - 1*0 + 1*1 + 2*2) / 10 */
    assert_float_equal(out[0 * 3 + 1], 0.5, 1e-6);
    /* t=1: (-2*0 - 1*0 + 1*2 + 2*3) / 10 = 0.8 */
    assert_float_equal(out[1 * 3 + 1], 0.8, 1e-6);
    assert_float_equal(out[(T - 1) * 3 + 1], 0.5, 1e-6);
    /* t=0, order 2: taps [4 4 1 -4 -10 -4 1 4 4]/100 at t-4 .. t+4 clamped:
       x = 0 0 0 0 0 1 2 3 4 -> (-4*1 + 1*2 + 4*3 + 4*4) / 100 = 0.26 */
    assert_float_equal(out[0 * 3 + 2], 0.26, 1e-6);
    /* order 0 is the input itself */
    for (int t = 0; t < T; t++)
        assert_float_equal(out[t * 3], (float)t, 0);
}

static float *synth_signal(size_t n, float rate, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    uint32_t r = seed;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        double t = i / (double)rate;
        x[i] = (float)(0.3 * sin(2 * M_PI * (200 * t + 1500 * t * t)) + 0.1 * sin(2 * M_PI * 700 * t) +
                       0.02 * ((r >> 8) / 16777216.0 - 0.5));
    }
    return x;
}

static void check_block_invariance(const voz_feature_params *p, const float *x, size_t n)
{
    float *ref;
    size_t T;
    assert_int_equal(voz_features_compute(p, x, n, &ref, &T), VOZ_OK);
    assert_int_equal(T, voz_mfcc_num_frames(p, n));
    static const size_t blocks[] = { 1, 2, 7, 159, 160, 161, 399, 400, 4096, 0 /* mixed */ };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        size_t Ts;
        float *st = stream_features(p, x, n, blocks[b], &Ts);
        assert_int_equal(Ts, T);
        if (T && memcmp(st, ref, T * (size_t)p->num_ceps * sizeof *st)) {
            print_error("block size %zu (snip_edges %d, n %zu): features differ\n", blocks[b], p->snip_edges, n);
            fail();
        }
        free(st);
    }
    free(ref);
}

static void test_block_invariance(void **state)
{
    (void)state;
    voz_feature_params p = voz_feature_default_params();
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    size_t n = 16000 / 2 + 123;
    float *x = synth_signal(n, 16000, 7);
    for (int snip = 0; snip <= 1; snip++) {
        p.snip_edges = snip;
        check_block_invariance(&p, x, n);
        /* short inputs: fewer samples than a frame, exactly a frame, one shift more */
        check_block_invariance(&p, x, 100);
        check_block_invariance(&p, x, 400);
        check_block_invariance(&p, x, 560);
    }
    /* dithered features repeat across runs, block sizes and a stream reset */
    p.dither = 1.0f;
    p.snip_edges = 1;
    check_block_invariance(&p, x, n);
    float *a, *b;
    size_t Ta, Tb;
    assert_int_equal(voz_features_compute(&p, x, n, &a, &Ta), VOZ_OK);
    p.dither = 0;
    assert_int_equal(voz_features_compute(&p, x, n, &b, &Tb), VOZ_OK);
    assert_int_equal(Ta, Tb);
    assert_true(memcmp(a, b, Ta * 13 * sizeof *a) != 0); /* dither changed something */
    free(a);
    free(b);

    p.dither = 1.0f;
    struct voz_mfcc_stream *s;
    assert_int_equal(voz_mfcc_stream_create(&p, &s), VOZ_OK);
    float f1[13], f2[13];
    assert_int_equal(voz_mfcc_stream_feed(s, x, 400), VOZ_OK);
    assert_int_equal(voz_mfcc_stream_available(s), 1);
    assert_int_equal(voz_mfcc_stream_pop(s, f1), 1);
    assert_int_equal(voz_mfcc_stream_pop(s, f2), 0);
    voz_mfcc_stream_reset(s);
    assert_int_equal(voz_mfcc_stream_feed(s, x, 400), VOZ_OK);
    assert_int_equal(voz_mfcc_stream_pop(s, f2), 1);
    assert_memory_equal(f1, f2, sizeof f1);
    /* feeding after a flush is refused until reset */
    assert_int_equal(voz_mfcc_stream_flush(s), VOZ_OK);
    assert_int_equal(voz_mfcc_stream_feed(s, x, 10), VOZ_ERR_INVALID);
    voz_mfcc_stream_free(s);
    free(x);
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static void test_silence_finite(void **state)
{
    (void)state;
    size_t n = 16000;
    float *z = calloc(n, sizeof *z);
    voz_feature_params p = voz_feature_default_params();
    voz_feature_params variants[6];
    for (int i = 0; i < 6; i++)
        variants[i] = p;
    variants[1].use_energy = 1;
    variants[2].use_energy = 1;
    variants[2].raw_energy = 0;
    variants[3].snip_edges = 0;
    variants[3].cmvn = VOZ_CMVN_RUNNING;
    variants[4].htk_compat = 1;
    variants[4].cmvn_var = 0;
    variants[5].window = VOZ_WINDOW_RECTANGULAR;
    variants[5].preemph = 0;
    variants[5].remove_dc = 0;
    for (int i = 0; i < 6; i++) {
        float *f;
        size_t T;
        assert_int_equal(voz_features_compute(&variants[i], z, n, &f, &T), VOZ_OK);
        assert_true(T > 0);
        if (!all_finite(f, T * (size_t)voz_feature_dim(&variants[i]))) {
            print_error("variant %d: non-finite features for silence\n", i);
            fail();
        }
        /* A constant input normalises to exactly 0. */
        for (size_t k = 0; k < T * (size_t)voz_feature_dim(&variants[i]); k++)
            assert_float_equal(f[k], 0.0, 1e-6);
        free(f);
    }
    /* Base MFCC of digital silence, by hand: every log mel energy is log(FLT_EPSILON),
       the DCT of a constant keeps only c0 = sqrt(M) * log(eps) (lifter weight 1 at 0). */
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    float *f;
    size_t T;
    assert_int_equal(voz_features_compute(&p, z, n, &f, &T), VOZ_OK);
    assert_float_equal(f[0], sqrt(23.0) * log(FLT_EPSILON), 1e-3);
    for (int c = 1; c < 13; c++)
        assert_float_equal(f[c], 0.0, 1e-3);
    free(f);
    /* use_energy: c0 is log(FLT_EPSILON), or log(energy_floor) when that is higher */
    p.use_energy = 1;
    p.energy_floor = 2.0f;
    assert_int_equal(voz_features_compute(&p, z, n, &f, &T), VOZ_OK);
    assert_float_equal(f[0], log(2.0), 1e-6);
    free(f);
    /* Kaldi's reflection resolves even inputs shorter than half a frame. */
    p = voz_feature_default_params();
    p.snip_edges = 0;
    float tiny[3] = { 0.1f, -0.2f, 0.3f };
    for (size_t k = 1; k <= 3; k++) {
        size_t Tk;
        float *fk;
        assert_int_equal(voz_features_compute(&p, tiny, k, &fk, &Tk), VOZ_OK);
        assert_int_equal(Tk, 0); /* (k + 80) / 160 = 0 */
        assert_null(fk);
    }
    float *x = synth_signal(81, 16000, 3);
    assert_int_equal(voz_features_compute(&p, x, 81, &f, &T), VOZ_OK);
    assert_int_equal(T, 1);
    assert_true(all_finite(f, 39));
    free(f);
    free(x);
    /* NaN samples are refused, naming the position. */
    z[1234] = NAN;
    assert_int_equal(voz_features_compute(&p, z, n, &f, &T), VOZ_ERR_NONFINITE);
    assert_non_null(strstr(voz_last_error(), "1234"));
    free(z);
}

static void test_num_frames(void **state)
{
    (void)state;
    voz_feature_params p = voz_feature_default_params(); /* 16 kHz: L 400, S 160 */
    assert_int_equal(voz_mfcc_frame_length(&p), 400);
    assert_int_equal(voz_mfcc_frame_shift(&p), 160);
    static const size_t snip_n[] = { 0, 1, 399, 400, 559, 560, 16000 };
    static const size_t snip_T[] = { 0, 0, 0, 1, 1, 2, 98 };
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(voz_mfcc_num_frames(&p, snip_n[i]), snip_T[i]);
    p.snip_edges = 0; /* (n + S/2) / S */
    static const size_t ns_n[] = { 0, 79, 80, 239, 240, 16000, 16079, 16080 };
    static const size_t ns_T[] = { 0, 0, 1, 1, 2, 100, 100, 101 };
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(voz_mfcc_num_frames(&p, ns_n[i]), ns_T[i]);
    /* 8 kHz: L 200, S 80 */
    p = voz_feature_default_params();
    p.sample_rate = 8000;
    assert_int_equal(voz_mfcc_frame_length(&p), 200);
    assert_int_equal(voz_mfcc_frame_shift(&p), 80);
    assert_int_equal(voz_mfcc_num_frames(&p, 8000), 98);
    p.snip_edges = 0;
    assert_int_equal(voz_mfcc_num_frames(&p, 8000), 100);
    /* Both modes: the computed features have exactly num_frames rows for every n,
       offline and streaming. */
    float *x = synth_signal(1300, 8000, 11);
    for (int snip = 0; snip <= 1; snip++) {
        p.snip_edges = snip;
        p.cmvn = VOZ_CMVN_NONE;
        p.delta_order = 0;
        for (size_t n = 0; n < 1300; n += 37) {
            float *f;
            size_t T, Ts;
            assert_int_equal(voz_features_compute(&p, x, n, &f, &T), VOZ_OK);
            size_t want = snip ? (n < 200 ? 0 : 1 + (n - 200) / 80) : (n + 40) / 80;
            assert_int_equal(T, want);
            float *st = stream_features(&p, x, n, 13, &Ts);
            assert_int_equal(Ts, want);
            free(st);
            free(f);
        }
    }
    free(x);
}

struct bad_case {
    const char *field;          /* expected in the message */
    void (*set)(voz_feature_params *p);
};
#define BAD(name, field, stmt) static void name(voz_feature_params *p) { stmt; }
BAD(b_rate0, "sample_rate", p->sample_rate = 0)
BAD(b_rate_nan, "sample_rate", p->sample_rate = NAN)
BAD(b_len0, "frame_length_ms", p->frame_length_ms = 0)
BAD(b_len_tiny, "at least 2", p->frame_length_ms = 0.1f)
BAD(b_shift0, "frame_shift_ms", p->frame_shift_ms = -1)
BAD(b_shift_tiny, "shift", p->frame_shift_ms = 0.01f)
BAD(b_preemph, "preemph", p->preemph = 1.5f)
BAD(b_window, "window", p->window = (voz_window)9)
BAD(b_dither, "dither", p->dither = -1)
BAD(b_bins, "num_mel_bins", p->num_mel_bins = 2)
BAD(b_ceps, "num_ceps", p->num_ceps = 30)
BAD(b_ceps0, "num_ceps", p->num_ceps = 0)
BAD(b_low, "low_freq", p->low_freq = 9000)
BAD(b_high, "high_freq", p->high_freq = 9000)
BAD(b_band, "high_freq", { p->low_freq = 4000; p->high_freq = 3000; })
BAD(b_empty_bin, "covers no FFT bin", { p->num_mel_bins = 200; })
BAD(b_odd_fft, "odd FFT", { p->round_pow2 = 0; p->frame_length_ms = 25.0625f; })
BAD(b_lifter, "cepstral_lifter", p->cepstral_lifter = -1)
BAD(b_floor, "energy_floor", p->energy_floor = -1)
BAD(b_bool, "0 or 1", p->snip_edges = 2)
BAD(b_order, "delta_order", p->delta_order = 3)
BAD(b_dwin, "delta_window", p->delta_window = 0)
BAD(b_cmvn, "cmvn", p->cmvn = (voz_cmvn)7)
BAD(b_htk, "htk_compat", { p->htk_compat = 1; p->num_ceps = 1; })
BAD(b_warp, "vtln_warp", p->vtln_warp = 2.5f)
BAD(b_warp_nan, "vtln_warp", p->vtln_warp = NAN)
BAD(b_knees, "VTLN knees", { p->vtln_warp = 1.1f; p->vtln_low = 7600; })
BAD(b_knee_high, "VTLN knees", { p->vtln_warp = 0.9f; p->vtln_high = 9000; })

static void test_params_check(void **state)
{
    (void)state;
    voz_feature_params p = voz_feature_default_params();
    assert_int_equal(voz_feature_params_check(&p), VOZ_OK);
    assert_int_equal(voz_feature_dim(&p), 39);
    assert_int_equal(voz_feature_params_check(NULL), VOZ_ERR_INVALID);
    static const struct bad_case cases[] = {
        { "sample_rate", b_rate0 }, { "sample_rate", b_rate_nan }, { "frame_length_ms", b_len0 },
        { "at least 2", b_len_tiny }, { "frame_shift_ms", b_shift0 }, { "shift", b_shift_tiny },
        { "preemph", b_preemph }, { "window", b_window }, { "dither", b_dither },
        { "num_mel_bins", b_bins }, { "num_ceps", b_ceps }, { "num_ceps", b_ceps0 },
        { "low_freq", b_low }, { "high_freq", b_high }, { "high_freq", b_band },
        { "covers no FFT bin", b_empty_bin }, { "odd FFT", b_odd_fft },
        { "cepstral_lifter", b_lifter }, { "energy_floor", b_floor }, { "0 or 1", b_bool },
        { "delta_order", b_order }, { "delta_window", b_dwin }, { "cmvn", b_cmvn },
        { "htk_compat", b_htk }, { "vtln_warp", b_warp }, { "vtln_warp", b_warp_nan },
        { "VTLN knees", b_knees }, { "VTLN knees", b_knee_high },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        voz_feature_params q = voz_feature_default_params();
        cases[i].set(&q);
        voz_clear_error();
        voz_status s = voz_feature_params_check(&q);
        const char *msg = voz_last_error();
        if (s != VOZ_ERR_INVALID || !strstr(msg, cases[i].field) || strchr(msg, '\n')) {
            print_error("case %zu (%s): status %d, message '%s'\n", i, cases[i].field, s, msg);
            fail();
        }
        /* everything that builds on the options refuses them too */
        struct voz_mfcc *m = (struct voz_mfcc *)1;
        assert_int_equal(voz_mfcc_create(&q, &m), VOZ_ERR_INVALID);
        assert_null(m);
        float x[800] = { 0 }, *f = (float *)1;
        size_t T = 7;
        assert_int_equal(voz_features_compute(&q, x, 800, &f, &T), VOZ_ERR_INVALID);
        assert_null(f);
        assert_int_equal(T, 0);
    }
}

static void test_cmvn(void **state)
{
    (void)state;
    size_t n;
    float *pcm = read_f32("speech16k.in.f32", &n);
    voz_feature_params p = voz_feature_default_params();
    float *f;
    size_t T;
    assert_int_equal(voz_features_compute(&p, pcm, n, &f, &T), VOZ_OK);
    int D = voz_feature_dim(&p);
    assert_int_equal(D, 39);
    for (int d = 0; d < D; d++) {
        double m = 0, v = 0;
        for (size_t t = 0; t < T; t++)
            m += f[t * D + d];
        m /= T;
        for (size_t t = 0; t < T; t++)
            v += (f[t * D + d] - m) * (f[t * D + d] - m);
        v /= T;
        if (fabs(m) > 1e-5 || fabs(v - 1) > 1e-4) {
            print_error("dim %d: mean %g, variance %g after CMVN\n", d, m, v);
            fail();
        }
    }
    free(f);
    /* mean only */
    p.cmvn_var = 0;
    float *g, *raw;
    size_t Tg;
    assert_int_equal(voz_features_compute(&p, pcm, n, &g, &Tg), VOZ_OK);
    p.cmvn = VOZ_CMVN_NONE;
    assert_int_equal(voz_features_compute(&p, pcm, n, &raw, &Tg), VOZ_OK);
    for (int d = 0; d < D; d++) {
        double m = 0;
        for (size_t t = 0; t < Tg; t++)
            m += raw[t * D + d];
        m /= Tg;
        for (size_t t = 0; t < Tg; t++)
            assert_float_equal(g[t * D + d], raw[t * D + d] - m, 1e-3);
    }
    free(g);

    /* running CMVN: the first frame maps to 0; a long stationary input ends near zero
       mean and unit variance; a constant input stays finite (0). */
    struct voz_cmvn_running r;
    assert_int_equal(voz_cmvn_running_init(&r, 2, 100), VOZ_OK);
    assert_int_equal(r.norm_var, 1);
    float fr[2] = { 5, -3 };
    voz_cmvn_running_apply(&r, fr);
    assert_float_equal(fr[0], 0, 1e-6);
    assert_float_equal(fr[1], 0, 1e-6);
    for (int i = 0; i < 100; i++) {
        fr[0] = 5;
        fr[1] = -3;
        voz_cmvn_running_apply(&r, fr);
        assert_true(isfinite(fr[0]) && isfinite(fr[1]));
        assert_float_equal(fr[0], 0, 1e-3);
    }
    voz_cmvn_running_reset(&r);
    uint32_t seed = 1;
    double s1 = 0, s2 = 0;
    int cnt = 0;
    for (int i = 0; i < 5000; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = (seed >> 8) / 16777216.0f; /* uniform [0,1): mean 0.5, var 1/12 */
        fr[0] = 10 + 4 * u;
        fr[1] = u;
        voz_cmvn_running_apply(&r, fr);
        if (i >= 1000) {
            s1 += fr[0];
            s2 += fr[0] * fr[0];
            cnt++;
        }
    }
    double mean = s1 / cnt, var = s2 / cnt - mean * mean;
    assert_true(fabs(mean) < 0.1);
    assert_true(fabs(var - 1) < 0.15);
    voz_cmvn_running_release(&r);
    assert_int_equal(voz_cmvn_running_init(&r, 0, 100), VOZ_ERR_INVALID);

    /* offline VOZ_CMVN_RUNNING is the running normaliser applied frame by frame */
    p.cmvn = VOZ_CMVN_RUNNING;
    p.cmvn_var = 1;
    assert_int_equal(voz_features_compute(&p, pcm, n, &g, &Tg), VOZ_OK);
    assert_int_equal(voz_cmvn_running_init(&r, D, VOZ_CMVN_RUNNING_FRAMES), VOZ_OK);
    for (size_t t = 0; t < Tg; t++)
        voz_cmvn_running_apply(&r, raw + t * D);
    voz_cmvn_running_release(&r);
    assert_memory_equal(g, raw, Tg * D * sizeof *g);
    free(g);
    free(raw);
    free(pcm);
}

/* The computer alone: a window of samples, scaled by 32768 inside. Doubling the input
   adds 2*log(2) to every log mel energy, so only c0 moves, by sqrt(M) * 2 log 2. */
static void test_frame_scaling(void **state)
{
    (void)state;
    voz_feature_params p = voz_feature_default_params();
    struct voz_mfcc *m;
    assert_int_equal(voz_mfcc_create(&p, &m), VOZ_OK);
    assert_int_equal(voz_mfcc_fft_size(m), 512);
    float *x = synth_signal(400, 16000, 5), x2[400], a[13], b[13];
    for (int i = 0; i < 400; i++)
        x2[i] = 2 * x[i];
    voz_mfcc_compute_frame(m, x, a);
    voz_mfcc_compute_frame(m, x2, b);
    assert_float_equal(b[0] - a[0], sqrt(23.0) * 2 * log(2.0), 1e-3);
    for (int c = 1; c < 13; c++)
        assert_float_equal(b[c], a[c], 1e-3 * fmax(1, fabs(a[c])));
    voz_mfcc_free(m);
    free(x);
}

/* Real speech from the shared corpus, when present: finite, the expected shape, and
   streaming equal to offline. */
static void test_fsdd(void **state)
{
    (void)state;
    const char *shared = getenv("VOZ_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/fsdd/7_jackson_32.wav", shared ? shared : "../shared");
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        printf("  skipped: %s not found\n", path);
        skip();
    }
    fclose(fp);
    float *pcm;
    size_t n;
    if (voz_audio_load(path, 8000, &pcm, &n) != VOZ_OK) {
        print_error("%s\n", voz_last_error());
        fail();
    }
    voz_feature_params p = voz_feature_default_params();
    p.sample_rate = 8000;
    float *f;
    size_t T;
    assert_int_equal(voz_features_compute(&p, pcm, n, &f, &T), VOZ_OK);
    assert_int_equal(T, voz_mfcc_num_frames(&p, n));
    assert_true(T > 10);
    assert_true(all_finite(f, T * 39));
    free(f);
    p.cmvn = VOZ_CMVN_NONE;
    p.delta_order = 0;
    assert_int_equal(voz_features_compute(&p, pcm, n, &f, &T), VOZ_OK);
    size_t Ts;
    float *st = stream_features(&p, pcm, n, 0, &Ts);
    assert_int_equal(Ts, T);
    assert_memory_equal(st, f, T * 13 * sizeof *f);
    free(st);
    free(f);
    free(pcm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_deltas),
        cmocka_unit_test(test_deltas_hand),
        cmocka_unit_test(test_block_invariance),
        cmocka_unit_test(test_silence_finite),
        cmocka_unit_test(test_num_frames),
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_cmvn),
        cmocka_unit_test(test_frame_scaling),
        cmocka_unit_test(test_fsdd),
    };
    return cmocka_run_group_tests_name("mfcc", tests, NULL, NULL);
}
