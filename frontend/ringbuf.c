/* frontend/ringbuf.c — the SPSC sample ring: two free-running counters and one
   power-of-two array. The producer publishes samples with a release store of head
   after copying them; the consumer acquires head before reading them, and the
   mirror image holds for tail, so no sample is read before it is written or
   overwritten before it is read. */
#include "frontend/ringbuf.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

voz_status voz_ringbuf_init(struct voz_ringbuf *rb, size_t min_capacity)
{
    size_t cap = 2;
    while (cap < min_capacity) {
        if (cap > SIZE_MAX / 2 / sizeof(float))
            return voz_fail(VOZ_ERR_INVALID, "ring buffer: capacity %zu samples is too large",
                            min_capacity);
        cap *= 2;
    }
    rb->buf = voz_alloc_aligned(cap * sizeof(float));
    if (!rb->buf)
        return voz_fail(VOZ_ERR_NOMEM, "ring buffer: cannot allocate %zu samples", cap);
    rb->cap = cap;
    rb->mask = cap - 1;
    atomic_init(&rb->head, 0);
    atomic_init(&rb->tail, 0);
    atomic_init(&rb->dropped, 0);
    atomic_init(&rb->overflows, 0);
    return VOZ_OK;
}

void voz_ringbuf_release(struct voz_ringbuf *rb)
{
    if (!rb)
        return;
    voz_free_aligned(rb->buf);
    rb->buf = NULL;
    rb->cap = rb->mask = 0;
}

size_t voz_ringbuf_space(const struct voz_ringbuf *rb)
{
    size_t head = atomic_load_explicit(&rb->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&rb->tail, memory_order_acquire);
    return rb->cap - (head - tail);
}

size_t voz_ringbuf_available(const struct voz_ringbuf *rb)
{
    size_t head = atomic_load_explicit(&rb->head, memory_order_acquire);
    size_t tail = atomic_load_explicit(&rb->tail, memory_order_relaxed);
    return head - tail;
}

size_t voz_ringbuf_write(struct voz_ringbuf *rb, const float *x, size_t n)
{
    size_t head = atomic_load_explicit(&rb->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&rb->tail, memory_order_acquire);
    size_t space = rb->cap - (head - tail);
    size_t k = n < space ? n : space;
    if (n == 0)
        return 0;
    size_t at = head & rb->mask;
    size_t first = rb->cap - at < k ? rb->cap - at : k;
    memcpy(rb->buf + at, x, first * sizeof(float));
    memcpy(rb->buf, x + first, (k - first) * sizeof(float));
    atomic_store_explicit(&rb->head, head + k, memory_order_release);
    if (k < n) {
        atomic_fetch_add_explicit(&rb->dropped, (uint_fast64_t)(n - k), memory_order_relaxed);
        atomic_fetch_add_explicit(&rb->overflows, 1, memory_order_relaxed);
    }
    return k;
}

size_t voz_ringbuf_read(struct voz_ringbuf *rb, float *out, size_t max)
{
    size_t tail = atomic_load_explicit(&rb->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&rb->head, memory_order_acquire);
    size_t avail = head - tail;
    size_t k = max < avail ? max : avail;
    if (k == 0)
        return 0;
    size_t at = tail & rb->mask;
    size_t first = rb->cap - at < k ? rb->cap - at : k;
    memcpy(out, rb->buf + at, first * sizeof(float));
    memcpy(out + first, rb->buf, (k - first) * sizeof(float));
    atomic_store_explicit(&rb->tail, tail + k, memory_order_release);
    return k;
}

uint64_t voz_ringbuf_dropped(const struct voz_ringbuf *rb)
{
    return atomic_load_explicit(&rb->dropped, memory_order_relaxed);
}

uint64_t voz_ringbuf_overflows(const struct voz_ringbuf *rb)
{
    return atomic_load_explicit(&rb->overflows, memory_order_relaxed);
}
