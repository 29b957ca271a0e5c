package represent_test

import (
	"fmt"
	"log"
	"math"

	"github.com/losslab/losslab/represent"
	"github.com/losslab/losslab/tensor"
)

// rep returns an [n, p] representation with entries f(i, j).
func rep(n, p int, f func(i, j int) float64) *tensor.Tensor {
	x := tensor.New(n, p)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			x.Data[i*p+j] = float32(f(i, j))
		}
	}
	return x
}

// mul returns x·m for a p×q matrix m.
func mul(x *tensor.Tensor, m [][]float64) *tensor.Tensor {
	n, p, q := x.Shape[0], x.Shape[1], len(m[0])
	return rep(n, q, func(i, j int) float64 {
		var s float64
		for k := 0; k < p; k++ {
			s += float64(x.Data[i*p+k]) * m[k][j]
		}
		return s
	})
}

// LinearCKA is 1 for identical representations and does not change when
// either is rotated (any orthogonal transform) or scaled isotropically;
// it does change under a non-isotropic scaling or a nonlinear map.
func ExampleLinearCKA() {
	x := rep(12, 3, func(i, j int) float64 { return math.Sin(float64(i*(j+1)) + float64(j)) })
	// 2.5 × a rotation by 0.7 rad about the third axis.
	c, s := 2.5*math.Cos(0.7), 2.5*math.Sin(0.7)
	rotatedScaled := mul(x, [][]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 2.5}})
	stretched := mul(x, [][]float64{{10, 0, 0}, {0, 1, 0}, {0, 0, 1}})
	squared := rep(12, 3, func(i, j int) float64 { v := float64(x.Data[i*3+j]); return v * v })

	for _, y := range []struct {
		name string
		t    *tensor.Tensor
	}{{"itself", x}, {"rotated and scaled by 2.5", rotatedScaled}, {"first feature ×10", stretched}, {"squared entries", squared}} {
		cka, err := represent.LinearCKA(x, y.t)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("CKA(X, %s) = %.4f\n", y.name, cka)
	}
	// Output:
	// CKA(X, itself) = 1.0000
	// CKA(X, rotated and scaled by 2.5) = 1.0000
	// CKA(X, first feature ×10) = 0.5052
	// CKA(X, squared entries) = 0.3613
}

// CKAMatrix compares every layer of one network with every layer of
// another: M[i][j] = CKA(a[i], b[j]). CKA is symmetric, and each layer
// compared with itself gives 1 on the diagonal.
func ExampleCKAMatrix() {
	x := rep(12, 3, func(i, j int) float64 { return math.Sin(float64(i*(j+1)) + float64(j)) })
	h := rep(12, 4, func(i, j int) float64 { return math.Cos(float64(i + j*j)) })
	m, err := represent.CKAMatrix([]*tensor.Tensor{x, h}, []*tensor.Tensor{x, h}, false)
	if err != nil {
		log.Fatal(err)
	}
	for _, row := range m {
		fmt.Printf("%.4f %.4f\n", row[0], row[1])
	}
	// Output:
	// 1.0000 0.2336
	// 0.2336 1.0000
}
