/* tests/test_ctc.c — CTC greedy decoding, the CTC loss and gradient, and the prefix
   beam search. The loss is checked against a hand-solved two-frame problem, brute
   force enumeration of every path on tiny problems, PyTorch's ctc_loss
   (tests/fixtures/ctc, written by tools/fixtures_ctc.py) and central finite
   differences; both of its recursions (scaled linear and log space) are run on every
   case. The beam search runs on hand-made posteriors whose best answer is known.
   Shapes: T frames, C classes, L labels; log-probabilities are [T][C] unless a test
   is about the stride. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "decoder/ctc.h"

#define FIXDIR "tests/fixtures/ctc/"

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t rng = 88172645463325252ULL;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static int irand(int n) { return (int)(urand() * n); }

/* Row-wise log-softmax of double logits into float log-probabilities. */
static void log_softmax(const double *logits, int T, int C, float *lp)
{
    for (int t = 0; t < T; t++) {
        const double *x = logits + (size_t)t * C;
        double m = x[0], s = 0.0;
        for (int c = 1; c < C; c++)
            m = x[c] > m ? x[c] : m;
        for (int c = 0; c < C; c++)
            s += exp(x[c] - m);
        for (int c = 0; c < C; c++)
            lp[(size_t)t * C + c] = (float)(x[c] - m - log(s));
    }
}

/* Compares two arrays; on failure prints the worst element. Tolerance per element:
   abs_tol + rel_tol * |want|. */
static void check_close(const char *what, const float *got, const double *want, size_t n,
                        double rel_tol, double abs_tol)
{
    size_t worst = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        double excess = err - (abs_tol + rel_tol * fabs(want[i]));
        if (!(excess <= worst_excess) || isnan(got[i])) {
            worst_excess = isnan(got[i]) ? INFINITY : excess;
            worst = i;
        }
    }
    if (worst_excess > 0) {
        print_error("%s: element %zu is %.9g, expected %.9g (|diff| %.3g > tolerance %.3g)\n",
                    what, worst, got[worst], want[worst], fabs(got[worst] - want[worst]),
                    abs_tol + rel_tol * fabs(want[worst]));
        fail();
    }
}

static void check_loss(const char *what, double got, double want, double rel_tol)
{
    if (!(fabs(got - want) <= rel_tol * fabs(want) + 1e-12)) {
        print_error("%s: loss %.12g, expected %.12g (relative error %.3g > %.3g)\n", what,
                    got, want, fabs(got - want) / fabs(want), rel_tol);
        fail();
    }
}

/* mode SCALED: the scaled recursion must do the call (a fallback to log space would
   hide a bug in it); LOGSPACE: the log-space recursion; EITHER: whatever the loss
   chooses, *n_exact tells which. */
enum { SCALED = 0, LOGSPACE = 1, EITHER = 2 };
static double loss_with(int mode, const float *lp, int T, int C, size_t stride,
                        const int *lab, int L, int blank, float *d, long *n_exact)
{
    struct voz_ctc_ws ws;
    voz_ctc_ws_init(&ws);
    ws.exact = mode == LOGSPACE;
    double r = voz_ctc_loss_ws(&ws, lp, T, C, stride, lab, L, blank, d);
    if (mode == SCALED && ws.n_exact) {
        print_error("the scaled recursion handed a moderate input (T=%d C=%d L=%d) to log space\n",
                    T, C, L);
        fail();
    }
    if (n_exact)
        *n_exact = ws.n_exact;
    voz_ctc_ws_release(&ws);
    return r;
}

/* ---- greedy ------------------------------------------------------------------------- */

/* One-hot frames: classes given as a string over "_abcdefghijklmnopqrstuvwxyz" where
   '_' is class 0 (blank); the chosen class gets log 0.9, the rest share 0.1. */
static float *onehot_frames(const char *path, int C)
{
    int T = (int)strlen(path);
    float *lp = malloc(sizeof(float) * (size_t)T * (size_t)C);
    assert_non_null(lp);
    for (int t = 0; t < T; t++) {
        int k = path[t] == '_' ? 0 : path[t] - 'a' + 1;
        for (int c = 0; c < C; c++)
            lp[t * C + c] = (float)log(c == k ? 0.9 : 0.1 / (C - 1));
    }
    return lp;
}

static void greedy_case(const char *path, const int *want, int n_want, const int *want_first,
                        const int *want_last)
{
    const int C = 27, T = (int)strlen(path);
    float *lp = onehot_frames(path, C);
    int labels[64], first[64], last[64];
    int n = voz_ctc_greedy(lp, T, C, C, 0, labels, first, last);
    if (n != n_want) {
        print_error("greedy of '%s': %d labels, expected %d\n", path, n, n_want);
        fail();
    }
    for (int i = 0; i < n; i++) {
        if (labels[i] != want[i] || first[i] != want_first[i] || last[i] != want_last[i]) {
            print_error("greedy of '%s': label %d is %d [%d, %d], expected %d [%d, %d]\n", path,
                        i, labels[i], first[i], last[i], want[i], want_first[i], want_last[i]);
            fail();
        }
    }
    /* frames are optional */
    assert_int_equal(voz_ctc_greedy(lp, T, C, C, 0, labels, NULL, NULL), n_want);
    free(lp);
}

static void test_greedy_merge(void **state)
{
    (void)state;
    const int a = 1, l = 12;
    greedy_case("all_l", (int[]){a, l, l}, 3, (int[]){0, 1, 4}, (int[]){0, 2, 4});
    greedy_case("aa_aa", (int[]){a, a}, 2, (int[]){0, 3}, (int[]){1, 4});
    greedy_case("_____", NULL, 0, NULL, NULL);
    greedy_case("a", (int[]){a}, 1, (int[]){0}, (int[]){0});
    greedy_case("_", NULL, 0, NULL, NULL);
    greedy_case("__ab__b", (int[]){a, 2, 2}, 3, (int[]){2, 3, 6}, (int[]){2, 3, 6});
}

static void test_greedy_blank_ties_stride(void **state)
{
    (void)state;
    /* Blank is the last class (3); a frame of ties picks the lowest index. */
    const int C = 4, T = 6;
    const double p[6][4] = {
        {0.1, 0.1, 0.1, 0.7}, /* blank */
        {0.4, 0.4, 0.1, 0.1}, /* tie 0/1 -> 0 */
        {0.7, 0.1, 0.1, 0.1}, /* 0 again: merged */
        {0.1, 0.1, 0.1, 0.7}, /* blank */
        {0.25, 0.25, 0.25, 0.25}, /* all tied -> 0 */
        {0.1, 0.1, 0.7, 0.1},
    };
    float lp[6 * 4];
    for (int i = 0; i < T * C; i++)
        lp[i] = (float)log(p[i / C][i % C]);
    int lab[6], first[6], last[6];
    int n = voz_ctc_greedy(lp, T, C, C, 3, lab, first, last);
    assert_int_equal(n, 3);
    assert_int_equal(lab[0], 0);
    assert_int_equal(first[0], 1);
    assert_int_equal(last[0], 2);
    assert_int_equal(lab[1], 0);
    assert_int_equal(first[1], 4);
    assert_int_equal(last[1], 4);
    assert_int_equal(lab[2], 2);
    assert_int_equal(first[2], 5);

    /* Stride > C: the same sequence as the middle item of a [T][3][C] batch whose
       neighbours would win every argmax if the stride were ignored. */
    const int B = 3;
    float *batch = malloc(sizeof(float) * (size_t)T * B * C);
    assert_non_null(batch);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                batch[(t * B + b) * C + c] = b == 1 ? lp[t * C + c] : (c == 1 ? 0.0f : -50.0f);
    int lab2[6], first2[6], last2[6];
    int n2 = voz_ctc_greedy(batch + C, T, C, (size_t)B * C, 3, lab2, first2, last2);
    assert_int_equal(n2, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(lab2[i], lab[i]);
        assert_int_equal(first2[i], first[i]);
        assert_int_equal(last2[i], last[i]);
    }
    free(batch);
}

/* ---- loss: hand-solved, enumerated, impossible ----------------------------------------- */

static void test_loss_two_frames(void **state)
{
    (void)state;
    /* Classes {blank, a}, label "a", two frames. The paths that collapse to "a" are
       a_, _a and aa: p = .6*.7 + .4*.3 + .6*.3 = 0.72. */
    const double y[2][2] = {{0.4, 0.6}, {0.7, 0.3}};
    float lp[4];
    for (int i = 0; i < 4; i++)
        lp[i] = (float)log(y[i / 2][i % 2]);
    const int lab[1] = {1};
    /* Occupancies: frame 0 holds a in a_ and aa (0.60 / 0.72), frame 1 in _a and aa
       (0.30 / 0.72); the gradient is y - occupancy. */
    const double want_d[4] = {0.4 - 0.12 / 0.72, 0.6 - 0.60 / 0.72,
                              0.7 - 0.42 / 0.72, 0.3 - 0.30 / 0.72};
    for (int exact = 0; exact < 2; exact++) {
        float d[4];
        double loss = loss_with(exact, lp, 2, 2, 2, lab, 1, 0, d, NULL);
        check_loss("two frames", loss, -log(0.72), 1e-6);
        check_close("two frames dlogits", d, want_d, 4, 0, 1e-6);
    }
    /* the thread-local wrapper gives the same */
    float d[4];
    check_loss("two frames (voz_ctc_loss)", voz_ctc_loss(lp, 2, 2, 2, lab, 1, 0, d), -log(0.72), 1e-6);
    check_close("two frames dlogits (voz_ctc_loss)", d, want_d, 4, 0, 1e-6);
}

/* Brute force: every one of C^T paths, collapsed and compared with the label. */
static void enumerate(const float *lp, int T, int C, int blank, const int *lab, int L,
                      double *p_out, double *occ /* [T][C] */)
{
    int path[8];
    long n = 1;
    for (int t = 0; t < T; t++)
        n *= C;
    double p = 0.0;
    memset(occ, 0, sizeof(double) * (size_t)T * C);
    for (long k = 0; k < n; k++) {
        long r = k;
        for (int t = 0; t < T; t++) {
            path[t] = (int)(r % C);
            r /= C;
        }
        int out[8], m = 0, prev = -1;
        for (int t = 0; t < T; t++) {
            if (path[t] != prev && path[t] != blank)
                out[m++] = path[t];
            prev = path[t];
        }
        if (m != L || (L && memcmp(out, lab, sizeof(int) * (size_t)L)))
            continue;
        double q = 1.0;
        for (int t = 0; t < T; t++)
            q *= exp((double)lp[t * C + path[t]]);
        p += q;
        for (int t = 0; t < T; t++)
            occ[t * C + path[t]] += q;
    }
    for (int i = 0; i < T * C; i++)
        occ[i] = p > 0 ? occ[i] / p : 0.0;
    *p_out = p;
}

static void test_loss_enumeration(void **state)
{
    (void)state;
    const int C = 3;
    char what[128];
    for (int trial = 0; trial < 300; trial++) {
        int T = 1 + irand(6), blank = irand(C);
        int L = irand(4), lab[4];
        for (int i = 0; i < L; i++) {
            do
                lab[i] = irand(C);
            while (lab[i] == blank);
        }
        double logits[6 * 3], occ[6 * 3], want_d[6 * 3], p;
        float lp[6 * 3], d[6 * 3];
        double scale = trial % 3 == 0 ? 6.0 : 1.5;
        for (int i = 0; i < T * C; i++)
            logits[i] = scale * (2 * urand() - 1);
        log_softmax(logits, T, C, lp);
        enumerate(lp, T, C, blank, lab, L, &p, occ);
        for (int i = 0; i < T * C; i++)
            want_d[i] = exp((double)lp[i]) - occ[i];
        for (int exact = 0; exact < 2; exact++) {
            snprintf(what, sizeof what, "trial %d (T=%d L=%d blank=%d exact=%d)", trial, T, L,
                     blank, exact);
            double loss = loss_with(exact, lp, T, C, C, lab, L, blank, d, NULL);
            if (p == 0.0) {
                /* too few frames for the label */
                assert_true(T < voz_ctc_min_frames(lab, L));
                assert_true(isinf(loss) && loss > 0);
                for (int i = 0; i < T * C; i++)
                    assert_true(d[i] == 0.0f);
                continue;
            }
            check_loss(what, loss, -log(p), 1e-9);
            check_close(what, d, want_d, (size_t)T * C, 0, 1e-6);
        }
    }
}

static void test_loss_impossible(void **state)
{
    (void)state;
    const int C = 3;
    float lp[4 * 3], d[4 * 3];
    for (int i = 0; i < 12; i++)
        lp[i] = (float)log(1.0 / 3);
    /* "aa" needs a blank between the two a: 3 frames; "aba" fits in 3. */
    const int aa[2] = {1, 1}, aba[3] = {1, 2, 1}, aab[3] = {1, 1, 2};
    assert_int_equal(voz_ctc_min_frames(aa, 2), 3);
    assert_int_equal(voz_ctc_min_frames(aba, 3), 3);
    assert_int_equal(voz_ctc_min_frames(aab, 3), 4);
    assert_int_equal(voz_ctc_min_frames(NULL, 0), 0);
    for (int exact = 0; exact < 2; exact++) {
        for (int i = 0; i < 12; i++)
            d[i] = 7.0f;
        double loss = loss_with(exact, lp, 2, C, C, aa, 2, 0, d, NULL);
        assert_true(isinf(loss) && loss > 0);
        for (int i = 0; i < 6; i++)
            assert_true(d[i] == 0.0f);
        assert_true(d[6] == 7.0f); /* frames past T untouched */
        loss = loss_with(exact, lp, 3, C, C, aab, 3, 0, d, NULL);
        assert_true(isinf(loss) && loss > 0);
        loss = loss_with(exact, lp, 3, C, C, aba, 3, 0, d, NULL);
        check_loss("aba in 3 frames", loss, -3 * log(1.0 / 3), 1e-6);
        loss = loss_with(exact, lp, 0, C, C, aba, 3, 0, d, NULL);
        assert_true(isinf(loss) && loss > 0);
        assert_true(loss_with(exact, lp, 0, C, C, NULL, 0, 0, d, NULL) == 0.0);
    }
    /* A label whose class has probability 0 in every frame: +inf, zero gradient. */
    for (int t = 0; t < 4; t++)
        lp[t * C + 2] = -INFINITY;
    const int b1[1] = {2};
    for (int exact = 0; exact < 2; exact++) {
        for (int i = 0; i < 12; i++)
            d[i] = 7.0f;
        double loss = loss_with(exact ? LOGSPACE : EITHER, lp, 4, C, C, b1, 1, 0, d, NULL);
        assert_true(isinf(loss) && loss > 0);
        for (int i = 0; i < 12; i++)
            assert_true(d[i] == 0.0f);
    }
    /* -inf in a class the label does not use is fine: finite, no NaN. */
    const int a1[1] = {1};
    for (int exact = 0; exact < 2; exact++) {
        double loss = loss_with(exact, lp, 4, C, C, a1, 1, 0, d, NULL);
        assert_true(isfinite(loss));
        for (int i = 0; i < 12; i++)
            assert_true(isfinite(d[i]));
    }
}

static void test_loss_empty_label(void **state)
{
    (void)state;
    const int T = 5, C = 4, blank = 2;
    double logits[5 * 4];
    float lp[5 * 4], d[5 * 4];
    for (int i = 0; i < T * C; i++)
        logits[i] = 2 * urand() - 1;
    log_softmax(logits, T, C, lp);
    /* only the all-blank path: loss = -sum of blank log-probs, gradient y - [c == blank] */
    double want = 0, want_d[5 * 4];
    for (int t = 0; t < T; t++) {
        want -= lp[t * C + blank];
        for (int c = 0; c < C; c++)
            want_d[t * C + c] = exp((double)lp[t * C + c]) - (c == blank);
    }
    for (int exact = 0; exact < 2; exact++) {
        check_loss("empty label", loss_with(exact, lp, T, C, C, NULL, 0, blank, d, NULL), want, 1e-9);
        check_close("empty label dlogits", d, want_d, (size_t)T * C, 0, 1e-6);
    }
}

static void test_loss_bad_arguments(void **state)
{
    (void)state;
    float lp[3 * 3] = {0};
    float d[9];
    const int bad[2] = {1, 3}, blank_lab[1] = {0};
    voz_clear_error();
    assert_true(isnan(voz_ctc_loss(lp, 3, 3, 3, bad, 2, 0, d)));
    assert_non_null(strstr(voz_last_error(), "label 1 is 3"));
    assert_true(isnan(voz_ctc_loss(lp, 3, 3, 3, blank_lab, 1, 0, d)));
    assert_true(isnan(voz_ctc_loss(lp, 3, 3, 2, blank_lab, 0, 0, d)));  /* stride < C */
    assert_true(isnan(voz_ctc_loss(lp, 3, 3, 3, blank_lab, 0, 3, d)));  /* blank >= C */
    assert_true(isnan(voz_ctc_loss(lp, -1, 3, 3, blank_lab, 0, 0, d))); /* T < 0 */
}

/* The batch layout: item b of [T][B][C] at stride B*C gives the same loss and gradient
   as its contiguous copy, and leaves the other items' gradient rows alone. */
static void test_loss_stride(void **state)
{
    (void)state;
    const int T = 20, B = 3, C = 6, L = 5;
    const int lab[5] = {1, 2, 2, 5, 3};
    double logits[20 * 6];
    float lp[20 * 6], d[20 * 6], batch[20 * 3 * 6], dbatch[20 * 3 * 6];
    for (int i = 0; i < T * C; i++)
        logits[i] = 3 * (2 * urand() - 1);
    log_softmax(logits, T, C, lp);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                batch[(t * B + b) * C + c] = b == 2 ? lp[t * C + c] : -1.0f;
                dbatch[(t * B + b) * C + c] = 42.0f;
            }
    for (int exact = 0; exact < 2; exact++) {
        double want = loss_with(exact, lp, T, C, C, lab, L, 0, d, NULL);
        double got = loss_with(exact, batch + 2 * C, T, C, (size_t)B * C, lab, L, 0, dbatch + 2 * C, NULL);
        assert_true(got == want);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    float g = dbatch[(t * B + b) * C + c];
                    if (b == 2)
                        assert_true(g == d[t * C + c]);
                    else
                        assert_true(g == 42.0f);
                }
    }
}

/* Log-probability gaps beyond what linear arithmetic holds: the scaled recursion must
   hand over to log space, and the answer must still be right. Label "a" in three
   frames where a is e^-800 likely at frame 0 and e^-900 later: a__ dominates. */
static void test_loss_huge_gaps(void **state)
{
    (void)state;
    const int C = 2;
    float lp[3 * 2] = {0.0f, -800.0f, 0.0f, -900.0f, 0.0f, -900.0f};
    const int lab[1] = {1};
    float d[6];
    long n_exact = 0;
    double loss = loss_with(EITHER, lp, 3, C, C, lab, 1, 0, d, &n_exact);
    assert_int_equal(n_exact, 1);
    check_loss("huge gaps", loss, 800.0, 1e-12);
    /* all occupancy on a__: frame 0 -> a, later frames -> blank */
    const double want_d[6] = {1.0 - 0.0, 0.0 - 1.0, 1.0 - 1.0, 0.0, 1.0 - 1.0, 0.0};
    check_close("huge gaps dlogits", d, want_d, 6, 0, 1e-9);

    /* Moderate input stays on the scaled recursion. */
    double logits[50 * 5];
    float lp2[50 * 5], d2[50 * 5];
    const int lab2[6] = {1, 2, 3, 3, 4, 1};
    for (int i = 0; i < 50 * 5; i++)
        logits[i] = 4 * (2 * urand() - 1);
    log_softmax(logits, 50, 5, lp2);
    loss_with(SCALED, lp2, 50, 5, 5, lab2, 6, 0, d2, &n_exact);
    assert_int_equal(n_exact, 0);
}

/* The two recursions agree on random problems of many shapes, from flat to very
   confident outputs (where the scaled one may hand over to log space). */
static void test_loss_recursions_agree(void **state)
{
    (void)state;
    char what[160];
    for (int trial = 0; trial < 40; trial++) {
        int C = 2 + irand(30), L = irand(60), T = 2 * L + 1 + irand(300);
        int blank = irand(C);
        double scale = trial % 4 == 3 ? 40.0 : 0.5 + 15 * urand();
        int *lab = malloc(sizeof(int) * (size_t)(L + 1));
        double *logits = malloc(sizeof(double) * (size_t)T * C);
        float *lp = malloc(sizeof(float) * (size_t)T * C);
        float *d1 = malloc(sizeof(float) * (size_t)T * C), *d2 = malloc(sizeof(float) * (size_t)T * C);
        double *dw = malloc(sizeof(double) * (size_t)T * C);
        assert_true(lab && logits && lp && d1 && d2 && dw);
        for (int i = 0; i < L; i++) {
            do
                lab[i] = irand(C);
            while (lab[i] == blank);
            if (i > 0 && urand() < 0.2)
                lab[i] = lab[i - 1];
        }
        for (int i = 0; i < T * C; i++)
            logits[i] = scale * (2 * urand() - 1);
        log_softmax(logits, T, C, lp);
        double a = loss_with(EITHER, lp, T, C, C, lab, L, blank, d1, NULL);
        double b = loss_with(LOGSPACE, lp, T, C, C, lab, L, blank, d2, NULL);
        snprintf(what, sizeof what, "trial %d (T=%d C=%d L=%d scale %.1f)", trial, T, C, L, scale);
        assert_true(isfinite(a));
        check_loss(what, a, b, 1e-9);
        for (int i = 0; i < T * C; i++)
            dw[i] = d2[i];
        check_close(what, d1, dw, (size_t)T * C, 0, 1e-6);
        free(lab);
        free(logits);
        free(lp);
        free(d1);
        free(d2);
        free(dw);
    }
}

/* ---- loss: PyTorch fixtures ------------------------------------------------------------ */

static float *read_f32(const char *name, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, FIXDIR "%s", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        print_error("cannot open fixture %s (run from the repository root)\n", path);
        fail();
    }
    float *v = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(v);
    size_t got = fread(v, sizeof(float), n, fp);
    int extra = fgetc(fp);
    fclose(fp);
    if (got != n || extra != EOF) {
        print_error("fixture %s: expected exactly %zu floats\n", path, n);
        fail();
    }
    return v;
}

static void test_loss_torch_fixtures(void **state)
{
    (void)state;
    FILE *fp = fopen(FIXDIR "cases.txt", "r");
    if (!fp) {
        print_error("cannot open " FIXDIR "cases.txt (run from the repository root)\n");
        fail();
    }
    char name[64], file[96], what[160];
    int T, C, blank, L, cases = 0;
    double want;
    while (fscanf(fp, "%63s %d %d %d %d %lf", name, &T, &C, &blank, &L, &want) == 6) {
        int *lab = malloc(sizeof(int) * (size_t)(L + 1));
        assert_non_null(lab);
        for (int i = 0; i < L; i++)
            assert_int_equal(fscanf(fp, "%d", &lab[i]), 1);
        size_t n = (size_t)T * C;
        snprintf(file, sizeof file, "%s.lp.f32", name);
        float *lp = read_f32(file, n);
        snprintf(file, sizeof file, "%s.grad.f32", name);
        float *g32 = read_f32(file, n);
        double *g = malloc(sizeof(double) * n);
        float *d = malloc(sizeof(float) * n);
        assert_non_null(g);
        assert_non_null(d);
        for (size_t i = 0; i < n; i++)
            g[i] = g32[i];
        for (int exact = 0; exact < 2; exact++) {
            snprintf(what, sizeof what, "%s (T=%d C=%d L=%d blank=%d, %s)", name, T, C, L, blank,
                     exact ? "log space" : "scaled");
            double loss = loss_with(exact, lp, T, C, C, lab, L, blank, d, NULL);
            check_loss(what, loss, want, 1e-4);
            check_close(what, d, g, n, 1e-4, 1e-5);
        }
        free(lab);
        free(lp);
        free(g32);
        free(g);
        free(d);
        cases++;
    }
    fclose(fp);
    assert_true(cases >= 8);
}

/* ---- loss: finite differences --------------------------------------------------------- */

static double loss_of_logits(const double *logits, int T, int C, const int *lab, int L,
                             int blank, float *lp)
{
    log_softmax(logits, T, C, lp);
    return voz_ctc_loss(lp, T, C, C, lab, L, blank, NULL);
}

static void test_loss_finite_differences(void **state)
{
    (void)state;
    const int T = 12, C = 5, L = 4, blank = 1;
    const int lab[4] = {3, 0, 0, 4};
    const double h = 5e-3;
    double logits[12 * 5], fd[12 * 5];
    float lp[12 * 5], d[12 * 5];
    for (int i = 0; i < T * C; i++)
        logits[i] = 2 * (2 * urand() - 1);
    log_softmax(logits, T, C, lp);
    double loss = voz_ctc_loss(lp, T, C, C, lab, L, blank, d);
    assert_true(isfinite(loss));
    for (int i = 0; i < T * C; i++) {
        double keep = logits[i];
        logits[i] = keep + h;
        double up = loss_of_logits(logits, T, C, lab, L, blank, lp);
        logits[i] = keep - h;
        double down = loss_of_logits(logits, T, C, lab, L, blank, lp);
        logits[i] = keep;
        fd[i] = (up - down) / (2 * h);
    }
    /* float32 log-probabilities put ~1e-5 of noise into a difference quotient at this h */
    check_close("finite differences", d, fd, (size_t)T * C, 1e-3, 1e-4);
}


/* ---- beam search ------------------------------------------------------------------------ */

/* The trainer's alphabet: blank, space, a-z, apostrophe. */
static const char *const ALPHA[29] = {"", " ", "a", "b", "c", "d", "e", "f", "g", "h", "i",
                                      "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t",
                                      "u", "v", "w", "x", "y", "z", "'"};
#define AC 29
static const char *const DIGITS[11] = {"zero", "one", "two", "three", "four", "five",
                                       "six", "seven", "eight", "nine", "oh"};

static int class_of(char ch)
{
    if (ch == '_')
        return 0;
    if (ch == '.')
        return 1;
    if (ch == '\'')
        return 28;
    return ch - 'a' + 2;
}

/* Frames from a compact script: frames separated by '|', each a list "x:p,y:q" of
   classes ('_' blank, '.' space) and probabilities, or a single class meaning 0.9 on
   it; the remaining mass is spread evenly over the other classes. */
static float *script(const char *spec, int *T_out)
{
    int T = 1;
    for (const char *q = spec; *q; q++)
        T += *q == '|';
    float *lp = malloc(sizeof(float) * (size_t)T * AC);
    assert_non_null(lp);
    const char *q = spec;
    for (int t = 0; t < T; t++) {
        double p[AC] = {0}, used = 0;
        int set[AC] = {0}, n_set = 0;
        while (*q && *q != '|') {
            int c = class_of(*q++);
            double v = 0.9;
            if (*q == ':') {
                char *endp;
                v = strtod(q + 1, &endp);
                q = endp;
            }
            p[c] = v;
            set[c] = 1;
            used += v;
            n_set++;
            if (*q == ',')
                q++;
        }
        if (*q == '|')
            q++;
        for (int c = 0; c < AC; c++)
            if (!set[c])
                p[c] = (1.0 - used) / (AC - n_set);
        for (int c = 0; c < AC; c++)
            lp[t * AC + c] = (float)log(p[c] > 0 ? p[c] : 1e-30);
    }
    *T_out = T;
    return lp;
}

static void to_text(const int *lab, int n, char *out, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < cap; i++) {
        const char *s = ALPHA[lab[i]];
        size_t l = strlen(s);
        memcpy(out + k, s, l);
        k += l;
    }
    out[k] = 0;
}

static struct voz_ctc_beam *make_beam(const char *const *words, int n_words, int width)
{
    struct voz_ctc_beam *b = NULL;
    voz_status s = voz_ctc_beam_create(ALPHA, AC, 0, words, n_words, width, &b);
    if (s != VOZ_OK) {
        print_error("voz_ctc_beam_create: %s\n", voz_last_error());
        fail();
    }
    return b;
}

/* Decodes and compares the text; returns the label count. */
static int expect_beam(struct voz_ctc_beam *b, const float *lp, int T, const char *want,
                       int *first, int *last)
{
    int lab[256];
    char got[512];
    int n = voz_ctc_beam_decode(b, lp, T, AC, lab, first, last);
    if (n < 0) {
        print_error("voz_ctc_beam_decode failed: %s\n", voz_last_error());
        fail();
    }
    to_text(lab, n, got, sizeof got);
    if (strcmp(got, want)) {
        print_error("beam search gave '%s', expected '%s'\n", got, want);
        fail();
    }
    return n;
}

static void expect_script(struct voz_ctc_beam *b, const char *spec, const char *want)
{
    int T;
    float *lp = script(spec, &T);
    expect_beam(b, lp, T, want, NULL, NULL);
    free(lp);
}

static void greedy_text(const float *lp, int T, char *out, size_t cap)
{
    int lab[256];
    int n = voz_ctc_greedy(lp, T, AC, AC, 0, lab, NULL, NULL);
    to_text(lab, n, out, cap);
}

static void test_beam_best_path(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = make_beam(NULL, 0, 8);
    /* Blank wins every frame (greedy says ""), but "a" collects a_, _a and aa:
       0.2 + 0.2 + 0.16 = 0.56 > 0.25 for "". */
    int T;
    float *lp = script("_:0.5,a:0.4|_:0.5,a:0.4", &T);
    char g[64];
    greedy_text(lp, T, g, sizeof g);
    assert_string_equal(g, "");
    int first[4], last[4];
    expect_beam(b, lp, T, "a", first, last);
    free(lp);
    expect_script(b, "_|_|_", "");
    expect_script(b, "h|e|l|l|_|l|o", "hello");
    expect_script(b, "a", "a");
    /* zero frames */
    int lab[1];
    assert_int_equal(voz_ctc_beam_decode(b, NULL, 0, AC, lab, NULL, NULL), 0);
    voz_ctc_beam_free(b);
}

/* Brute force: the probability of every labelling (sum over its paths); with a beam
   wider than the number of prefixes, the search is exact. */
static void test_beam_enumeration(void **state)
{
    (void)state;
    const int C = 3;
    const char *const cls[3] = {"", "a", "b"};
    struct voz_ctc_beam *b = NULL;
    assert_int_equal(voz_ctc_beam_create(cls, C, 0, NULL, 0, 64, &b), VOZ_OK);
    for (int trial = 0; trial < 200; trial++) {
        int T = 1 + irand(5);
        double logits[5 * 3];
        float lp[5 * 3];
        for (int i = 0; i < T * C; i++)
            logits[i] = 2.5 * (2 * urand() - 1);
        log_softmax(logits, T, C, lp);
        /* labellings as base-3 keys: sum path probabilities per collapsed sequence */
        double mass[400] = {0};
        int best_key = 0;
        long n = 1;
        for (int t = 0; t < T; t++)
            n *= C;
        for (long k = 0; k < n; k++) {
            long r = k;
            int prev = -1, key = 0;
            double q = 1.0;
            for (int t = 0; t < T; t++) {
                int c = (int)(r % C);
                r /= C;
                q *= exp((double)lp[t * C + c]);
                if (c != prev && c != 0)
                    key = key * 3 + c;
                prev = c;
            }
            mass[key] += q;
        }
        for (int k = 0; k < 400; k++)
            if (mass[k] > mass[best_key])
                best_key = k;
        int want[8], nw = 0;
        for (int k = best_key; k > 0; k /= 3)
            want[nw++] = k % 3;
        int lab[8];
        int got = voz_ctc_beam_decode(b, lp, T, C, lab, NULL, NULL);
        int ok = got == nw;
        for (int i = 0; ok && i < nw; i++)
            ok = lab[i] == want[nw - 1 - i];
        if (!ok) {
            print_error("trial %d (T=%d): beam gave %d labels, best labelling has %d (p=%.6f)\n",
                        trial, T, got, nw, mass[best_key]);
            fail();
        }
    }
    voz_ctc_beam_free(b);
}

static void test_beam_ties_deterministic(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = make_beam(NULL, 0, 4);
    /* a and b exactly tied: the lower class index wins, like greedy, every time */
    for (int k = 0; k < 3; k++)
        expect_script(b, "a:0.45,b:0.45", "a");
    expect_script(b, "_:0.3,c:0.35,b:0.35", "b");
    voz_ctc_beam_free(b);
    /* a beam of 1 is greedy on a tie as well */
    b = make_beam(NULL, 0, 1);
    expect_script(b, "a:0.45,b:0.45|_", "a");
    voz_ctc_beam_free(b);
    /* constrained, two words tied: the lower first differing class wins */
    const char *const w[2] = {"ab", "ac"};
    b = make_beam(w, 2, 8);
    expect_script(b, "a|c:0.45,b:0.45", "ab");
    voz_ctc_beam_free(b);
}

static void test_beam_repeats(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = make_beam(NULL, 0, 8);
    expect_script(b, "a|_|a", "aa");
    expect_script(b, "a|a|a", "a");
    expect_script(b, "a|.|a", "a a");
    voz_ctc_beam_free(b);

    b = make_beam(DIGITS, 11, 16);
    expect_script(b, "t|h|r|e|_|e", "three");
    expect_script(b, "t|h|r|e|_:0.5,e:0.4|e", "three"); /* only e _ e makes a word */
    expect_script(b, "o|n|e|o|n|e|_", "one one");   /* no separator from the model */
    expect_script(b, "o|n|e|.|o|n|e", "one one");
    expect_script(b, "o|h|o|h|o|h|_|_", "oh oh oh");
    expect_script(b, "t|w|o|_|o|h|_", "two oh");    /* o o needs the blank */
    expect_script(b, "t|w|o|o|h", "two");           /* "twooh": o o merge, h alone is no word */
    expect_script(b, "t|w|o|.|o|h", "two oh");
    expect_script(b, "s|i|x|_|s|i|x", "six six");
    expect_script(b, "_|.|o|n|e|.|.|_|.|t|w|o|.", "one two");
    /* Words back to back with no frame to spare need a label more than there are
       frames: the documented cut keeps the whole words that fit in T. */
    expect_script(b, "o|n|e|o|n|e", "one");
    voz_ctc_beam_free(b);

    b = make_beam(NULL, 0, 8);
    expect_script(b, "t|h|r|e|e", "thre");
    voz_ctc_beam_free(b);
}

static void test_beam_prefix_words(void **state)
{
    (void)state;
    const char *const w[3] = {"on", "one", "eight"};
    struct voz_ctc_beam *b = make_beam(w, 3, 16);
    expect_script(b, "o|n|_", "on");
    expect_script(b, "o|n|e", "one");
    expect_script(b, "o|n|_|e", "one");      /* "on e" would end inside "eight" */
    expect_script(b, "o|n|e|i|g|h|t|_", "on eight");
    expect_script(b, "o|n|.|e|i|g|h|t", "on eight");
    expect_script(b, "o|n|e|.|e|i|g|h|t", "one eight");
    expect_script(b, "o|n|e|_|e|i|g|h|t", "one eight");
    voz_ctc_beam_free(b);

    /* "a" and "a " are one answer: their mass adds up (0.1925 + 0.1925) and beats
       "b" + "b " (0.2275 + 0.1225), although "b" alone is the best single prefix. */
    const char *const ab[2] = {"a", "b"};
    b = make_beam(ab, 2, 16);
    expect_script(b, "a:0.55,b:0.35|b:0.3,.:0.35,_:0.35", "a");
    voz_ctc_beam_free(b);
}

static void test_beam_zere(void **state)
{
    (void)state;
    int T;
    float *lp = script("z|e|r|e:0.55,o:0.4", &T);
    char g[64];
    greedy_text(lp, T, g, sizeof g);
    assert_string_equal(g, "zere");
    struct voz_ctc_beam *b = make_beam(NULL, 0, 16);
    expect_beam(b, lp, T, "zere", NULL, NULL);
    voz_ctc_beam_free(b);
    b = make_beam(DIGITS, 11, 16);
    expect_beam(b, lp, T, "zero", NULL, NULL);
    voz_ctc_beam_free(b);
    free(lp);
}

/* Peaked frames: the best labelling is the greedy one, constrained or not. */
static void test_beam_agrees_with_greedy(void **state)
{
    (void)state;
    struct voz_ctc_beam *plain = make_beam(NULL, 0, 16), *words = make_beam(DIGITS, 11, 16);
    for (int trial = 0; trial < 100; trial++) {
        /* a random path: digit words, each letter for 1-2 frames, blanks and spaces
           (or nothing) between words, one blank between doubled letters */
        int path[200], T = 0;
        char want[128] = "";
        int n_w = 1 + irand(5);
        for (int w = 0; w < n_w; w++) {
            const char *word = DIGITS[irand(11)];
            if (w) {
                strcat(want, " ");
                int sep = irand(3);
                if (sep == 1)
                    path[T++] = 1;
                if (sep == 2)
                    path[T++] = 0;
            }
            strcat(want, word);
            for (const char *ch = word; *ch; ch++) {
                int c = class_of(*ch);
                if (T > 0 && path[T - 1] == c)
                    path[T++] = 0;
                int reps = 1 + irand(2);
                while (reps--)
                    path[T++] = c;
            }
        }
        float lp[200 * AC];
        for (int t = 0; t < T; t++)
            for (int c = 0; c < AC; c++)
                lp[t * AC + c] = (float)log(c == path[t] ? 0.995 : 0.005 / (AC - 1) * (0.5 + urand()));
        char g[256];
        greedy_text(lp, T, g, sizeof g);
        expect_beam(plain, lp, T, g, NULL, NULL);
        expect_beam(words, lp, T, want, NULL, NULL);
    }
    voz_ctc_beam_free(plain);
    voz_ctc_beam_free(words);
}

/* Seven-word digit strings with a noisy letter per word: greedy misspells, the
   constrained search reads the digits back. */
static void test_beam_digit_strings(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = make_beam(DIGITS, 11, 16);
    for (int trial = 0; trial < 20; trial++) {
        char spec[1024] = "", want[128] = "";
        for (int w = 0; w < 7; w++) {
            const char *word = DIGITS[irand(11)];
            if (w) {
                strcat(want, " ");
                strcat(spec, irand(2) ? "|.|_" : "|_");
            }
            strcat(want, word);
            size_t len = strlen(word);
            size_t noisy = (size_t)irand((int)len);
            for (size_t i = 0; i < len; i++) {
                char frame[32];
                char other = (char)('a' + (word[i] - 'a' + 1 + irand(25)) % 26);
                if (i == noisy) /* a confusable frame: the wrong letter slightly ahead */
                    snprintf(frame, sizeof frame, "%s%c:0.5,%c:0.4", i || w ? "|" : "", other, word[i]);
                else
                    snprintf(frame, sizeof frame, "%s%c", i || w ? "|" : "", word[i]);
                strcat(spec, frame);
                if (i + 1 < len && word[i + 1] == word[i])
                    strcat(spec, "|_");
            }
        }
        int T;
        float *lp = script(spec, &T);
        char g[256];
        greedy_text(lp, T, g, sizeof g);
        if (!strcmp(g, want)) {
            print_error("trial %d: greedy already right ('%s'): not a test\n", trial, g);
            fail();
        }
        expect_beam(b, lp, T, want, NULL, NULL);
        free(lp);
    }
    voz_ctc_beam_free(b);
}

static void test_beam_frames(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = make_beam(DIGITS, 11, 16);
    /* frames:        0 1 2 3 4 5 6 7 8 9 */
    int T;
    float *lp = script("_|t|w|w|o|_|o|o|h|_", &T);
    int first[16], last[16];
    /* "two oh" with an inserted space (the model went from o to o through a blank) */
    int n = expect_beam(b, lp, T, "two oh", first, last);
    assert_int_equal(n, 6);
    const int wf[6] = {1, 2, 4, 6, 6, 8}, wl[6] = {1, 3, 4, 6, 7, 8};
    for (int i = 0; i < n; i++)
        if (first[i] != wf[i] || last[i] != wl[i]) {
            print_error("label %d ('%s'): frames [%d, %d], expected [%d, %d]\n", i,
                        ALPHA[class_of("two oh"[i] == ' ' ? '.' : "two oh"[i])], first[i], last[i],
                        wf[i], wl[i]);
            fail();
        }
    free(lp);
    /* an emitted space keeps its own frames */
    lp = script("o|n|e|.|.|_|s|i|x", &T);
    n = expect_beam(b, lp, T, "one six", first, last);
    assert_int_equal(first[3], 3);
    assert_int_equal(last[3], 4);
    assert_int_equal(first[4], 6);
    assert_int_equal(last[2], 2);
    free(lp);
    voz_ctc_beam_free(b);
}

static void test_beam_errors(void **state)
{
    (void)state;
    struct voz_ctc_beam *b = NULL;
    const char *const bad[2] = {"one", "f\xc3\xbcnf"};
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, 0, bad, 2, 8, &b), VOZ_ERR_INVALID);
    assert_null(b);
    assert_non_null(strstr(voz_last_error(), "word 1"));
    const char *const empty[1] = {""};
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, 0, empty, 1, 8, &b), VOZ_ERR_INVALID);
    const char *const spaced[1] = {"one two"};
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, 0, spaced, 1, 8, &b), VOZ_ERR_INVALID);
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, 0, NULL, 0, 0, &b), VOZ_ERR_INVALID);
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, AC, NULL, 0, 8, &b), VOZ_ERR_INVALID);
    assert_int_equal(voz_ctc_beam_create(ALPHA, AC, 0, NULL, 0, 8, &b), VOZ_OK);
    float lp[AC] = {0};
    int lab[1];
    assert_int_equal(voz_ctc_beam_decode(b, lp, 1, AC - 1, lab, NULL, NULL), -1);
    voz_ctc_beam_free(b);
    voz_ctc_beam_free(NULL);

    /* multi-byte classes spell words too; without a space class words concatenate */
    const char *const cls[4] = {"", "\xc3\xbc", "n", "f"};
    const char *const w[1] = {"f\xc3\xbcnf"};
    assert_int_equal(voz_ctc_beam_create(cls, 4, 0, w, 1, 8, &b), VOZ_OK);
    float lp2[10 * 4];
    const int path[10] = {3, 1, 2, 3, 0, 3, 1, 2, 3, 0};
    for (int t = 0; t < 10; t++)
        for (int c = 0; c < 4; c++)
            lp2[t * 4 + c] = (float)log(c == path[t] ? 0.9 : 0.1 / 3);
    int lab2[10];
    int n = voz_ctc_beam_decode(b, lp2, 10, 4, lab2, NULL, NULL);
    assert_int_equal(n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(lab2[i], path[i < 4 ? i : i + 1]);
    voz_ctc_beam_free(b);
}

/* ---- main --------------------------------------------------------------------------- */

/* An ensemble's pick: two networks that both hear one "a" but put its spike on
   different frames (1 and 5). Their frame mean has two half-spikes with blanks between,
   which reads as "a a"; as sequences both networks give "a" far more probability, and
   that is the pick. The sum over alignments is what makes the two agree. */
static void test_ensemble_pick(void **state)
{
    (void)state;
    enum { T = 8, C = 3 };
    float lp0[T * C], lp1[T * C], mean[T * C];
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            /* spike frames: "a" 0.98; the others: blank 0.9 */
            float p0 = t == 1 ? (c == 1 ? 0.98f : 0.01f) : (c == 0 ? 0.9f : 0.05f);
            float p1 = t == 5 ? (c == 1 ? 0.98f : 0.01f) : (c == 0 ? 0.9f : 0.05f);
            lp0[t * C + c] = logf(p0);
            lp1[t * C + c] = logf(p1);
            mean[t * C + c] = logf(0.5f * (p0 + p1));
        }
    int lab[T];
    int L = voz_ctc_greedy(mean, T, C, C, 0, lab, NULL, NULL);
    assert_int_equal(L, 2); /* the frame mean's reading: "a a" */
    const int aa[2] = { 1, 1 }, a[1] = { 1 }, b[1] = { 2 }, long9[9] = { 1, 2, 1, 2, 1, 2, 1, 2, 1 };
    const int *cands[4] = { aa, a, b, long9 };
    const int lens[4] = { 2, 1, 1, 9 };
    const float *lps[2] = { lp0, lp1 };
    struct voz_ctc_ws ws;
    voz_ctc_ws_init(&ws);
    double score;
    assert_int_equal(voz_ctc_ensemble_pick(&ws, lps, 2, T, C, 0, cands, lens, 4, &score), 1);
    /* the winner's score is the sum of the two networks' log-likelihoods of "a" */
    double want = -voz_ctc_loss(lp0, T, C, C, a, 1, 0, NULL) - voz_ctc_loss(lp1, T, C, C, a, 1, 0, NULL);
    assert_true(fabs(score - want) < 1e-9);
    /* One network alone still prefers its own reading over "a a" and "b". */
    assert_int_equal(voz_ctc_ensemble_pick(&ws, lps, 1, T, C, 0, cands, lens, 4, NULL), 1);
    /* Ties keep the lower index; a candidate that cannot fit scores -inf. */
    const int *same[2] = { a, a };
    const int lsame[2] = { 1, 1 };
    assert_int_equal(voz_ctc_ensemble_pick(&ws, lps, 2, T, C, 0, same, lsame, 2, NULL), 0);
    const int *none_fit[1] = { long9 };
    const int lnone[1] = { 9 };
    assert_int_equal(voz_ctc_ensemble_pick(&ws, lps, 2, T, C, 0, none_fit, lnone, 1, &score), 0);
    assert_true(isinf(score) && score < 0);
    /* Invalid input: a label out of range. */
    const int bad[1] = { 7 };
    const int *badc[1] = { bad };
    assert_int_equal(voz_ctc_ensemble_pick(&ws, lps, 2, T, C, 0, badc, lsame, 1, NULL), -1);
    voz_ctc_ws_release(&ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_merge),
        cmocka_unit_test(test_greedy_blank_ties_stride),
        cmocka_unit_test(test_loss_two_frames),
        cmocka_unit_test(test_loss_enumeration),
        cmocka_unit_test(test_loss_impossible),
        cmocka_unit_test(test_loss_empty_label),
        cmocka_unit_test(test_loss_bad_arguments),
        cmocka_unit_test(test_loss_stride),
        cmocka_unit_test(test_loss_huge_gaps),
        cmocka_unit_test(test_loss_recursions_agree),
        cmocka_unit_test(test_loss_torch_fixtures),
        cmocka_unit_test(test_loss_finite_differences),
        cmocka_unit_test(test_beam_best_path),
        cmocka_unit_test(test_beam_enumeration),
        cmocka_unit_test(test_beam_ties_deterministic),
        cmocka_unit_test(test_beam_repeats),
        cmocka_unit_test(test_beam_prefix_words),
        cmocka_unit_test(test_beam_zere),
        cmocka_unit_test(test_beam_agrees_with_greedy),
        cmocka_unit_test(test_beam_digit_strings),
        cmocka_unit_test(test_beam_frames),
        cmocka_unit_test(test_beam_errors),
        cmocka_unit_test(test_ensemble_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
