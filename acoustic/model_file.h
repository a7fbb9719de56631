/* acoustic/model_file.h — the voz model file (spec: models/FORMAT.md): everything
   needed to run a model — features, network, alphabet, optional word list and
   metadata — plus named tensors and a CRC-32 over the whole file. Files are
   untrusted: every count, size and offset is checked against the file length. */
#ifndef VOZ_ACOUSTIC_MODEL_FILE_H
#define VOZ_ACOUSTIC_MODEL_FILE_H

#include "voz.h"
#include "acoustic/net.h"

#define VOZ_MODEL_MAGIC "VOZMODEL"  /* 8 bytes */
#define VOZ_MODEL_VERSION 2        /* the newest read; written only when needed */
#define VOZ_MODEL_MAX_MEMBERS VOZ_MAX_MEMBERS /* networks in one file (version 2) */

struct voz_model_data {
    int sample_rate;             /* Hz the model expects */
    voz_feature_params feat;     /* feat.sample_rate == sample_rate */
    voz_net_config net;          /* net.input_dim == voz_feature_dim(&feat) */
    int blank;                   /* class index of the CTC blank */
    char **classes;              /* [net.classes] UTF-8 strings, classes[blank] = "" */
    char **words;                /* optional word list (NULL) */
    int n_words;
    char **meta_keys, **meta_values; /* free-form metadata (name, recipe, data...) */
    int n_meta;
    /* An ensemble holds several networks of the same configuration, trained apart, whose
       posteriors the decoder averages. Member j's block starts at
       params + j * voz_net_num_floats(&net). 0 means 1 for a writer; a reader sets it. */
    int members;
    float *params;               /* members blocks of voz_net_num_floats(&net), 64-byte aligned, owned */
    uint32_t checksum;           /* CRC-32 read from / written to the file */
    size_t file_size;
};

/* Parses and validates a complete file image. `name` is used in messages.
   Everything is copied out of `data`; the caller may free it afterwards. */
voz_status voz_model_data_parse(const void *data, size_t size, const char *name,
                                struct voz_model_data *out);
voz_status voz_model_data_read(const char *path, struct voz_model_data *out);
/* Serialises (computing the checksum) through a temporary file + rename. */
voz_status voz_model_data_write(const struct voz_model_data *m, const char *path);
/* Into a malloc'ed buffer (same bytes as the file). */
voz_status voz_model_data_serialize(const struct voz_model_data *m, void **buf, size_t *size);
void voz_model_data_release(struct voz_model_data *m);
/* Sets or replaces a metadata entry (copies both strings). */
voz_status voz_model_data_set_meta(struct voz_model_data *m, const char *key, const char *value);
const char *voz_model_data_get_meta(const struct voz_model_data *m, const char *key);

#endif
