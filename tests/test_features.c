/* tests/test_features.c — the reusable offline feature workspace (voz_features_ws):
   one and two threads, and repeated calls on one workspace, give exactly the features
   of voz_features_compute and of the streaming driver (dither included, for even and
   odd frame lengths), and voz_mfcc_seek puts the dither where a whole run has it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/mfcc.h"

static float *synth(size_t n, float rate, uint32_t seed)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double t = i / (double)rate;
        x[i] = (float)(0.3 * sin(2 * M_PI * (180 * t + 900 * t * t)) + 0.05 * sin(2 * M_PI * 1100 * t) +
                       0.02 * ((seed >> 8) / 16777216.0 - 0.5));
    }
    return x;
}

/* Reports the first differing value (frame, column, both values) and fails. */
static void expect_same(const char *what, const float *got, const float *want, size_t T, int D)
{
    for (size_t i = 0; i < T * (size_t)D; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i])) {
            print_error("%s: frame %zu column %zu is %.9g, expected %.9g (bit-identical)\n", what,
                        i / (size_t)D, i % (size_t)D, (double)got[i], (double)want[i]);
            fail();
        }
}

/* Base MFCC through the streaming driver, fed in blocks of 333 samples. */
static float *stream_mfcc(const voz_feature_params *p, const float *x, size_t n, size_t *T)
{
    struct voz_mfcc_stream *s;
    assert_int_equal(voz_mfcc_stream_create(p, &s), VOZ_OK);
    for (size_t i = 0; i < n; i += 333)
        assert_int_equal(voz_mfcc_stream_feed(s, x + i, n - i < 333 ? n - i : 333), VOZ_OK);
    assert_int_equal(voz_mfcc_stream_flush(s), VOZ_OK);
    size_t k = voz_mfcc_stream_available(s);
    float *out = malloc((k ? k : 1) * (size_t)p->num_ceps * sizeof *out);
    assert_non_null(out);
    for (size_t t = 0; t < k; t++)
        assert_int_equal(voz_mfcc_stream_pop(s, out + t * (size_t)p->num_ceps), 1);
    assert_int_equal(voz_mfcc_stream_pop(s, out), 0);
    voz_mfcc_stream_free(s);
    *T = k;
    return out;
}

/* One workspace per thread count, used for several lengths in a row (long, short,
   longer, below the split threshold, shorter than a frame), each against a fresh
   voz_features_compute; with base MFCC only, also against the stream. */
static void check_params(const char *what, const voz_feature_params *p, const float *x)
{
    static const size_t lens[] = { 48000, 8000, 64123, 3000, 100, 48000 };
    struct voz_features_ws *ws[2];
    assert_int_equal(voz_features_ws_create(p, 1, &ws[0]), VOZ_OK);
    assert_int_equal(voz_features_ws_create(p, 2, &ws[1]), VOZ_OK);
    int D = voz_feature_dim(p);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k], T;
        float *ref;
        assert_int_equal(voz_features_compute(p, x, n, &ref, &T), VOZ_OK);
        assert_int_equal(T, voz_mfcc_num_frames(p, n));
        for (int t = 0; t < 2; t++) {
            const float *got;
            size_t Tg;
            assert_int_equal(voz_features_ws_compute(ws[t], x, n, &got, &Tg), VOZ_OK);
            assert_int_equal(Tg, T);
            if (T == 0)
                assert_null(got);
            char label[160];
            snprintf(label, sizeof label, "%s, %zu samples, %d thread(s)", what, n, t + 1);
            expect_same(label, got, ref, T, D);
        }
        if (p->delta_order == 0 && p->cmvn == VOZ_CMVN_NONE) {
            size_t Ts;
            float *st = stream_mfcc(p, x, n, &Ts);
            assert_int_equal(Ts, T);
            expect_same(what, st, ref, T, D);
            free(st);
        }
        free(ref);
    }
    voz_features_ws_free(ws[0]);
    voz_features_ws_free(ws[1]);
}

static void test_ws_matches(void **state)
{
    (void)state;
    float *x = synth(64123, 16000, 3);
    voz_feature_params p = voz_feature_default_params();
    check_params("defaults (deltas, CMVN)", &p, x);
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    check_params("base mfcc", &p, x);
    p.snip_edges = 0;
    check_params("base mfcc, snip_edges 0", &p, x);
    p.dither = 1.0f;
    check_params("dither 1, snip_edges 0", &p, x);
    /* An odd frame (401 samples): the second thread's first frame (149 of 298 for
       48000 samples) starts inside a Box-Muller pair. */
    p.snip_edges = 1;
    p.frame_length_ms = 25.0625f;
    assert_int_equal(voz_mfcc_frame_length(&p), 401);
    check_params("dither 1, 401-sample frames", &p, x);
    p.use_energy = 1;
    p.raw_energy = 0;
    p.htk_compat = 1;
    p.cmvn = VOZ_CMVN_RUNNING;
    p.delta_order = 1;
    check_params("energy, htk, running CMVN, deltas", &p, x);
    free(x);
}

/* After voz_mfcc_seek(m, f0), frames f0.. equal those of a run from frame 0. */
static void test_seek(void **state)
{
    (void)state;
    size_t n = 16000;
    float *x = synth(n, 16000, 5);
    voz_feature_params p = voz_feature_default_params();
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    p.dither = 2.0f;
    for (int odd = 0; odd <= 1; odd++) {
        p.frame_length_ms = odd ? 25.0625f : 25.0f;
        struct voz_mfcc *m;
        assert_int_equal(voz_mfcc_create(&p, &m), VOZ_OK);
        size_t T = voz_mfcc_num_frames(&p, n);
        float *all = malloc(T * 13 * sizeof *all), *part = malloc(T * 13 * sizeof *part);
        assert_int_equal(voz_mfcc_compute_buffer(m, x, n, all, T), VOZ_OK);
        static const size_t starts[] = { 0, 1, 2, 17, 50 };
        for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
            voz_mfcc_seek(m, starts[k]);
            assert_int_equal(voz_mfcc_compute_range(m, x, n, starts[k], T, part), VOZ_OK);
            expect_same(odd ? "seek, 401-sample frames" : "seek", part, all + starts[k] * 13, T - starts[k], 13);
        }
        /* a range past the end is refused */
        assert_int_equal(voz_mfcc_compute_range(m, x, n, 0, T + 1, part), VOZ_ERR_INVALID);
        free(all);
        free(part);
        voz_mfcc_free(m);
    }
    free(x);
}

static void test_ws_refuses(void **state)
{
    (void)state;
    voz_feature_params p = voz_feature_default_params();
    struct voz_features_ws *w = (void *)1;
    assert_int_equal(voz_features_ws_create(&p, 3, &w), VOZ_ERR_INVALID);
    assert_null(w);
    p.num_ceps = 0;
    assert_int_equal(voz_features_ws_create(&p, 1, &w), VOZ_ERR_INVALID);
    assert_null(w);
    /* non-finite samples: refused, as by voz_features_compute */
    p = voz_feature_default_params();
    assert_int_equal(voz_features_ws_create(&p, 2, &w), VOZ_OK);
    float *x = synth(8000, 16000, 1);
    x[4000] = NAN;
    const float *f;
    size_t T;
    assert_int_equal(voz_features_ws_compute(w, x, 8000, &f, &T), VOZ_ERR_NONFINITE);
    assert_null(f);
    assert_int_equal(T, 0);
    voz_features_ws_free(w);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_matches),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_ws_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
