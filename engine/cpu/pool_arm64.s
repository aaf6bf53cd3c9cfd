// pool_arm64.s: 2×2 max-pooling of one row of windows in NEON, four windows
// at a time, with the portable code's choice of each maximum (run2): the
// window's four values in the order top left, top right, bottom left,
// bottom right, each taken only where strictly greater than the best so
// far, so the first of equal maxima wins, NaN never wins over a number
// (a comparison with NaN is false), and a NaN in the top left stays.

#include "textflag.h"

// FCMGT Vd.4S, Vn.4S, Vm.4S (d = n > m, each lane all ones or zeros), which
// Go's assembler lacks.
#define FCMGT4S(m, n, d) WORD $(0x6EA0E400 | (m<<16) | (n<<5) | d)

// TAKE(v, i): where v > the best (V0), the best = v and its index (V23) = i.
#define TAKE(v, vn, i) \
	FCMGT4S(0, vn, 24); \
	VBIT V24.B16, v.B16, V0.B16; \
	VBIT V24.B16, i.B16, V23.B16

// func pool2NEON(top, bot, y *float32, arg *int32, base, w int32, n int)
// For j < n (a multiple of 4): y[j] = the maximum of top[2j], top[2j+1],
// bot[2j], bot[2j+1], and arg[j] its index: base+2j, base+2j+1,
// base+w+2j or base+w+2j+1.
TEXT ·pool2NEON(SB), NOSPLIT, $0-48
	MOVD  top+0(FP), R0
	MOVD  bot+8(FP), R1
	MOVD  y+16(FP), R2
	MOVD  arg+24(FP), R3
	MOVW  base+32(FP), R4
	MOVW  w+36(FP), R5
	MOVD  n+40(FP), R6
	VMOV  R4, V16.S[0] // V16: the top left's indices, base+2j
	ADDW  $2, R4, R7
	VMOV  R7, V16.S[1]
	ADDW  $4, R4, R7
	VMOV  R7, V16.S[2]
	ADDW  $6, R4, R7
	VMOV  R7, V16.S[3]
	MOVW  $1, R7
	VDUP  R7, V17.S4   // 1
	VDUP  R5, V18.S4   // w
	MOVW  $8, R7
	VDUP  R7, V19.S4   // 8: four windows on
	CBZ   R6, done

loop:
	VLD2.P 32(R0), [V0.S4, V1.S4] // top left, top right
	VLD2.P 32(R1), [V2.S4, V3.S4] // bottom left, bottom right
	VADD   V17.S4, V16.S4, V20.S4 // their indices
	VADD   V18.S4, V16.S4, V21.S4
	VADD   V17.S4, V21.S4, V22.S4
	VMOV   V16.B16, V23.B16
	TAKE(V1, 1, V20)
	TAKE(V2, 2, V21)
	TAKE(V3, 3, V22)
	VST1.P [V0.S4], 16(R2)
	VST1.P [V23.S4], 16(R3)
	VADD   V19.S4, V16.S4, V16.S4
	SUBS   $4, R6, R6
	BNE    loop

done:
	RET
