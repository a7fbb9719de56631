/* common/util.h — what every module shares: the thread-local error message, the log
   hook, checked allocation sizes, checksums and crash-safe file writes. */
#ifndef VOZ_COMMON_UTIL_H
#define VOZ_COMMON_UTIL_H

#include "voz.h"
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define VOZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VOZ_PRINTF(a, b)
#endif

/* Records the reason for a failure (one line, no trailing newline) and returns `s`,
   so call sites read `return voz_fail(VOZ_ERR_FORMAT, "%s: bad magic", path);`. */
voz_status voz_fail(voz_status s, const char *fmt, ...) VOZ_PRINTF(2, 3);
void voz_clear_error(void);
void voz_log(voz_log_level level, const char *fmt, ...) VOZ_PRINTF(2, 3);
/* Nested on/off for this thread: a look-ahead read (say, a manifest read again later
   for real) keeps its warnings to itself. */
void voz_log_mute(int on);

/* a*b and a*b*c with overflow detection: 0 on success, -1 on overflow. */
int voz_mul_size(size_t a, size_t b, size_t *out);
int voz_mul3_size(size_t a, size_t b, size_t c, size_t *out);

/* 64-byte aligned allocation, zeroed; free with voz_free_aligned. NULL on failure. */
void *voz_alloc_aligned(size_t bytes);
void voz_free_aligned(void *p);

/* CRC-32 (IEEE 802.3, as zlib's crc32), chainable: crc = voz_crc32(crc, buf, n), start 0. */
uint32_t voz_crc32(uint32_t crc, const void *buf, size_t n);

/* Crash-safe writes: data goes to "PATH.tmp.PID", is fsync'ed, then renamed over PATH,
   so PATH is either the old file or the complete new one. */
struct voz_atomic_file {
    FILE *fp;
    char *path;
    char *tmp_path;
};
voz_status voz_atomic_open(struct voz_atomic_file *af, const char *path);
/* Flushes, fsyncs and renames; on any error the temporary is removed, PATH untouched. */
voz_status voz_atomic_commit(struct voz_atomic_file *af);
/* Discards the temporary (safe to call after commit, or twice). */
void voz_atomic_abort(struct voz_atomic_file *af);
/* Removes "PATH.tmp.PID" files left by writers that died (kill -9, power loss): only
   names of exactly that form whose PID is not a running process on this machine.
   Returns how many were removed. For programs that rewrite PATH over a long run. */
int voz_atomic_sweep(const char *path);
/* Installs SIGINT, SIGTERM and SIGHUP handlers that remove the temporaries of writes in
   progress and then end the process as the signal would have. For commands that do not
   handle those signals themselves (train and live do). */
void voz_atomic_cleanup_on_signals(void);
/* Why `path` is no recording to open ("is a directory", "is a FIFO (named pipe), not a
   regular file", "is not a regular file"), or NULL when it is a regular file or cannot
   be stat'ed (the open that follows says why). A FIFO would block the open until some
   writer came, and a signal would not end the wait. */
const char *voz_not_regular_file(const char *path);
/* 1 when both paths exist and name the same file (device and inode), else 0. */
int voz_same_file(const char *a, const char *b);

/* Monotonic seconds. */
double voz_now(void);

#endif
