package nn

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/losslab/losslab/tensor"
)

// newParam allocates a named parameter; buffers get no gradient slice.
func newParam(name string, kind ParamKind, shape ...int) *Param {
	n := tensor.Numel(shape)
	p := &Param{Name: name, Kind: kind, Shape: append([]int(nil), shape...), Value: make([]float32, n)}
	if kind != Buffer {
		p.Grad = make([]float32, n)
	}
	return p
}

// paramRNG returns the generator that initialises one parameter. Seeding it
// from the model seed and the parameter's name (rather than drawing every
// parameter from one stream) keeps a parameter's initial value independent of
// which other layers exist, so replacing a head leaves the body unchanged.
func paramRNG(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// fanIn is the number of inputs feeding one output unit of a kernel stored
// with the output axis last ([in, out] or [kh, kw, cin, cout]).
func fanIn(p *Param) int { return len(p.Value) / p.Shape[len(p.Shape)-1] }

// initNormal fills p with independent N(0, std²) draws.
func initNormal(p *Param, std float64, seed uint64) {
	r := paramRNG(seed, p.Name)
	for i := range p.Value {
		p.Value[i] = float32(r.NormFloat64() * std)
	}
}

// initHeNormal draws p from N(0, 2/fan_in), the He et al. (2015) "kaiming
// normal" initialisation for layers followed by a ReLU (Keras' he_normal
// without the truncation, PyTorch's kaiming_normal_ in fan_in mode).
func initHeNormal(p *Param, seed uint64) {
	initNormal(p, math.Sqrt(2/float64(fanIn(p))), seed)
}

// initLeCunNormal draws p from N(0, 1/fan_in), which preserves the variance
// of a layer that is not followed by a ReLU (the classifier head).
func initLeCunNormal(p *Param, seed uint64) {
	initNormal(p, math.Sqrt(1/float64(fanIn(p))), seed)
}

// fill sets every element of p to v.
func fill(p *Param, v float32) {
	for i := range p.Value {
		p.Value[i] = v
	}
}
