/* frontend/ringbuf.h — a lock-free single-producer single-consumer ring of float
   samples (C11 atomics). The producer may be a real-time audio callback: writing
   never allocates, locks, blocks or logs; samples that do not fit are dropped and
   counted, so the consumer can report the overflow once and carry on. */
#ifndef VOZ_FRONTEND_RINGBUF_H
#define VOZ_FRONTEND_RINGBUF_H

#include "voz.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct voz_ringbuf {
    float *buf;                 /* [cap] samples, owned */
    size_t cap;                 /* a power of two */
    size_t mask;                /* cap - 1 */
    /* Free-running counters: head - tail is the fill level. Only the producer
       stores head, only the consumer stores tail; each sits on its own cache line
       so the two threads do not fight over one. */
    _Alignas(64) atomic_size_t head;      /* samples ever written */
    _Alignas(64) atomic_size_t tail;      /* samples ever read */
    _Alignas(64) atomic_uint_fast64_t dropped;   /* samples lost because the ring was full */
    atomic_uint_fast64_t overflows;              /* writes that lost samples */
};

/* Capacity is min_capacity rounded up to a power of two (at least 2). The
   allocation happens here, never on the write path. */
voz_status voz_ringbuf_init(struct voz_ringbuf *rb, size_t min_capacity);
void voz_ringbuf_release(struct voz_ringbuf *rb);

/* Producer side. Copies as many of the n samples as fit and returns that count;
   the rest are counted in `dropped` (one `overflows` event per short write). */
size_t voz_ringbuf_write(struct voz_ringbuf *rb, const float *x, size_t n);
/* Room left for the producer (a lower bound while the consumer runs). */
size_t voz_ringbuf_space(const struct voz_ringbuf *rb);

/* Consumer side. Copies up to max samples out in order and returns the count. */
size_t voz_ringbuf_read(struct voz_ringbuf *rb, float *out, size_t max);
/* Samples waiting for the consumer (a lower bound while the producer runs). */
size_t voz_ringbuf_available(const struct voz_ringbuf *rb);

/* Either side: totals since init. */
uint64_t voz_ringbuf_dropped(const struct voz_ringbuf *rb);
uint64_t voz_ringbuf_overflows(const struct voz_ringbuf *rb);

#endif
