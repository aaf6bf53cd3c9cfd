// act_amd64.s: ReLU forward (with the bias add) and backward, 8 values at a
// time with AVX2, bit for bit as relu32 and reluMask in act.go: integer
// sign masks, no float compare, so NaN and signed zeros behave the same.

#include "textflag.h"

// func biasReluAVX2(v *float32, n int, b float32)
// v[i] = relu(v[i] + b); n is a multiple of 8.
TEXT ·biasReluAVX2(SB), NOSPLIT, $0-20
	MOVQ v+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS b+16(FP), Y1
	SHRQ $3, CX
	JZ   done

loop:
	VADDPS (DI), Y1, Y0
	VPSRAD $31, Y0, Y2      // all ones where the sign bit is set
	VPANDN Y0, Y2, Y0       // x &^ mask
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET

// func reluMaskAVX2(dz, dy, y *float32, n int)
// dz[i] = dy[i] where y[i] != +0 (bits), else 0; n is a multiple of 8.
TEXT ·reluMaskAVX2(SB), NOSPLIT, $0-32
	MOVQ dz+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	VPXOR Y3, Y3, Y3
	SHRQ $3, CX
	JZ   done

loop:
	VMOVDQU (DX), Y0
	VPSUBD  Y0, Y3, Y1      // -y (as integers)
	VPOR    Y1, Y0, Y1      // y | -y: top bit set exactly when y != 0
	VPSRAD  $31, Y1, Y1
	VPAND   (SI), Y1, Y1
	VMOVDQU Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET

// func dotAVX2(a, b *float32, n int) float32
// The sum of a[i]*b[i] over n values (a multiple of 8), in 4×8 partial
// sums (32 values a round, then 8) added in a fixed order.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   eights

loop32:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y5, Y1
	VFMADD231PS 64(DX), Y6, Y2
	VFMADD231PS 96(DX), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DX
	DECQ BX
	JNZ  loop32

eights:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   reduce

loop8:
	VMOVUPS (SI), Y4
	VFMADD231PS (DX), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  loop8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func addAVX2(dst, src *float32, n int)
// dst[i] += src[i] for i < n (a multiple of 8): the same float32 sums as
// the scalar loop.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   adone
aloop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  aloop
adone:
	VZEROUPPER
	RET

// func sum8AVX2(v *float32, n int) float32
// The sum of v's first n values (a multiple of 8, at least 8) as sum32
// forms it: eight running sums, lane j adding values j, j+8, …, then
// ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)).
TEXT ·sum8AVX2(SB), NOSPLIT, $0-20
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	SHRQ $3, CX
	JZ   sreduce
sloop:
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  sloop
sreduce:
	VHADDPS Y0, Y0, Y0          // per half: s0+s1, s2+s3 | s4+s5, s6+s7
	VHADDPS Y0, Y0, Y0          // per half: (s0+s1)+(s2+s3) | (s4+s5)+(s6+s7)
	VEXTRACTF128 $1, Y0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET
