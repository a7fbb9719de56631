/* recognizer/decode.h — a decoding context: the scratch of voz_decode_utterance (feature
   buffers and MFCC computers, the network workspace, log-probabilities, labels and the
   beam decoder) kept across the utterances of one file or stream and grown to the
   largest, so an hour decoded in 30 s segments costs the memory of one segment and
   allocates nothing per segment once that size is reached. */
#ifndef VOZ_RECOGNIZER_DECODE_H
#define VOZ_RECOGNIZER_DECODE_H

#include "recognizer/internal.h"

struct voz_decode_ctx;
/* Checks p (NULL: defaults) and copies it; p->words, if set, must outlive the context.
   Nothing large is allocated before the first utterance. */
voz_status voz_decode_ctx_create(const struct voz_model *m, const voz_decode_params *p,
                                 struct voz_decode_ctx **out);
void voz_decode_ctx_free(struct voz_decode_ctx *c);
/* voz_decode_utterance with the context's model and params: identical results.
   *logprobs_out, when asked for, is a malloc'ed copy the caller frees. */
voz_status voz_decode_ctx_utterance(struct voz_decode_ctx *c, const float *pcm, size_t n, double t0,
                                    voz_transcript *out, float **logprobs_out, size_t *T_out);
/* voz_decode_features likewise. */
voz_status voz_decode_ctx_features(struct voz_decode_ctx *c, const float *feats, size_t T, double t0,
                                   voz_transcript *out, float **logprobs_out);

#endif
