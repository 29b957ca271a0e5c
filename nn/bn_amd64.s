//go:build amd64 && !purego

#include "textflag.h"
#include "bnsums_amd64.h"

// AVX2+FMA versions of the BatchNorm passes of bnkernels.go, for channel
// counts that are multiples of 8. Channels are the fastest axis: row r,
// channel j is element r·c + j.

// func bnApplyAVX2(x, res, y, scale, shift *float32, rows, c int, relu bool)
// y = x·scale + shift (+ res) (then ReLU by clearing negative values).
TEXT ·bnApplyAVX2(SB), NOSPLIT, $0-57
	MOVQ    x+0(FP), SI
	MOVQ    res+8(FP), R8
	MOVQ    y+16(FP), DI
	MOVQ    scale+24(FP), R9
	MOVQ    shift+32(FP), R10
	MOVQ    rows+40(FP), CX
	MOVQ    c+48(FP), DX
	MOVBLZX relu+56(FP), R11
	SHLQ    $2, DX
	TESTQ   CX, CX
	JZ      adone

arow:
	XORQ BX, BX

acol:
	VMOVUPS     (SI)(BX*1), Y0
	VMOVUPS     (R10)(BX*1), Y1
	VFMADD231PS (R9)(BX*1), Y0, Y1
	TESTQ       R8, R8
	JZ          anores
	VADDPS      (R8)(BX*1), Y1, Y1

anores:
	TESTQ  R11, R11
	JZ     anorelu
	VPSRAD $31, Y1, Y2
	VPANDN Y1, Y2, Y1

anorelu:
	VMOVUPS Y1, (DI)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, DX
	JB      acol
	ADDQ    DX, SI
	ADDQ    DX, DI
	TESTQ   R8, R8
	JZ      anoresadv
	ADDQ    DX, R8

anoresadv:
	DECQ CX
	JNZ  arow

adone:
	VZEROUPPER
	RET

// func bnGradSumsAVX2(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int)
// g = dy (masked by y > 0 when y != nil, else by x·scale + shift > 0 when
// scale != nil, the fused multiply-add of bnApplyAVX2; stored to gOut when
// != nil); sg += Σ_rows g, sx += Σ_rows g·(x − mu). Channel groups outer,
// rows inner, sums in registers; two groups of 8 channels per row pass
// while 16 remain (see bnSumsAVX2), scale and shift then read from memory.
TEXT ·bnGradSumsAVX2(SB), NOSPLIT, $0-88
	MOVQ   dy+0(FP), SI
	MOVQ   y+8(FP), R8
	MOVQ   x+16(FP), R9
	MOVQ   gOut+24(FP), R10
	MOVQ   mu+32(FP), R11
	MOVQ   sg+40(FP), R12
	MOVQ   sx+48(FP), R13
	MOVQ   rows+72(FP), CX
	MOVQ   c+80(FP), DX
	SHLQ   $2, DX
	TESTQ  CX, CX
	JZ     sdone
	VPXOR  Y15, Y15, Y15
	XORQ   BX, BX

sgroup:
	LEAQ    64(BX), AX
	CMPQ    AX, DX
	JA      ssingle
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y9, Y9, Y9
	VXORPS  Y10, Y10, Y10
	VMOVUPS (R11)(BX*1), Y2
	VMOVUPS 32(R11)(BX*1), Y11
	MOVQ    scale+56(FP), DI
	MOVQ    shift+64(FP), R14
	MOVQ    BX, AX

sprow:
	VMOVUPS (SI)(AX*1), Y3
	VMOVUPS 32(SI)(AX*1), Y12
	VMOVUPS (R9)(AX*1), Y6
	VMOVUPS 32(R9)(AX*1), Y14
	TESTQ   R8, R8
	JZ      spxmask
	VMOVUPS (R8)(AX*1), Y4
	VMOVUPS 32(R8)(AX*1), Y13
	JMP     spmask

spxmask:
	TESTQ       DI, DI
	JZ          spnomask
	VMOVUPS     (R14)(BX*1), Y4
	VFMADD231PS (DI)(BX*1), Y6, Y4
	VMOVUPS     32(R14)(BX*1), Y13
	VFMADD231PS 32(DI)(BX*1), Y14, Y13

spmask:
	VPCMPGTD Y15, Y4, Y5
	VPAND    Y5, Y3, Y3
	VPCMPGTD Y15, Y13, Y5
	VPAND    Y5, Y12, Y12

spnomask:
	TESTQ   R10, R10
	JZ      spnoout
	VMOVUPS Y3, (R10)(AX*1)
	VMOVUPS Y12, 32(R10)(AX*1)

spnoout:
	GRAD_SUMS_ROW(Y3, Y6, Y2, Y0, Y1)
	GRAD_SUMS_ROW(Y12, Y14, Y11, Y9, Y10)
	ADDQ DX, AX
	DECQ CX
	JNZ  sprow
	MOVQ rows+72(FP), CX
	SUMS_ADD(0, Y0, Y1, R12, R13)
	SUMS_ADD(32, Y9, Y10, R12, R13)
	ADDQ $64, BX
	CMPQ BX, DX
	JB   sgroup
	JMP  sdone

ssingle:
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VMOVUPS (R11)(BX*1), Y2
	MOVQ    BX, AX
	MOVQ    CX, R14
	MOVQ    scale+56(FP), DI
	TESTQ   DI, DI
	JZ      srow
	VMOVUPS (DI)(BX*1), Y7
	MOVQ    shift+64(FP), DI
	VMOVUPS (DI)(BX*1), Y8

srow:
	VMOVUPS (SI)(AX*1), Y3
	VMOVUPS (R9)(AX*1), Y6
	TESTQ   R8, R8
	JZ      sxmask
	VMOVUPS (R8)(AX*1), Y4
	JMP     smask

sxmask:
	// The forward pass's y = ReLU(x·scale + shift) is > 0 exactly when
	// x·scale + shift, as an int32, is.
	TESTQ       DI, DI
	JZ          snomask
	VMOVAPS     Y8, Y4
	VFMADD231PS Y7, Y6, Y4

smask:
	VPCMPGTD Y15, Y4, Y5
	VPAND    Y5, Y3, Y3

snomask:
	TESTQ   R10, R10
	JZ      snoout
	VMOVUPS Y3, (R10)(AX*1)

snoout:
	GRAD_SUMS_ROW(Y3, Y6, Y2, Y0, Y1)
	ADDQ DX, AX
	DECQ R14
	JNZ  srow
	SUMS_ADD(0, Y0, Y1, R12, R13)
	ADDQ $32, BX
	CMPQ BX, DX
	JB   sgroup

sdone:
	VZEROUPPER
	RET

// func bnGradApplyAVX2(dy, y, x, dx, mu, ca, cb, cc, scale, shift *float32, rows, c int)
// dx = ca·g + cb·(x − mu) + cc, g = dy masked by y > 0 when y != nil, else
// by x·scale + shift > 0 when scale != nil.
TEXT ·bnGradApplyAVX2(SB), NOSPLIT, $0-96
	MOVQ  dy+0(FP), SI
	MOVQ  y+8(FP), R8
	MOVQ  x+16(FP), R9
	MOVQ  dx+24(FP), DI
	MOVQ  mu+32(FP), R10
	MOVQ  ca+40(FP), R11
	MOVQ  cb+48(FP), R12
	MOVQ  cc+56(FP), R13
	MOVQ  scale+64(FP), AX
	MOVQ  shift+72(FP), R14
	MOVQ  rows+80(FP), CX
	MOVQ  c+88(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JZ    gdone
	VPXOR Y15, Y15, Y15

grow:
	XORQ BX, BX

gcol:
	VMOVUPS  (SI)(BX*1), Y0
	VMOVUPS  (R9)(BX*1), Y3
	TESTQ    R8, R8
	JZ       gxmask
	VMOVUPS  (R8)(BX*1), Y1
	JMP      gmask

gxmask:
	TESTQ       AX, AX
	JZ          gnomask
	VMOVUPS     (R14)(BX*1), Y1
	VFMADD231PS (AX)(BX*1), Y3, Y1

gmask:
	VPCMPGTD Y15, Y1, Y2
	VPAND    Y2, Y0, Y0

gnomask:
	VSUBPS      (R10)(BX*1), Y3, Y3
	VMOVUPS     (R13)(BX*1), Y4
	VFMADD231PS (R12)(BX*1), Y3, Y4
	VFMADD231PS (R11)(BX*1), Y0, Y4
	VMOVUPS     Y4, (DI)(BX*1)
	ADDQ        $32, BX
	CMPQ        BX, DX
	JB          gcol
	ADDQ        DX, SI
	ADDQ        DX, R9
	ADDQ        DX, DI
	TESTQ       R8, R8
	JZ          gnomaskadv
	ADDQ        DX, R8

gnomaskadv:
	DECQ CX
	JNZ  grow

gdone:
	VZEROUPPER
	RET

// func bnSumsAVX2(x, k, s, q *float32, rows, c int)
// s += Σ_rows (x − k), q += Σ_rows (x − k)². Channel groups outer, rows
// inner, sums in registers. Each row waits on the previous row's add, so a
// row's pass takes two groups of 8 channels while 16 remain: two chains
// per sum instead of one (the same operations in the same order per
// channel, so the same bits).
TEXT ·bnSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ  x+0(FP), SI
	MOVQ  k+8(FP), R8
	MOVQ  s+16(FP), R9
	MOVQ  q+24(FP), R10
	MOVQ  rows+32(FP), CX
	MOVQ  c+40(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JZ    udone
	XORQ  BX, BX

ugroup:
	LEAQ    64(BX), AX
	CMPQ    AX, DX
	JA      usingle
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VMOVUPS (R8)(BX*1), Y2
	VMOVUPS 32(R8)(BX*1), Y6
	MOVQ    BX, AX
	MOVQ    CX, R14

uprow:
	SUMS_ROW(0, Y2, Y3, Y0, Y1)
	SUMS_ROW(32, Y6, Y7, Y4, Y5)
	ADDQ DX, AX
	DECQ R14
	JNZ  uprow
	SUMS_ADD(0, Y0, Y1, R9, R10)
	SUMS_ADD(32, Y4, Y5, R9, R10)
	ADDQ $64, BX
	CMPQ BX, DX
	JB   ugroup
	JMP  udone

usingle:
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VMOVUPS (R8)(BX*1), Y2
	MOVQ    BX, AX
	MOVQ    CX, R14

urow:
	SUMS_ROW(0, Y2, Y3, Y0, Y1)
	ADDQ DX, AX
	DECQ R14
	JNZ  urow
	SUMS_ADD(0, Y0, Y1, R9, R10)
	ADDQ $32, BX
	CMPQ BX, DX
	JB   ugroup

udone:
	VZEROUPPER
	RET
