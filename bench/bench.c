/* bench/bench.c — the voz side of `make bench`. It writes the inputs both sides share
   (audio, features, labels, log-probabilities, network parameters), times each case on
   the voz library, measures the machine's sgemm peak and builds the one-hour file for
   the transcription case (plus its WER); `parts` times the pieces of a case in isolation
   for the analysis in bench/RESULTS.md. bench/run.sh drives it next to ref_*.py.
   Shapes follow acoustic/net.h: B batch, T frames, I input size, H hidden size, G gate
   rows, D = H * dirs, C classes, L label length; activations are time-major [T][B][*]. */
#include "voz.h"
#include "common/util.h"
#include "frontend/mfcc.h"
#include "acoustic/net.h"
#include "acoustic/model_file.h"
#include "acoustic/optim.h"
#include "decoder/ctc.h"

#include <cblas.h>
#include <kiss_fftr.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the benchmark shapes (the issue fixes them; ref_*.py read them from shapes.txt) -- */
enum {
    MFCC_RATE = 16000, MFCC_SECONDS = 60,
    NET_I = 40, NET_H = 256, NET_LAYERS = 2, NET_C = 29,
    FWD_T = 1000, FWD_B = 1,
    TRAIN_T = 300, TRAIN_B = 16, TRAIN_L = 40,
    BLANK = 0
};
#define CLIP_NORM 5.0f   /* global gradient-norm clip of the training step */
#define ADAM_LR 1e-3f

static _Noreturn void die(int code, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static void check(voz_status s, const char *what)
{
    if (s != VOZ_OK)
        die(1, "%s: %s", what, voz_last_error()[0] ? voz_last_error() : voz_status_str(s));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die(1, "out of memory (%zu bytes)", n);
    return p;
}

/* ---- deterministic inputs: xorshift64*, uniform and Gaussian ------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static void rng_seed(uint64_t s) { rng_state = s ? s : 1; }
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static double rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

/* ---- files: raw little-endian float32 / int32 in the shared input folder ------------ */

static void write_raw(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct voz_atomic_file af;
    check(voz_atomic_open(&af, path), path);
    if (fwrite(data, 1, bytes, af.fp) != bytes) {
        voz_atomic_abort(&af);
        die(1, "%s: write failed: %s", path, strerror(errno));
    }
    check(voz_atomic_commit(&af), path);
}

/* Reads exactly `bytes` bytes or dies naming the file and the sizes. */
static void *read_raw(const char *dir, const char *name, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        die(1, "%s: %s (run 'bench gen %s' first)", path, strerror(errno), dir);
    void *p = xmalloc(bytes);
    size_t got = fread(p, 1, bytes, fp);
    int extra = fgetc(fp);
    fclose(fp);
    if (got != bytes || extra != EOF)
        die(1, "%s: expected %zu bytes, found %s%zu", path, bytes, extra != EOF ? "more than " : "", got);
    return p;
}

/* ---- network shapes and parameters -------------------------------------------------- */

static voz_net_config net_config(voz_cell_type cell)
{
    voz_net_config c = { .cell = cell, .input_dim = NET_I, .hidden = NET_H, .layers = NET_LAYERS,
                         .bidirectional = 1, .classes = NET_C };
    return c;
}

/* FLOPs of one forward pass (multiply-adds counted as 2): input projection, recurrent
   product and the dense layer; gate nonlinearities and log-softmax are left out. */
static double net_forward_flops(const voz_net_config *c, int T, int B)
{
    double G = voz_net_gate_rows(c), H = c->hidden, dirs = c->bidirectional ? 2 : 1, f = 0;
    for (int l = 0; l < c->layers; l++) {
        double in = l == 0 ? c->input_dim : H * dirs;
        f += dirs * (2 * G * in + 2 * G * H);
    }
    f += 2.0 * c->classes * H * dirs;
    return f * T * B;
}

/* PyTorch's default initialisation shape (uniform +-1/sqrt(fan)) from our own generator,
   so the block is the same on both sides and padding stays zero. */
static float *net_params_make(const voz_net_config *c, uint64_t seed)
{
    size_t n = voz_net_num_floats(c);
    float *p = voz_alloc_aligned(n * sizeof *p);
    if (!p)
        die(1, "out of memory for %zu parameters", n);
    rng_seed(seed);
    int nt = voz_net_num_tensors(c);
    for (int k = 0; k < nt; k++) {
        voz_tensor_info ti;
        voz_net_tensor(c, k, &ti);
        double fan = strncmp(ti.name, "fc.", 3) == 0 ? (double)c->hidden * (c->bidirectional ? 2 : 1)
                                                      : (double)c->hidden;
        double a = 1.0 / sqrt(fan);
        for (size_t i = 0; i < ti.numel; i++)
            p[ti.offset + i] = (float)((2 * rng_uniform() - 1) * a);
    }
    return p;
}

/* The tensor table as text for the reference side: name offset numel ndim shape0 shape1. */
static void net_params_export(const char *dir, const char *tag, const voz_net_config *c, const float *p)
{
    char name[64], path[4096];
    snprintf(name, sizeof name, "%s.params.f32", tag);
    write_raw(dir, name, p, voz_net_num_floats(c) * sizeof *p);
    snprintf(path, sizeof path, "%s/%s.tensors.tsv", dir, tag);
    struct voz_atomic_file af;
    check(voz_atomic_open(&af, path), path);
    int nt = voz_net_num_tensors(c);
    for (int k = 0; k < nt; k++) {
        voz_tensor_info ti;
        voz_net_tensor(c, k, &ti);
        fprintf(af.fp, "%s\t%zu\t%zu\t%d\t%zu\t%zu\n", ti.name, ti.offset, ti.numel, ti.ndim,
                ti.shape[0], ti.ndim > 1 ? ti.shape[1] : (size_t)1);
    }
    check(voz_atomic_commit(&af), path);
}

/* ---- bench gen DIR: every input the cases read ------------------------------------- */

/* 60 s of voiced, syllable-like sound: a harmonic source whose pitch glides between
   100 and 220 Hz, shaped by a 4 Hz envelope, plus a little noise; peak about 0.5. */
static float *make_audio(size_t n, int rate)
{
    float *a = xmalloc(n * sizeof *a);
    rng_seed(7);
    double phase = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        double f0 = 160 + 60 * sin(2 * M_PI * 0.3 * t);
        phase += 2 * M_PI * f0 / rate;
        double env = 0.5 * (1 - cos(2 * M_PI * 4 * t));
        double s = 0;
        for (int h = 1; h <= 12; h++)
            s += sin(h * phase) / h;
        a[i] = (float)(0.08 * env * s + 0.003 * rng_gauss());
    }
    return a;
}

static void log_softmax_rows(float *x, size_t rows, int C)
{
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * C;
        double m = v[0], s = 0;
        for (int k = 1; k < C; k++)
            m = v[k] > m ? v[k] : m;
        for (int k = 0; k < C; k++)
            s += exp(v[k] - m);
        double lse = m + log(s);
        for (int k = 0; k < C; k++)
            v[k] = (float)(v[k] - lse);
    }
}

static void cmd_gen(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        die(1, "%s: cannot create: %s", dir, strerror(errno));
    size_t na = (size_t)MFCC_RATE * MFCC_SECONDS;
    float *audio = make_audio(na, MFCC_RATE);
    write_raw(dir, "audio.f32", audio, na * sizeof *audio);
    free(audio);

    /* Features are CMVN'ed in real use, so unit Gaussians are the honest input. */
    size_t nf = (size_t)FWD_T * FWD_B * NET_I, nt = (size_t)TRAIN_T * TRAIN_B * NET_I;
    float *x = xmalloc((nf > nt ? nf : nt) * sizeof *x);
    rng_seed(11);
    for (size_t i = 0; i < nf; i++)
        x[i] = (float)rng_gauss();
    write_raw(dir, "x_fwd.f32", x, nf * sizeof *x);
    for (size_t i = 0; i < nt; i++)
        x[i] = (float)rng_gauss();
    write_raw(dir, "x_train.f32", x, nt * sizeof *x);
    free(x);

    int32_t labels[TRAIN_B * TRAIN_L];
    rng_seed(13);
    for (int i = 0; i < TRAIN_B * TRAIN_L; i++)
        labels[i] = 1 + (int32_t)(rng_next() % (NET_C - 1));
    write_raw(dir, "labels.i32", labels, sizeof labels);

    size_t nl = (size_t)TRAIN_T * TRAIN_B * NET_C;
    float *lp = xmalloc(nl * sizeof *lp);
    rng_seed(17);
    for (size_t i = 0; i < nl; i++)
        lp[i] = (float)(2 * rng_gauss());
    log_softmax_rows(lp, (size_t)TRAIN_T * TRAIN_B, NET_C);
    write_raw(dir, "ctc_logprobs.f32", lp, nl * sizeof *lp);
    free(lp);

    const voz_cell_type cells[2] = { VOZ_CELL_LSTM, VOZ_CELL_GRU };
    for (int k = 0; k < 2; k++) {
        voz_net_config c = net_config(cells[k]);
        check(voz_net_config_check(&c), "net config");
        float *p = net_params_make(&c, 100 + k);
        net_params_export(dir, voz_cell_name(cells[k]), &c, p);
        voz_free_aligned(p);
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/shapes.txt", dir);
    struct voz_atomic_file af;
    check(voz_atomic_open(&af, path), path);
    fprintf(af.fp, "mfcc_rate %d\nmfcc_seconds %d\nI %d\nH %d\nlayers %d\nC %d\nfwd_T %d\nfwd_B %d\n"
                   "train_T %d\ntrain_B %d\ntrain_L %d\nblank %d\nclip_norm %g\nadam_lr %g\n",
            MFCC_RATE, MFCC_SECONDS, NET_I, NET_H, NET_LAYERS, NET_C, FWD_T, FWD_B, TRAIN_T, TRAIN_B,
            TRAIN_L, BLANK, (double)CLIP_NORM, (double)ADAM_LR);
    check(voz_atomic_commit(&af), path);
}

/* ---- timing ------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef void (*case_fn)(void *ctx);

/* One untimed warm-up call, then `reps` timed calls; returns the median in ms and the
   spread (min, max) through the pointers. */
static double time_case(case_fn fn, void *ctx, int reps, double *mn, double *mx)
{
    double t[256];
    if (reps > 256)
        reps = 256;
    fn(ctx);
    for (int r = 0; r < reps; r++) {
        double t0 = voz_now();
        fn(ctx);
        t[r] = (voz_now() - t0) * 1e3;
    }
    double lo = t[0], hi = t[0];
    for (int r = 1; r < reps; r++) {
        lo = t[r] < lo ? t[r] : lo;
        hi = t[r] > hi ? t[r] : hi;
    }
    *mn = lo;
    *mx = hi;
    return median(t, reps);
}

/* ---- case: mfcc ---------------------------------------------------------------------- */

/* The offline feature driver on a workspace of THREADS computers (2: the frames are
   split in two halves, as torch splits its work over its threads). The workspace is
   created once, as a transcription keeps it across segments; each call still computes
   every frame from the samples. */
struct mfcc_ctx {
    voz_feature_params p;
    struct voz_features_ws *ws;
    const float *pcm;
    size_t n;
    const float *feats; /* last result [T][13], inside ws */
    size_t T;
};

static void run_mfcc(void *v)
{
    struct mfcc_ctx *c = v;
    check(voz_features_ws_compute(c->ws, c->pcm, c->n, &c->feats, &c->T), "mfcc");
}

/* ---- cases: bilstm_forward, gru_forward ------------------------------------------- */

struct fwd_ctx {
    struct voz_net net;
    struct voz_net_ws *ws;
    const float *x;
    float *out; /* [T][B][C] */
};

static void run_fwd(void *v)
{
    struct fwd_ctx *c = v;
    check(voz_net_forward(&c->net, c->ws, c->x, NULL, FWD_T, FWD_B, c->out, 0), "net forward");
}

/* ---- CTC over a batch, split across threads by sequence ----------------------------- */

struct ctc_job {
    const float *lp;     /* [T][B][C] */
    const int *labels;   /* [B][L] */
    float *dlogits;      /* [T][B][C] or NULL */
    double *loss;        /* [B] */
    int b0, b1, T, B;
};

static void *ctc_worker(void *v)
{
    struct ctc_job *j = v;
    size_t stride = (size_t)j->B * NET_C;
    for (int b = j->b0; b < j->b1; b++)
        j->loss[b] = voz_ctc_loss(j->lp + (size_t)b * NET_C, j->T, NET_C, stride,
                                  j->labels + (size_t)b * TRAIN_L, TRAIN_L, BLANK,
                                  j->dlogits ? j->dlogits + (size_t)b * NET_C : NULL);
    return NULL;
}

/* Sum of the B losses. With threads = 2 the second half of the batch runs on a second
   thread, as torch's ctc_loss splits its batch over its intra-op threads. */
static double ctc_batch(const float *lp, const int *labels, float *dlogits, int T, int B, int threads)
{
    double loss[TRAIN_B];
    struct ctc_job j[2] = {
        { lp, labels, dlogits, loss, 0, threads > 1 ? B / 2 : B, T, B },
        { lp, labels, dlogits, loss, B / 2, B, T, B },
    };
    pthread_t th;
    int spawned = threads > 1 && pthread_create(&th, NULL, ctc_worker, &j[1]) == 0;
    if (threads > 1 && !spawned)
        j[0].b1 = B;
    ctc_worker(&j[0]);
    if (spawned)
        pthread_join(th, NULL);
    double s = 0;
    for (int b = 0; b < B; b++)
        s += loss[b];
    return s;
}

struct ctc_ctx {
    const float *lp;
    const int *labels;
    float *dlogits;
    int threads;
    double loss;
};

static void run_ctc(void *v)
{
    struct ctc_ctx *c = v;
    c->loss = ctc_batch(c->lp, c->labels, c->dlogits, TRAIN_T, TRAIN_B, c->threads);
}

/* ---- case: train_step --------------------------------------------------------------- */

struct train_ctx {
    voz_net_config cfg;
    struct voz_net net, grad;          /* params and gradients (same layout) */
    float *pblock, *gblock;
    struct voz_optim opt;              /* Adam moments */
    struct voz_net_ws *ws;
    const float *x;      /* [T][B][I] */
    const int *labels;   /* [B][L] */
    float *lp, *dlogits; /* [T][B][C] */
    int threads;
    double first_loss;   /* mean loss of the first step, for the cross-check */
    int steps;
};

/* The same step as ref_nets.py and as train/trainer.c's train_batch(): forward with
   cache, CTC (sum over the batch / B), zero the gradients, backward, clip the global
   norm, one Adam update. The trainer's safety net (parameter backup and finiteness
   scans around the update) is left out: torch's step has no counterpart. */
static void run_train(void *v)
{
    struct train_ctx *c = v;
    size_t nf = voz_net_num_floats(&c->cfg), nl = (size_t)TRAIN_T * TRAIN_B * NET_C;
    check(voz_net_forward(&c->net, c->ws, c->x, NULL, TRAIN_T, TRAIN_B, c->lp, 1), "train forward");
    /* CTC on the calling thread, as train/trainer.c's train_batch() does it */
    double loss = ctc_batch(c->lp, c->labels, c->dlogits, TRAIN_T, TRAIN_B, 1) / TRAIN_B;
    const float inv_b = 1.0f / TRAIN_B;
    for (size_t i = 0; i < nl; i++)
        c->dlogits[i] *= inv_b;
    memset(c->gblock, 0, nf * sizeof *c->gblock);
    check(voz_net_backward(&c->net, c->ws, c->dlogits, &c->grad, NULL), "train backward");
    voz_optim_clip(c->gblock, nf, CLIP_NORM);
    voz_optim_step(&c->opt, c->pblock, c->gblock, ADAM_LR);
    if (c->steps++ == 0)
        c->first_loss = loss;
}

/* ---- bench run CASE THREADS REPS DIR ------------------------------------------------ */

/* Set before a net workspace is created: voz_net_ws_create() then applies the library's
   own policy (it keeps OpenBLAS at one thread and runs the two directions side by side);
   `report` records the BLAS thread count in effect during the timed runs. */
static void set_blas_threads(int threads) { openblas_set_num_threads(threads); }

static void report(const char *name, int threads, double ms, double mn, double mx, double gflop,
                   double check_value)
{
    /* case, threads, median ms, min, max, GFLOP of the work, a value the reference
       checks, OpenBLAS threads in effect */
    printf("%s\t%d\t%.4f\t%.4f\t%.4f\t%.6f\t%.9g\t%d\n", name, threads, ms, mn, mx, gflop, check_value,
           openblas_get_num_threads());
}

static void cmd_run(const char *name, int threads, int reps, const char *dir)
{
    double ms, mn, mx;
    char out_name[128];
    snprintf(out_name, sizeof out_name, "voz_%s.f32", name);
    set_blas_threads(threads);

    if (!strcmp(name, "mfcc")) {
        size_t n = (size_t)MFCC_RATE * MFCC_SECONDS;
        struct mfcc_ctx c = { .p = voz_feature_default_params(), .n = n };
        c.p.sample_rate = MFCC_RATE;
        c.p.dither = 0;
        c.p.delta_order = 0;
        c.p.cmvn = VOZ_CMVN_NONE;
        c.pcm = read_raw(dir, "audio.f32", n * sizeof(float));
        check(voz_features_ws_create(&c.p, threads, &c.ws), "mfcc");
        ms = time_case(run_mfcc, &c, reps, &mn, &mx);
        write_raw(dir, out_name, c.feats, c.T * (size_t)c.p.num_ceps * sizeof(float));
        /* About 25 kflop a frame (FFT, power, mel, DCT); it is not an sgemm-shaped case. */
        report(name, threads, ms, mn, mx, 0, (double)c.T);
        voz_features_ws_free(c.ws);
        free((void *)c.pcm);
    } else if (!strcmp(name, "bilstm_forward") || !strcmp(name, "gru_forward")) {
        voz_cell_type cell = name[0] == 'b' ? VOZ_CELL_LSTM : VOZ_CELL_GRU;
        voz_net_config cfg = net_config(cell);
        char pname[64];
        snprintf(pname, sizeof pname, "%s.params.f32", voz_cell_name(cell));
        size_t nf = voz_net_num_floats(&cfg);
        float *tmp = read_raw(dir, pname, nf * sizeof(float));
        float *p = voz_alloc_aligned(nf * sizeof *p);
        if (!p)
            die(1, "out of memory");
        memcpy(p, tmp, nf * sizeof *p);
        free(tmp);
        struct fwd_ctx c;
        voz_net_bind(&c.net, &cfg, p);
        c.ws = voz_net_ws_create(&cfg, threads);
        if (!c.ws)
            die(1, "net workspace: %s", voz_last_error());
        size_t nx = (size_t)FWD_T * FWD_B * NET_I, no = (size_t)FWD_T * FWD_B * NET_C;
        c.x = read_raw(dir, "x_fwd.f32", nx * sizeof(float));
        c.out = xmalloc(no * sizeof *c.out);
        ms = time_case(run_fwd, &c, reps, &mn, &mx);
        write_raw(dir, out_name, c.out, no * sizeof *c.out);
        report(name, threads, ms, mn, mx, net_forward_flops(&cfg, FWD_T, FWD_B) * 1e-9, c.out[0]);
        voz_net_ws_free(c.ws);
        voz_free_aligned(p);
        free((void *)c.x);
        free(c.out);
    } else if (!strcmp(name, "ctc_loss")) {
        size_t nl = (size_t)TRAIN_T * TRAIN_B * NET_C;
        struct ctc_ctx c = { .threads = threads };
        c.lp = read_raw(dir, "ctc_logprobs.f32", nl * sizeof(float));
        c.labels = read_raw(dir, "labels.i32", (size_t)TRAIN_B * TRAIN_L * sizeof(int32_t));
        c.dlogits = xmalloc(nl * sizeof *c.dlogits);
        ms = time_case(run_ctc, &c, reps, &mn, &mx);
        write_raw(dir, out_name, c.dlogits, nl * sizeof *c.dlogits);
        report(name, threads, ms, mn, mx, 0, c.loss);
        free((void *)c.lp);
        free((void *)c.labels);
        free(c.dlogits);
    } else if (!strcmp(name, "train_step")) {
        struct train_ctx c = { .cfg = net_config(VOZ_CELL_LSTM), .threads = threads };
        size_t nf = voz_net_num_floats(&c.cfg), nl = (size_t)TRAIN_T * TRAIN_B * NET_C;
        float *tmp = read_raw(dir, "lstm.params.f32", nf * sizeof(float));
        c.pblock = voz_alloc_aligned(nf * sizeof(float));
        c.gblock = voz_alloc_aligned(nf * sizeof(float));
        if (!c.pblock || !c.gblock)
            die(1, "out of memory");
        memcpy(c.pblock, tmp, nf * sizeof(float));
        free(tmp);
        voz_net_bind(&c.net, &c.cfg, c.pblock);
        voz_net_bind(&c.grad, &c.cfg, c.gblock);
        voz_optim_params op = voz_optim_default_params();
        op.kind = VOZ_OPTIM_ADAM;
        check(voz_optim_init(&c.opt, &op, nf), "adam");
        c.ws = voz_net_ws_create(&c.cfg, threads);
        if (!c.ws)
            die(1, "net workspace: %s", voz_last_error());
        c.x = read_raw(dir, "x_train.f32", (size_t)TRAIN_T * TRAIN_B * NET_I * sizeof(float));
        c.labels = read_raw(dir, "labels.i32", (size_t)TRAIN_B * TRAIN_L * sizeof(int32_t));
        c.lp = xmalloc(nl * sizeof *c.lp);
        c.dlogits = xmalloc(nl * sizeof *c.dlogits);
        ms = time_case(run_train, &c, reps, &mn, &mx);
        /* forward + backward (data and weight gradients): about three forward passes */
        report(name, threads, ms, mn, mx, 3 * net_forward_flops(&c.cfg, TRAIN_T, TRAIN_B) * 1e-9,
               c.first_loss);
        voz_net_ws_free(c.ws);
        voz_free_aligned(c.pblock);
        voz_free_aligned(c.gblock);
        voz_optim_release(&c.opt);
        free((void *)c.x);
        free((void *)c.labels);
        free(c.lp);
        free(c.dlogits);
    } else {
        die(2, "unknown case '%s' (mfcc, bilstm_forward, gru_forward, ctc_loss, train_step)", name);
    }
}

/* ---- bench sgemm THREADS REPS: the machine's single-precision GEMM rate --------------- */

static void cmd_sgemm(int threads, int reps)
{
    const int n = 2048;
    size_t nn = (size_t)n * n;
    float *a = voz_alloc_aligned(nn * sizeof *a), *b = voz_alloc_aligned(nn * sizeof *b),
          *c = voz_alloc_aligned(nn * sizeof *c);
    if (!a || !b || !c)
        die(1, "out of memory");
    rng_seed(3);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(rng_uniform() - 0.5);
        b[i] = (float)(rng_uniform() - 0.5);
    }
    set_blas_threads(threads);
    double t[64], best = 1e30;
    if (reps > 64)
        reps = 64;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int r = 0; r < reps; r++) {
        double t0 = voz_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = voz_now() - t0;
        best = t[r] < best ? t[r] : best;
    }
    double flop = 2.0 * n * n * n, med = median(t, reps);
    /* threads, GFLOP/s at the median, GFLOP/s at the best run, BLAS threads in effect */
    printf("sgemm%d\t%d\t%.2f\t%.2f\t%d\n", n, threads, flop / med * 1e-9, flop / best * 1e-9,
           openblas_get_num_threads());
    voz_free_aligned(a);
    voz_free_aligned(b);
    voz_free_aligned(c);
}

/* ---- bench parts B T: where a BiLSTM forward's time can go, piece by piece ----------- */

/* The pieces of the 2-layer BiLSTM forward (H = 256, G = 1024) at batch B over T
   frames, timed in isolation on one thread, so a profile of voz_net_forward can be read
   against them: the input projections (one GEMM per layer and direction), the
   recurrent product per step as a GEMM with M = B rows (what a GEMM-per-step design
   pays: OpenBLAS packs all of W_hh on every call) and, at B = 1, as a GEMV, and the
   gate nonlinearities through libm (3 sigmoids + 2 tanh per unit and step). */
static void cmd_parts(int B, int T)
{
    const int H = NET_H, G = 4 * NET_H, D = 2 * NET_H, reps = 3;
    const int ins[2] = { NET_I, D };
    size_t TB = (size_t)T * B;
    float *x = voz_alloc_aligned(TB * D * sizeof *x), *gate = voz_alloc_aligned(TB * G * sizeof *gate);
    float *w_ih = voz_alloc_aligned((size_t)G * D * sizeof *w_ih), *w_hh[4], *h = voz_alloc_aligned((size_t)B * D * sizeof *h);
    float *hg = voz_alloc_aligned((size_t)B * G * sizeof *hg);
    if (!x || !gate || !w_ih || !h || !hg)
        die(1, "out of memory");
    rng_seed(5);
    for (size_t i = 0; i < TB * D; i++)
        x[i] = (float)rng_gauss();
    for (size_t i = 0; i < (size_t)G * D; i++)
        w_ih[i] = (float)(0.06 * (rng_uniform() - 0.5));
    for (int k = 0; k < 4; k++) {
        w_hh[k] = voz_alloc_aligned((size_t)G * H * sizeof(float));
        if (!w_hh[k])
            die(1, "out of memory");
        for (size_t i = 0; i < (size_t)G * H; i++)
            w_hh[k][i] = (float)(0.06 * (rng_uniform() - 0.5));
    }
    for (int i = 0; i < B * D; i++)
        h[i] = (float)(0.5 * (rng_uniform() - 0.5));
    openblas_set_num_threads(1);

    double best[4] = { 1e30, 1e30, 1e30, 1e30 };
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = voz_now();
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, G, ins[l], 1.0f, x, ins[l], w_ih,
                            ins[l], 0.0f, gate, G);
        double t1 = voz_now();
        for (int k = 0; k < 4; k++)   /* layer x direction, each with its own W_hh */
            for (int t = 0; t < T; t++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, G, H, 1.0f, h, D, w_hh[k], H, 0.0f, hg, G);
        double t2 = voz_now();
        if (B == 1)
            for (int k = 0; k < 4; k++)
                for (int t = 0; t < T; t++)
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, w_hh[k], H, h, 1, 0.0f, hg, 1);
        double t3 = voz_now();
        for (int k = 0; k < 4; k++)
            for (size_t i = 0; i < TB; i++) {
                const float *g = gate + i * G;
                float acc = 0;
                for (int j = 0; j < H; j++) {
                    float ig = 1.0f / (1.0f + expf(-g[j])), fg = 1.0f / (1.0f + expf(-g[H + j]));
                    float cg = tanhf(g[2 * H + j]), og = 1.0f / (1.0f + expf(-g[3 * H + j]));
                    acc += og * tanhf(ig * cg + fg * 0.5f);
                }
                sink += acc;
            }
        double t4 = voz_now();
        double dt[4] = { t1 - t0, t2 - t1, t3 - t2, t4 - t3 };
        for (int k = 0; k < 4; k++)
            best[k] = dt[k] < best[k] ? dt[k] : best[k];
    }
    double f_in = 0;
    for (int l = 0; l < 2; l++)
        f_in += 2 * 2.0 * TB * G * ins[l];
    double f_rec = 4 * 2.0 * TB * G * H;
    /* piece, ms (best of 3), GFLOP/s */
    printf("input_projection_gemm\t%.2f\t%.1f\n", best[0] * 1e3, f_in / best[0] * 1e-9);
    printf("recurrent_gemm_m%d\t%.2f\t%.1f\n", B, best[1] * 1e3, f_rec / best[1] * 1e-9);
    if (B == 1)
        printf("recurrent_gemv\t%.2f\t%.1f\n", best[2] * 1e3, f_rec / best[2] * 1e-9);
    printf("gates_libm\t%.2f\t-\n", best[3] * 1e3);
    (void)sink;
    voz_free_aligned(x);
    voz_free_aligned(gate);
    voz_free_aligned(w_ih);
    voz_free_aligned(h);
    voz_free_aligned(hg);
    for (int k = 0; k < 4; k++)
        voz_free_aligned(w_hh[k]);
}

/* ---- bench parts mfcc: the MFCC case's frame loop, piece by piece ---------------------- */

/* For the 60 s / 16 kHz case (5998 frames of 400 samples, FFT 512): the whole per-frame
   computer, the kiss_fftr call alone, the complex 256-point kiss_fft alone (what the
   computer calls since session 2, then its own split: the floor of any design that keeps
   one scalar KissFFT per frame) and the 23 x 257 mel weighting done as one sgemm over all
   frames. */
static void cmd_parts_mfcc(const char *dir)
{
    size_t n = (size_t)MFCC_RATE * MFCC_SECONDS;
    voz_feature_params p = voz_feature_default_params();
    p.sample_rate = MFCC_RATE;
    p.dither = 0;
    p.delta_order = 0;
    p.cmvn = VOZ_CMVN_NONE;
    float *pcm = read_raw(dir, "audio.f32", n * sizeof(float));
    size_t T = voz_mfcc_num_frames(&p, n), L = voz_mfcc_frame_length(&p), S = voz_mfcc_frame_shift(&p);
    const int N = 512, K = N / 2 + 1, M = 23;
    struct voz_mfcc *m;
    check(voz_mfcc_create(&p, &m), "mfcc");
    float out[64], *x = voz_alloc_aligned((size_t)N * sizeof *x);
    float *pow = voz_alloc_aligned(T * K * sizeof *pow), *mel = voz_alloc_aligned(T * M * sizeof *mel);
    float *w = voz_alloc_aligned((size_t)K * M * sizeof *w);
    kiss_fft_cpx *spec = xmalloc((size_t)K * sizeof *spec);
    kiss_fftr_cfg cfg = kiss_fftr_alloc(N, 0, NULL, NULL);
    kiss_fft_cfg ccfg = kiss_fft_alloc(N / 2, 0, NULL, NULL);
    if (!x || !pow || !mel || !w || !cfg || !ccfg)
        die(1, "out of memory");
    for (int i = 0; i < K * M; i++)
        w[i] = (float)rng_uniform();
    double best[4] = { 1e30, 1e30, 1e30, 1e30 };
    volatile float sink = 0;
    openblas_set_num_threads(1);
    for (int r = 0; r < 5; r++) {
        double t0 = voz_now();
        for (size_t f = 0; f < T; f++)
            voz_mfcc_compute_frame(m, pcm + f * S, out);
        double t1 = voz_now();
        for (size_t f = 0; f < T; f++) {
            memcpy(x, pcm + f * S, L * sizeof *x);
            memset(x + L, 0, (N - L) * sizeof *x);
            kiss_fftr(cfg, x, spec);
            pow[f * K] = spec[1].r;
        }
        double t2 = voz_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, M, K, 1.0f, pow, K, w, M, 0.0f, mel, M);
        double t3 = voz_now();
        for (size_t f = 0; f < T; f++) {
            memcpy(x, pcm + f * S, L * sizeof *x);
            memset(x + L, 0, (N - L) * sizeof *x);
            kiss_fft(ccfg, (const kiss_fft_cpx *)x, spec);
            pow[f * K] = spec[1].r;
        }
        double t4 = voz_now();
        double dt[4] = { t1 - t0, t2 - t1, t3 - t2, t4 - t3 };
        for (int k = 0; k < 4; k++)
            best[k] = dt[k] < best[k] ? dt[k] : best[k];
        sink += out[0] + mel[0];
    }
    (void)sink;
    /* piece, ms (best of 5) */
    printf("mfcc_compute_frame_x%zu\t%.2f\n", T, best[0] * 1e3);
    printf("kiss_fftr_512_x%zu\t%.2f\n", T, best[1] * 1e3);
    printf("mel_as_one_sgemm\t%.2f\n", best[2] * 1e3);
    printf("kiss_fft_256_complex_x%zu\t%.2f\n", T, best[3] * 1e3);
    kiss_fftr_free(cfg);
    kiss_fft_free(ccfg);
    free(spec);
    voz_mfcc_free(m);
    voz_free_aligned(x);
    voz_free_aligned(pow);
    voz_free_aligned(mel);
    voz_free_aligned(w);
    free(pcm);
}

/* ---- bench mkhour FSDD_DIR RATE SECONDS OUT.wav -------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const digit_words[10] = { "zero", "one", "two", "three", "four",
                                             "five", "six", "seven", "eight", "nine" };

struct hour_writer {
    SNDFILE *sf;
    const char *path;
    float buf[8192];
    size_t fill;
    size_t written;   /* samples */
    size_t limit;     /* samples the file gets: writes past it are dropped */
    double noise;     /* background noise stddev so silence is never digital zero */
};

static void hw_flush(struct hour_writer *w)
{
    if (w->fill && sf_writef_float(w->sf, w->buf, (sf_count_t)w->fill) != (sf_count_t)w->fill)
        die(1, "%s: %s", w->path, sf_strerror(w->sf));
    w->written += w->fill;
    w->fill = 0;
}

static void hw_put(struct hour_writer *w, const float *x, size_t n)
{
    for (size_t i = 0; i < n && w->written + w->fill < w->limit; i++) {
        float s = (x ? x[i] : 0.0f) + (float)(w->noise * rng_gauss());
        w->buf[w->fill++] = s > 1 ? 1 : s < -1 ? -1 : s;
        if (w->fill == sizeof w->buf / sizeof w->buf[0])
            hw_flush(w);
    }
}

/* Utterances of 3 to 6 FSDD digits (80-250 ms apart) separated by 0.6-2 s of near
   silence, cycling through every clip in a seeded order, until SECONDS are written.
   After a 1 s lead-in. OUT.ref.txt gets one line per utterance: start (s), the spoken
   digits, end of its last clip (s); OUT.clips.tsv one line per clip: start, end, word.
   The last clip may be cut short by the end of the file. FSDD clips are trimmed to
   their speech, so a clip's end is where its speech ends. */
static void cmd_mkhour(const char *fsdd, int rate, double seconds, const char *out)
{
    DIR *d = opendir(fsdd);
    if (!d)
        die(1, "%s: %s", fsdd, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".wav") || e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                die(1, "out of memory");
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0)
        die(1, "%s: no FSDD clips ({digit}_{speaker}_{index}.wav) found", fsdd);
    qsort(names, n, sizeof *names, cmp_str);
    rng_seed(2024);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_next() % (i + 1);
        char *t = names[i];
        names[i] = names[j];
        names[j] = t;
    }

    char tmp[4096], refpath[4096], clippath[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    snprintf(refpath, sizeof refpath, "%s.ref.txt", out);
    snprintf(clippath, sizeof clippath, "%s.clips.tsv", out);
    SF_INFO oi = { .samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
    size_t target = (size_t)(seconds * rate), next = 0, words = 0;
    struct hour_writer w = { .sf = sf_open(tmp, SFM_WRITE, &oi), .path = tmp, .limit = target, .noise = 3e-4 };
    if (!w.sf)
        die(1, "%s: %s", tmp, sf_strerror(NULL));
    struct voz_atomic_file ref, clips;
    check(voz_atomic_open(&ref, refpath), refpath);
    check(voz_atomic_open(&clips, clippath), clippath);

    float *clip = NULL, *res = NULL;
    size_t clip_cap = 0, res_cap = 0;
    hw_put(&w, NULL, (size_t)rate); /* 1 s lead-in: a live endpointer calibrates on it */
    while (w.written + w.fill < target) {
        int k = 3 + (int)(rng_next() % 4);
        double t_start = (double)(w.written + w.fill) / rate, t_end = t_start;
        fprintf(ref.fp, "%.3f\t", t_start);
        for (int u = 0; u < k && w.written + w.fill < target; u++) {
            const char *nm = names[next++ % n];
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", fsdd, nm);
            SF_INFO ii = { 0 };
            SNDFILE *in = sf_open(path, SFM_READ, &ii);
            if (!in)
                die(1, "%s: %s", path, sf_strerror(NULL));
            if (ii.channels != 1 || ii.frames <= 0 || ii.frames > 10 * ii.samplerate)
                die(1, "%s: expected a mono clip of at most 10 s, found %d channels, %lld frames",
                    path, ii.channels, (long long)ii.frames);
            if ((size_t)ii.frames > clip_cap) {
                clip_cap = (size_t)ii.frames;
                free(clip);
                clip = xmalloc(clip_cap * sizeof *clip);
            }
            sf_count_t got = sf_readf_float(in, clip, ii.frames);
            sf_close(in);
            if (got != ii.frames)
                die(1, "%s: expected %lld frames, read %lld", path, (long long)ii.frames, (long long)got);
            const float *x = clip;
            size_t nx = (size_t)got;
            if (ii.samplerate != rate) {
                size_t need = (size_t)((double)nx * rate / ii.samplerate) + 64, done = 0;
                if (need > res_cap) {
                    res_cap = need;
                    free(res);
                    res = xmalloc(res_cap * sizeof *res);
                }
                soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
                soxr_error_t err = soxr_oneshot(ii.samplerate, rate, 1, clip, nx, NULL, res, need, &done,
                                                NULL, &q, NULL);
                if (err)
                    die(1, "%s: resampling failed: %s", path, soxr_strerror(err));
                x = res;
                nx = done;
            }
            double c0 = (double)(w.written + w.fill) / rate;
            hw_put(&w, x, nx);
            t_end = (double)(w.written + w.fill) / rate;
            fprintf(clips.fp, "%.4f\t%.4f\t%s\n", c0, t_end, digit_words[nm[0] - '0']);
            hw_put(&w, NULL, (size_t)((0.08 + 0.17 * rng_uniform()) * rate));
            fprintf(ref.fp, "%s%s", u ? " " : "", digit_words[nm[0] - '0']);
            words++;
        }
        fprintf(ref.fp, "\t%.3f\n", t_end);
        hw_put(&w, NULL, (size_t)((0.6 + 1.4 * rng_uniform()) * rate));
    }
    hw_flush(&w);
    if (sf_close(w.sf) != 0)
        die(1, "%s: close failed", tmp);
    if (rename(tmp, out) != 0)
        die(1, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
    check(voz_atomic_commit(&ref), refpath);
    check(voz_atomic_commit(&clips), clippath);
    printf("%s\t%.1f s\t%d Hz\t%zu digits\n", out, (double)w.written / rate, rate, words);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(clip);
    free(res);
}

/* ---- bench wer REF HYP: word error rate of a whole transcript -------------------------- */

/* Whitespace-separated words of a text file, in one malloc'ed buffer. */
static char **read_words(const char *path, size_t *n, char **storage)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        die(1, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0, got;
    char *buf = xmalloc(cap + 1);
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            if (cap > ((size_t)1 << 30))
                die(1, "%s: larger than 1 GiB", path);
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf)
                die(1, "out of memory");
        }
    }
    fclose(fp);
    buf[len] = 0;
    size_t nw = 0, wcap = 1024;
    char **w = xmalloc(wcap * sizeof *w);
    for (char *tok = strtok(buf, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        if (nw == wcap) {
            wcap *= 2;
            w = realloc(w, wcap * sizeof *w);
            if (!w)
                die(1, "out of memory");
        }
        w[nw++] = tok;
    }
    *n = nw;
    *storage = buf;
    return w;
}

/* Levenshtein distance over words, two rows of N+1 (a one-hour file: ~10^4 words). */
static void cmd_wer(const char *ref_path, const char *hyp_path)
{
    char *rs, *hs;
    size_t nr, nh;
    char **r = read_words(ref_path, &nr, &rs), **h = read_words(hyp_path, &nh, &hs);
    uint32_t *prev = xmalloc((nh + 1) * sizeof *prev), *cur = xmalloc((nh + 1) * sizeof *cur);
    for (size_t j = 0; j <= nh; j++)
        prev[j] = (uint32_t)j;
    for (size_t i = 1; i <= nr; i++) {
        cur[0] = (uint32_t)i;
        for (size_t j = 1; j <= nh; j++) {
            uint32_t sub = prev[j - 1] + (strcmp(r[i - 1], h[j - 1]) != 0);
            uint32_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            uint32_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        uint32_t *t = prev;
        prev = cur;
        cur = t;
    }
    printf("%.2f%% (%u edits, %zu words, %zu hypothesised)\n", nr ? 100.0 * prev[nh] / (double)nr : 0.0,
           prev[nh], nr, nh);
    free(prev);
    free(cur);
    free(r);
    free(h);
    free(rs);
    free(hs);
}

/* ---- bench info: what the table header records --------------------------------------- */

static void cmd_info(void)
{
    printf("openblas\t%s\ncorename\t%s\nblas_threads_default\t%d\n", openblas_get_config(),
           openblas_get_corename(), openblas_get_num_threads());
}

/* A stand-in with the shape of models/digits-en/recipe.sh (2-layer BiLSTM, H = 128,
   39 features, 8 kHz, blank + space + a-z + apostrophe, digit word list) and random
   weights: it lets transcribe_1h measure time and memory before a trained model
   exists. Its transcripts are meaningless and the harness says so. */
static void cmd_mkmodel(const char *out)
{
    static char *classes[29], *words[10];
    static char letters[29][2];
    struct voz_model_data m = { .sample_rate = 8000, .feat = voz_feature_default_params(), .blank = 0 };
    m.feat.sample_rate = 8000;
    m.net = (voz_net_config){ .cell = VOZ_CELL_LSTM, .input_dim = voz_feature_dim(&m.feat), .hidden = 128,
                              .layers = 2, .bidirectional = 1, .classes = 29 };
    check(voz_net_config_check(&m.net), "stand-in model");
    classes[0] = "";
    classes[1] = " ";
    for (int k = 2; k < 29; k++) {
        letters[k][0] = k < 28 ? (char)('a' + k - 2) : '\'';
        classes[k] = letters[k];
    }
    for (int k = 0; k < 10; k++)
        words[k] = (char *)digit_words[k];
    m.classes = classes;
    m.words = words;
    m.n_words = 10;
    m.params = voz_alloc_aligned(voz_net_num_floats(&m.net) * sizeof(float));
    if (!m.params)
        die(1, "out of memory");
    struct voz_net net;
    voz_net_bind(&net, &m.net, m.params);
    voz_net_init(&net, 1);
    check(voz_model_data_write(&m, out), out);
    voz_free_aligned(m.params);
}

/* The sample rate of MODEL (or of the built-in default), for the one-hour input file. */
static void cmd_modelrate(const char *path)
{
    struct voz_model *m = NULL;
    voz_status s = path ? voz_model_load(path, &m) : voz_model_load_default(&m);
    check(s, path ? path : "default model");
    printf("%d\n", voz_model_sample_rate(m));
    voz_model_free(m);
}

static int parse_int(const char *s, int lo, int hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        die(2, "%s needs a whole number from %d to %d, not '%s'", what, lo, hi, s);
    return (int)v;
}

static void usage(void)
{
    fputs("usage: bench info\n"
          "       bench gen DIR\n"
          "       bench run CASE THREADS REPS DIR   (mfcc bilstm_forward gru_forward ctc_loss train_step)\n"
          "       bench sgemm THREADS REPS\n"
          "       bench mkhour FSDD_DIR RATE SECONDS OUT.wav\n"
          "       bench modelrate [MODEL]\n"
          "       bench parts B T\n"
          "       bench parts mfcc DIR\n"
          "       bench mkmodel OUT.voz\n"
          "       bench wer REF.txt HYP.txt\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "info") && argc == 2)
        cmd_info();
    else if (!strcmp(argv[1], "gen") && argc == 3)
        cmd_gen(argv[2]);
    else if (!strcmp(argv[1], "run") && argc == 6)
        cmd_run(argv[2], parse_int(argv[3], 1, 2, "THREADS"), parse_int(argv[4], 1, 256, "REPS"), argv[5]);
    else if (!strcmp(argv[1], "sgemm") && argc == 4)
        cmd_sgemm(parse_int(argv[2], 1, 64, "THREADS"), parse_int(argv[3], 1, 64, "REPS"));
    else if (!strcmp(argv[1], "mkhour") && argc == 6)
        cmd_mkhour(argv[2], parse_int(argv[3], 8000, 48000, "RATE"),
                   parse_int(argv[4], 1, 4 * 3600, "SECONDS"), argv[5]);
    else if (!strcmp(argv[1], "wer") && argc == 4)
        cmd_wer(argv[2], argv[3]);
    else if (!strcmp(argv[1], "mkmodel") && argc == 3)
        cmd_mkmodel(argv[2]);
    else if (!strcmp(argv[1], "parts") && argc == 4 && !strcmp(argv[2], "mfcc"))
        cmd_parts_mfcc(argv[3]);
    else if (!strcmp(argv[1], "parts") && argc == 4)
        cmd_parts(parse_int(argv[2], 1, 64, "B"), parse_int(argv[3], 1, 10000, "T"));
    else if (!strcmp(argv[1], "modelrate") && argc <= 3)
        cmd_modelrate(argc == 3 ? argv[2] : NULL);
    else
        usage();
    if (fflush(stdout) != 0 || ferror(stdout))
        die(1, "error writing to standard output");
    return 0;
}
