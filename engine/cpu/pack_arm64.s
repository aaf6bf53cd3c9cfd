// pack_arm64.s: the SGEMM's packing of lines into panels (packLines) in
// NEON: four values of each line at a time, turned by 4×4 transposes
// (TRN1/TRN2 on words, then on double words), so panel row p holds each
// line's value p. A copy: the portable code's bits.

#include "textflag.h"

// T4(o0, o1, o2, o3): the 4×4 block of lines in V0-V3 (four values each)
// turned into four rows, o0 (each line's first value) to o3 (its fourth);
// V4-V7 hold the halves.
#define T4(o0, o1, o2, o3) \
	VTRN1 V1.S4, V0.S4, V4.S4; \
	VTRN2 V1.S4, V0.S4, V5.S4; \
	VTRN1 V3.S4, V2.S4, V6.S4; \
	VTRN2 V3.S4, V2.S4, V7.S4; \
	VTRN1 V6.D2, V4.D2, o0.D2; \
	VTRN1 V7.D2, V5.D2, o1.D2; \
	VTRN2 V6.D2, V4.D2, o2.D2; \
	VTRN2 V7.D2, V5.D2, o3.D2

// LOAD4: the next four lines' four values into V0-V3 (R2 steps a line on).
#define LOAD4 \
	VLD1.P (R2)(R1), [V0.S4]; \
	VLD1.P (R2)(R1), [V1.S4]; \
	VLD1.P (R2)(R1), [V2.S4]; \
	VLD1.P (R2)(R1), [V3.S4]

// func packT16NEON(src *float32, cs int, dst *float32, n int)
// dst[p*16+c] = src[c*cs+p] for c < 16, p < n; n a multiple of 4.
TEXT ·packT16NEON(SB), NOSPLIT, $0-32
	MOVD src+0(FP), R0
	MOVD cs+8(FP), R1
	MOVD dst+16(FP), R3
	MOVD n+24(FP), R4
	LSL  $2, R1, R1
	CBZ  R4, done16

loop16:
	MOVD R0, R2
	LOAD4
	T4(V16, V20, V24, V28)
	LOAD4
	T4(V17, V21, V25, V29)
	LOAD4
	T4(V18, V22, V26, V30)
	LOAD4
	T4(V19, V23, V27, V31)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R3)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R3)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R3)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R3)
	ADD  $16, R0, R0
	SUBS $4, R4, R4
	BNE  loop16

done16:
	RET

// func packT6NEON(src *float32, rs int, dst *float32, n int)
// dst[p*6+r] = src[r*rs+p] for r < 6, p < n; n a multiple of 4.
TEXT ·packT6NEON(SB), NOSPLIT, $0-32
	MOVD src+0(FP), R0
	MOVD rs+8(FP), R1
	MOVD dst+16(FP), R3
	MOVD n+24(FP), R4
	LSL  $2, R1, R1
	CBZ  R4, done6

loop6:
	MOVD  R0, R2
	LOAD4
	T4(V16, V17, V18, V19)
	VLD1.P (R2)(R1), [V8.S4] // lines 4 and 5
	VLD1   (R2), [V9.S4]
	VZIP1 V9.S4, V8.S4, V10.S4 // their values 0 and 1, in pairs
	VZIP2 V9.S4, V8.S4, V11.S4 // and 2 and 3
	VST1.P [V16.S4], 16(R3)
	VST1.P V10.D[0], 8(R3)
	VST1.P [V17.S4], 16(R3)
	VST1.P V10.D[1], 8(R3)
	VST1.P [V18.S4], 16(R3)
	VST1.P V11.D[0], 8(R3)
	VST1.P [V19.S4], 16(R3)
	VST1.P V11.D[1], 8(R3)
	ADD   $16, R0, R0
	SUBS  $4, R4, R4
	BNE   loop6

done6:
	RET
