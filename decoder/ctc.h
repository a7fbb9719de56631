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

/* Vocabulary-constrained prefix beam search. `classes` maps class -> UTF-8 string
   (single characters, " " for the word separator, "" for blank). The output is a
   space-separated sequence of words from `words`; with n_words == 0 it is an
   unconstrained prefix beam search. */
struct voz_ctc_beam;
voz_status voz_ctc_beam_create(const char *const *classes, int C, int blank,
                               const char *const *words, int n_words, int beam,
                               struct voz_ctc_beam **out);
void voz_ctc_beam_free(struct voz_ctc_beam *b);
/* Writes the best label sequence (classes incl. space) into labels[] (capacity T)
   with their first/last frames (may be NULL); returns its length. */
int voz_ctc_beam_decode(struct voz_ctc_beam *b, const float *logprobs, int T, size_t stride,
                        int *labels, int *first_frame, int *last_frame);

#endif
