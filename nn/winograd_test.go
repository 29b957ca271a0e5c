package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The Winograd path computes what the im2col path computes (output, input
// gradient with and without a residual gradient to add, weight gradient),
// on the assembly transforms and on the Go ones, for paddings 0–2, square
// and oblong images, channel counts that do and do not suit the assembly,
// and blocks of one and of several examples.
func TestConv2dWinogradMatchesIm2col(t *testing.T) {
	cases := []struct {
		n, h, w, cin, cout, ph, pw int
		bias, relu, init           bool
	}{
		{3, 8, 8, 8, 16, 1, 1, false, false, false},
		{3, 6, 10, 16, 8, 1, 1, true, true, true},
		{2, 8, 6, 8, 8, 0, 0, false, false, true},  // unpadded: 6×4 output
		{2, 6, 6, 8, 24, 2, 2, false, true, false}, // 8×8 output
		{2, 4, 6, 8, 8, 1, 2, true, false, true},   // mixed padding: 4×8 output
		{3, 6, 8, 5, 3, 1, 1, true, true, true},    // channels the assembly skips
	}
	oldBlock := winogradBlockFloats
	defer func() { winogradBlockFloats = oldBlock }()
	for _, tc := range cases {
		x := randTensor(1, tc.n, tc.h, tc.w, tc.cin)
		run := func(mode int) (y, dx, dw []float32) {
			newConv := func() *Conv2d {
				c := NewConv2dRect("c", tc.cin, tc.cout, 3, 3, 1, 1, tc.ph, tc.pw, tc.bias, 1)
				c.ReLU = tc.relu
				return c
			}
			return convPathResults(t, fmt.Sprintf("%+v", tc), x, tc.init, newConv, mode, pathWinograd, (*Conv2d).winograd)
		}
		y0, dx0, dw0 := run(pathIm2col)
		for _, asm := range []bool{false, true} {
			if asm && !useLoopAsm {
				continue
			}
			// The whole batch in one block, then one example per block.
			for _, blockFloats := range []int{1 << 20, 1} {
				winogradBlockFloats = blockFloats
				var y1, dx1, dw1 []float32
				withLoopAsm(asm, func() { y1, dx1, dw1 = run(pathWinograd) })
				name := fmt.Sprintf("%+v asm=%v block=%d", tc, asm, blockFloats)
				assertClose(t, name+" y", y1, to64(y0), 1e-5)
				assertClose(t, name+" dx", dx1, to64(dx0), 1e-5)
				assertClose(t, name+" dW", dw1, to64(dw0), 1e-5)
			}
		}
	}
}

// Finite-difference gradients of the Winograd path, independent of the
// im2col path it is compared with above.
func TestConv2dWinogradGradients(t *testing.T) {
	withConvPath(pathWinograd, func() {
		for _, tc := range []struct{ ph, pw int }{{1, 1}, {0, 2}} {
			c := NewConv2dRect("c", 8, 8, 3, 3, 1, 1, tc.ph, tc.pw, true, 1)
			randomize(c.Params(), 4)
			x := randTensor(5, 2, 6, 4, 8)
			c.Forward(x, true)
			if !c.winograd() {
				t.Fatalf("%+v: the Winograd path is not taken", tc)
			}
			defaultCheck().run(t, c, x)
		}
	})
}

// By default the 3×3 stride-1 layers with even outputs and channel counts
// that are multiples of 8 take the Winograd path where the assembly
// transforms run; the others do not.
func TestConv2dWinogradChoice(t *testing.T) {
	cases := []struct {
		h, cin, k, stride, pad int
		want                   bool
	}{
		{32, 16, 3, 1, 1, true},
		{8, 64, 3, 1, 1, true},
		{7, 16, 3, 1, 1, false}, // odd output
		{32, 3, 3, 1, 1, false}, // 3 channels
		{32, 16, 3, 2, 1, false},
		{32, 16, 5, 1, 2, false},
	}
	for _, tc := range cases {
		c := NewConv2d("c", tc.cin, 16, tc.k, tc.stride, tc.pad, false, 1)
		c.Forward(randTensor(1, 1, tc.h, tc.h, tc.cin), false)
		if got := c.winograd(); got != (tc.want && useLoopAsm) {
			t.Errorf("%+v: winograd() = %v", tc, got)
		}
	}
}

// The assembly transforms write exactly what the Go ones write, bit for
// bit, and nothing else: the destinations start filled with a pattern that
// both must leave alone outside the values they set.
func TestWinogradTransformsAsm(t *testing.T) {
	if !useLoopAsm {
		t.Skip("no assembly transforms on this machine")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	for _, ch := range []int{8, 16, 24} {
		for _, tw := range []int{1, 2, 5} {
			// Components a little apart (ch + 8), tiles further (ts).
			cs, ts := ch+8, 16*(ch+8)+16
			rs := (2*tw+2)*ch + 16
			src := fill(4 * rs)
			dstLen := tw * ts
			run := func(asm bool, f func(dst []float32)) []float32 {
				dst := make([]float32, dstLen+2*rs)
				for i := range dst {
					dst[i] = math.Float32frombits(0x7fc01234)
				}
				withLoopAsm(asm, func() { f(dst) })
				return dst
			}
			name := fmt.Sprintf("ch=%d tw=%d", ch, tw)
			in := func(dst []float32) { winoInputRow(dst, cs, ts, src, rs, tw, ch) }
			sameBits(t, name+" input", run(true, in), run(false, in))
			gr := func(dst []float32) { winoGradRow(dst, cs, ts, src, rs, tw, ch) }
			sameBits(t, name+" gradient", run(true, gr), run(false, gr))
			prods := fill(dstLen)
			for _, add := range [][]float32{nil, fill(2 * rs)} {
				out := func(dst []float32) { winoOutputRow(dst, rs, prods, cs, ts, tw, ch, add) }
				sameBits(t, fmt.Sprintf("%s output add=%v", name, add != nil), run(true, out), run(false, out))
			}
		}
	}
}

// The transforms against their definitions, in float64: V = Bᵀ d B, Y =
// Aᵀ m A, dM = A g Aᵀ, U = G g Gᵀ, and the kernel gradient Gᵀ dU G, the
// adjoint of the kernel transform.
func TestWinogradTransformsDefinition(t *testing.T) {
	bt := [4][4]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	at := [2][4]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
	gm := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	rng := rand.New(rand.NewPCG(5, 5))
	const ch = 3
	src := make([]float32, 16*ch)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	withLoopAsm(false, func() {
		// One tile, ch channels: patch rows 4·ch floats apart.
		v := make([]float32, 16*ch)
		winoInputRow(v, ch, 16*ch, src, 4*ch, 1, ch)
		m := make([]float32, 4*ch)
		winoOutputRow(m, 2*ch, src, ch, 16*ch, 1, ch, nil)
		dm := make([]float32, 16*ch)
		winoGradRow(dm, ch, 16*ch, src, 2*ch, 1, ch)
		for j := 0; j < ch; j++ {
			d := func(r, s int) float64 { return float64(src[r*4*ch+s*ch+j]) }
			for r := range 4 {
				for s := range 4 {
					var want float64 // (Bᵀ d B)[r][s]
					for p := range 4 {
						for q := range 4 {
							want += bt[r][p] * d(p, q) * bt[s][q]
						}
					}
					if got := float64(v[(4*r+s)*ch+j]); math.Abs(got-want) > 1e-5 {
						t.Errorf("V[%d][%d] channel %d = %g, want %g", r, s, j, got, want)
					}
					// (A g Aᵀ)[r][s] with g = the top-left 2×2 of the
					// output-gradient layout (rows 2·ch apart).
					g := func(a, b int) float64 { return float64(src[a*2*ch+b*ch+j]) }
					want = 0
					for a := range 2 {
						for b := range 2 {
							want += at[a][r] * g(a, b) * at[b][s]
						}
					}
					if got := float64(dm[(4*r+s)*ch+j]); math.Abs(got-want) > 1e-5 {
						t.Errorf("dM[%d][%d] channel %d = %g, want %g", r, s, j, got, want)
					}
				}
			}
			for a := range 2 {
				for b := range 2 {
					var want float64 // (Aᵀ m A)[a][b], m[r][s] = src[(4r+s)·ch + j]
					for r := range 4 {
						for s := range 4 {
							want += at[a][r] * float64(src[(4*r+s)*ch+j]) * at[b][s]
						}
					}
					if got := float64(m[a*2*ch+b*ch+j]); math.Abs(got-want) > 1e-5 {
						t.Errorf("Y[%d][%d] channel %d = %g, want %g", a, b, j, got, want)
					}
				}
			}
		}
	})
	// The kernel transform and its adjoint: 2 input and 3 output channels.
	const ci, co = 2, 3
	w, du := make([]float32, 9*ci*co), make([]float32, 16*ci*co)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range du {
		du[i] = float32(rng.NormFloat64())
	}
	u, dw := make([]float32, 16*ci*co), make([]float32, 9*ci*co)
	winoKernel(u, w, ci, co)
	winoKernelGrad(dw, du, ci, co)
	for e := 0; e < ci*co; e++ {
		for r := range 4 {
			for s := range 4 {
				var want float64
				for a := range 3 {
					for b := range 3 {
						want += gm[r][a] * float64(w[(3*a+b)*ci*co+e]) * gm[s][b]
					}
				}
				if got := float64(u[(4*r+s)*ci*co+e]); math.Abs(got-want) > 1e-5 {
					t.Errorf("U[%d][%d] element %d = %g, want %g", r, s, e, got, want)
				}
			}
		}
	}
	var lhs, rhs float64 // <U(w), dU> = <w, Uᵀ(dU)>
	for i := range u {
		lhs += float64(u[i]) * float64(du[i])
	}
	for i := range w {
		rhs += float64(w[i]) * float64(dw[i])
	}
	if math.Abs(lhs-rhs) > 1e-5*math.Abs(lhs)+1e-6 {
		t.Errorf("kernel gradient is not the adjoint of the kernel transform: %g vs %g", rhs, lhs)
	}
}
