/* frontend/mfcc.c — Kaldi's MFCC: option checks, framing (NumFrames, edge reflection),
   the per-frame computer (window, mel banks, DCT, lifter over one KissFFT config) and
   the streaming driver. voz_features_compute (features.c) frames a whole buffer with the
   same extraction and the same computer, so live and batch features are bit-identical.
   Shapes: L frame length (samples), S frame shift, N fft size (L padded), K = N/2 + 1
   spectrum bins, M mel bins, C cepstra. */
#include "frontend/mfcc.h"
#include "common/util.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fft.h>

#define PREFIX "feature options"
/* Largest FFT we accept: a 2 s frame at 128 kHz. Anything bigger is a typo, and the
   limit keeps every size below computed in plain int without overflow. */
#define MAX_FFT (1 << 18)

/* ---- framing ----------------------------------------------------------------------- */

/* Kaldi truncates (static_cast<int32>) samp_freq * 0.001 * ms; torchaudio does the same
   in double. A frame rate in Hz times milliseconds is exact for the usual values. */
static double ms_to_samples(float rate, float ms) { return (double)rate * (double)ms * 0.001; }

static size_t padded_length(const voz_feature_params *p, size_t L)
{
    if (!p->round_pow2)
        return L;
    size_t n = 1;
    while (n < L)
        n <<= 1;
    return n;
}

size_t voz_mfcc_frame_length(const voz_feature_params *p)
{
    double v = ms_to_samples(p->sample_rate, p->frame_length_ms);
    return v >= 1 && v < (double)MAX_FFT ? (size_t)v : 0;
}

size_t voz_mfcc_frame_shift(const voz_feature_params *p)
{
    double v = ms_to_samples(p->sample_rate, p->frame_shift_ms);
    return v >= 1 && v < (double)MAX_FFT * 64 ? (size_t)v : 0;
}

size_t voz_mfcc_num_frames(const voz_feature_params *p, size_t n)
{
    size_t L = voz_mfcc_frame_length(p), S = voz_mfcc_frame_shift(p);
    if (!L || !S)
        return 0;
    if (p->snip_edges)
        return n < L ? 0 : 1 + (n - L) / S;
    return (n + S / 2) / S;
}

/* First sample of frame f (negative before the signal when snip_edges = 0: the frame
   is centred on f*S + S/2). */
static int64_t first_sample(int snip, size_t L, size_t S, uint64_t f)
{
    int64_t start = (int64_t)(f * S);
    if (!snip)
        start += (int64_t)(S / 2) - (int64_t)(L / 2);
    return start;
}

/* Kaldi's ExtractWindow index mapping: mirror at both ends ([2,1,0 | 0,1,2 ... n-1 | n-1,
   n-2]), repeated while still outside, so even inputs shorter than a frame resolve. */
static int64_t reflect_index(int64_t s, int64_t n)
{
    while (s < 0 || s >= n)
        s = s < 0 ? -s - 1 : 2 * n - 1 - s;
    return s;
}

/* ---- option checks ----------------------------------------------------------------- */

static int is_bool(int v) { return v == 0 || v == 1; }

static double mel_of(double hz) { return 1127.0 * log(1.0 + hz / 700.0); }

/* Band edges of the mel filterbank, Kaldi's rule: high_freq <= 0 counts from Nyquist. */
static void band_edges(const voz_feature_params *p, double *lo, double *hi)
{
    double nyq = 0.5 * p->sample_rate;
    *lo = p->low_freq;
    *hi = p->high_freq > 0 ? p->high_freq : nyq + p->high_freq;
}

static double hz_of(double mel) { return 700.0 * (exp(mel / 1127.0) - 1.0); }

static int has_warp(const voz_feature_params *p) { return p->vtln_warp != 0 && p->vtln_warp != 1; }

/* Kaldi's VtlnWarpFreq: frequencies scale by 1/warp between two knees, and the two
   outer pieces are straight lines that keep lo and hi fixed, so the warped bank still
   spans the same band. The knees move with the warp so that the scaled middle piece
   never leaves [lo, hi]. */
static double vtln_warp_hz(const voz_feature_params *p, double lo, double hi, double hz)
{
    double a = p->vtln_warp, nyq = 0.5 * p->sample_rate;
    double vlow = p->vtln_low, vhigh = p->vtln_high > 0 ? p->vtln_high : nyq + p->vtln_high;
    if (hz < lo || hz > hi)
        return hz;
    double l = vlow * (a > 1 ? a : 1), h = vhigh * (a < 1 ? a : 1), scale = 1.0 / a;
    double Fl = scale * l, Fh = scale * h;
    if (hz < l)
        return lo + (Fl - lo) / (l - lo) * (hz - lo);
    if (hz < h)
        return scale * hz;
    return hi + (hi - Fh) / (hi - h) * (hz - hi);
}

/* Left, centre and right edge (mel) of triangle b, warped when the params say so. */
static void mel_triangle(const voz_feature_params *p, double lo, double hi, int M, int b, double tri[3])
{
    double mlo = mel_of(lo), dm = (mel_of(hi) - mlo) / (M + 1);
    for (int i = 0; i < 3; i++) {
        tri[i] = mlo + (b + i) * dm;
        if (has_warp(p))
            tri[i] = mel_of(vtln_warp_hz(p, lo, hi, hz_of(tri[i])));
    }
}

voz_status voz_feature_params_check(const voz_feature_params *p)
{
    if (!p)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": missing (NULL)");
    if (!(p->sample_rate >= 100 && p->sample_rate <= 1e6f))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": sample_rate must be 100 to 1000000 Hz, found %g",
                        p->sample_rate);
    if (!(p->frame_length_ms > 0 && p->frame_length_ms <= 2000))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frame_length_ms must be in (0, 2000], found %g",
                        p->frame_length_ms);
    if (!(p->frame_shift_ms > 0 && p->frame_shift_ms <= 10000))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frame_shift_ms must be in (0, 10000], found %g",
                        p->frame_shift_ms);
    double Lf = ms_to_samples(p->sample_rate, p->frame_length_ms);
    double Sf = ms_to_samples(p->sample_rate, p->frame_shift_ms);
    if (Lf < 2)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frame of %g ms at %g Hz is %d samples, expected at least 2",
                        p->frame_length_ms, p->sample_rate, (int)Lf);
    if (Sf < 1)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frame shift of %g ms at %g Hz is 0 samples, expected at least 1",
                        p->frame_shift_ms, p->sample_rate);
    if (!is_bool(p->round_pow2) || !is_bool(p->snip_edges) || !is_bool(p->remove_dc) ||
        !is_bool(p->use_energy) || !is_bool(p->raw_energy) || !is_bool(p->htk_compat) ||
        !is_bool(p->cmvn_var))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": round_pow2, snip_edges, remove_dc, use_energy, raw_energy, "
                        "htk_compat and cmvn_var must each be 0 or 1, found %d %d %d %d %d %d %d",
                        p->round_pow2, p->snip_edges, p->remove_dc, p->use_energy, p->raw_energy,
                        p->htk_compat, p->cmvn_var);
    size_t L = (size_t)Lf, N = padded_length(p, L);
    if (N > MAX_FFT)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": FFT size %zu is too large, expected at most %d", N, MAX_FFT);
    if (N % 2)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frame of %zu samples with round_pow2 0 gives an odd FFT "
                        "size, expected an even frame length (or round_pow2 1)", L);
    if (!(p->preemph >= 0 && p->preemph <= 1))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": preemph must be in [0, 1], found %g", p->preemph);
    if ((int)p->window < VOZ_WINDOW_POVEY || (int)p->window > VOZ_WINDOW_BLACKMAN)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": window must be %d to %d (povey, hamming, hanning, "
                        "rectangular, blackman), found %d", VOZ_WINDOW_POVEY, VOZ_WINDOW_BLACKMAN, (int)p->window);
    if (!(p->dither >= 0 && p->dither <= 1e4f))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": dither must be in [0, 10000] (int16 units), found %g",
                        p->dither);
    if (p->num_mel_bins < 3 || p->num_mel_bins > 1024)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": num_mel_bins must be 3 to 1024, found %d", p->num_mel_bins);
    if (p->num_ceps < 1 || p->num_ceps > p->num_mel_bins)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": num_ceps must be 1 to num_mel_bins (%d), found %d",
                        p->num_mel_bins, p->num_ceps);
    if (p->htk_compat && p->num_ceps < 2)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": htk_compat needs num_ceps >= 2, found %d", p->num_ceps);
    double nyq = 0.5 * p->sample_rate, lo, hi;
    band_edges(p, &lo, &hi);
    if (!(lo >= 0 && lo < nyq))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": low_freq must be in [0, Nyquist %g Hz), found %g",
                        nyq, p->low_freq);
    if (!(hi > 0 && hi <= nyq && lo < hi))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": high_freq %g gives a band edge of %g Hz, expected above "
                        "low_freq %g and at most Nyquist %g Hz", p->high_freq, hi, lo, nyq);
    /* Kaldi refuses a filterbank with an empty triangle ("num-mel-bins too large"):
       each triangle must cover at least one FFT bin strictly inside it. */
    if (has_warp(p)) {
        double vhigh = p->vtln_high > 0 ? p->vtln_high : nyq + p->vtln_high;
        if (!(p->vtln_warp >= 0.5f && p->vtln_warp <= 2.0f))
            return voz_fail(VOZ_ERR_INVALID, PREFIX ": vtln_warp must be 1 (none) or in [0.5, 2], found %g",
                            p->vtln_warp);
        if (!(p->vtln_low > lo && p->vtln_low < vhigh && vhigh < hi))
            return voz_fail(VOZ_ERR_INVALID, PREFIX ": VTLN knees must satisfy low_freq %g < vtln_low %g < "
                            "vtln_high %g < high_freq %g Hz", lo, p->vtln_low, vhigh, hi);
    }
    double bw = p->sample_rate / N;
    for (int b = 0; b < p->num_mel_bins; b++) {
        double tri[3];
        mel_triangle(p, lo, hi, p->num_mel_bins, b, tri);
        double left = tri[0], right = tri[2];
        /* First FFT bin above the left edge: bins are uniformly spaced in Hz. */
        double hz_left = hz_of(left);
        size_t k = (size_t)(hz_left / bw);
        while (k < N / 2 && mel_of(k * bw) <= left)
            k++;
        if (k >= N / 2 || mel_of(k * bw) >= right)
            return voz_fail(VOZ_ERR_INVALID, PREFIX ": mel bin %d of %d covers no FFT bin (FFT size %zu, band "
                            "%g-%g Hz), expected fewer num_mel_bins or a longer frame",
                            b, p->num_mel_bins, N, lo, hi);
    }
    if (!(p->cepstral_lifter >= 0 && p->cepstral_lifter <= 1e4f))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": cepstral_lifter must be in [0, 10000], found %g",
                        p->cepstral_lifter);
    if (!(p->energy_floor >= 0 && p->energy_floor < 1e30f))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": energy_floor must be >= 0, found %g", p->energy_floor);
    if (p->delta_order < 0 || p->delta_order > 2)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": delta_order must be 0, 1 or 2, found %d", p->delta_order);
    if (p->delta_order > 0 && (p->delta_window < 1 || p->delta_window > 16))
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": delta_window must be 1 to 16, found %d", p->delta_window);
    if ((int)p->cmvn < VOZ_CMVN_NONE || (int)p->cmvn > VOZ_CMVN_RUNNING)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": cmvn must be %d (none), %d (utterance) or %d (running), "
                        "found %d", VOZ_CMVN_NONE, VOZ_CMVN_UTTERANCE, VOZ_CMVN_RUNNING, (int)p->cmvn);
    return VOZ_OK;
}

/* ---- the per-frame computer --------------------------------------------------------- */

struct voz_mfcc {
    voz_feature_params p;
    size_t L, N;          /* frame length, FFT size (>= L, zero padded) */
    int M, C;             /* mel bins, cepstra */
    float *window;        /* [L] */
    int *mel_first;       /* [M] first FFT bin of each triangle */
    int *mel_len;         /* [M] its width in bins */
    float *mel_w;         /* [sum mel_len] triangle weights, triangles back to back */
    float *dct;           /* [M][Cp] Kaldi's DCT-II transposed, row j = the weights of logmel[j]
                             for cepstra 0 .. C-1 (column 0 sqrt(1/M), k sqrt(2/M) cos),
                             Cp = C rounded up to even, the pad column zero */
    int Cp;               /* C rounded up to a multiple of 2 (one SSE vector of doubles) */
    double *cep;          /* [Cp] cepstrum accumulators */
    float *raw;           /* [L] scaled, dithered, DC-free samples before pre-emphasis */
    float *edge;          /* [L] a frame reflected at the signal's edges (offline driver) */
    float *lifter;        /* [C] 1 + L/2 sin(pi k / L), all 1 when the lifter is off */
    kiss_fft_cfg fft;     /* complex FFT of H = N/2 points, reused for every frame: the real
                             N-point transform is that of the even/odd samples packed as
                             complex values, then split (what kiss_fftr does, here with
                             the split vectorised and fused with the power spectrum) */
    float *tw_re, *tw_im; /* [H] the split's twiddles cos, sin of -2 pi k / N */
    float *buf;           /* [N] the frame being analysed */
    kiss_fft_cpx *spec;   /* [N/2 + 1] */
    float *logmel;        /* [M] */
    float log_floor;      /* log(energy_floor) when energy_floor > 0 */
    uint64_t rng;         /* dither generator state */
    int have_spare;       /* Box-Muller's second value is pending */
    double spare;
};

#define DITHER_SEED 0x766f7a2d64697468ull /* "voz-dith": fixed so dithered runs repeat */

void voz_mfcc_reset(struct voz_mfcc *m)
{
    m->rng = DITHER_SEED;
    m->have_spare = 0;
}

/* splitmix64: tiny, seedable, good enough for dither noise. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_gauss(struct voz_mfcc *m)
{
    if (m->have_spare) {
        m->have_spare = 0;
        return m->spare;
    }
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((rng_next(&m->rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = (rng_next(&m->rng) >> 11) * (1.0 / 9007199254740992.0);
    double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
    m->spare = r * sin(a);
    m->have_spare = 1;
    return r * cos(a);
}

static void make_window(voz_window type, size_t L, float *w)
{
    double a = 2.0 * M_PI / (double)(L - 1);
    for (size_t i = 0; i < L; i++) {
        double x = a * (double)i, v;
        switch (type) {
        case VOZ_WINDOW_HAMMING: v = 0.54 - 0.46 * cos(x); break;
        case VOZ_WINDOW_HANNING: v = 0.5 - 0.5 * cos(x); break;
        case VOZ_WINDOW_RECTANGULAR: v = 1.0; break;
        case VOZ_WINDOW_BLACKMAN: v = 0.42 - 0.5 * cos(x) + 0.08 * cos(2.0 * x); break;
        case VOZ_WINDOW_POVEY:
        default: v = pow(0.5 - 0.5 * cos(x), 0.85); break;
        }
        w[i] = (float)v;
    }
}

/* Kaldi's MelBanks: triangles equally spaced on 1127 ln(1 + f/700) between the band
   edges, evaluated at FFT bins 0 .. N/2 - 1 (the Nyquist bin gets no weight). */
static voz_status make_mel_banks(struct voz_mfcc *m)
{
    const voz_feature_params *p = &m->p;
    double lo, hi;
    band_edges(p, &lo, &hi);
    double bw = (double)p->sample_rate / m->N;
    int half = (int)(m->N / 2), total = 0;
    m->mel_first = calloc(m->M, sizeof *m->mel_first);
    m->mel_len = calloc(m->M, sizeof *m->mel_len);
    /* Each bin's triangle spans less than the whole band, so M * N/2 bounds the weights. */
    m->mel_w = calloc((size_t)m->M * half, sizeof *m->mel_w);
    if (!m->mel_first || !m->mel_len || !m->mel_w)
        return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory for %d mel bins", m->M);
    for (int b = 0; b < m->M; b++) {
        double tri[3];
        mel_triangle(p, lo, hi, m->M, b, tri);
        double left = tri[0], centre = tri[1], right = tri[2];
        int first = -1, last = -1;
        for (int k = 0; k < half; k++) {
            double mel = mel_of(bw * k);
            if (mel > left && mel < right) {
                double w = mel <= centre ? (mel - left) / (centre - left) : (right - mel) / (right - centre);
                if (first < 0)
                    first = k;
                last = k;
                m->mel_w[total + (k - first)] = (float)w;
            }
        }
        if (first < 0) /* voz_feature_params_check refuses this; keep the computer sane anyway */
            return voz_fail(VOZ_ERR_INVALID, PREFIX ": mel bin %d covers no FFT bin", b);
        m->mel_first[b] = first;
        m->mel_len[b] = last - first + 1;
        total += m->mel_len[b];
    }
    return VOZ_OK;
}

/* Kaldi's ComputeDctMatrix keeps the first C rows of the orthonormal M-point DCT-II. */
double voz_mfcc_dct_weight(int M, int k, int j)
{
    return k == 0 ? sqrt(1.0 / M) : sqrt(2.0 / M) * cos(M_PI / M * (j + 0.5) * k);
}

double voz_mfcc_lifter_weight(float Q, int k)
{
    return Q != 0 ? 1.0 + 0.5 * Q * sin(M_PI * k / Q) : 1.0;
}

voz_status voz_mfcc_create(const voz_feature_params *p, struct voz_mfcc **out)
{
    *out = NULL;
    voz_status s = voz_feature_params_check(p);
    if (s != VOZ_OK)
        return s;
    struct voz_mfcc *m = calloc(1, sizeof *m);
    if (!m)
        return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory");

    m->p = *p;
    m->L = voz_mfcc_frame_length(p);
    m->N = padded_length(p, m->L);
    m->M = p->num_mel_bins;
    m->C = p->num_ceps;
    m->window = malloc(m->L * sizeof *m->window);
    m->Cp = (m->C + 1) & ~1;
    m->dct = calloc((size_t)m->Cp * m->M, sizeof *m->dct);
    m->cep = calloc((size_t)m->Cp, sizeof *m->cep);
    m->raw = calloc(m->L, sizeof *m->raw);
    m->edge = calloc(m->L, sizeof *m->edge);
    m->lifter = malloc((size_t)m->C * sizeof *m->lifter);
    m->buf = calloc(m->N, sizeof *m->buf);
    m->spec = calloc(m->N / 2 + 1, sizeof *m->spec);
    m->logmel = calloc((size_t)m->M, sizeof *m->logmel);
    m->fft = kiss_fft_alloc((int)(m->N / 2), 0, NULL, NULL);
    m->tw_re = malloc(m->N / 2 * sizeof *m->tw_re);
    m->tw_im = malloc(m->N / 2 * sizeof *m->tw_im);
    if (!m->window || !m->dct || !m->cep || !m->raw || !m->edge || !m->lifter || !m->buf || !m->spec || !m->logmel ||
        !m->fft || !m->tw_re || !m->tw_im) {
        voz_mfcc_free(m);
        return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory for an FFT of %zu", m->N);
    }
    make_window(p->window, m->L, m->window);
    for (size_t k = 0; k < m->N / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)m->N;
        m->tw_re[k] = (float)cos(a);
        m->tw_im[k] = (float)sin(a);
    }
    if ((s = make_mel_banks(m)) != VOZ_OK) {
        voz_mfcc_free(m);
        return s;
    }
    for (int k = 0; k < m->C; k++)
        for (int j = 0; j < m->M; j++)
            m->dct[(size_t)j * m->Cp + k] = (float)voz_mfcc_dct_weight(m->M, k, j);
    for (int k = 0; k < m->C; k++)
        m->lifter[k] = (float)voz_mfcc_lifter_weight(p->cepstral_lifter, k);
    m->log_floor = p->energy_floor > 0 ? logf(p->energy_floor) : -FLT_MAX;
    voz_mfcc_reset(m);
    *out = m;
    return VOZ_OK;
}

void voz_mfcc_free(struct voz_mfcc *m)
{
    if (!m)
        return;
    free(m->window);
    free(m->mel_first);
    free(m->mel_len);
    free(m->mel_w);
    free(m->dct);
    free(m->cep);
    free(m->raw);
    free(m->edge);
    free(m->lifter);
    free(m->buf);
    free(m->spec);
    free(m->logmel);
    kiss_fft_free(m->fft);
    free(m->tw_re);
    free(m->tw_im);
    free(m);
}

size_t voz_mfcc_fft_size(const struct voz_mfcc *m) { return m->N; }

/* The frame loops, written with GCC/Clang vector extensions (SSE on x86-64, NEON on
   arm64) because GCC at -O2 vectorises none of them: a serial double sum over a
   400-sample frame is a 4-cycle dependency chain per sample. Element-wise steps do
   exactly the scalar operations in each lane (the build sets -ffp-contract=off), so
   they round as the scalar code would; the sums keep double accumulators, eight
   partial sums at a time. */
typedef float v4f __attribute__((vector_size(16), aligned(4)));
typedef float v2f __attribute__((vector_size(8), aligned(4)));
typedef double v2d __attribute__((vector_size(16), aligned(8)));

/* sum a[i] * b[i] in double (b NULL: sum a[i]). */
static double dot_d(const float *a, const float *b, size_t n)
{
    v2d s0 = { 0, 0 }, s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    if (b) {
        for (; i + 8 <= n; i += 8) {
            s0 += __builtin_convertvector(*(const v2f *)(a + i), v2d) * __builtin_convertvector(*(const v2f *)(b + i), v2d);
            s1 += __builtin_convertvector(*(const v2f *)(a + i + 2), v2d) * __builtin_convertvector(*(const v2f *)(b + i + 2), v2d);
            s2 += __builtin_convertvector(*(const v2f *)(a + i + 4), v2d) * __builtin_convertvector(*(const v2f *)(b + i + 4), v2d);
            s3 += __builtin_convertvector(*(const v2f *)(a + i + 6), v2d) * __builtin_convertvector(*(const v2f *)(b + i + 6), v2d);
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            s0 += __builtin_convertvector(*(const v2f *)(a + i), v2d);
            s1 += __builtin_convertvector(*(const v2f *)(a + i + 2), v2d);
            s2 += __builtin_convertvector(*(const v2f *)(a + i + 4), v2d);
            s3 += __builtin_convertvector(*(const v2f *)(a + i + 6), v2d);
        }
    }
    v2d s = (s0 + s1) + (s2 + s3);
    double e = s[0] + s[1];
    for (; i < n; i++)
        e += b ? (double)a[i] * b[i] : (double)a[i];
    return e;
}

/* log(max(energy, FLT_EPSILON)), then Kaldi's optional absolute floor. */
static float log_energy(const struct voz_mfcc *m, const float *x, size_t n)
{
    double e = dot_d(x, x, n);
    float le = logf(e > FLT_EPSILON ? (float)e : FLT_EPSILON);
    return le < m->log_floor ? m->log_floor : le;
}

/* buf[0, L) = (raw[i] - preemph * raw[i-1]) * window[i], with raw[-1] taken as raw[0]
   (Kaldi's rule), then zeros up to N. */
static void preemph_window(struct voz_mfcc *m)
{
    const float *x = m->raw, *w = m->window;
    float *y = m->buf, a = m->p.preemph;
    size_t L = m->L, i = 1;
    y[0] = (x[0] - a * x[0]) * w[0];
    const v4f va = { a, a, a, a };
    for (; i + 4 <= L; i += 4)
        *(v4f *)(y + i) = (*(const v4f *)(x + i) - va * *(const v4f *)(x + i - 1)) * *(const v4f *)(w + i);
    for (; i < L; i++)
        y[i] = (x[i] - a * x[i - 1]) * w[i];
    memset(y + L, 0, (m->N - L) * sizeof *y);
}

void voz_mfcc_compute_frame(struct voz_mfcc *m, const float *frame, float *out)
{
    const voz_feature_params *p = &m->p;
    float *x = m->raw;
    size_t L = m->L, i = 0;
    const v4f scale = { 32768.0f, 32768.0f, 32768.0f, 32768.0f };
    for (; i + 4 <= L; i += 4)
        *(v4f *)(x + i) = *(const v4f *)(frame + i) * scale;
    for (; i < L; i++)
        x[i] = frame[i] * 32768.0f;
    if (p->dither > 0)
        for (i = 0; i < L; i++)
            x[i] += (float)(p->dither * rng_gauss(m));
    if (p->remove_dc) {
        float mean = (float)(dot_d(x, NULL, L) / (double)L);
        const v4f vm = { mean, mean, mean, mean };
        for (i = 0; i + 4 <= L; i += 4)
            *(v4f *)(x + i) -= vm;
        for (; i < L; i++)
            x[i] -= mean;
    }
    /* Kaldi computes the log energy only when it is output (use_energy). */
    float energy = 0;
    if (p->use_energy && p->raw_energy)
        energy = log_energy(m, x, L);
    preemph_window(m);
    float *y = m->buf;
    if (p->use_energy && !p->raw_energy)
        energy = log_energy(m, y, L);

    /* z[n] = y[2n] + i y[2n+1] (the cast is kiss_fftr's own), Z = FFT_H(z); then for
       k < H, with Zc = conj(Z[H-k]) (Z[H] = Z[0]) and W = e^(-2 pi i k / N):
       X_k = (Z[k] + Zc) / 2 - i W (Z[k] - Zc) / 2, and buf[k] = |X_k|^2, the only bins
       the triangles touch. Four bins a step: Z[k..k+3] against Z[H-k-3..H-k] reversed. */
    kiss_fft(m->fft, (const kiss_fft_cpx *)y, m->spec);
    const float *z = (const float *)m->spec;
    size_t H = m->N / 2, k = 1;
    const v4f half = { 0.5f, 0.5f, 0.5f, 0.5f };
    for (; k + 4 <= H; k += 4) {
        v4f a0 = *(const v4f *)(z + 2 * k), a1 = *(const v4f *)(z + 2 * k + 4);
        v4f b0 = *(const v4f *)(z + 2 * (H - k - 3)), b1 = *(const v4f *)(z + 2 * (H - k - 3) + 4);
        v4f zr = __builtin_shufflevector(a0, a1, 0, 2, 4, 6), zi = __builtin_shufflevector(a0, a1, 1, 3, 5, 7);
        v4f cr = __builtin_shufflevector(b1, b0, 2, 0, 6, 4), ci = __builtin_shufflevector(b1, b0, 3, 1, 7, 5);
        v4f er = (zr + cr) * half, ei = (zi - ci) * half; /* (Z[k] + conj Z[H-k]) / 2 */
        v4f orr = (zi + ci) * half, oi = (cr - zr) * half; /* (Z[k] - conj Z[H-k]) / 2i */
        v4f wr = *(const v4f *)(m->tw_re + k), wi = *(const v4f *)(m->tw_im + k);
        v4f xr = er + (wr * orr - wi * oi), xi = ei + (wr * oi + wi * orr);
        *(v4f *)(y + k) = xr * xr + xi * xi;
    }
    for (; k < H; k++) {
        float zr = z[2 * k], zi = z[2 * k + 1], cr = z[2 * (H - k)], ci = z[2 * (H - k) + 1];
        float er = (zr + cr) * 0.5f, ei = (zi - ci) * 0.5f, orr = (zi + ci) * 0.5f, oi = (cr - zr) * 0.5f;
        float wr = m->tw_re[k], wi = m->tw_im[k];
        float xr = er + (wr * orr - wi * oi), xi = ei + (wr * oi + wi * orr);
        y[k] = xr * xr + xi * xi;
    }
    y[0] = (z[0] + z[1]) * (z[0] + z[1]); /* X_0 = Re Z[0] + Im Z[0], real */
    const float *w = m->mel_w;
    for (int b = 0; b < m->M; b++) {
        double e = dot_d(w, y + m->mel_first[b], (size_t)m->mel_len[b]);
        w += m->mel_len[b];
        /* The floor before the log keeps digital silence finite. */
        m->logmel[b] = logf(e > FLT_EPSILON ? (float)e : FLT_EPSILON);
    }
    /* DCT: cepstrum k sums dct[j][k] * logmel[j] over j in order, two cepstra a vector. */
    v2d *cep = (v2d *)m->cep;
    int nv = m->Cp / 2;
    for (int v = 0; v < nv; v++)
        cep[v] = (v2d){ 0, 0 };
    for (int j = 0; j < m->M; j++) {
        const float *row = m->dct + (size_t)j * m->Cp;
        double lm = m->logmel[j];
        v2d vl = { lm, lm };
        for (int v = 0; v < nv; v++)
            cep[v] += __builtin_convertvector(*(const v2f *)(row + 2 * v), v2d) * vl;
    }
    for (int c = 0; c < m->C; c++)
        out[c] = (float)m->cep[c] * m->lifter[c];
    if (p->use_energy)
        out[0] = energy;
    if (p->htk_compat) {
        /* HTK order: c1..c(C-1), then energy (or c0 without the DCT's sqrt(1/2) on row 0). */
        float e0 = out[0];
        memmove(out, out + 1, (size_t)(m->C - 1) * sizeof *out);
        out[m->C - 1] = p->use_energy ? e0 : e0 * (float)M_SQRT2;
    }
}

/* ---- framing a buffer (offline) -------------------------------------------------------- */

/* Copies frame f of pcm[0, n) into frame[L] with Kaldi's edge handling. */
static void extract_frame(const voz_feature_params *p, size_t L, size_t S, const float *pcm, size_t n,
                          uint64_t f, float *frame)
{
    int64_t start = first_sample(p->snip_edges, L, S, f);
    if (start >= 0 && (uint64_t)start + L <= n) {
        memcpy(frame, pcm + start, L * sizeof *frame);
        return;
    }
    for (size_t i = 0; i < L; i++)
        frame[i] = pcm[reflect_index(start + (int64_t)i, (int64_t)n)];
}

void voz_mfcc_seek(struct voz_mfcc *m, uint64_t frame)
{
    /* Frame f's dither starts at Gaussian f * L. Pair j of Box-Muller draws takes the
       generator's calls 2j and 2j + 1, and splitmix64's state after k calls is
       seed + k * increment, so any position is reached in constant time. */
    voz_mfcc_reset(m);
    if (m->p.dither <= 0)
        return;
    uint64_t g = frame * (uint64_t)m->L;
    m->rng = DITHER_SEED + (g & ~(uint64_t)1) * 0x9e3779b97f4a7c15ull;
    if (g & 1)
        (void)rng_gauss(m); /* the pair's first value belongs to the previous frame */
}

voz_status voz_mfcc_compute_range(struct voz_mfcc *m, const float *pcm, size_t n, size_t f0, size_t f1,
                                  float *out)
{
    const voz_feature_params *p = &m->p;
    size_t S = voz_mfcc_frame_shift(p);
    if (f1 > voz_mfcc_num_frames(p, n) || f0 > f1)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": frames %zu..%zu asked of %zu samples, which hold %zu", f0, f1,
                        n, voz_mfcc_num_frames(p, n));
    for (size_t f = f0; f < f1; f++) {
        float *o = out + (f - f0) * (size_t)m->C;
        int64_t start = first_sample(p->snip_edges, m->L, S, f);
        /* A frame inside the signal is analysed in place; only the edges need a copy. */
        if (start >= 0 && (uint64_t)start + m->L <= n) {
            voz_mfcc_compute_frame(m, pcm + start, o);
        } else {
            extract_frame(p, m->L, S, pcm, n, f, m->edge);
            voz_mfcc_compute_frame(m, m->edge, o);
        }
    }
    return VOZ_OK;
}

voz_status voz_mfcc_compute_buffer(struct voz_mfcc *m, const float *pcm, size_t n, float *out, size_t T)
{
    return voz_mfcc_compute_range(m, pcm, n, 0, T, out);
}

/* ---- streaming driver ---------------------------------------------------------------- */

struct voz_mfcc_stream {
    struct voz_mfcc *mfcc;
    size_t L, S;
    int C, snip;
    float *head;          /* [L] the first L samples ever fed: left reflection needs them */
    size_t head_len;
    float *buf;           /* samples [buf_start, buf_start + buf_len) of the input */
    size_t buf_len, buf_cap;
    uint64_t buf_start;
    uint64_t n_in;        /* samples fed since create/reset */
    uint64_t next_frame;  /* index of the next frame _pop computes */
    int flushed;
    float *frame;         /* [L] scratch */
};

voz_status voz_mfcc_stream_create(const voz_feature_params *p, struct voz_mfcc_stream **out)
{
    *out = NULL;
    struct voz_mfcc_stream *s = calloc(1, sizeof *s);
    if (!s)
        return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory");
    voz_status st = voz_mfcc_create(p, &s->mfcc);
    if (st != VOZ_OK) {
        free(s);
        return st;
    }
    s->L = voz_mfcc_frame_length(p);
    s->S = voz_mfcc_frame_shift(p);
    s->C = p->num_ceps;
    s->snip = p->snip_edges;
    s->head = malloc(s->L * sizeof *s->head);
    s->frame = malloc(s->L * sizeof *s->frame);
    /* Room for a frame plus a shift plus a typical block before any growth. */
    s->buf_cap = 2 * (s->L + s->S) + 4096;
    s->buf = malloc(s->buf_cap * sizeof *s->buf);
    if (!s->head || !s->frame || !s->buf) {
        voz_mfcc_stream_free(s);
        return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory");
    }
    *out = s;
    return VOZ_OK;
}

void voz_mfcc_stream_free(struct voz_mfcc_stream *s)
{
    if (!s)
        return;
    voz_mfcc_free(s->mfcc);
    free(s->head);
    free(s->buf);
    free(s->frame);
    free(s);
}

void voz_mfcc_stream_reset(struct voz_mfcc_stream *s)
{
    s->head_len = 0;
    s->buf_len = 0;
    s->buf_start = 0;
    s->n_in = 0;
    s->next_frame = 0;
    s->flushed = 0;
    voz_mfcc_reset(s->mfcc);
}

/* Drops samples no future frame needs (those before the next frame's first sample;
   the left reflection reads `head` instead). */
static void stream_discard(struct voz_mfcc_stream *s)
{
    int64_t need = first_sample(s->snip, s->L, s->S, s->next_frame);
    if (need <= (int64_t)s->buf_start)
        return;
    uint64_t drop = (uint64_t)need - s->buf_start;
    if (drop > s->buf_len)
        drop = s->buf_len;
    memmove(s->buf, s->buf + drop, (s->buf_len - drop) * sizeof *s->buf);
    s->buf_len -= drop;
    s->buf_start += drop;
}

voz_status voz_mfcc_stream_feed(struct voz_mfcc_stream *s, const float *pcm, size_t n)
{
    if (s->flushed)
        return voz_fail(VOZ_ERR_INVALID, PREFIX ": samples fed after flush, expected a reset first");
    if (!n)
        return VOZ_OK;
    for (size_t i = 0; s->head_len < s->L && i < n; i++)
        s->head[s->head_len++] = pcm[i];
    stream_discard(s);
    if (s->buf_len + n > s->buf_cap) {
        size_t cap = s->buf_cap;
        while (cap < s->buf_len + n) {
            if (cap > SIZE_MAX / 2 / sizeof *s->buf)
                return voz_fail(VOZ_ERR_NOMEM, PREFIX ": stream buffer too large");
            cap *= 2;
        }
        float *nb = realloc(s->buf, cap * sizeof *nb);
        if (!nb)
            return voz_fail(VOZ_ERR_NOMEM, PREFIX ": out of memory for %zu buffered samples", cap);
        s->buf = nb;
        s->buf_cap = cap;
    }
    memcpy(s->buf + s->buf_len, pcm, n * sizeof *pcm);
    s->buf_len += n;
    s->n_in += n;
    return VOZ_OK;
}

voz_status voz_mfcc_stream_flush(struct voz_mfcc_stream *s)
{
    s->flushed = 1;
    return VOZ_OK;
}

/* Frames that can be computed now: before the flush, those lying entirely inside the
   samples seen (reflection at the start is fine, the end is not known yet); after it,
   Kaldi's NumFrames of the whole input. */
static uint64_t stream_ready(const struct voz_mfcc_stream *s)
{
    if (s->flushed)
        return voz_mfcc_num_frames(&s->mfcc->p, s->n_in);
    if (s->n_in < s->L)
        return 0;
    if (s->snip)
        return 1 + (s->n_in - s->L) / s->S;
    /* end(f) = f*S + S/2 - L/2 + L <= n_in */
    int64_t room = (int64_t)s->n_in - (int64_t)(s->S / 2) + (int64_t)(s->L / 2) - (int64_t)s->L;
    return room < 0 ? 0 : (uint64_t)room / s->S + 1;
}

size_t voz_mfcc_stream_available(const struct voz_mfcc_stream *s)
{
    uint64_t r = stream_ready(s);
    return r > s->next_frame ? (size_t)(r - s->next_frame) : 0;
}

int voz_mfcc_stream_pop(struct voz_mfcc_stream *s, float *out)
{
    if (stream_ready(s) <= s->next_frame)
        return 0;
    int64_t start = first_sample(s->snip, s->L, s->S, s->next_frame);
    int64_t n = (int64_t)s->n_in;
    if (start >= (int64_t)s->buf_start && start + (int64_t)s->L <= n) {
        memcpy(s->frame, s->buf + (start - (int64_t)s->buf_start), s->L * sizeof *s->frame);
    } else {
        for (size_t i = 0; i < s->L; i++) {
            int64_t k = reflect_index(start + (int64_t)i, n);
            /* Left reflections land in the first L samples; everything else is at or
               after the frame start, which stream_discard keeps. */
            s->frame[i] = k >= (int64_t)s->buf_start ? s->buf[k - (int64_t)s->buf_start]
                        : k < (int64_t)s->head_len ? s->head[k] : 0.0f;
        }
    }
    voz_mfcc_compute_frame(s->mfcc, s->frame, out);
    s->next_frame++;
    return 1;
}
