//go:build !amd64 || purego

package nn

// useLoopAsm is false where there are no assembly loops.
var useLoopAsm = false

func maxPool2AVX2(img, y *float32, am *int32, first, wo, c, rowLen int) {
	panic("nn: no assembly loops on this platform")
}

func channelSumsAVX2(grad, dy, y *float32, acc *float64, rows, c int) {
	panic("nn: no assembly loops on this platform")
}

func biasReLUAVX2(y, b *float32, rows, c int, relu bool) {
	panic("nn: no assembly loops on this platform")
}

func maxUnpool2AVX2(dx, dy *float32, am *int32, first, wo, c, rowLen int) {
	panic("nn: no assembly loops on this platform")
}

func winoInputRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int) {
	panic("nn: no assembly loops on this platform")
}

func winoOutputRowAVX2(dst *float32, rs int, src *float32, cs, ts, tw, ch int, add *float32) {
	panic("nn: no assembly loops on this platform")
}

func winoGradRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int) {
	panic("nn: no assembly loops on this platform")
}
