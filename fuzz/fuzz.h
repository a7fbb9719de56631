/* fuzz/fuzz.h — what the libFuzzer targets share: the failure check (an invariant
   the library broke is a crash to the fuzzer) and file images in memory (memfd) for
   the readers that take a path. The targets also compile into tests/test_hostile.c
   with VOZ_FUZZ_NO_ENTRY defined, which replays the kept inputs under `make test`. */
#ifndef VOZ_FUZZ_H
#define VOZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A broken invariant: say which and stop, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: invariant '%s' broken: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* The bytes as an anonymous in-memory file; *path receives "/proc/self/fd/N" (a
   regular file to open/fstat/pread). Returns the descriptor (close it), or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("voz-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
