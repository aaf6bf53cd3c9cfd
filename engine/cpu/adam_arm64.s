// adam_arm64.s: the Adam update over 4 parameters at a time in NEON, the
// portable code's arithmetic (adamTask.run in loss.go, as Go compiles it
// for arm64) lane by lane: m += (g-m)·b1c and v += (g²-v)·b2c each one
// fused multiply-add (g²-v itself one, as FNMSUB), p -= alpha·m /
// (sqrt(v) + eps) rounded at each step, with each operation's operands in
// the order Go gives them, which decides which NaN comes out where two
// meet. Its bits are the portable code's.

#include "textflag.h"

// NEON's vector FSUB, FADD, FMUL, FDIV (d = n op m), FSQRT and FNEG
// (d = op n), which Go's assembler lacks.
#define FSUB4S(m, n, d) WORD $(0x4EA0D400 | (m<<16) | (n<<5) | d)
#define FADD4S(m, n, d) WORD $(0x4E20D400 | (m<<16) | (n<<5) | d)
#define FMUL4S(m, n, d) WORD $(0x6E20DC00 | (m<<16) | (n<<5) | d)
#define FDIV4S(m, n, d) WORD $(0x6E20FC00 | (m<<16) | (n<<5) | d)
#define FSQRT4S(n, d) WORD $(0x6EA1F800 | (n<<5) | d)
#define FNEG4S(n, d) WORD $(0x6EA0F800 | (n<<5) | d)

// func adamNEON(p, grad, m, v *float32, n int, alpha, b1c, b2c, eps float32)
// n must be a multiple of 4.
TEXT ·adamNEON(SB), NOSPLIT, $0-56
	MOVD  p+0(FP), R0
	MOVD  grad+8(FP), R1
	MOVD  m+16(FP), R2
	MOVD  v+24(FP), R3
	MOVD  n+32(FP), R4
	FMOVS alpha+40(FP), F16
	VDUP  V16.S[0], V16.S4
	FMOVS b1c+44(FP), F17
	VDUP  V17.S[0], V17.S4
	FMOVS b2c+48(FP), F18
	VDUP  V18.S[0], V18.S4
	FMOVS eps+52(FP), F19
	VDUP  V19.S[0], V19.S4
	CBZ   R4, done

loop:
	VLD1.P 16(R1), [V0.S4]      // g
	VLD1   (R2), [V1.S4]        // m
	VLD1   (R3), [V2.S4]        // v
	VLD1   (R0), [V3.S4]        // p
	FSUB4S(1, 0, 4)             // V4 = g - m
	VFMLA  V4.S4, V17.S4, V1.S4 // m += b1c*(g-m)
	FNEG4S(2, 5)                // V5 = -v
	VFMLA  V0.S4, V0.S4, V5.S4  // V5 = g*g - v, rounded once
	VFMLA  V5.S4, V18.S4, V2.S4 // v += b2c*(g*g-v)
	FSQRT4S(2, 6)               // sqrt(v)
	FADD4S(19, 6, 6)            // + eps
	FMUL4S(1, 16, 7)            // alpha*m
	FDIV4S(6, 7, 7)             // / (sqrt(v) + eps)
	FSUB4S(7, 3, 3)             // p -= that
	VST1.P [V1.S4], 16(R2)
	VST1.P [V2.S4], 16(R3)
	VST1.P [V3.S4], 16(R0)
	SUBS   $4, R4, R4
	BNE    loop

done:
	RET
