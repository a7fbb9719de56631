/* train/augment.h — the training randomness and data augmentation. Every random
   choice comes from a voz_rng seeded by a hash of (seed, purpose, indices...), so
   results are a pure function of the run's seed and the position in training: a
   resumed run draws exactly what an uninterrupted one would have drawn.
   Waveform augmentation (speed via the resampler, gain, white/pink noise at an SNR)
   makes the cached clip variants; SpecAugment masks final features on the fly. */
#ifndef VOZ_TRAIN_AUGMENT_H
#define VOZ_TRAIN_AUGMENT_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

/* splitmix64: one 64-bit word of state, full period, good enough mixing for
   shuffles and augmentation draws. */
struct voz_rng { uint64_t s; };

/* State from a seed and up to three indices (epoch, batch, item ...). */
struct voz_rng voz_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t voz_rng_next(struct voz_rng *r);
double voz_rng_uniform(struct voz_rng *r);                 /* [0, 1) */
double voz_rng_range(struct voz_rng *r, double lo, double hi); /* [lo, hi) (lo when equal) */
int voz_rng_int(struct voz_rng *r, int lo, int hi);          /* lo..hi inclusive */
double voz_rng_gauss(struct voz_rng *r);                   /* standard normal */
void voz_rng_shuffle(struct voz_rng *r, int *v, int n);    /* Fisher-Yates */

typedef struct {
    float speed_min, speed_max;   /* 0.9 : 1.1   playback-rate factor (>1 shorter) */
    float gain_min_db, gain_max_db; /* -6 : 6 */
    float snr_min_db, snr_max_db; /* 10 : 40 */
    float clean_prob;             /* 0.25: share of variants without added noise */
    /* Edge cropping: recordings (and endpointers) often clip a word's first or last
       phone, a weak fricative most of all ("five" heard from "ive"). Each edge is cut,
       with probability crop_prob, at the speech boundary (first/last 10 ms frame within
       20 dB of the loudest) moved by up to +-crop_ms: sometimes leaving a little lead-in,
       sometimes cutting into the word. */
    float crop_prob;              /* 0: off */
    float crop_ms;                /* 50 */
    /* Vocal-tract length perturbation: the variant's mel filterbank is warped by a
       factor drawn from [warp_min, warp_max] (voz_augment_warp), which moves formants
       without touching pitch or duration, unlike the speed factor. */
    float warp_min, warp_max;     /* 1 : 1 (off) */
} voz_augment_params;

voz_augment_params voz_augment_default_params(void);

/* One augmented copy of pcm[n] at `rate` Hz: edge cropping, speed perturbation (resampling to
   rate / speed, played at rate), gain, then white or pink noise at a random SNR
   relative to the clip's mean power (or none, with probability clean_prob). All draws
   come from `rng`. *out is malloc'ed. */
voz_status voz_augment_wave(const voz_augment_params *p, struct voz_rng *rng, const float *pcm, size_t n,
                            int rate, float **out, size_t *n_out);

/* The VTLP factor of a variant: the next draw of `rng` (after voz_augment_wave). */
double voz_augment_warp(const voz_augment_params *p, struct voz_rng *rng);

/* Noise of n samples: white (pink = 0) or pink (1/f, Voss-McCartney with 12 rows),
   unit RMS before scaling by `rms`. */
void voz_augment_noise(struct voz_rng *rng, int pink, float rms, float *out, size_t n);

typedef struct {
    int time_masks, time_width; /* N masks of width 0..W frames */
    int freq_masks, freq_width; /* N masks of width 0..F coefficients */
    int mel_masks, mel_width;   /* N masks of width 0..F mel bands (voz_melmask) */
} voz_specaug_params;

/* Masks (sets to 0, the mean after CMVN) feats [T][D] in place. D = blocks * C: a
   frequency mask covers the same coefficient range [f0, f0 + f) of C in each block
   (static, delta, delta-delta), so the masked band means one thing in all of them.
   Time masks are at most T/5 frames wide each, so no utterance is erased. */
void voz_specaug_apply(const voz_specaug_params *p, struct voz_rng *rng, float *feats, int T, int D, int C);

/* SpecAugment's frequency masks as the paper means them, on mel bands, for a model whose
   input is cepstra. The cache keeps cepstra, so a mask works on the log-mel spectrum the
   cepstra describe: S = D^T (c / lifter), the mel bands smoothed by truncation to C
   coefficients (D's rows are orthonormal). Masked bands of S are set to their mean over
   the utterance and the cepstra recomputed: c -= lifter * D_band (S_band - mean). Being
   truncated to C coefficients again, a masked band comes out flattened, not exactly at
   its mean; with every band masked the frames are all the mean. The map is linear in
   each frame, so it applies to the delta blocks alike. It is applied after CMVN's mean
   removal and before its scaling, with the scales of the unmasked utterance: what is
   masked stays small, as SpecAugment's masks on normalised features do (scaling after
   masking would blow the remains of a wide mask back up to unit variance). With
   use_energy, c0 is the frame energy, not a DCT row, and is left as it is. */
struct voz_melmask {
    int M, C, D, k0;    /* mel bands, cepstra, feature dimension, first DCT-row cepstrum */
    float *w;           /* [M][C] lifter_k * dct(k, j): a band's smoothed value back to cepstra */
    float *u;           /* [M][C] dct(k, j) / lifter_k: cepstra to a band's smoothed value */
    unsigned char *band; /* [M] scratch: the bands masked in this utterance */
    double *mean, *scale; /* [D] scratch: CMVN of the utterance */
    float *dev;         /* [M] scratch: a frame's smoothed value in each masked band */
};
/* Refuses htk_compat features (their c0 sits last, scaled). One per thread (scratch). */
voz_status voz_melmask_init(struct voz_melmask *mm, const voz_feature_params *f);
void voz_melmask_release(struct voz_melmask *mm);
/* Per-utterance CMVN of feats [T][D] (cepstra and their deltas, not yet normalised), with
   p->mel_masks bands of 0..p->mel_width (at most M - 1) drawn from rng and masked between
   the mean removal and the scaling. With no masks (and then no draw) or no band drawn, it
   is voz_cmvn_apply exactly. */
void voz_melmask_cmvn(struct voz_melmask *mm, const voz_specaug_params *p, struct voz_rng *rng, float *feats, int T,
                      int norm_var);

#endif
