// maxpool_amd64.s: 2×2 max-pooling of one output row, 8 outputs at a time
// with AVX2, branch-free (compare and blend), as poolFwdTask.run2 in
// maxpool.go: the first maximum of top-left, top-right, bottom-left,
// bottom-right wins (strict >, so a NaN never replaces a number).

#include "textflag.h"

// Input offsets of the 8 outputs in the order the even/odd shuffles leave
// them (0,1,4,5 | 2,3,6,7), times 2.
DATA offs<>+0(SB)/4, $0
DATA offs<>+4(SB)/4, $2
DATA offs<>+8(SB)/4, $8
DATA offs<>+12(SB)/4, $10
DATA offs<>+16(SB)/4, $4
DATA offs<>+20(SB)/4, $6
DATA offs<>+24(SB)/4, $12
DATA offs<>+28(SB)/4, $14
GLOBL offs<>(SB), RODATA|NOPTR, $32

// func maxpool2AVX2(top, bot, y *float32, arg *int32, base, w int32, n int)
// top and bot point at the two input rows (2n floats each), base is the
// index of top[0] in the whole input, w its row length; n is a multiple
// of 8.
TEXT ·maxpool2AVX2(SB), NOSPLIT, $0-48
	MOVQ top+0(FP), SI
	MOVQ bot+8(FP), DX
	MOVQ y+16(FP), DI
	MOVQ arg+24(FP), R8
	MOVQ n+40(FP), CX
	MOVL base+32(FP), AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	VPADDD offs<>(SB), Y10, Y10       // index of each output's top-left
	MOVL w+36(FP), AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11             // row length
	MOVL $1, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12             // 1
	MOVL $16, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13             // 16: the next 8 outputs
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS 32(DX), Y3
	VSHUFPS $0x88, Y1, Y0, Y4         // top-left: the running maximum
	VSHUFPS $0xDD, Y1, Y0, Y5         // top-right
	VSHUFPS $0x88, Y3, Y2, Y6         // bottom-left
	VSHUFPS $0xDD, Y3, Y2, Y7         // bottom-right
	VMOVDQU Y10, Y8                   // its index
	VPADDD  Y12, Y10, Y9
	VCMPPS  $0x1E, Y4, Y5, Y14        // top-right > max (GT_OQ)
	VBLENDVPS Y14, Y5, Y4, Y4
	VBLENDVPS Y14, Y9, Y8, Y8
	VPADDD  Y11, Y10, Y15
	VCMPPS  $0x1E, Y4, Y6, Y14        // bottom-left > max
	VBLENDVPS Y14, Y6, Y4, Y4
	VBLENDVPS Y14, Y15, Y8, Y8
	VPADDD  Y12, Y15, Y9
	VCMPPS  $0x1E, Y4, Y7, Y14        // bottom-right > max
	VBLENDVPS Y14, Y7, Y4, Y4
	VBLENDVPS Y14, Y9, Y8, Y8
	VPERMPD $0xD8, Y4, Y4             // back to output order
	VPERMQ  $0xD8, Y8, Y8
	VMOVUPS Y4, (DI)
	VMOVDQU Y8, (R8)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $32, DI
	ADDQ $32, R8
	VPADDD Y13, Y10, Y10
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET
