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
	xs, ys, am := x.Data, p.y.Data, p.argmax
	k, s, pad := p.K, p.Stride, p.Pad
	parallelFor(n*ho, wo*c*k*k, func(lo, hi int) {
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
	})
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
	dxs, ds, am := p.dx.Data, dy.Data, p.argmax
	// Windows overlap when K > Stride, so each example is one unit of work
	// and its additions happen in a fixed order.
	parallelFor(n, per, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := dxs[i*per : (i+1)*per]
			clear(d)
			g, a := ds[i*outPer:(i+1)*outPer], am[i*outPer:(i+1)*outPer]
			a = a[:len(g)]
			for j, v := range g {
				d[a[j]] += v
			}
		}
	})
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
	xs, ys := x.Data, p.y.Data
	k, s := p.K, p.Stride
	inv := 1 / float32(k*k)
	parallelFor(n*ho, wo*c*k*k, func(lo, hi int) {
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
	})
	return p.y
}

// Backward implements Layer.
func (p *AvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	p.dx = tensor.Ensure(p.dx, p.inShape...)
	n, h, w, c := p.inShape[0], p.inShape[1], p.inShape[2], p.inShape[3]
	ho, wo := dy.Shape[1], dy.Shape[2]
	dxs, ds := p.dx.Data, dy.Data
	k, s := p.K, p.Stride
	inv := 1 / float32(k*k)
	parallelFor(n, h*w*c, func(lo, hi int) {
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
	})
	return p.dx
}

// GlobalAvgPool averages each channel over the spatial axes: [N, H, W, C] →
// [N, C].
type GlobalAvgPool struct {
	inShape []int
	y, dx   *tensor.Tensor
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
	xs, ys := x.Data, p.y.Data
	inv := 1 / float32(hw)
	parallelFor(n, hw*c, func(lo, hi int) {
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
	})
	return p.y
}

// Backward implements Layer.
func (p *GlobalAvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	p.dx = tensor.Ensure(p.dx, p.inShape...)
	n, hw, c := p.inShape[0], p.inShape[1]*p.inShape[2], p.inShape[3]
	dxs, ds := p.dx.Data, dy.Data
	inv := 1 / float32(hw)
	parallelFor(n, hw*c, func(lo, hi int) {
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
	})
	return p.dx
}
