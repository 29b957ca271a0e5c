package nn

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// Conv2d is a 2-D convolution (cross-correlation, as in every framework) on
// NHWC tensors, groups = 1, with zero padding. The kernel is stored
// [KH, KW, InC, OutC], which flattened is the [KH·KW·InC, OutC] matrix W of
// the im2col formulation: Y [N·Ho·Wo, OutC] = cols [N·Ho·Wo, KH·KW·InC] × W.
// Output size: Ho = ⌊(H + 2·PadH − KH)/StrideH⌋ + 1, likewise Wo.
//
// A 1×1, stride-1, unpadded convolution is a plain GEMM on the input. Other
// convolutions build the im2col matrix in the shared Workspace, a chunk of
// examples at a time, and rebuild it in Backward (dW = colsᵀ·dY,
// dcols = dY·Wᵀ, then col2im) instead of keeping it between the passes.
//
// With ReLU set the layer computes max(0, conv(x) + b), the bias add and the
// ReLU fused into one pass over the GEMM's output.
type Conv2d struct {
	InC, OutC        int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	Kernel           *Param // [KH, KW, InC, OutC]
	Bias             *Param // [OutC], nil without bias
	ReLU             bool
	// NoInputGrad skips the input gradient (Backward returns nil): set on a
	// model's first layer, whose input gradient nobody reads.
	NoInputGrad bool
	// Work is the im2col scratch, shared by the convolutions of one model.
	Work *Workspace

	x, y, dx, g *tensor.Tensor
	n, h, w     int
	ho, wo      int
	partial     []float64
}

// NewConv2d returns a convolution with a square k×k kernel, the same stride
// and padding on both axes, and its own Workspace (models replace it with a
// shared one). Parameters are "<name>.kernel" (He-normal, N(0, 2/(k·k·inC)),
// drawn from seed) and, when bias is set, "<name>.bias" (zero).
func NewConv2d(name string, inC, outC, k, stride, pad int, bias bool, seed uint64) *Conv2d {
	return NewConv2dRect(name, inC, outC, k, k, stride, stride, pad, pad, bias, seed)
}

// NewConv2dRect is NewConv2d with a kh×kw kernel and separate strides and
// paddings for the height and width axes.
func NewConv2dRect(name string, inC, outC, kh, kw, strideH, strideW, padH, padW int, bias bool, seed uint64) *Conv2d {
	if inC < 1 || outC < 1 || kh < 1 || kw < 1 || strideH < 1 || strideW < 1 || padH < 0 || padW < 0 {
		panic(fmt.Sprintf("nn: Conv2d %s: bad geometry in=%d out=%d kernel=%dx%d stride=%dx%d pad=%dx%d",
			name, inC, outC, kh, kw, strideH, strideW, padH, padW))
	}
	c := &Conv2d{
		InC: inC, OutC: outC, KH: kh, KW: kw, StrideH: strideH, StrideW: strideW, PadH: padH, PadW: padW,
		Kernel: newParam(name+".kernel", Kernel, kh, kw, inC, outC),
		Work:   &Workspace{},
	}
	initHeNormal(c.Kernel, seed)
	if bias {
		c.Bias = newParam(name+".bias", Bias, outC)
	}
	return c
}

// Params implements Layer.
func (c *Conv2d) Params() []*Param {
	if c.Bias == nil {
		return []*Param{c.Kernel}
	}
	return []*Param{c.Kernel, c.Bias}
}

// OutputSize returns the spatial size of the output for an h×w input.
func (c *Conv2d) OutputSize(h, w int) (ho, wo int) {
	return (h+2*c.PadH-c.KH)/c.StrideH + 1, (w+2*c.PadW-c.KW)/c.StrideW + 1
}

// pointwise reports whether the convolution is a plain GEMM on the input.
func (c *Conv2d) pointwise() bool {
	return c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadH == 0 && c.PadW == 0
}

// chunk returns how many examples one im2col chunk holds.
func (c *Conv2d) chunk() int {
	per := c.ho * c.wo * c.KH * c.KW * c.InC
	return max(1, min(c.n, colsChunkFloats/per))
}

// Forward implements Layer.
func (c *Conv2d) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if len(x.Shape) != 4 || x.Shape[3] != c.InC {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v, want [N H W %d]", c.Kernel.Name, x.Shape, c.InC))
	}
	c.x = x
	c.n, c.h, c.w = x.Shape[0], x.Shape[1], x.Shape[2]
	c.ho, c.wo = c.OutputSize(c.h, c.w)
	if c.ho < 1 || c.wo < 1 {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v smaller than the %dx%d kernel", c.Kernel.Name, x.Shape, c.KH, c.KW))
	}
	c.y = tensor.Ensure(c.y, c.n, c.ho, c.wo, c.OutC)
	y, wk := c.y.Data, c.Kernel.Value
	if c.pointwise() {
		tensor.Gemm(false, false, c.n*c.h*c.w, c.OutC, c.InC, 1, x.Data, c.InC, wk, c.OutC, 0, y, c.OutC)
		c.epilogue(y)
		return c.y
	}
	k := c.KH * c.KW * c.InC
	rowsPer := c.ho * c.wo
	step := c.chunk()
	for n0 := 0; n0 < c.n; n0 += step {
		n1 := min(n0+step, c.n)
		rows := (n1 - n0) * rowsPer
		cols := c.Work.floats(rows * k)
		c.im2col(x.Data, n0, n1, cols)
		yc := y[n0*rowsPer*c.OutC : n1*rowsPer*c.OutC]
		tensor.Gemm(false, false, rows, c.OutC, k, 1, cols, k, wk, c.OutC, 0, yc, c.OutC)
		// The epilogue runs per chunk, while the chunk's output is in cache.
		c.epilogue(yc)
	}
	return c.y
}

// epilogue adds the bias and applies the ReLU to rows of the output.
func (c *Conv2d) epilogue(y []float32) {
	if c.Bias == nil && !c.ReLU {
		return
	}
	oc := c.OutC
	var b []float32
	if c.Bias != nil {
		b = c.Bias.Value
	}
	rows := len(y) / oc
	relu, hasBias := c.ReLU, c.Bias != nil
	parallelFor(rows, oc, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := y[r*oc : (r+1)*oc]
			switch {
			case hasBias && relu:
				b := b[:len(row)]
				for j, v := range row {
					row[j] = max(v+b[j], 0)
				}
			case hasBias:
				b := b[:len(row)]
				for j := range row {
					row[j] += b[j]
				}
			default:
				for j, v := range row {
					row[j] = max(v, 0)
				}
			}
		}
	})
}

// Backward implements Layer.
func (c *Conv2d) Backward(dy *tensor.Tensor) *tensor.Tensor {
	return c.backward(dy, nil)
}

// backward computes the gradients; when dxInit is not nil (a tensor of the
// input's shape) the input gradient is dxInit plus the convolution's own,
// which fuses a residual block's gradient sum into col2im.
func (c *Conv2d) backward(dy, dxInit *tensor.Tensor) *tensor.Tensor {
	g := dy.Data
	rowsAll := c.n * c.ho * c.wo
	switch {
	case c.ReLU && c.Bias != nil:
		c.g = tensor.Ensure(c.g, dy.Shape...)
		c.partial = maskedChannelSums(c.g.Data, dy.Data, c.y.Data, rowsAll, c.OutC, c.Bias.Grad, c.partial)
		g = c.g.Data
	case c.ReLU:
		c.g = tensor.Ensure(c.g, dy.Shape...)
		reluMask(c.g.Data, dy.Data, c.y.Data)
		g = c.g.Data
	case c.Bias != nil:
		c.partial = channelSums(g, rowsAll, c.OutC, c.Bias.Grad, c.partial)
	}
	wk, dw := c.Kernel.Value, c.Kernel.Grad
	if !c.NoInputGrad {
		c.dx = tensor.Ensure(c.dx, c.x.Shape...)
	}
	if c.pointwise() {
		tensor.Gemm(true, false, c.InC, c.OutC, rowsAll, 1, c.x.Data, c.InC, g, c.OutC, 0, dw, c.OutC)
		if c.NoInputGrad {
			return nil
		}
		beta := float32(0)
		if dxInit != nil {
			copy(c.dx.Data, dxInit.Data)
			beta = 1
		}
		tensor.Gemm(false, true, rowsAll, c.InC, c.OutC, 1, g, c.OutC, wk, c.OutC, beta, c.dx.Data, c.InC)
		return c.dx
	}
	k := c.KH * c.KW * c.InC
	rowsPer := c.ho * c.wo
	step := c.chunk()
	for n0 := 0; n0 < c.n; n0 += step {
		n1 := min(n0+step, c.n)
		rows := (n1 - n0) * rowsPer
		cols := c.Work.floats(rows * k)
		c.im2col(c.x.Data, n0, n1, cols)
		gc := g[n0*rowsPer*c.OutC : n1*rowsPer*c.OutC]
		// Chunks add into dW in a fixed order: deterministic.
		beta := float32(1)
		if n0 == 0 {
			beta = 0
		}
		tensor.Gemm(true, false, k, c.OutC, rows, 1, cols, k, gc, c.OutC, beta, dw, c.OutC)
		if c.NoInputGrad {
			continue
		}
		// The im2col matrix is no longer needed: dcols overwrites it.
		tensor.Gemm(false, true, rows, k, c.OutC, 1, gc, c.OutC, wk, c.OutC, 0, cols, k)
		var init []float32
		if dxInit != nil {
			init = dxInit.Data
		}
		c.col2im(cols, n0, n1, c.dx.Data, init)
	}
	if c.NoInputGrad {
		return nil
	}
	return c.dx
}

// copySmall copies src to dst (same length); runs of a few floats are copied
// inline because a memmove call costs more than the copy.
func copySmall(dst, src []float32) {
	if len(src) > 8 {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v
	}
}

// addTo sets dst += src (same length).
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// im2col writes the rows of examples [n0, n1) of the im2col matrix: row
// ((n−n0)·Ho + oy)·Wo + ox holds the input window of output pixel (oy, ox) in
// (ky, kx, c) order, zeros where the window leaves the image. Within a kernel
// row the window is contiguous in NHWC, so interior windows copy KW·C floats
// at a time.
func (c *Conv2d) im2col(x []float32, n0, n1 int, cols []float32) {
	h, w, ci := c.h, c.w, c.InC
	ho, wo, kh, kw := c.ho, c.wo, c.KH, c.KW
	sh, sw, ph, pw := c.StrideH, c.StrideW, c.PadH, c.PadW
	k := kh * kw * ci
	seglen := kw * ci
	parallelFor((n1-n0)*ho, wo*k, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			n, oy := n0+t/ho, t%ho
			img := x[n*h*w*ci : (n+1)*h*w*ci]
			dstRow := cols[t*wo*k : (t+1)*wo*k]
			for ky := 0; ky < kh; ky++ {
				iy := oy*sh - ph + ky
				if iy < 0 || iy >= h {
					for ox := 0; ox < wo; ox++ {
						clear(dstRow[ox*k+ky*seglen : ox*k+(ky+1)*seglen])
					}
					continue
				}
				src := img[iy*w*ci : (iy+1)*w*ci]
				for ox := 0; ox < wo; ox++ {
					seg := dstRow[ox*k+ky*seglen : ox*k+(ky+1)*seglen]
					ix0 := ox*sw - pw
					if ix0 >= 0 && ix0+kw <= w {
						copySmall(seg, src[ix0*ci:(ix0+kw)*ci])
						continue
					}
					for kx := 0; kx < kw; kx++ {
						d := seg[kx*ci : (kx+1)*ci]
						if ix := ix0 + kx; ix < 0 || ix >= w {
							clear(d)
						} else {
							copySmall(d, src[ix*ci:(ix+1)*ci])
						}
					}
				}
			}
		}
	})
}

// col2im writes the input gradient of examples [n0, n1) from dcols (laid out
// like im2col's matrix): each input pixel receives the sum of the dcols
// entries that im2col copied from it. Work is split by input row, each
// summing its contributions in a fixed (ky, ox, kx) order, so there are no
// write races and the result is deterministic. When init is not nil, the
// sums start from init instead of zero.
func (c *Conv2d) col2im(dcols []float32, n0, n1 int, dx, init []float32) {
	h, w, ci := c.h, c.w, c.InC
	ho, wo, kh, kw := c.ho, c.wo, c.KH, c.KW
	sh, sw, ph, pw := c.StrideH, c.StrideW, c.PadH, c.PadW
	k := kh * kw * ci
	seglen := kw * ci
	rowLen := w * ci
	parallelFor((n1-n0)*h, rowLen*kh, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			n, iy := n0+t/h, t%h
			off := (n*h + iy) * rowLen
			drow := dx[off : off+rowLen]
			if init != nil {
				copy(drow, init[off:off+rowLen])
			} else {
				clear(drow)
			}
			for ky := 0; ky < kh; ky++ {
				ty := iy + ph - ky
				if ty < 0 || ty%sh != 0 || ty/sh >= ho {
					continue
				}
				base := ((n-n0)*ho + ty/sh) * wo * k
				for ox := 0; ox < wo; ox++ {
					src := dcols[base+ox*k+ky*seglen : base+ox*k+(ky+1)*seglen]
					ix0 := ox*sw - pw
					if ix0 >= 0 && ix0+kw <= w {
						addTo(drow[ix0*ci:(ix0+kw)*ci], src)
						continue
					}
					for kx := 0; kx < kw; kx++ {
						if ix := ix0 + kx; ix >= 0 && ix < w {
							addTo(drow[ix*ci:(ix+1)*ci], src[kx*ci:(kx+1)*ci])
						}
					}
				}
			}
		}
	})
}
