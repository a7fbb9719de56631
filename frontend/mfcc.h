/* frontend/mfcc.h — Kaldi-compatible MFCC (matches torchaudio.compliance.kaldi.mfcc),
   deltas and mean/variance normalisation. One per-frame computer serves both the
   offline and the streaming driver, so batch and live features are identical. */
#ifndef VOZ_FRONTEND_MFCC_H
#define VOZ_FRONTEND_MFCC_H

#include "voz.h"
#include <stddef.h>

/* Validates options (sample rate > 0, frame fits, mel bins vs FFT size, ceps <= bins ...). */
voz_status voz_feature_params_check(const voz_feature_params *p);
/* Samples per frame and per shift (rounded as Kaldi does). */
size_t voz_mfcc_frame_length(const voz_feature_params *p);
size_t voz_mfcc_frame_shift(const voz_feature_params *p);
/* Kaldi's NumFrames(): frames produced for n samples. */
size_t voz_mfcc_num_frames(const voz_feature_params *p, size_t n_samples);

/* Cepstrum k of logmel[0..M) weighs logmel[j] by voz_mfcc_dct_weight(M, k, j), then is
   multiplied by voz_mfcc_lifter_weight(cepstral_lifter, k) (Kaldi's DCT rows and lifter;
   the rows are orthonormal, which lets training map masks on mel bands to cepstra). */
double voz_mfcc_dct_weight(int M, int k, int j);
double voz_mfcc_lifter_weight(float Q, int k);

/* Per-frame computer: precomputed window, mel banks, DCT matrix and lifter; one
   KissFFT config (the real N-point FFT as a complex N/2-point one plus a split).
   Input samples are floats in [-1, 1]; the computer scales them by 32768 (Kaldi's
   int16 convention) before analysis. */
struct voz_mfcc;
voz_status voz_mfcc_create(const voz_feature_params *p, struct voz_mfcc **out);
void voz_mfcc_free(struct voz_mfcc *m);
/* One frame: `frame` holds frame_length samples; writes num_ceps values. Uses the
   computer's scratch: one computer per thread. */
void voz_mfcc_compute_frame(struct voz_mfcc *m, const float *frame, float *out);
/* Restarts the dither generator at its fixed seed (a fresh computer starts there). */
void voz_mfcc_reset(struct voz_mfcc *m);
/* FFT size N (frame length, rounded up to a power of two when round_pow2). */
size_t voz_mfcc_fft_size(const struct voz_mfcc *m);
/* Frames 0 .. T-1 of pcm[n] (T <= voz_mfcc_num_frames) into out[T][num_ceps], with
   Kaldi's edge reflection when snip_edges = 0. Dither continues from the computer's
   state (a fresh or reset computer: as the streaming driver would give). */
voz_status voz_mfcc_compute_buffer(struct voz_mfcc *m, const float *pcm, size_t n, float *out, size_t T);
/* Frames f0 .. f1-1 of pcm[n] into out[f1 - f0][num_ceps], dither continuing from the
   computer's state; after voz_mfcc_seek(m, f0) they equal those frames of a whole-buffer
   run, which lets threads split one buffer. */
voz_status voz_mfcc_compute_range(struct voz_mfcc *m, const float *pcm, size_t n, size_t f0, size_t f1,
                                  float *out);
/* Puts the dither generator where a reset computer is after `frame` frames. */
void voz_mfcc_seek(struct voz_mfcc *m, uint64_t frame);

/* Offline: all features of a buffer (MFCC, deltas, CMVN as the params say),
   malloc'ed [T][dim] row-major. T may be 0 (then *feats is NULL). */
voz_status voz_features_compute(const voz_feature_params *p, const float *pcm, size_t n,
                                float **feats, size_t *T);

/* Reusable offline feature extraction: the MFCC computers and the frame buffers are
   kept between calls and grown on demand, so decoding many segments does not allocate
   per segment. threads 1 or 2: with 2, a buffer's frames are split in two halves, the
   second computed on a worker thread started per call (results are identical to one
   thread and to voz_features_compute, dither included). One workspace per thread. */
struct voz_features_ws;
voz_status voz_features_ws_create(const voz_feature_params *p, int threads, struct voz_features_ws **out);
void voz_features_ws_free(struct voz_features_ws *w);
/* As voz_features_compute, but *feats points into the workspace ([T][dim], valid
   until the next call or the free; NULL when T is 0). */
voz_status voz_features_ws_compute(struct voz_features_ws *w, const float *pcm, size_t n,
                                   const float **feats, size_t *T);

/* Streaming driver: feed samples in blocks of any size, read base MFCC frames
   [num_ceps] as they complete. Identical to the offline MFCC for the same samples. */
struct voz_mfcc_stream;
voz_status voz_mfcc_stream_create(const voz_feature_params *p, struct voz_mfcc_stream **out);
void voz_mfcc_stream_free(struct voz_mfcc_stream *s);
void voz_mfcc_stream_reset(struct voz_mfcc_stream *s);
/* Appends samples (blocks of any size, even 1); completed frames become available
   via _pop. Samples stay buffered until the frames that need them are popped.
   VOZ_ERR_INVALID after a flush until the stream is reset. */
voz_status voz_mfcc_stream_feed(struct voz_mfcc_stream *s, const float *pcm, size_t n);
/* End of input (needed for snip_edges = 0, whose last frames reflect the end). */
voz_status voz_mfcc_stream_flush(struct voz_mfcc_stream *s);
/* Copies the oldest completed frame into out[num_ceps]; returns 1, or 0 when none.
   Frames are computed here, lazily, so feeding never does analysis work. */
int voz_mfcc_stream_pop(struct voz_mfcc_stream *s, float *out);
/* Frames _pop would return now. */
size_t voz_mfcc_stream_available(const struct voz_mfcc_stream *s);

/* Post-processing of base MFCC [T][C] into final features [T][C*(1+order)]:
   Kaldi's compute-deltas (edge frames replicated), then CMVN per the params.
   Order 1 equals torchaudio.functional.compute_deltas (win_length 2*window+1,
   replicate); order 2 equals applying that twice except in the first and last
   `window` frames, where torchaudio replicates the first-order deltas and Kaldi
   (and this) the base frames. */
void voz_deltas_compute(const float *in, size_t T, int C, int order, int window, float *out);
/* Per-utterance mean (and variance) normalisation in place over [T][D]. */
void voz_cmvn_apply(float *feats, size_t T, int D, int norm_var);
/* What voz_cmvn_apply does to column d: x -> (x - mean) * scale (scale 1 without norm_var). */
void voz_cmvn_column(const float *feats, size_t T, int D, int d, int norm_var, double *mean, double *scale);

/* Running CMVN for live audio: exponentially decaying mean/var estimates. Each frame
   first enters the statistics, then is normalised by them (so frame 0 becomes 0).
   init sets norm_var = 1; set it to 0 for mean-only normalisation. */
struct voz_cmvn_running {
    int D;             /* feature dimension */
    float decay;       /* 1 - 1/window_frames: weight of the past per frame */
    double count;      /* decayed number of frames seen */
    double *sum;       /* [D] decayed sums */
    double *sumsq;     /* [D] decayed sums of squares */
    int norm_var;      /* 1: divide by the running standard deviation too */
};
voz_status voz_cmvn_running_init(struct voz_cmvn_running *r, int D, float window_frames);
void voz_cmvn_running_apply(struct voz_cmvn_running *r, float *frame);
/* Forgets the statistics (a new speaker or session), keeping D, decay and norm_var. */
void voz_cmvn_running_reset(struct voz_cmvn_running *r);
void voz_cmvn_running_release(struct voz_cmvn_running *r);
/* Window of the running CMVN that voz_features_compute uses for VOZ_CMVN_RUNNING. */
#define VOZ_CMVN_RUNNING_FRAMES 300
/* Variances below this are treated as this (constant or silent dimensions map to 0
   instead of dividing by ~0). */
#define VOZ_CMVN_VAR_FLOOR 1e-10

#endif
