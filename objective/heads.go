package objective

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// NormEpsilon guards the norms of CosineHead: a vector v is normalised as
// v / max(‖v‖, NormEpsilon), the guard of TensorFlow's tf.math.l2_normalize
// (√max(‖v‖², 1e-12)), so an all-zero feature vector or weight column maps to
// zero instead of 0/0.
const NormEpsilon = 1e-6

// CosineHead is the final layer of cosine softmax (the study's
// "cosine_softmax"; Wang et al. 2018, CosFace, without the margin):
//
//	z_k = (x̂ · ŵ_k) / τ + b_k,  x̂ = x / max(‖x‖, ε),  ŵ_k = w_k / max(‖w_k‖, ε),
//
// where w_k is column k of the kernel [in, out] and ε = NormEpsilon. With
// NormalizeFeatures false, x̂ = x: only the weights are normalised, which is
// what the study's released code does.
//
// Backward uses the Jacobian of v ↦ v/‖v‖, (I − v̂v̂ᵀ)/‖v‖, and 1/ε·I where
// the guard is active.
type CosineHead struct {
	Kernel            *nn.Param // [in, out], Kind nn.Kernel
	Bias              *nn.Param // [out], Kind nn.Bias
	Tau               float64
	NormalizeFeatures bool

	feat      *tensor.Tensor // x̂ [N, in] of the last Forward
	featNorm  []float64      // guarded ‖x_n‖ (when NormalizeFeatures)
	inShape   []int
	normW     *tensor.Tensor // ŵ [in, out]
	colNorm   []float64      // guarded ‖w_k‖
	colInv    []float64      // 1/colNorm
	colDot    []float64
	out       *tensor.Tensor
	dFeat     *tensor.Tensor
	dNormW    *tensor.Tensor
	dx        *tensor.Tensor
	ownedFeat *tensor.Tensor // storage for x̂ when features are normalised
	featView  *tensor.Tensor // x viewed as [N, in] when features are not normalised
}

// NewCosineHead returns a cosine head over the given kernel [in, out] and
// bias [out], which it uses in place (they keep their names and storage).
// It panics if the shapes disagree or tau is not positive.
func NewCosineHead(kernel, bias *nn.Param, tau float64, normalizeFeatures bool) *CosineHead {
	if len(kernel.Shape) != 2 || len(bias.Shape) != 1 || bias.Shape[0] != kernel.Shape[1] {
		panic(fmt.Sprintf("objective: cosine head kernel %v and bias %v, want [in out] and [out]", kernel.Shape, bias.Shape))
	}
	if !(tau > 0) {
		panic(fmt.Sprintf("objective: cosine head temperature %g, want > 0", tau))
	}
	return &CosineHead{Kernel: kernel, Bias: bias, Tau: tau, NormalizeFeatures: normalizeFeatures}
}

// Params implements nn.Layer: the kernel, then the bias.
func (h *CosineHead) Params() []*nn.Param { return []*nn.Param{h.Kernel, h.Bias} }

// Forward implements nn.Layer. x is [N, in] (any shape whose trailing axes
// hold in values per example).
func (h *CosineHead) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := h.Kernel.Shape[0], h.Kernel.Shape[1]
	n := x.Shape[0]
	if x.Len() != n*in {
		panic(fmt.Sprintf("objective: cosine head input %v, want [N %d]", x.Shape, in))
	}
	h.inShape = append(h.inShape[:0], x.Shape...)
	h.featNorm = resize(h.featNorm, n)
	if h.NormalizeFeatures {
		h.ownedFeat = tensor.Ensure(h.ownedFeat, n, in)
		for i := 0; i < n; i++ {
			src := x.Data[i*in : (i+1)*in]
			r := guardedNorm(src)
			h.featNorm[i] = r
			dst := h.ownedFeat.Data[i*in : (i+1)*in]
			for j, v := range src {
				dst[j] = float32(float64(v) / r)
			}
		}
		h.feat = h.ownedFeat
	} else {
		// A view of x as [n, in], kept across steps: a new Reshape each
		// step would allocate.
		if h.featView == nil {
			h.featView = &tensor.Tensor{}
		}
		h.featView.Data = x.Data
		h.featView.Shape = append(h.featView.Shape[:0], n, in)
		h.feat = h.featView
	}

	// Column norms accumulated row by row, so the kernel is read in memory
	// order. Squares of float32 values cannot overflow or underflow float64.
	h.normW = tensor.Ensure(h.normW, in, out)
	h.colNorm = resize(h.colNorm, out)
	clear(h.colNorm)
	w := h.Kernel.Value
	for i := 0; i < in; i++ {
		for k, v := range w[i*out : (i+1)*out] {
			h.colNorm[k] += float64(v) * float64(v)
		}
	}
	h.colInv = resize(h.colInv, out)
	for k, s := range h.colNorm {
		h.colNorm[k] = max(math.Sqrt(s), NormEpsilon)
		h.colInv[k] = 1 / h.colNorm[k]
	}
	for i := 0; i < in; i++ {
		row := h.normW.Data[i*out : (i+1)*out]
		for k, v := range w[i*out : (i+1)*out] {
			row[k] = float32(float64(v) * h.colInv[k])
		}
	}

	h.out = tensor.Ensure(h.out, n, out)
	tensor.Gemm(false, false, n, out, in, float32(1/h.Tau), h.feat.Data, in, h.normW.Data, out, 0, h.out.Data, out)
	for i := 0; i < n; i++ {
		row := h.out.Data[i*out : (i+1)*out]
		for k, b := range h.Bias.Value {
			row[k] += b
		}
	}
	return h.out
}

// Backward implements nn.Layer.
func (h *CosineHead) Backward(dz *tensor.Tensor) *tensor.Tensor {
	in, out := h.Kernel.Shape[0], h.Kernel.Shape[1]
	n := h.feat.Shape[0]
	if dz.Len() != n*out {
		panic(fmt.Sprintf("objective: cosine head gradient %v, want [%d %d]", dz.Shape, n, out))
	}
	invTau := float32(1 / h.Tau)

	for k := 0; k < out; k++ {
		var s float64
		for i := 0; i < n; i++ {
			s += float64(dz.Data[i*out+k])
		}
		h.Bias.Grad[k] = float32(s)
	}

	// dL/dŴ = X̂ᵀ·dZ/τ, then through ŵ_k = w_k/‖w_k‖ column by column.
	h.dNormW = tensor.Ensure(h.dNormW, in, out)
	tensor.Gemm(true, false, in, out, n, invTau, h.feat.Data, in, dz.Data, out, 0, h.dNormW.Data, out)
	dot := resize(h.colDot, out) // ŵ_k · dL/dŵ_k, zero where the guard is active
	h.colDot = dot
	clear(dot)
	for i := 0; i < in; i++ {
		wr := h.normW.Data[i*out : (i+1)*out]
		for k, g := range h.dNormW.Data[i*out : (i+1)*out] {
			dot[k] += float64(wr[k]) * float64(g)
		}
	}
	for k, c := range h.colNorm {
		if c <= NormEpsilon {
			dot[k] = 0
		}
	}
	for i := 0; i < in; i++ {
		wr := h.normW.Data[i*out : (i+1)*out]
		gr := h.Kernel.Grad[i*out : (i+1)*out]
		for k, g := range h.dNormW.Data[i*out : (i+1)*out] {
			gr[k] = float32((float64(g) - float64(wr[k])*dot[k]) * h.colInv[k])
		}
	}

	// dL/dX̂ = dZ·Ŵᵀ/τ, then through x̂ = x/‖x‖ row by row.
	h.dFeat = tensor.Ensure(h.dFeat, n, in)
	tensor.Gemm(false, true, n, in, out, invTau, dz.Data, out, h.normW.Data, out, 0, h.dFeat.Data, in)
	if !h.NormalizeFeatures {
		h.dx = tensor.Ensure(h.dx, h.inShape...)
		copy(h.dx.Data, h.dFeat.Data)
		return h.dx
	}
	h.dx = tensor.Ensure(h.dx, h.inShape...)
	for i := 0; i < n; i++ {
		r := h.featNorm[i]
		xh := h.feat.Data[i*in : (i+1)*in]
		g := h.dFeat.Data[i*in : (i+1)*in]
		var dot float64
		if r > NormEpsilon {
			for j := range xh {
				dot += float64(xh[j]) * float64(g[j])
			}
		}
		dst := h.dx.Data[i*in : (i+1)*in]
		for j := range xh {
			dst[j] = float32((float64(g[j]) - float64(xh[j])*dot) / r)
		}
	}
	return h.dx
}

// guardedNorm is max(‖v‖, NormEpsilon), summed in float64, where squares of
// float32 values can neither overflow nor underflow.
func guardedNorm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return max(math.Sqrt(s), NormEpsilon)
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// DropoutHead applies dropout to the head's input (the penultimate features)
// and then the wrapped head: in training, each feature is kept with
// probability KeepProb and scaled by 1/KeepProb (inverted dropout, so that
// evaluation needs no rescaling); in evaluation it is the identity.
//
// The dropping is nn.Dropout's with P = 1 − KeepProb: the mask is a pure
// function of the seed (SetSeed, called by the training loop before every
// step) and the element's index n·in + j in the batch, so a resumed run
// draws the same masks without saved generator state.
type DropoutHead struct {
	Inner    nn.Layer
	KeepProb float64

	drop *nn.Dropout
}

// NewDropoutHead wraps head with dropout of the given keep probability,
// which must lie in (0, 1] (it panics otherwise).
func NewDropoutHead(head nn.Layer, keepProb float64) *DropoutHead {
	if !(keepProb > 0 && keepProb <= 1) {
		panic(fmt.Sprintf("objective: dropout keep probability %g, want in (0, 1]", keepProb))
	}
	drop, err := nn.NewDropout(1 - keepProb)
	if err != nil {
		panic(err) // 1 − keepProb ∈ [0, 1) for keepProb ∈ (0, 1]
	}
	return &DropoutHead{Inner: head, KeepProb: keepProb, drop: drop}
}

// SetSeed implements nn.Seeded; a seeded wrapped head gets a derived seed.
func (d *DropoutHead) SetSeed(seed uint64) {
	d.drop.SetSeed(seed)
	if s, ok := d.Inner.(nn.Seeded); ok {
		s.SetSeed(splitmix64(seed ^ 0x6A09E667F3BCC909))
	}
}

// Params implements nn.Layer: the wrapped head's parameters.
func (d *DropoutHead) Params() []*nn.Param { return d.Inner.Params() }

// Forward implements nn.Layer.
func (d *DropoutHead) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return d.Inner.Forward(d.drop.Forward(x, train), train)
}

// Backward implements nn.Layer.
func (d *DropoutHead) Backward(dz *tensor.Tensor) *tensor.Tensor {
	return d.drop.Backward(d.Inner.Backward(dz))
}

// splitmix64 is the SplitMix64 output function (Steele, Lea & Flood 2014), a
// bijective mixer whose outputs for consecutive inputs are statistically
// independent; it derives the wrapped head's seed.
func splitmix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}
