//go:build amd64 && !purego

#include "textflag.h"

// AVX2 versions of the Winograd F(2×2, 3×3) transforms (winograd.go), eight
// channels at a time, for channel counts that are multiples of 8. Each
// performs the additions of its Go version in the same order, so the two
// agree bit for bit.

DATA winoSign<>+0(SB)/4, $0x80000000
GLOBL winoSign<>(SB), RODATA|NOPTR, $4

// WINOCOLS stores row r of V = (Bᵀ d) B from row r of Bᵀ d in Y0–Y3: at
// SI, SI + cs, SI + 2·cs and SI + 3·cs (R11 = cs, R12 = 3·cs in bytes).
#define WINOCOLS \
	VSUBPS  Y2, Y0, Y4;         \
	VADDPS  Y2, Y1, Y5;         \
	VSUBPS  Y1, Y2, Y6;         \
	VSUBPS  Y3, Y1, Y7;         \
	VMOVUPS Y4, (SI);           \
	VMOVUPS Y5, (SI)(R11*1);    \
	VMOVUPS Y6, (SI)(R11*2);    \
	VMOVUPS Y7, (SI)(R12*1)

// func winoInputRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int)
// Registers: AX, BX, CX, DX the patch rows 0–3 of the current tile and
// channel block; DI the destination of component 0; R9 = ch, R10 = 3·ch,
// R11 = cs, R12 = 3·cs, R13 = 4·cs (bytes); R8 tiles left, R14 bytes of
// channels left. The argument ts is overwritten with (ts − ch)·4, the step
// in bytes from the end of a tile's channels to the next tile.
TEXT ·winoInputRowAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ cs+8(FP), R11
	MOVQ src+24(FP), AX
	MOVQ rs+32(FP), R10
	MOVQ tw+40(FP), R8
	MOVQ ch+48(FP), R9
	MOVQ ts+16(FP), R12
	SUBQ R9, R12
	SHLQ $2, R12
	MOVQ R12, ts+16(FP)
	SHLQ $2, R11
	SHLQ $2, R10
	SHLQ $2, R9
	LEAQ (AX)(R10*1), BX
	LEAQ (AX)(R10*2), CX
	LEAQ (BX)(R10*2), DX
	LEAQ (R9)(R9*2), R10
	LEAQ (R11)(R11*2), R12
	MOVQ R11, R13
	SHLQ $2, R13
	TESTQ R8, R8
	JZ    idone

itile:
	MOVQ R9, R14

ichan:
	// Row 0 of Bᵀ d: d0 − d2.
	VMOVUPS (AX), Y0
	VSUBPS  (CX), Y0, Y0
	VMOVUPS (AX)(R9*1), Y1
	VSUBPS  (CX)(R9*1), Y1, Y1
	VMOVUPS (AX)(R9*2), Y2
	VSUBPS  (CX)(R9*2), Y2, Y2
	VMOVUPS (AX)(R10*1), Y3
	VSUBPS  (CX)(R10*1), Y3, Y3
	MOVQ    DI, SI
	WINOCOLS

	// Row 1: d1 + d2.
	VMOVUPS (BX), Y0
	VADDPS  (CX), Y0, Y0
	VMOVUPS (BX)(R9*1), Y1
	VADDPS  (CX)(R9*1), Y1, Y1
	VMOVUPS (BX)(R9*2), Y2
	VADDPS  (CX)(R9*2), Y2, Y2
	VMOVUPS (BX)(R10*1), Y3
	VADDPS  (CX)(R10*1), Y3, Y3
	ADDQ    R13, SI
	WINOCOLS

	// Row 2: d2 − d1.
	VMOVUPS (CX), Y0
	VSUBPS  (BX), Y0, Y0
	VMOVUPS (CX)(R9*1), Y1
	VSUBPS  (BX)(R9*1), Y1, Y1
	VMOVUPS (CX)(R9*2), Y2
	VSUBPS  (BX)(R9*2), Y2, Y2
	VMOVUPS (CX)(R10*1), Y3
	VSUBPS  (BX)(R10*1), Y3, Y3
	ADDQ    R13, SI
	WINOCOLS

	// Row 3: d1 − d3.
	VMOVUPS (BX), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS (BX)(R9*1), Y1
	VSUBPS  (DX)(R9*1), Y1, Y1
	VMOVUPS (BX)(R9*2), Y2
	VSUBPS  (DX)(R9*2), Y2, Y2
	VMOVUPS (BX)(R10*1), Y3
	VSUBPS  (DX)(R10*1), Y3, Y3
	ADDQ    R13, SI
	WINOCOLS

	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, CX
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $32, R14
	JNZ  ichan

	// The channel loop moved the patch one pixel on; tiles are two apart.
	ADDQ R9, AX
	ADDQ R9, BX
	ADDQ R9, CX
	ADDQ R9, DX
	ADDQ ts+16(FP), DI
	DECQ R8
	JNZ  itile

idone:
	VZEROUPPER
	RET

// func winoOutputRowAVX2(dst *float32, rs int, src *float32, cs, ts, tw, ch int, add *float32)
// Registers: AX, BX, CX, DX the products of components 0, 4, 8, 12 (rows
// of m) for the current tile and channel block, the columns at + 0, cs,
// 2·cs, 3·cs; DI, SI the two output rows and R14, R10 those of add (not
// read when add is nil); R9 = ch, R11 = cs, R12 = 3·cs (bytes); R8 tiles
// left, R13 bytes of channels left. The argument ts is overwritten with
// (ts − ch)·4, as in winoInputRowAVX2.
TEXT ·winoOutputRowAVX2(SB), NOSPLIT, $0-64
	MOVQ  dst+0(FP), DI
	MOVQ  rs+8(FP), R13
	MOVQ  src+16(FP), AX
	MOVQ  cs+24(FP), R11
	MOVQ  tw+40(FP), R8
	MOVQ  ch+48(FP), R9
	MOVQ  add+56(FP), R14
	MOVQ  ts+32(FP), R12
	SUBQ  R9, R12
	SHLQ  $2, R12
	MOVQ  R12, ts+32(FP)
	SHLQ  $2, R13
	SHLQ  $2, R11
	SHLQ  $2, R9
	LEAQ  (DI)(R13*1), SI
	LEAQ  (R14)(R13*1), R10
	LEAQ  (R11)(R11*2), R12
	MOVQ  R11, R13
	SHLQ  $2, R13
	LEAQ  (AX)(R13*1), BX
	LEAQ  (BX)(R13*1), CX
	LEAQ  (CX)(R13*1), DX
	TESTQ R8, R8
	JZ    odone

otile:
	MOVQ R9, R13

ochan:
	// u0 (Y0–Y3) and u1 (Y4–Y7), the rows of Aᵀ m, column by column.
	VMOVUPS (AX), Y0
	VADDPS  (BX), Y0, Y0
	VADDPS  (CX), Y0, Y0
	VMOVUPS (BX), Y4
	VSUBPS  (CX), Y4, Y4
	VSUBPS  (DX), Y4, Y4
	VMOVUPS (AX)(R11*1), Y1
	VADDPS  (BX)(R11*1), Y1, Y1
	VADDPS  (CX)(R11*1), Y1, Y1
	VMOVUPS (BX)(R11*1), Y5
	VSUBPS  (CX)(R11*1), Y5, Y5
	VSUBPS  (DX)(R11*1), Y5, Y5
	VMOVUPS (AX)(R11*2), Y2
	VADDPS  (BX)(R11*2), Y2, Y2
	VADDPS  (CX)(R11*2), Y2, Y2
	VMOVUPS (BX)(R11*2), Y6
	VSUBPS  (CX)(R11*2), Y6, Y6
	VSUBPS  (DX)(R11*2), Y6, Y6
	VMOVUPS (AX)(R12*1), Y3
	VADDPS  (BX)(R12*1), Y3, Y3
	VADDPS  (CX)(R12*1), Y3, Y3
	VMOVUPS (BX)(R12*1), Y7
	VSUBPS  (CX)(R12*1), Y7, Y7
	VSUBPS  (DX)(R12*1), Y7, Y7

	// (Aᵀ m) A: y00 = u0₀ + u0₁ + u0₂, y01 = u0₁ − u0₂ − u0₃, likewise y1·.
	VADDPS Y1, Y0, Y8
	VADDPS Y2, Y8, Y8
	VSUBPS Y2, Y1, Y9
	VSUBPS Y3, Y9, Y9
	VADDPS Y5, Y4, Y10
	VADDPS Y6, Y10, Y10
	VSUBPS Y6, Y5, Y11
	VSUBPS Y7, Y11, Y11
	CMPQ   add+56(FP), $0
	JEQ    ostore
	VADDPS (R14), Y8, Y8
	VADDPS (R14)(R9*1), Y9, Y9
	VADDPS (R10), Y10, Y10
	VADDPS (R10)(R9*1), Y11, Y11

ostore:
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (SI)
	VMOVUPS Y11, (SI)(R9*1)

	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, CX
	ADDQ $32, DX
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R14
	ADDQ $32, R10
	SUBQ $32, R13
	JNZ  ochan

	// The channel loop moved the output one pixel on; tiles are two wide.
	ADDQ R9, DI
	ADDQ R9, SI
	ADDQ R9, R14
	ADDQ R9, R10
	MOVQ ts+32(FP), R13
	ADDQ R13, AX
	ADDQ R13, BX
	ADDQ R13, CX
	ADDQ R13, DX
	DECQ R8
	JNZ  otile

odone:
	VZEROUPPER
	RET

// WINOGROW stores row r of dM = (A g) Aᵀ from row r of A g in (q0, q1):
// q0, q0 + q1, q0 − q1, −q1 at SI, SI + cs, SI + 2·cs, SI + 3·cs.
#define WINOGROW(q0, q1) \
	VADDPS  q1, q0, Y12;     \
	VSUBPS  q1, q0, Y13;     \
	VXORPS  Y15, q1, Y14;    \
	VMOVUPS q0, (SI);        \
	VMOVUPS Y12, (SI)(R11*1); \
	VMOVUPS Y13, (SI)(R11*2); \
	VMOVUPS Y14, (SI)(R12*1)

// func winoGradRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int)
// Registers: AX, BX the two output-gradient rows of the current tile and
// channel block; DI the destination of component 0; R9 = ch, R11 = cs,
// R12 = 3·cs, R13 = 4·cs (bytes); R8 tiles left, R14 bytes of channels left;
// Y15 the sign bit. R10 = (ts − ch)·4, as in winoInputRowAVX2.
TEXT ·winoGradRowAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ cs+8(FP), R11
	MOVQ src+24(FP), AX
	MOVQ rs+32(FP), R10
	MOVQ tw+40(FP), R8
	MOVQ ch+48(FP), R9
	SHLQ $2, R11
	SHLQ $2, R10
	SHLQ $2, R9
	LEAQ (AX)(R10*1), BX
	MOVQ ts+16(FP), R10
	SUBQ ch+48(FP), R10
	SHLQ $2, R10
	LEAQ (R11)(R11*2), R12
	MOVQ R11, R13
	SHLQ $2, R13
	VBROADCASTSS winoSign<>(SB), Y15
	TESTQ R8, R8
	JZ    gdone

gtile:
	MOVQ R9, R14

gchan:
	VMOVUPS (AX), Y0       // g00
	VMOVUPS (AX)(R9*1), Y1 // g01
	VMOVUPS (BX), Y2       // g10
	VMOVUPS (BX)(R9*1), Y3 // g11
	// The rows of A g: (g00, g01), (g00 + g10, g01 + g11),
	// (g00 − g10, g01 − g11), (−g10, −g11).
	VADDPS Y2, Y0, Y4
	VADDPS Y3, Y1, Y5
	VSUBPS Y2, Y0, Y6
	VSUBPS Y3, Y1, Y7
	VXORPS Y15, Y2, Y8
	VXORPS Y15, Y3, Y9
	MOVQ   DI, SI
	WINOGROW(Y0, Y1)
	ADDQ   R13, SI
	WINOGROW(Y4, Y5)
	ADDQ   R13, SI
	WINOGROW(Y6, Y7)
	ADDQ   R13, SI
	WINOGROW(Y8, Y9)

	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, DI
	SUBQ $32, R14
	JNZ  gchan

	ADDQ R9, AX
	ADDQ R9, BX
	ADDQ R10, DI
	DECQ R8
	JNZ  gtile

gdone:
	VZEROUPPER
	RET
