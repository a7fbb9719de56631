/* recognizer/model.c — the loaded model handle (read-only once loaded, so one model
   serves any number of threads) and the decoding of utterances: features ->
   network (B = 1) -> CTC greedy or prefix beam -> words with times, on the scratch of
   a decoding context (decode.h) that a file or stream keeps across its segments. Shapes: T frames, I input dimension, C classes. */
#include "recognizer/decode.h"
#include "common/util.h"
#include "decoder/ctc.h"
#include "frontend/mfcc.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

voz_status voz_warps_parse(const char *s, float warps[VOZ_MAX_WARPS], int *n)
{
    *n = 0;
    if (!s)
        return voz_fail(VOZ_ERR_INVALID, "warps: missing");
    if (!strcmp(s, "none"))
        return VOZ_OK;
    /* Each entry is a plain decimal number, nothing else: no spaces, no hex. */
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        int plain = len > 0 && len < 32 && strspn(p, "0123456789.eE+-") >= len;
        char tok[32] = "";
        if (plain)
            memcpy(tok, p, len);
        char *end = tok;
        double w = plain ? strtod(tok, &end) : 0;
        if (!plain || *end || !isfinite(w) || w < 0.5 || w > 2.0)
            return voz_fail(VOZ_ERR_INVALID, "warps: '%.*s' in '%.64s' is not a factor from 0.5 to 2 "
                            "(expected a list like 0.9,1.1, or none)", (int)(len < 64 ? len : 64), p, s);
        if (*n == VOZ_MAX_WARPS)
            return voz_fail(VOZ_ERR_INVALID, "warps: '%.64s' lists more than %d factors", s, VOZ_MAX_WARPS);
        warps[(*n)++] = (float)w;
        p += len;
        if (!*p)
            return VOZ_OK;
    }
}

int voz_model_warps(const struct voz_model *m, float out[VOZ_MAX_WARPS])
{
    memcpy(out, m->warps, sizeof m->warps);
    return m->n_warps;
}

/* A warp list the model's filterbank cannot take (knees outside its band) would fail
   every decode: checked at load like the word list. */
static voz_status warps_fit(const voz_feature_params *f, const float *w, int n)
{
    for (int k = 0; k < n; k++) {
        voz_feature_params q = *f;
        q.vtln_warp = w[k];
        voz_status s = voz_feature_params_check(&q);
        if (s)
            return s;
    }
    return VOZ_OK;
}

static voz_status wrap(const char *name, struct voz_model_data *d, struct voz_model **out)
{
    float warps[VOZ_MAX_WARPS] = { 0 };
    int n_warps = 0;
    const char *ens = voz_model_data_get_meta(d, "vtln_ensemble");
    if (ens && (voz_warps_parse(ens, warps, &n_warps) != VOZ_OK || warps_fit(&d->feat, warps, n_warps) != VOZ_OK)) {
        voz_status s = voz_fail(VOZ_ERR_FORMAT, "%s: metadata vtln_ensemble: %s", name, voz_last_error());
        voz_model_data_release(d);
        return s;
    }
    /* A word list the alphabet cannot spell would fail every beam decode: refuse the
       model now, naming the word, rather than each file later. */
    if (d->n_words > 0) {
        struct voz_ctc_beam *b = NULL;
        if (voz_ctc_beam_create((const char *const *)d->classes, d->net.classes, d->blank,
                                (const char *const *)d->words, d->n_words, 1, &b) != VOZ_OK) {
            voz_status s = voz_fail(VOZ_ERR_FORMAT, "%s: the word list does not fit the alphabet: %s", name,
                                    voz_last_error());
            voz_model_data_release(d);
            return s;
        }
        voz_ctc_beam_free(b);
    }
    struct voz_model *m = calloc(1, sizeof *m);
    if (!m) {
        voz_model_data_release(d);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", name);
    }
    m->data = *d;
    m->n_warps = n_warps;
    memcpy(m->warps, warps, sizeof warps);
    if (m->data.members < 1)
        m->data.members = 1;
    for (int j = 0; j < m->data.members; j++)
        voz_net_bind(&m->nets[j], &m->data.net, m->data.params + (size_t)j * voz_net_num_floats(&m->data.net));
    snprintf(m->name, sizeof m->name, "%s", name);
    *out = m;
    return VOZ_OK;
}

voz_status voz_model_load(const char *path, struct voz_model **out)
{
    struct voz_model_data d;
    *out = NULL;
    if (!path)
        return voz_fail(VOZ_ERR_INVALID, "voz_model_load: no path");
    voz_status s = voz_model_data_read(path, &d);
    return s ? s : wrap(path, &d, out);
}

voz_status voz_model_load_memory(const void *data, size_t size, const char *name, struct voz_model **out)
{
    struct voz_model_data d;
    *out = NULL;
    if (!name)
        name = "model";
    voz_status s = voz_model_data_parse(data, size, name, &d);
    return s ? s : wrap(name, &d, out);
}

void voz_model_free(struct voz_model *m)
{
    if (!m)
        return;
    voz_model_data_release(&m->data);
    free(m);
}

int voz_model_sample_rate(const struct voz_model *m) { return m->data.sample_rate; }
const voz_feature_params *voz_model_features(const struct voz_model *m) { return &m->data.feat; }
int voz_model_num_classes(const struct voz_model *m) { return m->data.net.classes; }
int voz_model_blank(const struct voz_model *m) { return m->data.blank; }

const char *voz_model_class(const struct voz_model *m, int k)
{
    return k >= 0 && k < m->data.net.classes ? m->data.classes[k] : NULL;
}

const char *const *voz_model_words(const struct voz_model *m, int *n)
{
    if (n)
        *n = m->data.n_words;
    return m->data.n_words ? (const char *const *)m->data.words : NULL;
}

double voz_model_frame_seconds(const struct voz_model *m)
{
    return (double)voz_mfcc_frame_shift(&m->data.feat) / m->data.sample_rate;
}

voz_decode_params voz_decode_default_params(void)
{
    return (voz_decode_params){
        .decoder = VOZ_DECODER_AUTO,
        .beam = 16,
        .words = NULL,
        .n_words = 0,
        .threads = 1,
        .n_warps = -1,
        .n_members = 0,
    };
}

void voz_transcript_release(voz_transcript *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_words; i++)
        free(t->words[i].text);
    free(t->words);
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* An empty transcript still has text "" so callers can print it unconditionally. */
static voz_status empty_transcript(voz_transcript *out, double t0, double duration)
{
    memset(out, 0, sizeof *out);
    out->text = calloc(1, 1);
    if (!out->text)
        return voz_fail(VOZ_ERR_NOMEM, "transcript: out of memory");
    out->duration = duration;
    out->start = t0;
    out->end = t0 + duration;
    return VOZ_OK;
}

/* A class made only of spaces separates words (normally exactly " "). */
static int is_separator(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s != ' ')
            return 0;
    return 1;
}

/* Labels -> words: class strings concatenated, split at separator classes. A word
   starts at the first frame of its first label and ends at the last frame of its last
   label plus one frame length. */
static voz_status labels_to_words(const struct voz_model *m, const int *labels, const int *first,
                                  const int *last, int L, double t0, voz_transcript *out)
{
    const double shift = voz_model_frame_seconds(m);
    const double flen = (double)voz_mfcc_frame_length(&m->data.feat) / m->data.sample_rate;
    size_t total = 1;
    for (int i = 0; i < L; i++)
        total += strlen(m->data.classes[labels[i]]) + 1;
    char *word = malloc(total);
    char *text = malloc(total);
    voz_word *words = calloc((size_t)L + 1, sizeof *words);
    if (!word || !text || !words) {
        free(word);
        free(text);
        free(words);
        return voz_fail(VOZ_ERR_NOMEM, "transcript: out of memory");
    }
    size_t wlen = 0, tlen = 0;
    int nw = 0, wfirst = 0, wlast = 0;
    text[0] = 0;
    for (int i = 0; i <= L; i++) {
        const char *cls = i < L ? m->data.classes[labels[i]] : " ";
        if (is_separator(cls)) {
            if (wlen == 0)
                continue;
            word[wlen] = 0;
            char *w = strdup(word);
            if (!w) {
                for (int k = 0; k < nw; k++)
                    free(words[k].text);
                free(words);
                free(word);
                free(text);
                return voz_fail(VOZ_ERR_NOMEM, "transcript: out of memory");
            }
            words[nw].text = w;
            words[nw].start = (float)(t0 + wfirst * shift);
            words[nw].end = (float)(t0 + wlast * shift + flen);
            nw++;
            if (tlen)
                text[tlen++] = ' ';
            memcpy(text + tlen, word, wlen + 1);
            tlen += wlen;
            wlen = 0;
            continue;
        }
        if (wlen == 0)
            wfirst = first[i];
        wlast = last[i];
        size_t cl = strlen(cls);
        memcpy(word + wlen, cls, cl);
        wlen += cl;
    }
    free(word);
    out->text = text;
    out->words = words;
    out->n_words = nw;
    return VOZ_OK;
}

static voz_status check_params(const voz_decode_params *p)
{
    if (p->decoder < VOZ_DECODER_AUTO || p->decoder > VOZ_DECODER_BEAM)
        return voz_fail(VOZ_ERR_INVALID, "decode: unknown decoder %d", (int)p->decoder);
    if (p->beam < 1 || p->beam > 4096)
        return voz_fail(VOZ_ERR_INVALID, "decode: beam width %d is out of range, expected 1..4096", p->beam);
    if (p->threads < 1 || p->threads > 2)
        return voz_fail(VOZ_ERR_INVALID, "decode: threads is %d, expected 1 or 2", p->threads);
    if (p->words && p->n_words < 0)
        return voz_fail(VOZ_ERR_INVALID, "decode: word count %d is negative", p->n_words);
    if (p->n_warps < -1 || p->n_warps > VOZ_MAX_WARPS)
        return voz_fail(VOZ_ERR_INVALID, "decode: n_warps is %d, expected -1 (the model's) to %d", p->n_warps,
                        VOZ_MAX_WARPS);
    for (int k = 0; k < p->n_warps; k++)
        if (!(p->warps[k] >= 0.5f && p->warps[k] <= 2.0f))
            return voz_fail(VOZ_ERR_INVALID, "decode: warp %d is %g, expected 0.5 to 2", k, p->warps[k]);
    if (p->n_members < 0 || p->n_members > VOZ_MODEL_MAX_MEMBERS)
        return voz_fail(VOZ_ERR_INVALID, "decode: n_members is %d, expected 0 (all) to %d", p->n_members,
                        VOZ_MODEL_MAX_MEMBERS);
    return VOZ_OK;
}

/* ---- decoding contexts ------------------------------------------------------------------ */

struct voz_decode_ctx {
    const struct voz_model *m;
    voz_decode_params p;           /* checked copy */
    struct voz_features_ws *feat;  /* created at the first utterance */
    struct voz_net_ws *ws;         /* created at the first decode; grows with T */
    struct voz_ctc_beam *beam;     /* created at the first beam decode */
    float *lp;                     /* [cap_T][C] log-probabilities */
    int *labels;                   /* [3][cap_T] labels, first and last frames */
    size_t cap_T;                  /* frames lp and labels hold */
    /* The VTLN ensemble (empty when off, or when it is the unwarped analysis alone):
       one feature workspace per warp; lp receives the mean over warps (and networks). */
    int beam_decoder;              /* the params resolve to the beam search */
    int M;                         /* member networks combined (>= 1; 1 for greedy) */
    int K;
    float warps[VOZ_MAX_WARPS];
    struct voz_features_ws *wfeat[VOZ_MAX_WARPS];
    float *lpb;                    /* [2][cap_TK][C] log-probabilities of the passes in hand */
    size_t cap_TK;
    /* An ensemble of networks (M > 1): each one's posteriors, the candidates' labels and
       the CTC scratch that scores them (decode_members). */
    float *lpm;                    /* [M][cap_TM][C] */
    int *cand;                     /* [M + 1][3][cap_TM] labels, first and last frames */
    size_t cap_TM;
    struct voz_ctc_ws ctc;
};

voz_status voz_decode_ctx_create(const struct voz_model *m, const voz_decode_params *p,
                                 struct voz_decode_ctx **out)
{
    *out = NULL;
    voz_decode_params defaults = voz_decode_default_params();
    voz_status s = check_params(p ? p : &defaults);
    if (s)
        return s;
    struct voz_decode_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", m->name);
    c->m = m;
    c->p = p ? *p : defaults;
    if (c->p.n_warps < 0) {
        c->K = m->n_warps;
        memcpy(c->warps, m->warps, sizeof c->warps);
    } else {
        c->K = c->p.n_warps;
        memcpy(c->warps, c->p.warps, sizeof c->warps);
        if ((s = warps_fit(&m->data.feat, c->warps, c->K))) {
            free(c);
            return s;
        }
    }
    /* Greedy decoding takes the single best class of each frame, and the members'
       peaks fall on neighbouring frames: their mean loses letters to the blank (held-
       out FSDD strings: 23% WER greedy, 41% greedy over the ensemble, while the beam
       went from 16% to 14%). So greedy always reads the plain analysis. */
    int n_words = c->p.words ? c->p.n_words : m->data.n_words;
    int beam = c->beam_decoder =
        c->p.decoder == VOZ_DECODER_BEAM || (c->p.decoder == VOZ_DECODER_AUTO && n_words > 0);
    /* A list of unwarped analyses only ("1", "1,1") is the plain analysis. */
    int plain = 1;
    for (int k = 0; k < c->K; k++)
        plain &= c->warps[k] == 1.0f;
    if (!beam && c->p.n_warps > 0 && !plain) {
        int greedy = c->p.decoder == VOZ_DECODER_GREEDY;
        free(c);
        return voz_fail(VOZ_ERR_INVALID, "decode: a VTLN ensemble needs the beam decoder (%s)",
                        greedy ? "greedy reads one analysis" : "no word list, so auto means greedy");
    }
    if (!beam || plain)
        c->K = 0; /* the plain analysis */
    /* Member networks: the same rule as warps (their peaks need not share frames). */
    if (c->p.n_members > m->data.members) {
        free(c);
        return voz_fail(VOZ_ERR_INVALID, "decode: %d member networks asked for, %s has %d", p->n_members,
                        m->name, m->data.members);
    }
    if (!beam && c->p.n_members > 1) {
        int greedy = c->p.decoder == VOZ_DECODER_GREEDY;
        free(c);
        return voz_fail(VOZ_ERR_INVALID, "decode: an ensemble of networks needs the beam decoder (%s)",
                        greedy ? "greedy reads one network" : "no word list, so auto means greedy");
    }
    c->M = !beam ? 1 : c->p.n_members > 0 ? c->p.n_members : m->data.members;
    voz_ctc_ws_init(&c->ctc);
    *out = c;
    return VOZ_OK;
}

void voz_decode_ctx_free(struct voz_decode_ctx *c)
{
    if (!c)
        return;
    voz_features_ws_free(c->feat);
    for (int k = 0; k < VOZ_MAX_WARPS; k++)
        voz_features_ws_free(c->wfeat[k]);
    free(c->lpb);
    voz_net_ws_free(c->ws);
    voz_ctc_beam_free(c->beam);
    voz_ctc_ws_release(&c->ctc);
    free(c->lpm);
    free(c->cand);
    free(c->lp);
    free(c->labels);
    free(c);
}

/* Replaces *f and *i by fresh blocks of nf floats and ni ints (their old contents are
   not needed): 0, or -1 with both NULL when either allocation fails. */
static int regrow_pair(float **f, size_t nf, int **i, size_t ni)
{
    free(*f);
    free(*i);
    *f = malloc(nf * sizeof **f);
    *i = malloc(ni * sizeof **i);
    if (*f && *i)
        return 0;
    free(*f);
    free(*i);
    *f = NULL;
    *i = NULL;
    return -1;
}

/* lp and labels for T frames, grown by half again so slightly longer segments later
   do not reallocate each time (a freed block of one size and a new one of a slightly
   larger size is what fragments the heap). */
static voz_status ctx_reserve(struct voz_decode_ctx *c, size_t T)
{
    const size_t C = (size_t)c->m->data.net.classes;
    if (T <= c->cap_T && c->ws)
        return VOZ_OK;
    if (!c->ws && !(c->ws = voz_net_ws_create(&c->m->data.net, c->p.threads)))
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu frames", c->m->name, T);
    if (T <= c->cap_T)
        return VOZ_OK;
    size_t cap = c->cap_T + c->cap_T / 2 > T ? c->cap_T + c->cap_T / 2 : T, n_lp, n_lab;
    if (voz_mul_size(cap, C, &n_lp) || voz_mul_size(cap, 3, &n_lab) || n_lp > SIZE_MAX / sizeof(float) ||
        n_lab > SIZE_MAX / sizeof(int))
        return voz_fail(VOZ_ERR_NOMEM, "%s: %zu frames is too long", c->m->name, T);
    if (regrow_pair(&c->lp, n_lp, &c->labels, n_lab)) {
        c->cap_T = 0;
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu frames", c->m->name, T);
    }
    c->cap_T = cap;
    return VOZ_OK;
}

/* Refuses non-finite features of one analysis, naming the frame. */
static voz_status check_features(const struct voz_model *m, const float *feats, size_t T)
{
    const size_t I = (size_t)m->data.net.input_dim;
    for (size_t i = 0; i < T * I; i++)
        if (!isfinite(feats[i]))
            return voz_fail(VOZ_ERR_NONFINITE, "%s: feature %zu of frame %zu is not finite", m->name, i % I, i / I);
    return VOZ_OK;
}

/* The best label sequence of lp [T][C] by the beam search (created on first use), or
   -1 with the error set and its status in *st. */
static int beam_labels(struct voz_decode_ctx *c, const float *lp, size_t T, int *labels, int *first, int *last,
                       voz_status *st)
{
    const struct voz_model *m = c->m;
    const voz_decode_params *p = &c->p;
    const int C = m->data.net.classes;
    const char *const *words = p->words ? p->words : (const char *const *)m->data.words;
    int n_words = p->words ? p->n_words : m->data.n_words;
    if (!c->beam && (*st = voz_ctc_beam_create((const char *const *)m->data.classes, C, m->data.blank, words,
                                               n_words, p->beam, &c->beam)) != VOZ_OK)
        return -1;
    int L = voz_ctc_beam_decode(c->beam, lp, (int)T, (size_t)C, labels, first, last);
    if (L < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", voz_last_error());
        *st = voz_fail(VOZ_ERR_NOMEM, "%s: beam search failed: %s", m->name, why);
    }
    return L;
}

/* The chosen labels -> words and times, and the caller's copy of c->lp. */
static voz_status finish_decode(struct voz_decode_ctx *c, const int *labels, const int *first, const int *last, int L,
                                size_t T, double t0, voz_transcript *out, float **logprobs_out)
{
    const struct voz_model *m = c->m;
    const size_t n_lp = T * (size_t)m->data.net.classes;
    voz_status s = labels_to_words(m, labels, first, last, L, t0, out);
    if (s)
        return s;
    const double duration = T * voz_model_frame_seconds(m);
    out->duration = duration;
    out->start = t0;
    out->end = t0 + duration;
    if (logprobs_out) {
        if (!(*logprobs_out = malloc(n_lp * sizeof **logprobs_out))) {
            voz_transcript_release(out);
            memset(out, 0, sizeof *out);
            return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu frames", m->name, T);
        }
        memcpy(*logprobs_out, c->lp, n_lp * sizeof *c->lp);
    }
    return VOZ_OK;
}

static voz_status check_lp(const struct voz_model *m, const float *lp, size_t T)
{
    const size_t C = (size_t)m->data.net.classes;
    for (size_t i = 0; i < T * C; i++)
        if (!isfinite(lp[i]))
            return voz_fail(VOZ_ERR_NONFINITE, "%s: log-probability of class %zu at frame %zu is not finite",
                            m->name, i % C, i / C);
    return VOZ_OK;
}

/* c->lp [T][C] (from the network) -> words, the decoder the params choose. */
static voz_status decode_lp(struct voz_decode_ctx *c, size_t T, double t0, voz_transcript *out,
                            float **logprobs_out)
{
    const struct voz_model *m = c->m;
    voz_status s = check_lp(m, c->lp, T);
    if (s)
        return s;
    int *labels = c->labels, *first = labels + T, *last = labels + 2 * T;
    int L = c->beam_decoder ? beam_labels(c, c->lp, T, labels, first, last, &s)
                            : voz_ctc_greedy(c->lp, (int)T, m->data.net.classes, (size_t)m->data.net.classes,
                                             m->data.blank, labels, first, last);
    if (L < 0)
        return s;
    return finish_decode(c, labels, first, last, L, T, t0, out, logprobs_out);
}

/* An ensemble's answer. Averaging networks' posteriors frame by frame assumes they put
   each label's spike on the same frames, and networks trained apart need not: on the
   held-out FSDD speaker nicolas the frame mean of two gave 26.5% WER where either alone
   gave 18.2% and 19.7% (repeated and lost words). So the candidates are the beam's best
   from the frame mean and from each network, and the answer is the candidate the
   networks agree on as a sequence: the highest sum over networks of log p_j(labels|x),
   each summed over that network's own alignments (CTC's forward pass). Over five held-
   out speakers (voz eval, two networks on two warps) that gave 10.1% mean WER on
   strings, against 11.4% for the first network alone and 11.9% for the frame mean.
   Ties keep the frame mean's candidate. */
static voz_status decode_members(struct voz_decode_ctx *c, size_t T, double t0, voz_transcript *out,
                                 float **logprobs_out)
{
    const struct voz_model *m = c->m;
    const int C = m->data.net.classes, M = c->M;
    voz_status s = check_lp(m, c->lp, T);
    for (int j = 0; s == VOZ_OK && j < M; j++)
        s = check_lp(m, c->lpm + (size_t)j * c->cap_TM * (size_t)C, T);
    if (s)
        return s;
    const int *cands[VOZ_MAX_MEMBERS + 1];
    const float *lps[VOZ_MAX_MEMBERS];
    int lens[VOZ_MAX_MEMBERS + 1];
    for (int j = 0; j < M; j++)
        lps[j] = c->lpm + (size_t)j * c->cap_TM * (size_t)C;
    for (int k = 0; k <= M; k++) {
        int *lab = c->cand + (size_t)k * 3 * c->cap_TM;
        if ((lens[k] = beam_labels(c, k == 0 ? c->lp : lps[k - 1], T, lab, lab + c->cap_TM, lab + 2 * c->cap_TM,
                                   &s)) < 0)
            return s;
        cands[k] = lab;
    }
    int best = voz_ctc_ensemble_pick(&c->ctc, lps, M, (int)T, C, m->data.blank, cands, lens, M + 1, NULL);
    if (best < 0)
        return voz_fail(VOZ_ERR_NOMEM, "%s: scoring the ensemble's candidates failed: %s", m->name, voz_last_error());
    const int Lbest = lens[best];
    const int *lab = c->cand + (size_t)best * 3 * c->cap_TM;
    return finish_decode(c, lab, lab + c->cap_TM, lab + 2 * c->cap_TM, Lbest, T, t0, out, logprobs_out);
}

/* The two buffers of the passes in hand (a pair runs side by side): [cap_TK][C] each,
   one block. */
static voz_status reserve_passes(struct voz_decode_ctx *c, size_t T)
{
    const size_t C = (size_t)c->m->data.net.classes;
    if (T <= c->cap_TK)
        return VOZ_OK;
    size_t cap = c->cap_TK + c->cap_TK / 2 > T ? c->cap_TK + c->cap_TK / 2 : T, nl;
    if (voz_mul3_size(cap, C, 2, &nl) || nl > SIZE_MAX / sizeof(float))
        return voz_fail(VOZ_ERR_NOMEM, "%s: %zu frames is too long", c->m->name, T);
    free(c->lpb);
    if (!(c->lpb = malloc(nl * sizeof *c->lpb))) {
        c->cap_TK = 0;
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu frames", c->m->name, T);
    }
    c->cap_TK = cap;
    return VOZ_OK;
}

/* lp = log(e^lp + e^b), stably */
static void log_add_into(float *restrict lp, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = lp[i], y = b[i], hi = x > y ? x : y, lo = x > y ? y : x;
        lp[i] = hi + log1pf(expf(lo - hi));
    }
}

/* One acoustic pass: a member network on one analysis. */
struct pass {
    const struct voz_net *net;
    const float *feats;
    int member;
};

/* The per-network posteriors of an ensemble: [M][cap_TM][C], kept for the sequence
   scores (decode_members). */
static voz_status reserve_members(struct voz_decode_ctx *c, size_t T)
{
    const size_t C = (size_t)c->m->data.net.classes;
    if (T <= c->cap_TM)
        return VOZ_OK;
    size_t cap = c->cap_TM + c->cap_TM / 2 > T ? c->cap_TM + c->cap_TM / 2 : T, nl, ni;
    if (voz_mul3_size(cap, C, (size_t)c->M, &nl) || nl > SIZE_MAX / sizeof(float) ||
        voz_mul3_size(cap, 3, (size_t)c->M + 1, &ni) || ni > SIZE_MAX / sizeof(int))
        return voz_fail(VOZ_ERR_NOMEM, "%s: %zu frames is too long", c->m->name, T);
    if (regrow_pair(&c->lpm, nl, &c->cand, ni)) {
        c->cap_TM = 0;
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu frames", c->m->name, T);
    }
    c->cap_TM = cap;
    return VOZ_OK;
}

/* Runs n passes over T frames (member-major: each network's analyses together) and
   leaves the mean of all their posteriors in c->lp (probability domain: lp =
   log(mean_k exp(lp_k)), summed in pass order). With several networks, each one's own
   mean over its analyses also stays in c->lpm. Two passes at a time side by side on a
   2-thread context (voz_net_forward2: the same numbers as one after the other). */
static voz_status run_passes(struct voz_decode_ctx *c, const struct pass *ps, int n, size_t T)
{
    const struct voz_model *m = c->m;
    const size_t C = (size_t)m->data.net.classes, nl = T * C;
    voz_status s;
    if (n == 1)
        return voz_net_forward(ps[0].net, c->ws, ps[0].feats, NULL, (int)T, 1, c->lp, 0);
    if ((s = reserve_passes(c, T)) || (c->M > 1 && (s = reserve_members(c, T))))
        return s;
    float *tmp[2] = { c->lpb, c->lpb + c->cap_TK * C };
    /* Where pass i's posteriors are summed: its network's block, or c->lp for one. */
    int count[VOZ_MAX_MEMBERS] = { 0 };
    for (int i = 0; i < n; i += 2) {
        int two = i + 1 < n;
        if (two)
            s = voz_net_forward2(c->ws, ps[i].net, ps[i].feats, tmp[0], ps[i + 1].net, ps[i + 1].feats, tmp[1], (int)T);
        else
            s = voz_net_forward(ps[i].net, c->ws, ps[i].feats, NULL, (int)T, 1, tmp[0], 0);
        if (s)
            return s;
        for (int q = 0; q <= two; q++) {
            int j = ps[i + q].member;
            float *acc = c->M > 1 ? c->lpm + (size_t)j * c->cap_TM * C : c->lp;
            if (count[j]++ == 0)
                memcpy(acc, tmp[q], nl * sizeof *acc);
            else
                log_add_into(acc, tmp[q], nl);
        }
    }
    for (int j = 0; j < c->M; j++) {
        float *acc = c->M > 1 ? c->lpm + (size_t)j * c->cap_TM * C : c->lp;
        const float log_k = logf((float)count[j]);
        if (count[j] > 1)
            for (size_t k = 0; k < nl; k++)
                acc[k] -= log_k;
    }
    if (c->M > 1) { /* the networks' mean, for the frame-level candidate and logprobs_out */
        memcpy(c->lp, c->lpm, nl * sizeof *c->lp);
        for (int j = 1; j < c->M; j++)
            log_add_into(c->lp, c->lpm + (size_t)j * c->cap_TM * C, nl);
        const float log_m = logf((float)c->M);
        for (size_t k = 0; k < nl; k++)
            c->lp[k] -= log_m;
    }
    return VOZ_OK;
}

voz_status voz_decode_ctx_features(struct voz_decode_ctx *c, const float *feats, size_t T, double t0,
                                   voz_transcript *out, float **logprobs_out)
{
    const struct voz_model *m = c->m;
    if (logprobs_out)
        *logprobs_out = NULL;
    memset(out, 0, sizeof *out);
    if (T == 0)
        return empty_transcript(out, t0, 0);
    if (T > INT_MAX / 2)
        return voz_fail(VOZ_ERR_INVALID, "%s: %zu frames is too long for one utterance", m->name, T);
    struct pass ps[VOZ_MAX_MEMBERS];
    for (int j = 0; j < c->M; j++)
        ps[j] = (struct pass){ &m->nets[j], feats, j };
    voz_status s = check_features(m, feats, T);
    if (s == VOZ_OK)
        s = ctx_reserve(c, T);
    if (s == VOZ_OK)
        s = run_passes(c, ps, c->M, T);
    if (s)
        return s;
    return c->M > 1 ? decode_members(c, T, t0, out, logprobs_out) : decode_lp(c, T, t0, out, logprobs_out);
}

/* The VTLN ensemble: K analyses of the same samples, one per warp (each in its own
   feature workspace, so all K stay valid), each through every member network, all
   the posteriors averaged. */
static voz_status decode_ensemble(struct voz_decode_ctx *c, const float *pcm, size_t n, double t0,
                                  voz_transcript *out, float **logprobs_out, size_t *T_out)
{
    const struct voz_model *m = c->m;
    const int K = c->K;
    size_t T = 0;
    struct pass ps[VOZ_MAX_WARPS * VOZ_MAX_MEMBERS];
    const float *wf[VOZ_MAX_WARPS];
    int n_ps = 0;
    voz_status s;
    for (int k = 0; k < K; k++) {
        if (!c->wfeat[k]) {
            voz_feature_params q = m->data.feat;
            q.vtln_warp = c->warps[k];
            if ((s = voz_features_ws_create(&q, c->p.threads, &c->wfeat[k])))
                return s;
        }
        const float *f;
        size_t Tk = 0;
        if ((s = voz_features_ws_compute(c->wfeat[k], pcm, n, &f, &Tk)))
            return s;
        if (k > 0 && Tk != T) /* the warp moves filters, never frames */
            return voz_fail(VOZ_ERR_INVALID, "%s: warp %g gives %zu frames, warp %g %zu", m->name, c->warps[k],
                            Tk, c->warps[0], T);
        T = Tk;
        if (T == 0)
            return empty_transcript(out, t0, (double)n / m->data.sample_rate);
        if (T > INT_MAX / 2)
            return voz_fail(VOZ_ERR_INVALID, "%s: %zu frames is too long for one utterance", m->name, T);
        if ((s = check_features(m, f, T)))
            return s;
        wf[k] = f;
    }
    for (int j = 0; j < c->M; j++)
        for (int k = 0; k < K; k++)
            ps[n_ps++] = (struct pass){ &m->nets[j], wf[k], j };
    if ((s = ctx_reserve(c, T)) || (s = run_passes(c, ps, n_ps, T)))
        return s;
    memset(out, 0, sizeof *out);
    if ((s = c->M > 1 ? decode_members(c, T, t0, out, logprobs_out) : decode_lp(c, T, t0, out, logprobs_out)))
        return s;
    if (T_out)
        *T_out = T;
    return VOZ_OK;
}

voz_status voz_decode_ctx_utterance(struct voz_decode_ctx *c, const float *pcm, size_t n, double t0,
                                    voz_transcript *out, float **logprobs_out, size_t *T_out)
{
    const struct voz_model *m = c->m;
    const double duration = (double)n / m->data.sample_rate;
    if (logprobs_out)
        *logprobs_out = NULL;
    if (T_out)
        *T_out = 0;
    memset(out, 0, sizeof *out);
    /* Shorter than one frame: nothing to hear, not an error. */
    if (n < voz_mfcc_frame_length(&m->data.feat))
        return empty_transcript(out, t0, duration);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pcm[i]))
            return voz_fail(VOZ_ERR_NONFINITE, "%s: audio sample %zu is not finite", m->name, i);
    voz_status s;
    if (c->K > 0) {
        if ((s = decode_ensemble(c, pcm, n, t0, out, logprobs_out, T_out)))
            return s;
        out->duration = duration;
        out->end = t0 + duration;
        return VOZ_OK;
    }
    if (!c->feat && (s = voz_features_ws_create(&m->data.feat, c->p.threads, &c->feat)))
        return s;
    const float *feats = NULL;
    size_t T = 0;
    if ((s = voz_features_ws_compute(c->feat, pcm, n, &feats, &T)))
        return s;
    if (T == 0)
        return empty_transcript(out, t0, duration);
    if ((s = voz_decode_ctx_features(c, feats, T, t0, out, logprobs_out)))
        return s;
    out->duration = duration;
    out->end = t0 + duration;
    if (T_out)
        *T_out = T;
    return VOZ_OK;
}

/* The one-shot forms: a context for one call (same results, same messages). */
voz_status voz_decode_features(const struct voz_model *m, const float *feats, size_t T,
                               const voz_decode_params *p, double t0, voz_transcript *out,
                               float **logprobs_out)
{
    struct voz_decode_ctx *c;
    if (logprobs_out)
        *logprobs_out = NULL;
    memset(out, 0, sizeof *out);
    voz_status s = voz_decode_ctx_create(m, p, &c);
    if (s)
        return s;
    s = voz_decode_ctx_features(c, feats, T, t0, out, logprobs_out);
    voz_decode_ctx_free(c);
    return s;
}

voz_status voz_decode_utterance(const struct voz_model *m, const float *pcm, size_t n,
                                const voz_decode_params *p, double t0, voz_transcript *out,
                                float **logprobs_out, size_t *T_out)
{
    struct voz_decode_ctx *c;
    if (logprobs_out)
        *logprobs_out = NULL;
    if (T_out)
        *T_out = 0;
    memset(out, 0, sizeof *out);
    voz_status s = voz_decode_ctx_create(m, p, &c);
    if (s)
        return s;
    s = voz_decode_ctx_utterance(c, pcm, n, t0, out, logprobs_out, T_out);
    voz_decode_ctx_free(c);
    return s;
}
