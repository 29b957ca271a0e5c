package nn

// Winograd F(2×2, 3×3) convolutions (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). Each 2×2 block of output pixels
// (a tile) is computed from the 4×4 input patch d under it as
//
//	Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A
//
// per input/output channel pair, summed over input channels, with
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1].
//
// The sum over input channels of the element-wise products is, for each of
// the 16 positions ξ of the 4×4 transformed tile, a matrix product
// M_ξ[tile, co] = Σ_ci V_ξ[tile, ci]·U_ξ[ci, co]: 16 products of depth C
// replace one of depth 9·C, 2.25 times fewer multiplications, for the cost
// of transforming the input (V = Bᵀ d B), the kernel (U = G g Gᵀ) and the
// output. All transform coefficients are 0, ±1 and ±½, so they add no
// rounding beyond the additions themselves; the results differ from the
// direct convolution's at the rounding level (see docs/definitions.md).
//
// Backward: the output Y is linear in M (Y = Aᵀ M A), so the gradient with
// respect to M is dM = A dY Aᵀ per tile, that with respect to U_ξ is
// Σ_tiles V_ξᵀ dM_ξ, and the kernel gradient is dg = Gᵀ dU G. The input
// gradient is the forward computation on the output gradient padded by
// 2 − pad with the flipped kernel (Conv2d.gradGeom), which is again a 3×3
// stride-1 convolution whose output size is even when the forward's is.

// winoInputRow sets, for the tw tiles of one tile row, the transformed input
// V = Bᵀ d B: element (r, s) of tile tx, channel j goes to
// dst[tx·ts + (4r+s)·cs + j], where the tile's patch d[r][s] is
// src[r·rs + (2·tx + s)·ch + j] (src points at the patch row of the tile row
// in a zero-padded image with row stride rs). The assembly version performs
// the same additions in the same order.
func winoInputRow(dst []float32, cs, ts int, src []float32, rs, tw, ch int) {
	if useLoopAsm && ch%8 == 0 && tw > 0 {
		_ = dst[(tw-1)*ts+15*cs+ch-1]
		_ = src[3*rs+(2*tw+2)*ch-1]
		winoInputRowAVX2(&dst[0], cs, ts, &src[0], rs, tw, ch)
		return
	}
	winoInputRowGo(dst, cs, ts, src, rs, tw, ch)
}

func winoInputRowGo(dst []float32, cs, ts int, src []float32, rs, tw, ch int) {
	for tx := 0; tx < tw; tx++ {
		for j := 0; j < ch; j++ {
			p := 2*tx*ch + j
			var d [4][4]float32
			for r := range 4 {
				for s := range 4 {
					d[r][s] = src[r*rs+p+s*ch]
				}
			}
			o := tx*ts + j
			for r := range 4 {
				var t [4]float32 // row r of Bᵀ d
				for s := range 4 {
					switch r {
					case 0:
						t[s] = d[0][s] - d[2][s]
					case 1:
						t[s] = d[1][s] + d[2][s]
					case 2:
						t[s] = d[2][s] - d[1][s]
					default:
						t[s] = d[1][s] - d[3][s]
					}
				}
				dst[(4*r)*cs+o] = t[0] - t[2]
				dst[(4*r+1)*cs+o] = t[1] + t[2]
				dst[(4*r+2)*cs+o] = t[2] - t[1]
				dst[(4*r+3)*cs+o] = t[1] - t[3]
			}
		}
	}
}

// winoOutputRow sets, for the tw tiles of one tile row, the output
// Y = Aᵀ m A from the products m[r][s] = src[tx·ts + (4r+s)·cs + j]: pixel
// (a, b) of tile tx, channel j goes to dst[a·rs + (2·tx + b)·ch + j], plus
// the element at the same place in add when add is not nil.
func winoOutputRow(dst []float32, rs int, src []float32, cs, ts, tw, ch int, add []float32) {
	if useLoopAsm && ch%8 == 0 && tw > 0 {
		_ = dst[rs+2*tw*ch-1]
		_ = src[(tw-1)*ts+15*cs+ch-1]
		var ap *float32
		if add != nil {
			_ = add[rs+2*tw*ch-1]
			ap = &add[0]
		}
		winoOutputRowAVX2(&dst[0], rs, &src[0], cs, ts, tw, ch, ap)
		return
	}
	winoOutputRowGo(dst, rs, src, cs, ts, tw, ch, add)
}

func winoOutputRowGo(dst []float32, rs int, src []float32, cs, ts, tw, ch int, add []float32) {
	for tx := 0; tx < tw; tx++ {
		for j := 0; j < ch; j++ {
			o := tx*ts + j
			var u0, u1 [4]float32 // the rows of Aᵀ m
			for s := range 4 {
				m0, m1, m2, m3 := src[s*cs+o], src[(4+s)*cs+o], src[(8+s)*cs+o], src[(12+s)*cs+o]
				u0[s] = m0 + m1 + m2
				u1[s] = m1 - m2 - m3
			}
			y := [4]float32{
				u0[0] + u0[1] + u0[2], u0[1] - u0[2] - u0[3],
				u1[0] + u1[1] + u1[2], u1[1] - u1[2] - u1[3],
			}
			p := 2*tx*ch + j
			at := [4]int{p, p + ch, rs + p, rs + p + ch}
			for i, v := range y {
				if add != nil {
					v += add[at[i]]
				}
				dst[at[i]] = v
			}
		}
	}
}

// winoGradRow sets, for the tw tiles of one tile row, the gradient with
// respect to the products, dM = A g Aᵀ, from the output gradient g[a][b] =
// src[a·rs + (2·tx + b)·ch + j]: element (r, s) goes to
// dst[tx·ts + (4r+s)·cs + j].
func winoGradRow(dst []float32, cs, ts int, src []float32, rs, tw, ch int) {
	if useLoopAsm && ch%8 == 0 && tw > 0 {
		_ = dst[(tw-1)*ts+15*cs+ch-1]
		_ = src[rs+2*tw*ch-1]
		winoGradRowAVX2(&dst[0], cs, ts, &src[0], rs, tw, ch)
		return
	}
	winoGradRowGo(dst, cs, ts, src, rs, tw, ch)
}

func winoGradRowGo(dst []float32, cs, ts int, src []float32, rs, tw, ch int) {
	for tx := 0; tx < tw; tx++ {
		for j := 0; j < ch; j++ {
			p := 2*tx*ch + j
			g00, g01, g10, g11 := src[p], src[p+ch], src[rs+p], src[rs+p+ch]
			// The rows of A g: (g0, g0 + g1, g0 − g1, −g1) over the two
			// rows g0, g1 of g.
			q := [4][2]float32{{g00, g01}, {g00 + g10, g01 + g11}, {g00 - g10, g01 - g11}, {-g10, -g11}}
			o := tx*ts + j
			for r := range 4 {
				q0, q1 := q[r][0], q[r][1]
				dst[(4*r)*cs+o] = q0
				dst[(4*r+1)*cs+o] = q0 + q1
				dst[(4*r+2)*cs+o] = q0 - q1
				dst[(4*r+3)*cs+o] = -q1
			}
		}
	}
}

// winoKernel sets u[ξ·ci·co + i·co + o] = (G g Gᵀ)[ξ] of the 3×3 kernel
// w[ky, kx, i, o] ([3, 3, ci, co]), for the 16 positions ξ = 4r + s.
func winoKernel(u, w []float32, ci, co int) {
	n := ci * co
	_, _ = u[16*n-1], w[9*n-1]
	for e := 0; e < n; e++ {
		var t [4][3]float32 // G g
		for b := range 3 {
			g0, g1, g2 := w[b*n+e], w[(3+b)*n+e], w[(6+b)*n+e]
			t[0][b] = g0
			t[1][b] = 0.5 * (g0 + g1 + g2)
			t[2][b] = 0.5 * (g0 - g1 + g2)
			t[3][b] = g2
		}
		for r := range 4 {
			t0, t1, t2 := t[r][0], t[r][1], t[r][2]
			u[(4*r)*n+e] = t0
			u[(4*r+1)*n+e] = 0.5 * (t0 + t1 + t2)
			u[(4*r+2)*n+e] = 0.5 * (t0 - t1 + t2)
			u[(4*r+3)*n+e] = t2
		}
	}
}

// winoKernelGrad sets the 3×3 kernel gradient dw ([3, 3, ci, co]) to
// Gᵀ dU G from the gradient du with respect to the transformed kernel
// (laid out as winoKernel's u).
func winoKernelGrad(dw, du []float32, ci, co int) {
	n := ci * co
	_, _ = du[16*n-1], dw[9*n-1]
	for e := 0; e < n; e++ {
		var s [3][4]float32 // Gᵀ dU
		for c := range 4 {
			d0, d1, d2, d3 := du[c*n+e], du[(4+c)*n+e], du[(8+c)*n+e], du[(12+c)*n+e]
			s[0][c] = d0 + 0.5*(d1+d2)
			s[1][c] = 0.5 * (d1 - d2)
			s[2][c] = 0.5*(d1+d2) + d3
		}
		for a := range 3 {
			s0, s1, s2, s3 := s[a][0], s[a][1], s[a][2], s[a][3]
			dw[(3*a)*n+e] = s0 + 0.5*(s1+s2)
			dw[(3*a+1)*n+e] = 0.5 * (s1 - s2)
			dw[(3*a+2)*n+e] = 0.5*(s1+s2) + s3
		}
	}
}

// padImage writes the h×w×ch image img into dst as an (h+2·ph)×(w+2·pw)×ch
// image with a zero border.
func padImage(dst, img []float32, h, w, ch, ph, pw int) {
	rs := (w + 2*pw) * ch
	clear(dst[:ph*rs])
	for y := 0; y < h; y++ {
		row := dst[(ph+y)*rs : (ph+y+1)*rs]
		clear(row[:pw*ch])
		copy(row[pw*ch:], img[y*w*ch:(y+1)*w*ch])
		clear(row[(pw+w)*ch:])
	}
	clear(dst[(ph+h)*rs : (2*ph+h)*rs])
}

// winogradBlockFloats bounds the transformed inputs and products of one
// block of examples (V and M, 4 floats per output pixel and channel each),
// so that they stay in the core's L2 cache between the transforms and the
// products: 128 Ki floats, one 32×32 example at 16 channels, two 16×16
// examples at 32, four 8×8 examples at 64 (products of 256, 128 and 64
// rows).
var winogradBlockFloats = 1 << 17

// winograd reports whether the convolution runs as Winograd F(2×2, 3×3):
// 3×3 kernels, stride 1, padding at most 2 (so that the input gradient is
// one too), an even output size (whole tiles; the input gradient's then
// is even too). By default only with the assembly transforms, which need
// channel counts that are multiples of 8.
func (c *Conv2d) winograd() bool {
	fits := c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 &&
		c.PadH <= 2 && c.PadW <= 2 && c.ho%2 == 0 && c.wo%2 == 0
	switch convPathMode {
	case pathWinograd:
		return fits
	case pathAuto:
		return fits && useLoopAsm && c.InC%8 == 0 && c.OutC%8 == 0
	}
	return false
}

// winoExamples is the number of examples per block on the Winograd path.
func (c *Conv2d) winoExamples() int {
	tiles := max(c.ho*c.wo, c.h*c.w) / 4
	return max(1, winogradBlockFloats/(2*16*tiles*max(c.InC, c.OutC)))
}

// winoLen is a slot's scratch on the Winograd path: the padded image (input
// or output gradient), the transformed inputs V and the products M.
func (c *Conv2d) winoLen() int {
	padLen, vLen := c.winoLens()
	return padLen + 2*vLen
}

func (c *Conv2d) winoLens() (padLen, vLen int) {
	chMax := max(c.InC, c.OutC)
	padLen = max((c.ho+2)*(c.wo+2), (c.h+2)*(c.w+2)) * chMax
	vLen = 16 * (c.winoExamples()*max(c.ho*c.wo, c.h*c.w)/4*chMax + winoSkew)
	return padLen, vLen
}

// winoScratch cuts a slot's scratch into its parts (winoLen).
func (c *Conv2d) winoScratch(scratch []float32) (pad, v, m []float32) {
	padLen, vLen := c.winoLens()
	return scratch[:padLen], scratch[padLen : padLen+vLen], scratch[padLen+vLen : padLen+2*vLen]
}

// winoSkew separates the 16 components of the transformed inputs and of the
// products by one cache line more than their length: they are often a
// multiple of 4 KiB long, and the transforms, which touch all 16 at once,
// would otherwise find them in the same L1 cache set (the input transform
// ran at a third of its speed). Each component is a matrix [tile, channel]
// of its own, the operand or result of one product. (Keeping a tile's 16
// components together instead, one stream for the transforms, measured 10 %
// slower on the whole resnet20 step: the products then read and write
// strided rows, and their weight-gradient operand is packed.)
const winoSkew = 16

// winoConvolve computes the count images of h×w×ci at img (one after the
// other) convolved with the transformed kernel u (ci → co channels), padded
// by (ph, pw), into out (ho×wo×co each, plus add where add is not nil),
// where ho = h + 2·ph − 2 is even: one block of products.
func (c *Conv2d) winoConvolve(img []float32, count, h, w, ci, ph, pw int, u []float32, co int, out, add []float32, pad, v, m []float32) {
	ho, wo := h+2*ph-2, w+2*pw-2
	th, tw := ho/2, wo/2
	tiles := th * tw
	rows := count * tiles
	rs := (w + 2*pw) * ci
	vs, ms := rows*ci+winoSkew, rows*co+winoSkew
	for e := 0; e < count; e++ {
		padImage(pad, img[e*h*w*ci:(e+1)*h*w*ci], h, w, ci, ph, pw)
		for ty := 0; ty < th; ty++ {
			winoInputRow(v[(e*tiles+ty*tw)*ci:], vs, ci, pad[2*ty*rs:], rs, tw, ci)
		}
	}
	for xi := 0; xi < 16; xi++ {
		c.inner.Gemm(false, false, rows, co, ci, 1, v[xi*vs:xi*vs+rows*ci], ci,
			u[xi*ci*co:(xi+1)*ci*co], co, 0, m[xi*ms:xi*ms+rows*co], co)
	}
	for e := 0; e < count; e++ {
		ol := ho * wo * co
		oe := out[e*ol : (e+1)*ol]
		for ty := 0; ty < th; ty++ {
			var ar []float32
			if add != nil {
				ar = add[e*ol+2*ty*wo*co : (e+1)*ol]
			}
			winoOutputRow(oe[2*ty*wo*co:], wo*co, m[(e*tiles+ty*tw)*co:], ms, co, tw, co, ar)
		}
	}
}

// forwardWinograd computes the output of examples [n0, n1) on the Winograd
// path; c.wU holds the transformed kernel.
func (c *Conv2d) forwardWinograd(n0, n1 int, scratch []float32) {
	pad, v, m := c.winoScratch(scratch)
	inLen, outLen := c.h*c.w*c.InC, c.ho*c.wo*c.OutC
	step := c.winoExamples()
	for n := n0; n < n1; n += step {
		count := min(step, n1-n)
		yb := c.y.Data[n*outLen : (n+count)*outLen]
		c.winoConvolve(c.x.Data[n*inLen:(n+count)*inLen], count, c.h, c.w, c.InC, c.PadH, c.PadW, c.wU, c.OutC, yb, nil, pad, v, m)
		c.epilogue(yb)
	}
}

// backwardWinograd is backwardExamples on the Winograd path: it sets du to
// the gradient with respect to the transformed kernel over the examples
// [n0, n1) (Conv2d.backward sums the groups' and transforms the sum back),
// and computes the input gradient as the Winograd convolution of the output
// gradient with the flipped kernel (c.wU holds it transformed).
func (c *Conv2d) backwardWinograd(n0, n1 int, scratch, du []float32) {
	pad, v, m := c.winoScratch(scratch)
	ci, co := c.InC, c.OutC
	inLen, outLen := c.h*c.w*ci, c.ho*c.wo*co
	th, tw := c.ho/2, c.wo/2
	tiles := th * tw
	rs := (c.w + 2*c.PadW) * ci
	g := c.g.Data
	step := c.winoExamples()
	beta := float32(0)
	for n := n0; n < n1; n += step {
		count := min(step, n1-n)
		rows := count * tiles
		vs, ms := rows*ci+winoSkew, rows*co+winoSkew
		for e := 0; e < count; e++ {
			padImage(pad, c.x.Data[(n+e)*inLen:(n+e+1)*inLen], c.h, c.w, ci, c.PadH, c.PadW)
			ge := g[(n+e)*outLen : (n+e+1)*outLen]
			for ty := 0; ty < th; ty++ {
				t := (e*tiles + ty*tw)
				winoInputRow(v[t*ci:], vs, ci, pad[2*ty*rs:], rs, tw, ci)
				winoGradRow(m[t*co:], ms, co, ge[2*ty*c.wo*co:], c.wo*co, tw, co)
			}
		}
		for xi := 0; xi < 16; xi++ {
			c.inner.Gemm(true, false, ci, co, rows, 1, v[xi*vs:xi*vs+rows*ci], ci,
				m[xi*ms:xi*ms+rows*co], co, beta, du[xi*ci*co:(xi+1)*ci*co], co)
		}
		beta = 1
		if c.NoInputGrad {
			continue
		}
		var add []float32
		if c.dxInit != nil {
			add = c.dxInit[n*inLen : (n+count)*inLen]
		}
		c.winoConvolve(g[n*outLen:(n+count)*outLen], count, c.ho, c.wo, co, 2-c.PadH, 2-c.PadW, c.wU, ci, c.dx.Data[n*inLen:(n+count)*inLen], add, pad, v, m)
	}
}
