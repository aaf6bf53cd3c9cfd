// pack_amd64.s: packing for the micro-kernel with AVX2 where packing is a
// transpose: a 16-column panel of a column-major B (packT16AVX2) and a
// 6-row panel of a row-major A (packT6AVX2), 8×8 blocks transposed in
// registers (unpack, shuffle, 128-bit lane permute) instead of one scalar
// store per element; and a row-major B's 16-column panel (packN16AVX2).
// packA and packB in gemm.go call them; the result is the same, bit for
// bit, as the portable loops (they only move values).

#include "textflag.h"

// LOAD8 loads 8 columns of 8 values: column c at base + c*stride (BX
// stride in bytes, R9 = 3*stride), from base (first four) and base +
// 4*stride (R11, last four).
#define LOAD8(base) \
	LEAQ (base)(BX*4), R11; \
	VMOVUPS (base), Y0; \
	VMOVUPS (base)(BX*1), Y1; \
	VMOVUPS (base)(BX*2), Y2; \
	VMOVUPS (base)(R9*1), Y3; \
	VMOVUPS (R11), Y4; \
	VMOVUPS (R11)(BX*1), Y5; \
	VMOVUPS (R11)(BX*2), Y6; \
	VMOVUPS (R11)(R9*1), Y7

// TRANSPOSE8 turns rows Y0..Y7 (row i = column i of B, 8 consecutive p)
// into Y8..Y15 (Y8+j = the 8 columns' values at p = j).
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y15; \
	VSHUFPS $0x44, Y10, Y8, Y0; \
	VSHUFPS $0xEE, Y10, Y8, Y1; \
	VSHUFPS $0x44, Y11, Y9, Y2; \
	VSHUFPS $0xEE, Y11, Y9, Y3; \
	VSHUFPS $0x44, Y14, Y12, Y4; \
	VSHUFPS $0xEE, Y14, Y12, Y5; \
	VSHUFPS $0x44, Y15, Y13, Y6; \
	VSHUFPS $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// STORE8 writes Y8..Y15 to 8 panel rows of 16 floats (64 bytes apart)
// from off(DI).
#define STORE8(off) \
	VMOVUPS Y8, (off+0)(DI); \
	VMOVUPS Y9, (off+64)(DI); \
	VMOVUPS Y10, (off+128)(DI); \
	VMOVUPS Y11, (off+192)(DI); \
	VMOVUPS Y12, (off+256)(DI); \
	VMOVUPS Y13, (off+320)(DI); \
	VMOVUPS Y14, (off+384)(DI); \
	VMOVUPS Y15, (off+448)(DI)

// func packT16AVX2(src *float32, cs int, dst *float32, n int)
// dst[p*16 + c] = src[c*cs + p] for c < 16 and p < n; n is a multiple of 8.
TEXT ·packT16AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ cs+8(FP), BX
	SHLQ $2, BX                   // column stride in bytes
	MOVQ dst+16(FP), DI
	MOVQ n+24(FP), CX
	LEAQ (BX)(BX*2), R9           // 3 strides
	LEAQ (SI)(BX*8), R10          // column 8
loop:
	CMPQ CX, $0
	JLE done
	LOAD8(SI)
	TRANSPOSE8
	STORE8(0)
	LOAD8(R10)
	TRANSPOSE8
	STORE8(32)
	ADDQ $32, SI                  // the next 8 values of each column
	ADDQ $32, R10
	ADDQ $512, DI                 // the next 8 panel rows
	SUBQ $8, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func packT6AVX2(src *float32, rs int, dst *float32, n int)
// dst[p*6 + r] = src[r*rs + p] for r < 6 and p < n; n is a multiple of 8.
// Y6 and Y7 are not loaded: each transposed row holds 6 values and 2 of
// whatever they held. Rows are stored 8 wide in increasing order, so each
// store's 2 extra values are overwritten by the next, and the last row of
// a block is stored as 4 + 2 values.
TEXT ·packT6AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ rs+8(FP), BX
	SHLQ $2, BX                   // row stride in bytes
	MOVQ dst+16(FP), DI
	MOVQ n+24(FP), CX
	LEAQ (BX)(BX*2), R9           // 3 strides
loop6:
	CMPQ CX, $0
	JLE done6
	LEAQ (SI)(BX*4), R11
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(BX*1), Y1
	VMOVUPS (SI)(BX*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R11), Y4
	VMOVUPS (R11)(BX*1), Y5
	TRANSPOSE8
	VMOVUPS Y8, 0(DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y14, 144(DI)
	VMOVUPS X15, 168(DI)
	VEXTRACTF128 $1, Y15, X0
	MOVQ X0, 184(DI)
	ADDQ $32, SI                  // the next 8 values of each row
	ADDQ $192, DI                 // the next 8 panel rows of 6
	SUBQ $8, CX
	JMP loop6
done6:
	VZEROUPPER
	RET

// func packN16AVX2(src *float32, rs int, dst *float32, n int)
// dst[p*16 + c] = src[p*rs + c] for c < 16 and p < n: a row-major B's
// 16-column panel, two 8-wide moves a row (copy's call and size dispatch
// cost more than the move itself at 64 bytes).
TEXT ·packN16AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ rs+8(FP), BX
	SHLQ $2, BX                   // row stride in bytes
	MOVQ dst+16(FP), DI
	MOVQ n+24(FP), CX
loopn:
	CMPQ CX, $0
	JLE donen
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ BX, SI
	ADDQ $64, DI
	DECQ CX
	JMP loopn
donen:
	VZEROUPPER
	RET
