/* decoder/ctc_beam.c — CTC prefix beam search, optionally constrained to a word list.
   Shapes: T frames, C classes (blank and, if present, the space class among them).

   A hypothesis is an output label sequence (a prefix) with two log scores: pb for the
   paths ending in blank, pnb for those ending in its last label. Prefixes live in a
   tree (one node per distinct prefix ever kept), so extending, merging and reading
   back the best answer are index operations. With a word list, each prefix also sits
   on a node of the word trie (the partial word after its last separator) and may only
   grow along trie edges; a completed word (trie node that ends a word) may be closed
   by the space class, by the first character of a new word (the separator is then
   inserted in the output), or simply by the end of the input. The separator is the
   space class when the alphabet has one; otherwise a virtual label that structures
   the tree but is never output. Every beam entry carries the first/last frame of each
   of its labels along its best path, copied from the entry it came from. */
#include "decoder/ctc.h"
#include "decoder/logmath.h"
#include "common/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BEAM 4096

struct trie_node {
    int child;   /* first child, -1 none */
    int sibling; /* next child of the same parent, -1 none */
    int label;   /* class on the edge from the parent */
    int word;    /* 1 when the path from the root spells a word */
};

/* A prefix of the search (a node of the prefix tree). */
struct hyp {
    int parent;  /* -1 for the empty prefix */
    int label;   /* class appended to the parent (sep for a separator) */
    int child, sibling; /* tree links, -1 none */
    int trie;    /* word trie node of the partial word (0 = root); unused without words */
    int last;    /* class whose repeat would merge into this label; -1 after a separator */
};

struct entry {
    int hyp;
    double pb, pnb; /* log mass of the paths ending in blank / in the last label */
    int len;        /* output labels (the virtual separator is none) */
    int *fr;        /* [len][2] first and last frame of each label on the best path */
};

/* How a contribution turns its source entry into the candidate. */
enum { KEEP = 0, REPEAT = 1, APPEND = 2, APPEND_SEP = 3 };

/* A candidate of the next beam, keyed by the prefix it stands for: an existing tree
   node (hyp >= 0), or the new child (parent, label), or for a word started right after
   a completed word whose separator child does not exist yet, (parent, sep, label). */
struct cand {
    int hyp;          /* existing prefix, or -1 */
    int parent, label; /* new prefix: parent + label (label >= C + 1 encodes sep + label - C - 1) */
    int trie, last;   /* of the new prefix */
    double pb, pnb;
    double total;     /* log(exp(pb) + exp(pnb)), set before the selection */
    double best;      /* the largest single contribution: its path gives the frames */
    int src;          /* that contribution's entry in the current beam */
    int how;          /* what it did to the entry's labels: KEEP, REPEAT, APPEND... */
    int order;        /* insertion order: deterministic tie-break */
};

struct voz_ctc_beam {
    int C, blank, space; /* space: class index of " ", -1 none */
    int sep;             /* separator label in the tree: space, or C (virtual) */
    int beam;
    int constrained;     /* a word list was given */
    struct trie_node *trie;
    int n_trie;
    int *root_child;     /* [C+1] trie child of the root per class, -1 none */

    /* decode scratch, sized at create except the prefix tree */
    struct hyp *hyps;
    int n_hyps, cap_hyps;
    struct entry *cur, *next; /* [beam] */
    int n_cur;
    struct cand *cands;  /* [beam * (2C + 2)] */
    int n_cands;
    int *slots;          /* hash table of candidate indices [n_slots] */
    int *slot_stamp;     /* frame stamp per slot: a slot is live when it equals the frame */
    int n_slots;
    int *heap;           /* [beam] candidate indices, worst first */
    int *kids;           /* [C+2] tree child of the current prefix per label, -1 none */
    double *row;         /* [C] log-probabilities of the frame in double */
    int *frames;         /* [2][beam][frame_cap][2]: frames of the entries of cur, next */
    int *fcur, *fnext;   /* the halves of `frames` that cur and next use */
    int frame_cap;       /* labels per entry: 2T + 2 (a frame adds a separator and a label) */
};

/* ---- word trie ----------------------------------------------------------------------- */

static int trie_find(const struct voz_ctc_beam *b, int node, int label)
{
    if (node == 0 && label >= 0 && label <= b->C && b->root_child)
        return b->root_child[label];
    for (int k = b->trie[node].child; k >= 0; k = b->trie[k].sibling)
        if (b->trie[k].label == label)
            return k;
    return -1;
}

static voz_status trie_add(struct voz_ctc_beam *b, const int *labels, int n, int *cap)
{
    int node = 0;
    for (int i = 0; i < n; i++) {
        int k = -1;
        for (k = b->trie[node].child; k >= 0; k = b->trie[k].sibling)
            if (b->trie[k].label == labels[i])
                break;
        if (k < 0) {
            if (b->n_trie == *cap) {
                if (*cap > INT32_MAX / 2)
                    return voz_fail(VOZ_ERR_NOMEM, "ctc beam: word list too large");
                struct trie_node *t = realloc(b->trie, sizeof *t * (size_t)(*cap * 2));
                if (!t)
                    return voz_fail(VOZ_ERR_NOMEM, "ctc beam: no memory for the word trie");
                b->trie = t;
                *cap *= 2;
            }
            k = b->n_trie++;
            b->trie[k] = (struct trie_node){.child = -1, .sibling = b->trie[node].child,
                                            .label = labels[i], .word = 0};
            b->trie[node].child = k;
        }
        node = k;
    }
    b->trie[node].word = 1;
    return VOZ_OK;
}

/* Spells `word` with the character classes (longest class string first at each
   position), writing at most `cap` labels. Returns the count, or -1 with the byte
   offset of the first character no class matches in *bad. */
static int spell(const char *const *classes, int C, int blank, int space, const char *word,
                 int *labels, int cap, size_t *bad)
{
    int n = 0;
    size_t i = 0, len = strlen(word);
    while (i < len) {
        int best = -1;
        size_t best_len = 0;
        for (int c = 0; c < C; c++) {
            if (c == blank || c == space || !classes[c])
                continue;
            size_t l = strlen(classes[c]);
            if (l > best_len && l <= len - i && memcmp(word + i, classes[c], l) == 0) {
                best = c;
                best_len = l;
            }
        }
        if (best < 0 || n == cap) {
            *bad = i;
            return -1;
        }
        labels[n++] = best;
        i += best_len;
    }
    return n;
}

/* ---- create / free ------------------------------------------------------------------- */

voz_status voz_ctc_beam_create(const char *const *classes, int C, int blank,
                               const char *const *words, int n_words, int beam,
                               struct voz_ctc_beam **out)
{
    *out = NULL;
    if (!classes || C < 1 || C > (1 << 20) || blank < 0 || blank >= C)
        return voz_fail(VOZ_ERR_INVALID, "ctc beam: expected 0 <= blank < C, found blank %d, C %d",
                        blank, C);
    if (beam < 1 || beam > MAX_BEAM)
        return voz_fail(VOZ_ERR_INVALID, "ctc beam: beam width %d, expected 1..%d", beam, MAX_BEAM);
    if (n_words < 0 || (n_words > 0 && !words))
        return voz_fail(VOZ_ERR_INVALID, "ctc beam: %d words but no list", n_words);
    for (int c = 0; c < C; c++)
        if (!classes[c])
            return voz_fail(VOZ_ERR_INVALID, "ctc beam: class %d has no string", c);

    struct voz_ctc_beam *b = calloc(1, sizeof *b);
    if (!b)
        return voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory");
    b->C = C;
    b->blank = blank;
    b->beam = beam;
    b->space = -1;
    for (int c = 0; c < C; c++)
        if (c != blank && strcmp(classes[c], " ") == 0) {
            b->space = c;
            break;
        }
    b->sep = b->space >= 0 ? b->space : C;
    b->constrained = n_words > 0;

    voz_status s = VOZ_OK;
    int trie_cap = 64;
    b->trie = malloc(sizeof *b->trie * (size_t)trie_cap);
    if (!b->trie) {
        s = voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory");
        goto fail;
    }
    b->trie[0] = (struct trie_node){.child = -1, .sibling = -1, .label = -1, .word = 0};
    b->n_trie = 1;
    if (b->constrained) {
        size_t maxlen = 1;
        for (int w = 0; w < n_words; w++) {
            if (!words[w]) {
                s = voz_fail(VOZ_ERR_INVALID, "ctc beam: word %d is NULL", w);
                goto fail;
            }
            size_t l = strlen(words[w]);
            maxlen = l > maxlen ? l : maxlen;
        }
        if (maxlen > INT32_MAX) {
            s = voz_fail(VOZ_ERR_INVALID, "ctc beam: a word is too long");
            goto fail;
        }
        int *lab = malloc(sizeof *lab * maxlen);
        if (!lab) {
            s = voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory");
            goto fail;
        }
        for (int w = 0; w < n_words && s == VOZ_OK; w++) {
            size_t bad = 0;
            int n = spell(classes, C, blank, b->space, words[w], lab, (int)maxlen, &bad);
            if (n == 0)
                s = voz_fail(VOZ_ERR_INVALID, "ctc beam: word %d is empty", w);
            else if (n < 0)
                s = voz_fail(VOZ_ERR_INVALID, "ctc beam: word %d '%s' has a character at byte %zu "
                             "that no class spells ('%.4s')", w, words[w], bad, words[w] + bad);
            else
                s = trie_add(b, lab, n, &trie_cap);
        }
        free(lab);
        if (s)
            goto fail;
        b->root_child = malloc(sizeof *b->root_child * (size_t)(C + 1));
        if (!b->root_child) {
            s = voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory");
            goto fail;
        }
        for (int c = 0; c <= C; c++)
            b->root_child[c] = -1;
        for (int k = b->trie[0].child; k >= 0; k = b->trie[k].sibling)
            b->root_child[b->trie[k].label] = k;
    }

    /* Candidates per frame: each entry keeps itself and extends by every class, the
       word start after a completed word adding one more per class at most. */
    size_t ncand = (size_t)beam * (size_t)(2 * C + 2);
    if (ncand > (1u << 24)) {
        s = voz_fail(VOZ_ERR_INVALID, "ctc beam: beam %d with %d classes is too large, expected "
                     "beam * (2C + 2) <= %u", beam, C, 1u << 24);
        goto fail;
    }
    size_t slots = 16;
    while (slots < 2 * ncand)
        slots *= 2;
    b->n_slots = (int)slots;
    b->cur = malloc(sizeof *b->cur * (size_t)beam);
    b->next = malloc(sizeof *b->next * (size_t)beam);
    b->cands = malloc(sizeof *b->cands * ncand);
    b->slots = malloc(sizeof *b->slots * slots);
    b->slot_stamp = malloc(sizeof *b->slot_stamp * slots);
    b->heap = malloc(sizeof *b->heap * (size_t)beam);
    b->kids = malloc(sizeof *b->kids * (size_t)(C + 2));
    b->row = malloc(sizeof *b->row * (size_t)C);
    b->cap_hyps = 1024;
    b->hyps = malloc(sizeof *b->hyps * (size_t)b->cap_hyps);
    if (!b->cur || !b->next || !b->cands || !b->slots || !b->slot_stamp || !b->heap || !b->kids ||
        !b->row || !b->hyps) {
        s = voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory for beam %d, %d classes", beam, C);
        goto fail;
    }
    *out = b;
    return VOZ_OK;
fail:
    voz_ctc_beam_free(b);
    return s;
}

void voz_ctc_beam_free(struct voz_ctc_beam *b)
{
    if (!b)
        return;
    free(b->trie);
    free(b->root_child);
    free(b->hyps);
    free(b->cur);
    free(b->next);
    free(b->cands);
    free(b->slots);
    free(b->slot_stamp);
    free(b->heap);
    free(b->kids);
    free(b->row);
    free(b->frames);
    free(b);
}

/* ---- search -------------------------------------------------------------------------- */

static int hyp_new(struct voz_ctc_beam *b, int parent, int label, int trie, int last)
{
    if (b->n_hyps == b->cap_hyps) {
        if (b->cap_hyps > INT32_MAX / 2)
            return -1;
        struct hyp *h = realloc(b->hyps, sizeof *h * (size_t)b->cap_hyps * 2);
        if (!h)
            return -1;
        b->hyps = h;
        b->cap_hyps *= 2;
    }
    int k = b->n_hyps++;
    b->hyps[k] = (struct hyp){.parent = parent, .label = label, .child = -1, .sibling = -1,
                              .trie = trie, .last = last};
    if (parent >= 0) {
        b->hyps[k].sibling = b->hyps[parent].child;
        b->hyps[parent].child = k;
    }
    return k;
}

static int hyp_find(const struct voz_ctc_beam *b, int parent, int label)
{
    for (int k = b->hyps[parent].child; k >= 0; k = b->hyps[k].sibling)
        if (b->hyps[k].label == label)
            return k;
    return -1;
}

/* Adds one contribution to the candidate keyed (hyp) or (parent, label). */
static void cand_add(struct voz_ctc_beam *b, int t, int hyp, int parent, int label, int trie,
                     int last, double pb, double pnb, int src, int how)
{
    uint32_t key_a = hyp >= 0 ? (uint32_t)hyp : (uint32_t)parent;
    uint32_t key_b = hyp >= 0 ? 0xffffffffu : (uint32_t)label;
    uint32_t hsh = (key_a * 2654435761u) ^ (key_b * 2246822519u);
    uint32_t mask = (uint32_t)b->n_slots - 1;
    struct cand *c = NULL;
    for (uint32_t i = hsh & mask;; i = (i + 1) & mask) {
        if (b->slot_stamp[i] != t) {
            b->slot_stamp[i] = t;
            b->slots[i] = b->n_cands;
            c = &b->cands[b->n_cands];
            *c = (struct cand){.hyp = hyp, .parent = parent, .label = label, .trie = trie,
                               .last = last, .pb = -INFINITY, .pnb = -INFINITY,
                               .best = -INFINITY, .order = b->n_cands};
            b->n_cands++;
            break;
        }
        struct cand *o = &b->cands[b->slots[i]];
        if (hyp >= 0 ? o->hyp == hyp : (o->hyp < 0 && o->parent == parent && o->label == label)) {
            c = o;
            break;
        }
    }
    c->pb = voz_log_add(c->pb, pb);
    c->pnb = voz_log_add(c->pnb, pnb);
    double contrib = pb > pnb ? pb : pnb;
    if (contrib > c->best) {
        c->best = contrib;
        c->src = src;
        c->how = how;
    }
}

/* Extension of entry i (prefix e->hyp) into the prefix (parent, label): parent is the
   entry's prefix, or its separator child for a word started right after a word. */
static void extend(struct voz_ctc_beam *b, int t, int i, int parent, int label, int trie,
                   int last, double score)
{
    const struct entry *e = &b->cur[i];
    int how = parent == e->hyp ? APPEND : APPEND_SEP;
    int q = parent == e->hyp ? b->kids[label] : hyp_find(b, parent, label);
    if (q >= 0)
        cand_add(b, t, q, -1, -1, -1, -1, -INFINITY, score, i, how);
    else
        cand_add(b, t, -1, parent, label, trie, last, -INFINITY, score, i, how);
}

/* Candidate order for the beam: higher total first, then earlier insertion. */
static int cand_better(const struct cand *x, const struct cand *y)
{
    if (x->total != y->total)
        return x->total > y->total;
    return x->order < y->order;
}

static void heap_down(const struct voz_ctc_beam *b, int *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        /* min-heap on "better": the root is the worst kept candidate */
        if (l < n && cand_better(&b->cands[h[w]], &b->cands[h[l]]))
            w = l;
        if (r < n && cand_better(&b->cands[h[w]], &b->cands[h[r]]))
            w = r;
        if (w == i)
            return;
        int tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

static int frame_step(struct voz_ctc_beam *b, int t)
{
    const int C = b->C, blank = b->blank, space = b->space;
    const double *y = b->row;
    b->n_cands = 0;
    for (int c = 0; c <= C + 1; c++)
        b->kids[c] = -1;
    for (int i = 0; i < b->n_cur; i++) {
        const struct entry *e = &b->cur[i];
        const struct hyp *h = &b->hyps[e->hyp];
        const double total = voz_log_add(e->pb, e->pnb);
        const int at_root = h->trie == 0;
        const int word_end = b->constrained && b->trie[h->trie].word;

        /* Stay: blank, or a repeat of the last label that merges into it. At a word
           boundary of a constrained search the space class is as neutral as blank. */
        double sb = total + y[blank], ss = -INFINITY;
        if (b->constrained && at_root && space >= 0)
            ss = total + y[space];
        double snb = h->last >= 0 ? e->pnb + y[h->last] : -INFINITY;
        /* the last label goes on if its repeat wins (an emitted space's too) */
        int how = snb > sb && snb > ss ? REPEAT : KEEP;
        if (ss > sb && ss > snb && e->hyp > 0 && h->label == space)
            how = REPEAT;
        cand_add(b, t, e->hyp, -1, -1, -1, -1, voz_log_add(sb, ss), snb, i, how);

        for (int k = h->child; k >= 0; k = b->hyps[k].sibling)
            b->kids[b->hyps[k].label] = k;
        for (int c = 0; c < C; c++) {
            if (c == blank || y[c] == -INFINITY)
                continue;
            /* a label equal to the last one is new only after a blank */
            double m = c == h->last ? e->pb : total;
            if (m == -INFINITY)
                continue;
            double score = m + y[c];
            if (!b->constrained) {
                extend(b, t, i, e->hyp, c, 0, c, score);
                continue;
            }
            if (c == space) {
                if (word_end)
                    extend(b, t, i, e->hyp, c, 0, -1, score);
                continue;
            }
            int tc = trie_find(b, h->trie, c);
            if (tc >= 0)
                extend(b, t, i, e->hyp, c, tc, c, score);
            int tr = word_end ? b->root_child[c] : -1;
            if (tr >= 0) {
                /* a new word right after a completed one: separator, then c */
                int sep = b->kids[b->sep];
                if (sep >= 0)
                    extend(b, t, i, sep, c, tr, c, score);
                else
                    cand_add(b, t, -1, e->hyp, C + 1 + c, tr, c, -INFINITY, score, i,
                             APPEND_SEP);
            }
        }
        for (int k = h->child; k >= 0; k = b->hyps[k].sibling)
            b->kids[b->hyps[k].label] = -1;
    }

    /* The best `beam` candidates; a candidate whose total is -inf is never kept. */
    int n = 0;
    for (int i = 0; i < b->n_cands; i++) {
        struct cand *c = &b->cands[i];
        c->total = voz_log_add(c->pb, c->pnb);
        if (c->total == -INFINITY)
            continue;
        if (n < b->beam) {
            b->heap[n++] = i;
            if (n == b->beam) /* full: make it a heap, the worst kept at the root */
                for (int j = n / 2 - 1; j >= 0; j--)
                    heap_down(b, b->heap, n, j);
        } else if (cand_better(c, &b->cands[b->heap[0]])) {
            b->heap[0] = i;
            heap_down(b, b->heap, n, 0);
        }
    }
    /* sort the kept ones best first (n <= beam: insertion sort) */
    for (int i = 1; i < n; i++) {
        int v = b->heap[i], j = i;
        while (j > 0 && cand_better(&b->cands[v], &b->cands[b->heap[j - 1]])) {
            b->heap[j] = b->heap[j - 1];
            j--;
        }
        b->heap[j] = v;
    }
    for (int i = 0; i < n; i++) {
        const struct cand *c = &b->cands[b->heap[i]];
        int q = c->hyp;
        if (q < 0) {
            int parent = c->parent, label = c->label;
            if (label > C) {
                /* separator first; another kept candidate may have made it already */
                int sep = hyp_find(b, parent, b->sep);
                if (sep < 0 && (sep = hyp_new(b, parent, b->sep, 0, -1)) < 0)
                    return -1;
                parent = sep;
                label -= C + 1;
            }
            if ((q = hyp_new(b, parent, label, c->trie, c->last)) < 0)
                return -1;
        }
        /* frames: the source entry's, then what the winning contribution did */
        const struct entry *src = &b->cur[c->src];
        struct entry *e = &b->next[i];
        *e = (struct entry){.hyp = q, .pb = c->pb, .pnb = c->pnb, .len = src->len,
                            .fr = b->fnext + (size_t)i * 2 * (size_t)b->frame_cap};
        memcpy(e->fr, src->fr, sizeof(int) * 2 * (size_t)src->len);
        if (c->how == REPEAT && e->len > 0)
            e->fr[2 * e->len - 1] = t;
        if (c->how == APPEND_SEP && b->space >= 0) {
            e->fr[2 * e->len] = e->fr[2 * e->len + 1] = t;
            e->len++;
        }
        if (c->how >= APPEND) {
            e->fr[2 * e->len] = e->fr[2 * e->len + 1] = t;
            e->len++;
        }
    }
    struct entry *tmp = b->cur;
    b->cur = b->next;
    b->next = tmp;
    int *ftmp = b->fcur;
    b->fcur = b->fnext;
    b->fnext = ftmp;
    b->n_cur = n;
    return 0;
}

/* The answer a final prefix stands for: itself, or without its trailing separator;
   -1 when its last word is incomplete. */
static int answer_of(const struct voz_ctc_beam *b, int q)
{
    const struct hyp *h = &b->hyps[q];
    if (!b->constrained)
        return q;
    if (h->trie != 0 && !b->trie[h->trie].word)
        return -1;
    if (h->label == b->sep && h->parent >= 0)
        return h->parent;
    return q;
}

int voz_ctc_beam_decode(struct voz_ctc_beam *b, const float *logprobs, int T, size_t stride,
                        int *labels, int *first_frame, int *last_frame)
{
    if (!b || T < 0 || (T > 0 && (!logprobs || !labels)) || stride < (size_t)b->C ||
        T > (INT32_MAX - 2) / 2) {
        voz_fail(VOZ_ERR_INVALID, "ctc beam: bad arguments (T=%d, stride %zu, C=%d)", T,
                 stride, b ? b->C : 0);
        return -1;
    }
    if (b->frame_cap < 2 * T + 2) {
        size_t n;
        int *f = NULL;
        if (!voz_mul3_size(4, (size_t)b->beam, (size_t)(2 * T + 2), &n) && n <= SIZE_MAX / sizeof(int))
            f = realloc(b->frames, n * sizeof(int));
        if (!f) {
            voz_fail(VOZ_ERR_NOMEM, "ctc beam: no memory for the frames of %d frames", T);
            return -1;
        }
        b->frames = f;
        b->frame_cap = 2 * T + 2;
    }
    b->fcur = b->frames;
    b->fnext = b->frames + (size_t)b->beam * 2 * (size_t)b->frame_cap;
    b->n_hyps = 0;
    hyp_new(b, -1, -1, 0, -1); /* the empty prefix; capacity is >= 1 */
    b->cur[0] = (struct entry){.hyp = 0, .pb = 0.0, .pnb = -INFINITY, .len = 0, .fr = b->fcur};
    b->n_cur = 1;
    for (int i = 0; i < b->n_slots; i++)
        b->slot_stamp[i] = -1;
    for (int t = 0; t < T; t++) {
        const float *lp = logprobs + (size_t)t * stride;
        for (int c = 0; c < b->C; c++)
            b->row[c] = isnan(lp[c]) ? -INFINITY : (double)lp[c];
        if (frame_step(b, t)) {
            voz_fail(VOZ_ERR_NOMEM, "ctc beam: out of memory for the prefix tree at frame %d", t);
            return -1;
        }
        if (b->n_cur == 0)
            return 0; /* every path has probability 0: nothing to say */
    }

    /* The answer: the best prefix whose last word is complete. A prefix ending in a
       separator is the same answer as the one without it: their mass is summed, and
       the frames come from the best entry of the pair. */
    int best = -1;
    const struct entry *best_e = NULL;
    double best_score = -INFINITY;
    for (int i = 0; i < b->n_cur; i++) {
        int q = answer_of(b, b->cur[i].hyp);
        if (q < 0)
            continue;
        double score = -INFINITY;
        const struct entry *first_e = NULL;
        for (int j = 0; j < b->n_cur; j++)
            if (answer_of(b, b->cur[j].hyp) == q) {
                score = voz_log_add(score, voz_log_add(b->cur[j].pb, b->cur[j].pnb));
                if (!first_e)
                    first_e = &b->cur[j]; /* entries are sorted: the best of the pair */
            }
        if (score > best_score) {
            best_score = score;
            best = q;
            best_e = first_e;
        }
    }
    if (best < 0)
        return 0;

    /* Labels from the tree, frames from the entry (its extra separator, if any, is
       the last of its labels and is dropped with it). */
    int n = 0;
    for (int q = best; q > 0; q = b->hyps[q].parent)
        n += b->hyps[q].label < b->C;
    int i = n;
    for (int q = best; q > 0; q = b->hyps[q].parent)
        if (b->hyps[q].label < b->C) {
            i--;
            if (i < T)
                labels[i] = b->hyps[q].label;
        }
    for (int k = 0; k < n && k < T; k++) {
        if (first_frame)
            first_frame[k] = best_e->fr[2 * k];
        if (last_frame)
            last_frame[k] = best_e->fr[2 * k + 1];
    }
    if (n > T) {
        /* Inserted separators take no frame, so words spoken back to back without a
           blank can need more than T labels: keep the whole words that fit. */
        n = T;
        if (b->space >= 0 && labels[n - 1] != b->space) {
            while (n > 0 && labels[n - 1] != b->space)
                n--;
            if (n > 0)
                n--;
        }
    }
    return n;
}
