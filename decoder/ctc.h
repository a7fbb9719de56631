/* decoder/ctc.h — CTC: greedy decoding, prefix beam search constrained to a word
   list, and the CTC loss with its gradient. Shapes: T frames, C classes, L label
   length. Log-probabilities are read with a row stride (stride = B*C for the
   time-major batch layout [T][B][C], C for a single sequence). */
#ifndef VOZ_DECODER_CTC_H
#define VOZ_DECODER_CTC_H

#include "voz.h"
#include <stddef.h>

/* Greedy: argmax per frame, merge repeats, drop blanks. Writes at most T labels and
   the frame where each one starts (first frame of its run) and ends (last frame);
   frames may be NULL. Returns the label count. */
int voz_ctc_greedy(const float *logprobs, int T, int C, size_t stride, int blank,
                   int *labels, int *first_frame, int *last_frame);

/* CTC loss -log p(labels | x) in log space (forward-backward, double accumulation).
   `logprobs` are log-softmax outputs; `dlogits` (may be NULL) receives the gradient
   of the loss w.r.t. the pre-softmax logits at the same stride: exp(logprobs) minus
   the posterior of each class. Returns +INFINITY when the labels cannot fit in T
   frames (dlogits then zeroed); never NaN for finite input. */
double voz_ctc_loss(const float *logprobs, int T, int C, size_t stride, const int *labels,
                    int L, int blank, float *dlogits);
/* Minimum frames a label sequence needs: L plus one per adjacent repeated pair. */
int voz_ctc_min_frames(const int *labels, int L);

/* Reusable scratch for the loss, so a training loop allocates once: it grows to the
   largest problem seen and is kept. Embed it, _init before use, _release at the end;
   one workspace per thread. voz_ctc_loss() itself keeps one per calling thread.
   The loss first runs a scaled forward-backward in linear arithmetic (no exp/log per
   state: fast) and keeps it when its checks pass (no used class more than 700 nats
   below the frame's best used class, no row underflow, sum_s alpha_t(s) beta_t(s)
   equal to p on every frame); otherwise it redoes the call in the log-space
   recursion. Both agree to double rounding where the checks pass. */
struct voz_ctc_ws {
    double *buf;  /* alpha [T][S], emissions [T][C], scales [T], rows, occupancy [C] */
    size_t cap;   /* doubles in buf */
    int *ibuf;    /* state classes [S], skip flags [S], used classes [C] */
    size_t icap;  /* ints in ibuf */
    int exact;    /* 1: always the log-space recursion (tests, reference) */
    long n_exact; /* calls that needed the log-space recursion (diagnostics) */
};
void voz_ctc_ws_init(struct voz_ctc_ws *ws);
void voz_ctc_ws_release(struct voz_ctc_ws *ws);
/* voz_ctc_loss with explicit scratch. Both return NaN (and set voz_last_error())
   only for invalid arguments (T < 0, C < 1, blank or a label outside [0, C), a label
   equal to blank, stride < C), for NaN input, or when the scratch cannot grow. */
double voz_ctc_loss_ws(struct voz_ctc_ws *ws, const float *logprobs, int T, int C,
                       size_t stride, const int *labels, int L, int blank, float *dlogits);

/* The candidate label sequence an ensemble agrees on: the index k maximising
   sum_j log p_j(cands[k] | x), each p_j the CTC likelihood under network j's log-
   probabilities lps[j] ([T][C], stride C; every alignment summed, not one path).
   Ties keep the lower index. *score, if non-NULL, receives the winner's sum (-inf when
   no candidate fits in T frames). Returns -1 (voz_last_error() set) for invalid input. */
int voz_ctc_ensemble_pick(struct voz_ctc_ws *ws, const float *const *lps, int M, int T, int C, int blank,
                          const int *const *cands, const int *lens, int n_cands, double *score);

/* Vocabulary-constrained prefix beam search. `classes` maps class -> UTF-8 string
   (single characters, " " for the word separator, "" for blank). The output is a
   space-separated sequence of words from `words`; with n_words == 0 it is an
   unconstrained prefix beam search. Each word is spelled with the character classes
   (longest class string first); an empty word or one with a character no class spells
   is VOZ_ERR_INVALID naming it. beam is 1..4096. */
struct voz_ctc_beam;
voz_status voz_ctc_beam_create(const char *const *classes, int C, int blank,
                               const char *const *words, int n_words, int beam,
                               struct voz_ctc_beam **out);
void voz_ctc_beam_free(struct voz_ctc_beam *b);
/* Writes the best label sequence (classes incl. space) into labels[] (capacity T)
   with their first/last frames (may be NULL); returns its length, or -1 when memory
   runs out or an argument is invalid (voz_last_error() says which). A constrained
   search returns only prefixes whose last word is complete (0 labels if none is);
   words are separated by the space class, inserted when the model went straight
   from one word into the next (without a space class, words are just concatenated).
   The frames are those of each entry's best path; an inserted space gets the first
   frame of the word after it. An inserted space takes no frame, so words back to back
   with no blank at all can need more than T labels: the output then keeps the whole
   words that fit. Ties go to the candidate made first: the better-ranked prefix, then
   the lower class index (a tie between two classes picks the lower, as greedy does).
   One decoder serves one thread at a time. */
int voz_ctc_beam_decode(struct voz_ctc_beam *b, const float *logprobs, int T, size_t stride,
                        int *labels, int *first_frame, int *last_frame);

#endif
