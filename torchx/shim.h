// C interface of vitprobe's autograd shim. Tensors are torch::Tensor*
// (gotch's Ctensor) passed as void*. Functions that can fail return a
// malloc'd error message, or NULL on success.
#ifndef VITPROBE_SHIM_H
#define VITPROBE_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif

typedef void *vp_tensor;

// vp_grad computes d loss / d params[i] for i < n into out[i] (new tensors).
// create_graph keeps the graph of the result for a second derivative.
char *vp_grad(vp_tensor loss, vp_tensor *params, int n, int create_graph,
              int retain_graph, vp_tensor *out);

// vp_hvp computes the Hessian-vector product sum_j d(grads . v)/d params
// into out[i], given first-order grads computed with create_graph = 1. The
// graph is retained so that further products can reuse it.
char *vp_hvp(vp_tensor *grads, vp_tensor *params, vp_tensor *v, int n,
             vp_tensor *out);

// vp_attention computes multi-head self-attention softmax(s·QKᵀ + bias)·V
// for every sequence and head of qkv (G, N, 3·heads·d: q, k, v heads
// packed per token) into a new (G, N, heads·d) tensor, with fused backward
// and double-backward passes (attention.cpp). bias is NULL or (N, N).
char *vp_attention(vp_tensor qkv, vp_tensor bias, long long heads, double scale,
                   vp_tensor *out);

// vp_conv2d is conv2d (square stride and padding, dilation 1) with
// libtorch's forward and backward passes and a double backward made of
// convolutions and convolution backward passes only (conv.cpp). b may be
// NULL.
char *vp_conv2d(vp_tensor x, vp_tensor w, vp_tensor b, long long stride, long long pad,
                long long groups, vp_tensor *out);

// vp_conv_infer is relu?(conv2d(x, w) + b + res) for inference (no
// gradients) in one oneDNN primitive: square stride and padding, dilation
// 1, one group; b and res may be NULL. The result is channels-last; with
// inplace it is written into res's memory when res is channels-last.
char *vp_conv_infer(vp_tensor x, vp_tensor w, vp_tensor b, vp_tensor res, long long stride,
                    long long pad, int relu, int inplace, vp_tensor *out);

// vp_stats_group is an exchange through which the workers of a split
// training pass share batch norm's statistics (batchnorm.cpp).
typedef void *vp_stats_group;
// vp_stats_group_new makes one, open for capacity participants.
char *vp_stats_group_new(int capacity, vp_stats_group *out);
// vp_stats_group_reset opens the exchange for participants ≤ capacity
// workers, after a pass that succeeded or was abandoned.
char *vp_stats_group_reset(vp_stats_group g, int participants);
// vp_stats_group_abort abandons the exchange: waiting participants fail.
void vp_stats_group_abort(vp_stats_group g);
void vp_stats_group_free(vp_stats_group g);

// vp_batch_norm_simd selects batch norm's row kernels: on != 0 the AVX2
// forms where the CPU has AVX2 and FMA (the default), 0 the generic forms
// everywhere (for the tests). It returns whether the AVX2 forms were in use.
int vp_batch_norm_simd(int on);

// vp_batch_norm_train is batch norm with batch statistics (training), the
// running statistics updated with momentum; channels-last float32 maps on
// the CPU take a kernel that sums in double (batchnorm.cpp), others
// libtorch's batch_norm. running_mean and running_var may be NULL. With a
// group (else NULL), the statistics, and the sums of the backward pass, are
// those of the rows of all its participants, rank being this one's place.
// relu != 0 returns max(0, ·) of the result, in the same pass, with the
// map residual (else NULL; with relu only) added before it.
char *vp_batch_norm_train(vp_tensor x, vp_tensor w, vp_tensor b, vp_tensor running_mean,
                          vp_tensor running_var, double momentum, double eps, vp_stats_group group,
                          int rank, int relu, vp_tensor residual, vp_tensor *out);

// vp_grad_dot computes the gradient of sum_i <outs[i], v[i]> (a vector-
// Jacobian product) with respect to wrt[j] for j < m into out[j] (zeros for
// an input the sum does not depend on). create_graph keeps the graph of the
// result; retain_graph keeps the graph of outs for further calls.
char *vp_grad_dot(vp_tensor *outs, vp_tensor *v, int n, vp_tensor *wrt, int m,
                  int create_graph, int retain_graph, vp_tensor *out);

// vp_fw_enter opens a new forward-mode AD level and stores its index.
char *vp_fw_enter(unsigned long long *level);
// vp_fw_exit closes a forward-mode AD level, dropping every tangent of it.
char *vp_fw_exit(unsigned long long level);
// vp_fw_set attaches tangent to t at the given level (t becomes a dual
// tensor: operations on it carry the Jacobian-vector product along).
char *vp_fw_set(vp_tensor t, vp_tensor tangent, unsigned long long level);
// vp_fw_get stores in *out a copy of t's tangent at the given level, or
// zeros shaped like t when t has none.
char *vp_fw_get(vp_tensor t, unsigned long long level, vp_tensor *out);

// Element types of Go buffers passed to the copy functions.
enum { VP_F32 = 0, VP_F64 = 1, VP_I64 = 2, VP_U8 = 3 };

// vp_from_buffer creates a new CPU tensor of element type to_dtype (VP_*)
// and the given shape from a buffer of element type src_dtype.
char *vp_from_buffer(const void *data, int src_dtype, const long long *shape,
                     int ndim, int to_dtype, vp_tensor *out);

// vp_copy_out copies the n elements of t (any layout, any device) into dst,
// converted to element type dst_dtype.
char *vp_copy_out(vp_tensor t, void *dst, int dst_dtype, long long n);

// vp_copy_in overwrites the n elements of t in place (without recording
// autograd history) from src, converted from element type src_dtype.
char *vp_copy_in(vp_tensor t, const void *src, int src_dtype, long long n);

// vp_adamw_step applies one AdamW update (torch.optim.AdamW 1.13,
// single-tensor path, amsgrad off) to params in place, given their grads and
// moment buffers m and v; step counts from 1.
char *vp_adamw_step(vp_tensor *params, vp_tensor *grads, vp_tensor *m, vp_tensor *v,
                    int n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, long long step);

// vp_clip_grad_norm scales grads in place as torch.nn.utils.clip_grad_norm_
// (2-norm) does and stores the total norm before clipping in *total.
char *vp_clip_grad_norm(vp_tensor *grads, int n, double max_norm, double *total);

// vp_flatten copies the n contiguous tensors params (one element type and
// device) into one new 1-D tensor *flat_out, in order, and rebinds each of
// them to its slice of that tensor's storage (same values, shape and
// strides): holders of the tensors see the flat storage from then on.
char *vp_flatten(vp_tensor *params, int n, vp_tensor *flat_out);

// vp_grad_into computes d loss / d params[i] and writes them, in order, into
// the 1-D tensor flat_grad (zeros for a parameter the loss does not use).
// The graph of loss is freed.
char *vp_grad_into(vp_tensor loss, vp_tensor *params, int n, vp_tensor flat_grad);

// vp_clip_flat scales flat in place as torch.nn.utils.clip_grad_norm_
// (2-norm) scales the gradients views[0..n-1] (views of flat covering it),
// with the same per-tensor norms, and stores the total norm in *total.
char *vp_clip_flat(vp_tensor *views, int n, vp_tensor flat, double max_norm, double *total);

// vp_channels_last returns t (4-D) laid out channels-last (NHWC strides, the
// same logical shape and values), differentiably; t itself if it already is,
// and a view of t's memory with NHWC strides if t has one channel.
char *vp_channels_last(vp_tensor t, vp_tensor *out);

// vp_strides writes t's strides (in elements) to out[0..n-1], n its number
// of dimensions, at most max.
char *vp_strides(vp_tensor t, long long *out, int max, int *n);

// vp_gelu returns GELU(t) (the erf form), differentiably; on a channels-last
// 4-D t it runs on the contiguous (N, H, W, C) view, and the result is
// channels-last too.
char *vp_gelu(vp_tensor t, vp_tensor *out);
// vp_layer_norm returns layer_norm(x) over the last dimension with weight w
// and bias b, differentiably; recorded for autograd, its double backward is
// one fused pass (layernorm.cpp).
char *vp_layer_norm(vp_tensor x, vp_tensor w, vp_tensor b, double eps, vp_tensor *out);

// vp_profile_start starts timing every operator and autograd node called
// on this thread.
char *vp_profile_start(void);
// vp_profile_stop ends it and writes one line per call,
// "thread\tstart_us\tend_us\tname\n", into *out (malloc'd).
char *vp_profile_stop(char **out);

// vp_set_num_threads sets libtorch's intra-op thread count and OpenBLAS's.
void vp_set_num_threads(int n);
// vp_blas_threads returns OpenBLAS's thread count, -1 without OpenBLAS.
int vp_blas_threads(void);
// vp_blas_core copies the name of OpenBLAS's kernels into buf (n bytes);
// empty without OpenBLAS.
void vp_blas_core(char *buf, int n);
// vp_blas_rechoose makes OpenBLAS choose its kernels again, reading
// OPENBLAS_CORETYPE; -1 when the BLAS cannot switch.
int vp_blas_rechoose(void);
// vp_torch_version returns the libtorch version of the headers built against.
const char *vp_torch_version(void);
// vp_use_count returns the number of handles sharing t's tensor.
long long vp_use_count(vp_tensor t);
// vp_version returns t's version counter (shared with its views and
// bumped by every in-place write through libtorch).
long long vp_version(vp_tensor t);
// vp_has_tangent reports whether t carries a forward-mode tangent.
int vp_has_tangent(vp_tensor t);

// vp_get_num_threads makes the calling OS thread's OpenMP count the one
// vp_set_num_threads last set (a thread keeps an older count otherwise)
// and returns libtorch's intra-op thread count.
int vp_get_num_threads(void);
// vp_omp_max_threads returns OpenMP's thread count on this OS thread as
// oneDNN reads it (omp_get_max_threads, without libtorch's set-up), or -1
// without OpenMP.
int vp_omp_max_threads(void);
// vp_parallel_width runs an at::parallel_for of 64 one-item tasks in the
// shim, as its own kernels do, and returns how many threads took part.
int vp_parallel_width(void);
// vp_manual_seed seeds libtorch's default CPU generator.
void vp_manual_seed(unsigned long long seed);
// vp_grad_enabled reports whether grad mode is on for this thread.
int vp_grad_enabled(void);
// vp_set_grad_enabled sets grad mode for this thread.
void vp_set_grad_enabled(int on);
// vp_cuda_available reports whether libtorch was built with a usable CUDA.
int vp_cuda_available(void);

#ifdef __cplusplus
}
#endif
#endif
