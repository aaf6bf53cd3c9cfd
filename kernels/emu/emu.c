/* emu.c: the kernel emulator. kernels.cu compiled as C (prelude.h) and
 * run on the CPU, so that tests without a GPU run every kernel: the kernel
 * tests (kernels/emu_test.go) and the GPU engine's ops on an emulated
 * device (engine/cuda). A launch's blocks are shared among a few POSIX
 * threads (workers). A worker runs a block of a kernel that does not
 * synchronise one thread after another; for a kernel that does, each of
 * the block's threads is a fiber with its own stack, and
 * __syncthreads switches to the next fiber, so that every thread of the
 * block reaches the barrier before any passes it. Threads of one block
 * that leave at different barriers are reported (CUDA leaves that
 * undefined). Launches are serialised by the caller (emu.go). */
/* The kernels' sums in the order written, a multiply and an add rounded
 * each, whatever the C flags: with CGO_CFLAGS=-march=native gcc would fuse
 * some into FMAs, where the kernels that must give each other's bits
 * (TestEmuDenseXent) are written differently. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "prelude.h"
#include "kernels_cu.h" /* a link to ../kernels.cu, so that Go rebuilds on its change */
#include "emu.h"

_Thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

static pthread_mutex_t atomic_mu = PTHREAD_MUTEX_INITIALIZER;
static int syncs;           /* this launch's kernel synchronises */
static const char *running; /* this launch's kernel */

/* A worker's fibers: one stack per thread of the block, which threads
 * have finished, and which runs. */
enum { STACK = 128 << 10 };
static const uint64_t stack_mark = 0x5354414b4d41524bULL; /* the bottom word of every fiber stack */
/* stack_bytes is the stack thread t has: below its staggered top on
 * x86-64 (fiber_init), the whole slot with ucontext. */
static int stack_bytes(int t);
static _Thread_local char *stacks;
static _Thread_local int *finished, current;

static void fiber_entry(void);

/* EMU_UCONTEXT selects the portable fibers below on amd64 too (to test them:
 * CGO_CFLAGS=-DEMU_UCONTEXT go test ./kernels/...). */
#if defined(__x86_64__) && !defined(EMU_UCONTEXT)
/* EMU_SWITCH(save, to) parks this fiber and resumes another: it leaves,
 * on this stack below the red zone, rbp and the address to resume at (the
 * label 1 that ends the statement), stores the stack pointer in *save,
 * then takes to as the stack pointer, pops that fiber's two words and
 * jumps to its label. Every other register is declared clobbered, so the
 * compiler keeps nothing in them across the switch, and rdi and rsi, which
 * hold save and to, as written: they come back holding the other fiber's
 * (as inputs only, gcc -fno-pic kept &sched_sp in rdi across the loop of
 * resumes, and fibers were lost). Written in line, with a jump rather
 * than a call and a return: a call's return to another stack is
 * mispredicted, and so is every return after it, while the processor's
 * return stack is out of step with the stack (docs/testing.md has the
 * times). */
#ifdef __AVX512F__
#define EMU_CLOBBER_AVX512 , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
	"xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define EMU_CLOBBER_AVX512
#endif
#ifdef __CET__
#define EMU_LANDING "endbr64\n\t"
#else
#define EMU_LANDING
#endif
#define EMU_SWITCH(save, to)                                                                                  \
	do {                                                                                                  \
	void **save_ = (save), *to_ = (to);                                                                   \
	__asm__ volatile("subq $128, %%rsp\n\t"                                                              \
	                 "pushq %%rbp\n\t"                                                                   \
	                 "leaq 1f(%%rip), %%rax\n\t"                                                         \
	                 "pushq %%rax\n\t"                                                                   \
	                 "movq %%rsp, (%0)\n\t"                                                              \
	                 "movq %1, %%rsp\n\t"                                                                \
	                 "popq %%rax\n\t"                                                                    \
	                 "popq %%rbp\n\t"                                                                    \
	                 "addq $128, %%rsp\n\t"                                                              \
	                 "jmpq *%%rax\n"                                                                      \
	                 "1:\n\t" EMU_LANDING                                                                \
	                 : "+D"(save_), "+S"(to_)                                                            \
	                 :                                                                                   \
	                 : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",  \
	                   "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",   \
	                   "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc" EMU_CLOBBER_AVX512); \
	} while (0)

static _Thread_local void *sched_sp, **fiber_sp;

static int fibers_alloc(int n) { return (fiber_sp = calloc(n, sizeof *fiber_sp)) != NULL; }
static void fibers_free(void) {
	free(fiber_sp);
	fiber_sp = NULL;
}

/* fiber_init makes thread t start at fiber_entry as if called: at the top
 * of its stack a null return address, below it the 128 bytes EMU_SWITCH
 * steps over, then rbp (0) and fiber_entry's address for EMU_SWITCH to pop. */
static void fiber_init(int t) {
	/* Stack tops staggered by cache lines over 64 KB (37 is odd: 1,024
	 * threads take 1,024 offsets), so that the threads' frames spread over
	 * every set of a 1 MB L2 rather than falling into the same few. Each
	 * thread keeps at least STACK - 64 KB (the deepest use measured,
	 * softmax_xent's, is 3.4 KB); stack_mark at its bottom tells an overrun
	 * (run_fibers). */
	void **sp = (void **)(stacks + (size_t)t * STACK + stack_bytes(t));
	*--sp = NULL;
	sp -= 128 / sizeof *sp;
	*--sp = NULL;
	*--sp = (void *)fiber_entry;
	fiber_sp[t] = sp;
}
static int stack_bytes(int t) { return STACK - t * 37 % 1024 * 64; }
static void fiber_resume(int t) { EMU_SWITCH(&sched_sp, fiber_sp[t]); }
static void fiber_yield(void) { EMU_SWITCH(&fiber_sp[current], sched_sp); }
#else
static _Thread_local ucontext_t sched, *fiber;

static int fibers_alloc(int n) { return (fiber = calloc(n, sizeof *fiber)) != NULL; }
static void fibers_free(void) {
	free(fiber);
	fiber = NULL;
}
static void fiber_init(int t) {
	getcontext(&fiber[t]);
	fiber[t].uc_stack.ss_sp = stacks + (size_t)t * STACK;
	fiber[t].uc_stack.ss_size = STACK;
	fiber[t].uc_link = &sched;
	makecontext(&fiber[t], fiber_entry, 0);
}
static int stack_bytes(int t) {
	(void)t;
	return STACK;
}
static void fiber_resume(int t) { swapcontext(&sched, &fiber[t]); }
static void fiber_yield(void) { swapcontext(&fiber[current], &sched); }
#endif

void __syncthreads(void) {
	if (!syncs) {
		/* A programmer error in this file's table, not in a kernel. */
		fprintf(stderr, "emu: kernel %s calls __syncthreads but is listed as not synchronising in kernels/emu/emu.c\n", running);
		abort();
	}
	fiber_yield();
}

/* The launch's first misaligned 16-byte access, if any (V4). */
static pthread_mutex_t misaligned_mu = PTHREAD_MUTEX_INITIALIZER;
static char misaligned[256];

void *emu_aligned16(const void *p) {
	if ((uintptr_t)p & 15) {
		pthread_mutex_lock(&misaligned_mu);
		if (!misaligned[0])
			snprintf(misaligned, sizeof misaligned, "emu: %s made a 16-byte access at %p, which is not 16-byte aligned (a GPU faults: misaligned address), in block %u, thread %u",
			         running, p, blockIdx.x, threadIdx.x);
		pthread_mutex_unlock(&misaligned_mu);
	}
	return (void *)p;
}

float atomicAdd(float *addr, float v) {
	pthread_mutex_lock(&atomic_mu);
	float old = *addr;
	*addr = old + v;
	pthread_mutex_unlock(&atomic_mu);
	return old;
}

/* The launch's argument slots. */
static uint64_t slot[32];
#define A(i, T) ({ T v_; memcpy(&v_, &slot[i], sizeof v_); v_; })

/* KERNELS lists every kernel: name, argument kinds, whether it
 * synchronises, and its call from the argument slots. */
#define KERNELS(X) \
    X(gather, "CCCCPPIIIIIIFF", 0, A(0, unsigned char *), A(1, int *), A(2, int *), A(3, int *), A(4, float *), A(5, int *), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int), A(11, int), A(12, float), A(13, float)) \
    X(advance, "PI", 0, A(0, int *), A(1, int)) \
    X(bias_act, "PCLIII", 0, A(0, float *), A(1, float *), A(2, long long), A(3, int), A(4, int), A(5, int)) \
    X(first_conv3, "PCCCIIIIII", 0, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int)) \
    X(first_conv5, "PCCCIIIIII", 0, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int)) \
    X(first_conv_pool3, "PPPCCCIIIIII", 0, A(0, float *), A(1, float *), A(2, int *), A(3, float *), A(4, float *), A(5, float *), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int), A(11, int)) \
    X(bias_act_pool, "PPPCIIIII", 0, A(0, float *), A(1, float *), A(2, int *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int)) \
    X(conv3_pool, "PPPCCCIIIIII", 1, A(0, float *), A(1, float *), A(2, int *), A(3, float *), A(4, float *), A(5, float *), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int), A(11, int)) \
    X(conv3_data, "PCCIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int), A(6, int), A(7, int)) \
    X(conv3_filter, "PCCIIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int)) \
    X(pool_back_act, "PPCCCIIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, int *), A(4, float *), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int)) \
    X(act_grad, "PCCLI", 0, A(0, float *), A(1, float *), A(2, float *), A(3, long long), A(4, int)) \
    X(bias_grad, "PCIII", 1, A(0, float *), A(1, float *), A(2, int), A(3, int), A(4, int)) \
    X(act_bias_grad, "PPCCIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int)) \
    X(sum_partials, "PCIIII", 0, A(0, float *), A(1, float *), A(2, int), A(3, int), A(4, int), A(5, int)) \
    X(sum_partials2, "PIPCII", 0, A(0, float *), A(1, int), A(2, float *), A(3, float *), A(4, int), A(5, int)) \
    X(first_grad3, "PCCCIIIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int)) \
    X(first_grad_pool3, "PCCCCIIIIIII", 1, A(0, float *), A(1, float *), A(2, int *), A(3, float *), A(4, float *), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int), A(11, int)) \
    X(first_grad5, "PCCCIIIIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int)) \
    X(maxpool, "CPPIIII", 0, A(0, float *), A(1, float *), A(2, int *), A(3, int), A(4, int), A(5, int), A(6, int)) \
    X(maxpool_back, "CCPL", 0, A(0, float *), A(1, int *), A(2, float *), A(3, long long)) \
    X(dense_small, "PCCCIIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int)) \
    X(dense_small_dw, "PCCIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int)) \
    X(dense_small_dx, "PCCIII", 0, A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int)) \
    X(softmax_xent, "CCPPPIIFF", 1, A(0, float *), A(1, int *), A(2, float *), A(3, float *), A(4, float *), A(5, int), A(6, int), A(7, float), A(8, float)) \
    X(dense_xent, "PPPPCCCCIIIFF", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, float *), A(6, float *), A(7, int *), A(8, int), A(9, int), A(10, int), A(11, float), A(12, float)) \
    X(head_grads, "PPPCCCIII", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, float *), A(6, int), A(7, int), A(8, int)) \
    X(adam, "PCPPCLFFFFIIIF", 0, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, long long), A(6, float), A(7, float), A(8, float), A(9, float), A(10, int), A(11, int), A(12, int), A(13, float)) \
    X(adam4, "PCPPCLFFFFIIIF", 0, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, long long), A(6, float), A(7, float), A(8, float), A(9, float), A(10, int), A(11, int), A(12, int), A(13, float)) \
    X(dense_wgrad_adam, "PPPCCCIIIIFFFFIIIF", 1, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, float *), A(6, int), A(7, int), A(8, int), A(9, int), A(10, float), A(11, float), A(12, float), A(13, float), A(14, int), A(15, int), A(16, int), A(17, float)) \
    X(sgd, "PCPCLFFIIIF", 0, A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, long long), A(5, float), A(6, float), A(7, int), A(8, int), A(9, int), A(10, float)) \
    X(step_inc, "PI", 0, A(0, float *), A(1, int)) \
    X(fill_f32, "PFL", 0, A(0, float *), A(1, float), A(2, long long)) \
    X(fill_i32, "PIL", 0, A(0, int *), A(1, int), A(2, long long)) \
    X(fill_u8, "PIL", 0, A(0, unsigned char *), A(1, unsigned char), A(2, long long))

#define WRAP(name, sig, sync, ...) \
	static void run_##name(void) { name(__VA_ARGS__); }
KERNELS(WRAP)

static const struct kernel {
	const char *name, *sig;
	int sync;
	void (*run)(void);
} table[] = {
#define ROW(name, sig, sync, ...) {#name, sig, sync, run_##name},
	KERNELS(ROW)
};

#define NKERNELS ((int)(sizeof table / sizeof table[0]))

int emu_find(const char *name, const char **sig) {
	for (int i = 0; i < NKERNELS; i++)
		if (!strcmp(table[i].name, name)) {
			*sig = table[i].sig;
			return i;
		}
	return -1;
}

const char *emu_kernel(int i, const char **sig) {
	if (i < 0 || i >= NKERNELS) return NULL;
	*sig = table[i].sig;
	return table[i].name;
}

static int grid, workers;
static int reverse; /* threads of a block run last to first (EMU_REVERSE) */
static void (*fn)(void);

/* fiber_entry runs one thread of the block, then goes back to the
 * scheduler for good. */
static void fiber_entry(void) {
	fn();
	finished[current] = 1;
	fiber_yield();
	abort(); /* a finished fiber is never resumed */
}

/* run_fibers runs the current block (blockIdx) of a synchronising kernel:
 * rounds in which every unfinished thread runs to its next barrier or its
 * end. It returns 0, or 1 with a message in err. */
static int run_fibers(char *err, size_t errlen) {
	int n = (int)blockDim.x;
	for (int t = 0; t < n; t++) {
		fiber_init(t);
		memcpy(stacks + (size_t)t * STACK, &stack_mark, sizeof stack_mark);
		finished[t] = 0;
	}
	for (int round = 0;; round++) {
		int done = 0, waiting = 0;
		for (int i = 0; i < n; i++) {
			int t = reverse ? n - 1 - i : i;
			if (finished[t]) {
				done++;
				continue;
			}
			current = t;
			threadIdx.x = t;
			fiber_resume(t);
			if (finished[t])
				done++;
			else
				waiting++;
		}
		if (!waiting) {
			for (int t = 0; t < n; t++)
				if (memcmp(stacks + (size_t)t * STACK, &stack_mark, sizeof stack_mark)) {
					snprintf(err, errlen, "emu: %s block %u thread %d overran its fiber stack of %d bytes (STACK in kernels/emu/emu.c)",
					         running, blockIdx.x, t, stack_bytes(t));
					return 1;
				}
			return 0;
		}
		if (done) {
			snprintf(err, errlen, "emu: %s block %u: after barrier %d, %d threads ended while %d wait at another __syncthreads",
			         running, blockIdx.x, round, done, waiting);
			return 1;
		}
	}
}

/* A worker's result. */
struct job {
	int w, failed;
	char err[256];
};

/* Fiber stacks, kept from one launch to the next: worker w of every launch
 * uses pool[w] (launches are serialised). Allocating a block's stacks
 * afresh, and faulting their pages in, took most of a small launch's time. */
static char *stack_pool[16];
static size_t stack_pool_size[16];

static char *pooled_stacks(int w, size_t bytes) {
	if (stack_pool_size[w] < bytes) {
		free(stack_pool[w]);
		stack_pool[w] = aligned_alloc(64, bytes);
		stack_pool_size[w] = stack_pool[w] ? bytes : 0;
	}
	return stack_pool[w];
}

/* worker runs blocks w, w+workers, ... */
static void *worker(void *p) {
	struct job *j = p;
	threadIdx.y = threadIdx.z = 0;
	blockIdx.y = blockIdx.z = 0;
	if (syncs) {
		int ok = fibers_alloc(blockDim.x);
		finished = calloc(blockDim.x, sizeof *finished);
		stacks = pooled_stacks(j->w, (size_t)blockDim.x * STACK);
		if (!ok || !finished || !stacks) {
			snprintf(j->err, sizeof j->err, "emu: out of memory for %u fiber stacks", blockDim.x);
			j->failed = 1;
		}
	}
	for (int b = j->w; b < grid && !j->failed; b += workers) {
		blockIdx.x = b;
		if (syncs) {
			j->failed = run_fibers(j->err, sizeof j->err);
			continue;
		}
		for (unsigned i = 0; i < blockDim.x; i++) {
			threadIdx.x = reverse ? blockDim.x - 1 - i : i;
			fn();
		}
	}
	if (syncs) {
		fibers_free();
		free(finished);
		finished = NULL;
		stacks = NULL;
	}
	return NULL;
}

int emu_launch(int i, int g, int block, const uint64_t *args, int nargs, int flags, char *err, size_t errlen) {
	if (i < 0 || i >= NKERNELS || g < 1 || block < 1 || block > 1024 || nargs < 0 || nargs > 32) {
		snprintf(err, errlen, "emu: bad launch: kernel %d, %d blocks of %d threads, %d arguments", i, g, block, nargs);
		return 1;
	}
	memset(slot, 0, sizeof slot);
	memcpy(slot, args, nargs * sizeof *args);
	misaligned[0] = 0;
	grid = g;
	blockDim.x = block;
	blockDim.y = blockDim.z = 1;
	gridDim.x = g;
	gridDim.y = gridDim.z = 1;
	fn = table[i].run;
	running = table[i].name;
	syncs = table[i].sync;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	workers = (int)(cpus < 1 ? 1 : cpus > 16 ? 16 : cpus);
	if (flags & EMU_SERIAL) workers = 1;
	if (workers > g) workers = g;
	reverse = (flags & EMU_REVERSE) != 0;
	struct job jobs[16];
	pthread_t th[16];
	int started = 0;
	for (int w = 0; w < workers; w++) {
		jobs[w].w = w;
		jobs[w].failed = 0;
		jobs[w].err[0] = 0;
	}
	if (workers == 1) {
		worker(&jobs[0]);
		started = 1;
	} else {
		for (; started < workers; started++)
			if (pthread_create(&th[started], NULL, worker, &jobs[started])) break;
		for (int w = 0; w < started; w++) pthread_join(th[w], NULL);
	}
	for (int w = 0; w < started; w++)
		if (jobs[w].failed) {
			snprintf(err, errlen, "%s", jobs[w].err);
			return 1;
		}
	if (started < workers) {
		snprintf(err, errlen, "emu: could not start %d threads for %s", workers, running);
		return 1;
	}
	if (misaligned[0]) {
		snprintf(err, errlen, "%s", misaligned);
		return 1;
	}
	return 0;
}
