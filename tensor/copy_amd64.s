//go:build amd64 && !purego

#include "textflag.h"

// func copyStridedAVX2(dst *float32, ds int, src *float32, ss int, n, l int)
// Copies n segments of l ≥ 8 floats, segment i from src + i·ss to
// dst + i·ds (strides in floats). When l is not a multiple of 8 the last
// eight floats of each segment are copied again as one vector, overlapping
// the one before: dst and src must not overlap.
TEXT ·copyStridedAVX2(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  ds+8(FP), R8
	SHLQ  $2, R8
	MOVQ  src+16(FP), SI
	MOVQ  ss+24(FP), R9
	SHLQ  $2, R9
	MOVQ  n+32(FP), CX
	MOVQ  l+40(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JZ    done

row:
	XORQ BX, BX

by64:
	LEAQ    64(BX), AX
	CMPQ    AX, DX
	JA      by32
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS 32(SI)(BX*1), Y1
	VMOVUPS Y0, (DI)(BX*1)
	VMOVUPS Y1, 32(DI)(BX*1)
	MOVQ    AX, BX
	JMP     by64

by32:
	LEAQ    32(BX), AX
	CMPQ    AX, DX
	JA      tail
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS Y0, (DI)(BX*1)
	MOVQ    AX, BX
	JMP     by32

tail:
	CMPQ    BX, DX
	JAE     next
	VMOVUPS -32(SI)(DX*1), Y0
	VMOVUPS Y0, -32(DI)(DX*1)

next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JNZ  row

done:
	VZEROUPPER
	RET
