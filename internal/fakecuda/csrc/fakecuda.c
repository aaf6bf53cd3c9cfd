/* fakecuda.c: a fake NVIDIA driver (libcuda.so.1), cuBLAS and cuDNN in one
 * shared library, for testing packages cuda, cudnn and engine/cuda's
 * bindings on machines without a GPU. It runs no kernels: it keeps track of
 * every object the bindings create (contexts retained, streams, modules,
 * events, graphs, device memory, cuBLAS and cuDNN handles, descriptors),
 * fails on demand, and records what a real library would punish:
 *
 *   - FAKECUDA_FAIL=N fails the Nth call that can fail (any function but the
 *     error-string and destroy/release ones); FAKECUDA_FAIL=name:N the Nth
 *     call of name. The failure's status is the one the real call gives for
 *     running out of memory where it can, else CUDA_ERROR_UNKNOWN.
 *   - FAKECUDA_ALT_MS: cudnnFind's time for the slower of its two
 *     algorithms (default 0.6 ms against 0.5: close enough to be timed in
 *     place by the engine's tuning).
 *   - FAKECUDA_CC=75 makes every device compute capability 7.5 (default 9.0);
 *     cuModuleLoadDataEx fails as the JIT does, with its log, for PTX whose
 *     .target is newer. A fatbin image (magic 0xBA55ED50) is checked and
 *     loaded as the driver chooses (see load_fatbin): SASS for the GPU's
 *     architecture, else its PTX through the JIT; the stats say which
 *     ("module sass 90", "module ptx 60").
 *   - FAKECUDA_LT=none: cuBLASLt's heuristic finds no algorithm
 *     (CUBLAS_STATUS_NOT_SUPPORTED); FAKECUDA_LT=old: cuBLASLt refuses
 *     the bias-gradient epilogue (BGRADB) as a release without it does
 *     (CUBLAS_STATUS_INVALID_VALUE); otherwise the heuristic offers two
 *     algorithms (FAKECUDA_LT_ALGOS=1: the first alone), the first asking
 *     for 4 KiB of workspace, the second for none.
 *   - FAKECUDA_PTX_ISA=77: the newest PTX ISA (7.7) the fake's JIT
 *     compiles, as an older driver's (default: any); newer PTX fails with
 *     CUDA_ERROR_UNSUPPORTED_PTX_VERSION and the log ptxas writes.
 *   - FAKECUDA_NDEV=N: the number of GPUs cuDeviceGetCount reports
 *     (default 2, any int); FAKECUDA_NAME: every GPU's name, as given
 *     (control characters and all; default "Fake GPU N").
 *   - FAKECUDA_INIT=N: cuInit returns status N (a driver that does not
 *     start: 34, the toolkit's stub library; 35, too old for the runtime).
 *   - FAKECUDA_DRIVER=N: the CUDA version cuDriverGetVersion reports
 *     (default 12080: 12.8).
 *   - FAKECUDA_MEM_MAX=N: cuMemAlloc_v2 refuses an allocation of more than N
 *     bytes with CUDA_ERROR_OUT_OF_MEMORY (a GPU whose memory others hold),
 *     uncounted as a failure asked for; read at each call, so that a test
 *     can set it (os.Setenv) once the engine has started.
 *   - FAKECUDA_HOSTMEM=1: device memory is backed by host memory, and the
 *     copies and memsets move its bytes, so that what is uploaded reads
 *     back (weights, a checkpoint's tensors). Kernels still do nothing.
 *   - FAKECUDA_LOSS=L: a read of 3 floats whose count (the third) is 0 is
 *     a loss statistic no kernel added to: it reads as loss L and accuracy
 *     1/2 over 2 images ({2L, 1, 2}), so that a training runs to its end
 *     (L finite) or diverges where asked (L nan). With FAKECUDA_HOSTMEM.
 *   - FAKECUDA_HANG=name: the call of that function never returns (a driver
 *     that no longer answers).
 *   - FAKECUDA_FAULT=name:N: the device faults at the Nth call of name, and
 *     from then on every call that can fail fails, as after a kernel's
 *     illegal address: the driver's with CUDA_ERROR_ILLEGAL_ADDRESS (the
 *     sticky error), cuBLAS's and cuDNN's with their own failure, which
 *     only asking the driver tells from another; binding a context to a
 *     thread (cuCtxSetCurrent) still works, as the driver's does. The
 *     stats say where ("fault name N", N counting every call that can
 *     fail).
 *   - Violations: destroying what is not alive, cudnnDestroy or a cuDNN or
 *     cuBLAS call while another context is current, an SGEMM on a handle
 *     with no workspace of ours (cublasSetStream resets it, as documented),
 *     a convolution run with an algorithm in a math type other than the one
 *     cudnnFind timed it with, a cuBLASLt product with a workspace or
 *     matrix outside a live allocation, with a fused epilogue and no
 *     vector, or on descriptors already destroyed.
 *
 * After every call the state goes to the file FAKECUDA_STATS: the calls
 * that could fail so far and of each function, the one made to fail, the
 * live objects by kind, cudnnFind calls by
 * direction, and the violations. internal/fakecuda reads it.
 *
 * Calls come from more than one thread (the engine opens cuBLAS and cuDNN
 * on another goroutine while it makes the context): the counting, the
 * object list and the live counts, the contexts' references, the
 * violations and each write of the state hold one lock,
 * so the file's last write is a snapshot taken after every change made
 * before it, never an older one finishing late.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum { K_STREAM, K_MODULE, K_EVENT, K_GRAPH, K_EXEC, K_BLAS, K_DNN, K_TENSOR, K_FILTER, K_CONV, K_MEM,
       K_LT, K_LTDESC, K_LTLAYOUT, K_LTPREF, K_KINDS };
static const char *kind_names[K_KINDS] = {"stream", "module", "event", "graph", "graphexec", "cublas", "cudnn",
                                          "tensordesc", "filterdesc", "convdesc", "memory",
                                          "cublaslt", "ltmatmuldesc", "ltlayout", "ltpreference"};

#define MAXDEV 4
typedef struct obj {
	int kind;
	int alive;
	void *ctx; /* the context current when it was made */
	int ws;    /* cuBLAS: a workspace of ours is set */
	int math;  /* convolution descriptor: its math type; cuBLASLt product descriptor: its epilogue */
	int timed[3][8]; /* convolution descriptor: per direction, algorithm → math type Find timed it with + 1 */
	size_t bytes; /* memory: its size; cuBLASLt preference: its workspace limit */
	CUdeviceptr bias; /* cuBLASLt product descriptor: its bias pointer */
	CUdeviceptr addr;
	unsigned char *host; /* memory under FAKECUDA_HOSTMEM: its bytes */
	struct obj *next;
} obj;

static obj *objs;
static int live[K_KINDS];
static int ctxref[MAXDEV];
static char ctxs[MAXDEV]; /* a context is the address of its byte */
static __thread void *current;
static long calls, fail_at = -1;
static char fail_name[128], failed[128], hang_name[128];
static char fault_name[128];
static long fault_at = -1, faulted_at; /* faulted_at: 0 until the fault */
static __thread int tl_fault;          /* this thread's call fails for the fault */
static const char *dev_name;
static int init_status, driver_version = 12080;
static long failed_at;
static int cc = 90, ndev = 2, finds[3];
static int ptx_isa = 1000;
static char loaded[32]; /* the last module loaded: "sass 90" or "ptx 60" */
/* Stream priorities (cuStreamCreateWithPriority below): the range, the
 * streams made above the least, and those made at each priority. */
enum { PRIO_LEAST = 0, PRIO_GREATEST = -5 };
static int prio_streams;
static int prio_made[1 - PRIO_GREATEST]; /* streams made at each priority, by -priority */
static int prio_first = 1; /* the first stream's priority (a context's main stream); 1: none yet */

static char choice[32]; /* what the module being loaded takes */
static char violations[8192];
static CUdeviceptr next_addr = 0x10000000;
static int inited;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* env_int sets *v to the environment variable name's number, where it is
 * set and not empty. */
static void env_int(const char *name, int *v) {
	const char *s = getenv(name);
	if (s && *s)
		*v = atoi(s);
}

static void init(void) {
	if (inited)
		return;
	inited = 1;
	const char *f = getenv("FAKECUDA_FAIL");
	if (f && *f) {
		const char *colon = strrchr(f, ':');
		if (colon) {
			snprintf(fail_name, sizeof fail_name, "%.*s", (int)(colon - f), f);
			fail_at = atol(colon + 1);
		} else {
			fail_at = atol(f);
		}
	}
	env_int("FAKECUDA_CC", &cc);
	env_int("FAKECUDA_PTX_ISA", &ptx_isa);
	env_int("FAKECUDA_NDEV", &ndev);
	env_int("FAKECUDA_INIT", &init_status);
	env_int("FAKECUDA_DRIVER", &driver_version);
	dev_name = getenv("FAKECUDA_NAME");
	const char *fl = getenv("FAKECUDA_FAULT");
	const char *fc = fl ? strrchr(fl, ':') : NULL;
	if (fc && fc > fl && atol(fc + 1) > 0) {
		snprintf(fault_name, sizeof fault_name, "%.*s", (int)(fc - fl), fl);
		fault_at = atol(fc + 1);
	} else if (fl && *fl) {
		/* A test's typo would fault nothing, and pass. */
		snprintf(violations, sizeof violations, "FAKECUDA_FAULT=%s is not name:N (N from 1)\n", fl);
	}
	const char *h = getenv("FAKECUDA_HANG");
	if (h && *h)
		snprintf(hang_name, sizeof hang_name, "%s", h);
}

static struct {
	char name[64];
	long n;
} counts[128];

static long name_calls(const char *name) {
	for (int i = 0; i < 128; i++) {
		if (counts[i].name[0] == 0) {
			snprintf(counts[i].name, sizeof counts[i].name, "%s", name);
		}
		if (strcmp(counts[i].name, name) == 0)
			return ++counts[i].n;
	}
	return 0;
}

/* fail counts a call that can fail and reports whether it is the one to. */
static int fail(const char *name) {
	pthread_mutex_lock(&mu);
	init();
	calls++;
	long n = name_calls(name);
	int now = fail_name[0] ? strcmp(fail_name, name) == 0 && n == fail_at : calls == fail_at;
	if (now) {
		snprintf(failed, sizeof failed, "%s", name);
		failed_at = calls;
	}
	if (!faulted_at && fault_name[0] && strcmp(fault_name, name) == 0 && n == fault_at)
		faulted_at = calls;
	if (faulted_at && strcmp(name, "cuCtxSetCurrent") != 0)
		now = tl_fault = 1;
	int hang = hang_name[0] && strcmp(hang_name, name) == 0;
	pthread_mutex_unlock(&mu);
	while (hang)
		sleep(1000);
	return now;
}

static void violate(const char *fmt, ...) {
	pthread_mutex_lock(&mu);
	size_t len = strlen(violations);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(violations + len, sizeof violations - len, fmt, ap);
	va_end(ap);
	len = strlen(violations);
	if (len + 1 < sizeof violations) {
		violations[len] = '\n';
		violations[len + 1] = 0;
	}
	pthread_mutex_unlock(&mu);
}

/* The driver's statuses. */
#define OOM 2
#define UNKNOWN 999
#define ILLEGAL_ADDRESS 700
#define INVALID_CONTEXT 201
#define INVALID_PTX 218
#define INVALID_IMAGE 200
#define NO_BINARY_FOR_GPU 209
#define UNSUPPORTED_PTX_VERSION 222

/* done writes the state to FAKECUDA_STATS, over what it wrote last (the
 * file stays open: opening it on every call took most of a run's time),
 * and returns r (after the fault, the sticky error for a driver's failure). */
static int done(int r) {
	static FILE *f;
	if (tl_fault) {
		/* The driver's failure of a call after the fault is the sticky
		 * error (a library's keeps its own status). */
		tl_fault = 0;
		if (r == OOM || r == UNKNOWN)
			r = ILLEGAL_ADDRESS;
	}
	static int opened;
	pthread_mutex_lock(&mu);
	if (!opened) {
		opened = 1;
		const char *path = getenv("FAKECUDA_STATS");
		if (path && *path)
			f = fopen(path, "w");
	}
	if (!f) {
		pthread_mutex_unlock(&mu);
		return r;
	}
	rewind(f);
	fprintf(f, "calls %ld\n", calls);
	if (failed[0])
		fprintf(f, "failed %s %ld\n", failed, failed_at);
	if (faulted_at)
		fprintf(f, "fault %s %ld\n", fault_name, faulted_at);
	int ctx = 0;
	for (int i = 0; i < MAXDEV; i++)
		ctx += ctxref[i];
	fprintf(f, "live context %d\n", ctx);
	for (int k = 0; k < K_KINDS; k++)
		fprintf(f, "live %s %d\n", kind_names[k], live[k]);
	fprintf(f, "finds %d %d %d\n", finds[0], finds[1], finds[2]);
	if (loaded[0])
		fprintf(f, "module %s\n", loaded);
	for (int i = 0; i <= -PRIO_GREATEST; i++)
		if (prio_made[i])
			fprintf(f, "priority %d %d\n", -i, prio_made[i]);
	if (prio_first != 1)
		fprintf(f, "first-priority %d\n", prio_first);
	for (int i = 0; i < 128 && counts[i].name[0]; i++)
		fprintf(f, "count %s %ld\n", counts[i].name, counts[i].n);
	for (char *v = violations; *v;) {
		char *nl = strchr(v, '\n');
		fprintf(f, "violation %.*s\n", (int)(nl - v), v);
		v = nl + 1;
	}
	fflush(f);
	int truncated = ftruncate(fileno(f), ftell(f)) == 0;
	pthread_mutex_unlock(&mu);
	if (!truncated)
		violate("fakecuda: truncating FAKECUDA_STATS failed");
	return r;
}

static obj *make(int kind) {
	obj *o = calloc(1, sizeof *o);
	o->kind = kind;
	o->alive = 1;
	o->ctx = current;
	pthread_mutex_lock(&mu);
	o->next = objs;
	objs = o;
	live[kind]++;
	pthread_mutex_unlock(&mu);
	return o;
}

/* alive reports whether p is a live object of kind, recording a violation
 * naming fn when it is not. */
static int alive(const char *fn, void *p, int kind) {
	for (obj *o = objs; o; o = o->next) {
		if (o == p && o->kind == kind) {
			if (!o->alive)
				violate("%s of a %s already destroyed", fn, kind_names[kind]);
			return o->alive;
		}
	}
	violate("%s of %p, which is no %s", fn, p, kind_names[kind]);
	return 0;
}

static void destroy(const char *fn, void *p, int kind) {
	if (alive(fn, p, kind)) {
		pthread_mutex_lock(&mu);
		((obj *)p)->alive = 0;
		live[kind]--;
		if (kind == K_MEM) {
			free(((obj *)p)->host);
			((obj *)p)->host = NULL;
		}
		pthread_mutex_unlock(&mu);
	}
}

/* ---- Driver API ---- */

CUresult cuInit(unsigned int flags) {
	int f = fail("cuInit");
	return done(init_status ? init_status : f ? UNKNOWN : 0);
}
/* The calls that choose a library (cuDriverGetVersion, cublasGetProperty,
 * cudnnGetVersion) do not fail: a failure there makes the search go on to
 * the next candidate, a real library outside the fake. */
CUresult cuDriverGetVersion(int *v) {
	pthread_mutex_lock(&mu);
	init();
	pthread_mutex_unlock(&mu);
	*v = driver_version;
	return done(0);
}
CUresult cuDeviceGetCount(int *n) {
	int f = fail("cuDeviceGetCount"); /* reads FAKECUDA_NDEV first */
	*n = ndev;
	return done(f ? UNKNOWN : 0);
}
CUresult cuDeviceGet(int *d, int i) {
	*d = i;
	return done(fail("cuDeviceGet") ? UNKNOWN : 0);
}
CUresult cuDeviceGetName(char *name, int len, int d) {
	int f = fail("cuDeviceGetName");
	if (dev_name)
		snprintf(name, len, "%s", dev_name);
	else
		snprintf(name, len, "Fake GPU %d", d);
	return done(f ? UNKNOWN : 0);
}
CUresult cuDeviceTotalMem_v2(size_t *b, int d) {
	*b = (size_t)16 << 30;
	return done(fail("cuDeviceTotalMem_v2") ? UNKNOWN : 0);
}
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
	switch (attr) {
	case 75:
		*v = cc / 10;
		break;
	case 76:
		*v = cc % 10;
		break;
	case 16:
		*v = 4;
		break;
	default:
		*v = 0;
	}
	return done(fail("cuDeviceGetAttribute") ? UNKNOWN : 0);
}

static const char *err_name(CUresult r) {
	switch (r) {
	case OOM:
		return "CUDA_ERROR_OUT_OF_MEMORY";
	case INVALID_CONTEXT:
		return "CUDA_ERROR_INVALID_CONTEXT";
	case INVALID_PTX:
		return "CUDA_ERROR_INVALID_PTX";
	case INVALID_IMAGE:
		return "CUDA_ERROR_INVALID_IMAGE";
	case NO_BINARY_FOR_GPU:
		return "CUDA_ERROR_NO_BINARY_FOR_GPU";
	case UNSUPPORTED_PTX_VERSION:
		return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
	case 34:
		return "CUDA_ERROR_STUB_LIBRARY";
	case 35:
		return "CUDA_ERROR_INSUFFICIENT_DRIVER";
	case UNKNOWN:
		return "CUDA_ERROR_UNKNOWN";
	case ILLEGAL_ADDRESS:
		return "CUDA_ERROR_ILLEGAL_ADDRESS";
	}
	return NULL;
}
/* As the driver's: a status it does not know is CUDA_ERROR_INVALID_VALUE,
 * with no name. */
CUresult cuGetErrorName(CUresult r, const char **s) {
	*s = err_name(r);
	return *s ? 0 : 1;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	switch (r) {
	case OOM:
		*s = "out of memory";
		break;
	case INVALID_CONTEXT:
		*s = "invalid device context";
		break;
	case INVALID_PTX:
		*s = "a PTX JIT compilation failed";
		break;
	case INVALID_IMAGE:
		*s = "device kernel image is invalid";
		break;
	case NO_BINARY_FOR_GPU:
		*s = "no kernel image is available for execution on the device";
		break;
	case UNSUPPORTED_PTX_VERSION:
		*s = "the provided PTX was compiled with an unsupported toolchain.";
		break;
	case 34:
		*s = "CUDA driver is a stub library";
		break;
	case 35:
		*s = "CUDA driver version is insufficient for CUDA runtime version";
		break;
	case ILLEGAL_ADDRESS:
		*s = "an illegal memory access was encountered";
		break;
	default:
		*s = "unknown error";
	}
	return 0;
}

CUresult cuDevicePrimaryCtxRetain(void **c, int d) {
	if (fail("cuDevicePrimaryCtxRetain"))
		return done(OOM);
	pthread_mutex_lock(&mu);
	ctxref[d]++;
	pthread_mutex_unlock(&mu);
	*c = &ctxs[d];
	return done(0);
}
CUresult cuDevicePrimaryCtxRelease_v2(int d) {
	pthread_mutex_lock(&mu);
	int was = ctxref[d];
	if (was > 0)
		ctxref[d]--;
	pthread_mutex_unlock(&mu);
	if (was == 0)
		violate("cuDevicePrimaryCtxRelease_v2 of device %d, not retained", d);
	return done(0);
}
CUresult cuCtxSetCurrent(void *c) {
	if (fail("cuCtxSetCurrent"))
		return done(UNKNOWN);
	current = c;
	return done(0);
}
CUresult cuCtxSynchronize(void) { return done(fail("cuCtxSynchronize") ? UNKNOWN : 0); }

/* made makes an object of kind in *out unless the call is to fail. */
static CUresult made(const char *fn, int kind, void **out, CUresult err) {
	if (fail(fn))
		return done(err);
	if (!current)
		return done(INVALID_CONTEXT);
	*out = make(kind);
	return done(0);
}

CUresult cuStreamCreate(void **s, unsigned int fl) { return made("cuStreamCreate", K_STREAM, s, OOM); }

/* Stream priorities: the fake's range is 0 (least) to -5 (greatest), as an
 * H200's. prio_streams counts streams made with a priority above the least:
 * a graph recorded while one exists must be instantiated with
 * CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY, or its kernels run at the
 * launch stream's priority and the lanes' ordering is lost. */
CUresult cuCtxGetStreamPriorityRange(int *least, int *greatest) {
	if (fail("cuCtxGetStreamPriorityRange"))
		return done(UNKNOWN);
	if (!current)
		return done(INVALID_CONTEXT);
	if (least)
		*least = PRIO_LEAST;
	if (greatest)
		*greatest = PRIO_GREATEST;
	return done(0);
}
CUresult cuStreamCreateWithPriority(void **s, unsigned int fl, int prio) {
	if (prio > PRIO_LEAST || prio < PRIO_GREATEST)
		violate("cuStreamCreateWithPriority: priority outside the device's range");
	CUresult r = made("cuStreamCreateWithPriority", K_STREAM, s, OOM);
	if (r == 0 && prio <= PRIO_LEAST && prio >= PRIO_GREATEST) {
		pthread_mutex_lock(&mu);
		if (prio != PRIO_LEAST)
			prio_streams++;
		prio_made[-prio]++;
		if (prio_first == 1)
			prio_first = prio;
		pthread_mutex_unlock(&mu);
	}
	return r;
}
CUresult cuStreamDestroy_v2(void *s) {
	destroy("cuStreamDestroy_v2", s, K_STREAM);
	return done(0);
}
CUresult cuStreamSynchronize(void *s) { return done(fail("cuStreamSynchronize") ? UNKNOWN : 0); }

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	if (fail("cuMemAlloc_v2"))
		return done(OOM);
	const char *mm = getenv("FAKECUDA_MEM_MAX");
	if (mm && *mm && n > (size_t)atol(mm))
		return done(OOM);
	unsigned char *host = NULL;
	if (getenv("FAKECUDA_HOSTMEM") && !(host = calloc(1, n ? n : 1)))
		return done(OOM);
	obj *o = make(K_MEM);
	o->host = host;
	o->addr = next_addr;
	o->bytes = n;
	next_addr += (n + 0xFFFF) & ~(CUdeviceptr)0xFFFF;
	*p = o->addr;
	return done(0);
}
static obj *mem_at(CUdeviceptr p) {
	for (obj *o = objs; o; o = o->next)
		if (o->kind == K_MEM && o->addr == p)
			return o;
	return NULL;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
	obj *o = mem_at(p);
	if (!o)
		violate("cuMemFree_v2 of %#llx, not an allocation", p);
	else
		destroy("cuMemFree_v2", o, K_MEM);
	return done(0);
}
CUresult cuMemGetInfo_v2(size_t *fr, size_t *tot) {
	*fr = (size_t)1 << 30;
	*tot = (size_t)16 << 30;
	return done(0);
}
/* shadow returns the host bytes backing device memory [p, p+n) under
 * FAKECUDA_HOSTMEM, or NULL (no backing, or not inside a live allocation). */
static unsigned char *shadow(CUdeviceptr p, size_t n) {
	unsigned char *h = NULL;
	pthread_mutex_lock(&mu);
	for (obj *o = objs; o; o = o->next)
		if (o->kind == K_MEM && o->alive && o->host && p >= o->addr && p + n <= o->addr + o->bytes) {
			h = o->host + (p - o->addr);
			break;
		}
	pthread_mutex_unlock(&mu);
	return h;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) {
	if (fail("cuMemcpyHtoDAsync_v2"))
		return done(UNKNOWN);
	unsigned char *h = shadow(d, n);
	if (h)
		memcpy(h, s, n);
	return done(0);
}
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) {
	if (fail("cuMemcpyDtoHAsync_v2"))
		return done(UNKNOWN);
	unsigned char *h = shadow(s, n);
	if (h)
		memcpy(d, h, n);
	const char *loss = getenv("FAKECUDA_LOSS");
	float *f = d;
	if (h && loss && *loss && n == 3 * sizeof(float) && f[2] == 0) {
		f[0] = 2 * (float)atof(loss);
		f[1] = 1;
		f[2] = 2;
	}
	return done(0);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) {
	if (fail("cuMemcpyDtoDAsync_v2"))
		return done(UNKNOWN);
	unsigned char *a = shadow(d, n), *b = shadow(s, n);
	if (a && b)
		memmove(a, b, n);
	return done(0);
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void *st) {
	if (fail("cuMemsetD8Async"))
		return done(UNKNOWN);
	unsigned char *h = shadow(d, n);
	if (h)
		memset(h, v, n);
	return done(0);
}

/* jit_log writes msg to the caller's JIT error log, if it gave one
 * (options 5, the buffer, and 6, its size). */
static void jit_log(unsigned int nopt, int *opts, void **vals, const char *msg) {
	for (unsigned int i = 0; i < nopt; i++) {
		if (opts[i] != 5)
			continue;
		size_t size = 0;
		for (unsigned int j = 0; j < nopt; j++)
			if (opts[j] == 6)
				size = (size_t)vals[j];
		if (size > 0)
			snprintf((char *)vals[i], size, "%s", msg);
	}
}

/* jit compiles PTX of ISA major.minor for .target sm_<target>, as the
 * driver's JIT: it fails for an ISA newer than FAKECUDA_PTX_ISA and for a
 * target newer than the GPU. */
static CUresult jit(int isa, int target, unsigned int nopt, int *opts, void **vals) {
	char msg[160];
	if (isa > ptx_isa) {
		snprintf(msg, sizeof msg, "ptxas application ptx input, line 1; fatal   : Unsupported .version %d.%d; current version is '%d.%d'",
		         isa / 10, isa % 10, ptx_isa / 10, ptx_isa % 10);
		jit_log(nopt, opts, vals, msg);
		return UNSUPPORTED_PTX_VERSION;
	}
	if (target > cc) {
		jit_log(nopt, opts, vals, "ptxas fatal   : SM version specified by .target is higher than default SM version assumed");
		return INVALID_PTX;
	}
	snprintf(choice, sizeof choice, "ptx %d", target);
	return 0;
}

static unsigned long long le(const unsigned char *p, int n) {
	unsigned long long v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* load_fatbin checks a fat binary and loads from it what the driver would.
 * The container: a 16-byte header (magic 0xBA55ED50, version 1, header
 * size 16, then the size of what follows), then entries back to back, each
 * a header (kind 1 PTX or 2 ELF, its header size, the payload size, the
 * code version minor and major, the architecture, flags with 0x2000 for a
 * compressed payload) and its payload. SASS built for sm_XY runs on a GPU
 * of compute capability X.Z with Z >= Y (CUDA's binary compatibility), so
 * the highest such ELF entry wins; failing one, the PTX entry of the
 * highest architecture at or below the GPU's goes through the JIT; failing
 * that, CUDA_ERROR_NO_BINARY_FOR_GPU. A malformed container, or an
 * uncompressed ELF entry that is not a CUDA ELF for its architecture, is
 * CUDA_ERROR_INVALID_IMAGE. Like the driver, it reads as far as the header
 * says: the caller passes the whole image. */
static CUresult load_fatbin(const unsigned char *b, unsigned int nopt, int *opts, void **vals) {
	if (le(b + 4, 2) != 1 || le(b + 6, 2) != 16)
		return INVALID_IMAGE;
	unsigned long long end = 16 + le(b + 8, 8);
	if (end > (64ull << 20))
		return INVALID_IMAGE;
	int sass = -1, ptx = -1, ptx_ver = 0;
	unsigned long long off = 16;
	while (off < end) {
		const unsigned char *e = b + off;
		if (off + 64 > end)
			return INVALID_IMAGE;
		int kind = (int)le(e, 2);
		unsigned long long hsize = le(e + 4, 4), size = le(e + 8, 8);
		int minor = (int)le(e + 24, 2), major = (int)le(e + 26, 2), arch = (int)le(e + 28, 4);
		unsigned long long flags = le(e + 40, 8);
		if (hsize < 64 || off + hsize + size > end || (kind != 1 && kind != 2))
			return INVALID_IMAGE;
		const unsigned char *p = e + hsize;
		if (kind == 2 && !(flags & 0x2000) &&
		    (size < 64 || memcmp(p, "\x7f" "ELF", 4) != 0 || le(p + 18, 2) != 190 || (int)le(p + 48, 1) != arch))
			return INVALID_IMAGE;
		if (kind == 2 && arch / 10 == cc / 10 && arch <= cc && arch > sass)
			sass = arch;
		if (kind == 1 && arch <= cc && arch > ptx) {
			ptx = arch;
			ptx_ver = major * 10 + minor;
		}
		off += hsize + size;
	}
	if (off != end)
		return INVALID_IMAGE;
	if (sass >= 0) {
		snprintf(choice, sizeof choice, "sass %d", sass);
		return 0;
	}
	if (ptx >= 0)
		return jit(ptx_ver, ptx, nopt, opts, vals);
	return NO_BINARY_FOR_GPU;
}

CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned int nopt, int *opts, void **vals) {
	if (fail("cuModuleLoadDataEx"))
		return done(OOM);
	CUresult r;
	const unsigned char *b = image;
	/* The magic, 0xBA55ED50 little-endian, byte by byte: PTX text may be
	 * shorter than four bytes. */
	if (b[0] == 0x50 && b[1] == 0xED && b[2] == 0x55 && b[3] == 0xBA) {
		r = load_fatbin(b, nopt, opts, vals);
	} else {
		const char *t = strstr((const char *)image, ".target sm_");
		const char *v = strstr((const char *)image, ".version ");
		int major = 0, minor = 0;
		if (v)
			sscanf(v, ".version %d.%d", &major, &minor);
		r = jit(major * 10 + minor, t ? atoi(t + 11) : 0, nopt, opts, vals);
	}
	if (r != 0)
		return done(r);
	if (!current)
		return done(INVALID_CONTEXT);
	*m = make(K_MODULE);
	snprintf(loaded, sizeof loaded, "%s", choice);
	return done(0);
}
CUresult cuModuleUnload(void *m) {
	destroy("cuModuleUnload", m, K_MODULE);
	return done(0);
}
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
	if (fail("cuModuleGetFunction"))
		return done(UNKNOWN);
	*f = m;
	return done(0);
}
CUresult cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                        unsigned int bz, unsigned int shared, void *st, void **params, void **extra) {
	return done(fail("cuLaunchKernel") ? UNKNOWN : 0);
}
CUresult cuEventCreate(void **e, unsigned int fl) { return made("cuEventCreate", K_EVENT, e, OOM); }
CUresult cuEventDestroy_v2(void *e) {
	destroy("cuEventDestroy_v2", e, K_EVENT);
	return done(0);
}
CUresult cuEventRecord(void *e, void *s) {
	if (fail("cuEventRecord"))
		return done(UNKNOWN);
	alive("cuEventRecord", e, K_EVENT);
	return done(0);
}
CUresult cuEventSynchronize(void *e) {
	if (fail("cuEventSynchronize"))
		return done(UNKNOWN);
	alive("cuEventSynchronize", e, K_EVENT);
	return done(0);
}
static CUresult elapsed(const char *fn, float *ms, void *a, void *b) {
	if (fail(fn))
		return done(UNKNOWN);
	alive(fn, a, K_EVENT);
	alive(fn, b, K_EVENT);
	*ms = 1;
	return done(0);
}
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { return elapsed("cuEventElapsedTime", ms, a, b); }
CUresult cuEventElapsedTime_v2(float *ms, void *a, void *b) { return elapsed("cuEventElapsedTime_v2", ms, a, b); }
CUresult cuStreamWaitEvent(void *s, void *e, unsigned int fl) { return done(fail("cuStreamWaitEvent") ? UNKNOWN : 0); }
CUresult cuStreamBeginCapture_v2(void *s, int mode) { return done(fail("cuStreamBeginCapture_v2") ? UNKNOWN : 0); }
CUresult cuStreamEndCapture(void *s, void **g) { return made("cuStreamEndCapture", K_GRAPH, g, UNKNOWN); }
CUresult cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long fl) {
	pthread_mutex_lock(&mu);
	int prio = prio_streams;
	pthread_mutex_unlock(&mu);
	if (prio && !(fl & 8))
		violate("cuGraphInstantiateWithFlags: a graph recorded with stream priorities instantiated without CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY");
	return made("cuGraphInstantiateWithFlags", K_EXEC, e, OOM);
}
CUresult cuGraphLaunch(void *e, void *s) {
	if (fail("cuGraphLaunch"))
		return done(UNKNOWN);
	alive("cuGraphLaunch", e, K_EXEC);
	return done(0);
}
CUresult cuGraphExecDestroy(void *e) {
	destroy("cuGraphExecDestroy", e, K_EXEC);
	return done(0);
}
CUresult cuGraphDestroy(void *g) {
	destroy("cuGraphDestroy", g, K_GRAPH);
	return done(0);
}

/* ---- cuBLAS ---- */

#define BLAS_ALLOC_FAILED 3
#define BLAS_EXECUTION_FAILED 13

int cublasGetProperty(int type, int *v) {
	int ver[3] = {12, 8, 4};
	*v = ver[type];
	return done(0);
}
const char *cublasGetStatusString(int st) {
	return st == BLAS_ALLOC_FAILED ? "the resource allocation failed" : "the GPU program failed to execute";
}
/* same reports whether handle h was made in the current context. */
static void same(const char *fn, void *h) {
	if (((obj *)h)->ctx != current)
		violate("%s with another context current than the one its handle was made in", fn);
}
int cublasCreate_v2(void **h) { return made("cublasCreate_v2", K_BLAS, h, BLAS_ALLOC_FAILED); }
int cublasDestroy_v2(void *h) {
	if (alive("cublasDestroy_v2", h, K_BLAS))
		same("cublasDestroy_v2", h);
	destroy("cublasDestroy_v2", h, K_BLAS);
	return done(0);
}
int cublasSetStream_v2(void *h, void *s) {
	if (fail("cublasSetStream_v2"))
		return done(BLAS_EXECUTION_FAILED);
	if (alive("cublasSetStream_v2", h, K_BLAS))
		((obj *)h)->ws = 0; /* "unconditionally resets the workspace to the default pool" */
	return done(0);
}
int cublasSetWorkspace_v2(void *h, void *ws, size_t bytes) {
	if (fail("cublasSetWorkspace_v2"))
		return done(BLAS_EXECUTION_FAILED);
	obj *m = mem_at((CUdeviceptr)ws);
	if (!m || !m->alive || m->bytes < bytes)
		violate("cublasSetWorkspace_v2 with %zu bytes at %p, not an allocation that large", bytes, ws);
	if (alive("cublasSetWorkspace_v2", h, K_BLAS))
		((obj *)h)->ws = 1;
	return done(0);
}
int cublasSetMathMode(void *h, int m) { return done(fail("cublasSetMathMode") ? BLAS_EXECUTION_FAILED : 0); }
int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                   const float *b, int ldb, const float *beta, float *c, int ldc) {
	if (fail("cublasSgemm_v2"))
		return done(BLAS_EXECUTION_FAILED);
	if (alive("cublasSgemm_v2", h, K_BLAS)) {
		same("cublasSgemm_v2", h);
		if (!((obj *)h)->ws)
			violate("cublasSgemm_v2 on a handle without a workspace of ours (cublasSetWorkspace after cublasSetStream): "
			        "a graph capture would allocate one");
	}
	return done(0);
}

/* ---- cuBLASLt ---- */

#define BLAS_INVALID_VALUE 7
#define BLAS_NOT_SUPPORTED 15

/* within reports whether bytes at p lie in one live allocation. */
static int within(CUdeviceptr p, size_t bytes) {
	for (obj *o = objs; o; o = o->next)
		if (o->kind == K_MEM && o->alive && o->addr <= p && p + bytes <= o->addr + o->bytes)
			return 1;
	return 0;
}
const char *cublasLtGetStatusString(int st) {
	return st == BLAS_ALLOC_FAILED    ? "the resource allocation failed"
	       : st == BLAS_INVALID_VALUE ? "an invalid numeric value was used as an argument"
	       : st == BLAS_NOT_SUPPORTED ? "the functionality requested is not supported"
	                                  : "the GPU program failed to execute";
}
int cublasLtCreate(void **h) { return made("cublasLtCreate", K_LT, h, BLAS_ALLOC_FAILED); }
int cublasLtDestroy(void *h) {
	destroy("cublasLtDestroy", h, K_LT);
	return done(0);
}
int cublasLtMatmulDescCreate(void **d, int compute, int scale) {
	if (compute != 68 && compute != 77)
		violate("cublasLtMatmulDescCreate with compute type %d, not 32F (68) or 32F_FAST_TF32 (77)", compute);
	int r = made("cublasLtMatmulDescCreate", K_LTDESC, d, BLAS_ALLOC_FAILED);
	if (r == 0)
		((obj *)*d)->math = 1; /* CUBLASLT_EPILOGUE_DEFAULT */
	return r;
}
int cublasLtMatmulDescDestroy(void *d) {
	destroy("cublasLtMatmulDescDestroy", d, K_LTDESC);
	return done(0);
}
int cublasLtMatmulDescSetAttribute(void *d, int attr, const void *buf, size_t n) {
	if (fail("cublasLtMatmulDescSetAttribute"))
		return done(BLAS_EXECUTION_FAILED);
	if (alive("cublasLtMatmulDescSetAttribute", d, K_LTDESC)) {
		const char *lt = getenv("FAKECUDA_LT");
		if (attr == 7 && n == 4 && *(const int *)buf == 512 && lt && strcmp(lt, "old") == 0)
			return done(BLAS_INVALID_VALUE);
		if (attr == 7 && n == 4) /* CUBLASLT_MATMUL_DESC_EPILOGUE */
			((obj *)d)->math = *(const int *)buf;
		else if (attr == 8 && n == 8) /* CUBLASLT_MATMUL_DESC_BIAS_POINTER */
			((obj *)d)->bias = (CUdeviceptr) * (void *const *)buf;
		else if ((attr == 3 || attr == 4) && n != 4)
			violate("cublasLtMatmulDescSetAttribute: TRANSA/TRANSB take 4 bytes, not %zu", n);
	}
	return done(0);
}
int cublasLtMatrixLayoutCreate(void **l, int type, unsigned long long rows, unsigned long long cols, long long ld) {
	if (type != 0 || ld < (long long)rows || rows == 0 || cols == 0)
		violate("cublasLtMatrixLayoutCreate: type %d, %llu×%llu with leading dimension %lld", type, rows, cols, ld);
	return made("cublasLtMatrixLayoutCreate", K_LTLAYOUT, l, BLAS_ALLOC_FAILED);
}
int cublasLtMatrixLayoutDestroy(void *l) {
	destroy("cublasLtMatrixLayoutDestroy", l, K_LTLAYOUT);
	return done(0);
}
int cublasLtMatmulPreferenceCreate(void **p) { return made("cublasLtMatmulPreferenceCreate", K_LTPREF, p, BLAS_ALLOC_FAILED); }
int cublasLtMatmulPreferenceDestroy(void *p) {
	destroy("cublasLtMatmulPreferenceDestroy", p, K_LTPREF);
	return done(0);
}
int cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t n) {
	if (fail("cublasLtMatmulPreferenceSetAttribute"))
		return done(BLAS_EXECUTION_FAILED);
	if (alive("cublasLtMatmulPreferenceSetAttribute", p, K_LTPREF) && attr == 1) { /* MAX_WORKSPACE_BYTES */
		if (n != 8)
			violate("cublasLtMatmulPreferenceSetAttribute: MAX_WORKSPACE_BYTES takes 8 bytes, not %zu", n);
		else
			((obj *)p)->bytes = *(const unsigned long long *)buf;
	}
	return done(0);
}
typedef struct {
	unsigned long long data[8];
	size_t workspaceSize;
	int state;
	float wavesCount;
	int reserved[4];
} lt_result;
int cublasLtMatmulAlgoGetHeuristic(void *h, void *d, void *la, void *lb, void *lc, void *ld, void *pref, int want, lt_result *res,
                                   int *n) {
	if (fail("cublasLtMatmulAlgoGetHeuristic"))
		return done(BLAS_EXECUTION_FAILED);
	alive("cublasLtMatmulAlgoGetHeuristic", h, K_LT);
	alive("cublasLtMatmulAlgoGetHeuristic", d, K_LTDESC);
	alive("cublasLtMatmulAlgoGetHeuristic", la, K_LTLAYOUT);
	alive("cublasLtMatmulAlgoGetHeuristic", lb, K_LTLAYOUT);
	alive("cublasLtMatmulAlgoGetHeuristic", lc, K_LTLAYOUT);
	alive("cublasLtMatmulAlgoGetHeuristic", ld, K_LTLAYOUT);
	*n = 0;
	const char *none = getenv("FAKECUDA_LT");
	if (none && strcmp(none, "none") == 0)
		return done(BLAS_NOT_SUPPORTED);
	if (alive("cublasLtMatmulAlgoGetHeuristic", pref, K_LTPREF) && ((obj *)pref)->bytes < 4096)
		return done(BLAS_NOT_SUPPORTED);
	/* Two algorithms (FAKECUDA_LT_ALGOS=1: one): the first asks for 4 KiB
	 * of workspace, the second for none. */
	const char *na = getenv("FAKECUDA_LT_ALGOS");
	int algos = na && *na ? atoi(na) : 2;
	for (int i = 0; i < want && i < algos && i < 2; i++) {
		memset(&res[i], 0, sizeof res[i]);
		res[i].data[0] = 0xA160 + i;
		res[i].workspaceSize = i == 0 ? 4096 : 0;
		res[i].wavesCount = 1;
		*n = i + 1;
	}
	return done(0);
}
int cublasLtMatmul(void *h, void *d, const void *alpha, const void *a, void *la, const void *b, void *lb, const void *beta,
                   const void *c, void *lc, void *dd, void *ld, const lt_result *algo, void *ws, size_t wsBytes, void *stream) {
	if (fail("cublasLtMatmul"))
		return done(BLAS_EXECUTION_FAILED);
	alive("cublasLtMatmul", h, K_LT);
	alive("cublasLtMatmul", la, K_LTLAYOUT);
	alive("cublasLtMatmul", lb, K_LTLAYOUT);
	alive("cublasLtMatmul", lc, K_LTLAYOUT);
	alive("cublasLtMatmul", ld, K_LTLAYOUT);
	if (!current)
		violate("cublasLtMatmul with no context current");
	if (!algo || (algo->data[0] != 0xA160 && algo->data[0] != 0xA161))
		violate("cublasLtMatmul with an algorithm the heuristic did not give");
	size_t need = algo && algo->data[0] == 0xA160 ? 4096 : 0;
	if (wsBytes < need || (need > 0 && !within((CUdeviceptr)ws, wsBytes)))
		violate("cublasLtMatmul with %zu bytes of workspace at %p: not the %zu its algorithm asks for in a live allocation", wsBytes, ws, need);
	if (!within((CUdeviceptr)a, 4) || !within((CUdeviceptr)b, 4) || !within((CUdeviceptr)dd, 4) || c != dd)
		violate("cublasLtMatmul on matrices outside live allocations (A %p, B %p, C %p, D %p)", a, b, c, dd);
	if (alive("cublasLtMatmul", d, K_LTDESC)) {
		obj *o = d;
		if (o->math != 1 && !within(o->bias, 4))
			violate("cublasLtMatmul with epilogue %d and bias vector %#llx outside live allocations", o->math, o->bias);
	}
	return done(0);
}

/* ---- cuDNN ---- */

#define DNN_ALLOC_FAILED 4001
#define DNN_EXECUTION_FAILED 5000
#define DNN_NOT_SUPPORTED 3000

size_t cudnnGetVersion(void) { return 90100; }
size_t cudnnGetCudartVersion(void) { return 12080; }
const char *cudnnGetErrorString(int st) {
	return st == DNN_ALLOC_FAILED    ? "CUDNN_STATUS_ALLOC_FAILED"
	       : st == DNN_NOT_SUPPORTED ? "CUDNN_STATUS_NOT_SUPPORTED"
	                                 : "CUDNN_STATUS_EXECUTION_FAILED";
}
int cudnnCreate(void **h) { return made("cudnnCreate", K_DNN, h, DNN_ALLOC_FAILED); }
int cudnnDestroy(void *h) {
	if (alive("cudnnDestroy", h, K_DNN))
		same("cudnnDestroy", h);
	destroy("cudnnDestroy", h, K_DNN);
	return done(0);
}
int cudnnSetStream(void *h, void *s) { return done(fail("cudnnSetStream") ? DNN_EXECUTION_FAILED : 0); }

static int create_desc(const char *fn, int kind, void **d) {
	if (fail(fn))
		return done(DNN_ALLOC_FAILED);
	*d = make(kind);
	return done(0);
}
int cudnnCreateTensorDescriptor(void **d) { return create_desc("cudnnCreateTensorDescriptor", K_TENSOR, d); }
int cudnnCreateFilterDescriptor(void **d) { return create_desc("cudnnCreateFilterDescriptor", K_FILTER, d); }
int cudnnCreateConvolutionDescriptor(void **d) { return create_desc("cudnnCreateConvolutionDescriptor", K_CONV, d); }
int cudnnDestroyTensorDescriptor(void *d) {
	destroy("cudnnDestroyTensorDescriptor", d, K_TENSOR);
	return done(0);
}
int cudnnDestroyFilterDescriptor(void *d) {
	destroy("cudnnDestroyFilterDescriptor", d, K_FILTER);
	return done(0);
}
int cudnnDestroyConvolutionDescriptor(void *d) {
	destroy("cudnnDestroyConvolutionDescriptor", d, K_CONV);
	return done(0);
}
int cudnnSetTensor4dDescriptor(void *d, int f, int t, int n, int c, int h, int w) {
	return done(fail("cudnnSetTensor4dDescriptor") ? DNN_EXECUTION_FAILED : 0);
}
int cudnnSetFilter4dDescriptor(void *d, int t, int f, int k, int c, int h, int w) {
	return done(fail("cudnnSetFilter4dDescriptor") ? DNN_EXECUTION_FAILED : 0);
}
int cudnnSetConvolution2dDescriptor(void *d, int ph, int pw, int u, int v, int dh, int dw, int mode, int type) {
	return done(fail("cudnnSetConvolution2dDescriptor") ? DNN_EXECUTION_FAILED : 0);
}
int cudnnSetConvolutionMathType(void *d, int m) {
	if (fail("cudnnSetConvolutionMathType"))
		return done(DNN_EXECUTION_FAILED);
	if (alive("cudnnSetConvolutionMathType", d, K_CONV))
		((obj *)d)->math = m;
	return done(0);
}

typedef struct {
	int algo;
	int status;
	float time;
	size_t memory;
	int determinism;
	int mathType;
	int reserved[3];
} perf_t;

/* find answers cudnnFind…Algorithm for direction dir: two algorithms,
 * 1 the faster (with a workspace) and 0; with the default math type the
 * faster is timed with tensor cores, as cuDNN does on Ampere and newer. */
static int find(const char *fn, int dir, void *h, void *conv, int req, int *got, perf_t *perf) {
	if (fail(fn))
		return done(DNN_ALLOC_FAILED);
	if (alive(fn, h, K_DNN))
		same(fn, h);
	finds[dir]++;
	obj *c = conv;
	int m = c->math;
	const char *alt = getenv("FAKECUDA_ALT_MS");
	float alt_ms = alt && *alt ? (float)atof(alt) : 0.6f;
	perf_t p[2] = {{1, 0, 0.5f, 1 << 20, 1, m == 0 ? 1 : m, {0}}, {0, 0, alt_ms, 0, 1, m, {0}}};
	*got = req < 2 ? req : 2;
	for (int i = 0; i < *got; i++) {
		perf[i] = p[i];
		c->timed[dir][p[i].algo] = p[i].mathType + 1;
	}
	return done(0);
}
int cudnnFindConvolutionForwardAlgorithm(void *h, void *x, void *w, void *conv, void *y, int req, int *got, perf_t *perf) {
	return find("cudnnFindConvolutionForwardAlgorithm", 0, h, conv, req, got, perf);
}
int cudnnFindConvolutionBackwardDataAlgorithm(void *h, void *w, void *dy, void *conv, void *dx, int req, int *got, perf_t *perf) {
	return find("cudnnFindConvolutionBackwardDataAlgorithm", 1, h, conv, req, got, perf);
}
int cudnnFindConvolutionBackwardFilterAlgorithm(void *h, void *x, void *dy, void *conv, void *dw, int req, int *got, perf_t *perf) {
	return find("cudnnFindConvolutionBackwardFilterAlgorithm", 2, h, conv, req, got, perf);
}

/* ws_size answers cudnnGetConvolution…WorkspaceSize for direction dir:
 * the algorithms find returns (1 with a 1 MiB workspace, 0 with none) are
 * supported, any other is not. An algorithm so asked about may run in the
 * descriptor's math type then, as after a search. */
static int ws_size(const char *fn, int dir, void *h, void *conv, int algo, size_t *bytes) {
	if (fail(fn))
		return done(DNN_EXECUTION_FAILED);
	if (alive(fn, h, K_DNN))
		same(fn, h);
	if (algo != 0 && algo != 1)
		return done(DNN_NOT_SUPPORTED);
	*bytes = algo == 1 ? 1 << 20 : 0;
	if (alive(fn, conv, K_CONV)) {
		obj *c = conv;
		c->timed[dir][algo] = c->math + 1;
	}
	return done(0);
}
int cudnnGetConvolutionForwardWorkspaceSize(void *h, void *x, void *w, void *conv, void *y, int algo, size_t *bytes) {
	return ws_size("cudnnGetConvolutionForwardWorkspaceSize", 0, h, conv, algo, bytes);
}
int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, void *w, void *dy, void *conv, void *dx, int algo, size_t *bytes) {
	return ws_size("cudnnGetConvolutionBackwardDataWorkspaceSize", 1, h, conv, algo, bytes);
}
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, void *x, void *dy, void *conv, void *dw, int algo, size_t *bytes) {
	return ws_size("cudnnGetConvolutionBackwardFilterWorkspaceSize", 2, h, conv, algo, bytes);
}

static int conv(const char *fn, int dir, void *h, void *cd, int algo, void *ws, size_t wsBytes) {
	if (fail(fn))
		return done(DNN_EXECUTION_FAILED);
	if (alive(fn, h, K_DNN))
		same(fn, h);
	if (!alive(fn, cd, K_CONV))
		return done(0);
	obj *c = cd;
	if (algo < 0 || algo > 7 || !c->timed[dir][algo])
		violate("%s with algorithm %d, which cudnnFind did not return for this descriptor", fn, algo);
	else if (c->timed[dir][algo] - 1 != c->math)
		violate("%s with algorithm %d in math type %d, but cudnnFind timed it in math type %d", fn, algo, c->math,
		        c->timed[dir][algo] - 1);
	return done(0);
}
int cudnnConvolutionForward(void *h, const void *alpha, void *xd, const void *x, void *wd, const void *w, void *cd, int algo,
                            void *ws, size_t wsBytes, const void *beta, void *yd, void *y) {
	return conv("cudnnConvolutionForward", 0, h, cd, algo, ws, wsBytes);
}
int cudnnConvolutionBackwardData(void *h, const void *alpha, void *wd, const void *w, void *dyd, const void *dy, void *cd, int algo,
                                 void *ws, size_t wsBytes, const void *beta, void *dxd, void *dx) {
	return conv("cudnnConvolutionBackwardData", 1, h, cd, algo, ws, wsBytes);
}
int cudnnConvolutionBackwardFilter(void *h, const void *alpha, void *xd, const void *x, void *dyd, const void *dy, void *cd,
                                   int algo, void *ws, size_t wsBytes, const void *beta, void *dwd, void *dw) {
	return conv("cudnnConvolutionBackwardFilter", 2, h, cd, algo, ws, wsBytes);
}
