// kernel_arm64.s: the NEON SGEMM micro-kernel for arm64. It multiplies one
// packed 6-row panel of A by one packed 16-column panel of B over kc steps,
// keeping the 6x16 result in 24 V registers (V0-V23: row i, columns 4j to
// 4j+3 in V(4i+j)), and writes C = alpha*acc + beta*C, as the AVX2 kernel
// (kernel_amd64.s) does: each sum in the order of the steps, one fused
// multiply-add a step, then alpha's product, then beta*C added in one
// fused multiply-add. C is not read when beta is 0.

#include "textflag.h"

// FMUL Vd.4S, Vn.4S, Vm.4S, which Go's assembler lacks.
#define FMUL4S(m, n, d) WORD $(0x6E20DC00 | (m<<16) | (n<<5) | d)

// ROW(a, i): A's next value (row i of this step) into all lanes of a, then
// row i's four accumulators += B's 16 values (V24-V27) times it.
#define ROW(a, r0, r1, r2, r3) \
	VLD1R.P 4(R1), [a.S4]; \
	VFMLA   V24.S4, a.S4, r0.S4; \
	VFMLA   V25.S4, a.S4, r1.S4; \
	VFMLA   V26.S4, a.S4, r2.S4; \
	VFMLA   V27.S4, a.S4, r3.S4

// STEP: one step p: B's row p (16 values) and A's six values of p.
#define STEP \
	VLD1.P 64(R2), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	ROW(V28, V0, V1, V2, V3); \
	ROW(V29, V4, V5, V6, V7); \
	ROW(V30, V8, V9, V10, V11); \
	ROW(V31, V12, V13, V14, V15); \
	ROW(V28, V16, V17, V18, V19); \
	ROW(V29, V20, V21, V22, V23)

// C's row (r0-r3) = its sums + beta (V29) times C's row as it was; the
// next row.
#define CROW(r0, r1, r2, r3) \
	VLD1  (R3), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VFMLA V29.S4, V24.S4, r0.S4; \
	VFMLA V29.S4, V25.S4, r1.S4; \
	VFMLA V29.S4, V26.S4, r2.S4; \
	VFMLA V29.S4, V27.S4, r3.S4; \
	VST1  [r0.S4, r1.S4, r2.S4, r3.S4], (R3); \
	ADD   R4, R3, R3

// C's row = its sums; the next row.
#define SROW(r0, r1, r2, r3) \
	VST1 [r0.S4, r1.S4, r2.S4, r3.S4], (R3); \
	ADD  R4, R3, R3

// func kernel6x16NEON(kc int, a, b, c *float32, ldc int, alpha, beta float32)
// a: kc x 6 (packed, 6 floats per step); b: kc x 16 (packed, 16 floats per step)
// c: 6 rows of 16 floats, row stride ldc floats.
TEXT ·kernel6x16NEON(SB), NOSPLIT, $0-48
	MOVD kc+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $2, R4, R4
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	LSR  $2, R0, R9 // four steps a round
	AND  $3, R0, R0 // then the rest, one at a time
	CBZ  R9, tail

loop4:
	STEP
	STEP
	STEP
	STEP
	SUBS $1, R9, R9
	BNE  loop4

tail:
	CBZ R0, store

loop1:
	STEP
	SUBS $1, R0, R0
	BNE  loop1

store:
	FMOVS alpha+40(FP), F28
	VDUP  V28.S[0], V28.S4
	FMUL4S(28, 0, 0)
	FMUL4S(28, 1, 1)
	FMUL4S(28, 2, 2)
	FMUL4S(28, 3, 3)
	FMUL4S(28, 4, 4)
	FMUL4S(28, 5, 5)
	FMUL4S(28, 6, 6)
	FMUL4S(28, 7, 7)
	FMUL4S(28, 8, 8)
	FMUL4S(28, 9, 9)
	FMUL4S(28, 10, 10)
	FMUL4S(28, 11, 11)
	FMUL4S(28, 12, 12)
	FMUL4S(28, 13, 13)
	FMUL4S(28, 14, 14)
	FMUL4S(28, 15, 15)
	FMUL4S(28, 16, 16)
	FMUL4S(28, 17, 17)
	FMUL4S(28, 18, 18)
	FMUL4S(28, 19, 19)
	FMUL4S(28, 20, 20)
	FMUL4S(28, 21, 21)
	FMUL4S(28, 22, 22)
	FMUL4S(28, 23, 23)

	MOVWU beta+44(FP), R5
	AND   $0x7fffffff, R5, R6
	CBZ   R6, storenobeta

	// C = acc + beta*C
	FMOVS beta+44(FP), F29
	VDUP  V29.S[0], V29.S4
	CROW(V0, V1, V2, V3)
	CROW(V4, V5, V6, V7)
	CROW(V8, V9, V10, V11)
	CROW(V12, V13, V14, V15)
	CROW(V16, V17, V18, V19)
	CROW(V20, V21, V22, V23)
	RET

storenobeta:
	// C = acc (C is not read, so garbage or NaN in C does not leak in)
	SROW(V0, V1, V2, V3)
	SROW(V4, V5, V6, V7)
	SROW(V8, V9, V10, V11)
	SROW(V12, V13, V14, V15)
	SROW(V16, V17, V18, V19)
	SROW(V20, V21, V22, V23)
	RET
