//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// useLoopAsm selects the AVX2 versions (loops_amd64.s) of the max pool,
// channel-sum and convolution-epilogue loops for channel counts that are
// multiples of 8. Tests switch it off to check them against the Go loops.
var useLoopAsm = cpu.X86.HasAVX2

//go:noescape
func maxPool2AVX2(img, y *float32, am *int32, first, wo, c, rowLen int)

//go:noescape
func channelSumsAVX2(grad, dy, y *float32, acc *float64, rows, c int)

//go:noescape
func biasReLUAVX2(y, b *float32, rows, c int, relu bool)

//go:noescape
func maxUnpool2AVX2(dx, dy *float32, am *int32, first, wo, c, rowLen int)

//go:noescape
func winoInputRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int)

//go:noescape
func winoOutputRowAVX2(dst *float32, rs int, src *float32, cs, ts, tw, ch int, add *float32)

//go:noescape
func winoGradRowAVX2(dst *float32, cs, ts int, src *float32, rs, tw, ch int)
