/* decoder/ctc_loss.c — the CTC loss -log p(labels | x) and its gradient w.r.t. the
   pre-softmax logits, by forward-backward over the extended label sequence
   l' = (blank, l1, blank, l2, ..., lL, blank) of S = 2L+1 states, accumulated in
   double. Shapes: T frames, C classes, L labels; alpha is [T][S], beta two rows [S]
   (the gradient of frame t is written as soon as beta_t is known).

   Two recursions compute the same thing. The scaled one works in linear arithmetic
   with every row renormalised (Rabiner's scaling): one exp per frame and class, none
   per state, so a training batch (16 x 300 frames, 40 labels) costs a few ms. It can
   underflow where log space cannot, so its result is kept only when the checks in
   loss_scaled() pass; otherwise the log-space recursion (log-sum-exp per state,
   exact for -inf) redoes the call. */
#include "decoder/ctc.h"
#include "decoder/logmath.h"
#include "common/util.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A used class may sit at most this many nats below the best used class of its
   frame in the scaled recursion: exp(-700) is still a normal double. */
#define SCALED_MAX_GAP 700.0

/* One call's problem and its views into the workspace. */
struct ctc_job {
    const float *lp;  /* logprobs, row t at lp + t*stride */
    int T, C, L, S, blank;
    size_t stride;
    float *dlogits;   /* may be NULL */
    const int *ext;   /* [S] class of each state */
    const int *skip;  /* [S] 1 when state s may be entered from s-2 */
    const int *used;  /* [U] distinct classes of the states */
    int U;
    double *alpha;    /* [T][S] log alpha (log space) or scaled alpha (linear) */
    double *emit;     /* [T][C] exp(logprob - fmax) */
    double *fmax;     /* [T] max logprob over used classes per frame */
    double *logscale; /* [T] log of the scale of each scaled alpha row */
    double *row0, *row1; /* [S] each */
    double *row2;     /* [S+2], the last two stay zero */
    double *skipw;    /* [S+2] skip flags as 0.0 / 1.0, zero past the end */
    double *occ;      /* [C] posterior occupancy of each class at one frame */
};

static inline double lse3(double a, double b, double c)
{
    double m = a > b ? a : b;
    if (c > m)
        m = c;
    if (m == -INFINITY)
        return -INFINITY;
    return m + log(exp(a - m) + exp(b - m) + exp(c - m));
}

int voz_ctc_min_frames(const int *labels, int L)
{
    int n = L > 0 ? L : 0;
    for (int i = 1; i < L; i++)
        if (labels[i] == labels[i - 1])
            n++; /* a blank must separate two identical labels */
    return n;
}

void voz_ctc_ws_init(struct voz_ctc_ws *ws) { memset(ws, 0, sizeof *ws); }

void voz_ctc_ws_release(struct voz_ctc_ws *ws)
{
    free(ws->buf);
    free(ws->ibuf);
    ws->buf = NULL;
    ws->ibuf = NULL;
    ws->cap = ws->icap = 0;
}

/* Makes room for nd doubles and ni ints; keeps blocks that are large enough. */
static int ws_reserve(struct voz_ctc_ws *ws, size_t nd, size_t ni)
{
    if (nd > ws->cap) {
        if (nd > SIZE_MAX / sizeof(double))
            return -1;
        double *p = realloc(ws->buf, nd * sizeof(double));
        if (!p)
            return -1;
        ws->buf = p;
        ws->cap = nd;
    }
    if (ni > ws->icap) {
        if (ni > SIZE_MAX / sizeof(int))
            return -1;
        int *p = realloc(ws->ibuf, ni * sizeof(int));
        if (!p)
            return -1;
        ws->ibuf = p;
        ws->icap = ni;
    }
    return 0;
}

static void zero_grad(float *dlogits, int T, int C, size_t stride)
{
    if (!dlogits)
        return;
    for (int t = 0; t < T; t++)
        memset(dlogits + (size_t)t * stride, 0, (size_t)C * sizeof(float));
}

/* dlogits[t][c] = exp(logprob) - occupancy; occ holds zeros for unused classes. */
static void write_grad(const struct ctc_job *j, int t)
{
    const float *lp = j->lp + (size_t)t * j->stride;
    float *d = j->dlogits + (size_t)t * j->stride;
    for (int c = 0; c < j->C; c++)
        d[c] = (float)(exp((double)lp[c]) - j->occ[c]);
}

/* Sums with two accumulators: the adds of one chain would wait on each other. */
static inline double row_sum(const double *x, int n)
{
    double s0 = 0.0, s1 = 0.0;
    int i = 0;
    for (; i + 1 < n; i += 2) {
        s0 += x[i];
        s1 += x[i + 1];
    }
    if (i < n)
        s0 += x[i];
    return s0 + s1;
}

static inline double row_dot(const double *x, const double *y, int n)
{
    double s0 = 0.0, s1 = 0.0;
    int i = 0;
    for (; i + 1 < n; i += 2) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
    }
    if (i < n)
        s0 += x[i] * y[i];
    return s0 + s1;
}

/* The scaled recursion. Returns 0 with *loss set, or -1 when the input needs the
   log-space recursion: a frame whose used classes are all -inf or NaN, a used class
   more than SCALED_MAX_GAP below its frame's best, a row that sums to zero, or a
   frame where sum_s alpha_t(s) beta_t(s) differs from p (mass lost to underflow in
   one pass shows up there). dlogits may be partly written on -1. */
static int loss_scaled(const struct ctc_job *j, double *loss)
{
    const int T = j->T, C = j->C, S = j->S, L = j->L;
    const int *ext = j->ext;

    /* Emissions relative to the frame's best used class: the largest is exactly 1. */
    for (int t = 0; t < T; t++) {
        const float *lp = j->lp + (size_t)t * j->stride;
        double m = -INFINITY;
        for (int u = 0; u < j->U; u++)
            if (lp[j->used[u]] > m)
                m = lp[j->used[u]];
        if (!(m > -INFINITY) || m == INFINITY)
            return -1;
        if (m > 700.0)
            return -1; /* not log-probabilities; exp(m) would overflow below */
        for (int u = 0; u < j->U; u++)
            if (!(lp[j->used[u]] - m >= -SCALED_MAX_GAP))
                return -1; /* also NaN */
        /* Every class, because the gradient needs exp(logprob) = emit * exp(m). */
        double *e = j->emit + (size_t)t * C;
        for (int c = 0; c < C; c++)
            e[c] = exp(lp[c] - m);
        j->fmax[t] = m;
    }

    /* Forward: alpha_t(s) = a[t][s] * exp(logscale[t]), each row summing to 1. */
    double *a = j->alpha;
    for (int s = 0; s < S; s++)
        a[s] = 0.0;
    a[0] = j->emit[j->blank];
    if (L > 0)
        a[1] = j->emit[ext[1]];
    double sum = a[0] + (L > 0 ? a[1] : 0.0);
    double logs = j->fmax[0] + log(sum);
    for (int s = 0; s < S; s++)
        a[s] /= sum;
    j->logscale[0] = logs;
    for (int t = 1; t < T; t++) {
        const double *ap = j->alpha + (size_t)(t - 1) * S;
        const double *e = j->emit + (size_t)t * C;
        a = j->alpha + (size_t)t * S;
        int hi = 2 * t + 1 < S - 1 ? 2 * t + 1 : S - 1; /* reachable states */
        a[0] = ap[0] * e[j->blank];
        if (hi >= 1)
            a[1] = (ap[1] + ap[0]) * e[ext[1]];
        for (int s = 2; s <= hi; s++)
            a[s] = (ap[s] + ap[s - 1] + j->skipw[s] * ap[s - 2]) * e[ext[s]];
        for (int s = hi + 1; s < S; s++)
            a[s] = 0.0;
        sum = row_sum(a, hi + 1);
        if (!(sum > 0.0 && sum < INFINITY))
            return -1;
        double inv = 1.0 / sum;
        for (int s = 0; s <= hi; s++)
            a[s] *= inv;
        logs += j->fmax[t] + log(sum);
        j->logscale[t] = logs;
    }
    a = j->alpha + (size_t)(T - 1) * S;
    double fin = a[S - 1] + (L > 0 ? a[S - 2] : 0.0);
    if (!(fin > 1e-290))
        return -1;
    const double logp = logs + log(fin);
    const double tol = 1e-9 * (1.0 + fabs(logp));

    /* Backward: beta_t(s) = b[s] * exp(blog), exclusive of frame t's emission. */
    double *b = j->row0, *bn = j->row1, *g = j->row2;
    for (int s = 0; s < S; s++)
        b[s] = 0.0;
    b[S - 1] = 1.0;
    if (L > 0)
        b[S - 2] = 1.0;
    double blog = 0.0;
    for (int t = T - 1; t >= 0; t--) {
        if (t < T - 1) {
            double *tmp = bn;
            bn = b; /* beta_{t+1} */
            b = tmp;
            const double *e = j->emit + (size_t)(t + 1) * C;
            for (int s = 0; s < S; s++)
                g[s] = bn[s] * e[ext[s]];
            for (int s = 0; s < S; s++)
                b[s] = g[s] + g[s + 1] + j->skipw[s + 2] * g[s + 2];
            sum = row_sum(b, S);
            if (!(sum > 0.0 && sum < INFINITY))
                return -1;
            double inv = 1.0 / sum;
            for (int s = 0; s < S; s++)
                b[s] *= inv;
            blog += j->fmax[t + 1] + log(sum);
        }
        a = j->alpha + (size_t)t * S;
        double z = row_dot(a, b, S);
        if (!(z > 1e-290) || !(fabs(log(z) + j->logscale[t] + blog - logp) <= tol))
            return -1;
        if (j->dlogits) {
            /* Blank states summed apart: the scatter into occ then has no chain
               of dependent stores through occ[blank]. */
            double inv = 1.0 / z, ob = 0.0;
            for (int u = 0; u < j->U; u++)
                j->occ[j->used[u]] = 0.0;
            for (int s = 0; s < S; s += 2)
                ob += a[s] * b[s]; /* blank states are even */
            for (int s = 1; s < S; s += 2)
                j->occ[ext[s]] += a[s] * b[s] * inv;
            j->occ[j->blank] = ob * inv;
            const double *e = j->emit + (size_t)t * C;
            const double ef = exp(j->fmax[t]);
            float *d = j->dlogits + (size_t)t * j->stride;
            for (int c = 0; c < C; c++)
                d[c] = (float)(e[c] * ef - j->occ[c]);
        }
    }
    *loss = -logp;
    return 0;
}

/* The log-space recursion: exact wherever double exponents reach, -inf safe. */
static double loss_log(const struct ctc_job *j)
{
    const int T = j->T, S = j->S, L = j->L;
    const int *ext = j->ext, *skip = j->skip;

    /* Forward: alpha_t(s) = log mass of all prefixes of t+1 frames ending in s. */
    const float *lp = j->lp;
    double *a = j->alpha;
    for (int s = 0; s < S; s++)
        a[s] = -INFINITY;
    a[0] = lp[j->blank];
    if (L > 0)
        a[1] = lp[ext[1]];
    for (int t = 1; t < T; t++) {
        const double *ap = j->alpha + (size_t)(t - 1) * S;
        a = j->alpha + (size_t)t * S;
        lp = j->lp + (size_t)t * j->stride;
        int hi = 2 * t + 1 < S - 1 ? 2 * t + 1 : S - 1;
        a[0] = ap[0] + lp[j->blank];
        for (int s = 1; s <= hi; s++) {
            double v = skip[s] ? lse3(ap[s], ap[s - 1], ap[s - 2]) : voz_log_add(ap[s], ap[s - 1]);
            a[s] = v + lp[ext[s]];
        }
        for (int s = hi + 1; s < S; s++)
            a[s] = -INFINITY;
    }
    a = j->alpha + (size_t)(T - 1) * S;
    double logp = L > 0 ? voz_log_add(a[S - 1], a[S - 2]) : a[S - 1];
    if (!(logp > -INFINITY)) {
        /* -inf log-probabilities can close every path; NaN input stays NaN. */
        zero_grad(j->dlogits, T, j->C, j->stride);
        return isnan(logp) ? NAN : INFINITY;
    }
    if (!j->dlogits)
        return -logp;

    /* Backward: beta_t(s) (exclusive of frame t) from g = beta_{t+1} + emission. */
    double *b = j->row0, *g = j->row1;
    for (int s = 0; s < S; s++)
        b[s] = -INFINITY;
    b[S - 1] = 0.0;
    if (L > 0)
        b[S - 2] = 0.0;
    for (int t = T - 1; t >= 0; t--) {
        lp = j->lp + (size_t)t * j->stride;
        a = j->alpha + (size_t)t * S;
        if (t < T - 1)
            for (int s = 0; s < S; s++) {
                double v = g[s];
                if (s + 1 < S)
                    v = s + 2 < S && skip[s + 2] ? lse3(v, g[s + 1], g[s + 2]) : voz_log_add(v, g[s + 1]);
                b[s] = v;
            }
        for (int u = 0; u < j->U; u++)
            j->occ[j->used[u]] = 0.0;
        for (int s = 0; s < S; s++) {
            double ab = a[s] + b[s];
            if (ab > -INFINITY)
                j->occ[ext[s]] += exp(ab - logp);
        }
        write_grad(j, t);
        for (int s = 0; s < S; s++)
            g[s] = b[s] + lp[ext[s]];
    }
    return -logp;
}

double voz_ctc_loss_ws(struct voz_ctc_ws *ws, const float *logprobs, int T, int C,
                       size_t stride, const int *labels, int L, int blank, float *dlogits)
{
    if (T < 0 || C < 1 || L < 0 || (size_t)C > stride || blank < 0 || blank >= C ||
        (T > 0 && !logprobs) || (L > 0 && !labels) || L > (INT_MAX - 1) / 2) {
        voz_fail(VOZ_ERR_INVALID, "ctc loss: bad arguments, expected T >= 0, "
                 "0 <= blank < C <= stride, found T=%d C=%d stride=%zu blank=%d L=%d",
                 T, C, stride, blank, L);
        return NAN;
    }
    for (int i = 0; i < L; i++)
        if (labels[i] < 0 || labels[i] >= C || labels[i] == blank) {
            voz_fail(VOZ_ERR_INVALID, "ctc loss: label %d is %d, expected a class in "
                     "[0, %d) other than blank %d", i, labels[i], C, blank);
            return NAN;
        }
    if (T < voz_ctc_min_frames(labels, L)) {
        zero_grad(dlogits, T, C, stride);
        return INFINITY;
    }
    if (T == 0)
        return 0.0; /* L == 0 here: the empty alignment is certain */

    const size_t S = 2 * (size_t)L + 1;
    size_t ts, tc, nd;
    if (voz_mul_size((size_t)T, S, &ts) || voz_mul_size((size_t)T, (size_t)C, &tc) ||
        ts > SIZE_MAX / 4 - tc || (nd = ts + tc) > SIZE_MAX / 4 - 2 * (size_t)T - 5 * S - 4 - (size_t)C ||
        ws_reserve(ws, nd + 2 * (size_t)T + 5 * S + 4 + (size_t)C, 2 * S + (size_t)C)) {
        voz_fail(VOZ_ERR_NOMEM, "ctc loss: no memory for the scratch of T=%d, L=%d", T, L);
        return NAN;
    }
    int *ext = ws->ibuf, *skip = ext + S, *used = skip + S;
    for (size_t s = 0; s < S; s++) {
        ext[s] = (s & 1) ? labels[s >> 1] : blank;
        /* a label state may skip the blank before it unless it repeats its label */
        skip[s] = (s & 1) && s >= 3 && labels[s >> 1] != labels[(s >> 1) - 1];
    }
    /* Distinct classes of the states, blank first, in order of appearance. */
    int U = 0;
    for (size_t s = 0; s < S; s++) {
        int k = 0;
        while (k < U && used[k] != ext[s])
            k++;
        if (k == U)
            used[U++] = ext[s];
    }
    double *p = ws->buf + nd + 2 * (size_t)T; /* past alpha, emit, fmax, logscale */
    struct ctc_job j = {
        .lp = logprobs, .T = T, .C = C, .L = L, .S = (int)S, .blank = blank,
        .stride = stride, .dlogits = dlogits, .ext = ext, .skip = skip, .used = used, .U = U,
        .alpha = ws->buf, .emit = ws->buf + ts, .fmax = ws->buf + nd,
        .logscale = ws->buf + nd + T, .row0 = p, .row1 = p + S, .row2 = p + 2 * S,
        .skipw = p + 3 * S + 2, .occ = p + 4 * S + 4,
    };
    for (size_t s = 0; s < S + 2; s++) {
        j.row2[s] = 0.0;
        j.skipw[s] = s < S ? skip[s] : 0;
    }
    if (dlogits)
        for (int c = 0; c < C; c++)
            j.occ[c] = 0.0; /* unused classes keep zero occupancy */
    double loss;
    if (!ws->exact && loss_scaled(&j, &loss) == 0)
        return loss;
    ws->n_exact++;
    return loss_log(&j);
}

/* voz_ctc_loss keeps one workspace per thread, freed when the thread exits. */
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_ok;

static void ws_destroy(void *ptr)
{
    voz_ctc_ws_release(ptr);
    free(ptr);
}

static void ws_key_create(void) { ws_key_ok = pthread_key_create(&ws_key, ws_destroy) == 0; }

double voz_ctc_loss(const float *logprobs, int T, int C, size_t stride, const int *labels,
                    int L, int blank, float *dlogits)
{
    pthread_once(&ws_once, ws_key_create);
    struct voz_ctc_ws *ws = ws_key_ok ? pthread_getspecific(ws_key) : NULL;
    if (ws_key_ok && !ws) {
        ws = malloc(sizeof *ws);
        if (ws) {
            voz_ctc_ws_init(ws);
            if (pthread_setspecific(ws_key, ws)) {
                free(ws);
                ws = NULL;
            }
        }
    }
    if (ws)
        return voz_ctc_loss_ws(ws, logprobs, T, C, stride, labels, L, blank, dlogits);
    /* No per-thread slot: a scratch for this call only. */
    struct voz_ctc_ws tmp;
    voz_ctc_ws_init(&tmp);
    double r = voz_ctc_loss_ws(&tmp, logprobs, T, C, stride, labels, L, blank, dlogits);
    voz_ctc_ws_release(&tmp);
    return r;
}

int voz_ctc_ensemble_pick(struct voz_ctc_ws *ws, const float *const *lps, int M, int T, int C, int blank,
                          const int *const *cands, const int *lens, int n_cands, double *score)
{
    int best = -1;
    double best_sum = -INFINITY;
    for (int k = 0; k < n_cands; k++) {
        double sum = 0;
        for (int j = 0; j < M && sum > -INFINITY; j++) {
            double loss = voz_ctc_loss_ws(ws, lps[j], T, C, (size_t)C, cands[k], lens[k], blank, NULL);
            if (isnan(loss))
                return -1;
            sum -= loss;
        }
        if (best < 0 || sum > best_sum) {
            best = k;
            best_sum = sum;
        }
    }
    if (score)
        *score = best_sum;
    return best;
}
