package represent

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/losslab/losslab/tensor"
)

// MinibatchCKA accumulates minibatch CKA (Nguyen, Raghu & Kornblith 2021,
// "Do Wide and Deep Networks Learn the Same Things?", §3.1) between every
// layer of network A and every layer of network B, over batches of examples
// shown to both networks:
//
//	CKA_mb(i, j) = mean_b HSIC₁(K_ib, L_jb) / sqrt(mean_b HSIC₁(K_ib, K_ib) · mean_b HSIC₁(L_jb, L_jb))
//
// where K_ib = X_ib X_ibᵀ is the linear kernel of layer i of A on batch b
// and HSIC₁ is the unbiased estimator of Song et al. (2012):
//
//	HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((m−1)(m−2)) − 2/(m−2)·1ᵀK̃L̃1] / (m(m−3)),
//
// K̃ being K with its diagonal zeroed and m the batch size. Because every
// HSIC₁ is an unbiased estimate of the same population HSIC, the mean over
// batches is too, and memory does not grow with the number of examples.
// Batches should be drawn at random with a fixed size (Nguyen et al. use
// m = 256); a batch of examples sorted by class would bias the estimate.
// Each batch is centred per column before its Gram matrix is formed, which
// changes HSIC₁ only by rounding.
type MinibatchCKA struct {
	layersA, layersB int
	batches          int
	examples         int
	sumXY            []float64 // [i*layersB + j]
	sumXX, sumYY     []float64
}

// NewMinibatchCKA returns an empty accumulator for layersA × layersB
// layer pairs.
func NewMinibatchCKA(layersA, layersB int) (*MinibatchCKA, error) {
	if layersA < 1 || layersB < 1 {
		return nil, fmt.Errorf("minibatch CKA: %d × %d layers, want at least one each", layersA, layersB)
	}
	return &MinibatchCKA{
		layersA: layersA, layersB: layersB,
		sumXY: make([]float64, layersA*layersB),
		sumXX: make([]float64, layersA), sumYY: make([]float64, layersB),
	}, nil
}

// Batches is the number of batches added so far.
func (m *MinibatchCKA) Batches() int { return m.batches }

// Examples is the number of examples (rows) added so far.
func (m *MinibatchCKA) Examples() int { return m.examples }

// hsicKernel is a batch's Gram matrix with its diagonal zeroed (K̃), with
// the row sums and total that HSIC₁ needs.
type hsicKernel struct {
	k      []float64 // [m, m]
	rowSum []float64
	total  float64
}

func newHSICKernel(name string, x *tensor.Tensor) (*hsicKernel, error) {
	c, err := centre(name, x, 4)
	if err != nil {
		return nil, err
	}
	m := c.n
	h := &hsicKernel{k: make([]float64, m*m), rowSum: make([]float64, m)}
	tile := min(m, productBlock)
	acc := make([]float64, tile*tile)
	tmp := make([]float32, tile*tile)
	for i0 := 0; i0 < m; i0 += productBlock {
		ti := min(productBlock, m-i0)
		for j0 := i0; j0 < m; j0 += productBlock {
			tj := min(productBlock, m-j0)
			gramTile(acc[:ti*tj], tmp[:ti*tj], c, i0, ti, j0, tj)
			for i := 0; i < ti; i++ {
				for j := 0; j < tj; j++ {
					v := acc[i*tj+j]
					h.k[(i0+i)*m+j0+j] = v
					h.k[(j0+j)*m+i0+i] = v
				}
			}
		}
	}
	for i := 0; i < m; i++ {
		h.k[i*m+i] = 0
		var s float64
		for _, v := range h.k[i*m : (i+1)*m] {
			s += v
		}
		h.rowSum[i] = s
		h.total += s
	}
	return h, nil
}

// hsic1 returns the unbiased HSIC₁ of two zero-diagonal kernels of the same
// batch.
func hsic1(a, b *hsicKernel) float64 {
	m := float64(len(a.rowSum))
	var rr float64
	for i := range a.rowSum {
		rr += a.rowSum[i] * b.rowSum[i]
	}
	return (dot(a.k, b.k) + a.total*b.total/((m-1)*(m-2)) - 2/(m-2)*rr) / (m * (m - 3))
}

// Add accumulates one batch: batchA[i] is layer i of network A on the
// batch's examples [m, p_i], batchB[j] layer j of network B on the same
// examples in the same order; m ≥ 4. Memory: one m×m float64 Gram matrix
// per layer of A, plus one for B's current layer.
func (m *MinibatchCKA) Add(batchA, batchB []*tensor.Tensor) error {
	if len(batchA) != m.layersA || len(batchB) != m.layersB {
		return fmt.Errorf("minibatch CKA: batch has %d × %d layers, accumulator was made for %d × %d",
			len(batchA), len(batchB), m.layersA, m.layersB)
	}
	rows := -1
	kernels := make([]*hsicKernel, len(batchA))
	for i, x := range batchA {
		k, err := newHSICKernel(fmt.Sprintf("minibatch CKA: batch %d, a layer %d", m.batches, i), x)
		if err != nil {
			return err
		}
		if rows >= 0 && x.Shape[0] != rows {
			return fmt.Errorf("minibatch CKA: batch %d: a layer %d has %d examples, layer 0 has %d", m.batches, i, x.Shape[0], rows)
		}
		rows = x.Shape[0]
		kernels[i] = k
	}
	xy := make([]float64, len(m.sumXY))
	yy := make([]float64, m.layersB)
	for j, y := range batchB {
		if err := checkRep(fmt.Sprintf("minibatch CKA: batch %d, b layer %d", m.batches, j), y, 4); err != nil {
			return err
		}
		if y.Shape[0] != rows {
			return fmt.Errorf("minibatch CKA: batch %d: b layer %d has %d examples, a's layers have %d", m.batches, j, y.Shape[0], rows)
		}
		l, err := newHSICKernel(fmt.Sprintf("minibatch CKA: batch %d, b layer %d", m.batches, j), y)
		if err != nil {
			return err
		}
		yy[j] = hsic1(l, l)
		for i, k := range kernels {
			xy[i*m.layersB+j] = hsic1(k, l)
		}
	}
	// Only a batch that passed every check is counted.
	for i, k := range kernels {
		m.sumXX[i] += hsic1(k, k)
	}
	for j := range yy {
		m.sumYY[j] += yy[j]
	}
	for i := range xy {
		m.sumXY[i] += xy[i]
	}
	m.batches++
	m.examples += rows
	return nil
}

// Matrix returns the minibatch CKA of every layer pair [layersA][layersB].
// It errors when no batch was added or a layer's mean self-HSIC₁ is not
// positive.
func (m *MinibatchCKA) Matrix() ([][]float64, error) {
	if m.batches == 0 {
		return nil, fmt.Errorf("minibatch CKA: no batches added")
	}
	for i, v := range m.sumXX {
		if !(v > 0) {
			return nil, fmt.Errorf("minibatch CKA: a layer %d: mean unbiased HSIC with itself is %.3g, want > 0", i, v/float64(m.batches))
		}
	}
	for j, v := range m.sumYY {
		if !(v > 0) {
			return nil, fmt.Errorf("minibatch CKA: b layer %d: mean unbiased HSIC with itself is %.3g, want > 0", j, v/float64(m.batches))
		}
	}
	out := make([][]float64, m.layersA)
	for i := range out {
		out[i] = make([]float64, m.layersB)
		for j := range out[i] {
			// The 1/batches of the three means cancel.
			out[i][j] = m.sumXY[i*m.layersB+j] / math.Sqrt(m.sumXX[i]*m.sumYY[j])
		}
	}
	return out, nil
}

// MinibatchLinearCKA returns the minibatch CKA (see MinibatchCKA) between
// two representations of the same examples, over batches of batchSize rows
// (≥ 4) drawn without replacement in an order shuffled by seed (PCG). The
// last n mod batchSize examples of the shuffled order are not used, so
// that every batch has the same size; it returns the number of examples
// used too.
func MinibatchLinearCKA(x, y *tensor.Tensor, batchSize int, seed uint64) (cka float64, used int, err error) {
	if batchSize < 4 {
		return 0, 0, fmt.Errorf("minibatch CKA: batch size %d, want at least 4", batchSize)
	}
	if err := checkRep("minibatch CKA: x", x, batchSize); err != nil {
		return 0, 0, err
	}
	if err := checkRep("minibatch CKA: y", y, batchSize); err != nil {
		return 0, 0, err
	}
	n := x.Shape[0]
	if y.Shape[0] != n {
		return 0, 0, fmt.Errorf("minibatch CKA: x has %d examples, y has %d; want the same examples", n, y.Shape[0])
	}
	perm := rand.New(rand.NewPCG(seed, 0x6d696e6962617463)).Perm(n)
	acc, _ := NewMinibatchCKA(1, 1)
	p, q := x.Shape[1], y.Shape[1]
	bx, by := tensor.New(batchSize, p), tensor.New(batchSize, q)
	for b0 := 0; b0+batchSize <= n; b0 += batchSize {
		for r, src := range perm[b0 : b0+batchSize] {
			copy(bx.Data[r*p:(r+1)*p], x.Data[src*p:(src+1)*p])
			copy(by.Data[r*q:(r+1)*q], y.Data[src*q:(src+1)*q])
		}
		if err := acc.Add([]*tensor.Tensor{bx}, []*tensor.Tensor{by}); err != nil {
			return 0, 0, err
		}
	}
	mat, err := acc.Matrix()
	if err != nil {
		return 0, 0, err
	}
	return mat[0][0], acc.Examples(), nil
}
