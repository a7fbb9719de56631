/* acoustic/net.h — the recurrent core shared by inference and training: stacked,
   optionally bidirectional LSTM / GRU / simple RNN layers, then a dense layer and
   log-softmax. Gate order and equations are PyTorch's (LSTM i,f,g,o; GRU r,z,n),
   tensor names are PyTorch's state-dict names, so weights import directly.
   Shapes: B batch, T frames, I input size, H hidden size, G gate rows (4H LSTM,
   3H GRU, H RNN), D = H * dirs, C classes. Activations are time-major [T][B][*]. */
#ifndef VOZ_ACOUSTIC_NET_H
#define VOZ_ACOUSTIC_NET_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

#define VOZ_NET_MAX_LAYERS 8
#define VOZ_NET_MAX_HIDDEN 4096 /* H per direction */
#define VOZ_NET_MAX_DIM 65536   /* input_dim and classes */

typedef enum { VOZ_CELL_LSTM = 0, VOZ_CELL_GRU = 1, VOZ_CELL_RNN_TANH = 2, VOZ_CELL_RNN_RELU = 3 } voz_cell_type;

typedef struct {
    voz_cell_type cell;
    int input_dim;     /* I of layer 0 */
    int hidden;        /* H per direction */
    int layers;        /* 1..VOZ_NET_MAX_LAYERS */
    int bidirectional; /* 0 or 1 */
    int classes;       /* C, blank included */
} voz_net_config;

voz_status voz_net_config_check(const voz_net_config *c);
const char *voz_cell_name(voz_cell_type t);         /* "lstm", "gru", "rnn_tanh", "rnn_relu" */
int voz_cell_parse(const char *name, voz_cell_type *t); /* 0 ok; accepts "rnn" = rnn_tanh */
int voz_net_gate_rows(const voz_net_config *c);     /* G */

/* The parameter block: every tensor in one float array, each tensor starting at a
   multiple of 16 floats (padding is zero and stays zero). Gradients and optimizer
   moments use the same layout. Tensor order: for each layer l, for each direction
   (forward, then "_reverse"): weight_ih [G][I_l], weight_hh [G][H], bias_ih [G],
   bias_hh [G]; then fc.weight [C][D], fc.bias [C]. */
typedef struct {
    char name[48];   /* "rnn.weight_ih_l0", "rnn.bias_hh_l1_reverse", "fc.weight" */
    int ndim;        /* 1 or 2 */
    size_t shape[2];
    size_t offset;   /* in floats from the block start */
    size_t numel;
} voz_tensor_info;

/* The size functions return 0 for a config voz_net_config_check() refuses, and
   voz_net_tensor() an all-zero record for such a config or an idx out of range. */
size_t voz_net_num_floats(const voz_net_config *c);  /* block length incl. padding */
size_t voz_net_num_weights(const voz_net_config *c); /* trainable scalars (no padding) */
int voz_net_num_tensors(const voz_net_config *c);
void voz_net_tensor(const voz_net_config *c, int idx, voz_tensor_info *out);

struct voz_net_layer_view { float *w_ih, *w_hh, *b_ih, *b_hh; };
struct voz_net {
    voz_net_config cfg;
    float *params;                     /* block of voz_net_num_floats() (not owned) */
    struct voz_net_layer_view cell[VOZ_NET_MAX_LAYERS][2];
    float *fc_w, *fc_b;                /* [C][D], [C] */
};
/* Points the views into `block` (params, gradients or moments alike). */
void voz_net_bind(struct voz_net *net, const voz_net_config *c, float *block);

/* Initialisation: uniform(-1/sqrt(H), 1/sqrt(H)) input weights, orthogonal recurrent
   blocks per gate, zero biases except the LSTM forget gate (1), Xavier for fc. */
void voz_net_init(struct voz_net *net, uint64_t seed);

/* Workspace: activations kept for backward, per-step scratch, thread pool.
   Grows on demand; one workspace per concurrent forward. threads: 1, or 2 to run the
   two directions concurrently (OpenBLAS itself is kept single-threaded). */
struct voz_net_ws;
struct voz_net_ws *voz_net_ws_create(const voz_net_config *c, int threads);
void voz_net_ws_free(struct voz_net_ws *ws);

/* Dropout on every layer's output (the input of the next layer and of the dense head)
   for the forward passes with keep_cache that follow, with masks drawn from `seed`
   (set a new seed per batch); voz_net_backward applies the same masks. Forwards
   without keep_cache (inference, dev evaluation) never drop. p = 0 turns it off. */
voz_status voz_net_ws_dropout(struct voz_net_ws *ws, float p, uint64_t seed);

/* x [T][B][I], lens[b] <= T valid frames of sequence b (NULL: all T). Writes
   log-probabilities [T][B][C]; frames t >= lens[b] are written as 0. With
   keep_cache the activations needed by voz_net_backward are kept in ws. */
voz_status voz_net_forward(const struct voz_net *net, struct voz_net_ws *ws, const float *x,
                           const int *lens, int T, int B, float *logprobs, int keep_cache);

/* Two inference forwards of one sequence each (B = 1, no cache, T frames): net a on xa
   into ya and net b (same configuration) on xb into yb. With a 2-thread workspace
   they run side by side, one on its worker with a second workspace of its own:
   ensembles need several passes over one utterance, and whole passes in parallel
   use both cores better than the two directions of each (no hand-off per layer, no
   serial input projection and head). The results equal two voz_net_forward calls. */
voz_status voz_net_forward2(struct voz_net_ws *ws, const struct voz_net *a, const float *xa, float *ya,
                            const struct voz_net *b, const float *xb, float *yb, int T);

/* After voz_net_forward(keep_cache=1) with the same x: dlogits [T][B][C] is the
   gradient of the loss w.r.t. the pre-softmax logits (CTC gives it directly).
   Gradients are ADDED into `grads` (bound to a block of the same layout). dx, if
   non-NULL, receives the gradient w.r.t. x [T][B][I] (overwritten). */
voz_status voz_net_backward(const struct voz_net *net, struct voz_net_ws *ws,
                            const float *dlogits, struct voz_net *grads, float *dx);

#endif
