//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// useBNAsm selects the AVX2+FMA BatchNorm passes (bn_amd64.s) for channel
// counts that are multiples of 8. Tests switch it off to check the Go
// versions against them.
var useBNAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useBNAVX512 selects the AVX-512 sums (bn512_amd64.s) for channel counts
// that are multiples of 16; they give the AVX2 sums' results bit for bit.
var useBNAVX512 = useBNAsm && cpu.X86.HasAVX512F

//go:noescape
func bnSumsAVX512(x, k, s, q *float32, rows, c int)

//go:noescape
func bnGradSumsAVX512(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int)

//go:noescape
func bnApplyAVX2(x, res, y, scale, shift *float32, rows, c int, relu bool)

//go:noescape
func bnGradSumsAVX2(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int)

//go:noescape
func bnGradApplyAVX2(dy, y, x, dx, mu, ca, cb, cc, scale, shift *float32, rows, c int)

//go:noescape
func bnSumsAVX2(x, k, s, q *float32, rows, c int)
