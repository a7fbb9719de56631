/* train/checkpoint.h — everything a training run needs to continue exactly where it
   stopped: weights, optimiser moments, counters, the learning-rate schedule, the best
   dev result, the epoch log, and the options that must not change (as text, so a
   mismatch can be named). Randomness needs no saved state: every draw is derived
   from (seed, epoch, batch, ...) (train/augment.h).
   File layout, little-endian: "VOZCKPT\0", u32 version, u32 0, then the fields in the
   order of struct voz_checkpoint (strings and arrays prefixed by their u64 length),
   then the CRC-32 of all preceding bytes. Read back, every length is checked against
   the file size, the CRC must match and every float must be finite. */
#ifndef VOZ_TRAIN_CHECKPOINT_H
#define VOZ_TRAIN_CHECKPOINT_H

#include "voz.h"
#include "acoustic/net.h"
#include <stddef.h>
#include <stdint.h>

#define VOZ_CKPT_MAGIC "VOZCKPT"   /* 8 bytes with the NUL */
#define VOZ_CKPT_VERSION 1

/* One finished epoch: a row of MODEL.voz.log.csv. Dev fields are NaN without --dev. */
struct voz_epoch_record {
    int epoch;            /* 1-based */
    uint64_t step;        /* batches done at the end of the epoch */
    double train_loss;    /* mean CTC loss per utterance over the epoch's applied batches */
    double dev_loss, dev_cer, dev_wer;
    double lr;            /* learning rate of the epoch's last batch */
    uint64_t skipped;     /* batches skipped (non-finite loss or gradient) in the epoch */
    double seconds;       /* training wall time at the end of the epoch, all runs */
};

struct voz_checkpoint {
    char *options;         /* "key=value\n" lines of the options that must not change */
    voz_net_config net;
    size_t n_floats;       /* voz_net_num_floats(&net) */
    float *params;         /* [n_floats], 64-byte aligned (voz_alloc_aligned) */
    int optim_kind;        /* voz_optim_kind */
    float *m, *v;          /* [n_floats] moments; v NULL for SGD */
    uint64_t optim_t;      /* optimiser updates applied */
    int epoch;             /* 0-based epoch in progress (== epochs when finished) */
    int batch;             /* batches of `epoch` already done */
    uint64_t step;         /* batches done in all epochs */
    double lr_scale, lr_best; /* struct voz_lr_schedule state */
    int lr_bad_epochs;
    double best_wer;       /* best dev WER so far (+Inf before the first) */
    int best_epoch;        /* 1-based epoch of best_wer, 0 none */
    double epoch_loss_sum; /* running sums of the epoch in progress */
    uint64_t epoch_utts, epoch_skipped, total_skipped;
    double seconds;        /* training wall time of all runs so far */
    int n_history;
    struct voz_epoch_record *history; /* [n_history] */
};

/* Atomic (temporary file + rename): a crash leaves the previous checkpoint intact.
   Refuses (VOZ_ERR_NONFINITE) to store non-finite weights or moments. */
voz_status voz_checkpoint_write(const struct voz_checkpoint *c, const char *path);
voz_status voz_checkpoint_read(const char *path, struct voz_checkpoint *out);
/* Parses a file image (tests feed corrupted copies). */
voz_status voz_checkpoint_parse(const void *data, size_t size, const char *name, struct voz_checkpoint *out);
void voz_checkpoint_release(struct voz_checkpoint *c);

#endif
