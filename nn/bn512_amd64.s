//go:build amd64 && !purego

#include "textflag.h"
#include "bnsums_amd64.h"

// AVX-512 versions of the BatchNorm sums of bn_amd64.s, for channel counts
// that are multiples of 16. The AVX2 sums walk one group of 8 channels down
// all rows before the next, so every row waits on the previous row's add
// (a chain of additions 3–4 cycles long per row): latency, not width or
// memory, bounds them. Here a row's pass covers 32 channels in two
// registers (16 for the last group when c is an odd multiple of 16), so
// each row feeds 2–4 times as many independent chains. Every channel's sum
// is still built row by row in the same order with the same operations, so
// the results are those of the AVX2 passes bit for bit.

// func bnSumsAVX512(x, k, s, q *float32, rows, c int)
// s += Σ_rows (x − k), q += Σ_rows (x − k)².
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-48
	MOVQ  x+0(FP), SI
	MOVQ  k+8(FP), R8
	MOVQ  s+16(FP), R9
	MOVQ  q+24(FP), R10
	MOVQ  rows+32(FP), CX
	MOVQ  c+40(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JZ    vdone
	XORQ  BX, BX

vpair:
	// Two registers of channels while 32 remain.
	LEAQ    128(BX), AX
	CMPQ    AX, DX
	JA      vsingle
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z4, Z4, Z4
	VPXORD  Z5, Z5, Z5
	VMOVUPS (R8)(BX*1), Z2
	VMOVUPS 64(R8)(BX*1), Z6
	MOVQ    BX, AX
	MOVQ    CX, R14

vprow:
	SUMS_ROW(0, Z2, Z3, Z0, Z1)
	SUMS_ROW(64, Z6, Z7, Z4, Z5)
	ADDQ DX, AX
	DECQ R14
	JNZ  vprow
	SUMS_ADD(0, Z0, Z1, R9, R10)
	SUMS_ADD(64, Z4, Z5, R9, R10)
	ADDQ $128, BX
	CMPQ BX, DX
	JB   vpair
	JMP  vdone

vsingle:
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VMOVUPS (R8)(BX*1), Z2
	MOVQ    BX, AX
	MOVQ    CX, R14

vsrow:
	SUMS_ROW(0, Z2, Z3, Z0, Z1)
	ADDQ DX, AX
	DECQ R14
	JNZ  vsrow
	SUMS_ADD(0, Z0, Z1, R9, R10)

vdone:
	VZEROUPPER
	RET

// func bnGradSumsAVX512(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int)
// g = dy (masked by y > 0 when y != nil, else by x·scale + shift > 0 when
// scale != nil; stored to gOut when != nil); sg += Σ_rows g,
// sx += Σ_rows g·(x − mu): bnGradSumsAVX2 over 32 channels per row pass.
TEXT ·bnGradSumsAVX512(SB), NOSPLIT, $0-88
	MOVQ   dy+0(FP), SI
	MOVQ   y+8(FP), R8
	MOVQ   x+16(FP), R9
	MOVQ   gOut+24(FP), R10
	MOVQ   mu+32(FP), R11
	MOVQ   sg+40(FP), R12
	MOVQ   sx+48(FP), R13
	MOVQ   scale+56(FP), DI
	MOVQ   rows+72(FP), CX
	MOVQ   c+80(FP), DX
	SHLQ   $2, DX
	TESTQ  CX, CX
	JZ     wdone
	VPXORD Z31, Z31, Z31
	XORQ   BX, BX

wgroup:
	// Two registers of channels while 32 remain, else one: BX+64 <= DX
	// always holds here, and the second register's lanes are used only
	// when BX+128 <= DX (R14 = 1).
	XORQ    R14, R14
	LEAQ    128(BX), AX
	CMPQ    AX, DX
	JA      wone
	MOVQ    $1, R14

wone:
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z10, Z10, Z10
	VPXORD  Z11, Z11, Z11
	VMOVUPS (R11)(BX*1), Z2
	TESTQ   R14, R14
	JZ      wmu1
	VMOVUPS 64(R11)(BX*1), Z12

wmu1:
	TESTQ   DI, DI
	JZ      wstart
	MOVQ    shift+64(FP), AX
	VMOVUPS (DI)(BX*1), Z7
	VMOVUPS (AX)(BX*1), Z8
	TESTQ   R14, R14
	JZ      wstart
	VMOVUPS 64(DI)(BX*1), Z17
	VMOVUPS 64(AX)(BX*1), Z18

wstart:
	MOVQ  BX, AX
	MOVQ  rows+72(FP), CX
	TESTQ R14, R14
	JZ    w1row

w2row:
	VMOVUPS (SI)(AX*1), Z3
	VMOVUPS 64(SI)(AX*1), Z13
	VMOVUPS (R9)(AX*1), Z6
	VMOVUPS 64(R9)(AX*1), Z16
	TESTQ   R8, R8
	JZ      w2xmask
	VMOVUPS (R8)(AX*1), Z4
	VMOVUPS 64(R8)(AX*1), Z14
	JMP     w2mask

w2xmask:
	TESTQ       DI, DI
	JZ          w2nomask
	VMOVAPS     Z8, Z4
	VFMADD231PS Z7, Z6, Z4
	VMOVAPS     Z18, Z14
	VFMADD231PS Z17, Z16, Z14

w2mask:
	VPCMPGTD    Z31, Z4, K1
	VPCMPGTD    Z31, Z14, K2
	VMOVDQA32.Z Z3, K1, Z3
	VMOVDQA32.Z Z13, K2, Z13

w2nomask:
	TESTQ   R10, R10
	JZ      w2noout
	VMOVUPS Z3, (R10)(AX*1)
	VMOVUPS Z13, 64(R10)(AX*1)

w2noout:
	GRAD_SUMS_ROW(Z3, Z6, Z2, Z0, Z1)
	GRAD_SUMS_ROW(Z13, Z16, Z12, Z10, Z11)
	ADDQ DX, AX
	DECQ CX
	JNZ  w2row
	JMP  wstore

w1row:
	VMOVUPS (SI)(AX*1), Z3
	VMOVUPS (R9)(AX*1), Z6
	TESTQ   R8, R8
	JZ      w1xmask
	VMOVUPS (R8)(AX*1), Z4
	JMP     w1mask

w1xmask:
	TESTQ       DI, DI
	JZ          w1nomask
	VMOVAPS     Z8, Z4
	VFMADD231PS Z7, Z6, Z4

w1mask:
	VPCMPGTD    Z31, Z4, K1
	VMOVDQA32.Z Z3, K1, Z3

w1nomask:
	TESTQ   R10, R10
	JZ      w1noout
	VMOVUPS Z3, (R10)(AX*1)

w1noout:
	GRAD_SUMS_ROW(Z3, Z6, Z2, Z0, Z1)
	ADDQ DX, AX
	DECQ CX
	JNZ  w1row

wstore:
	SUMS_ADD(0, Z0, Z1, R12, R13)
	TESTQ R14, R14
	JZ    wnext
	SUMS_ADD(64, Z10, Z11, R12, R13)
	ADDQ  $64, BX

wnext:
	ADDQ $64, BX
	CMPQ BX, DX
	JB   wgroup

wdone:
	VZEROUPPER
	RET
