//go:build !amd64 || purego

package nn

// useBNAsm is false where there are no assembly BatchNorm passes.
var useBNAsm = false

// useBNAVX512 is false where there are no assembly BatchNorm passes.
var useBNAVX512 = false

func bnSumsAVX512(x, k, s, q *float32, rows, c int) {
	panic("nn: no assembly BatchNorm passes on this platform")
}

func bnGradSumsAVX512(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int) {
	panic("nn: no assembly BatchNorm passes on this platform")
}

func bnApplyAVX2(x, res, y, scale, shift *float32, rows, c int, relu bool) {
	panic("nn: no assembly BatchNorm passes on this platform")
}

func bnGradSumsAVX2(dy, y, x, gOut, mu, sg, sx, scale, shift *float32, rows, c int) {
	panic("nn: no assembly BatchNorm passes on this platform")
}

func bnGradApplyAVX2(dy, y, x, dx, mu, ca, cb, cc, scale, shift *float32, rows, c int) {
	panic("nn: no assembly BatchNorm passes on this platform")
}

func bnSumsAVX2(x, k, s, q *float32, rows, c int) {
	panic("nn: no assembly BatchNorm passes on this platform")
}
