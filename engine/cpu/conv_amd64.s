// conv_amd64.s: a single-channel 3×3 convolution (the first layer) straight
// from a (padded) image with AVX2, 8 outputs at a time: each output is
// nine fused multiply-adds from 0 in the order of the filter taps (r, s),
// the order the im2col + SGEMM path adds them in, so the two give the same
// bits. A row whose length is not a multiple of 8 ends with a vector that
// overlaps the one before (the same values written twice).

#include "textflag.h"

// func conv3x3AVX2(x *float32, ldx int, w *float32, y *float32, p, q int)
// y[i*q + j] = sum over r, s < 3 of w[r*3+s] * x[(i+r)*ldx + j + s],
// for i < p, j < q; q >= 8.
TEXT ·conv3x3AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), BX
	SHLQ $2, BX                   // input row stride in bytes
	MOVQ w+16(FP), DX
	MOVQ y+24(FP), DI
	MOVQ p+32(FP), R8
	MOVQ q+40(FP), R9
	VBROADCASTSS 0(DX), Y0
	VBROADCASTSS 4(DX), Y1
	VBROADCASTSS 8(DX), Y2
	VBROADCASTSS 12(DX), Y3
	VBROADCASTSS 16(DX), Y4
	VBROADCASTSS 20(DX), Y5
	VBROADCASTSS 24(DX), Y6
	VBROADCASTSS 28(DX), Y7
	VBROADCASTSS 32(DX), Y8
	MOVQ R9, R10
	SUBQ $8, R10
	SHLQ $2, R10                  // byte offset of a row's last vector
	SHLQ $2, R9                   // output row length in bytes
rows:
	TESTQ R8, R8
	JE   done
	XORQ AX, AX                   // byte offset of the vector in the row
cols:
	LEAQ (SI)(AX*1), R11
	VXORPS Y9, Y9, Y9
	VFMADD231PS (R11), Y0, Y9
	VFMADD231PS 4(R11), Y1, Y9
	VFMADD231PS 8(R11), Y2, Y9
	ADDQ BX, R11
	VFMADD231PS (R11), Y3, Y9
	VFMADD231PS 4(R11), Y4, Y9
	VFMADD231PS 8(R11), Y5, Y9
	ADDQ BX, R11
	VFMADD231PS (R11), Y6, Y9
	VFMADD231PS 4(R11), Y7, Y9
	VFMADD231PS 8(R11), Y8, Y9
	VMOVUPS Y9, (DI)(AX*1)
	CMPQ AX, R10
	JGE  rowend
	ADDQ $32, AX
	CMPQ AX, R10
	CMOVQGT R10, AX               // the last vector may overlap
	JMP  cols
rowend:
	ADDQ BX, SI
	ADDQ R9, DI
	DECQ R8
	JMP  rows
done:
	VZEROUPPER
	RET
