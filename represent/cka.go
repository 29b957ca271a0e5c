// Package represent compares and summarises hidden representations:
// linear CKA (plain, debiased and minibatch), layer × layer CKA matrices
// between two networks, class separation R² and activation sparsity, as
// defined in docs/definitions.md (#cka, #class-separation, #sparsity).
//
// A representation is a plain matrix [examples, features] (float32,
// row-major), the same examples in the same order for every representation
// compared, so features exported from any framework work the same. Spatial
// feature maps [N, H, W, C] must be flattened to [N, H·W·C] or pooled to
// [N, C] by the caller before they get here — the two give different CKA
// values, so reports must say which was used.
//
// Numerics: columns are centred with means computed in float64; the large
// products use tensor.Gemm (float32) over blocks of at most 1024 rows or
// columns, and the blocks are summed in float64, so rounding error grows
// with the block length, not with the number of examples.
package represent

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// centred is a representation with its columns centred, ready for products.
type centred struct {
	n, p  int
	data  []float32 // [n, p], column means subtracted
	rowSq []float64 // ‖x_i − μ‖², from the float32 centred values
	sumSq float64   // Σ_i rowSq[i] = ‖X_c‖²_F
}

// checkRep validates a representation: 2-D, at least minRows rows, finite.
func checkRep(name string, x *tensor.Tensor, minRows int) error {
	if x == nil || len(x.Shape) != 2 {
		var shape []int
		if x != nil {
			shape = x.Shape
		}
		return fmt.Errorf("%s: shape %v, want 2-D [examples, features]", name, shape)
	}
	n, p := x.Shape[0], x.Shape[1]
	if n < minRows {
		return fmt.Errorf("%s: %d examples, want at least %d", name, n, minRows)
	}
	if p < 1 {
		return fmt.Errorf("%s: no features (shape %v)", name, x.Shape)
	}
	for i, v := range x.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: element [%d, %d] is %v; want finite values", name, i/p, i%p, v)
		}
	}
	return nil
}

// centre validates x and returns it column-centred. A representation whose
// rows are all equal (zero after centring) is an error: CKA is 0/0 for it.
func centre(name string, x *tensor.Tensor, minRows int) (*centred, error) {
	if err := checkRep(name, x, minRows); err != nil {
		return nil, err
	}
	n, p := x.Shape[0], x.Shape[1]
	mean := make([]float64, p)
	for i := 0; i < n; i++ {
		for j, v := range x.Data[i*p : (i+1)*p] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	c := &centred{n: n, p: p, data: make([]float32, n*p), rowSq: make([]float64, n)}
	tensor.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			row := c.data[i*p : (i+1)*p]
			for j, v := range x.Data[i*p : (i+1)*p] {
				d := float32(float64(v) - mean[j])
				row[j] = d
				s += float64(d) * float64(d)
			}
			c.rowSq[i] = s
		}
	})
	for _, s := range c.rowSq {
		c.sumSq += s
	}
	if c.sumSq == 0 {
		return nil, fmt.Errorf("%s: the representation is constant (every example has the same features); CKA is undefined", name)
	}
	return c, nil
}

// productBlock is the length of the float32 sums inside one Gemm call, and
// the side of the float64 tiles they are added into. A variable only so that
// tests can exercise the tiling on small matrices.
var productBlock = 1024

// gramInner returns ⟨K_a, K_b⟩ = tr(K_a K_b) = ‖A_cᵀ B_c‖²_F for the linear
// kernels K = X_c X_cᵀ of two centred representations of the same examples
// (a may equal b), choosing the cheaper of the feature-space form (p×q
// products, cost ≈ 2npq) and the Gram form (n×n tiles, cost ≈ n²(p+q)).
func gramInner(a, b *centred) float64 {
	n, p, q := float64(a.n), float64(a.p), float64(b.p)
	if a == b {
		if n < p {
			return gramForm(a, b)
		}
		return featureForm(a, b)
	}
	if n*(p+q) < 2*p*q {
		return gramForm(a, b)
	}
	return featureForm(a, b)
}

// featureForm computes ‖A_cᵀ B_c‖²_F tile by tile: each tile of A_cᵀB_c
// (at most productBlock² entries) is summed over row blocks in float64 and
// then squared. With a == b only tiles on or above the diagonal are formed.
func featureForm(a, b *centred) float64 {
	n := a.n
	tileP, tileQ := min(a.p, productBlock), min(b.p, productBlock)
	acc := make([]float64, tileP*tileQ)
	tmp := make([]float32, tileP*tileQ)
	var total float64
	for p0 := 0; p0 < a.p; p0 += productBlock {
		tp := min(productBlock, a.p-p0)
		q0start := 0
		if a == b {
			q0start = p0
		}
		for q0 := q0start; q0 < b.p; q0 += productBlock {
			tq := min(productBlock, b.p-q0)
			acc := acc[:tp*tq]
			clear(acc)
			for r0 := 0; r0 < n; r0 += productBlock {
				rows := min(productBlock, n-r0)
				tensor.Gemm(true, false, tp, tq, rows, 1,
					a.data[r0*a.p+p0:], a.p, b.data[r0*b.p+q0:], b.p, 0, tmp[:tp*tq], tq)
				addInto(acc, tmp[:tp*tq])
			}
			s := sumSquares(acc)
			if a == b && q0 != p0 {
				s *= 2 // the mirror tile below the diagonal
			}
			total += s
		}
	}
	return total
}

// gramForm computes ⟨K_a, K_b⟩ over n×n tiles of the two Gram matrices,
// each tile summed over column blocks in float64; only tiles on or above
// the diagonal are formed (both Gram matrices are symmetric).
func gramForm(a, b *centred) float64 {
	n := a.n
	tile := min(n, productBlock)
	accA := make([]float64, tile*tile)
	accB := make([]float64, tile*tile)
	tmp := make([]float32, tile*tile)
	var total float64
	for i0 := 0; i0 < n; i0 += productBlock {
		ti := min(productBlock, n-i0)
		for j0 := i0; j0 < n; j0 += productBlock {
			tj := min(productBlock, n-j0)
			gramTile(accA[:ti*tj], tmp[:ti*tj], a, i0, ti, j0, tj)
			var s float64
			if a == b {
				s = sumSquares(accA[:ti*tj])
			} else {
				gramTile(accB[:ti*tj], tmp[:ti*tj], b, i0, ti, j0, tj)
				s = dot(accA[:ti*tj], accB[:ti*tj])
			}
			if j0 != i0 {
				s *= 2
			}
			total += s
		}
	}
	return total
}

// gramTile writes rows [i0, i0+ti) × columns [j0, j0+tj) of X_c X_cᵀ into
// acc, summing float32 products over column blocks in float64.
func gramTile(acc []float64, tmp []float32, x *centred, i0, ti, j0, tj int) {
	clear(acc)
	for c0 := 0; c0 < x.p; c0 += productBlock {
		cols := min(productBlock, x.p-c0)
		tensor.Gemm(false, true, ti, tj, cols, 1,
			x.data[i0*x.p+c0:], x.p, x.data[j0*x.p+c0:], x.p, 0, tmp, tj)
		addInto(acc, tmp)
	}
}

// addInto adds src to dst elementwise, in parallel.
func addInto(dst []float64, src []float32) {
	tensor.ParallelFor(len(dst), func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += float64(s[i])
		}
	})
}

// sumSquares returns Σ x², summed in fixed chunks so that the result does
// not depend on the thread count.
func sumSquares(x []float64) float64 { return dot(x, x) }

// dot returns Σ x_i y_i, summed in fixed chunks of 4096 in parallel and the
// chunks added in order, so that the result does not depend on the thread
// count.
func dot(x, y []float64) float64 {
	const chunk = 4096
	parts := make([]float64, (len(x)+chunk-1)/chunk)
	tensor.ParallelFor(len(parts), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			end := min(len(x), (c+1)*chunk)
			for i := c * chunk; i < end; i++ {
				s += x[i] * y[i]
			}
			parts[c] = s
		}
	})
	var s float64
	for _, v := range parts {
		s += v
	}
	return s
}

// unbiasedHSICScaled returns n(n−3)·HSIC₁(K, L), the unbiased HSIC estimator
// of Song et al. (2012, eq. 5), for linear kernels of column-centred data,
// from ⟨K, L⟩, the kernels' diagonals (the rows' squared norms) and their
// traces:
//
//	HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))
//
// with K̃ = K with its diagonal zeroed. Centring makes K1 = 0, so K̃1 = −d_K,
// 1ᵀK̃1 = −tr K, tr(K̃L̃) = ⟨K, L⟩ − d_K·d_L and 1ᵀK̃L̃1 = d_K·d_L, which gives
//
//	n(n−3)·HSIC₁ = ⟨K, L⟩ − n/(n−2)·d_K·d_L + tr K·tr L/((n−1)(n−2)),
//
// the feature-space form of Kornblith et al.'s reference code. HSIC₁ does
// not change when a constant is added to the features, so centring changes
// nothing but rounding.
func unbiasedHSICScaled(inner float64, dK, dL []float64, trK, trL float64) float64 {
	n := float64(len(dK))
	var dd float64
	for i := range dK {
		dd += dK[i] * dL[i]
	}
	return inner - n/(n-2)*dd + trK*trL/((n-1)*(n-2))
}

// LinearCKA returns linear centred kernel alignment (Kornblith et al. 2019)
// between representations x [n, p] and y [n, q] of the same n examples:
//
//	CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F)
//
// on column-centred X and Y. It lies in [0, 1], is 1 for X = Y and is
// invariant to orthogonal transforms and isotropic scaling of either
// argument. It needs n ≥ 2 and errors when either representation is
// constant. Memory: the centred float32 copies of x and y plus tiles of at
// most 1024×1024; time ≈ 2n(p+q)²/2 flops (or 2n²(p+q) when n < (p+q)/2,
// where the Gram form is cheaper).
func LinearCKA(x, y *tensor.Tensor) (float64, error) {
	a, b, err := centrePair("linear CKA", x, y, 2)
	if err != nil {
		return 0, err
	}
	return gramInner(a, b) / math.Sqrt(gramInner(a, a)*gramInner(b, b)), nil
}

// DebiasedCKA returns CKA with each HSIC replaced by the unbiased estimator
// HSIC₁ of Song et al. (2012) (Nguyen, Raghu & Kornblith 2021; Kornblith et
// al.'s reference code, debiased=True):
//
//	dCKA = HSIC₁(K, L) / sqrt(HSIC₁(K, K)·HSIC₁(L, L)),  K = XXᵀ, L = YYᵀ,
//
// computed exactly in feature space (see unbiasedHSICScaled) with the same
// cost and memory as LinearCKA; no n×n matrix is stored. It is near 0 for
// independent representations even when n is not much larger than p, where
// plain CKA is biased upwards, and can be slightly negative. It needs n ≥ 4
// and errors when HSIC₁(K, K) or HSIC₁(L, L) is not positive (too few
// examples for the estimate).
func DebiasedCKA(x, y *tensor.Tensor) (float64, error) {
	a, b, err := centrePair("debiased CKA", x, y, 4)
	if err != nil {
		return 0, err
	}
	xy := unbiasedHSICScaled(gramInner(a, b), a.rowSq, b.rowSq, a.sumSq, b.sumSq)
	xx := unbiasedHSICScaled(gramInner(a, a), a.rowSq, a.rowSq, a.sumSq, a.sumSq)
	yy := unbiasedHSICScaled(gramInner(b, b), b.rowSq, b.rowSq, b.sumSq, b.sumSq)
	if !(xx > 0) || !(yy > 0) {
		return 0, fmt.Errorf("debiased CKA: unbiased HSIC of a representation with itself is %.3g (x) and %.3g (y); want > 0 (too few examples?)",
			xx/float64(a.n*(a.n-3)), yy/float64(a.n*(a.n-3)))
	}
	return xy / math.Sqrt(xx*yy), nil
}

// centrePair validates and centres two representations of the same examples.
func centrePair(name string, x, y *tensor.Tensor, minRows int) (*centred, *centred, error) {
	a, err := centre(name+": x", x, minRows)
	if err != nil {
		return nil, nil, err
	}
	b, err := centre(name+": y", y, minRows)
	if err != nil {
		return nil, nil, err
	}
	if a.n != b.n {
		return nil, nil, fmt.Errorf("%s: x has %d examples, y has %d; want the same examples", name, a.n, b.n)
	}
	return a, b, nil
}

// CKAMatrix returns the layer × layer matrix M[i][j] = CKA(a[i], b[j])
// between two networks' representations of the same examples (LinearCKA,
// or DebiasedCKA when debiased is true). Each layer is centred and its
// self-similarity computed once; every pair then costs one cross product.
// Memory: a centred float32 copy of every layer. For more examples than fit,
// use MinibatchCKA.
func CKAMatrix(a, b []*tensor.Tensor, debiased bool) ([][]float64, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("CKA matrix: %d layers in a and %d in b, want at least one each", len(a), len(b))
	}
	minRows := 2
	if debiased {
		minRows = 4
	}
	prep := func(side string, reps []*tensor.Tensor) ([]*centred, []float64, error) {
		cs := make([]*centred, len(reps))
		self := make([]float64, len(reps))
		for i, x := range reps {
			c, err := centre(fmt.Sprintf("CKA matrix: %s layer %d", side, i), x, minRows)
			if err != nil {
				return nil, nil, err
			}
			if c.n != a[0].Shape[0] {
				return nil, nil, fmt.Errorf("CKA matrix: %s layer %d has %d examples, a's layer 0 has %d; want the same examples",
					side, i, c.n, a[0].Shape[0])
			}
			cs[i] = c
			self[i] = gramInner(c, c)
			if debiased {
				self[i] = unbiasedHSICScaled(self[i], c.rowSq, c.rowSq, c.sumSq, c.sumSq)
				if !(self[i] > 0) {
					return nil, nil, fmt.Errorf("CKA matrix: %s layer %d: unbiased HSIC with itself is not positive (too few examples?)", side, i)
				}
			}
		}
		return cs, self, nil
	}
	ca, selfA, err := prep("a", a)
	if err != nil {
		return nil, err
	}
	cb, selfB, err := prep("b", b)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(a))
	for i := range out {
		out[i] = make([]float64, len(b))
		for j := range out[i] {
			xy := gramInner(ca[i], cb[j])
			if debiased {
				xy = unbiasedHSICScaled(xy, ca[i].rowSq, cb[j].rowSq, ca[i].sumSq, cb[j].sumSq)
			}
			out[i][j] = xy / math.Sqrt(selfA[i]*selfB[j])
		}
	}
	return out, nil
}
