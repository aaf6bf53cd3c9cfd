// sigmoid_amd64.s: sigmoid and tanh forward (with the bias add) and
// backward, 8 values at a time with AVX2, with the same operations in the
// same order as exp32, sigmoid32, tanh32 and actGrad in act.go (separate
// multiplies and adds, no fused multiply-add), so on a default build
// (GOAMD64=v1, where Go does not fuse either) they agree bit for bit.

#include "textflag.h"

// Each constant is 8 copies of one float32 (or int32), 32 bytes apart.
#define K_SIGN actk<>+0(SB)
#define K_ONE actk<>+32(SB)
#define K_HALF actk<>+64(SB)
#define K_LOG2E actk<>+96(SB)
#define K_LN2HI actk<>+128(SB)
#define K_LN2LO actk<>+160(SB)
#define K_M87 actk<>+192(SB)
#define K_I127 actk<>+224(SB)
#define K_C5040 actk<>+256(SB)
#define K_C720 actk<>+288(SB)
#define K_C120 actk<>+320(SB)
#define K_C24 actk<>+352(SB)
#define K_C6 actk<>+384(SB)
#define K_C0625 actk<>+416(SB)
#define K_C17 actk<>+448(SB)
#define K_C315 actk<>+480(SB)
#define K_C2_15 actk<>+512(SB)
#define K_CM1_3 actk<>+544(SB)

DATA actk<>+0(SB)/8, $0x8000000080000000
DATA actk<>+8(SB)/8, $0x8000000080000000
DATA actk<>+16(SB)/8, $0x8000000080000000
DATA actk<>+24(SB)/8, $0x8000000080000000
DATA actk<>+32(SB)/8, $0x3f8000003f800000
DATA actk<>+40(SB)/8, $0x3f8000003f800000
DATA actk<>+48(SB)/8, $0x3f8000003f800000
DATA actk<>+56(SB)/8, $0x3f8000003f800000
DATA actk<>+64(SB)/8, $0x3f0000003f000000
DATA actk<>+72(SB)/8, $0x3f0000003f000000
DATA actk<>+80(SB)/8, $0x3f0000003f000000
DATA actk<>+88(SB)/8, $0x3f0000003f000000
DATA actk<>+96(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actk<>+104(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actk<>+112(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actk<>+120(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actk<>+128(SB)/8, $0x3f3180003f318000
DATA actk<>+136(SB)/8, $0x3f3180003f318000
DATA actk<>+144(SB)/8, $0x3f3180003f318000
DATA actk<>+152(SB)/8, $0x3f3180003f318000
DATA actk<>+160(SB)/8, $0xb95e8083b95e8083
DATA actk<>+168(SB)/8, $0xb95e8083b95e8083
DATA actk<>+176(SB)/8, $0xb95e8083b95e8083
DATA actk<>+184(SB)/8, $0xb95e8083b95e8083
DATA actk<>+192(SB)/8, $0xc2ae0000c2ae0000
DATA actk<>+200(SB)/8, $0xc2ae0000c2ae0000
DATA actk<>+208(SB)/8, $0xc2ae0000c2ae0000
DATA actk<>+216(SB)/8, $0xc2ae0000c2ae0000
DATA actk<>+224(SB)/8, $0x0000007f0000007f
DATA actk<>+232(SB)/8, $0x0000007f0000007f
DATA actk<>+240(SB)/8, $0x0000007f0000007f
DATA actk<>+248(SB)/8, $0x0000007f0000007f
DATA actk<>+256(SB)/8, $0x39500d0139500d01
DATA actk<>+264(SB)/8, $0x39500d0139500d01
DATA actk<>+272(SB)/8, $0x39500d0139500d01
DATA actk<>+280(SB)/8, $0x39500d0139500d01
DATA actk<>+288(SB)/8, $0x3ab60b613ab60b61
DATA actk<>+296(SB)/8, $0x3ab60b613ab60b61
DATA actk<>+304(SB)/8, $0x3ab60b613ab60b61
DATA actk<>+312(SB)/8, $0x3ab60b613ab60b61
DATA actk<>+320(SB)/8, $0x3c0888893c088889
DATA actk<>+328(SB)/8, $0x3c0888893c088889
DATA actk<>+336(SB)/8, $0x3c0888893c088889
DATA actk<>+344(SB)/8, $0x3c0888893c088889
DATA actk<>+352(SB)/8, $0x3d2aaaab3d2aaaab
DATA actk<>+360(SB)/8, $0x3d2aaaab3d2aaaab
DATA actk<>+368(SB)/8, $0x3d2aaaab3d2aaaab
DATA actk<>+376(SB)/8, $0x3d2aaaab3d2aaaab
DATA actk<>+384(SB)/8, $0x3e2aaaab3e2aaaab
DATA actk<>+392(SB)/8, $0x3e2aaaab3e2aaaab
DATA actk<>+400(SB)/8, $0x3e2aaaab3e2aaaab
DATA actk<>+408(SB)/8, $0x3e2aaaab3e2aaaab
DATA actk<>+416(SB)/8, $0x3d8000003d800000
DATA actk<>+424(SB)/8, $0x3d8000003d800000
DATA actk<>+432(SB)/8, $0x3d8000003d800000
DATA actk<>+440(SB)/8, $0x3d8000003d800000
DATA actk<>+448(SB)/8, $0x4188000041880000
DATA actk<>+456(SB)/8, $0x4188000041880000
DATA actk<>+464(SB)/8, $0x4188000041880000
DATA actk<>+472(SB)/8, $0x4188000041880000
DATA actk<>+480(SB)/8, $0x439d8000439d8000
DATA actk<>+488(SB)/8, $0x439d8000439d8000
DATA actk<>+496(SB)/8, $0x439d8000439d8000
DATA actk<>+504(SB)/8, $0x439d8000439d8000
DATA actk<>+512(SB)/8, $0x3e0888893e088889
DATA actk<>+520(SB)/8, $0x3e0888893e088889
DATA actk<>+528(SB)/8, $0x3e0888893e088889
DATA actk<>+536(SB)/8, $0x3e0888893e088889
DATA actk<>+544(SB)/8, $0xbeaaaaabbeaaaaab
DATA actk<>+552(SB)/8, $0xbeaaaaabbeaaaaab
DATA actk<>+560(SB)/8, $0xbeaaaaabbeaaaaab
DATA actk<>+568(SB)/8, $0xbeaaaaabbeaaaaab
GLOBL actk<>(SB), RODATA|NOPTR, $576

// EXP sets Y4 = exp32(Y1) for Y1 <= 0 (exp32's other clamp, x > 88, is
// never reached here); Y2, Y3 and Y5 are scratch. x = k·ln2 + r,
// k = floor(x·log2e + 0.5), exp(r) by Horner's rule, 2^k from the
// exponent bits; 0 below -87.
#define EXP \
	VMULPS    K_LOG2E, Y1, Y2; \
	VADDPS    K_HALF, Y2, Y2; \
	VROUNDPS  $9, Y2, Y2; \
	VMULPS    K_LN2HI, Y2, Y3; \
	VSUBPS    Y3, Y1, Y3; \
	VMULPS    K_LN2LO, Y2, Y5; \
	VSUBPS    Y5, Y3, Y3; \
	VMOVUPS   K_C5040, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_C720, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_C120, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_C24, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_C6, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_HALF, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_ONE, Y4, Y4; \
	VMULPS    Y3, Y4, Y4; \
	VADDPS    K_ONE, Y4, Y4; \
	VCVTPS2DQ Y2, Y2; \
	VPADDD    K_I127, Y2, Y2; \
	VPSLLD    $23, Y2, Y2; \
	VMULPS    Y2, Y4, Y4; \
	VCMPPS    $0x11, K_M87, Y1, Y5; \
	VANDNPS   Y4, Y5, Y4

// func biasActAVX2(v, b *float32, bstep, n int, tanh bool)
// v[i] = sigmoid(v[i] + b[i']), or tanh(…) with tanh set, where b
// advances bstep bytes (0 or 32) every 8 values; n is a multiple of 8.
TEXT ·biasActAVX2(SB), NOSPLIT, $0-33
	MOVQ v+0(FP), DI
	MOVQ b+8(FP), BX
	MOVQ bstep+16(FP), R9
	MOVQ n+24(FP), CX
	VMOVUPS K_SIGN, Y8
	VMOVUPS K_ONE, Y13
	SHRQ $3, CX
	JZ   done
	CMPB tanh+32(FP), $0
	JNE  tanhloop

sigmoidloop:
	VMOVUPS (BX), Y1
	VADDPS  (DI), Y1, Y0     // x = v + b
	VORPS   Y8, Y0, Y1       // -|x|
	EXP
	VADDPS  Y13, Y4, Y5      // d = 1 + e
	VDIVPS  Y5, Y13, Y6      // x >= 0: 1/d
	VDIVPS  Y5, Y4, Y7       // x < 0: e/d
	VBLENDVPS Y0, Y7, Y6, Y6 // by x's sign bit
	VMOVUPS Y6, (DI)
	ADDQ R9, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  sigmoidloop
	JMP  done

tanhloop:
	VMOVUPS (BX), Y1
	VADDPS  (DI), Y1, Y0     // x = v + b
	VANDNPS Y0, Y8, Y6       // a = |x|
	VADDPS  Y6, Y6, Y1
	VORPS   Y8, Y1, Y1       // -2a
	EXP
	VSUBPS  Y4, Y13, Y5      // 1 - e
	VADDPS  Y13, Y4, Y4      // 1 + e
	VDIVPS  Y4, Y5, Y5       // a >= 0.0625: (1-e)/(1+e)
	VMULPS  Y6, Y6, Y7       // a2 = a·a
	VMULPS  K_C17, Y7, Y2
	VDIVPS  K_C315, Y2, Y2   // a2·17/315
	VMOVUPS K_C2_15, Y3
	VSUBPS  Y2, Y3, Y3       // 2/15 - a2·17/315
	VMULPS  Y3, Y7, Y3
	VADDPS  K_CM1_3, Y3, Y3  // -1/3 + a2·(…)
	VMULPS  Y3, Y7, Y3
	VADDPS  Y13, Y3, Y3      // 1 + a2·(…)
	VMULPS  Y3, Y6, Y3       // a < 0.0625: a·(…)
	VCMPPS  $0x11, K_C0625, Y6, Y2
	VBLENDVPS Y2, Y3, Y5, Y5
	VANDPS  Y8, Y0, Y2       // x's sign
	VORPS   Y2, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ R9, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  tanhloop

done:
	VZEROUPPER
	RET

// func actGradAVX2(dz, dy, y *float32, n int, tanh bool)
// dz[i] = dy[i]·y[i]·(1 - y[i]) (sigmoid), or with tanh set
// dy[i]·(1 - y[i]·y[i]); n is a multiple of 8.
TEXT ·actGradAVX2(SB), NOSPLIT, $0-33
	MOVQ dz+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	VMOVUPS K_ONE, Y13
	SHRQ $3, CX
	JZ   gdone
	CMPB tanh+32(FP), $0
	JNE  tanhgrad

sigmoidgrad:
	VMOVUPS (DX), Y1
	VMULPS  (SI), Y1, Y0     // dy·y
	VSUBPS  Y1, Y13, Y2      // 1 - y
	VMULPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  sigmoidgrad
	JMP  gdone

tanhgrad:
	VMOVUPS (DX), Y1
	VMULPS  Y1, Y1, Y2       // y·y
	VSUBPS  Y2, Y13, Y2      // 1 - y·y
	VMULPS  (SI), Y2, Y0     // dy·(…)
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  tanhgrad

gdone:
	VZEROUPPER
	RET
