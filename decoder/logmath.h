/* decoder/logmath.h — log-domain addition shared by the CTC loss and the beam search. */
#ifndef VOZ_DECODER_LOGMATH_H
#define VOZ_DECODER_LOGMATH_H

#include <math.h>

/* log(exp(a) + exp(b)), exact for -inf arguments (no inf - inf). */
static inline double voz_log_add(double a, double b)
{
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b == -INFINITY)
        return a;
    return a + log1p(exp(b - a));
}

#endif
