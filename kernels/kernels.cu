// kernels.cu: cnngpu's own CUDA kernels, for what cuDNN and cuBLAS do not
// do in one launch: batch assembly on the device, bias + activation and its
// gradient, bias gradients, max-pooling with argmax, softmax cross-entropy
// with on-device statistics, and the optimizer updates over one flat
// parameter buffer. Each mirrors the CPU engine's op of the same name
// (engine/cpu) and is checked against the float64 reference by the
// conformance suite. `make kernels` compiles this file to kernels.ptx.
//
// Activation codes follow engine.Activation: 0 identity, 1 ReLU,
// 2 sigmoid, 3 tanh.
//
// The file is also valid C (no references or templates; extern "C" only
// under C++), so that kernels/emu compiles it for the CPU, where
// kernels/emu_test.go runs every kernel against a float64 reference
// without a GPU.

#ifdef __cplusplus
extern "C" {
#endif

// UNROLL asks nvcc to unroll a loop with a trip count known at compile
// time (gcc, compiling this file for the emulator, has no such pragma).
#ifdef __CUDACC__
#define UNROLL _Pragma("unroll")
#else
#define UNROLL
#endif

// V4(p): the float4 at p, one 16-byte access; p must be 16-byte aligned
// (a GPU faults on one that is not; the emulator reports it).
#ifdef __CUDACC__
#define V4(p) (*(float4 *)(p))
#else
#define V4(p) (*(float4 *)emu_aligned16(p))
#endif

// Index arithmetic is in 32 bits wherever the tensor has fewer than 2^31
// elements (every tensor of the reference network at any batch a GPU
// holds): 64-bit division takes several times the instructions, and the
// elementwise kernels are otherwise limited by memory alone.
#define FITS32(n) ((n) <= 2147483647LL)

// split: *q = i / d and *r = i % d for an element index i of a tensor of
// total elements, in 32 bits when total fits.
__device__ __forceinline__ void split(long long i, int d, long long total, int *q, int *r) {
    if (FITS32(total)) {
        int u = (int)((unsigned)i / (unsigned)d);
        *q = u;
        *r = (int)i - u * d;
    } else {
        *q = (int)(i / d);
        *r = (int)(i % d);
    }
}

// philox4x32_10: Philox4x32-10 (Salmon et al., SC'11) of counter c under
// key (k0, k1), in place; engine.Philox4x32 is its Go twin.
__device__ __forceinline__ void philox4x32_10(unsigned *c, unsigned k0, unsigned k1) {
    UNROLL
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned long long p0 = (unsigned long long)0xD2511F53u * c[0];
        unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c[2];
        unsigned n0 = (unsigned)(p1 >> 32) ^ c[1] ^ k0;
        unsigned n2 = (unsigned)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = (unsigned)p1;
        c[2] = n2;
        c[3] = (unsigned)p0;
    }
}

// two_unit24: twice a Philox word's top 24 bits over 2^24, a float in
// [0, 2), exactly (engine's twoUnit32): one multiplication by 2^-23, which
// nothing can fuse.
__device__ __forceinline__ float two_unit24(unsigned w) { return (float)(w >> 8) * 1.1920928955078125e-7f; }

// pixel_at: image img's pixel (r, c) as a float, 0 outside side×side.
__device__ __forceinline__ float pixel_at(const unsigned char *img, int side, int r, int c) {
    return (r >= 0 && r < side && c >= 0 && c < side) ? (float)img[r * side + c] : 0.0f;
}

// gather: x[k,j] = images[perm[cursor+k], j] / 255, y[k] = labels[...].
// x: (n,pixels) f32, y: (n) i32; one thread per pixel. With shift > 0
// (augmentation), image idx is translated by (dx, dy) drawn from
// Philox4x32-10 of counter (idx, epoch = cursor[1], 0, 0) under the key
// (seed_lo, seed_hi), each word modulo 2*shift+1, minus shift; pixels
// that come from outside the side×side image are 0 (engine.ShiftImage).
// With tmax > 0 or smax > 0 the image is also turned and scaled about its
// centre before the translation, its pixel the bilinear sample of the
// source there (engine.DrawWarp and engine.WarpImage: the third word
// draws the rotation's half-angle tangent, the fourth the scale; every
// operation rounded on its own, __fmul_rn and its kin, so that the bits
// are the CPU engine's).
__global__ void gather(const unsigned char *images, const int *labels, const int *perm, const int *cursor,
                       float *x, int *y, int n, int pixels, int shift, int side, int seed_lo, int seed_hi,
                       float tmax, float smax) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)n * pixels;
    if (i >= total) return;
    int k, j;
    split(i, pixels, total, &k, &j);
    int idx = perm[cursor[0] + k];
    const unsigned char *img = images + (long long)idx * pixels;
    float v;
    if (tmax > 0.0f || smax > 0.0f) {
        unsigned c[4] = {(unsigned)idx, (unsigned)cursor[1], 0u, 0u};
        philox4x32_10(c, (unsigned)seed_lo, (unsigned)seed_hi);
        int dx = 0, dy = 0;
        if (shift > 0) {
            unsigned m = 2u * (unsigned)shift + 1u;
            dx = (int)(c[0] % m) - shift;
            dy = (int)(c[1] % m) - shift;
        }
        float t = __fmul_rn(tmax, __fsub_rn(two_unit24(c[2]), 1.0f));
        float t2 = __fmul_rn(t, t);
        float den = __fadd_rn(1.0f, t2);
        float cs = __fdiv_rn(__fsub_rn(1.0f, t2), den), sn = __fdiv_rn(2.0f * t, den);
        float inv = __fdiv_rn(1.0f, __fadd_rn(1.0f, __fmul_rn(smax, __fsub_rn(two_unit24(c[3]), 1.0f))));
        int r = j / side, col = j - r * side;
        float ctr = (float)(side - 1) * 0.5f;
        float py = __fsub_rn((float)(r - dy), ctr), px = __fsub_rn((float)(col - dx), ctr);
        float sy = __fadd_rn(__fmul_rn(__fsub_rn(__fmul_rn(cs, py), __fmul_rn(sn, px)), inv), ctr);
        float sx = __fadd_rn(__fmul_rn(__fadd_rn(__fmul_rn(sn, py), __fmul_rn(cs, px)), inv), ctr);
        float y0 = floorf(sy), x0 = floorf(sx);
        float fy = __fsub_rn(sy, y0), fx = __fsub_rn(sx, x0);
        float gy = __fsub_rn(1.0f, fy), gx = __fsub_rn(1.0f, fx);
        int iy = (int)y0, ix = (int)x0;
        float top = __fadd_rn(__fmul_rn(gx, pixel_at(img, side, iy, ix)), __fmul_rn(fx, pixel_at(img, side, iy, ix + 1)));
        float bot = __fadd_rn(__fmul_rn(gx, pixel_at(img, side, iy + 1, ix)), __fmul_rn(fx, pixel_at(img, side, iy + 1, ix + 1)));
        v = __fdiv_rn(__fadd_rn(__fmul_rn(gy, top), __fmul_rn(fy, bot)), 255.0f);
    } else if (shift > 0) {
        unsigned c[4] = {(unsigned)idx, (unsigned)cursor[1], 0u, 0u};
        philox4x32_10(c, (unsigned)seed_lo, (unsigned)seed_hi);
        unsigned m = 2u * (unsigned)shift + 1u;
        int dx = (int)(c[0] % m) - shift, dy = (int)(c[1] % m) - shift;
        int r = j / side, col = j - r * side;
        int sr = r - dy, sc = col - dx;
        v = (sr >= 0 && sr < side && sc >= 0 && sc < side) ? (float)img[sr * side + sc] / 255.0f : 0.0f;
    } else {
        v = (float)img[j] / 255.0f;
    }
    x[i] = v;
    if (j == 0) y[k] = labels[idx];
}

// advance: cursor += n (after gather, in its own launch so every gather
// thread saw the old value).
__global__ void advance(int *cursor, int n) {
    if (blockIdx.x == 0 && threadIdx.x == 0) cursor[0] += n;
}

__device__ __forceinline__ float act_f(float v, int act) {
    switch (act) {
    case 1: return v > 0.0f ? v : 0.0f;
    case 2: return 1.0f / (1.0f + expf(-v));
    case 3: return tanhf(v);
    }
    return v;
}

// bias_act: y[i] = act(y[i] + b[(i / inner) % k]). Convolutions pass
// inner = P*Q (bias per channel), dense layers inner = 1 (bias per column).
__global__ void bias_act(float *y, const float *b, long long total, int inner, int k, int act) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int c = FITS32(total) ? (int)((unsigned)i / (unsigned)inner % (unsigned)k) : (int)((i / inner) % k);
    y[i] = act_f(y[i] + b[c], act);
}

// first_conv: y = act(conv(x, w) + b) for a single-channel convolution
// (C = 1, stride 1: the first layer), one thread per image pixel of the
// output: its R×S input values go to registers once, then every output
// channel's sum over the taps (in tap order), bias and activation, one
// write each (consecutive threads, consecutive pixels). x: (nb,1,h,w),
// w: (k,1,R,S), b: (k), y: (nb,k,P,Q); outside the image x counts as 0.
__device__ __forceinline__ void first_conv(float *y, const float *x, const float *wt, const float *b, int nb, int k,
                                           int h, int w, int pad, int act, const int R, const int S) {
    int P = h + 2 * pad - R + 1, Q = w + 2 * pad - S + 1, pq = P * Q;
    long long total = (long long)nb * pq;
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= total) return;
    int n, p;
    split(o, pq, total, &n, &p);
    int i = p / Q, j = p - i * Q;
    const float *xn = x + (long long)n * h * w;
    float xv[25]; // R*S of them: 9 or 25
    UNROLL for (int r = 0; r < R; r++) {
        int xi = i + r - pad;
        int row = xi >= 0 && xi < h;
        UNROLL for (int s = 0; s < S; s++) {
            int xj = j + s - pad;
            xv[r * S + s] = (row && xj >= 0 && xj < w) ? xn[xi * w + xj] : 0.0f;
        }
    }
    float *yp = y + (long long)n * k * pq + p;
    for (int c = 0; c < k; c++) {
        const float *wc = wt + c * R * S;
        float sum = 0.0f;
        UNROLL for (int t = 0; t < R * S; t++) sum += wc[t] * xv[t];
        yp[(long long)c * pq] = act_f(sum + b[c], act);
    }
}
__global__ void first_conv3(float *y, const float *x, const float *wt, const float *b, int nb, int k, int h, int w,
                            int pad, int act) {
    first_conv(y, x, wt, b, nb, k, h, w, pad, act, 3, 3);
}
__global__ void first_conv5(float *y, const float *x, const float *wt, const float *b, int nb, int k, int h, int w,
                            int pad, int act) {
    first_conv(y, x, wt, b, nb, k, h, w, pad, act, 5, 5);
}

// pool2: the max of a 2×2 window's four values v (in the window's order:
// top-left, top-right, bottom-left, bottom-right) to *out and its index in
// the pooled tensor to *arg, as maxpool picks it: the first maximum wins.
// base is the top-left value's index, rowlen the tensor's row length.
__device__ __forceinline__ void pool2(const float *v, long long base, int rowlen, float *out, int *arg) {
    float bv = v[0];
    long long best = base;
    if (v[1] > bv) { bv = v[1]; best = base + 1; }
    if (v[2] > bv) { bv = v[2]; best = base + rowlen; }
    if (v[3] > bv) { bv = v[3]; best = base + rowlen + 1; }
    *out = bv;
    *arg = (int)best;
}

// POOL_GROUP is how many output channels one thread of first_conv_pool
// computes: four groups for the first layer's 32, so that a batch of 128
// has 100,352 threads (one per pooled pixel would leave 25,088, too few
// to fill a GPU).
#define POOL_GROUP 8

// first_conv_pool: first_conv, then maxpool with 2×2 windows over its
// output, in one pass (P and Q even). One thread per pooled pixel and
// group of POOL_GROUP channels (the group is the slower index): its
// (R+1)×(S+1) input patch goes to registers, then for each channel the
// window's four sums in first_conv's order (so y has first_conv's bits),
// bias and activation, four writes of y (which the backward pass reads),
// and the window's maximum to p and its index in y to arg, as maxpool
// writes them. x: (nb,1,h,w), w: (k,1,R,S), b: (k), y: (nb,k,P,Q),
// p, arg: (nb,k,P/2,Q/2). Only 3×3 filters have a kernel: with 5×5 the
// 36 inputs and the sums take 92 registers (the 5×5 preset runs
// first_conv5 and maxpool).
__device__ __forceinline__ void first_conv_pool(float *y, float *pout, int *arg, const float *x, const float *wt,
                                                const float *b, int nb, int k, int h, int w, int pad, int act,
                                                const int R, const int S) {
    int P = h + 2 * pad - R + 1, Q = w + 2 * pad - S + 1, pq = P * Q;
    int QH = Q / 2, opq = (P / 2) * QH;
    int outs = nb * opq; // the engine launches this only when it fits
    int groups = (k + POOL_GROUP - 1) / POOL_GROUP;
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)outs * groups) return;
    int g, o, n, q;
    split(t, outs, (long long)outs * groups, &g, &o);
    split(o, opq, outs, &n, &q);
    int pi = q / QH, pj = q - pi * QH;
    int i0 = 2 * pi, j0 = 2 * pj;
    const float *xn = x + (long long)n * h * w;
    float xv[36]; // (R+1)*(S+1) of them, R and S at most 5
    UNROLL for (int r = 0; r <= R; r++) {
        int xi = i0 + r - pad;
        int row = xi >= 0 && xi < h;
        UNROLL for (int s = 0; s <= S; s++) {
            int xj = j0 + s - pad;
            xv[r * (S + 1) + s] = (row && xj >= 0 && xj < w) ? xn[xi * w + xj] : 0.0f;
        }
    }
    int c1 = (g + 1) * POOL_GROUP;
    if (c1 > k) c1 = k;
    for (int c = g * POOL_GROUP; c < c1; c++) {
        const float *wc = wt + c * R * S;
        float v[4];
        UNROLL for (int a = 0; a < 2; a++) {
            UNROLL for (int e = 0; e < 2; e++) {
                float sum = 0.0f;
                UNROLL for (int r = 0; r < R; r++) {
                    UNROLL for (int s = 0; s < S; s++) sum += wc[r * S + s] * xv[(r + a) * (S + 1) + s + e];
                }
                v[2 * a + e] = act_f(sum + b[c], act);
            }
        }
        long long plane = (long long)n * k + c;
        long long base = plane * pq + (long long)i0 * Q + j0;
        y[base] = v[0];
        y[base + 1] = v[1];
        y[base + Q] = v[2];
        y[base + Q + 1] = v[3];
        pool2(v, base, Q, pout + plane * opq + q, arg + plane * opq + q);
    }
}
__global__ void first_conv_pool3(float *y, float *pout, int *arg, const float *x, const float *wt, const float *b, int nb,
                                 int k, int h, int w, int pad, int act) {
    first_conv_pool(y, pout, arg, x, wt, b, nb, k, h, w, pad, act, 3, 3);
}

// bias_act_pool: bias_act on a convolution's output y (planes = nb·k
// planes of P×Q, P and Q even, bias per channel), then maxpool with 2×2
// windows into p and arg, in one pass: one thread per pooled element,
// reading and writing its window's four values once.
__global__ void bias_act_pool(float *y, float *pout, int *arg, const float *b, int planes, int k, int P, int Q, int act) {
    int QH = Q / 2, opq = (P / 2) * QH;
    long long total = (long long)planes * opq;
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= total) return;
    int pl, q;
    split(o, opq, total, &pl, &q);
    int pi = q / QH, pj = q - pi * QH;
    float bc = b[pl % k];
    long long base = (long long)pl * P * Q + (long long)(2 * pi) * Q + 2 * pj;
    float v[4];
    v[0] = act_f(y[base] + bc, act);
    v[1] = act_f(y[base + 1] + bc, act);
    v[2] = act_f(y[base + Q] + bc, act);
    v[3] = act_f(y[base + Q + 1] + bc, act);
    y[base] = v[0];
    y[base + 1] = v[1];
    y[base + Q] = v[2];
    y[base + Q + 1] = v[3];
    pool2(v, base, Q, pout + o, arg + o);
}

// conv3: a 3×3 convolution with padding 1 (stride 1, so P = h, Q = w) as an
// implicit GEMM of our own, for a layer after the first (many input
// channels; cuDNN's kernels run the reference network's second layer at
// 16–18 TFLOP/s). A block takes one image and kb output channels (kb a
// multiple of CONV3_KT, at most CONV3_KB; the engine launches
// (w/2)·(h/2)·kb/CONV3_KT threads a block, exactly); a thread takes one
// 2×2 window of the output and CONV3_KT channels: 4·CONV3_KT sums in
// registers. The input channels go through shared memory CONV3_CT at a
// time: their planes with a zero border, (h+2)·CONV3_PITCH(w) ≤
// CONV3_PLANE floats each (rows CONV3_PITCH(w) floats apart, 7 more than
// a multiple of 16, not w+2: a warp's windows, of several rows, then meet
// 2.5 to a bank on average at 14×14, against 5 with rows 16 apart), and
// the block's weights for them. For each input channel a thread
// reads its window's 4×4 input patch once (the 3×3 taps of four pixels)
// and each tap's CONV3_KT weights (the same for the threads of a channel
// group, which a warp mostly is). conv3_pool adds the bias, the activation
// and a 2×2 max-pool; conv3_data is a convolution's data gradient (the
// same product with the filters transposed and turned by 180°).
// Sums in the order of the input channels, then taps (r, s).
// 32-bit indices: the engine launches them only when every tensor fits.
// STAGE: the global loads a thread has in flight while it stages shared
// memory (each would otherwise wait for L2 before the next is issued,
// with every warp of the block at the same point). With 8, ptxas (11.8,
// sm_90) moved stores in between the loads of conv3_data's loops, each
// waiting for its load: more round trips than with 4
// (TestStagingLoadsInFlight).
#define STAGE 4

// digits3: an element index i of a box of (any)×nb×nc as its digits
// (a, b, c), i = (a·nb + b)·nc + c, so that the staging loops step a
// thread's index by the block size with a few adds and two carries
// instead of divisions by run-time sizes for every element.
typedef struct {
    int a, b, c;
} digits3;
__device__ __forceinline__ digits3 digits_of(int i, int nb, int nc) {
    digits3 d;
    int q = i / nc;
    d.c = i - q * nc;
    d.a = q / nb;
    d.b = q - d.a * nb;
    return d;
}
// digits_step: p += d (both digits of the same box; each digit below its
// size, so that one carry a digit suffices).
__device__ __forceinline__ void digits_step(digits3 *p, digits3 d, int nb, int nc) {
    p->c += d.c;
    if (p->c >= nc) {
        p->c -= nc;
        p->b++;
    }
    p->b += d.b;
    if (p->b >= nb) {
        p->b -= nb;
        p->a++;
    }
    p->a += d.a;
}
#define CONV3_KT 8
#define CONV3_KB 32
#define CONV3_CT 8
#define CONV3_PLANE 368
#define CONV3_PITCH(w) ((w) + 2 + ((7 - ((w) + 2)) & 15))
// CONV3_WS: the weights' row stride in shared memory, a multiple of 4 (a
// thread's CONV3_KT weights of a tap in two 16-byte loads) that spreads
// the staging stores over the banks.
#define CONV3_WS (CONV3_KB + 4)

// conv3_tile: acc[j][q] += the window (oh, ow)'s pixel q (top-left,
// top-right, bottom-left, bottom-right) of output channel k0 + g·CONV3_KT
// + j, over cin input planes of x (one image: (cin,h,w)). The filter of
// output channel o and input channel c, tap t = r·3 + s, is wt[o·so +
// c·si + t] (flip: tap 8 − t). xs and ws are the block's shared memory
// (CONV3_CT·CONV3_PLANE and CONV3_CT·9·CONV3_WS floats). Every thread of
// the block must call it.
__device__ __forceinline__ void conv3_tile(float acc[CONV3_KT][4], float *xs, float *ws, const float *x, const float *wt,
                                           int cin, int h, int w, int k0, int kb, int so, int si, int flip, int g,
                                           int oh, int ow) {
    int tid = threadIdx.x, bd = blockDim.x;
    int pw = CONV3_PITCH(w), plane = (h + 2) * pw;
    digits3 x0 = digits_of(tid, h + 2, pw), xd = digits_of(bd, h + 2, pw); // (channel, row, column)
    for (int c0 = 0; c0 < cin; c0 += CONV3_CT) {
        int cn = cin - c0 < CONV3_CT ? cin - c0 : CONV3_CT;
        __syncthreads(); // the previous channels are used up
        digits3 p = x0;
        for (int i0 = tid; i0 < cn * plane; i0 += STAGE * bd) {
            float r[STAGE];
            UNROLL for (int u = 0; u < STAGE; u++) {
                int xi = p.b - 1, xj = p.c - 1;
                r[u] = (p.a < cn && xi >= 0 && xi < h && xj >= 0 && xj < w) ? x[((c0 + p.a) * h + xi) * w + xj] : 0.0f;
                digits_step(&p, xd, h + 2, pw);
            }
            UNROLL for (int u = 0; u < STAGE; u++) {
                if (i0 + u * bd < cn * plane) xs[i0 + u * bd] = r[u];
            }
        }
        // (output channel, input channel, tap): consecutive threads read
        // consecutive taps (the filters' own order).
        digits3 q = digits_of(tid, cn, 9), qd = digits_of(bd, cn, 9);
        for (int i0 = tid; i0 < kb * cn * 9; i0 += STAGE * bd) {
            float r[STAGE];
            int at[STAGE];
            UNROLL for (int u = 0; u < STAGE; u++) {
                at[u] = q.a < kb ? (q.b * 9 + q.c) * CONV3_WS + q.a : -1;
                r[u] = q.a < kb ? wt[(k0 + q.a) * so + (c0 + q.b) * si + (flip ? 8 - q.c : q.c)] : 0.0f;
                digits_step(&q, qd, cn, 9);
            }
            UNROLL for (int u = 0; u < STAGE; u++) {
                if (at[u] >= 0) ws[at[u]] = r[u];
            }
        }
        __syncthreads();
        for (int cc = 0; cc < cn; cc++) {
            const float *xp = xs + cc * plane + 2 * oh * pw + 2 * ow;
            float v[4][4];
            UNROLL for (int a = 0; a < 4; a++) {
                UNROLL for (int b = 0; b < 4; b++) v[a][b] = xp[a * pw + b];
            }
            const float *wp = ws + cc * 9 * CONV3_WS + g * CONV3_KT;
            UNROLL for (int r = 0; r < 3; r++) {
                UNROLL for (int s = 0; s < 3; s++) {
                    UNROLL for (int j = 0; j < CONV3_KT; j++) {
                        float wv = wp[(r * 3 + s) * CONV3_WS + j];
                        acc[j][0] += wv * v[r][s];
                        acc[j][1] += wv * v[r][s + 1];
                        acc[j][2] += wv * v[r + 1][s];
                        acc[j][3] += wv * v[r + 1][s + 1];
                    }
                }
            }
        }
    }
}

// conv3_place: where a thread of conv3_pool or conv3_data works: its
// image n, its block's first output channel k0 (of ch, kb a block), its
// channel group g within the block, its window win (oh, ow) of wins.
typedef struct {
    int n, k0, g, win, wins, oh, ow;
} conv3_place;
__device__ __forceinline__ conv3_place conv3_where(int ch, int kb, int h, int w) {
    conv3_place p;
    int per = ch / kb, qw = w / 2;
    p.n = blockIdx.x / per;
    p.k0 = (blockIdx.x - p.n * per) * kb;
    p.wins = (h / 2) * qw;
    p.g = threadIdx.x / p.wins;
    p.win = threadIdx.x - p.g * p.wins;
    p.oh = p.win / qw;
    p.ow = p.win - p.oh * qw;
    return p;
}

// conv3_pool: y = act(conv3(x, w) + b), then, unless pout is null (a
// convolution alone, with the same bits in y), maxpool with 2×2 windows
// into p and arg, as bias_act_pool writes them after cuDNN's convolution.
// x: (nb,cin,h,w), w: (k,cin,3,3), b: (k), y: (nb,k,h,w), p and arg:
// (nb,k,h/2,w/2); h and w even, k a multiple of kb. Block b: image b /
// (k/kb), channels (b % (k/kb))·kb on.
__global__ void conv3_pool(float *y, float *pout, int *arg, const float *x, const float *wt, const float *b, int cin,
                           int k, int h, int w, int kb, int act) {
    __shared__ float xs[CONV3_CT * CONV3_PLANE];
    __shared__ float ws[CONV3_CT * 9 * CONV3_WS];
    conv3_place at = conv3_where(k, kb, h, w);
    float acc[CONV3_KT][4];
    UNROLL for (int j = 0; j < CONV3_KT; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    conv3_tile(acc, xs, ws, x + at.n * cin * h * w, wt, cin, h, w, at.k0, kb, cin * 9, 9, 0, at.g, at.oh, at.ow);
    UNROLL for (int j = 0; j < CONV3_KT; j++) {
        int c = at.k0 + at.g * CONV3_KT + j, pl = at.n * k + c;
        float bc = b[c], v[4];
        UNROLL for (int q = 0; q < 4; q++) v[q] = act_f(acc[j][q] + bc, act);
        int base = pl * h * w + 2 * at.oh * w + 2 * at.ow;
        y[base] = v[0];
        y[base + 1] = v[1];
        y[base + w] = v[2];
        y[base + w + 1] = v[3];
        if (pout) pool2(v, base, w, pout + pl * at.wins + at.win, arg + pl * at.wins + at.win);
    }
}

// conv3_data: a 3×3, padding-1 convolution's data gradient,
//   dx[n,c,i,j] = sum over o, r, s of dz[n,o,i+r-1,j+s-1] · w[o,c,2-r,2-s],
// which is conv3 of dz with the filters transposed and turned.
// dz: (nb,kin,h,w), w: (kin,c,3,3), dx: (nb,c,h,w) (overwritten); h and w
// even, c a multiple of kb. Block b: image b / (c/kb), channels
// (b % (c/kb))·kb on.
__global__ void conv3_data(float *dx, const float *dz, const float *wt, int kin, int c, int h, int w, int kb) {
    __shared__ float xs[CONV3_CT * CONV3_PLANE];
    __shared__ float ws[CONV3_CT * 9 * CONV3_WS];
    conv3_place at = conv3_where(c, kb, h, w);
    float acc[CONV3_KT][4];
    UNROLL for (int j = 0; j < CONV3_KT; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    conv3_tile(acc, xs, ws, dz + at.n * kin * h * w, wt, kin, h, w, at.k0, kb, 9, c * 9, 1, at.g, at.oh, at.ow);
    UNROLL for (int j = 0; j < CONV3_KT; j++) {
        int base = (at.n * c + at.k0 + at.g * CONV3_KT + j) * h * w + 2 * at.oh * w + 2 * at.ow;
        dx[base] = acc[j][0];
        dx[base + 1] = acc[j][1];
        dx[base + w] = acc[j][2];
        dx[base + w + 1] = acc[j][3];
    }
}

// conv3_filter: the filter gradient of a 3×3, padding-1 convolution,
//   dw[o,c,r,s] = sum over n, i, j of dz[n,o,i,j] · x[n,c,i+r-1,j+s-1],
// as partial sums over slices of the nb·h image rows: block b takes rows
// [b·nb·h/splits, (b+1)·nb·h/splits) and writes its k·cin·9 sums to
// partial[b·k·cin·9 ...] (sum_partials adds them, with strides 1 and
// k·cin·9). A thread takes one input
// channel c and CONV3F_KT output channels: 9·CONV3F_KT sums in registers
// (threads = cin · k/CONV3F_KT, the channel the faster index, so that a
// warp's threads share their dz values). For each row, its dz (pixel-
// major, CONV3F_DS floats a pixel, so that a thread's CONV3F_KT values are
// two 16-byte loads) and the three x rows around it of every channel (with a zero
// border, CONV3F_XS floats a channel: odd, so that the channels of a warp
// meet no common bank) go to shared memory; a thread then slides its 3×3
// x window along the row, three new loads a pixel. dz, x: (nb,k,h,w),
// (nb,cin,h,w); k a multiple of CONV3F_KT, at most CONV3F_K; cin at most
// CONV3F_C; w at most CONV3F_W.
#define CONV3F_KT 8
#define CONV3F_K 64
#define CONV3F_C 32
#define CONV3F_W 14
#define CONV3F_XS (3 * (CONV3F_W + 2) + 1)
// CONV3F_DS: a pixel's dz in shared memory, a multiple of 4 (16-byte
// loads) that spreads the staging stores of consecutive pixels over 8
// banks.
#define CONV3F_DS (CONV3F_K + 4)
__global__ void conv3_filter(float *partial, const float *dz, const float *x, int nb, int cin, int k, int h, int w,
                             int splits) {
    __shared__ float dzs[CONV3F_W * CONV3F_DS];
    __shared__ float xs[CONV3F_C * CONV3F_XS];
    int tid = threadIdx.x, bd = blockDim.x;
    int c = tid % cin, k0 = (tid / cin) * CONV3F_KT;
    int rows = nb * h, sp = blockIdx.x;
    int r0 = (int)((long long)sp * rows / splits), r1 = (int)((long long)(sp + 1) * rows / splits);
    int pw = w + 2;
    digits3 d0 = digits_of(tid, 1, w), dd = digits_of(bd, 1, w);
    digits3 x0 = digits_of(tid, 3, pw), xd = digits_of(bd, 3, pw);
    float acc[CONV3F_KT][9];
    UNROLL for (int j = 0; j < CONV3F_KT; j++) {
        UNROLL for (int t = 0; t < 9; t++) acc[j][t] = 0.0f;
    }
    for (int row = r0; row < r1; row++) {
        int n = row / h, i = row - n * h;
        __syncthreads(); // the previous row is used up
        digits3 p = d0; // (output channel, 0, column)
        for (int e0 = tid; e0 < k * w; e0 += STAGE * bd) {
            float r[STAGE];
            int at[STAGE];
            UNROLL for (int u = 0; u < STAGE; u++) {
                at[u] = p.a < k ? p.c * CONV3F_DS + p.a : -1;
                r[u] = p.a < k ? dz[((n * k + p.a) * h + i) * w + p.c] : 0.0f;
                digits_step(&p, dd, 1, w);
            }
            UNROLL for (int u = 0; u < STAGE; u++) {
                if (at[u] >= 0) dzs[at[u]] = r[u];
            }
        }
        digits3 q = x0; // (channel, row around i, column)
        for (int e0 = tid; e0 < cin * 3 * pw; e0 += STAGE * bd) {
            float r[STAGE];
            int at[STAGE];
            UNROLL for (int u = 0; u < STAGE; u++) {
                int xi = i + q.b - 1, xj = q.c - 1;
                at[u] = q.a < cin ? q.a * CONV3F_XS + q.b * pw + q.c : -1;
                r[u] = (q.a < cin && xi >= 0 && xi < h && xj >= 0 && xj < w) ? x[((n * cin + q.a) * h + xi) * w + xj] : 0.0f;
                digits_step(&q, xd, 3, pw);
            }
            UNROLL for (int u = 0; u < STAGE; u++) {
                if (at[u] >= 0) xs[at[u]] = r[u];
            }
        }
        __syncthreads();
        const float *xc = xs + c * CONV3F_XS;
        float v[3][3];
        UNROLL for (int a = 0; a < 3; a++) {
            v[a][0] = xc[a * pw];
            v[a][1] = xc[a * pw + 1];
        }
        for (int j = 0; j < w; j++) {
            UNROLL for (int a = 0; a < 3; a++) v[a][2] = xc[a * pw + j + 2];
            const float *d = dzs + j * CONV3F_DS + k0;
            UNROLL for (int o = 0; o < CONV3F_KT; o++) {
                float g = d[o];
                UNROLL for (int a = 0; a < 3; a++) {
                    UNROLL for (int b = 0; b < 3; b++) acc[o][a * 3 + b] += g * v[a][b];
                }
            }
            UNROLL for (int a = 0; a < 3; a++) {
                v[a][0] = v[a][1];
                v[a][1] = v[a][2];
            }
        }
    }
    if (tid < cin * (k / CONV3F_KT)) {
        float *out = partial + (long long)sp * k * cin * 9;
        UNROLL for (int o = 0; o < CONV3F_KT; o++) {
            UNROLL for (int t = 0; t < 9; t++) out[((k0 + o) * cin + c) * 9 + t] = acc[o][t];
        }
    }
}

// act_grad: dz = dy * act'(y), act' expressed through the output y.
__global__ void act_grad(float *dz, const float *dy, const float *y, long long total, int act) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float g = dy[i], v = y[i];
    switch (act) {
    case 1: g = v > 0.0f ? g : 0.0f; break;
    case 2: g = g * v * (1.0f - v); break;
    case 3: g = g * (1.0f - v * v); break;
    }
    dz[i] = g;
}

// block_sum: the sum of every thread's s over the block, added in a fixed
// order (a tree in part, blockDim.x floats of shared memory; blockDim.x a
// power of two), valid in thread 0. Every thread of the block must call
// it.
__device__ __forceinline__ float block_sum(float *part, float s) {
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    return part[0];
}

// bias_grad: db[c] = sum over n < nb and p < inner of dz[(n*k + c)*inner + p].
// One block per channel; a fixed summation order, so results repeat.
__device__ __forceinline__ void bias_grad_block(int c, float *db, const float *dz, int nb, int k, int inner) {
    __shared__ float part[256];
    float s = 0.0f;
    long long count = (long long)nb * inner;
    for (long long e = threadIdx.x; e < count; e += blockDim.x) {
        long long n = e / inner, p = e % inner;
        s += dz[(n * k + c) * inner + p];
    }
    s = block_sum(part, s);
    if (threadIdx.x == 0) db[c] = s;
}
__global__ void bias_grad(float *db, const float *dz, int nb, int k, int inner) {
    bias_grad_block(blockIdx.x, db, dz, nb, k, inner);
}

__device__ __forceinline__ float act_d(float g, float v, int act) {
    switch (act) {
    case 1: return v > 0.0f ? g : 0.0f;
    case 2: return g * v * (1.0f - v);
    case 3: return g * (1.0f - v * v);
    }
    return g;
}

// act_bias_grad: for a convolution's output gradient dy (nb,k,inner) and
// output y: dz = dy * act'(y) (written when dz is not null) and per-block
// partial sums of dz for the bias gradient. Block b handles channel
// b / splits and the images of its slice b % splits of nb, so that many
// blocks share a channel; sum_partials adds the slices in a fixed order.
__global__ void act_bias_grad(float *dz, float *partial, const float *dy, const float *y, int nb, int k, int inner,
                              int splits, int act) {
    __shared__ float part[256];
    int c = blockIdx.x / splits, sp = blockIdx.x % splits;
    int n0 = (int)((long long)sp * nb / splits), n1 = (int)((long long)(sp + 1) * nb / splits);
    int count = (n1 - n0) * inner;
    float s = 0.0f;
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
        int n = n0 + e / inner, p = e % inner;
        long long i = ((long long)n * k + c) * inner + p;
        float g = act_d(dy[i], y[i], act);
        if (dz) dz[i] = g;
        s += g;
    }
    s = block_sum(part, s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// sum_partials: out[i] = sum over j < splits of partial[i*is + j*js], in
// order; one thread per output, n outputs. The blocks' partial sums of
// act_bias_grad and pool_back_act lie output by output (is = splits,
// js = 1), conv3_filter's slice by slice (is = 1, js = n).
__global__ void sum_partials(float *out, const float *partial, int n, int splits, int is, int js) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = 0.0f;
    for (int j = 0; j < splits; j++) s += partial[(long long)i * is + (long long)j * js];
    out[i] = s;
}

// sum_partials2: sum_partials over n outputs, the first na of them into a
// and the rest into b (a layer's filter and bias gradients, which are
// separate tensors).
__global__ void sum_partials2(float *a, int na, float *b, const float *partial, int n, int splits) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = 0.0f;
    for (int j = 0; j < splits; j++) s += partial[(long long)i * splits + j];
    if (i < na) a[i] = s;
    else b[i - na] = s;
}

// pool_back_act: maxpool_back (2×2 windows over an even P×Q, so every
// element is in one window), then act_grad, and, when partial is not
// null, act_bias_grad's per-block partial sums of the bias gradient, in
// one pass over the pooled gradient dp: each window's four elements of dz
// are written once, g = dp·act'(y) at the window's maximum (arg), 0 at
// the other three. dp, arg: (nb,k,P/2,Q/2); y, dz: (nb,k,P,Q). Blocks as
// in act_bias_grad: channel blockIdx.x / splits, the images of slice
// blockIdx.x % splits; blockDim a power of two of at most 256.
__global__ void pool_back_act(float *dz, float *partial, const float *dp, const int *arg, const float *y, int nb, int k,
                              int P, int Q, int splits, int act) {
    __shared__ float part[256];
    int c = blockIdx.x / splits, sp = blockIdx.x % splits;
    int n0 = (int)((long long)sp * nb / splits), n1 = (int)((long long)(sp + 1) * nb / splits);
    int QH = Q / 2, opq = (P / 2) * QH;
    int count = (n1 - n0) * opq;
    float s = 0.0f;
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
        int n = n0 + e / opq, q = e % opq;
        long long plane = (long long)n * k + c;
        long long o = plane * opq + q;
        int pi = q / QH, pj = q - pi * QH;
        long long base = plane * P * Q + (long long)(2 * pi) * Q + 2 * pj;
        int m = arg[o];
        float g = act_d(dp[o], y[m], act);
        long long d = m - base; // 0, 1, Q or Q+1
        dz[base] = d == 0 ? g : 0.0f;
        dz[base + 1] = d == 1 ? g : 0.0f;
        dz[base + Q] = d == Q ? g : 0.0f;
        dz[base + Q + 1] = d == Q + 1 ? g : 0.0f;
        s += g;
    }
    if (!partial) return; // the same for every thread of the launch
    s = block_sum(part, s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// first_grad_partials: the end of first_grad and first_grad_pool3: the
// block's sums of each thread's T tap accumulators acc and bias sum sb (a
// tree in part, (T+1)*blockDim floats), to partial's slots for channel c
// and slice sp (see first_grad). Every thread of the block must call it.
__device__ __forceinline__ void first_grad_partials(float *part, float *partial, const float *acc, float sb, int k,
                                                    int c, int sp, int splits, const int T) {
    int tid = threadIdx.x, bd = blockDim.x;
    UNROLL for (int t = 0; t < T; t++) part[t * bd + tid] = acc[t];
    part[T * bd + tid] = sb;
    __syncthreads();
    for (int wd = bd / 2; wd > 0; wd >>= 1) {
        if (tid < wd)
            for (int t = 0; t <= T; t++) part[t * bd + tid] += part[t * bd + tid + wd];
        __syncthreads();
    }
    if (tid <= T) {
        long long slot = tid < T ? (long long)c * T + tid : (long long)k * T + c;
        partial[slot * splits + sp] = part[tid * bd];
    }
}

// first_grad: every gradient a single-channel convolution (C = 1, stride
// 1) needs when no input gradient is wanted (the first layer), in one pass
// over dy and y: dz = dy * act'(y) stays in registers and adds to the
// bias gradient and to each tap's filter gradient,
//   dw[c,r,s] = sum over n, i, j of dz[n,c,i,j] * x[n, i+r-pad, j+s-pad]
// (outside the image x counts as 0). dy, y: (nb,k,P,Q), x: (nb,1,h,w).
// Blocks as in act_bias_grad: block b takes channel b / splits and the
// images of slice b % splits. Its partial sums go to
// partial[(c*R*S + t)*splits + sp] for tap t = r*S + s and to
// partial[(k*R*S + c)*splits + sp] for the bias, so that sum_partials2
// over k*R*S + k outputs writes dw, then db, adding slices in order.
// R and S are constants of each kernel (first_grad3, first_grad5): the
// R*S + 1 accumulators are registers. part: (R*S+1)*blockDim floats of
// shared memory; blockDim a power of two, at most 256.
__device__ __forceinline__ void first_grad(float *part, float *partial, const float *dy, const float *y,
                                           const float *x, int nb, int k, int h, int w, int pad, int splits, int act,
                                           const int R, const int S) {
    const int T = R * S;
    int P = h + 2 * pad - R + 1, Q = w + 2 * pad - S + 1, pq = P * Q;
    int c = blockIdx.x / splits, sp = blockIdx.x % splits;
    int n0 = (int)((long long)sp * nb / splits), n1 = (int)((long long)(sp + 1) * nb / splits);
    float acc[25], sb = 0.0f;
    UNROLL for (int t = 0; t < T; t++) acc[t] = 0.0f;
    // 3×3: pixels outer, images inner: a pixel's row, column and which
    // taps fall inside the image (a bit each) are worked out once for all
    // the block's images.
    if (T <= 9) {
        for (int p = threadIdx.x; p < pq; p += blockDim.x) {
            int i = p / Q, j = p - i * Q;
            unsigned inside = 0;
            UNROLL for (int r = 0; r < R; r++) {
                UNROLL for (int s = 0; s < S; s++) {
                    int xi = i + r - pad, xj = j + s - pad;
                    if (xi >= 0 && xi < h && xj >= 0 && xj < w) inside |= 1u << (r * S + s);
                }
            }
            int base = (i - pad) * w + (j - pad); // x index of tap (0, 0)
            for (int n = n0; n < n1; n++) {
                long long o = ((long long)n * k + c) * pq + p;
                float g = act_d(dy[o], y[o], act);
                sb += g;
                const float *xn = x + (long long)n * h * w;
                UNROLL for (int r = 0; r < R; r++) {
                    UNROLL for (int s = 0; s < S; s++) {
                        int t = r * S + s;
                        float xv = (inside >> t) & 1u ? xn[base + r * w + s] : 0.0f;
                        acc[t] += g * xv;
                    }
                }
            }
        }
    } else {
        // 5×5: the elements in order, each finding its own taps (the
        // loop above takes 80 registers and spills at 64 for 25 taps).
        int count = (n1 - n0) * pq;
        int n = n0 + (int)threadIdx.x / pq, p = (int)threadIdx.x % pq;
        for (int e = threadIdx.x; e < count; e += blockDim.x) {
            long long o = ((long long)n * k + c) * pq + p;
            float g = act_d(dy[o], y[o], act);
            sb += g;
            const float *xn = x + (long long)n * h * w;
            int i = p / Q, j = p - (p / Q) * Q;
            UNROLL for (int r = 0; r < R; r++) {
                int xi = i + r - pad;
                int row = xi >= 0 && xi < h;
                UNROLL for (int s = 0; s < S; s++) {
                    int xj = j + s - pad;
                    float xv = (row && xj >= 0 && xj < w) ? xn[xi * w + xj] : 0.0f;
                    acc[r * S + s] += g * xv;
                }
            }
            p += blockDim.x;
            while (p >= pq) {
                p -= pq;
                n++;
            }
        }
    }
    first_grad_partials(part, partial, acc, sb, k, c, sp, splits, T);
}
__global__ void first_grad3(float *partial, const float *dy, const float *y, const float *x, int nb, int k, int h,
                            int w, int pad, int splits, int act) {
    __shared__ float part[10 * 256];
    first_grad(part, partial, dy, y, x, nb, k, h, w, pad, splits, act, 3, 3);
}
__global__ void first_grad5(float *partial, const float *dy, const float *y, const float *x, int nb, int k, int h,
                            int w, int pad, int splits, int act) {
    __shared__ float part[26 * 256];
    first_grad(part, partial, dy, y, x, nb, k, h, w, pad, splits, act, 5, 5);
}

// first_grad_pool3: first_grad3 from the gradient at a 2×2 max-pool's
// output (P and Q even): dp, parg: (nb,k,P/2,Q/2), parg holding the index
// in y of each window's maximum, (n*k + c)*P*Q + i*Q + j, as maxpool,
// first_conv_pool3 and bias_act_pool write it. Only that pixel of a
// window has a gradient (maxpool_back's scatter), so a thread takes one
// window of one image at a time: g = act'(dp) at y[parg], then the 3×3
// taps around the argmax pixel (i, j). Blocks, partial-sum slots and
// shared memory as first_grad3's (sum_partials2 adds them); each block's
// (image, window) pairs in order, windows the faster index, so that
// consecutive threads read consecutive dp and parg. 32-bit indices: the
// engine launches it only when nb*k*P*Q fits.
__global__ void first_grad_pool3(float *partial, const float *dp, const int *parg, const float *y, const float *x,
                                 int nb, int k, int h, int w, int pad, int splits, int act) {
    __shared__ float part[10 * 256];
    int P = h + 2 * pad - 2, Q = w + 2 * pad - 2, pq = P * Q, opq = (P / 2) * (Q / 2);
    int c = blockIdx.x / splits, sp = blockIdx.x % splits;
    int n0 = (int)((long long)sp * nb / splits), n1 = (int)((long long)(sp + 1) * nb / splits);
    float acc[9], sb = 0.0f;
    UNROLL for (int t = 0; t < 9; t++) acc[t] = 0.0f;
    int count = (n1 - n0) * opq;
    int n = n0 + (int)threadIdx.x / opq, q = (int)threadIdx.x % opq;
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
        int plane = n * k + c, o = plane * opq + q;
        int m = parg[o];
        float g = act_d(dp[o], y[m], act);
        sb += g;
        int pix = m - plane * pq; // i*Q + j
        int i = (int)((unsigned)pix / (unsigned)Q), j = pix - i * Q;
        const float *xs = x + (long long)n * h * w + (i - pad) * w + (j - pad); // tap (0, 0)
        UNROLL for (int r = 0; r < 3; r++) {
            int xi = i + r - pad;
            int row = xi >= 0 && xi < h;
            UNROLL for (int s = 0; s < 3; s++) {
                int xj = j + s - pad;
                float xv = (row && xj >= 0 && xj < w) ? xs[r * w + s] : 0.0f;
                acc[r * 3 + s] += g * xv;
            }
        }
        q += blockDim.x;
        while (q >= opq) {
            q -= opq;
            n++;
        }
    }
    first_grad_partials(part, partial, acc, sb, k, c, sp, splits, 9);
}

// maxpool: square windows of size with equal stride; arg holds the index in
// x of the first maximum. One thread per output element.
__global__ void maxpool(const float *x, float *y, int *arg, int planes, int h, int w, int size) {
    int oh = h / size, ow = w / size;
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= (long long)planes * oh * ow) return;
    int pl, r;
    split(o, oh * ow, (long long)planes * h * w, &pl, &r);
    int i = r / ow, j = r % ow;
    long long base = (long long)pl * h * w;
    long long best = base + (long long)(i * size) * w + j * size;
    float bv = x[best];
    for (int a = 0; a < size; a++)
        for (int b = 0; b < size; b++) {
            long long idx = base + (long long)(i * size + a) * w + j * size + b;
            float v = x[idx];
            if (v > bv) { bv = v; best = idx; }
        }
    y[o] = bv;
    arg[o] = (int)best;
}

// maxpool_back: dx[arg[o]] += dy[o]; dx must be zeroed first. Windows do
// not overlap, so no two outputs share an input.
__global__ void maxpool_back(const float *dy, const int *arg, float *dx, long long outs) {
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= outs) return;
    dx[arg[o]] += dy[o];
}

// dense_small: y = act(x·wᵀ + b) for a layer with few outputs (the
// output layer: 10), where cuBLAS splits the sums over two kernels and the
// bias is a third. x: (nb,in), w: (out,in), b: (out), y: (nb,out). One
// block per output element, blockDim a power of two of at most 256 (the
// engine launches 128: enough warps in flight to hide the loads' latency):
// its threads stride over in, then a tree in shared memory.
__global__ void dense_small(float *y, const float *x, const float *w, const float *b, int nb, int in, int out, int act) {
    __shared__ float part[256];
    int e = blockIdx.x, tid = threadIdx.x;
    int n = e / out, o = e - n * out;
    const float *xr = x + (long long)n * in, *wr = w + (long long)o * in;
    float s = 0.0f;
    for (int i = tid; i < in; i += blockDim.x) s += xr[i] * wr[i];
    part[tid] = s;
    __syncthreads();
    for (int wd = blockDim.x / 2; wd > 0; wd >>= 1) {
        if (tid < wd) part[tid] += part[tid + wd];
        __syncthreads();
    }
    if (tid == 0) y[e] = act_f(part[0] + b[o], act);
}

// dense_small_dw: dw = dzᵀ·x for a layer with few outputs. dz: (nb,out),
// x: (nb,in), dw: (out,in). Block (o, 32 columns from i0): 32 columns ×
// blockDim/32 groups of images, each group summing every G-th image,
// then a tree over the groups. Grid: out * ceil(in/32) blocks.
__device__ __forceinline__ void dense_small_dw_block(int blk, float *dw, const float *dz, const float *x, int nb, int in,
                                                    int out) {
    __shared__ float part[256];
    int cols = (in + 31) / 32;
    int o = blk / cols, i = (blk - o * cols) * 32 + (int)threadIdx.x % 32;
    int g = threadIdx.x / 32, groups = blockDim.x / 32;
    float s = 0.0f;
    if (i < in)
        for (int n = g; n < nb; n += groups) s += dz[(long long)n * out + o] * x[(long long)n * in + i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int wd = groups / 2; wd > 0; wd >>= 1) {
        if (g < wd) part[threadIdx.x] += part[threadIdx.x + wd * 32];
        __syncthreads();
    }
    if (g == 0 && i < in) dw[(long long)o * in + i] = part[threadIdx.x];
}
__global__ void dense_small_dw(float *dw, const float *dz, const float *x, int nb, int in, int out) {
    dense_small_dw_block(blockIdx.x, dw, dz, x, nb, in, out);
}

// dense_small_dx: dx = dz·w for a layer with few outputs, one thread per
// element of dx: (nb,in); dz: (nb,out), w: (out,in).
__global__ void dense_small_dx(float *dx, const float *dz, const float *w, int nb, int in, int out) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)nb * in) return;
    int n, i;
    split(e, in, (long long)nb * in, &n, &i);
    const float *dr = dz + (long long)n * out;
    float s = 0.0f;
    for (int o = 0; o < out; o++) s += dr[o] * w[(long long)o * in + i];
    dx[e] = s;
}

// xent_row: softmax_xent's work on one row of logits z (classes of them)
// with label l: its loss, whether its argmax is l (1 or 0), and, where
// they are not null, the probabilities and dz = (softmax - target)·inv,
// the targets of label smoothing ls: each value p - off, less on where it
// is the label's (off = ls/classes, on = 1 - ls, as
// engine.SmoothTargets rounds them; 0 and 1: softmax - onehot).
__device__ __forceinline__ void xent_row(const float *row, int l, int classes, float inv, float off, float on, float *probs,
                                         float *dz, float *loss, float *correct) {
    float m = row[0];
    int arg = 0;
    for (int j = 1; j < classes; j++)
        if (row[j] > m) { m = row[j]; arg = j; }
    float sum = 0.0f;
    for (int j = 0; j < classes; j++) sum += expf(row[j] - m);
    *loss = logf(sum) - (row[l] - m);
    *correct = (arg == l) ? 1.0f : 0.0f;
    for (int j = 0; j < classes; j++) {
        float p = expf(row[j] - m) / sum;
        if (probs) probs[j] = p;
        if (dz) {
            float d = p - off;
            if (j == l) d -= on;
            dz[j] = d * inv;
        }
    }
}

// xent_stats_add: adds the block's rows' loss and correct (a thread's
// row each, zero for a thread past the rows) to stats[0] and stats[1] (a
// tree over the block in shared memory, then one atomic add a block), and
// from the first block (first) n to stats[2]. blockDim a power of two of
// at most 256.
__device__ __forceinline__ void xent_stats_add(float loss, float correct, float *stats, int n, int first) {
    __shared__ float sl[256];
    __shared__ float sc[256];
    sl[threadIdx.x] = loss;
    sc[threadIdx.x] = correct;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            sl[threadIdx.x] += sl[threadIdx.x + w];
            sc[threadIdx.x] += sc[threadIdx.x + w];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        atomicAdd(&stats[0], sl[0]);
        atomicAdd(&stats[1], sc[0]);
        if (first) atomicAdd(&stats[2], (float)n);
    }
}

// softmax_xent: one thread per row of logits (n, classes <= 32). Adds the
// summed loss, the correct count and n to stats[0..2]; writes probs and
// dlogits = (softmax - target)/n (xent_row's off and on) when they are
// not null.
__global__ void softmax_xent(const float *z, const int *labels, float *probs, float *dz, float *stats, int n, int classes,
                             float off, float on) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float loss = 0.0f, correct = 0.0f;
    if (i < n) {
        long long r = (long long)i * classes;
        xent_row(z + r, labels[i], classes, 1.0f / (float)n, off, on, probs ? probs + r : 0, dz ? dz + r : 0, &loss, &correct);
    }
    xent_stats_add(loss, correct, stats, n, blockIdx.x == 0);
}

// dense_xent: a training step's output layer and loss in one kernel, on
// the main stream's path from the last hidden layer to its gradient,
// where dense_small, softmax_xent and dense_small_dx took three: the
// logits z = x·wᵀ + b (dense_small's sums with blocks of 128 threads, so
// the same bits), softmax_xent's row (dz; the row's loss and correct into
// rows[n] and rows[nb + n], which head_grads adds to the statistics in
// softmax_xent's order), then, unless dx is null, dx = dz·w as
// dense_small_dx sums it. The weight and bias gradients (head_grads) read
// dz beside it. x: (nb,in), w: (out,in), b: (out),
// labels: (nb), z, dz: (nb,out), dx: (nb,in), rows: (2·nb); off and on:
// xent_row's, for label smoothing. One block a
// row, blockDim a power of two of at most 128 (the engine launches 128:
// dense_small's); out at most DENSE_XENT_OUT.
// Its launch bounds hold it to 64 registers (72 without: the product's 16
// loads in flight), as TestKernelResources asks of every small kernel.
#define DENSE_XENT_OUT 16
__global__ void __launch_bounds__(128, 8) dense_xent(float *z, float *dz, float *dx, float *rows, const float *x, const float *w, const float *b,
                           const int *labels, int nb, int in, int out, float off, float on) {
    __shared__ float part[DENSE_XENT_OUT * 128];
    __shared__ float zs[DENSE_XENT_OUT], gs[DENSE_XENT_OUT];
    int n = blockIdx.x, tid = threadIdx.x, bd = blockDim.x;
    const float *xr = x + (long long)n * in;
    float s[DENSE_XENT_OUT];
    UNROLL for (int o = 0; o < DENSE_XENT_OUT; o++) s[o] = 0.0f;
    for (int i = tid; i < in; i += bd) {
        float v = xr[i];
        const float *wo = w + i;
        UNROLL for (int o = 0; o < DENSE_XENT_OUT; o++) {
            if (o < out) s[o] += v * wo[0];
            wo += in;
        }
    }
    UNROLL for (int o = 0; o < DENSE_XENT_OUT; o++) {
        if (o < out) part[o * bd + tid] = s[o];
    }
    __syncthreads();
    for (int wd = bd / 2; wd > 0; wd >>= 1) {
        if (tid < wd)
            for (int o = 0; o < out; o++) part[o * bd + tid] += part[o * bd + tid + wd];
        __syncthreads();
    }
    if (tid == 0) {
        for (int o = 0; o < out; o++) zs[o] = part[o * bd] + b[o];
        float loss, correct;
        xent_row(zs, labels[n], out, 1.0f / (float)nb, off, on, 0, gs, &loss, &correct);
        rows[n] = loss;
        rows[nb + n] = correct;
        for (int o = 0; o < out; o++) {
            z[(long long)n * out + o] = zs[o];
            dz[(long long)n * out + o] = gs[o];
        }
    }
    __syncthreads();
    if (!dx) return;
    for (int i = tid; i < in; i += bd) {
        float v = 0.0f;
        for (int o = 0; o < out; o++) v += gs[o] * w[(long long)o * in + i];
        dx[(long long)n * in + i] = v;
    }
}

// head_grads: what follows dense_xent's dz, in one launch: blocks [0, D)
// do dense_small_dw's work (dw = dzᵀ·x, D = out·⌈in/32⌉), the next out
// bias_grad's (db), and the last ⌈nb/blockDim⌉ add the rows (loss
// rows[i], correct rows[nb + i]) to stats[0..2] as softmax_xent adds its
// own; each part as its own kernel sums, so the same bits. dz: (nb,out),
// x: (nb,in), dw: (out,in), db: (out), rows: (2·nb). blockDim 256 (as the
// three kernels are launched), grid D + out + ⌈nb/256⌉.
__global__ void head_grads(float *dw, float *db, float *stats, const float *dz, const float *x, const float *rows, int nb,
                           int in, int out) {
    int blk = blockIdx.x, d = out * ((in + 31) / 32);
    if (blk < d) {
        dense_small_dw_block(blk, dw, dz, x, nb, in, out);
        return;
    }
    blk -= d;
    if (blk < out) {
        bias_grad_block(blk, db, dz, nb, out, 1);
        return;
    }
    blk -= out;
    int i = blk * blockDim.x + threadIdx.x;
    float loss = 0.0f, correct = 0.0f;
    if (i < nb) {
        loss = rows[i];
        correct = rows[nb + i];
    }
    xent_stats_add(loss, correct, stats, nb, blk == 0);
}

// lr_factor: the learning-rate schedule's multiplier of the peak rate at
// update t (1-based), as engine.Schedule.Factor: sched 0 constant (1);
// sched 1 cosine: t/warmup during the warm-up, then
// final + (1-final)(1 + cos(pi p))/2, p = (t-warmup)/(total-warmup) <= 1.
__device__ __forceinline__ float lr_factor(float t, int sched, int warmup, int total, float final_) {
    if (sched != 1) return 1.0f;
    float w = (float)warmup;
    if (t <= w) return t / w;
    float p = (t - w) / ((float)total - w);
    if (p > 1.0f) p = 1.0f;
    float c = cosf(3.14159265358979f * p);
    return final_ + (1.0f - final_) * 0.5f * (1.0f + c);
}

// adam_alpha: Adam's step size for the update counted in step[0] (t =
// step[0] + 1, read on the device so a CUDA graph replays it unchanged)
// at the scheduled rate lr*lr_factor(t): lr*sqrt(1-b2^t)/(1-b1^t). Every
// Adam kernel takes it from here.
__device__ __forceinline__ float adam_alpha(const float *step, float lr, float b1, float b2, int sched, int warmup, int total,
                                            float final_) {
    float t = step[0] + 1.0f;
    lr *= lr_factor(t, sched, warmup, total, final_);
    return lr * sqrtf(1.0f - powf(b2, t)) / (1.0f - powf(b1, t));
}

// adam: Keras's formulation, with adam_alpha's alpha: m += (g-m)(1-b1);
// v += (g²-v)(1-b2); p -= alpha*m/(sqrt(v)+eps).
__global__ void adam(float *p, const float *g, float *m, float *v, const float *step, long long n,
                     float lr, float b1, float b2, float eps, int sched, int warmup, int total, float final_) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float alpha = adam_alpha(step, lr, b1, b2, sched, warmup, total, final_);
    float gi = g[i];
    float mi = m[i] + (gi - m[i]) * (1.0f - b1);
    float vi = v[i] + (gi * gi - v[i]) * (1.0f - b2);
    m[i] = mi;
    v[i] = vi;
    p[i] -= mi * alpha / (sqrtf(vi) + eps);
}

// adam4: adam with four elements per thread through 16-byte loads; every
// pointer must be 16-byte aligned. Thread i updates elements 4i..4i+3 (the
// last one the tail of n).
__device__ __forceinline__ void adam_one(float *p, float gi, float *m, float *v, float alpha, float b1, float b2, float eps) {
    *m = *m + (gi - *m) * (1.0f - b1);
    *v = *v + (gi * gi - *v) * (1.0f - b2);
    *p -= *m * alpha / (sqrtf(*v) + eps);
}
// adam_one4: adam_one on the four elements at p, m and v (16-byte
// aligned: one 16-byte access each way) with their gradients g.
__device__ __forceinline__ void adam_one4(float *p, float4 g, float *m, float *v, float alpha, float b1, float b2, float eps) {
    float4 pp = V4(p), mm = V4(m), vv = V4(v);
    adam_one(&pp.x, g.x, &mm.x, &vv.x, alpha, b1, b2, eps);
    adam_one(&pp.y, g.y, &mm.y, &vv.y, alpha, b1, b2, eps);
    adam_one(&pp.z, g.z, &mm.z, &vv.z, alpha, b1, b2, eps);
    adam_one(&pp.w, g.w, &mm.w, &vv.w, alpha, b1, b2, eps);
    V4(p) = pp;
    V4(m) = mm;
    V4(v) = vv;
}
__global__ void adam4(float *p, const float *g, float *m, float *v, const float *step, long long n,
                      float lr, float b1, float b2, float eps, int sched, int warmup, int total, float final_) {
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= n) return;
    float alpha = adam_alpha(step, lr, b1, b2, sched, warmup, total, final_);
    if (i + 4 <= n) {
        adam_one4(p + i, V4(g + i), m + i, v + i, alpha, b1, b2, eps);
    } else {
        for (long long j = i; j < n; j++) adam_one(&p[j], g[j], &m[j], &v[j], alpha, b1, b2, eps);
    }
}

// dense_wgrad_adam: a dense layer's weight and bias gradients and Adam's
// update of both in one kernel, the gradients never written to memory
// (the split path writes dw, 4 bytes a weight, and adam4 reads it back):
// g[o][i] = sum over n of dz[n][o]·x[n][i] (n in order, one fmaf each),
// g_b[o] = sum over n of dz[n][o] (n in order), then adam_one with
// adam_alpha's step on p[o·in + i] and, for the bias, p[out·in + o]; m and v
// alike. dz: (nb,out), x: (nb,in); p, m, v: w (out,in) then b (out), as a
// layer's flat parameters lie. A block takes a DWA_T×DWA_T tile of w
// (blockIdx.x = tile row · ceil(in/DWA_T) + tile column): 256 threads,
// thread (ty, tx) = (t/16, t%16) the rows o0 + 4ty + r and columns
// i0 + 4tx + c (r, c < 4), the images DWA_K at a time through shared
// memory (as and bs read 16 bytes at a time); the blocks of the first tile column also sum the bias
// gradient (the threads with tx 0, their four rows each). vec: p, m and
// v are 16-byte aligned and in is a multiple of 4 (16-byte loads).
#define DWA_T 64
#define DWA_K 16
#define DWA_THREADS 256
__global__ void __launch_bounds__(DWA_THREADS, 4) dense_wgrad_adam(float *p, float *m, float *v, const float *dz, const float *x,
                                                         const float *step, int nb, int in, int out, int vec, float lr,
                                                         float b1, float b2, float eps, int sched, int warmup, int total,
                                                         float final_) {
    __shared__ __align__(16) float as[DWA_K * DWA_T]; // dz[k0 + k][o0 + j] at k·DWA_T + j
    __shared__ __align__(16) float bs[DWA_K * DWA_T]; // x[k0 + k][i0 + j] at k·DWA_T + j
    int cols = (in + DWA_T - 1) / DWA_T;
    int tile_o = blockIdx.x / cols, tile_i = blockIdx.x - tile_o * cols;
    int o0 = tile_o * DWA_T, i0 = tile_i * DWA_T;
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    int bias = tile_i == 0 && tx == 0;
    float acc[4][4], bacc[4];
    UNROLL for (int r = 0; r < 4; r++) {
        bacc[r] = 0.0f;
        UNROLL for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
    }
    for (int k0 = 0; k0 < nb; k0 += DWA_K) {
        for (int j = threadIdx.x; j < DWA_K * DWA_T; j += DWA_THREADS) {
            int k = j / DWA_T, c = j % DWA_T, n = k0 + k;
            as[j] = n < nb && o0 + c < out ? dz[(long long)n * out + o0 + c] : 0.0f;
            bs[j] = n < nb && i0 + c < in ? x[(long long)n * in + i0 + c] : 0.0f;
        }
        __syncthreads();
        UNROLL for (int k = 0; k < DWA_K; k++) { // past nb: zeros, which leave the sums as they are
            // One 16-byte load each: a quarter-warp's 8 of tx read 32
            // consecutive floats of bs, no two in a bank.
            float4 a4 = V4(as + k * DWA_T + 4 * ty), b4 = V4(bs + k * DWA_T + 4 * tx);
            float a[4] = {a4.x, a4.y, a4.z, a4.w}, b[4] = {b4.x, b4.y, b4.z, b4.w};
            UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
            if (bias) UNROLL for (int r = 0; r < 4; r++) bacc[r] += a[r];
        }
        __syncthreads(); // the tile is used up
    }
    float alpha = adam_alpha(step, lr, b1, b2, sched, warmup, total, final_);
    int i = i0 + 4 * tx;
    UNROLL for (int r = 0; r < 4; r++) {
        int o = o0 + 4 * ty + r;
        if (o >= out) break;
        long long at = (long long)o * in + i;
        if (vec && i + 4 <= in) {
            float4 g4 = {acc[r][0], acc[r][1], acc[r][2], acc[r][3]};
            adam_one4(p + at, g4, m + at, v + at, alpha, b1, b2, eps);
        } else {
            UNROLL for (int c = 0; c < 4; c++)
                if (i + c < in) adam_one(&p[at + c], acc[r][c], &m[at + c], &v[at + c], alpha, b1, b2, eps);
        }
        if (bias) {
            long long bi = (long long)out * in + o;
            adam_one(&p[bi], bacc[r], &m[bi], &v[bi], alpha, b1, b2, eps);
        }
    }
}

// sgd: vel = mom*vel - lr'*g; p += vel (Keras's momentum SGD), with the
// scheduled rate lr' = lr*lr_factor(step[0] + 1).
__global__ void sgd(float *p, const float *g, float *vel, const float *step, long long n, float lr, float mom,
                    int sched, int warmup, int total, float final_) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    lr *= lr_factor(step[0] + 1.0f, sched, warmup, total, final_);
    float v = mom * vel[i] - lr * g[i];
    vel[i] = v;
    p[i] += v;
}

// step_inc: step[i] += 1 for i < n: the step counts of the updates queued
// since the last (the engine adds them up in one launch where they lie
// side by side, as a model's layers' do).
__global__ void step_inc(float *step, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) step[i] += 1.0f;
}

// fill_f32 / fill_i32 / fill_u8: every element set to v.
__global__ void fill_f32(float *t, float v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}
__global__ void fill_i32(int *t, int v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}
__global__ void fill_u8(unsigned char *t, unsigned char v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}

#ifdef __cplusplus
}  // extern "C"
#endif
