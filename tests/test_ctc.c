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

/* Log-probabilities from a table of probabilities (rows need not be normalised
   exactly; the hand-made decoder tests use round numbers). */
static __attribute__((unused)) float *probs_to_lp(const double *p, int T, int C)
{
    float *lp = malloc(sizeof(float) * (size_t)T * (size_t)C);
    assert_non_null(lp);
    for (int i = 0; i < T * C; i++)
        lp[i] = p[i] > 0 ? (float)log(p[i]) : -INFINITY;
    return lp;
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

/* ---- main --------------------------------------------------------------------------- */

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
        cmocka_unit_test(test_loss_torch_fixtures),
        cmocka_unit_test(test_loss_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
