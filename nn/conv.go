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
// A 1×1, stride-1, unpadded convolution is a plain GEMM on the input. For
// the others the batch is cut into convGroups groups of examples and the
// threads take whole groups. Most stride-1 convolutions then multiply each
// example's expanded rows (see rows): kw copies of the image rather than
// im2col's kh·kw. The rest go through their examples a block at a time (a
// few whole examples, or a band of output rows of one), building that
// block's im2col rows in the thread's own slice of the shared Workspace
// (small enough to stay in the core's L2 cache) and multiplying them at
// once; they never hold the whole im2col matrix. Backward rebuilds the
// blocks (dW_group += colsᵀ·dY) and computes the input gradient, for stride
// 1 as the convolution of dY with the flipped kernel, otherwise as
// dcols = dY·Wᵀ then col2im into the example's input gradient. The
// per-group weight gradients are added in group order, so the result does
// not depend on the thread count, and no two threads ever write the same
// input gradient.
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

	// The current pass, for the per-thread workers (runner).
	pass    convPass
	nSlots  int // threads taking part, fixed for the pass
	dxInit  []float32
	scratch []float32 // per-slot im2col blocks
	dwParts []float32 // per-group weight gradients
	wFlip   []float32 // the kernel of the input-gradient convolution
	wU      []float32 // the pass's kernel transformed for Winograd
	runner  convRunner
	inner   tensor.Workers // threads for a slot's products

	// Loop bodies for the worker pool, bound once: a closure handed to the
	// pool escapes, and would be allocated on every call.
	epilogueFn, sumGroupsFn func(lo, hi int)
}

// convRunner runs a convolution's per-thread work (tensor.ChunkRunner).
type convRunner struct{ c *Conv2d }

func (r *convRunner) RunChunk(lo, hi int) { r.c.runSlots(lo, hi) }

// convPass is what a per-thread worker of a convolution computes.
type convPass int

const (
	passForward convPass = iota
	passBackward
)

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

// convGroups is the number of example groups a convolution's batch is cut
// into: the unit of work of a thread, and of the weight-gradient sum. Being
// fixed, it makes that sum's order independent of the thread count.
const convGroups = 16

// blockFloats bounds a block's im2col rows (256 Ki floats = 1 MiB: a whole
// 32×32 example of a 16-channel 3×3 convolution), so that they stay in the
// core's caches between being written and multiplied, while each GEMM is
// long enough (hundreds to thousands of rows) to run near the kernel's
// speed; a GEMM of 448 rows ran at half the rate of one of 4096 here.
var blockFloats = 1 << 18

// geometry of the current batch: k = KH·KW·InC, groups, and the threads that
// take them.
func (c *Conv2d) k() int { return c.KH * c.KW * c.InC }

func (c *Conv2d) groups() int { return min(convGroups, c.n) }

func (c *Conv2d) slots() int { return max(1, min(tensor.Threads(), c.groups())) }

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
	if c.pointwise() {
		tensor.Gemm(false, false, c.n*c.h*c.w, c.OutC, c.InC, 1, x.Data, c.InC, c.Kernel.Value, c.OutC, 0, c.y.Data, c.OutC)
		if c.epilogueFn == nil {
			c.epilogueFn = c.epilogueExamples
		}
		parallelFor(c.n, c.h*c.w*c.OutC, c.epilogueFn)
		return c.y
	}
	c.pass = passForward
	c.runPass()
	return c.y
}

// runPass runs the current pass on the worker threads: slot s of S takes the
// example groups [s·G/S, (s+1)·G/S), with its own scratch.
func (c *Conv2d) runPass() {
	slots, groups := c.slots(), c.groups()
	c.nSlots = slots
	blockLen, flipLen, uLen := c.workLens(c.pass)
	kc := c.partLen()
	// The workspace is sized for the backward pass already in the forward
	// one, so that it reaches its final size during the first forward pass
	// rather than while the backward pass allocates the gradients (peak RSS
	// of the resnet20 step 1.5 MB lower).
	bb, bf, bu := c.workLens(passBackward)
	partsLen := c.storedParts(groups, slots) * kc
	backLen := slots*bb + partsLen + bf + bu
	if c.pass == passForward {
		partsLen = 0
	}
	n := slots*blockLen + partsLen + flipLen + uLen
	buf := c.Work.floats(max(n, backLen))[:n]
	c.scratch, buf = buf[:slots*blockLen], buf[slots*blockLen:]
	c.dwParts, buf = buf[:partsLen], buf[partsLen:]
	c.wFlip, c.wU = buf[:flipLen], buf[flipLen:]
	if flipLen > 0 {
		c.flipKernel()
	}
	switch wino := c.winograd(); {
	case wino && c.pass == passForward:
		winoKernel(c.wU, c.Kernel.Value, c.InC, c.OutC)
	case wino && flipLen > 0:
		winoKernel(c.wU, c.wFlip, c.OutC, c.InC)
	}
	c.runner.c = c
	// With a thread per slot, each slot's products run on its own thread.
	c.inner = tensor.Workers(tensor.Threads())
	if slots >= tensor.Threads() {
		c.inner = 1
	}
	tensor.ParallelRun(slots, &c.runner)
	if c.pass == passForward {
		c.dropWork()
	}
}

// dropWork forgets the pass's slices of the shared workspace: a layer that
// kept them would keep a buffer the workspace has since outgrown alive until
// its next pass (several such buffers in a model's first step).
func (c *Conv2d) dropWork() {
	c.scratch, c.dwParts, c.wFlip, c.wU = nil, nil, nil, nil
}

// workLens returns a pass's scratch per slot, flipped kernel and
// transformed kernel lengths.
func (c *Conv2d) workLens(pass convPass) (blockLen, flipLen, uLen int) {
	fg := c.forwardGeom()
	blockLen = fg.blockLen()
	wino := c.winograd()
	switch {
	case wino:
		blockLen = c.winoLen()
	case c.rows():
		blockLen = c.rowsLen()
	}
	if pass == passBackward && !c.NoInputGrad && c.flippedGrad() {
		if !c.rows() && !wino {
			gg := c.gradGeom()
			blockLen = max(blockLen, gg.blockLen())
		}
		flipLen = c.k() * c.OutC
	}
	if wino {
		uLen = 16 * c.InC * c.OutC
	}
	return blockLen, flipLen, uLen
}

// flipKernel sets wFlip[(a, b, co), ci] = W[KH−1−a, KW−1−b, ci, co], the
// [KH·KW·OutC, InC] matrix of the input-gradient convolution (gradGeom).
func (c *Conv2d) flipKernel() {
	kh, kw, ci, co := c.KH, c.KW, c.InC, c.OutC
	w := c.Kernel.Value
	for a := 0; a < kh; a++ {
		for b := 0; b < kw; b++ {
			src := w[((kh-1-a)*kw+(kw-1-b))*ci*co:]
			dst := c.wFlip[(a*kw+b)*co*ci:]
			for i := 0; i < ci; i++ {
				for o := 0; o < co; o++ {
					dst[o*ci+i] = src[i*co+o]
				}
			}
		}
	}
}

// runSlots does the work of slots [lo, hi).
func (c *Conv2d) runSlots(lo, hi int) {
	slots, groups := c.nSlots, c.groups()
	blockLen := len(c.scratch) / slots
	kc := c.partLen()
	for s := lo; s < hi; s++ {
		cols := c.scratch[s*blockLen : (s+1)*blockLen]
		for g := s * groups / slots; g < (s+1)*groups/slots; g++ {
			n0, n1 := g*c.n/groups, (g+1)*c.n/groups
			var part []float32
			if c.pass == passBackward {
				i := c.partIndex(g, groups, slots)
				part = c.dwParts[i*kc : (i+1)*kc]
			}
			switch {
			case c.pass == passForward && c.winograd():
				c.forwardWinograd(n0, n1, cols)
			case c.winograd():
				c.backwardWinograd(n0, n1, cols, part)
			case c.pass == passForward && c.rows():
				c.forwardRows(n0, n1, cols)
			case c.pass == passForward:
				c.forwardExamples(n0, n1, cols)
			case c.rows():
				c.backwardRows(n0, n1, cols, part)
			default:
				c.backwardExamples(n0, n1, cols, part)
			}
			if c.pass == passBackward && s == 0 && g > 0 {
				addTo(c.dwParts[:kc], part)
			}
		}
	}
}

// The first slot's groups come first in the sum of the weight gradient's
// parts, so that slot adds each of its parts to a running sum (part 0) as
// soon as it has it, in a second part (1); the other slots' groups keep a
// part each, summed after. The additions are the same, in the same order, as
// summing every group's part at the end, so the result still does not depend
// on the thread count, and with two threads and 16 groups the workspace
// holds 10 parts instead of 16 (the parts are most of it on the Winograd
// path, 16·C² floats each).

// storedParts is the number of weight-gradient parts the backward pass keeps.
func (c *Conv2d) storedParts(groups, slots int) int {
	first := groups / slots
	if first > 1 {
		return groups - first + 2
	}
	return groups
}

// partIndex is the part group g of groups, run by slots slots, writes.
func (c *Conv2d) partIndex(g, groups, slots int) int {
	first := groups / slots
	switch {
	case first <= 1:
		return g
	case g < first:
		return min(g, 1)
	default:
		return g - first + 2
	}
}

// forBlocks cuts examples [n0, n1) into blocks whose im2col rows (geometry
// g) take at most blockFloats: several whole examples when one fits, else
// bands of output rows of one example, of balanced heights. It calls
// fn(n, count, oy0, oy1) for the examples [n, n+count), output rows
// [oy0, oy1) of each.
func forBlocks(g *convGeom, n0, n1 int, fn func(n, count, oy0, oy1 int)) {
	per := g.ho * g.wo * g.kh * g.kw * g.c
	if per <= blockFloats {
		step := max(1, blockFloats/per)
		for n := n0; n < n1; n += step {
			fn(n, min(step, n1-n), 0, g.ho)
		}
		return
	}
	bands := (per + blockFloats - 1) / blockFloats
	h := (g.ho + bands - 1) / bands
	for n := n0; n < n1; n++ {
		for oy0 := 0; oy0 < g.ho; oy0 += h {
			fn(n, 1, oy0, min(oy0+h, g.ho))
		}
	}
}

// blockLen is the largest im2col block forBlocks makes for geometry g.
func (g *convGeom) blockLen() int {
	per := g.ho * g.wo * g.kh * g.kw * g.c
	if per <= blockFloats {
		return max(1, blockFloats/per) * per
	}
	bands := (per + blockFloats - 1) / blockFloats
	return (g.ho + bands - 1) / bands * g.wo * g.kh * g.kw * g.c
}

// im2colBlock writes the im2col rows of a forBlocks block of images from
// data (examples of h·w·c floats).
func (g *convGeom) im2colBlock(data []float32, n, count, oy0, oy1 int, cols []float32) int {
	per, rows := g.h*g.w*g.c, (oy1-oy0)*g.wo
	k := g.kh * g.kw * g.c
	for j := 0; j < count; j++ {
		g.im2col(data[(n+j)*per:(n+j+1)*per], oy0, oy1, cols[j*rows*k:(j+1)*rows*k])
	}
	return count * rows
}

// forwardExamples computes the output of examples [n0, n1).
func (c *Conv2d) forwardExamples(n0, n1 int, cols []float32) {
	fg := c.forwardGeom()
	k, oc := c.k(), c.OutC
	forBlocks(&fg, n0, n1, func(n, count, oy0, oy1 int) {
		rows := fg.im2colBlock(c.x.Data, n, count, oy0, oy1, cols)
		off := (n*c.ho + oy0) * c.wo * oc
		yb := c.y.Data[off : off+rows*oc]
		c.inner.Gemm(false, false, rows, oc, k, 1, cols[:rows*k], k, c.Kernel.Value, oc, 0, yb, oc)
		c.epilogue(yb)
	})
}

// backwardExamples adds the weight gradient of examples [n0, n1) into dwg
// (which it starts) and computes their input gradient: for stride 1 as the
// convolution of the output gradient with the flipped kernel (gradGeom),
// which needs no col2im and multiplies over KH·KW·OutC instead of OutC;
// otherwise as dcols = dY·Wᵀ scattered back by col2im.
func (c *Conv2d) backwardExamples(n0, n1 int, cols, dwg []float32) {
	fg := c.forwardGeom()
	k, oc := c.k(), c.OutC
	g := c.g.Data
	per := c.h * c.w * c.InC
	flipped := c.flippedGrad()
	if !c.NoInputGrad {
		dx := c.dx.Data[n0*per : n1*per]
		if c.dxInit != nil {
			copy(dx, c.dxInit[n0*per:n1*per])
		} else if !flipped {
			clear(dx)
		}
	}
	beta := float32(0)
	forBlocks(&fg, n0, n1, func(n, count, oy0, oy1 int) {
		rows := fg.im2colBlock(c.x.Data, n, count, oy0, oy1, cols)
		cb := cols[:rows*k]
		off := (n*c.ho + oy0) * c.wo * oc
		gb := g[off : off+rows*oc]
		c.inner.Gemm(true, false, k, oc, rows, 1, cb, k, gb, oc, beta, dwg, oc)
		beta = 1
		if c.NoInputGrad || flipped {
			return
		}
		// The block's im2col rows are no longer needed: dcols overwrites
		// them, and col2im adds them into each example's gradient.
		c.inner.Gemm(false, true, rows, k, oc, 1, gb, oc, c.Kernel.Value, oc, 0, cb, k)
		per1 := (oy1 - oy0) * c.wo * k
		for j := 0; j < count; j++ {
			c.col2im(cb[j*per1:(j+1)*per1], oy0, oy1, c.dx.Data[(n+j)*per:(n+j+1)*per])
		}
	})
	if c.NoInputGrad || !flipped {
		return
	}
	gg := c.gradGeom()
	kg := c.KH * c.KW * oc
	dxBeta := float32(0)
	if c.dxInit != nil {
		dxBeta = 1
	}
	forBlocks(&gg, n0, n1, func(n, count, iy0, iy1 int) {
		rows := gg.im2colBlock(g, n, count, iy0, iy1, cols)
		off := (n*c.h + iy0) * c.w * c.InC
		c.inner.Gemm(false, false, rows, c.InC, kg, 1, cols[:rows*kg], kg, c.wFlip, c.InC, dxBeta, c.dx.Data[off:off+rows*c.InC], c.InC)
	})
}

// convPathMode chooses between the Winograd, expanded-rows and im2col
// paths; the tests force each to compare them.
var convPathMode = pathAuto

const (
	pathAuto = iota
	pathIm2col
	pathRows
	pathWinograd
)

// rows reports whether the convolution runs on expanded rows (expandRows):
// each padded image row is stored once per output column with its kw·C
// window values side by side, so that output pixel (oy, ox) reads row
// oy·wo + ox of a matrix with a uniform row stride of kw·C, its kernel rows
// ky at ky·wo·kw·C further on (tensor.GemmSegmented). That is kw times the
// image where im2col writes kh·kw times; every row of the product is an
// output pixel, written in place. Stride 1 only (a stride would break the
// uniform row stride). The input gradient is the same computation on the
// output gradient with the flipped kernel (gradGeom).
//
// Taken by default when a kernel row holds at least 48 values (the k steps
// of a block of the product; shorter blocks spend their time loading and
// storing C) and the expanded image stays under 4·blockFloats. Measured on
// resnet20 (one thread, batch 16, Zen 4 with AVX-512) against im2col: the
// 32×32×16 layers 68 → 82 GFLOP/s for the three products, 16×16×32 78 → 89,
// 8×8×64 65 → 70; and against the implicit GEMM it replaced (each example
// zero-padded, its output pixels the rows of a product kw−1 rows per image
// row wider than the output): 79, 76 and 60 GFLOP/s.
func (c *Conv2d) rows() bool {
	switch convPathMode {
	case pathIm2col:
		return false
	case pathRows:
		return c.flippedGrad()
	}
	return c.flippedGrad() && c.KW*c.InC >= 48 && c.rowsLen() <= 4*blockFloats
}

// rowsLen is a slot's scratch on the expanded-rows path: the expanded input
// (forward and weight gradient), or the expanded output gradient (input
// gradient), one after the other in the same buffer.
func (c *Conv2d) rowsLen() int {
	n := (c.h + 2*c.PadH) * c.wo * c.KW * c.InC
	if !c.NoInputGrad {
		n = max(n, (c.ho+2*(c.KH-1-c.PadH))*c.w*c.KW*c.OutC)
	}
	return n
}

// expandRows writes into dst the expanded rows of the h×w×ch image img for
// a kh×kw stride-1 window with (ph, pw) zero padding and wo output columns:
//
//	dst[(y·wo + ox)·kw·ch + kx·ch + j] = img[y−ph, ox+kx−pw, j]
//
// for the h+2·ph rows y of the padded image, zero where the window leaves
// the image. Each output column's kw·ch values are one contiguous run of the
// image row (or of its padding), copied with one strided copy for the
// columns whose window lies inside the image.
func expandRows(dst, img []float32, h, w, ch, kh, kw, ph, pw, wo int) {
	seg := kw * ch
	rowLen := wo * seg
	// Interior columns: 0 ≤ ox−pw and ox−pw+kw ≤ w.
	lo, hi := min(pw, wo), max(min(wo, w+pw-kw+1), 0)
	hi = max(hi, lo)
	for y := 0; y < h+2*ph; y++ {
		row := dst[y*rowLen : (y+1)*rowLen]
		iy := y - ph
		if iy < 0 || iy >= h {
			clear(row)
			continue
		}
		src := img[iy*w*ch : (iy+1)*w*ch]
		if hi > lo {
			tensor.CopyStrided(row[lo*seg:], seg, src[(lo-pw)*ch:], ch, hi-lo, seg)
		}
		for ox := 0; ox < wo; ox++ {
			if ox == lo && hi > lo {
				ox = hi - 1
				continue
			}
			for kx := 0; kx < kw; kx++ {
				d := row[ox*seg+kx*ch : ox*seg+(kx+1)*ch]
				if ix := ox - pw + kx; ix < 0 || ix >= w {
					clear(d)
				} else {
					copy(d, src[ix*ch:(ix+1)*ch])
				}
			}
		}
	}
}

// forwardRows computes the output of examples [n0, n1) on the
// expanded-rows path, one example per product.
func (c *Conv2d) forwardRows(n0, n1 int, scratch []float32) {
	ci, oc := c.InC, c.OutC
	seg := c.KW * ci
	e := scratch[:(c.h+2*c.PadH)*c.wo*seg]
	inLen, outLen := c.h*c.w*ci, c.ho*c.wo*oc
	for n := n0; n < n1; n++ {
		expandRows(e, c.x.Data[n*inLen:(n+1)*inLen], c.h, c.w, ci, c.KH, c.KW, c.PadH, c.PadW, c.wo)
		yn := c.y.Data[n*outLen : (n+1)*outLen]
		c.inner.GemmSegmented(false, c.ho*c.wo, oc, c.k(), e, seg, seg, c.wo*seg, c.Kernel.Value, oc, 0, yn, oc)
		c.epilogue(yn)
	}
}

// backwardRows is backwardExamples on the expanded-rows path: the weight
// gradient multiplies the transposed expanded input by the output gradient,
// the input gradient is the expanded-rows convolution of the output
// gradient (padded by kh−1−ph, kw−1−pw, as in gradGeom) with the flipped
// kernel.
func (c *Conv2d) backwardRows(n0, n1 int, scratch, dwg []float32) {
	ci, oc := c.InC, c.OutC
	seg := c.KW * ci
	e := scratch[:(c.h+2*c.PadH)*c.wo*seg]
	phG, pwG := c.KH-1-c.PadH, c.KW-1-c.PadW
	segG := c.KW * oc
	eg := scratch[:(c.ho+2*phG)*c.w*segG]
	inLen, outLen := c.h*c.w*ci, c.ho*c.wo*oc
	g := c.g.Data
	beta := float32(0)
	for n := n0; n < n1; n++ {
		expandRows(e, c.x.Data[n*inLen:(n+1)*inLen], c.h, c.w, ci, c.KH, c.KW, c.PadH, c.PadW, c.wo)
		gn := g[n*outLen : (n+1)*outLen]
		c.inner.GemmSegmented(true, c.k(), oc, c.ho*c.wo, e, seg, seg, c.wo*seg, gn, oc, beta, dwg, oc)
		beta = 1
		if c.NoInputGrad {
			continue
		}
		expandRows(eg, gn, c.ho, c.wo, oc, c.KH, c.KW, phG, pwG, c.w)
		dxn := c.dx.Data[n*inLen : (n+1)*inLen]
		dxBeta := float32(0)
		if c.dxInit != nil {
			copy(dxn, c.dxInit[n*inLen:(n+1)*inLen])
			dxBeta = 1
		}
		c.inner.GemmSegmented(false, c.h*c.w, ci, c.KH*c.KW*oc, eg, segG, segG, c.w*segG, c.wFlip, ci, dxBeta, dxn, ci)
	}
}

// epilogueExamples runs the epilogue over the outputs of examples [lo, hi).
func (c *Conv2d) epilogueExamples(lo, hi int) {
	per := c.h * c.w * c.OutC
	c.epilogue(c.y.Data[lo*per : hi*per])
}

// partLen is the length of a group's part of the weight gradient: the
// kernel's, or on the Winograd path the transformed kernel's (the sum of the
// parts is transformed back once).
func (c *Conv2d) partLen() int {
	if c.winograd() {
		return 16 * c.InC * c.OutC
	}
	return c.k() * c.OutC
}

// sumGroups sets the weight gradient's elements [lo, hi) to the sum of the
// groups' parts, in group order: the first slot's running sum, then the
// other slots' parts (storedParts).
func (c *Conv2d) sumGroups(lo, hi int) {
	groups, kc, part, dw := c.groups(), c.partLen(), c.dwParts, c.Kernel.Grad
	if c.winograd() {
		dw = c.wU // the transformed kernel's gradient, turned into dW after
	}
	copy(dw[lo:hi], part[lo:hi])
	for g := groups / c.nSlots; g < groups; g++ {
		i := c.partIndex(g, groups, c.nSlots)
		addTo(dw[lo:hi], part[i*kc+lo:i*kc+hi])
	}
}

// epilogue adds the bias and applies the ReLU to rows of the output.
func (c *Conv2d) epilogue(y []float32) {
	if c.Bias == nil && !c.ReLU {
		return
	}
	oc := c.OutC
	// The assembly pass needs a bias: it could add a zero one for a plain
	// ReLU, but v + 0 quiets the signalling NaNs that relu32 keeps.
	if c.Bias != nil && useLoopAsm && oc%8 == 0 && len(y) >= oc {
		_ = c.Bias.Value[oc-1]
		biasReLUAVX2(&y[0], &c.Bias.Value[0], len(y)/oc, oc, c.ReLU)
		return
	}
	switch {
	case c.Bias != nil && c.ReLU:
		b := c.Bias.Value
		for r := 0; r+oc <= len(y); r += oc {
			row := y[r : r+oc]
			b := b[:len(row)]
			for j, v := range row {
				row[j] = relu32(v + b[j])
			}
		}
	case c.Bias != nil:
		b := c.Bias.Value
		for r := 0; r+oc <= len(y); r += oc {
			row := y[r : r+oc]
			b := b[:len(row)]
			for j := range row {
				row[j] += b[j]
			}
		}
	default:
		for j, v := range y {
			y[j] = relu32(v)
		}
	}
}

// Backward implements Layer.
func (c *Conv2d) Backward(dy *tensor.Tensor) *tensor.Tensor {
	return c.backward(dy, nil)
}

// backward computes the gradients; when dxInit is not nil (a tensor of the
// input's shape) the input gradient is dxInit plus the convolution's own,
// which fuses a residual block's gradient sum into col2im.
func (c *Conv2d) backward(dy, dxInit *tensor.Tensor) *tensor.Tensor {
	rowsAll := c.n * c.ho * c.wo
	switch {
	case c.ReLU && c.Bias != nil:
		c.g = tensor.Ensure(c.g, dy.Shape...)
		c.partial = maskedChannelSums(c.g.Data, dy.Data, c.y.Data, rowsAll, c.OutC, c.Bias.Grad, c.partial)
	case c.ReLU:
		c.g = tensor.Ensure(c.g, dy.Shape...)
		reluMask(c.g.Data, dy.Data, c.y.Data)
	case c.Bias != nil:
		c.partial = channelSums(dy.Data, rowsAll, c.OutC, c.Bias.Grad, c.partial)
		c.g = dy
	default:
		c.g = dy
	}
	g := c.g.Data
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
	c.pass, c.dxInit = passBackward, nil
	if dxInit != nil {
		c.dxInit = dxInit.Data
	}
	c.runPass()
	c.dxInit = nil
	// dW = Σ over groups, in group order.
	if c.sumGroupsFn == nil {
		c.sumGroupsFn = c.sumGroups
	}
	parallelFor(c.partLen(), c.groups(), c.sumGroupsFn)
	if c.winograd() {
		winoKernelGrad(c.Kernel.Grad, c.wU, c.InC, c.OutC)
	}
	c.dropWork()
	if c.NoInputGrad {
		return nil
	}
	return c.dx
}

// clearRows zeroes n segments of l floats at stride ds.
func clearRows(dst []float32, ds int, n, l int) {
	for i := 0; i < n; i++ {
		clear(dst[i*ds : i*ds+l])
	}
}

// addRows adds n segments of l floats, segment i from src[i·ss:] into
// dst[i·ds:].
func addRows(dst []float32, ds int, src []float32, ss int, n, l int) {
	for i := 0; i < n; i++ {
		d, s := dst[i*ds:i*ds+l], src[i*ss:i*ss+l]
		d = d[:len(s)]
		for j, v := range s {
			d[j] += v
		}
	}
}

// addTo sets dst += src (same length).
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// convGeom is the geometry of one im2col: an h×w×c image, a kh×kw window
// moved by (sh, sw) with (ph, pw) zero padding, giving ho×wo windows.
type convGeom struct {
	h, w, c, kh, kw, sh, sw, ph, pw, ho, wo int
}

// forwardGeom is the im2col geometry of the forward pass.
func (c *Conv2d) forwardGeom() convGeom {
	return convGeom{c.h, c.w, c.InC, c.KH, c.KW, c.StrideH, c.StrideW, c.PadH, c.PadW, c.ho, c.wo}
}

// flippedGrad reports whether the input gradient is computed as a
// convolution of the output gradient with the flipped kernel (see
// backwardExamples): for stride 1 and padding below the kernel size.
func (c *Conv2d) flippedGrad() bool {
	return c.StrideH == 1 && c.StrideW == 1 && c.PadH < c.KH && c.PadW < c.KW
}

// gradGeom is the im2col geometry over the output gradient (ho×wo×OutC)
// whose windows, multiplied by the flipped kernel, give the input gradient:
// for stride 1, dx[iy, ix, ci] = Σ dy[iy + ph − ky, ix + pw − kx, co]·
// W[ky, kx, ci, co], a convolution of dy padded by kh−1−ph with the kernel
// flipped in both spatial axes and its channel axes swapped.
func (c *Conv2d) gradGeom() convGeom {
	return convGeom{c.ho, c.wo, c.OutC, c.KH, c.KW, 1, 1, c.KH - 1 - c.PadH, c.KW - 1 - c.PadW, c.h, c.w}
}

// interior returns the output columns [lo, hi) whose kernel columns
// kx0 ≤ kx < kx1 all fall inside the image: ox·sw − pw + kx0 ≥ 0 and
// ox·sw − pw + kx1 ≤ w.
func (g *convGeom) interior(kx0, kx1 int) (lo, hi int) {
	lo = max(0, (g.pw-kx0+g.sw-1)/g.sw)
	hi = min(g.wo, (g.w+g.pw-kx1)/g.sw+1)
	if g.w+g.pw-kx1 < 0 {
		hi = 0
	}
	return lo, max(lo, hi)
}

// im2col writes the im2col rows of output rows [oy0, oy1) of image img:
// row (oy−oy0)·wo + ox holds the window of output pixel (oy, ox) in
// (ky, kx, c) order, zeros where the window leaves the image. A kernel row
// of an interior window is contiguous in NHWC (kw·c floats), so whole runs
// of output columns are copied at once.
func (g *convGeom) im2col(img []float32, oy0, oy1 int, cols []float32) {
	h, w, ci := g.h, g.w, g.c
	wo, kh, kw := g.wo, g.kh, g.kw
	sh, sw, ph, pw := g.sh, g.sw, g.ph, g.pw
	k := kh * kw * ci
	seglen := kw * ci
	lo, hi := g.interior(0, kw)
	for oy := oy0; oy < oy1; oy++ {
		dstRow := cols[(oy-oy0)*wo*k : (oy-oy0+1)*wo*k]
		for ky := 0; ky < kh; ky++ {
			iy := oy*sh - ph + ky
			if iy < 0 || iy >= h {
				clearRows(dstRow[ky*seglen:], k, wo, seglen)
				continue
			}
			src := img[iy*w*ci : (iy+1)*w*ci]
			if hi > lo {
				tensor.CopyStrided(dstRow[lo*k+ky*seglen:], k, src[(lo*sw-pw)*ci:], sw*ci, hi-lo, seglen)
			}
			for ox := 0; ox < wo; ox++ {
				if ox == lo && hi > lo {
					ox = hi - 1
					continue
				}
				seg := dstRow[ox*k+ky*seglen : ox*k+(ky+1)*seglen]
				ix0 := ox*sw - pw
				for kx := 0; kx < kw; kx++ {
					d := seg[kx*ci : (kx+1)*ci]
					if ix := ix0 + kx; ix < 0 || ix >= w {
						clear(d)
					} else {
						copy(d, src[ix*ci:(ix+1)*ci])
					}
				}
			}
		}
	}
}

// col2im adds the dcols rows of output rows [oy0, oy1) of one example
// (laid out like im2col's) into that example's input gradient dxn: each
// input pixel receives the entries that im2col copied from it. One pass per
// kernel offset (ky, kx) over a run of output columns touches distinct
// input pixels, so no sum waits on the one before; the order of the
// additions is fixed.
func (c *Conv2d) col2im(dcols []float32, oy0, oy1 int, dxn []float32) {
	g := c.forwardGeom()
	h, w, ci := c.h, c.w, c.InC
	wo, kh, kw := c.wo, c.KH, c.KW
	sh, sw, ph, pw := c.StrideH, c.StrideW, c.PadH, c.PadW
	k := kh * kw * ci
	for oy := oy0; oy < oy1; oy++ {
		srcRow := dcols[(oy-oy0)*wo*k : (oy-oy0+1)*wo*k]
		for ky := 0; ky < kh; ky++ {
			iy := oy*sh - ph + ky
			if iy < 0 || iy >= h {
				continue
			}
			drow := dxn[iy*w*ci : (iy+1)*w*ci]
			for kx := 0; kx < kw; kx++ {
				lo, hi := g.interior(kx, kx+1)
				if hi > lo {
					off := (ky*kw + kx) * ci
					addRows(drow[(lo*sw-pw+kx)*ci:], sw*ci, srcRow[lo*k+off:], k, hi-lo, ci)
				}
			}
		}
	}
}
