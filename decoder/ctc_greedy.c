/* decoder/ctc_greedy.c — best-path CTC decoding: the argmax class of every frame,
   runs of one class merged, blanks dropped. Shapes: T frames, C classes, rows of
   `logprobs` `stride` floats apart. */
#include "decoder/ctc.h"

int voz_ctc_greedy(const float *logprobs, int T, int C, size_t stride, int blank,
                   int *labels, int *first_frame, int *last_frame)
{
    int n = 0;
    int prev = -1; /* argmax of the previous frame; -1 before the first frame */
    if (!logprobs || T <= 0 || C <= 0)
        return 0;
    for (int t = 0; t < T; t++) {
        const float *row = logprobs + (size_t)t * stride;
        int best = 0;
        /* Strict '>' keeps the lowest index on ties; NaN never wins. */
        for (int c = 1; c < C; c++)
            if (row[c] > row[best])
                best = c;
        if (best != prev && best != blank) {
            labels[n] = best;
            if (first_frame)
                first_frame[n] = t;
            n++;
        }
        /* A non-blank frame continues (or starts) the run of the last label. */
        if (best != blank && last_frame)
            last_frame[n - 1] = t;
        prev = best;
    }
    return n;
}
