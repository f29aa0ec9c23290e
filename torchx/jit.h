// C interface of vitprobe's TorchScript shim: loading a module, listing its
// tensors and submodules, running a method that returns (logits, outputs).
// Modules are torch::jit::Module* passed as void*. Functions that can fail
// return a malloc'd one-line error message, or NULL on success.
#ifndef VITPROBE_JIT_H
#define VITPROBE_JIT_H
#ifdef __cplusplus
extern "C" {
#endif

typedef void *vp_module;
typedef void *vp_jtensor;

// vp_module_load loads a TorchScript file onto the CPU.
char *vp_module_load(const char *path, vp_module *out);

// vp_module_free deletes a module (NULL is allowed).
void vp_module_free(vp_module m);

// vp_module_to moves every parameter and buffer to device (-1: CPU, else
// the CUDA device index).
char *vp_module_to(vp_module m, int device);

// vp_module_tensors lists the module's parameters (buffers = 0) or buffers
// (buffers = 1), recursively, in the module's order: *names is a malloc'd
// string of one line per tensor, "name\tscalar type\tidentity\trequires
// grad (0/1)\n" (the identity is the same number for two names of one
// tensor), *tensors a malloc'd array of *n new tensor handles sharing the
// module's storage.
char *vp_module_tensors(vp_module m, int buffers, char **names, vp_jtensor **tensors, int *n);

// vp_require_grad turns requires_grad on for t (in place: every handle of
// the tensor, the module's included, sees it).
char *vp_require_grad(vp_jtensor t);

// vp_module_types lists every submodule (the root as "") as lines
// "name\ttype\n" in a malloc'd string; type is the class's qualified name.
char *vp_module_types(vp_module m, char **out);

// vp_module_has_method reports whether the module has a method of that name.
int vp_module_has_method(vp_module m, const char *method);

// vp_module_set_training sets the training flag of the module and of every
// submodule.
void vp_module_set_training(vp_module m, int on);

// vp_module_run calls method on x and expects (Tensor, tuple or list of
// Tensors): it writes the first tensor, then the others into out (room for
// cap handles) and their total count into *n. A result of another shape is
// an error saying what came back.
char *vp_module_run(vp_module m, const char *method, vp_jtensor x, vp_jtensor *out, int cap, int *n);

// vp_set_jit_optimize turns the graph executor's optimisations on or off
// (process-wide) and returns the previous setting.
int vp_set_jit_optimize(int on);

#ifdef __cplusplus
}
#endif
#endif
