package nn

import (
	"math"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// convBN64 is conv (float64 reference) then train-mode BatchNorm.
func convBN64(x *tensor.Tensor, c *Conv2d, b *BatchNorm) ([]float64, []int) {
	y, shape := convRef(x, c.Kernel.Value, nil, c.KH, c.KW, c.OutC, c.StrideH, c.StrideW, c.PadH, c.PadW)
	z, _, _ := bnTrainRef(y, c.OutC, b.Gamma.Value, b.Beta.Value, b.Eps)
	return z, shape
}

// to32 rounds a float64 reference activation to a float32 tensor, the input
// of the next reference layer.
func to32(x []float64, shape []int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i, v := range x {
		t.Data[i] = float32(v)
	}
	return t
}

func TestBasicBlockForwardMatchesReference(t *testing.T) {
	for _, tc := range []struct{ in, out, stride int }{{3, 3, 1}, {2, 4, 2}, {3, 4, 1}} {
		b := NewBasicBlock("blk", tc.in, tc.out, tc.stride, nil, 1)
		randomize(b.Params(), 2)
		x := randTensor(3, 2, 5, 6, tc.in)
		got := b.Forward(x, true)
		a1, s1 := convBN64(x, b.Conv1, b.BN1)
		z2, s2 := convBN64(to32(relu64(a1), s1), b.Conv2, b.BN2)
		short := to64(x.Data)
		if b.ShortConv != nil {
			short, _ = convBN64(x, b.ShortConv, b.ShortBN)
		} else if tc.in != tc.out || tc.stride != 1 {
			t.Fatalf("identity shortcut for a shape change")
		}
		want := make([]float64, len(z2))
		for i := range want {
			want[i] = max(z2[i]+short[i], 0)
		}
		if !slices.Equal(got.Shape, s2) {
			t.Fatalf("shape %v, want %v", got.Shape, s2)
		}
		assertClose(t, "basic block", got.Data, want, 1e-4)
	}
}

func TestBottleneckForwardMatchesReference(t *testing.T) {
	for _, tc := range []struct{ in, width, stride int }{{8, 2, 1}, {3, 2, 2}, {4, 2, 1}} {
		b := NewBottleneck("blk", tc.in, tc.width, tc.stride, false, nil, 1)
		randomize(b.Params(), 2)
		x := randTensor(3, 2, 5, 5, tc.in)
		got := b.Forward(x, true)
		a1, s1 := convBN64(x, b.Conv1, b.BN1)
		a2, s2 := convBN64(to32(relu64(a1), s1), b.Conv2, b.BN2)
		z3, s3 := convBN64(to32(relu64(a2), s2), b.Conv3, b.BN3)
		short := to64(x.Data)
		if b.ShortConv != nil {
			short, _ = convBN64(x, b.ShortConv, b.ShortBN)
		}
		want := make([]float64, len(z3))
		for i := range want {
			want[i] = max(z3[i]+short[i], 0)
		}
		if !slices.Equal(got.Shape, s3) || s3[3] != 4*tc.width {
			t.Fatalf("shape %v, want %v", got.Shape, s3)
		}
		assertClose(t, "bottleneck", got.Data, want, 1e-4)
	}
}

func TestBottleneckZeroGamma(t *testing.T) {
	b := NewBottleneck("blk", 8, 2, 1, true, nil, 1)
	for _, v := range b.BN3.Gamma.Value {
		if v != 0 {
			t.Fatalf("bn3.gamma = %v, want 0", v)
		}
	}
	for _, v := range b.BN1.Gamma.Value {
		if v != 1 {
			t.Fatalf("bn1.gamma = %v, want 1", v)
		}
	}
	// With γ3 = 0 and β3 = 0 the block is ReLU(x) on its identity shortcut.
	x := randTensor(1, 2, 3, 3, 8)
	assertClose(t, "zero-γ block", b.Forward(x, true).Data, relu64(to64(x.Data)), 0)
}

// blockKinkMargin reports the smallest |pre-activation| of a block's ReLUs, to
// choose test inputs whose finite differences do not cross a kink.
func blockKinkMargin(b Layer) float64 {
	m := math.Inf(1)
	var bns []*BatchNorm
	switch blk := b.(type) {
	case *BasicBlock:
		bns = []*BatchNorm{blk.BN1, blk.BN2}
	case *Bottleneck:
		bns = []*BatchNorm{blk.BN1, blk.BN2, blk.BN3}
	}
	for _, bn := range bns {
		for i, v := range bn.x.Data {
			j := i % bn.C
			pre := float64(v)*float64(bn.scale[j]) + float64(bn.shift[j])
			m = min(m, math.Abs(pre))
		}
	}
	return m
}

func TestResidualBlockGradients(t *testing.T) {
	blocks := []func() Layer{
		func() Layer { return NewBasicBlock("b", 2, 2, 1, nil, 1) },
		func() Layer { return NewBasicBlock("b", 2, 3, 2, nil, 1) },
		func() Layer { return NewBottleneck("b", 4, 1, 1, false, nil, 1) },
		func() Layer { return NewBottleneck("b", 3, 2, 2, false, nil, 1) },
	}
	for i, mk := range blocks {
		for _, train := range []bool{true, false} {
			b := mk()
			randomize(b.Params(), uint64(10+i))
			for _, p := range b.Params() {
				if p.Kind == Buffer && p.Name[len(p.Name)-3:] == "var" {
					fill(p, 0.7)
				}
			}
			// Choose an input seed for which no ReLU input sits within 0.02 of
			// its kink.
			var x *tensor.Tensor
			for s := uint64(0); ; s++ {
				x = randTensor(s, 3, 4, 4, b.Params()[0].Shape[2])
				b.Forward(x, train)
				if blockKinkMargin(b) > 0.02 {
					break
				}
				if s > 200 {
					t.Fatalf("no input keeps the ReLUs 0.02 from their kinks")
				}
			}
			gc := defaultCheck()
			gc.train = train
			gc.eps = 1e-3
			gc.run(t, b, x)
		}
	}
}
