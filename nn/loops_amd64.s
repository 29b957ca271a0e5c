//go:build amd64 && !purego

#include "textflag.h"

// AVX2 versions of the max pool, channel-sum and convolution-epilogue loops,
// for channel counts that are multiples of 8. Channels are the fastest axis:
// pixel r, channel j is element r·c + j.

DATA iota8<>+0(SB)/4, $0
DATA iota8<>+4(SB)/4, $1
DATA iota8<>+8(SB)/4, $2
DATA iota8<>+12(SB)/4, $3
DATA iota8<>+16(SB)/4, $4
DATA iota8<>+20(SB)/4, $5
DATA iota8<>+24(SB)/4, $6
DATA iota8<>+28(SB)/4, $7
GLOBL iota8<>(SB), RODATA|NOPTR, $32

// ORDERKEY sets dst to orderKey(src): the magnitude bits of negative values
// flipped, so that signed integer order is float order.
#define ORDERKEY(src, dst) \
	VPSRAD $31, src, dst; \
	VPSRLD $1, dst, dst;  \
	VPXOR  src, dst, dst

// MAXSTEP takes the window element at src (index Y3 + didx) into the running
// maximum Y0 (order key Y1, index Y2). The index moves when the element's
// order key is greater, as in the Go loop. The value is Go's max(Y0, v),
// spelled as the compiler spells it on amd64 (−min(−x, −y) with min(a, b) =
// minps(minps(a, b), a) | minps(a, b)), so NaN payloads and zero signs come
// out bit for bit the same.
#define MAXSTEP(src, didx) \
	VMOVUPS   src, Y4;          \
	ORDERKEY(Y4, Y5);           \
	VPCMPGTD  Y1, Y5, Y6;       \
	VPADDD    didx, Y3, Y7;     \
	VPBLENDVB Y6, Y7, Y2, Y2;   \
	VXORPS    Y15, Y0, Y8;      \
	VXORPS    Y15, Y4, Y9;      \
	VMINPS    Y9, Y8, Y10;      \
	VMINPS    Y8, Y10, Y8;      \
	VORPS     Y10, Y8, Y8;      \
	VXORPS    Y15, Y8, Y0;      \
	ORDERKEY(Y0, Y1)

// func maxPool2AVX2(img, y *float32, am *int32, first, wo, c, rowLen int)
// One output row of a 2×2 stride-2 unpadded max pool: output pixel ox,
// channel j takes the maximum of the input elements first + 2·ox·c + j
// (+ c, + rowLen, + rowLen + c) of img, and am its index in img.
TEXT ·maxPool2AVX2(SB), NOSPLIT, $0-56
	MOVQ img+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ am+16(FP), R8
	MOVQ first+24(FP), R11
	MOVQ wo+32(FP), R9
	MOVQ c+40(FP), R13
	MOVQ rowLen+48(FP), R10
	TESTQ R9, R9
	JZ    mdone

	MOVL         $0x80000000, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      iota8<>(SB), Y14
	VMOVD        R13, X13
	VPBROADCASTD X13, Y13
	VMOVD        R10, X12
	VPBROADCASTD X12, Y12
	VPADDD       Y13, Y12, Y11

	// Byte offsets of the other three window elements.
	LEAQ (R13*4), DX
	SHLQ $2, R10
	LEAQ (R10)(DX*1), R12

mpixel:
	MOVQ R13, CX
	SHRQ $3, CX

mgroup:
	LEAQ         (SI)(R11*4), AX
	VMOVD        R11, X3
	VPBROADCASTD X3, Y3
	VPADDD       Y14, Y3, Y3
	VMOVUPS      (AX), Y0
	ORDERKEY(Y0, Y1)
	VMOVDQU      Y3, Y2
	MAXSTEP((AX)(DX*1), Y13)
	MAXSTEP((AX)(R10*1), Y12)
	MAXSTEP((AX)(R12*1), Y11)
	VMOVUPS      Y0, (DI)
	VMOVDQU      Y2, (R8)
	ADDQ         $32, DI
	ADDQ         $32, R8
	ADDQ         $8, R11
	DECQ         CX
	JNZ          mgroup
	ADDQ         R13, R11
	DECQ         R9
	JNZ          mpixel

mdone:
	VZEROUPPER
	RET

// func channelSumsAVX2(grad, dy, y *float32, acc *float64, rows, c int)
// acc[j] += Σ_rows grad[r, j] in float64, rows in order. When dy != nil,
// grad is first set to dy masked by y > 0 (y's bits a positive int32, as in
// passIfPositive). Channel groups outer, rows inner, sums in registers.
TEXT ·channelSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ  grad+0(FP), DI
	MOVQ  dy+8(FP), SI
	MOVQ  y+16(FP), R8
	MOVQ  acc+24(FP), R9
	MOVQ  rows+32(FP), CX
	MOVQ  c+40(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JZ    sdone
	VPXOR Y15, Y15, Y15
	XORQ  BX, BX

sgroup:
	VMOVUPD (R9)(BX*2), Y0
	VMOVUPD 32(R9)(BX*2), Y1
	MOVQ    BX, AX
	MOVQ    CX, R14

srow:
	TESTQ    SI, SI
	JZ       splain
	VMOVUPS  (SI)(AX*1), Y2
	VMOVUPS  (R8)(AX*1), Y3
	VPCMPGTD Y15, Y3, Y3
	VPAND    Y3, Y2, Y2
	VMOVUPS  Y2, (DI)(AX*1)
	JMP      sadd

splain:
	VMOVUPS (DI)(AX*1), Y2

sadd:
	VCVTPS2PD    X2, Y4
	VEXTRACTF128 $1, Y2, X2
	VCVTPS2PD    X2, Y5
	// The new value is the first operand, as in the compiled Go loop: when
	// both are NaNs, the sum takes the new value's payload.
	VADDPD       Y0, Y4, Y0
	VADDPD       Y1, Y5, Y1
	ADDQ         DX, AX
	DECQ         R14
	JNZ          srow
	VMOVUPD      Y0, (R9)(BX*2)
	VMOVUPD      Y1, 32(R9)(BX*2)
	ADDQ         $32, BX
	CMPQ         BX, DX
	JB           sgroup

sdone:
	VZEROUPPER
	RET

// func biasReLUAVX2(y, b *float32, rows, c int, relu bool)
// y[r, j] += b[j], then (relu) the ReLU of relu32: a set sign bit clears
// the value.
TEXT ·biasReLUAVX2(SB), NOSPLIT, $0-33
	MOVQ    y+0(FP), DI
	MOVQ    b+8(FP), R9
	MOVQ    rows+16(FP), CX
	MOVQ    c+24(FP), DX
	MOVBLZX relu+32(FP), R11
	SHLQ    $2, DX
	TESTQ   CX, CX
	JZ      edone

erow:
	XORQ BX, BX

ecol:
	VMOVUPS (DI)(BX*1), Y0
	VADDPS  (R9)(BX*1), Y0, Y0
	TESTQ   R11, R11
	JZ      enorelu
	VPSRAD  $31, Y0, Y1
	VPANDN  Y0, Y1, Y0

enorelu:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, DX
	JB      ecol
	ADDQ    DX, DI
	DECQ    CX
	JNZ     erow

edone:
	VZEROUPPER
	RET

// func maxUnpool2AVX2(dx, dy *float32, am *int32, first, wo, c, rowLen int)
// The backward pass of one output row of maxPool2AVX2: each of the four
// window elements of dx gets 0 + dy where am names it and +0 elsewhere (the
// Go loop's sum into a cleared dx: −0 turns to +0, signalling NaNs quiet).
TEXT ·maxUnpool2AVX2(SB), NOSPLIT, $0-56
	MOVQ  dx+0(FP), DI
	MOVQ  dy+8(FP), SI
	MOVQ  am+16(FP), R8
	MOVQ  first+24(FP), R11
	MOVQ  wo+32(FP), R9
	MOVQ  c+40(FP), R13
	MOVQ  rowLen+48(FP), R10
	TESTQ R9, R9
	JZ    udone

	VPXOR        Y15, Y15, Y15
	VMOVDQU      iota8<>(SB), Y14
	VMOVD        R13, X13
	VPBROADCASTD X13, Y13
	VMOVD        R10, X12
	VPBROADCASTD X12, Y12
	VPADDD       Y13, Y12, Y11
	LEAQ         (R13*4), DX
	SHLQ         $2, R10
	LEAQ         (R10)(DX*1), R12

upixel:
	MOVQ R13, CX
	SHRQ $3, CX

ugroup:
	LEAQ         (DI)(R11*4), AX
	VMOVD        R11, X3
	VPBROADCASTD X3, Y3
	VPADDD       Y14, Y3, Y3
	VMOVUPS      (SI), Y0
	VADDPS       Y0, Y15, Y0
	VMOVDQU      (R8), Y1
	VPCMPEQD     Y3, Y1, Y2
	VPAND        Y0, Y2, Y2
	VMOVUPS      Y2, (AX)
	VPADDD       Y13, Y3, Y4
	VPCMPEQD     Y4, Y1, Y2
	VPAND        Y0, Y2, Y2
	VMOVUPS      Y2, (AX)(DX*1)
	VPADDD       Y12, Y3, Y4
	VPCMPEQD     Y4, Y1, Y2
	VPAND        Y0, Y2, Y2
	VMOVUPS      Y2, (AX)(R10*1)
	VPADDD       Y11, Y3, Y4
	VPCMPEQD     Y4, Y1, Y2
	VPAND        Y0, Y2, Y2
	VMOVUPS      Y2, (AX)(R12*1)
	ADDQ         $32, SI
	ADDQ         $32, R8
	ADDQ         $8, R11
	DECQ         CX
	JNZ          ugroup
	ADDQ         R13, R11
	DECQ         R9
	JNZ          upixel

udone:
	VZEROUPPER
	RET
