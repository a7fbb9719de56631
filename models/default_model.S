/* The default model file, embedded as read-only data. Its symbols are used by
   recognizer/default_model.c; an empty blob (models/empty.bin) means "no default model built in". */
    .section .rodata
    .balign 64
    .global voz_default_model_blob
voz_default_model_blob:
    .incbin VOZ_DEFAULT_MODEL_PATH
    .global voz_default_model_blob_end
voz_default_model_blob_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
