/* train/report.h — the training log next to the model: MODEL.voz.log.csv (one row
   per epoch) and MODEL.voz.curve.svg (train loss and dev WER per epoch), both
   written atomically from the epoch history kept in the checkpoint. */
#ifndef VOZ_TRAIN_REPORT_H
#define VOZ_TRAIN_REPORT_H

#include "train/checkpoint.h"

/* Columns: epoch,step,train_loss,dev_loss,dev_cer,dev_wer,lr,skipped,seconds
   (CER/WER as fractions; dev fields empty without a dev set). */
voz_status voz_report_write_csv(const char *path, const struct voz_epoch_record *h, int n);
voz_status voz_report_write_svg(const char *path, const struct voz_epoch_record *h, int n, const char *title);

#endif
