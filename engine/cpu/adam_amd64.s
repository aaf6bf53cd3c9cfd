// adam_amd64.s: the Adam update over 8 parameters at a time with AVX2/FMA
// (Keras's formulation, as adamTask.run in loss.go):
// m += (g-m)·b1c; v += (g²-v)·b2c; p -= alpha·m / (sqrt(v) + eps).

#include "textflag.h"

// func adamAVX2(p, grad, m, v *float32, n int, alpha, b1c, b2c, eps float32)
// n must be a multiple of 8.
TEXT ·adamAVX2(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	VBROADCASTSS alpha+40(FP), Y10
	VBROADCASTSS b1c+44(FP), Y11
	VBROADCASTSS b2c+48(FP), Y12
	VBROADCASTSS eps+52(FP), Y13
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0         // g
	VMOVUPS (R8), Y1         // m
	VMOVUPS (R9), Y2         // v
	VSUBPS  Y1, Y0, Y3       // g - m
	VFMADD231PS Y3, Y11, Y1  // m += (g-m)*b1c
	VMULPS  Y0, Y0, Y4       // g*g
	VSUBPS  Y2, Y4, Y4       // g*g - v
	VFMADD231PS Y4, Y12, Y2  // v += (g*g-v)*b2c
	VMOVUPS Y1, (R8)
	VMOVUPS Y2, (R9)
	VSQRTPS Y2, Y5
	VADDPS  Y13, Y5, Y5      // sqrt(v) + eps
	VMULPS  Y10, Y1, Y6      // m*alpha
	VDIVPS  Y5, Y6, Y6
	VMOVUPS (DI), Y7
	VSUBPS  Y6, Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET
