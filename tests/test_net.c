/* tests/test_net.c — the recurrent core against PyTorch references
   (tests/fixtures/rnn/, written by tools/fixtures_rnn.py), central finite differences
   on tiny nets of every cell type, and the properties the callers rely on: padding,
   thread count and workspace reuse do not change results; bad configs are refused.
   Shapes: B batch, T frames, I input, H hidden, G gate rows, D = H*dirs, C classes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acoustic/net.h"
#include "common/util.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* Passes when |got - ref| <= max(atol, rtol * |ref|) everywhere; otherwise prints the
   worst element (largest error / tolerance) and fails. */
static int check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol)
{
    size_t worst = 0;
    double worst_ratio = -1, max_err = 0;
    for (size_t k = 0; k < n; k++) {
        double err = fabs((double)got[k] - (double)ref[k]);
        double tol = fmax(atol, rtol * fabs((double)ref[k]));
        double ratio = isfinite(err) ? err / tol : INFINITY;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = k;
        }
        if (!(err <= max_err))
            max_err = err;
    }
    if (n && worst_ratio > 1.0) {
        fprintf(stderr, "%s: mismatch at [%zu]: got %.9g, expected %.9g (|err| %.3g, tolerance %.3g; max |err| %.3g)\n",
                what, worst, (double)got[worst], (double)ref[worst], fabs((double)got[worst] - ref[worst]),
                fmax(atol, rtol * fabs((double)ref[worst])), max_err);
        return 0;
    }
    if (getenv("VOZ_TEST_VERBOSE"))
        fprintf(stderr, "%s: ok, worst error/tolerance %.3g, max |err| %.3g\n", what, worst_ratio, max_err);
    return 1;
}

static int all_zero(const float *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != 0.0f)
            return 0;
    return 1;
}

static float *block_new(const voz_net_config *c)
{
    float *p = voz_alloc_aligned(voz_net_num_floats(c) * sizeof(float));
    assert_non_null(p);
    return p;
}

/* deterministic test data */
static uint64_t test_rng = 12345;
static float frand(void) /* uniform [-1, 1) */
{
    test_rng = test_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(test_rng >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}
static void fill_rand(float *p, size_t n, float scale)
{
    for (size_t k = 0; k < n; k++)
        p[k] = scale * frand();
}

/* A network with random parameters (padding left zero) and a workspace. */
struct tnet {
    voz_net_config cfg;
    float *params;
    struct voz_net net;
};

static void tnet_make(struct tnet *t, voz_cell_type cell, int I, int H, int L, int bi, int C, uint64_t seed)
{
    t->cfg = (voz_net_config){ cell, I, H, L, bi, C };
    assert_int_equal(voz_net_config_check(&t->cfg), VOZ_OK);
    t->params = block_new(&t->cfg);
    voz_net_bind(&t->net, &t->cfg, t->params);
    voz_net_init(&t->net, seed);
    /* nonzero biases so every bias path is exercised */
    test_rng = seed;
    for (int k = 0; k < voz_net_num_tensors(&t->cfg); k++) {
        voz_tensor_info ti;
        voz_net_tensor(&t->cfg, k, &ti);
        if (ti.ndim == 1)
            fill_rand(t->params + ti.offset, ti.numel, 0.3f);
    }
}

static void tnet_free(struct tnet *t) { voz_free_aligned(t->params); }

/* ---- fixtures ------------------------------------------------------------------------ */

#define FX_MAX 64
struct fx_rec {
    char name[64];
    int ndim;
    size_t shape[4], numel;
    float *data;
};
struct fx {
    int n;
    struct fx_rec r[FX_MAX];
};

static int read_u32(FILE *f, uint32_t *v)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4)
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int fx_load(const char *path, struct fx *fx)
{
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open (run from the repository root)\n", path);
        return -1;
    }
    uint32_t len;
    while (read_u32(f, &len) == 0) {
        struct fx_rec *r = &fx->r[fx->n];
        uint32_t nd, dim;
        if (fx->n == FX_MAX || len == 0 || len >= sizeof r->name || fread(r->name, 1, len, f) != len ||
            read_u32(f, &nd) || nd < 1 || nd > 4)
            goto bad;
        r->ndim = (int)nd;
        r->numel = 1;
        for (uint32_t k = 0; k < nd; k++) {
            if (read_u32(f, &dim) || dim > (1u << 24))
                goto bad;
            r->shape[k] = dim;
            r->numel *= dim;
        }
        if (r->numel > (1u << 24) || !(r->data = malloc(r->numel * sizeof(float) + 1)))
            goto bad;
        for (size_t k = 0; k < r->numel; k++) {
            uint32_t u;
            if (read_u32(f, &u))
                goto bad;
            memcpy(&r->data[k], &u, 4);
        }
        fx->n++;
    }
    fclose(f);
    return 0;
bad:
    fprintf(stderr, "%s: malformed fixture at record %d\n", path, fx->n);
    fclose(f);
    return -1;
}

static void fx_free(struct fx *fx)
{
    for (int k = 0; k < fx->n; k++)
        free(fx->r[k].data);
    fx->n = 0;
}

static const struct fx_rec *fx_get(const struct fx *fx, const char *name)
{
    for (int k = 0; k < fx->n; k++)
        if (!strcmp(fx->r[k].name, name))
            return &fx->r[k];
    fail_msg("fixture has no tensor '%s'", name);
    return NULL;
}

/* One PyTorch case: the state dict goes into a voz block by tensor name (checking
   that voz's names and shapes are exactly PyTorch's), then forward and backward are
   compared with autograd. Tolerances: log-probs 1e-5 absolute; gradients 1e-4
   relative with an absolute floor of 1e-4 * GRAD_FLOOR (i.e. relative to
   max(|ref|, GRAD_FLOOR)). */
#define GRAD_FLOOR 0.05
static void run_torch_case(const char *name, int threads)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/rnn/%s.bin", name);
    struct fx fx;
    assert_int_equal(fx_load(path, &fx), 0);
    const float *cf = fx_get(&fx, "config")->data;
    voz_net_config cfg = { (voz_cell_type)cf[0], (int)cf[1], (int)cf[2], (int)cf[3], (int)cf[4], (int)cf[5] };
    int T = (int)cf[6], B = (int)cf[7], C = cfg.classes, I = cfg.input_dim;
    assert_int_equal(voz_net_config_check(&cfg), VOZ_OK);
    int lens[16];
    assert_true(B <= 16);
    for (int b = 0; b < B; b++)
        lens[b] = (int)fx_get(&fx, "lens")->data[b];

    float *params = block_new(&cfg), *grads = block_new(&cfg);
    struct voz_net net, gnet;
    voz_net_bind(&net, &cfg, params);
    voz_net_bind(&gnet, &cfg, grads);
    int n_state = 0;
    for (int k = 0; k < fx.n; k++)
        if (!strncmp(fx.r[k].name, "rnn.", 4) || !strncmp(fx.r[k].name, "fc.", 3))
            n_state++;
    assert_int_equal(n_state, voz_net_num_tensors(&cfg));
    for (int k = 0; k < voz_net_num_tensors(&cfg); k++) {
        voz_tensor_info ti;
        voz_net_tensor(&cfg, k, &ti);
        const struct fx_rec *r = fx_get(&fx, ti.name);
        assert_int_equal(r->ndim, ti.ndim);
        for (int d = 0; d < ti.ndim; d++)
            assert_int_equal(r->shape[d], ti.shape[d]);
        memcpy(params + ti.offset, r->data, ti.numel * sizeof(float));
    }

    size_t TBC = (size_t)T * B * C, TBI = (size_t)T * B * I;
    float *lp = malloc(TBC * sizeof *lp), *dx = malloc(TBI * sizeof *dx);
    assert_non_null(lp);
    assert_non_null(dx);
    struct voz_net_ws *ws = voz_net_ws_create(&cfg, threads);
    assert_non_null(ws);
    assert_int_equal(voz_net_forward(&net, ws, fx_get(&fx, "x")->data, lens, T, B, lp, 1), VOZ_OK);
    char what[128];
    snprintf(what, sizeof what, "%s: logprobs", name);
    int ok = check_close(what, lp, fx_get(&fx, "logprobs")->data, TBC, 1e-5, 0);

    assert_int_equal(voz_net_backward(&net, ws, fx_get(&fx, "dlogits")->data, &gnet, dx), VOZ_OK);
    snprintf(what, sizeof what, "%s: grad.x", name);
    ok &= check_close(what, dx, fx_get(&fx, "grad.x")->data, TBI, 1e-4 * GRAD_FLOOR, 1e-4);
    for (int k = 0; k < voz_net_num_tensors(&cfg); k++) {
        voz_tensor_info ti;
        voz_net_tensor(&cfg, k, &ti);
        char gname[80];
        snprintf(gname, sizeof gname, "grad.%s", ti.name);
        snprintf(what, sizeof what, "%s: %s", name, gname);
        ok &= check_close(what, grads + ti.offset, fx_get(&fx, gname)->data, ti.numel, 1e-4 * GRAD_FLOOR, 1e-4);
    }
    /* padding of the gradient block stays zero */
    size_t end = 0;
    for (int k = 0; k < voz_net_num_tensors(&cfg); k++) {
        voz_tensor_info ti;
        voz_net_tensor(&cfg, k, &ti);
        assert_true(all_zero(grads + end, ti.offset - end));
        end = ti.offset + ti.numel;
    }
    assert_true(all_zero(grads + end, voz_net_num_floats(&cfg) - end));

    voz_net_ws_free(ws);
    free(lp);
    free(dx);
    voz_free_aligned(params);
    voz_free_aligned(grads);
    fx_free(&fx);
    assert_true(ok);
}

static void test_torch_lstm_bi2(void **st) { (void)st; run_torch_case("lstm_bi2", 1); }
static void test_torch_lstm_bi2_threads(void **st) { (void)st; run_torch_case("lstm_bi2", 2); }
static void test_torch_gru_bi2(void **st) { (void)st; run_torch_case("gru_bi2", 2); }
static void test_torch_rnn_tanh_bi2(void **st) { (void)st; run_torch_case("rnn_tanh_bi2", 2); }
static void test_torch_rnn_relu_bi2(void **st) { (void)st; run_torch_case("rnn_relu_bi2", 1); }
static void test_torch_lstm_uni1(void **st) { (void)st; run_torch_case("lstm_uni1", 1); }
static void test_torch_gru_uni1(void **st) { (void)st; run_torch_case("gru_uni1", 2); }

/* ---- finite differences -------------------------------------------------------------- */

/* L = sum over valid frames of R . logprobs, accumulated in double. Its gradient w.r.t.
   the logits z of a valid frame is R - softmax(z) * sum(R). */
static double fd_loss(struct tnet *t, struct voz_net_ws *ws, const float *x, const int *lens, int T, int B,
                      const float *R, float *lp, int keep)
{
    assert_int_equal(voz_net_forward(&t->net, ws, x, lens, T, B, lp, keep), VOZ_OK);
    double L = 0;
    for (int tt = 0; tt < T; tt++)
        for (int b = 0; b < B; b++)
            if (tt < lens[b])
                for (int k = 0; k < t->cfg.classes; k++) {
                    size_t o = ((size_t)tt * B + b) * t->cfg.classes + k;
                    L += (double)R[o] * lp[o];
                }
    return L;
}

/* Every parameter and every input value of a tiny 2-layer bidirectional net (and a
   1-layer unidirectional one) against central differences with step h = 1e-2 on
   float32 forwards. Tolerance |fd - analytic| <= 2e-3 + 1e-2 |analytic|: the float
   rounding of L divided by 2h is ~1e-4 and the O(h^2) truncation ~1e-4, while a wrong
   term in any gate gives errors of order 0.1. */
static void run_fd_dropout(voz_cell_type cell, int L, int bi, float dropout)
{
    const int I = 3, H = 3, C = 4, T = 5, B = 2;
    const int lens[2] = { 5, 3 };
    struct tnet t;
    tnet_make(&t, cell, I, H, L, bi, C, 77 + cell);
    float *params = t.params;
    size_t nf = voz_net_num_floats(&t.cfg), TBC = (size_t)T * B * C, TBI = (size_t)T * B * I;
    float x[5 * 2 * 3], R[5 * 2 * 4], lp[5 * 2 * 4], dl[5 * 2 * 4], dx[5 * 2 * 3];
    test_rng = 999 + cell;
    fill_rand(x, TBI, 1.0f);
    fill_rand(R, TBC, 1.0f);
    struct voz_net_ws *ws = voz_net_ws_create(&t.cfg, 1);
    assert_non_null(ws);
    /* With dropout the loss is that of the cached (training) forward, whose masks are a
       function of the seed: every perturbed forward below sees the same masks. */
    int cached = dropout > 0;
    if (cached) {
        float plain[5 * 2 * 4];
        assert_int_equal(voz_net_forward(&t.net, ws, x, lens, T, B, plain, 0), VOZ_OK);
        assert_int_equal(voz_net_ws_dropout(ws, dropout, 4242), VOZ_OK);
        assert_int_equal(voz_net_forward(&t.net, ws, x, lens, T, B, lp, 1), VOZ_OK);
        double diff = 0;
        for (size_t e = 0; e < TBC; e++)
            diff = fmax(diff, fabs((double)lp[e] - plain[e]));
        assert_true(diff > 1e-3); /* dropout did something to the training forward ... */
        assert_int_equal(voz_net_forward(&t.net, ws, x, lens, T, B, lp, 0), VOZ_OK);
        assert_memory_equal(lp, plain, sizeof plain); /* ... and nothing to inference */
    }

    assert_int_equal(voz_net_forward(&t.net, ws, x, lens, T, B, lp, 1), VOZ_OK);
    for (int tt = 0; tt < T; tt++)
        for (int b = 0; b < B; b++) {
            size_t o = ((size_t)tt * B + b) * C;
            double sr = 0;
            for (int k = 0; k < C; k++)
                sr += R[o + k];
            for (int k = 0; k < C; k++) /* padded frames get garbage: it must be ignored */
                dl[o + k] = tt < lens[b] ? (float)(R[o + k] - exp(lp[o + k]) * sr) : 100.0f;
        }
    float *g = block_new(&t.cfg);
    struct voz_net gn;
    voz_net_bind(&gn, &t.cfg, g);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &gn, dx), VOZ_OK);

    /* relu's kink: a smaller step so no pre-activation of this net crosses zero */
    const double h = cell == VOZ_CELL_RNN_RELU ? 1e-3 : 1e-2;
    float *num = calloc(nf, sizeof *num), *numx = calloc(TBI, sizeof *numx);
    assert_non_null(num);
    assert_non_null(numx);
    for (int k = 0; k < voz_net_num_tensors(&t.cfg); k++) {
        voz_tensor_info ti;
        voz_net_tensor(&t.cfg, k, &ti);
        for (size_t e = ti.offset; e < ti.offset + ti.numel; e++) {
            float keep = params[e];
            params[e] = (float)(keep + h);
            double lp1 = fd_loss(&t, ws, x, lens, T, B, R, lp, cached);
            params[e] = (float)(keep - h);
            double lm1 = fd_loss(&t, ws, x, lens, T, B, R, lp, cached);
            params[e] = keep;
            num[e] = (float)((lp1 - lm1) / (2 * h));
        }
    }
    for (size_t e = 0; e < TBI; e++) {
        float keep = x[e];
        x[e] = (float)(keep + h);
        double lp1 = fd_loss(&t, ws, x, lens, T, B, R, lp, cached);
        x[e] = (float)(keep - h);
        double lm1 = fd_loss(&t, ws, x, lens, T, B, R, lp, cached);
        x[e] = keep;
        numx[e] = (float)((lp1 - lm1) / (2 * h));
    }
    char what[64];
    snprintf(what, sizeof what, "fd %s L=%d bi=%d dropout=%g: params", voz_cell_name(cell), L, bi, dropout);
    int ok = check_close(what, g, num, nf, 2e-3, 1e-2);
    snprintf(what, sizeof what, "fd %s L=%d bi=%d dropout=%g: dx", voz_cell_name(cell), L, bi, dropout);
    ok &= check_close(what, dx, numx, TBI, 2e-3, 1e-2);
    /* padded input frames get no gradient */
    for (int tt = lens[1]; tt < T; tt++)
        assert_true(all_zero(dx + ((size_t)tt * B + 1) * I, (size_t)I));
    free(num);
    free(numx);
    voz_free_aligned(g);
    voz_net_ws_free(ws);
    tnet_free(&t);
    assert_true(ok);
}

static void run_fd(voz_cell_type cell, int L, int bi) { run_fd_dropout(cell, L, bi, 0.0f); }

/* Dropout between layers and before the head: the gradient of the dropped-out training
   forward, masks regenerated in backward. */
static void test_fd_dropout(void **st)
{
    (void)st;
    run_fd_dropout(VOZ_CELL_LSTM, 2, 1, 0.3f);
    run_fd_dropout(VOZ_CELL_GRU, 2, 1, 0.3f);
    run_fd_dropout(VOZ_CELL_RNN_TANH, 1, 0, 0.5f);
}

static void test_fd_lstm(void **st) { (void)st; run_fd(VOZ_CELL_LSTM, 2, 1); run_fd(VOZ_CELL_LSTM, 1, 0); }
static void test_fd_gru(void **st) { (void)st; run_fd(VOZ_CELL_GRU, 2, 1); run_fd(VOZ_CELL_GRU, 1, 0); }
static void test_fd_rnn_tanh(void **st) { (void)st; run_fd(VOZ_CELL_RNN_TANH, 2, 1); run_fd(VOZ_CELL_RNN_TANH, 1, 0); }
static void test_fd_rnn_relu(void **st) { (void)st; run_fd(VOZ_CELL_RNN_RELU, 2, 1); run_fd(VOZ_CELL_RNN_RELU, 1, 0); }

/* ---- properties -------------------------------------------------------------------------- */

/* Forward + backward of a random batch; outputs into caller arrays. */
static void fwd_bwd(struct tnet *t, struct voz_net_ws *ws, const float *x, const int *lens, int T, int B,
                    const float *dl, float *lp, float *g, float *dx)
{
    struct voz_net gn;
    voz_net_bind(&gn, &t->cfg, g);
    memset(g, 0, voz_net_num_floats(&t->cfg) * sizeof *g);
    assert_int_equal(voz_net_forward(&t->net, ws, x, lens, T, B, lp, 1), VOZ_OK);
    assert_int_equal(voz_net_backward(&t->net, ws, dl, &gn, dx), VOZ_OK);
}

/* threads = 1 and threads = 2 give bit-identical outputs and gradients */
static void test_threads_identical(void **st)
{
    (void)st;
    for (int cell = 0; cell < 4; cell++) {
        struct tnet t;
        tnet_make(&t, (voz_cell_type)cell, 6, 11, 3, 1, 7, 5 + cell);
        const int T = 40, B = 4, lens[4] = { 40, 12, 39, 1 };
        size_t TBC = (size_t)T * B * 7, TBI = (size_t)T * B * 6, nf = voz_net_num_floats(&t.cfg);
        float *x = malloc(TBI * 4), *dl = malloc(TBC * 4), *lp1 = malloc(TBC * 4), *lp2 = malloc(TBC * 4);
        float *dx1 = malloc(TBI * 4), *dx2 = malloc(TBI * 4), *g1 = block_new(&t.cfg), *g2 = block_new(&t.cfg);
        test_rng = 3;
        fill_rand(x, TBI, 1.0f);
        fill_rand(dl, TBC, 0.5f);
        struct voz_net_ws *w1 = voz_net_ws_create(&t.cfg, 1), *w2 = voz_net_ws_create(&t.cfg, 2);
        assert_non_null(w1);
        assert_non_null(w2);
        fwd_bwd(&t, w1, x, lens, T, B, dl, lp1, g1, dx1);
        fwd_bwd(&t, w2, x, lens, T, B, dl, lp2, g2, dx2);
        assert_memory_equal(lp1, lp2, TBC * 4);
        assert_memory_equal(dx1, dx2, TBI * 4);
        assert_memory_equal(g1, g2, nf * 4);
        voz_net_ws_free(w1);
        voz_net_ws_free(w2);
        free(x), free(dl), free(lp1), free(lp2), free(dx1), free(dx2);
        voz_free_aligned(g1);
        voz_free_aligned(g2);
        tnet_free(&t);
    }
}

/* Each sequence run alone (B = 1, T = its length) gives the outputs and input
   gradients it gets inside a padded batch; the batch's parameter gradient is the sum
   of the single ones. Different GEMM shapes round differently: tolerance 1e-5. */
static void test_batch_vs_single(void **st)
{
    (void)st;
    for (int cell = 0; cell < 4; cell++) {
        struct tnet t;
        const int I = 5, C = 6, T = 30, B = 3, lens[3] = { 17, 30, 9 };
        tnet_make(&t, (voz_cell_type)cell, I, 7, 2, 1, C, 40 + cell);
        size_t TBC = (size_t)T * B * C, TBI = (size_t)T * B * I, nf = voz_net_num_floats(&t.cfg);
        float *x = malloc(TBI * 4), *dl = malloc(TBC * 4), *lp = malloc(TBC * 4), *dx = malloc(TBI * 4);
        float *xs = malloc((size_t)T * I * 4), *dls = malloc((size_t)T * C * 4), *lps = malloc((size_t)T * C * 4);
        float *dxs = malloc((size_t)T * I * 4), *g = block_new(&t.cfg), *gs = block_new(&t.cfg);
        float *gsum = calloc(nf, 4), *lpb = malloc((size_t)T * C * 4), *dxb = malloc((size_t)T * I * 4);
        test_rng = 8;
        fill_rand(x, TBI, 1.0f);
        fill_rand(dl, TBC, 0.5f);
        struct voz_net_ws *ws = voz_net_ws_create(&t.cfg, 2);
        assert_non_null(ws);
        fwd_bwd(&t, ws, x, lens, T, B, dl, lp, g, dx);
        int ok = 1;
        for (int b = 0; b < B; b++) {
            int n = lens[b];
            for (int tt = 0; tt < n; tt++) {
                memcpy(xs + (size_t)tt * I, x + ((size_t)tt * B + b) * I, (size_t)I * 4);
                memcpy(dls + (size_t)tt * C, dl + ((size_t)tt * B + b) * C, (size_t)C * 4);
                memcpy(lpb + (size_t)tt * C, lp + ((size_t)tt * B + b) * C, (size_t)C * 4);
                memcpy(dxb + (size_t)tt * I, dx + ((size_t)tt * B + b) * I, (size_t)I * 4);
            }
            fwd_bwd(&t, ws, xs, NULL, n, 1, dls, lps, gs, dxs);
            for (size_t k = 0; k < nf; k++)
                gsum[k] += gs[k];
            char what[64];
            snprintf(what, sizeof what, "%s seq %d: logprobs", voz_cell_name((voz_cell_type)cell), b);
            ok &= check_close(what, lps, lpb, (size_t)n * C, 1e-5, 0);
            snprintf(what, sizeof what, "%s seq %d: dx", voz_cell_name((voz_cell_type)cell), b);
            ok &= check_close(what, dxs, dxb, (size_t)n * I, 1e-5, 1e-4);
            /* padded frames of the batch: logprobs and dx are exactly zero */
            for (int tt = n; tt < T; tt++) {
                ok &= all_zero(lp + ((size_t)tt * B + b) * C, (size_t)C);
                ok &= all_zero(dx + ((size_t)tt * B + b) * I, (size_t)I);
            }
        }
        ok &= check_close("batch grads = sum of single grads", g, gsum, nf, 1e-5, 1e-4);
        voz_net_ws_free(ws);
        free(x), free(dl), free(lp), free(dx), free(xs), free(dls), free(lps), free(dxs), free(gsum);
        free(lpb), free(dxb);
        voz_free_aligned(g);
        voz_free_aligned(gs);
        tnet_free(&t);
        assert_true(ok);
    }
}

/* One workspace through calls of varying T and B (growing and shrinking, with and
   without cache) reproduces a fresh workspace bit for bit. */
static void test_ws_reuse(void **st)
{
    (void)st;
    struct tnet t;
    const int I = 4, C = 5;
    tnet_make(&t, VOZ_CELL_LSTM, I, 6, 3, 1, C, 9);
    const int shapes[][2] = { { 20, 3 }, { 5, 1 }, { 60, 6 }, { 1, 2 }, { 20, 3 }, { 33, 2 } };
    size_t nf = voz_net_num_floats(&t.cfg), maxTB = 60 * 6;
    float *x = malloc(maxTB * I * 4), *dl = malloc(maxTB * C * 4), *lp1 = malloc(maxTB * C * 4);
    float *lp2 = malloc(maxTB * C * 4), *dx1 = malloc(maxTB * I * 4), *dx2 = malloc(maxTB * I * 4);
    float *g1 = block_new(&t.cfg), *g2 = block_new(&t.cfg);
    int lens[6];
    struct voz_net_ws *shared = voz_net_ws_create(&t.cfg, 2);
    assert_non_null(shared);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], B = shapes[s][1];
        for (int b = 0; b < B; b++)
            lens[b] = T - (b * 7) % T;
        test_rng = 100 + s;
        fill_rand(x, (size_t)T * B * I, 1.0f);
        fill_rand(dl, (size_t)T * B * C, 0.5f);
        if (s == 3) /* an inference-only call in between */
            assert_int_equal(voz_net_forward(&t.net, shared, x, lens, T, B, lp1, 0), VOZ_OK);
        fwd_bwd(&t, shared, x, lens, T, B, dl, lp1, g1, dx1);
        struct voz_net_ws *fresh = voz_net_ws_create(&t.cfg, 1);
        assert_non_null(fresh);
        fwd_bwd(&t, fresh, x, lens, T, B, dl, lp2, g2, dx2);
        voz_net_ws_free(fresh);
        assert_memory_equal(lp1, lp2, (size_t)T * B * C * 4);
        assert_memory_equal(dx1, dx2, (size_t)T * B * I * 4);
        assert_memory_equal(g1, g2, nf * 4);
        /* inference without cache gives the same log-probs */
        assert_int_equal(voz_net_forward(&t.net, shared, x, lens, T, B, lp2, 0), VOZ_OK);
        assert_memory_equal(lp1, lp2, (size_t)T * B * C * 4);
    }
    voz_net_ws_free(shared);
    free(x), free(dl), free(lp1), free(lp2), free(dx1), free(dx2);
    voz_free_aligned(g1);
    voz_free_aligned(g2);
    tnet_free(&t);
}

/* Backward adds into the gradient block: two calls give twice one call. */
static void test_backward_accumulates(void **st)
{
    (void)st;
    struct tnet t;
    tnet_make(&t, VOZ_CELL_GRU, 3, 4, 2, 1, 5, 21);
    const int T = 8, B = 2, lens[2] = { 8, 5 };
    size_t nf = voz_net_num_floats(&t.cfg);
    float x[8 * 2 * 3], dl[8 * 2 * 5], lp[8 * 2 * 5];
    test_rng = 4;
    fill_rand(x, sizeof x / 4, 1.0f);
    fill_rand(dl, sizeof dl / 4, 1.0f);
    float *g1 = block_new(&t.cfg), *g2 = block_new(&t.cfg);
    struct voz_net n1, n2;
    voz_net_bind(&n1, &t.cfg, g1);
    voz_net_bind(&n2, &t.cfg, g2);
    struct voz_net_ws *ws = voz_net_ws_create(&t.cfg, 1);
    assert_int_equal(voz_net_forward(&t.net, ws, x, lens, T, B, lp, 1), VOZ_OK);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &n1, NULL), VOZ_OK);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &n2, NULL), VOZ_OK);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &n2, NULL), VOZ_OK);
    for (size_t k = 0; k < nf; k++)
        g1[k] *= 2.0f;
    assert_true(check_close("2 x backward", g2, g1, nf, 1e-6, 1e-6));
    voz_net_ws_free(ws);
    voz_free_aligned(g1);
    voz_free_aligned(g2);
    tnet_free(&t);
}

/* Hand-solvable: a 1-unit RNN with zero recurrent weight and relu, h = relu(w x + b),
   two classes with logits (h, 0): log p0 = h - log(1 + e^h). */
static void test_hand_rnn(void **st)
{
    (void)st;
    voz_net_config c = { VOZ_CELL_RNN_RELU, 1, 1, 1, 0, 2 };
    float *p = block_new(&c);
    struct voz_net n;
    voz_net_bind(&n, &c, p);
    n.cell[0][0].w_ih[0] = 2.0f;
    n.cell[0][0].b_ih[0] = 0.25f;
    n.cell[0][0].b_hh[0] = 0.25f;
    n.fc_w[0] = 1.0f;
    struct voz_net_ws *ws = voz_net_ws_create(&c, 1);
    float x[3] = { 1.0f, -1.0f, 0.5f }, lp[6];
    assert_int_equal(voz_net_forward(&n, ws, x, NULL, 3, 1, lp, 0), VOZ_OK);
    for (int t = 0; t < 3; t++) {
        double h = fmax(0.0, 2.0 * x[t] + 0.5);
        assert_float_equal(lp[2 * t], h - log1p(exp(h)), 1e-6);
        assert_float_equal(lp[2 * t + 1], -log1p(exp(h)), 1e-6);
    }
    voz_net_ws_free(ws);
    voz_free_aligned(p);
}

/* ---- configuration, layout, initialisation ------------------------------------------- */

static void test_config_check(void **st)
{
    (void)st;
    voz_net_config ok = { VOZ_CELL_LSTM, 39, 128, 2, 1, 12 };
    assert_int_equal(voz_net_config_check(&ok), VOZ_OK);
    assert_int_equal(voz_net_config_check(NULL), VOZ_ERR_INVALID);
    struct { voz_net_config c; const char *why; } bad[] = {
        { { (voz_cell_type)4, 39, 128, 2, 1, 12 }, "cell" },
        { { (voz_cell_type)-1, 39, 128, 2, 1, 12 }, "cell" },
        { { VOZ_CELL_GRU, 0, 128, 2, 1, 12 }, "input_dim" },
        { { VOZ_CELL_GRU, VOZ_NET_MAX_DIM + 1, 128, 2, 1, 12 }, "input_dim" },
        { { VOZ_CELL_GRU, 39, 0, 2, 1, 12 }, "hidden" },
        { { VOZ_CELL_GRU, 39, -5, 2, 1, 12 }, "hidden" },
        { { VOZ_CELL_GRU, 39, VOZ_NET_MAX_HIDDEN + 1, 2, 1, 12 }, "hidden" },
        { { VOZ_CELL_RNN_TANH, 39, 128, 0, 1, 12 }, "layers" },
        { { VOZ_CELL_RNN_TANH, 39, 128, VOZ_NET_MAX_LAYERS + 1, 1, 12 }, "layers" },
        { { VOZ_CELL_RNN_RELU, 39, 128, 2, 2, 12 }, "bidirectional" },
        { { VOZ_CELL_RNN_RELU, 39, 128, 2, -1, 12 }, "bidirectional" },
        { { VOZ_CELL_LSTM, 39, 128, 2, 1, 1 }, "classes" },
        { { VOZ_CELL_LSTM, 39, 128, 2, 1, VOZ_NET_MAX_DIM + 1 }, "classes" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        voz_clear_error();
        assert_int_equal(voz_net_config_check(&bad[k].c), VOZ_ERR_INVALID);
        if (!strstr(voz_last_error(), bad[k].why))
            fail_msg("config %zu: message '%s' does not name '%s'", k, voz_last_error(), bad[k].why);
        assert_null(voz_net_ws_create(&bad[k].c, 1));
        /* nothing is ever sized from a refused config */
        assert_int_equal(voz_net_num_tensors(&bad[k].c), 0);
        assert_int_equal(voz_net_num_floats(&bad[k].c), 0);
        assert_int_equal(voz_net_num_weights(&bad[k].c), 0);
        assert_int_equal(voz_net_gate_rows(&bad[k].c), 0);
    }
    voz_tensor_info none;
    voz_net_tensor(&ok, voz_net_num_tensors(&ok), &none);
    assert_int_equal(none.numel, 0);
    voz_net_tensor(&ok, -1, &none);
    assert_int_equal(none.numel, 0);
    assert_null(voz_net_ws_create(&ok, 3));

    voz_cell_type t;
    const char *names[] = { "lstm", "gru", "rnn_tanh", "rnn_relu" };
    for (int k = 0; k < 4; k++) {
        assert_int_equal(voz_cell_parse(names[k], &t), 0);
        assert_int_equal(t, k);
        assert_string_equal(voz_cell_name((voz_cell_type)k), names[k]);
    }
    assert_int_equal(voz_cell_parse("rnn", &t), 0);
    assert_int_equal(t, VOZ_CELL_RNN_TANH);
    assert_int_equal(voz_cell_parse("LSTM", &t), -1);
    assert_int_equal(voz_cell_parse("", &t), -1);
    assert_int_equal(voz_cell_parse(NULL, &t), -1);
    voz_net_config g = ok;
    assert_int_equal(voz_net_gate_rows(&g), 512);
    g.cell = VOZ_CELL_GRU;
    assert_int_equal(voz_net_gate_rows(&g), 384);
    g.cell = VOZ_CELL_RNN_RELU;
    assert_int_equal(voz_net_gate_rows(&g), 128);
}

static void test_layout(void **st)
{
    (void)st;
    voz_net_config c = { VOZ_CELL_GRU, 13, 5, 3, 1, 7 };
    const char *expect[] = {
        "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
        "rnn.weight_ih_l0_reverse", "rnn.weight_hh_l0_reverse", "rnn.bias_ih_l0_reverse", "rnn.bias_hh_l0_reverse",
        "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1",
        "rnn.weight_ih_l1_reverse", "rnn.weight_hh_l1_reverse", "rnn.bias_ih_l1_reverse", "rnn.bias_hh_l1_reverse",
        "rnn.weight_ih_l2", "rnn.weight_hh_l2", "rnn.bias_ih_l2", "rnn.bias_hh_l2",
        "rnn.weight_ih_l2_reverse", "rnn.weight_hh_l2_reverse", "rnn.bias_ih_l2_reverse", "rnn.bias_hh_l2_reverse",
        "fc.weight", "fc.bias",
    };
    assert_int_equal(voz_net_num_tensors(&c), 26);
    float *blk = block_new(&c);
    struct voz_net n;
    voz_net_bind(&n, &c, blk);
    size_t end = 0, weights = 0;
    for (int k = 0; k < 26; k++) {
        voz_tensor_info ti;
        voz_net_tensor(&c, k, &ti);
        assert_string_equal(ti.name, expect[k]);
        assert_int_equal(ti.offset % 16, 0);
        assert_true(ti.offset >= end);
        assert_true(ti.offset - end < 16);
        end = ti.offset + ti.numel;
        weights += ti.numel;
        int kind = k % 4, l = k / 8, d = (k / 4) % 2;
        if (k < 24) {
            size_t in = l == 0 ? 13 : 10;
            const float *view[4] = { n.cell[l][d].w_ih, n.cell[l][d].w_hh, n.cell[l][d].b_ih, n.cell[l][d].b_hh };
            assert_ptr_equal(view[kind], blk + ti.offset);
            assert_int_equal(ti.ndim, kind < 2 ? 2 : 1);
            assert_int_equal(ti.shape[0], 15);
            if (kind < 2)
                assert_int_equal(ti.shape[1], kind == 0 ? in : 5);
            assert_int_equal(ti.numel, kind == 0 ? 15 * in : kind == 1 ? 75 : 15);
        } else if (k == 24) {
            assert_ptr_equal(n.fc_w, blk + ti.offset);
            assert_int_equal(ti.shape[0], 7);
            assert_int_equal(ti.shape[1], 10);
        } else {
            assert_ptr_equal(n.fc_b, blk + ti.offset);
            assert_int_equal(ti.numel, 7);
        }
    }
    assert_int_equal(voz_net_num_weights(&c), weights);
    assert_true(voz_net_num_floats(&c) >= end);
    assert_true(voz_net_num_floats(&c) - end < 16);
    /* unidirectional: D = H */
    voz_net_config u = { VOZ_CELL_LSTM, 2, 3, 2, 0, 4 };
    voz_tensor_info ti;
    voz_net_tensor(&u, 4, &ti);
    assert_string_equal(ti.name, "rnn.weight_ih_l1");
    assert_int_equal(ti.shape[0], 12);
    assert_int_equal(ti.shape[1], 3);
    voz_net_tensor(&u, 8, &ti);
    assert_string_equal(ti.name, "fc.weight");
    assert_int_equal(ti.shape[1], 3);
    voz_free_aligned(blk);
}

static void test_init(void **st)
{
    (void)st;
    for (int cell = 0; cell < 4; cell++) {
        voz_net_config c = { (voz_cell_type)cell, 9, 12, 2, 1, 5 };
        size_t nf = voz_net_num_floats(&c);
        float *a = block_new(&c), *b = block_new(&c);
        for (size_t k = 0; k < nf; k++)
            a[k] = b[k] = NAN; /* init must overwrite everything, padding included */
        struct voz_net na, nb;
        voz_net_bind(&na, &c, a);
        voz_net_bind(&nb, &c, b);
        voz_net_init(&na, 42);
        voz_net_init(&nb, 42);
        assert_memory_equal(a, b, nf * 4);
        voz_net_init(&nb, 43);
        assert_memory_not_equal(a, b, nf * 4);
        int H = c.hidden, G = voz_net_gate_rows(&c);
        double bound = 1.0 / sqrt(H);
        size_t end = 0;
        for (int k = 0; k < voz_net_num_tensors(&c); k++) {
            voz_tensor_info ti;
            voz_net_tensor(&c, k, &ti);
            assert_true(all_zero(a + end, ti.offset - end));
            end = ti.offset + ti.numel;
        }
        assert_true(all_zero(a + end, nf - end));
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++) {
                const struct voz_net_layer_view *v = &na.cell[l][d];
                size_t nin = (size_t)G * (l ? 24 : 9);
                double m = 0;
                for (size_t k = 0; k < nin; k++) {
                    assert_true(fabs(v->w_ih[k]) <= bound);
                    m = fmax(m, fabs(v->w_ih[k]));
                }
                assert_true(m > 0.8 * bound); /* really spread over the interval */
                for (int g = 0; g < G / H; g++) { /* each gate block W W^T = identity */
                    const float *w = v->w_hh + (size_t)g * H * H;
                    for (int i = 0; i < H; i++)
                        for (int j = 0; j < H; j++) {
                            double dot = 0;
                            for (int k = 0; k < H; k++)
                                dot += (double)w[i * H + k] * w[j * H + k];
                            assert_float_equal(dot, i == j ? 1.0 : 0.0, 1e-5);
                        }
                }
                for (int g = 0; g < G; g++) {
                    float want = cell == VOZ_CELL_LSTM && g >= H && g < 2 * H ? 1.0f : 0.0f;
                    assert_true(v->b_ih[g] == want);
                    assert_true(v->b_hh[g] == 0.0f);
                }
            }
        double xb = sqrt(6.0 / (5 + 24)), m = 0;
        for (int k = 0; k < 5 * 24; k++) {
            assert_true(fabs(na.fc_w[k]) <= xb);
            m = fmax(m, fabs(na.fc_w[k]));
        }
        assert_true(m > 0.7 * xb);
        assert_true(all_zero(na.fc_b, 5));
        voz_free_aligned(a);
        voz_free_aligned(b);
    }
}

static void test_bad_calls(void **st)
{
    (void)st;
    struct tnet t, o;
    tnet_make(&t, VOZ_CELL_LSTM, 3, 4, 1, 1, 5, 1);
    tnet_make(&o, VOZ_CELL_LSTM, 3, 5, 1, 1, 5, 1);
    struct voz_net_ws *ws = voz_net_ws_create(&t.cfg, 1);
    float x[4 * 2 * 3] = { 0 }, lp[4 * 2 * 5], dl[4 * 2 * 5] = { 0 };
    int lens_bad[2] = { 4, 5 }, lens_neg[2] = { -1, 2 };
    assert_int_equal(voz_net_forward(&t.net, ws, x, lens_bad, 4, 2, lp, 1), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "lens[1]"));
    assert_int_equal(voz_net_forward(&t.net, ws, x, lens_neg, 4, 2, lp, 1), VOZ_ERR_INVALID);
    assert_int_equal(voz_net_forward(&t.net, ws, x, NULL, 4, 0, lp, 1), VOZ_ERR_INVALID);
    assert_int_equal(voz_net_forward(&o.net, ws, x, NULL, 4, 2, lp, 1), VOZ_ERR_INVALID);
    /* no cached forward: backward refuses */
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &t.net, NULL), VOZ_ERR_INVALID);
    assert_int_equal(voz_net_forward(&t.net, ws, x, NULL, 4, 2, lp, 0), VOZ_OK);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &t.net, NULL), VOZ_ERR_INVALID);
    /* gradients of another shape */
    assert_int_equal(voz_net_forward(&t.net, ws, x, NULL, 4, 2, lp, 1), VOZ_OK);
    assert_int_equal(voz_net_backward(&t.net, ws, dl, &o.net, NULL), VOZ_ERR_INVALID);
    /* T = 0 is an empty, valid call; all-padding batches give zeros */
    assert_int_equal(voz_net_forward(&t.net, ws, x, NULL, 0, 2, lp, 1), VOZ_OK);
    int zero[2] = { 0, 0 };
    assert_int_equal(voz_net_forward(&t.net, ws, x, zero, 4, 2, lp, 1), VOZ_OK);
    assert_true(all_zero(lp, sizeof lp / 4));
    voz_net_ws_free(ws);
    voz_net_ws_free(NULL);
    tnet_free(&t);
    tnet_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_hand_rnn),
        cmocka_unit_test(test_torch_lstm_bi2),
        cmocka_unit_test(test_torch_lstm_bi2_threads),
        cmocka_unit_test(test_torch_gru_bi2),
        cmocka_unit_test(test_torch_rnn_tanh_bi2),
        cmocka_unit_test(test_torch_rnn_relu_bi2),
        cmocka_unit_test(test_torch_lstm_uni1),
        cmocka_unit_test(test_torch_gru_uni1),
        cmocka_unit_test(test_fd_lstm),
        cmocka_unit_test(test_fd_gru),
        cmocka_unit_test(test_fd_rnn_tanh),
        cmocka_unit_test(test_fd_rnn_relu),
        cmocka_unit_test(test_fd_dropout),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_batch_vs_single),
        cmocka_unit_test(test_ws_reuse),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
