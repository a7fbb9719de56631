/* recognizer/default_model.c — the model linked into the library as a blob
   (models/default_model.S includes the file the Makefile names; an empty blob
   means this build has no default model). */
#include "recognizer/internal.h"
#include "common/util.h"

extern const unsigned char voz_default_model_blob[];
extern const unsigned char voz_default_model_blob_end[];

voz_status voz_model_load_default(struct voz_model **out)
{
    *out = NULL;
    size_t size = (size_t)(voz_default_model_blob_end - voz_default_model_blob);
    if (size == 0)
        return voz_fail(VOZ_ERR_UNSUPPORTED, "no default model is built into this voz");
    return voz_model_load_memory(voz_default_model_blob, size, "default model", out);
}
