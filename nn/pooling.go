package nn

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// MaxPool takes the maximum over K×K windows moved by Stride, on NHWC
// tensors, with Pad rows and columns of −∞ around the image (padding never
// wins). Output size ⌊(H + 2·Pad − K)/Stride⌋ + 1. Forward records the
// position of each maximum (the first one on ties), and Backward routes the
// gradient there.
type MaxPool struct {
	K, Stride, Pad int

	inShape []int
	argmax  []int32 // per output element: index within its example's input
	y, dx   *tensor.Tensor
	run     poolRun
}

// NewMaxPool returns a k×k max pool with the given stride and padding.
func NewMaxPool(k, stride, pad int) *MaxPool {
	if k < 1 || stride < 1 || pad < 0 || pad >= k {
		panic(fmt.Sprintf("nn: MaxPool k=%d stride=%d pad=%d", k, stride, pad))
	}
	return &MaxPool{K: k, Stride: stride, Pad: pad}
}

// Params implements Layer.
func (p *MaxPool) Params() []*Param { return nil }

// outSize is the output extent along an axis of size n.
func poolOut(n, k, stride, pad int) int { return (n+2*pad-k)/stride + 1 }

// Forward implements Layer.
func (p *MaxPool) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn: MaxPool input %v, want NHWC", x.Shape))
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := poolOut(h, p.K, p.Stride, p.Pad), poolOut(w, p.K, p.Stride, p.Pad)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn: MaxPool %dx%d on input %v", p.K, p.K, x.Shape))
	}
	p.inShape = append(p.inShape[:0], x.Shape...)
	p.y = tensor.Ensure(p.y, n, ho, wo, c)
	p.argmax = growInt32(p.argmax, len(p.y.Data))
	p.run = poolRun{op: maxForward, xs: x.Data, ys: p.y.Data, am: p.argmax,
		h: h, w: w, c: c, ho: ho, wo: wo, k: p.K, s: p.Stride, pad: p.Pad}
	parallelRun(n*ho, wo*c*p.K*p.K, &p.run)
	return p.y
}

// orderKey maps a float32 to an int32 with the same order (for non-NaN
// values): negative floats have their magnitude bits flipped.
func orderKey(v float32) int32 {
	b := int32(math.Float32bits(v))
	return b ^ int32(uint32(b>>31)>>1)
}

// Backward implements Layer.
func (p *MaxPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	p.dx = tensor.Ensure(p.dx, p.inShape...)
	n := p.inShape[0]
	per := len(p.dx.Data) / n
	outPer := len(dy.Data) / n
	// Windows overlap when K > Stride, so each example is one unit of work
	// and its additions happen in a fixed order.
	p.run = poolRun{op: maxBackward, xs: p.dx.Data, ys: dy.Data, am: p.argmax, per: per, outPer: outPer,
		h: p.inShape[1], w: p.inShape[2], c: p.inShape[3], ho: dy.Shape[1], wo: dy.Shape[2],
		k: p.K, s: p.Stride, pad: p.Pad}
	parallelRun(n, per, &p.run)
	return p.dx
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// AvgPool averages over K×K windows moved by Stride on NHWC tensors, without
// padding: output size ⌊(H − K)/Stride⌋ + 1.
type AvgPool struct {
	K, Stride int

	inShape []int
	y, dx   *tensor.Tensor
	run     poolRun
}

// NewAvgPool returns a k×k average pool with the given stride.
func NewAvgPool(k, stride int) *AvgPool {
	if k < 1 || stride < 1 {
		panic(fmt.Sprintf("nn: AvgPool k=%d stride=%d", k, stride))
	}
	return &AvgPool{K: k, Stride: stride}
}

// Params implements Layer.
func (p *AvgPool) Params() []*Param { return nil }

// Forward implements Layer.
func (p *AvgPool) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn: AvgPool input %v, want NHWC", x.Shape))
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := poolOut(h, p.K, p.Stride, 0), poolOut(w, p.K, p.Stride, 0)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn: AvgPool %dx%d on input %v", p.K, p.K, x.Shape))
	}
	p.inShape = append(p.inShape[:0], x.Shape...)
	p.y = tensor.Ensure(p.y, n, ho, wo, c)
	k := p.K
	p.run = poolRun{op: avgForward, xs: x.Data, ys: p.y.Data,
		h: h, w: w, c: c, ho: ho, wo: wo, k: k, s: p.Stride, inv: 1 / float32(k*k)}
	parallelRun(n*ho, wo*c*k*k, &p.run)
	return p.y
}

// Backward implements Layer.
func (p *AvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	p.dx = tensor.Ensure(p.dx, p.inShape...)
	n, h, w, c := p.inShape[0], p.inShape[1], p.inShape[2], p.inShape[3]
	ho, wo := dy.Shape[1], dy.Shape[2]
	k := p.K
	p.run = poolRun{op: avgBackward, xs: p.dx.Data, ys: dy.Data,
		h: h, w: w, c: c, ho: ho, wo: wo, k: k, s: p.Stride, inv: 1 / float32(k*k)}
	parallelRun(n, h*w*c, &p.run)
	return p.dx
}

// GlobalAvgPool averages each channel over the spatial axes: [N, H, W, C] →
// [N, C].
type GlobalAvgPool struct {
	inShape []int
	y, dx   *tensor.Tensor
	run     poolRun
}

// NewGlobalAvgPool returns a global average pool.
func NewGlobalAvgPool() *GlobalAvgPool { return &GlobalAvgPool{} }

// Params implements Layer.
func (p *GlobalAvgPool) Params() []*Param { return nil }

// Forward implements Layer.
func (p *GlobalAvgPool) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn: GlobalAvgPool input %v, want NHWC", x.Shape))
	}
	n, hw, c := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	p.inShape = append(p.inShape[:0], x.Shape...)
	p.y = tensor.Ensure(p.y, n, c)
	p.run = poolRun{op: globalForward, xs: x.Data, ys: p.y.Data, c: c, hw: hw, inv: 1 / float32(hw)}
	parallelRun(n, hw*c, &p.run)
	return p.y
}

// Backward implements Layer.
func (p *GlobalAvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	p.dx = tensor.Ensure(p.dx, p.inShape...)
	n, hw, c := p.inShape[0], p.inShape[1]*p.inShape[2], p.inShape[3]
	p.run = poolRun{op: globalBackward, xs: p.dx.Data, ys: dy.Data, c: c, hw: hw, inv: 1 / float32(hw)}
	parallelRun(n, hw*c, &p.run)
	return p.dx
}

// poolRun is the loop of a pooling layer's Forward or Backward, kept in the
// layer: handing the worker pool a fresh closure would allocate it on every
// call. xs and ys hold x and y in Forward, dx and dy in Backward.
type poolRun struct {
	op                         poolOp
	xs, ys                     []float32
	am                         []int32 // MaxPool's argmax
	h, w, c, ho, wo, k, s, pad int
	per, outPer, hw            int
	inv                        float32
}

type poolOp int

const (
	maxForward poolOp = iota
	maxBackward
	avgForward
	avgBackward
	globalForward
	globalBackward
)

func (r *poolRun) RunChunk(lo, hi int) {
	switch r.op {
	case maxForward:
		r.maxForward(lo, hi)
	case maxBackward:
		r.maxBackward(lo, hi)
	case avgForward:
		r.avgForward(lo, hi)
	case avgBackward:
		r.avgBackward(lo, hi)
	case globalForward:
		r.globalForward(lo, hi)
	case globalBackward:
		r.globalBackward(lo, hi)
	}
}

func (r *poolRun) maxForward(lo, hi int) {
	xs, ys, am := r.xs, r.ys, r.am
	h, w, c, ho, wo, k, s, pad := r.h, r.w, r.c, r.ho, r.wo, r.k, r.s, r.pad
	if useLoopAsm && k == 2 && s == 2 && pad == 0 && c%8 == 0 {
		r.maxForward2(lo, hi)
		return
	}
	for t := lo; t < hi; t++ {
		ni, oy := t/ho, t%ho
		img := xs[ni*h*w*c : (ni+1)*h*w*c]
		y0, y1 := max(oy*s-pad, 0), min(oy*s-pad+k, h)
		for ox := 0; ox < wo; ox++ {
			x0, x1 := max(ox*s-pad, 0), min(ox*s-pad+k, w)
			out := (t*wo + ox) * c
			yr, ar := ys[out:out+c], am[out:out+c]
			// Compare order keys (integers, so the selection compiles
			// to conditional moves rather than unpredictable branches).
			first := (y0*w + x0) * c
			for j := range ar {
				ar[j] = int32(first + j)
				yr[j] = img[first+j]
			}
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					base := (iy*w + ix) * c
					if base == first {
						continue
					}
					src := img[base : base+c]
					yr, ar := yr[:len(src)], ar[:len(src)]
					for j, v := range src {
						cand, best := orderKey(v), orderKey(yr[j])
						idx := ar[j]
						if cand > best {
							idx = int32(base + j)
						}
						ar[j] = idx
						yr[j] = max(yr[j], v)
					}
				}
			}
		}
	}
}

// maxForward2 is maxForward for 2×2 windows at stride 2 without padding and
// channel counts that are multiples of 8, one output row per call of the
// assembly loop.
func (r *poolRun) maxForward2(lo, hi int) {
	xs, ys, am := r.xs, r.ys, r.am
	h, w, c, ho, wo := r.h, r.w, r.c, r.ho, r.wo
	per, rowLen := h*w*c, w*c
	for t := lo; t < hi; t++ {
		ni, oy := t/ho, t%ho
		img := xs[ni*per : (ni+1)*per]
		out := t * wo * c
		// The assembly reads and writes without bounds checks: the last
		// elements it touches must exist.
		_ = img[(2*oy+1)*rowLen+2*wo*c-1]
		_, _ = ys[out+wo*c-1], am[out+wo*c-1]
		maxPool2AVX2(&img[0], &ys[out], &am[out], 2*oy*rowLen, wo, c, rowLen)
	}
}

func (r *poolRun) maxBackward(lo, hi int) {
	dxs, ds, am, per, outPer := r.xs, r.ys, r.am, r.per, r.outPer
	if useLoopAsm && r.k == 2 && r.s == 2 && r.pad == 0 && r.c%8 == 0 {
		r.maxBackward2(lo, hi)
		return
	}
	for i := lo; i < hi; i++ {
		d := dxs[i*per : (i+1)*per]
		clear(d)
		g, a := ds[i*outPer:(i+1)*outPer], am[i*outPer:(i+1)*outPer]
		a = a[:len(g)]
		for j, v := range g {
			d[a[j]] += v
		}
	}
}

func (r *poolRun) avgForward(lo, hi int) {
	xs, ys, inv := r.xs, r.ys, r.inv
	h, w, c, ho, wo, k, s := r.h, r.w, r.c, r.ho, r.wo, r.k, r.s
	for t := lo; t < hi; t++ {
		ni, oy := t/ho, t%ho
		img := xs[ni*h*w*c : (ni+1)*h*w*c]
		for ox := 0; ox < wo; ox++ {
			out := (t*wo + ox) * c
			yr := ys[out : out+c]
			clear(yr)
			for iy := oy * s; iy < oy*s+k; iy++ {
				for ix := ox * s; ix < ox*s+k; ix++ {
					addTo(yr, img[(iy*w+ix)*c:(iy*w+ix+1)*c])
				}
			}
			for j := range yr {
				yr[j] *= inv
			}
		}
	}
}

func (r *poolRun) avgBackward(lo, hi int) {
	dxs, ds, inv := r.xs, r.ys, r.inv
	h, w, c, ho, wo, k, s := r.h, r.w, r.c, r.ho, r.wo, r.k, r.s
	for ni := lo; ni < hi; ni++ {
		d := dxs[ni*h*w*c : (ni+1)*h*w*c]
		clear(d)
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				g := ds[((ni*ho+oy)*wo+ox)*c : ((ni*ho+oy)*wo+ox+1)*c]
				for iy := oy * s; iy < oy*s+k; iy++ {
					for ix := ox * s; ix < ox*s+k; ix++ {
						dr := d[(iy*w+ix)*c : (iy*w+ix+1)*c]
						dr = dr[:len(g)]
						for j, v := range g {
							dr[j] += v * inv
						}
					}
				}
			}
		}
	}
}

func (r *poolRun) globalForward(lo, hi int) {
	xs, ys, c, hw, inv := r.xs, r.ys, r.c, r.hw, r.inv
	for i := lo; i < hi; i++ {
		yr := ys[i*c : (i+1)*c]
		clear(yr)
		for q := 0; q < hw; q++ {
			addTo(yr, xs[(i*hw+q)*c:(i*hw+q+1)*c])
		}
		for j := range yr {
			yr[j] *= inv
		}
	}
}

func (r *poolRun) globalBackward(lo, hi int) {
	dxs, ds, c, hw, inv := r.xs, r.ys, r.c, r.hw, r.inv
	for i := lo; i < hi; i++ {
		g := ds[i*c : (i+1)*c]
		for q := 0; q < hw; q++ {
			d := dxs[(i*hw+q)*c : (i*hw+q+1)*c]
			d = d[:len(g)]
			for j, v := range g {
				d[j] = v * inv
			}
		}
	}
}

// maxBackward2 is maxBackward for the windows of maxForward2. They do not
// overlap, so rather than clearing dx and adding into it, the assembly loop
// writes each window whole; only the last row and column, when no window
// covers them, are cleared here.
func (r *poolRun) maxBackward2(lo, hi int) {
	dxs, ds, am, per, outPer := r.xs, r.ys, r.am, r.per, r.outPer
	h, w, c, ho, wo := r.h, r.w, r.c, r.ho, r.wo
	rowLen := w * c
	for i := lo; i < hi; i++ {
		d := dxs[i*per : (i+1)*per]
		g, a := ds[i*outPer:(i+1)*outPer], am[i*outPer:(i+1)*outPer]
		// The assembly reads and writes without bounds checks.
		_ = d[(2*ho-1)*rowLen+2*wo*c-1]
		_, _ = g[ho*wo*c-1], a[ho*wo*c-1]
		for oy := 0; oy < ho; oy++ {
			out := oy * wo * c
			maxUnpool2AVX2(&d[0], &g[out], &a[out], 2*oy*rowLen, wo, c, rowLen)
			if 2*wo < w {
				for iy := 2 * oy; iy < 2*oy+2; iy++ {
					clear(d[iy*rowLen+2*wo*c : (iy+1)*rowLen])
				}
			}
		}
		clear(d[2*ho*rowLen : h*rowLen])
	}
}
