package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// edgeValues are the inputs on which a vector max, sum or ReLU most easily
// parts from the scalar Go loop: zeros of both signs, infinities, and NaNs
// of both signs with quiet, signalling and distinct payloads.
var edgeValues = []uint32{
	0x00000000, 0x80000000, 0x7f800000, 0xff800000,
	0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,
	0x7fc12345, 0xffc54321, 0x7fffffff, 0xffffffff,
	0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff,
}

// edgeData returns n values that are, in turn by chance, ordinary normal
// draws, small integers (so windows hold ties) and edge values; frac is the
// share of edge values.
func edgeData(seed uint64, n int, frac float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 11))
	s := make([]float32, n)
	for i := range s {
		switch u := r.Float64(); {
		case u < frac:
			s[i] = math.Float32frombits(edgeValues[r.IntN(len(edgeValues))])
		case u < frac+0.3:
			s[i] = float32(r.IntN(3) - 1)
		default:
			s[i] = float32(r.NormFloat64())
		}
	}
	return s
}

// sameBits fails t unless got and want hold the same bit patterns.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %#08x, want %#08x", what, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

// withLoopAsm runs f with the assembly loops switched on or off.
func withLoopAsm(on bool, f func()) {
	old := useLoopAsm
	useLoopAsm = on
	defer func() { useLoopAsm = old }()
	f()
}

// The assembly 2×2 max pool picks the same index (ties to the first
// element in scan order, NaNs as orderKey orders them) and yields the same
// bits as the Go loop, forward and backward, on odd image sizes whose last
// row and column no window covers, at several thread counts.
func TestMaxPoolAsmMatchesGo(t *testing.T) {
	if !useLoopAsm {
		t.Skip("no assembly loops on this machine")
	}
	defer tensor.SetThreads(tensor.Threads())
	for _, c := range []int{8, 16, 32, 64} {
		for _, hw := range [][2]int{{2, 2}, {7, 9}, {8, 6}, {28, 28}} {
			for _, frac := range []float64{0, 0.2, 0.9} {
				x := tensor.New(3, hw[0], hw[1], c)
				copy(x.Data, edgeData(uint64(c*hw[0]+hw[1]), len(x.Data), frac))
				type result struct {
					y, dx []float32
					am    []int32
				}
				run := func(asm bool, threads int) result {
					var res result
					withLoopAsm(asm, func() {
						tensor.SetThreads(threads)
						p := NewMaxPool(2, 2, 0)
						y := p.Forward(x, true)
						dy := tensor.New(y.Shape...)
						copy(dy.Data, edgeData(5, len(dy.Data), frac))
						// A dirty dx buffer, which Backward must
						// overwrite everywhere.
						for i := range p.Backward(dy).Data {
							p.dx.Data[i] = float32(math.NaN())
						}
						res = result{slices.Clone(y.Data), slices.Clone(p.Backward(dy).Data), slices.Clone(p.argmax)}
					})
					return res
				}
				want := run(false, 1)
				for _, threads := range []int{1, 2, 3} {
					got := run(true, threads)
					what := name("c=%d %dx%d edge=%.1f threads=%d", c, hw[0], hw[1], frac, threads)
					if !slices.Equal(got.am, want.am) {
						i := 0
						for got.am[i] == want.am[i] {
							i++
						}
						t.Fatalf("%s: argmax %d is %d, want %d", what, i, got.am[i], want.am[i])
					}
					sameBits(t, what+" y", got.y, want.y)
					sameBits(t, what+" dx", got.dx, want.dx)
				}
			}
		}
	}
}

// The assembly channel sums give the Go loop's masked gradient and float64
// block sums bit for bit, for row counts that end mid tile and mid block, at
// several thread counts.
func TestChannelSumsAsmMatchesGo(t *testing.T) {
	if !useLoopAsm {
		t.Skip("no assembly loops on this machine")
	}
	defer tensor.SetThreads(tensor.Threads())
	for _, c := range []int{8, 16, 32, 64} {
		for _, rows := range []int{1, 31, 37, 256, 257, 1000} {
			for _, frac := range []float64{0, 0.1} {
				n := rows * c
				dy := edgeData(uint64(n), n, frac)
				// y as a ReLU output would be, but with −0 and the odd
				// negative value, which the mask must reject.
				y := edgeData(uint64(n)+1, n, frac)
				for i, v := range y {
					if v < 0 && i%5 != 0 {
						y[i] = relu32(v)
					}
				}
				run := func(asm, masked bool, threads int) (g, sums []float32, partial []float64) {
					withLoopAsm(asm, func() {
						tensor.SetThreads(threads)
						sums = make([]float32, c)
						if masked {
							g = make([]float32, n)
							partial = maskedChannelSums(g, dy, y, rows, c, sums, nil)
						} else {
							partial = channelSums(dy, rows, c, sums, nil)
						}
					})
					return g, sums, partial
				}
				for _, masked := range []bool{false, true} {
					wg, ws, wp := run(false, masked, 1)
					for _, threads := range []int{1, 2, 3} {
						g, s, p := run(true, masked, threads)
						what := name("c=%d rows=%d edge=%.1f masked=%v threads=%d", c, rows, frac, masked, threads)
						sameBits(t, what+" g", g, wg)
						sameBits(t, what+" sums", s, ws)
						for i := range p {
							if math.Float64bits(p[i]) != math.Float64bits(wp[i]) {
								t.Fatalf("%s: block sum %d is %#016x, want %#016x", what, i, math.Float64bits(p[i]), math.Float64bits(wp[i]))
							}
						}
					}
				}
			}
		}
	}
}

// The assembly convolution epilogue (bias, then ReLU or not) gives the Go
// loop's bits, edge values in both the output and the bias included.
func TestConvEpilogueAsmMatchesGo(t *testing.T) {
	if !useLoopAsm {
		t.Skip("no assembly loops on this machine")
	}
	for _, c := range []int{8, 16, 32, 64} {
		for _, rows := range []int{1, 37, 128} {
			for _, relu := range []bool{false, true} {
				conv := NewConv2d("c", 1, c, 1, 1, 0, true, 1)
				conv.ReLU = relu
				copy(conv.Bias.Value, edgeData(uint64(c), c, 0.5))
				y0 := edgeData(uint64(rows*c), rows*c, 0.2)
				var got, want []float32
				withLoopAsm(true, func() { got = slices.Clone(y0); conv.epilogue(got) })
				withLoopAsm(false, func() { want = slices.Clone(y0); conv.epilogue(want) })
				sameBits(t, name("c=%d rows=%d relu=%v", c, rows, relu), got, want)
			}
		}
	}
}
