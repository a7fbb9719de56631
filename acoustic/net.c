/* acoustic/net.c — the recurrent core: parameter layout and initialisation, the
   forward and backward passes of stacked (bi)directional LSTM / GRU / RNN layers,
   the dense + log-softmax head, and the workspace with its two-thread pool.
   Shapes, fixed for the whole file: B batch, T frames, I input size of the layer at
   hand (input_dim for layer 0, D above), H hidden per direction, G gate rows (4H LSTM,
   3H GRU, H RNN), D = H * dirs, C classes. Activations are time-major [T][B][*]. */
#include "acoustic/net.h"
#include "common/util.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------------ */

static const char *const cell_names[] = { "lstm", "gru", "rnn_tanh", "rnn_relu" };

const char *voz_cell_name(voz_cell_type t)
{
    if ((unsigned)t < sizeof cell_names / sizeof cell_names[0])
        return cell_names[t];
    return "unknown";
}

int voz_cell_parse(const char *name, voz_cell_type *t)
{
    if (!name)
        return -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, cell_names[k])) {
            *t = (voz_cell_type)k;
            return 0;
        }
    if (!strcmp(name, "rnn")) {
        *t = VOZ_CELL_RNN_TANH;
        return 0;
    }
    return -1;
}

/* The checks of voz_net_config_check(); with say = 0 nothing is recorded, so the size
   functions can refuse a bad config without touching the caller's error message. */
static voz_status check_config(const voz_net_config *c, int say)
{
#define REFUSE(...) return say ? voz_fail(VOZ_ERR_INVALID, __VA_ARGS__) : VOZ_ERR_INVALID
    if (!c)
        REFUSE("net config: missing");
    if ((unsigned)c->cell > VOZ_CELL_RNN_RELU)
        REFUSE("net config: cell type %d, expected 0..3 (lstm, gru, rnn_tanh, rnn_relu)", (int)c->cell);
    if (c->input_dim < 1 || c->input_dim > VOZ_NET_MAX_DIM)
        REFUSE("net config: input_dim %d, expected 1..%d", c->input_dim, VOZ_NET_MAX_DIM);
    if (c->hidden < 1 || c->hidden > VOZ_NET_MAX_HIDDEN)
        REFUSE("net config: hidden %d, expected 1..%d", c->hidden, VOZ_NET_MAX_HIDDEN);
    if (c->layers < 1 || c->layers > VOZ_NET_MAX_LAYERS)
        REFUSE("net config: layers %d, expected 1..%d", c->layers, VOZ_NET_MAX_LAYERS);
    if (c->bidirectional != 0 && c->bidirectional != 1)
        REFUSE("net config: bidirectional %d, expected 0 or 1", c->bidirectional);
    if (c->classes < 2 || c->classes > VOZ_NET_MAX_DIM)
        REFUSE("net config: classes %d, expected 2..%d (blank included)", c->classes, VOZ_NET_MAX_DIM);
    return VOZ_OK;
#undef REFUSE
}

voz_status voz_net_config_check(const voz_net_config *c) { return check_config(c, 1); }

static int gates_per_cell(voz_cell_type t)
{
    return t == VOZ_CELL_LSTM ? 4 : t == VOZ_CELL_GRU ? 3 : 1;
}

int voz_net_gate_rows(const voz_net_config *c)
{
    return check_config(c, 0) == VOZ_OK ? gates_per_cell(c->cell) * c->hidden : 0;
}

/* ---- parameter layout ----------------------------------------------------------------- */

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }
static int num_dirs(const voz_net_config *c) { return c->bidirectional ? 2 : 1; }
static size_t layer_input(const voz_net_config *c, int l)
{
    return l == 0 ? (size_t)c->input_dim : (size_t)c->hidden * (size_t)num_dirs(c);
}

/* Size functions return 0 for a config voz_net_config_check() refuses, so nothing is
   ever sized from a bad header. */
int voz_net_num_tensors(const voz_net_config *c)
{
    return check_config(c, 0) == VOZ_OK ? c->layers * num_dirs(c) * 4 + 2 : 0;
}

/* Shape of tensor idx in the order documented in net.h; the offset is filled by the
   caller walking the order, so this stays the one place that knows names and shapes. */
static void tensor_shape(const voz_net_config *c, int idx, voz_tensor_info *t)
{
    static const char *const kind[4] = { "weight_ih", "weight_hh", "bias_ih", "bias_hh" };
    int dirs = num_dirs(c), per_layer = dirs * 4;
    size_t G = (size_t)voz_net_gate_rows(c), H = (size_t)c->hidden;
    memset(t, 0, sizeof *t);
    if (idx >= c->layers * per_layer) {
        int fc = idx - c->layers * per_layer;
        snprintf(t->name, sizeof t->name, "%s", fc == 0 ? "fc.weight" : "fc.bias");
        t->ndim = fc == 0 ? 2 : 1;
        t->shape[0] = (size_t)c->classes;
        t->shape[1] = fc == 0 ? H * (size_t)dirs : 0;
    } else {
        int l = idx / per_layer, d = (idx % per_layer) / 4, k = idx % 4;
        snprintf(t->name, sizeof t->name, "rnn.%s_l%d%s", kind[k], l, d ? "_reverse" : "");
        t->ndim = k < 2 ? 2 : 1;
        t->shape[0] = G;
        t->shape[1] = k == 0 ? layer_input(c, l) : k == 1 ? H : 0;
    }
    t->numel = t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
}

void voz_net_tensor(const voz_net_config *c, int idx, voz_tensor_info *out)
{
    size_t off = 0;
    if (idx < 0 || idx >= voz_net_num_tensors(c)) { /* out of range: an empty record */
        memset(out, 0, sizeof *out);
        return;
    }
    for (int k = 0; k < idx; k++) {
        tensor_shape(c, k, out);
        off += align16(out->numel);
    }
    tensor_shape(c, idx, out);
    out->offset = off;
}

size_t voz_net_num_floats(const voz_net_config *c)
{
    size_t n = 0;
    voz_tensor_info t;
    for (int k = 0; k < voz_net_num_tensors(c); k++) {
        tensor_shape(c, k, &t);
        n += align16(t.numel);
    }
    return n;
}

size_t voz_net_num_weights(const voz_net_config *c)
{
    size_t n = 0;
    voz_tensor_info t;
    for (int k = 0; k < voz_net_num_tensors(c); k++) {
        tensor_shape(c, k, &t);
        n += t.numel;
    }
    return n;
}

void voz_net_bind(struct voz_net *net, const voz_net_config *c, float *block)
{
    memset(net, 0, sizeof *net);
    net->cfg = *c;
    net->params = block;
    int n = voz_net_num_tensors(c), dirs = num_dirs(c);
    size_t off = 0;
    voz_tensor_info t;
    for (int k = 0; k < n; k++) {
        tensor_shape(c, k, &t);
        float *p = block + off;
        off += align16(t.numel);
        if (k >= n - 2) {
            if (k == n - 2)
                net->fc_w = p;
            else
                net->fc_b = p;
            continue;
        }
        struct voz_net_layer_view *v = &net->cell[k / (dirs * 4)][(k / 4) % dirs];
        float **slot[4] = { &v->w_ih, &v->w_hh, &v->b_ih, &v->b_hh };
        *slot[k % 4] = p;
    }
}

/* ---- initialisation ------------------------------------------------------------------- */

/* splitmix64: a tiny, well-mixed generator, so the same seed gives the same network on
   every platform and libc. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) /* [0, 1) with 53 random bits */
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_gauss(uint64_t *s) /* Box-Muller, one value per call */
{
    double u = 1.0 - rng_uniform(s), v = rng_uniform(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void fill_uniform(float *w, size_t n, double bound, uint64_t *s)
{
    for (size_t k = 0; k < n; k++)
        w[k] = (float)((2.0 * rng_uniform(s) - 1.0) * bound);
}

/* w [H][H] <- rows of an orthonormal basis: modified Gram-Schmidt, run twice for
   accuracy, over a Gaussian matrix; `q` is H*H doubles of scratch. */
static void fill_orthogonal(float *w, int H, double *q, uint64_t *s)
{
    for (int i = 0; i < H; i++) {
        double *qi = q + (size_t)i * H;
        for (;;) {
            for (int j = 0; j < H; j++)
                qi[j] = rng_gauss(s);
            for (int pass = 0; pass < 2; pass++)
                for (int p = 0; p < i; p++) {
                    const double *qp = q + (size_t)p * H;
                    double dot = 0;
                    for (int j = 0; j < H; j++)
                        dot += qi[j] * qp[j];
                    for (int j = 0; j < H; j++)
                        qi[j] -= dot * qp[j];
                }
            double norm = 0;
            for (int j = 0; j < H; j++)
                norm += qi[j] * qi[j];
            norm = sqrt(norm);
            if (norm > 1e-6) { /* a degenerate draw (probability ~0) is simply redrawn */
                for (int j = 0; j < H; j++)
                    qi[j] /= norm;
                break;
            }
        }
    }
    for (size_t k = 0; k < (size_t)H * H; k++)
        w[k] = (float)q[k];
}

void voz_net_init(struct voz_net *net, uint64_t seed)
{
    const voz_net_config *c = &net->cfg;
    if (check_config(c, 0) != VOZ_OK || !net->params)
        return;
    int H = c->hidden, G = voz_net_gate_rows(c), dirs = num_dirs(c);
    size_t D = (size_t)H * dirs;
    uint64_t s = seed;
    memset(net->params, 0, voz_net_num_floats(c) * sizeof(float));
    double *q = malloc((size_t)H * H * sizeof *q);
    if (!q)
        voz_log(VOZ_LOG_WARN, "net init: no memory for orthogonalisation, recurrent weights drawn uniform");
    double bound = 1.0 / sqrt((double)H);
    for (int l = 0; l < c->layers; l++)
        for (int d = 0; d < dirs; d++) {
            struct voz_net_layer_view *v = &net->cell[l][d];
            fill_uniform(v->w_ih, (size_t)G * layer_input(c, l), bound, &s);
            for (int g = 0; g < G / H; g++) {
                float *blk = v->w_hh + (size_t)g * H * H;
                if (q)
                    fill_orthogonal(blk, H, q, &s);
                else /* no memory for the scratch: fall back to PyTorch's uniform */
                    fill_uniform(blk, (size_t)H * H, bound, &s);
            }
            if (c->cell == VOZ_CELL_LSTM)
                for (int j = 0; j < H; j++)
                    v->b_ih[H + j] = 1.0f; /* forget gate: remember by default */
        }
    fill_uniform(net->fc_w, (size_t)c->classes * D, sqrt(6.0 / (double)(c->classes + D)), &s);
    free(q);
}

/* ---- a persistent two-thread pool ----------------------------------------------------- */

/* One worker thread besides the caller: run2() hands it one task, runs the other on
   the calling thread and waits, so the two directions of a layer run concurrently. */
struct pool {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    void (*fn)(void *);
    void *arg;
    unsigned posted, finished; /* task generations */
    int quit, running;
};

static void *pool_main(void *p_)
{
    struct pool *p = p_;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->posted == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->posted;
        void (*fn)(void *) = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg);
        pthread_mutex_lock(&p->mu);
        p->finished = seen;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pool_start(struct pool *p)
{
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL))
        return -1;
    if (pthread_cond_init(&p->go, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    if (pthread_cond_init(&p->done, NULL)) {
        pthread_cond_destroy(&p->go);
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    if (pthread_create(&p->thread, NULL, pool_main, p)) {
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->go);
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    p->running = 1;
    return 0;
}

static void pool_stop(struct pool *p)
{
    if (!p->running)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_signal(&p->go);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    p->running = 0;
}

/* a(pa) and b(pb), concurrently when the pool runs, else one after the other. The
   tasks write disjoint memory, so the result does not depend on the thread count. */
static void run2(struct pool *p, void (*a)(void *), void *pa, void (*b)(void *), void *pb)
{
    if (!p->running) {
        a(pa);
        b(pb);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = b;
    p->arg = pb;
    unsigned gen = ++p->posted;
    pthread_cond_signal(&p->go);
    pthread_mutex_unlock(&p->mu);
    a(pa);
    pthread_mutex_lock(&p->mu);
    while (p->finished != gen)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---- workspace and its size table ----------------------------------------------------- */

/* Every buffer of a forward, and with keep_cache of the backward that follows it, is a
   slice of one arena; ws_layout() below is the size table. With the cache each layer
   and direction keeps its own slices; without it the layers share them (outputs
   ping-pong between two buffers), so inference needs about one layer's worth. */
struct fwd_views {
    float *x;                         /* [T][B][input_dim] copy of the input (cache only) */
    float *y[VOZ_NET_MAX_LAYERS];     /* [T][B][D] layer outputs, directions side by side */
    float *in[VOZ_NET_MAX_LAYERS + 1];  /* what layer l (and, at index layers, the head)
                                         reads: y[l-1], or its dropped-out copy ym */
    float *ym[VOZ_NET_MAX_LAYERS];    /* [T][B][D] dropout only: y * keep mask / (1 - p) */
    float *gate[VOZ_NET_MAX_LAYERS][2]; /* [T][B][G] input projection, then activations:
                                         LSTM i,f,g,o; GRU r,z,n; RNN pre-activation */
    float *aux[VOZ_NET_MAX_LAYERS][2];  /* [T][B][H] LSTM cell state c; GRU W_hn h + b_hn */
    float *aux2[VOZ_NET_MAX_LAYERS][2]; /* [T][B][H] LSTM tanh(c) */
    float *hg[2];                     /* [B][G] recurrent product of one step */
    float *bias[2];                   /* [G] b_ih + b_hh of the layer being run */
};

struct bwd_views {  /* cache mode only */
    float *dlog;    /* [T][B][C] dlogits with padded frames zeroed */
    float *dy[2];   /* [T][B][D] gradient w.r.t. a layer's output (ping-pong) */
    float *dgx[2];  /* [T][B][G] gate pre-activation gradients, input side, per direction */
    float *dgh[2];  /* [T][B][G] hidden side (differs for GRU's n gate; else = dgx) */
    float *dh[2];   /* [B][H] gradient flowing into h of the previous step */
    float *dc[2];   /* [B][H] LSTM: gradient flowing into c of the previous step */
};

struct voz_net_ws {
    voz_net_config cfg;
    struct pool pool;
    int serial;                  /* 1 inside voz_net_forward2: the pool is busy with the twin */
    struct voz_net_ws *twin;     /* 1-thread workspace of voz_net_forward2's second pass */
    float *mem;                  /* the arena, 64-byte aligned */
    size_t cap;                  /* its size in floats */
    int *lens;                   /* [B] valid frames of the last forward */
    int lens_cap;
    int T, B, cached;            /* shape of the last forward; 1 when backward may run */
    float dropout;               /* probability of zeroing a layer output (training only) */
    uint64_t dropout_seed;       /* masks of the next cached forward */
    int dropped;                 /* the cached forward used dropout ... */
    float drop_p;                /* ... with this p and seed, which backward reuses */
    uint64_t drop_seed;
    struct fwd_views f;
    struct bwd_views b;
};

/* Hands out consecutive slices of an arena, each rounded up to 16 floats (64 bytes, so
   the two directions' slices never share a cache line). With base == NULL it only
   counts, which is how the arena size is found before it exists. */
struct carver {
    float *base;
    size_t used;  /* floats */
    int overflow;
};

static float *carve(struct carver *cv, size_t a, size_t b, size_t c)
{
    size_t n, off = cv->used;
    if (voz_mul3_size(a, b, c, &n) || n > SIZE_MAX / 8 || off > SIZE_MAX / 8 - n) {
        cv->overflow = 1;
        return NULL;
    }
    cv->used = off + align16(n);
    return cv->base ? cv->base + off : NULL;
}

/* The size table: returns the arena size in floats for a batch [T][B] (SIZE_MAX on
   overflow) and, when base is non-NULL, points the views of ws into it. */
static size_t ws_layout(struct voz_net_ws *ws, size_t T, size_t B, int keep, float *base)
{
    int drop = keep && ws->dropout > 0;
    const voz_net_config *c = &ws->cfg;
    struct carver cv = { base, 0, 0 };
    struct fwd_views f;
    struct bwd_views bw;
    memset(&f, 0, sizeof f);
    memset(&bw, 0, sizeof bw);
    int dirs = num_dirs(c), lstm = c->cell == VOZ_CELL_LSTM, gru = c->cell == VOZ_CELL_GRU;
    size_t H = (size_t)c->hidden, G = (size_t)voz_net_gate_rows(c), D = H * dirs;

    f.x = keep ? carve(&cv, T, B, (size_t)c->input_dim) : NULL;
    for (int l = 0; l < c->layers; l++) {
        f.y[l] = keep || l < 2 ? carve(&cv, T, B, D) : f.y[l % 2];
        f.ym[l] = drop ? carve(&cv, T, B, D) : NULL;
        f.in[l + 1] = drop ? f.ym[l] : f.y[l];
        for (int d = 0; d < dirs; d++) {
            int own = keep || l == 0;
            f.gate[l][d] = own ? carve(&cv, T, B, G) : f.gate[0][d];
            f.aux[l][d] = !(lstm || gru) ? NULL : own ? carve(&cv, T, B, H) : f.aux[0][d];
            f.aux2[l][d] = !lstm ? NULL : own ? carve(&cv, T, B, H) : f.aux2[0][d];
        }
    }
    for (int d = 0; d < dirs; d++) {
        f.hg[d] = carve(&cv, B, G, 1);
        f.bias[d] = carve(&cv, G, 1, 1);
    }
    if (keep) {
        bw.dlog = carve(&cv, T, B, (size_t)c->classes);
        bw.dy[0] = carve(&cv, T, B, D);
        bw.dy[1] = c->layers > 1 ? carve(&cv, T, B, D) : bw.dy[0];
        for (int d = 0; d < dirs; d++) {
            bw.dgx[d] = carve(&cv, T, B, G);
            bw.dgh[d] = gru ? carve(&cv, T, B, G) : bw.dgx[d];
            bw.dh[d] = carve(&cv, B, H, 1);
            bw.dc[d] = lstm ? carve(&cv, B, H, 1) : NULL;
        }
    }
    f.in[0] = f.x; /* NULL without the cache: the caller's x is used directly */
    if (cv.overflow)
        return SIZE_MAX;
    if (base) {
        ws->f = f;
        ws->b = bw;
    }
    return cv.used;
}

struct voz_net_ws *voz_net_ws_create(const voz_net_config *c, int threads)
{
    if (voz_net_config_check(c) != VOZ_OK)
        return NULL;
    if (threads != 1 && threads != 2) {
        voz_fail(VOZ_ERR_INVALID, "net workspace: threads %d, expected 1 or 2", threads);
        return NULL;
    }
    struct voz_net_ws *ws = calloc(1, sizeof *ws);
    if (!ws) {
        voz_fail(VOZ_ERR_NOMEM, "net workspace: out of memory");
        return NULL;
    }
    ws->cfg = *c;
    /* Parallelism comes from running the directions side by side; a multithreaded
       BLAS underneath would fight them for the same cores. */
    openblas_set_num_threads(1);
    if (threads == 2 && pool_start(&ws->pool) != 0)
        voz_log(VOZ_LOG_WARN, "net workspace: cannot start a worker thread, running single-threaded");
    return ws;
}

voz_status voz_net_ws_dropout(struct voz_net_ws *ws, float p, uint64_t seed)
{
    if (!ws || !(p >= 0.0f && p < 1.0f))
        return voz_fail(VOZ_ERR_INVALID, "net workspace: dropout %g, expected 0 <= p < 1", (double)p);
    ws->dropout = p;
    ws->dropout_seed = seed;
    return VOZ_OK;
}

void voz_net_ws_free(struct voz_net_ws *ws)
{
    if (!ws)
        return;
    pool_stop(&ws->pool);
    voz_net_ws_free(ws->twin);
    voz_free_aligned(ws->mem);
    free(ws->lens);
    free(ws);
}

/* ---- cells: one step forward and its backward, side by side ---------------------------- */

/* Nonlinearities. libm's tanhf costs ~15 ns a call, a third of an LSTM step at H = 256,
   so exp is computed here four lanes at a time with GCC/Clang vector extensions (SSE on
   x86-64, NEON on arm64), with a scalar twin doing the same operations for the tail:
   exp x = 2^n p(r), n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2 with ln 2
   split in two for exactness, p a degree-7 polynomial; relative error < 1e-7 on the
   clamped range [-87, 88], where 2^n stays a normal float. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#define EXP_LO -87.0f
#define EXP_HI 88.0f
#define EXP_ROUND 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer */
#define EXP_LOG2E 1.44269504f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline float exp_scalar(float x)
{
    x = x < EXP_LO ? EXP_LO : x;
    x = x > EXP_HI ? EXP_HI : x;
    float n = (x * EXP_LOG2E + EXP_ROUND) - EXP_ROUND;
    float r = x - n * EXP_LN2_HI;
    r = r - n * EXP_LN2_LO;
    float p = r * EXP_P0 + EXP_P1;
    p = p * r + EXP_P2;
    p = p * r + EXP_P3;
    p = p * r + EXP_P4;
    p = p * r + EXP_P5;
    p = p * (r * r) + r + 1.0f;
    union { int32_t i; float f; } scale = { .i = ((int32_t)n + 127) << 23 };
    return p * scale.f;
}

static inline v4f v4_select(v4i mask, v4f a, v4f b) { return (v4f)(((v4i)a & mask) | ((v4i)b & ~mask)); }

static inline v4f exp_v4(v4f x)
{
    const v4f lo = { EXP_LO, EXP_LO, EXP_LO, EXP_LO }, hi = { EXP_HI, EXP_HI, EXP_HI, EXP_HI };
    const v4f round = { EXP_ROUND, EXP_ROUND, EXP_ROUND, EXP_ROUND };
    x = v4_select(x < lo, lo, x);
    x = v4_select(x > hi, hi, x);
    v4f n = (x * EXP_LOG2E + round) - round;
    v4f r = x - n * EXP_LN2_HI;
    r = r - n * EXP_LN2_LO;
    v4f p = r * EXP_P0 + EXP_P1;
    p = p * r + EXP_P2;
    p = p * r + EXP_P3;
    p = p * r + EXP_P4;
    p = p * r + EXP_P5;
    p = p * (r * r) + r + 1.0f;
    v4i bits = (__builtin_convertvector(n, v4i) + 127) << 23;
    return p * (v4f)bits;
}

/* v[k] = 1 / (1 + exp(-v[k])) */
static void sigmoid_inplace(float *v, int n)
{
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        v4f x;
        memcpy(&x, v + k, sizeof x);
        x = 1.0f / (1.0f + exp_v4(-x));
        memcpy(v + k, &x, sizeof x);
    }
    for (; k < n; k++)
        v[k] = 1.0f / (1.0f + exp_scalar(-v[k]));
}

/* v[k] = tanh v[k] = 2 sigmoid(2 v[k]) - 1: absolute error < 2e-7 (relative error near
   0 is larger, but only absolute error propagates through the network) */
static void tanh_inplace(float *v, int n)
{
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        v4f x;
        memcpy(&x, v + k, sizeof x);
        x = 2.0f / (1.0f + exp_v4(-2.0f * x)) - 1.0f;
        memcpy(v + k, &x, sizeof x);
    }
    for (; k < n; k++)
        v[k] = 2.0f / (1.0f + exp_scalar(-2.0f * v[k])) - 1.0f;
}

/* v[k] += a[k] + b[k] (b may be NULL: zero recurrent state) */
static void add_bias_rec(float *restrict v, const float *restrict a, const float *restrict b, int n)
{
    if (b)
        for (int k = 0; k < n; k++)
            v[k] = v[k] + a[k] + b[k];
    else
        for (int k = 0; k < n; k++)
            v[k] = v[k] + a[k];
}

/* What every step kernel sees: the frame t of one direction of one layer. */
struct step {
    int B, H;
    size_t D;           /* row stride of h in the layer output */
    const int *lens;    /* [B] */
    int t;
    const float *bias;  /* [G] b_ih + b_hh (GRU: only the r, z parts summed; n part b_in) */
    const float *b_hh;  /* [G] (GRU's b_hn sits inside r * (W_hn h + b_hn)) */
};

/* LSTM forward, one frame. gate [B][4H] holds x W_ih^T on entry and i,f,g,o on exit;
   hg [B][4H] = h_prev W_hh^T (NULL: zero state); cprev [B][H] (NULL: zero);
   c, tc [B][H] cell state and its tanh; h [B][*] with stride D. */
static void lstm_step_forward(const struct step *s, float *gate, const float *hg, const float *cprev,
                              float *c, float *tc, float *h)
{
    int H = s->H;
    for (int b = 0; b < s->B; b++) {
        float *gb = gate + (size_t)b * 4 * H, *restrict cb = c + (size_t)b * H;
        float *restrict tcb = tc + (size_t)b * H, *restrict hb = h + (size_t)b * s->D;
        if (s->t >= s->lens[b]) { /* padding: zero output and state */
            memset(cb, 0, (size_t)H * sizeof *cb);
            memset(hb, 0, (size_t)H * sizeof *hb);
            continue;
        }
        add_bias_rec(gb, s->bias, hg ? hg + (size_t)b * 4 * H : NULL, 4 * H);
        sigmoid_inplace(gb, 2 * H); /* i, f */
        tanh_inplace(gb + 2 * H, H); /* g */
        sigmoid_inplace(gb + 3 * H, H); /* o */
        const float *restrict ig = gb, *restrict fg = gb + H, *restrict gg = gb + 2 * H, *restrict og = gb + 3 * H;
        if (cprev) {
            const float *restrict cpb = cprev + (size_t)b * H;
            for (int j = 0; j < H; j++)
                cb[j] = fg[j] * cpb[j] + ig[j] * gg[j];
        } else {
            for (int j = 0; j < H; j++)
                cb[j] = ig[j] * gg[j];
        }
        memcpy(tcb, cb, (size_t)H * sizeof *tcb);
        tanh_inplace(tcb, H);
        for (int j = 0; j < H; j++)
            hb[j] = og[j] * tcb[j];
    }
}

/* LSTM backward, one frame. dy [B][*] (stride D) is dL/dh_t from above; dh [B][H] is
   dL/dh_t through the recurrence on entry and is reset (the recurrent GEMM adds the
   contribution to h_{t-1}); dc [B][H] is dL/dc_t on entry, dL/dc_{t-1} on exit.
   dg [B][4H] receives dL/d(pre-activations). */
static void lstm_step_backward(const struct step *s, const float *gate, const float *cprev, const float *tc,
                               const float *dy, float *dh, float *dc, float *dg)
{
    int H = s->H;
    for (int b = 0; b < s->B; b++) {
        float *dgb = dg + (size_t)b * 4 * H, *dhb = dh + (size_t)b * H, *dcb = dc + (size_t)b * H;
        if (s->t >= s->lens[b]) {
            memset(dgb, 0, (size_t)4 * H * sizeof *dgb);
            memset(dhb, 0, (size_t)H * sizeof *dhb);
            memset(dcb, 0, (size_t)H * sizeof *dcb);
            continue;
        }
        const float *gb = gate + (size_t)b * 4 * H, *tcb = tc + (size_t)b * H;
        const float *dyb = dy + (size_t)b * s->D;
        const float *cpb = cprev ? cprev + (size_t)b * H : NULL;
        for (int j = 0; j < H; j++) {
            float i = gb[j], f = gb[H + j], g = gb[2 * H + j], o = gb[3 * H + j], t = tcb[j];
            float dhv = dyb[j] + dhb[j];
            float dcv = dcb[j] + dhv * o * (1.0f - t * t);
            float cp = cpb ? cpb[j] : 0.0f;
            dgb[j] = dcv * g * i * (1.0f - i);
            dgb[H + j] = dcv * cp * f * (1.0f - f);
            dgb[2 * H + j] = dcv * i * (1.0f - g * g);
            dgb[3 * H + j] = dhv * t * o * (1.0f - o);
            dcb[j] = dcv * f;
            dhb[j] = 0.0f;
        }
    }
}

/* GRU forward, one frame. gate [B][3H]: x W_ih^T on entry, r,z,n on exit;
   hg [B][3H] = h_prev W_hh^T (NULL: zero state); hprev [B][*] stride D (NULL: zero);
   hn [B][H] keeps W_hn h_prev + b_hn, which backward needs for dr. */
static void gru_step_forward(const struct step *s, float *gate, const float *hg, const float *hprev, float *hn,
                             float *h)
{
    int H = s->H;
    const float *restrict b_hn = s->b_hh + 2 * H, *restrict b_in = s->bias + 2 * H;
    for (int b = 0; b < s->B; b++) {
        float *gb = gate + (size_t)b * 3 * H, *restrict hnb = hn + (size_t)b * H;
        float *restrict hb = h + (size_t)b * s->D;
        if (s->t >= s->lens[b]) {
            memset(hb, 0, (size_t)H * sizeof *hb);
            continue;
        }
        const float *hgb = hg ? hg + (size_t)b * 3 * H : NULL;
        add_bias_rec(gb, s->bias, hgb, 2 * H);
        sigmoid_inplace(gb, 2 * H); /* r, z */
        float *restrict ng = gb + 2 * H;
        const float *restrict rg = gb, *restrict zg = gb + H;
        if (hgb) {
            const float *restrict hgn = hgb + 2 * H;
            for (int j = 0; j < H; j++)
                hnb[j] = hgn[j] + b_hn[j];
        } else {
            memcpy(hnb, b_hn, (size_t)H * sizeof *hnb);
        }
        for (int j = 0; j < H; j++)
            ng[j] = ng[j] + b_in[j] + rg[j] * hnb[j];
        tanh_inplace(ng, H);
        if (hprev) {
            const float *restrict hpb = hprev + (size_t)b * s->D;
            for (int j = 0; j < H; j++)
                hb[j] = (1.0f - zg[j]) * ng[j] + zg[j] * hpb[j];
        } else {
            for (int j = 0; j < H; j++)
                hb[j] = (1.0f - zg[j]) * ng[j];
        }
    }
}

/* GRU backward, one frame. dgx [B][3H] and dgh [B][3H] receive the pre-activation
   gradients on the input and the hidden side (they differ in the n gate by the factor
   r); dh is dL/dh_t through the recurrence on entry, on exit the direct part z*dh of
   dL/dh_{t-1} (the recurrent GEMM adds the rest). */
static void gru_step_backward(const struct step *s, const float *gate, const float *hn, const float *hprev,
                              const float *dy, float *dh, float *dgx, float *dgh)
{
    int H = s->H;
    for (int b = 0; b < s->B; b++) {
        float *dgxb = dgx + (size_t)b * 3 * H, *dghb = dgh + (size_t)b * 3 * H, *dhb = dh + (size_t)b * H;
        if (s->t >= s->lens[b]) {
            memset(dgxb, 0, (size_t)3 * H * sizeof *dgxb);
            memset(dghb, 0, (size_t)3 * H * sizeof *dghb);
            memset(dhb, 0, (size_t)H * sizeof *dhb);
            continue;
        }
        const float *gb = gate + (size_t)b * 3 * H, *hnb = hn + (size_t)b * H, *dyb = dy + (size_t)b * s->D;
        const float *hpb = hprev ? hprev + (size_t)b * s->D : NULL;
        for (int j = 0; j < H; j++) {
            float r = gb[j], z = gb[H + j], n = gb[2 * H + j], hp = hpb ? hpb[j] : 0.0f;
            float dhv = dyb[j] + dhb[j];
            float dan = dhv * (1.0f - z) * (1.0f - n * n);
            float daz = dhv * (hp - n) * z * (1.0f - z);
            float dar = dan * hnb[j] * r * (1.0f - r);
            dgxb[j] = dar;
            dgxb[H + j] = daz;
            dgxb[2 * H + j] = dan;
            dghb[j] = dar;
            dghb[H + j] = daz;
            dghb[2 * H + j] = dan * r;
            dhb[j] = dhv * z;
        }
    }
}

/* Simple RNN forward, one frame. gate [B][H]: x W_ih^T on entry, the pre-activation on
   exit; hg [B][H] = h_prev W_hh^T (NULL: zero state); h = tanh or relu. */
static void rnn_step_forward(const struct step *s, int relu, float *gate, const float *hg, float *h)
{
    int H = s->H;
    for (int b = 0; b < s->B; b++) {
        float *restrict gb = gate + (size_t)b * H, *restrict hb = h + (size_t)b * s->D;
        if (s->t >= s->lens[b]) {
            memset(hb, 0, (size_t)H * sizeof *hb);
            continue;
        }
        add_bias_rec(gb, s->bias, hg ? hg + (size_t)b * H : NULL, H);
        if (relu) {
            for (int j = 0; j < H; j++)
                hb[j] = gb[j] > 0.0f ? gb[j] : 0.0f;
        } else {
            memcpy(hb, gb, (size_t)H * sizeof *hb);
            tanh_inplace(hb, H);
        }
    }
}

/* Simple RNN backward, one frame: dg [B][H] = (dy + dh) * act'(pre), with act' taken
   from the output h [B][*] (stride D); dh is reset for the recurrent GEMM. */
static void rnn_step_backward(const struct step *s, int relu, const float *h, const float *dy, float *dh, float *dg)
{
    int H = s->H;
    for (int b = 0; b < s->B; b++) {
        float *dgb = dg + (size_t)b * H, *dhb = dh + (size_t)b * H;
        if (s->t >= s->lens[b]) {
            memset(dgb, 0, (size_t)H * sizeof *dgb);
            memset(dhb, 0, (size_t)H * sizeof *dhb);
            continue;
        }
        const float *hb = h + (size_t)b * s->D, *dyb = dy + (size_t)b * s->D;
        for (int j = 0; j < H; j++) {
            float g = dyb[j] + dhb[j], y = hb[j];
            dgb[j] = relu ? (y > 0.0f ? g : 0.0f) : g * (1.0f - y * y);
            dhb[j] = 0.0f;
        }
    }
}

/* ---- one direction of one layer -------------------------------------------------------- */

/* The recurrent products of one step, over the whole batch. OpenBLAS's sgemm packs the
   [G][H] weight on every call, which at B = 1..3 costs several times the arithmetic
   (measured 5x at B = 1, H = 256), so small batches go row by row through sgemv. */
#define RECUR_GEMV_MAX_B 3

/* hg [B][G] = hprev [B][H] (row stride D) W_hh^T */
static void recur_forward(int B, int G, int H, const float *hprev, size_t D, const float *w_hh, float *hg)
{
    if (B <= RECUR_GEMV_MAX_B) {
        for (int b = 0; b < B; b++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, w_hh, H, hprev + (size_t)b * D, 1, 0.0f,
                        hg + (size_t)b * G, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, G, H, 1.0f, hprev, (int)D, w_hh, H, 0.0f, hg, G);
}

/* dh [B][H] += dg [B][G] W_hh [G][H] */
static void recur_backward(int B, int G, int H, const float *dg, const float *w_hh, float *dh)
{
    if (B <= RECUR_GEMV_MAX_B) {
        for (int b = 0; b < B; b++)
            cblas_sgemv(CblasRowMajor, CblasTrans, G, H, 1.0f, w_hh, H, dg + (size_t)b * G, 1, 1.0f,
                        dh + (size_t)b * H, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dg, G, w_hh, H, 1.0f, dh, H);
}

struct dir_job {
    const struct voz_net *net;
    struct voz_net_ws *ws;
    struct voz_net *grads; /* backward only */
    const float *in;       /* [T][B][I] layer input */
    int layer, dir, In;    /* In: the layer's I (<complex.h>, via cblas.h, owns the name I) */
};

/* Forward of one direction: in [T][B][I] -> columns [dir*H, dir*H+H) of y [T][B][D].
   One GEMM projects every frame, then one GEMM per step for the recurrence. */
static void dir_forward(void *arg)
{
    const struct dir_job *j = arg;
    const struct voz_net_ws *ws = j->ws;
    const voz_net_config *c = &j->net->cfg;
    const struct voz_net_layer_view *v = &j->net->cell[j->layer][j->dir];
    int T = ws->T, B = ws->B, H = c->hidden, G = voz_net_gate_rows(c), l = j->layer, d = j->dir;
    size_t D = (size_t)H * num_dirs(c), TB = (size_t)T * B;
    float *gate = ws->f.gate[l][d], *aux = ws->f.aux[l][d], *aux2 = ws->f.aux2[l][d], *hg = ws->f.hg[d];
    float *y = ws->f.y[l] + (size_t)d * H, *bias = ws->f.bias[d];

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, G, j->In, 1.0f, j->in, j->In, v->w_ih, j->In,
                0.0f, gate, G);
    int nsum = c->cell == VOZ_CELL_GRU ? 2 * H : G; /* GRU: b_hn stays inside r * (...) */
    for (int k = 0; k < G; k++)
        bias[k] = k < nsum ? v->b_ih[k] + v->b_hh[k] : v->b_ih[k];
    struct step s = { B, H, D, ws->lens, 0, bias, v->b_hh };
    for (int k = 0; k < T; k++) {
        int t = d ? T - 1 - k : k, tp = d ? t + 1 : t - 1;
        const float *hprev = k ? y + (size_t)tp * B * D : NULL;
        if (hprev)
            recur_forward(B, G, H, hprev, D, v->w_hh, hg);
        const float *hgt = hprev ? hg : NULL;
        float *gt = gate + (size_t)t * B * G, *yt = y + (size_t)t * B * D;
        s.t = t;
        switch (c->cell) {
        case VOZ_CELL_LSTM:
            lstm_step_forward(&s, gt, hgt, hprev ? aux + (size_t)tp * B * H : NULL, aux + (size_t)t * B * H,
                              aux2 + (size_t)t * B * H, yt);
            break;
        case VOZ_CELL_GRU:
            gru_step_forward(&s, gt, hgt, hprev, aux + (size_t)t * B * H, yt);
            break;
        default:
            rnn_step_forward(&s, c->cell == VOZ_CELL_RNN_RELU, gt, hgt, yt);
            break;
        }
    }
}

/* acc [cols] += column sums of m [rows][cols] */
static void add_colsum(float *acc, const float *m, size_t rows, int cols)
{
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++)
            acc[k] += m[r * cols + k];
}

/* Backward of one direction, given dy [T][B][D] (its columns [dir*H, dir*H+H)): the
   per-step recurrence fills dgx/dgh [T][B][G]; then dW_ih, dW_hh and the biases are
   each accumulated with one GEMM / pass over all frames. */
static void dir_backward(void *arg)
{
    const struct dir_job *j = arg;
    struct voz_net_ws *ws = j->ws;
    const voz_net_config *c = &j->net->cfg;
    const struct voz_net_layer_view *v = &j->net->cell[j->layer][j->dir];
    const struct voz_net_layer_view *gv = &j->grads->cell[j->layer][j->dir];
    int T = ws->T, B = ws->B, H = c->hidden, G = voz_net_gate_rows(c), l = j->layer, d = j->dir;
    size_t D = (size_t)H * num_dirs(c), TB = (size_t)T * B;
    const float *gate = ws->f.gate[l][d], *aux = ws->f.aux[l][d], *aux2 = ws->f.aux2[l][d];
    const float *y = ws->f.y[l] + (size_t)d * H, *dy = ws->b.dy[l % 2] + (size_t)d * H;
    float *dgx = ws->b.dgx[d], *dgh = ws->b.dgh[d], *dh = ws->b.dh[d], *dc = ws->b.dc[d];

    memset(dh, 0, (size_t)B * H * sizeof *dh);
    if (dc)
        memset(dc, 0, (size_t)B * H * sizeof *dc);
    struct step s = { B, H, D, ws->lens, 0, NULL, NULL };
    for (int k = 0; k < T; k++) { /* frames in the reverse of the forward order */
        int t = d ? k : T - 1 - k, tp = d ? t + 1 : t - 1, has_prev = d ? t + 1 < T : t > 0;
        size_t ot = (size_t)t * B;
        s.t = t;
        switch (c->cell) {
        case VOZ_CELL_LSTM:
            lstm_step_backward(&s, gate + ot * G, has_prev ? aux + (size_t)tp * B * H : NULL, aux2 + ot * H,
                               dy + ot * D, dh, dc, dgx + ot * G);
            break;
        case VOZ_CELL_GRU:
            gru_step_backward(&s, gate + ot * G, aux + ot * H, has_prev ? y + (size_t)tp * B * D : NULL,
                              dy + ot * D, dh, dgx + ot * G, dgh + ot * G);
            break;
        default:
            rnn_step_backward(&s, c->cell == VOZ_CELL_RNN_RELU, y + ot * D, dy + ot * D, dh, dgx + ot * G);
            break;
        }
        if (has_prev) /* dh_{t-1} += dg_t [B][G] W_hh [G][H] */
            recur_backward(B, G, H, dgh + ot * G, v->w_hh, dh);
    }
    /* dW_ih [G][I] += dgx^T [G][TB] in [TB][I] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, j->In, (int)TB, 1.0f, dgx, G, j->in, j->In, 1.0f,
                gv->w_ih, j->In);
    /* dW_hh [G][H] += sum_t dgh_t^T h_{t-1}: frames with a predecessor, in one GEMM over
       the shifted row ranges (forward: dgh[1..T-1] with y[0..T-2]; reverse: the other way) */
    if (T > 1) {
        size_t rows = (size_t)(T - 1) * B;
        const float *a = d ? dgh : dgh + (size_t)B * G, *hp = d ? y + (size_t)B * D : y;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, (int)rows, 1.0f, a, G, hp, (int)D, 1.0f,
                    gv->w_hh, H);
    }
    add_colsum(gv->b_ih, dgx, TB, G);
    add_colsum(gv->b_hh, dgh, TB, G);
}

/* ---- dense + log-softmax, split in two row ranges for the pool ------------------------ */

struct rows_job {
    const struct voz_net *net;
    struct voz_net_ws *ws;
    float *out;          /* forward: logprobs [T][B][C]; backward: dx of the layer */
    size_t r0, r1;       /* rows [r0, r1) of the T*B frame rows */
    int layer;           /* backward: the layer whose input gradient is computed */
    int In;              /* ... and its input size */
};

/* logprobs rows [r0,r1) of [TB][C] = log_softmax(y_top [TB][D] fc_w^T + fc_b); padded 0 */
static void head_forward(void *arg)
{
    const struct rows_job *j = arg;
    const voz_net_config *c = &j->net->cfg;
    int C = c->classes, B = j->ws->B;
    size_t D = (size_t)c->hidden * num_dirs(c), n = j->r1 - j->r0;
    if (!n)
        return;
    const float *y = j->ws->f.in[c->layers] + j->r0 * D;
    float *z = j->out + j->r0 * (size_t)C;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, C, (int)D, 1.0f, y, (int)D, j->net->fc_w, (int)D,
                0.0f, z, C);
    for (size_t r = j->r0; r < j->r1; r++, z += C) {
        if ((int)(r / B) >= j->ws->lens[r % B]) {
            memset(z, 0, (size_t)C * sizeof *z);
            continue;
        }
        float m = -INFINITY;
        for (int k = 0; k < C; k++) {
            z[k] += j->net->fc_b[k];
            if (z[k] > m)
                m = z[k];
        }
        double sum = 0;
        for (int k = 0; k < C; k++)
            sum += exp((double)(z[k] - m));
        float lse = m + (float)log(sum);
        for (int k = 0; k < C; k++)
            z[k] -= lse;
    }
}

/* rows [r0,r1) of dx [TB][I] = sum over directions of dgx_d [TB][G] W_ih_d [G][I] */
static void input_grad(void *arg)
{
    const struct rows_job *j = arg;
    const voz_net_config *c = &j->net->cfg;
    int G = voz_net_gate_rows(c);
    size_t n = j->r1 - j->r0;
    if (!n)
        return;
    for (int d = 0; d < num_dirs(c); d++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, j->In, G, 1.0f,
                    j->ws->b.dgx[d] + j->r0 * G, G, j->net->cell[j->layer][d].w_ih, j->In, d ? 1.0f : 0.0f,
                    j->out + j->r0 * j->In, j->In);
}

/* ---- dropout between layers (training) -------------------------------------------------- */

/* dst = src with each element zeroed with probability p and the rest scaled by 1/(1-p)
   ("inverted" dropout: inference needs no rescaling). The mask is a pure function of the
   seed, so backward regenerates it instead of storing it (the same call on dy gives
   the gradient w.r.t. y), and a resumed run draws what an uninterrupted one would have.
   In place is allowed. 16 random bits per element: p is effectively quantised to 2^-16. */
static void dropout_mask(const float *src, float *dst, size_t n, float p, uint64_t seed)
{
    uint64_t s = seed, bits = 0;
    uint32_t thresh = (uint32_t)(p * 65536.0f + 0.5f);
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        if ((i & 3) == 0)
            bits = rng_next(&s);
        uint32_t r = (uint32_t)(bits & 0xFFFF);
        bits >>= 16;
        dst[i] = r < thresh ? 0.0f : src[i] * scale;
    }
}

static uint64_t dropout_layer_seed(uint64_t seed, int l) { return seed ^ ((uint64_t)(l + 1) * 0x632BE59BD9B4E019ull); }

/* ---- the network ---------------------------------------------------------------------- */

static int same_config(const voz_net_config *a, const voz_net_config *b)
{
    return a->cell == b->cell && a->input_dim == b->input_dim && a->hidden == b->hidden &&
           a->layers == b->layers && a->bidirectional == b->bidirectional && a->classes == b->classes;
}

/* The pool a forward may use: none while voz_net_forward2 has the worker busy. */
static struct pool *fwd_pool(struct voz_net_ws *ws)
{
    static struct pool idle; /* never started: run2() runs both tasks on the caller */
    return ws->serial ? &idle : &ws->pool;
}

voz_status voz_net_forward(const struct voz_net *net, struct voz_net_ws *ws, const float *x, const int *lens,
                           int T, int B, float *logprobs, int keep_cache)
{
    if (!net || !ws || !net->params)
        return voz_fail(VOZ_ERR_INVALID, "net forward: missing network or workspace");
    const voz_net_config *c = &net->cfg;
    if (!same_config(c, &ws->cfg))
        return voz_fail(VOZ_ERR_INVALID, "net forward: workspace was created for another network configuration");
    if (T < 0 || B < 1)
        return voz_fail(VOZ_ERR_INVALID, "net forward: T=%d B=%d, expected T >= 0, B >= 1", T, B);
    if ((size_t)T * B > (size_t)INT_MAX / 2)
        return voz_fail(VOZ_ERR_INVALID, "net forward: T*B = %zu frames, at most %d supported", (size_t)T * B,
                        INT_MAX / 2);
    if (T > 0 && (!x || !logprobs))
        return voz_fail(VOZ_ERR_INVALID, "net forward: missing input or output");
    for (int b = 0; lens && b < B; b++)
        if (lens[b] < 0 || lens[b] > T)
            return voz_fail(VOZ_ERR_INVALID, "net forward: lens[%d] = %d, expected 0..%d", b, lens[b], T);
    ws->cached = 0;

    size_t need = ws_layout(ws, (size_t)T, (size_t)B, keep_cache, NULL);
    if (need == SIZE_MAX)
        return voz_fail(VOZ_ERR_NOMEM, "net forward: workspace size overflows for T=%d B=%d", T, B);
    if (need > ws->cap || !ws->mem) { /* grow; the old contents are not needed */
        voz_free_aligned(ws->mem);
        ws->cap = 0;
        ws->mem = voz_alloc_aligned((need ? need : 16) * sizeof(float));
        if (!ws->mem)
            return voz_fail(VOZ_ERR_NOMEM, "net forward: cannot allocate a %zu MB workspace",
                            need * sizeof(float) >> 20);
        ws->cap = need;
    }
    if (B > ws->lens_cap) {
        int *nl = realloc(ws->lens, (size_t)B * sizeof *nl);
        if (!nl)
            return voz_fail(VOZ_ERR_NOMEM, "net forward: out of memory");
        ws->lens = nl;
        ws->lens_cap = B;
    }
    for (int b = 0; b < B; b++)
        ws->lens[b] = lens ? lens[b] : T;
    ws->T = T;
    ws->B = B;
    ws_layout(ws, (size_t)T, (size_t)B, keep_cache, ws->mem);
    if (T == 0)
        return VOZ_OK;

    size_t TB = (size_t)T * B;
    const float *in = x;
    if (keep_cache) { /* backward needs the input for dW_ih of layer 0 */
        memcpy(ws->f.x, x, TB * (size_t)c->input_dim * sizeof *x);
        in = ws->f.x;
    }
    for (int l = 0; l < c->layers; l++) {
        struct dir_job jobs[2];
        for (int d = 0; d < 2; d++)
            jobs[d] = (struct dir_job){ net, ws, NULL, in, l, d, (int)layer_input(c, l) };
        if (c->bidirectional)
            run2(fwd_pool(ws), dir_forward, &jobs[0], dir_forward, &jobs[1]);
        else
            dir_forward(&jobs[0]);
        if (ws->f.ym[l])
            dropout_mask(ws->f.y[l], ws->f.ym[l], TB * (size_t)c->hidden * num_dirs(c), ws->dropout,
                         dropout_layer_seed(ws->dropout_seed, l));
        in = ws->f.in[l + 1];
    }
    struct rows_job hj[2] = { { net, ws, logprobs, 0, TB / 2, 0, 0 }, { net, ws, logprobs, TB / 2, TB, 0, 0 } };
    run2(fwd_pool(ws), head_forward, &hj[0], head_forward, &hj[1]);
    ws->cached = keep_cache ? 1 : 0;
    ws->dropped = ws->f.ym[0] != NULL;
    ws->drop_p = ws->dropout;
    ws->drop_seed = ws->dropout_seed;
    return VOZ_OK;
}

struct pass_job {
    const struct voz_net *net;
    struct voz_net_ws *ws;
    const float *x;
    float *y;
    int T;
    voz_status s;
    char err[512]; /* the error text is per thread: carried back from the worker */
};

static void pass_run(void *arg)
{
    struct pass_job *j = arg;
    j->s = voz_net_forward(j->net, j->ws, j->x, NULL, j->T, 1, j->y, 0);
    if (j->s)
        snprintf(j->err, sizeof j->err, "%s", voz_last_error());
}

voz_status voz_net_forward2(struct voz_net_ws *ws, const struct voz_net *a, const float *xa, float *ya,
                            const struct voz_net *b, const float *xb, float *yb, int T)
{
    if (!ws->pool.running) { /* one thread: one after the other */
        voz_status s = voz_net_forward(a, ws, xa, NULL, T, 1, ya, 0);
        return s ? s : voz_net_forward(b, ws, xb, NULL, T, 1, yb, 0);
    }
    if (!ws->twin && !(ws->twin = voz_net_ws_create(&ws->cfg, 1)))
        return voz_fail(VOZ_ERR_NOMEM, "net forward: out of memory for a second workspace");
    struct pass_job ja = { a, ws, xa, ya, T, VOZ_OK, "" }, jb = { b, ws->twin, xb, yb, T, VOZ_OK, "" };
    ws->serial = 1;
    run2(&ws->pool, pass_run, &ja, pass_run, &jb);
    ws->serial = 0;
    if (ja.s)
        return voz_fail(ja.s, "%s", ja.err);
    if (jb.s)
        return voz_fail(jb.s, "%s", jb.err);
    return VOZ_OK;
}

voz_status voz_net_backward(const struct voz_net *net, struct voz_net_ws *ws, const float *dlogits,
                            struct voz_net *grads, float *dx)
{
    if (!net || !ws || !grads || !grads->params)
        return voz_fail(VOZ_ERR_INVALID, "net backward: missing network, workspace or gradients");
    const voz_net_config *c = &net->cfg;
    if (!same_config(c, &ws->cfg) || !same_config(c, &grads->cfg))
        return voz_fail(VOZ_ERR_INVALID, "net backward: network, workspace and gradients disagree on the configuration");
    if (!ws->cached)
        return voz_fail(VOZ_ERR_INVALID, "net backward: no cached forward (call voz_net_forward with keep_cache=1)");
    int T = ws->T, B = ws->B, C = c->classes, L = c->layers;
    size_t TB = (size_t)T * B, D = (size_t)c->hidden * num_dirs(c);
    if (T == 0)
        return VOZ_OK;
    if (!dlogits)
        return voz_fail(VOZ_ERR_INVALID, "net backward: missing dlogits");

    /* Padded frames were written as constants, so their dlogits do not count. */
    for (size_t r = 0; r < TB; r++) {
        float *dst = ws->b.dlog + r * C;
        if ((int)(r / B) < ws->lens[r % B])
            memcpy(dst, dlogits + r * C, (size_t)C * sizeof *dst);
        else
            memset(dst, 0, (size_t)C * sizeof *dst);
    }
    /* head: dfc_w [C][D] += dlog^T y_top, dfc_b += column sums, dy_top [TB][D] = dlog fc_w */
    const float *ytop = ws->f.in[L];
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, (int)D, (int)TB, 1.0f, ws->b.dlog, C, ytop, (int)D,
                1.0f, grads->fc_w, (int)D);
    add_colsum(grads->fc_b, ws->b.dlog, TB, C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, (int)D, C, 1.0f, ws->b.dlog, C, net->fc_w,
                (int)D, 0.0f, ws->b.dy[(L - 1) % 2], (int)D);
    if (ws->dropped)
        dropout_mask(ws->b.dy[(L - 1) % 2], ws->b.dy[(L - 1) % 2], TB * D, ws->drop_p,
                     dropout_layer_seed(ws->drop_seed, L - 1));

    for (int l = L - 1; l >= 0; l--) {
        const float *in = l ? ws->f.in[l] : ws->f.x;
        int In = (int)layer_input(c, l);
        struct dir_job jobs[2];
        for (int d = 0; d < 2; d++)
            jobs[d] = (struct dir_job){ net, ws, grads, in, l, d, In };
        if (c->bidirectional)
            run2(&ws->pool, dir_backward, &jobs[0], dir_backward, &jobs[1]);
        else
            dir_backward(&jobs[0]);
        float *out = l ? ws->b.dy[(l - 1) % 2] : dx;
        if (!out)
            continue;
        struct rows_job rj[2] = { { net, ws, out, 0, TB / 2, l, In }, { net, ws, out, TB / 2, TB, l, In } };
        run2(&ws->pool, input_grad, &rj[0], input_grad, &rj[1]);
        if (l && ws->dropped)
            dropout_mask(out, out, TB * D, ws->drop_p, dropout_layer_seed(ws->drop_seed, l - 1));
    }
    return VOZ_OK;
}
