/* train/dataset.h — the feature cache and the batches built from it. Features are
   computed once, by the inference frontend: final features for --dev rows, base MFCC
   [T][C] for --train rows, for each --compose clip and each of its augmented variants, and
   base MFCC of gap material (digital silence, low-level noise). An epoch is a plan:
   the rows, plus composed utterances (clip variants joined by gaps), shuffled,
   bucketed by length and cut into batches; a batch's features are assembled on
   demand (deltas + CMVN for composed ones, SpecAugment for training). */
#ifndef VOZ_TRAIN_DATASET_H
#define VOZ_TRAIN_DATASET_H

#include "voz.h"
#include "train/augment.h"
#include "train/manifest.h"
#include <stdint.h>

struct voz_utt {
    float *x;          /* training rows: base MFCC [T][C]; dev rows: final features [T][D] */
    int T;
    const int *labels; /* [L], owned by the manifest row */
    int L;
    const char *text;  /* reference transcript (manifest row) */
};

struct voz_clip {
    const int *labels; /* [L] word labels (manifest row) */
    int L;
    int n_var;         /* variants kept, >= 1; variant 0 is the clip as recorded */
    float **mfcc;      /* [n_var] base MFCC [T[v]][C] */
    int *T;            /* [n_var] */
};

struct voz_dataset_params {
    voz_feature_params feat;   /* final features, as the model file stores them */
    const struct voz_alphabet *alpha;
    uint64_t seed;
    int variants;              /* K augmented copies per compose clip */
    voz_augment_params augment;
    int skip_bad;
    int threads;               /* workers computing the cache */
};

struct voz_dataset {
    struct voz_dataset_params p;
    int D, C;                  /* final and base feature dimensions */
    struct voz_manifest *manifests; int n_manifests; /* all, owning the rows */
    struct voz_utt *train; int n_train;
    struct voz_clip *clips; int n_clips;
    struct voz_utt *dev; int n_dev;
    float **gap; int *gap_T; int n_gap; /* gap material: [0] silence, [1..] noise */
    int space;                 /* class of ' ' (-1 when not in the alphabet) */
    double mean_words;         /* mean word count of composed utterances (set by caller) */
};

voz_status voz_dataset_init(struct voz_dataset *ds, const struct voz_dataset_params *p);
/* Each adds one manifest's rows: kind 0 train, 1 compose, 2 dev. Rows whose labels
   cannot fit their frames are skipped with a warning naming the line. */
voz_status voz_dataset_add(struct voz_dataset *ds, const char *manifest, int kind);
void voz_dataset_release(struct voz_dataset *ds);

struct voz_compose_params {
    int count;                 /* composed utterances per epoch */
    int min_words, max_words;
    float gap_min_ms, gap_max_ms;
};

/* A composed utterance: parts[i] = clip variant with a gap before it; one more gap at
   the end. */
struct voz_part { int clip, variant; int gap_src, gap_off, gap_T; };

struct voz_item {
    int train;                 /* >= 0: index into ds->train; -1: composed */
    int part0, n_parts;        /* composed: parts[part0 .. part0 + n_parts] (last = tail gap) */
    int T, L;
};

struct voz_epoch_plan {
    struct voz_item *items; int n_items;
    struct voz_part *parts; int n_parts;
    int *order;                /* items in batch order */
    int *batch_start;          /* [n_batches + 1] offsets into order */
    int n_batches;
};

/* Deterministic in (seed, epoch). */
voz_status voz_epoch_plan_build(const struct voz_dataset *ds, const struct voz_compose_params *cp,
                                int batch_size, int epoch, struct voz_epoch_plan *out);
void voz_epoch_plan_release(struct voz_epoch_plan *plan);

/* Labels of an item into labels[] (capacity it->L). */
void voz_item_labels(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                     int *labels);
/* Base MFCC of an item into base [it->T][C]; returns it->T. */
int voz_item_base(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                  float *base);
/* Final features from base MFCC: deltas, then CMVN as the model's features say. */
void voz_dataset_finish(const struct voz_dataset *ds, const float *base, int T, float *feats);
/* Both: final features of an item into feats [it->T][D] (scratch: [it->T][C] floats). */
void voz_item_features(const struct voz_dataset *ds, const struct voz_epoch_plan *plan, const struct voz_item *it,
                       float *feats, float *scratch);

#endif
