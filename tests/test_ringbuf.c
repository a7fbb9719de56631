/* tests/test_ringbuf.c — the SPSC sample ring: empty and full edges, wrap-around,
   overflow accounting, and a producer/consumer thread pair passing a long counted
   sequence that must arrive complete and in order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "frontend/ringbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void test_capacity_rounds_up(void **state)
{
    (void)state;
    struct voz_ringbuf rb;
    assert_int_equal(voz_ringbuf_init(&rb, 1000), VOZ_OK);
    assert_int_equal(rb.cap, 1024);
    assert_int_equal(voz_ringbuf_space(&rb), 1024);
    assert_int_equal(voz_ringbuf_available(&rb), 0);
    voz_ringbuf_release(&rb);
    assert_int_equal(voz_ringbuf_init(&rb, 0), VOZ_OK);
    assert_int_equal(rb.cap, 2);
    voz_ringbuf_release(&rb);
}

static void test_empty(void **state)
{
    (void)state;
    struct voz_ringbuf rb;
    float out[8] = { -1 };
    assert_int_equal(voz_ringbuf_init(&rb, 8), VOZ_OK);
    assert_int_equal(voz_ringbuf_read(&rb, out, 8), 0);
    assert_true(out[0] == -1.0f);
    float x[3] = { 1, 2, 3 };
    assert_int_equal(voz_ringbuf_write(&rb, x, 3), 3);
    assert_int_equal(voz_ringbuf_read(&rb, out, 8), 3);
    assert_int_equal(voz_ringbuf_read(&rb, out, 8), 0);
    assert_int_equal(voz_ringbuf_available(&rb), 0);
    assert_int_equal(voz_ringbuf_dropped(&rb), 0);
    voz_ringbuf_release(&rb);
}

static void test_full_drops_and_counts(void **state)
{
    (void)state;
    struct voz_ringbuf rb;
    float x[12], out[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    assert_int_equal(voz_ringbuf_init(&rb, 8), VOZ_OK);
    assert_int_equal(voz_ringbuf_write(&rb, x, 12), 8); /* 4 lost */
    assert_int_equal(voz_ringbuf_space(&rb), 0);
    assert_int_equal(voz_ringbuf_write(&rb, x, 1), 0);  /* 1 more lost */
    assert_int_equal(voz_ringbuf_dropped(&rb), 5);
    assert_int_equal(voz_ringbuf_overflows(&rb), 2);
    /* What was kept is the oldest data, intact. */
    assert_int_equal(voz_ringbuf_read(&rb, out, 12), 8);
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == (float)i);
    assert_int_equal(voz_ringbuf_space(&rb), 8);
    voz_ringbuf_release(&rb);
}

static void test_wrap_around(void **state)
{
    (void)state;
    struct voz_ringbuf rb;
    assert_int_equal(voz_ringbuf_init(&rb, 8), VOZ_OK);
    /* Step the indices through several laps with writes and reads of sizes that
       straddle the end of the array in every possible position. */
    float next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        size_t nw = (size_t)(round % 7) + 1, nr = (size_t)((round * 5) % 8) + 1;
        float x[8], out[8];
        for (size_t i = 0; i < nw; i++)
            x[i] = next_in + (float)i;
        size_t w = voz_ringbuf_write(&rb, x, nw);
        next_in += (float)w;
        size_t r = voz_ringbuf_read(&rb, out, nr);
        for (size_t i = 0; i < r; i++) {
            if (out[i] != next_out)
                fail_msg("round %d: sample %zu is %g, expected %g", round, i, out[i], next_out);
            next_out += 1;
        }
        assert_true(voz_ringbuf_available(&rb) == (size_t)(next_in - next_out));
    }
    assert_true(next_out > 3 * 8); /* several laps really happened */
    voz_ringbuf_release(&rb);
}

/* ---- concurrent producer/consumer ---------------------------------------------- */

#define SEQ_LEN 3000000u /* float counts stay exact below 2^24 */

struct pair {
    struct voz_ringbuf rb;
    size_t lost;        /* samples the producer could not place (retried) */
};

static void pause_briefly(void)
{
    struct timespec ts = { 0, 20000 };
    nanosleep(&ts, NULL);
}

static void *producer(void *arg)
{
    struct pair *p = arg;
    float block[97];
    unsigned next = 0, step = 1;
    while (next < SEQ_LEN) {
        size_t n = (step++ % 97) + 1;
        if (n > SEQ_LEN - next)
            n = SEQ_LEN - next;
        for (size_t i = 0; i < n; i++)
            block[i] = (float)(next + i);
        size_t w = voz_ringbuf_write(&p->rb, block, n);
        next += (unsigned)w;
        if (w < n) {
            p->lost += n - w; /* counted as dropped; the rest is sent again */
            pause_briefly();
        }
    }
    return NULL;
}

static void test_threads_pass_counted_sequence(void **state)
{
    (void)state;
    struct pair p = { .lost = 0 };
    assert_int_equal(voz_ringbuf_init(&p.rb, 4096), VOZ_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer, &p), 0);
    float out[131];
    unsigned expect = 0, step = 3;
    size_t bad = 0;
    unsigned first_bad = 0;
    float first_bad_val = 0;
    while (expect < SEQ_LEN) {
        size_t r = voz_ringbuf_read(&p.rb, out, (step++ % 131) + 1);
        if (r == 0)
            pause_briefly();
        for (size_t i = 0; i < r; i++, expect++)
            if (out[i] != (float)expect && bad++ == 0) {
                first_bad = expect;
                first_bad_val = out[i];
            }
    }
    pthread_join(th, NULL);
    if (bad)
        fail_msg("%zu samples out of order; first at %u: got %g", bad, first_bad, first_bad_val);
    assert_int_equal(voz_ringbuf_available(&p.rb), 0);
    /* Every short write was accounted for. */
    assert_true(voz_ringbuf_dropped(&p.rb) == p.lost);
    voz_ringbuf_release(&p.rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounds_up),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_full_drops_and_counts),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_threads_pass_counted_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
