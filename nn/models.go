package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/losslab/losslab/tensor"
)

// builder makes one architecture; inputShape and numClasses are validated
// for generic sanity by Build, architecture-specific limits by the builder.
type builder func(inputShape []int, numClasses int, seed uint64) (*Model, error)

var registry = map[string]builder{
	"mlp":       buildMLP,
	"mnist-cnn": buildMnistCNN,
	"resnet20":  func(s []int, k int, seed uint64) (*Model, error) { return buildCifarResNet("resnet20", 3, s, k, seed) },
	"resnet56":  func(s []int, k int, seed uint64) (*Model, error) { return buildCifarResNet("resnet56", 9, s, k, seed) },
	"resnet18": func(s []int, k int, seed uint64) (*Model, error) {
		return buildImageNetResNet("resnet18", s, k, seed, smallInput(s))
	},
	"resnet50": func(s []int, k int, seed uint64) (*Model, error) {
		return buildImageNetResNet("resnet50", s, k, seed, smallInput(s))
	},
}

// ModelNames lists the registered architectures, sorted.
func ModelNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Build returns a freshly initialised model of the named architecture for
// inputs of shape inputShape (one example, HWC for images) and numClasses
// classes. Parameters are drawn deterministically from seed (each from a PCG
// stream keyed by the seed and the parameter's name): convolution and hidden
// dense kernels He-normal N(0, 2/fan_in), classifier heads N(0, 1/fan_in)
// except resnet50's N(0, 0.01²) (Goyal et al. 2017), biases 0, BatchNorm
// γ = 1 and β = 0 (resnet50: γ = 0 on the last BatchNorm of each block),
// running mean 0 and variance 1.
//
// Architectures:
//   - mlp: flatten, dense 512 + ReLU ("dense1"), dense 512 + ReLU ("dense2"),
//     head; any input shape.
//   - mnist-cnn: conv 3×3 32 (pad 1) + ReLU + maxpool 2 ("conv1"),
//     conv 3×3 64 + ReLU + maxpool 2 ("conv2"), flatten + dense 128 + ReLU
//     ("dense1"), head; HWC input with H, W ≥ 4 (28×28 gives the 3136-wide
//     dense layer).
//   - resnet20, resnet56: the CIFAR ResNets of He et al. (2016):
//     conv 3×3 16 + BN + ReLU ("stem"), three stages of 3 (resnet20) or 9 (resnet56) basic
//     blocks with 16, 32, 64 channels, stride 2 at the first block of stages
//     2 and 3, 1×1 conv + BN projection shortcuts where the shape changes
//     (option B), global average pool ("pool"), head; H, W ≥ 4.
//   - resnet18: the ImageNet ResNet-18: conv 7×7/2 64 + BN + ReLU + maxpool
//     3×3/2 ("stem"), basic-block stages [2 2 2 2] with 64…512 channels,
//     global average pool ("pool"), head.
//   - resnet50: ResNet-50 v1.5: the same stem, bottleneck stages [3 4 6 3] of
//     widths 64…512 (outputs 256…2048), stride on the 3×3 convolution.
//
// For inputs of at most 64 pixels on a side, resnet18 and resnet50 use the
// common CIFAR variant of the stem: conv 3×3/1 + BN + ReLU, no maxpool (the
// ImageNet stem would shrink a 32×32 image to 8×8 before the first block);
// they need H, W ≥ 8.
//
// Body stages, whose outputs Model.Outputs exposes under these names: each
// residual block is "stageS.blockB" (S, B from 1). Unknown names, bad shapes
// and numClasses < 1 are errors.
func Build(name string, inputShape []int, numClasses int, seed uint64) (*Model, error) {
	b, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("nn: unknown model %q; valid models: %s", name, strings.Join(ModelNames(), ", "))
	}
	if numClasses < 1 {
		return nil, fmt.Errorf("nn: model %s: %d classes, want at least 1", name, numClasses)
	}
	if len(inputShape) == 0 {
		return nil, fmt.Errorf("nn: model %s: empty input shape", name)
	}
	for _, d := range inputShape {
		if d < 1 {
			return nil, fmt.Errorf("nn: model %s: input shape %v has a non-positive dimension", name, inputShape)
		}
	}
	return b(append([]int(nil), inputShape...), numClasses, seed)
}

// smallInput reports whether an image is small enough (≤ 64 px on its
// shorter side) for the CIFAR variant of the ImageNet ResNets' stem.
func smallInput(s []int) bool { return len(s) == 3 && min(s[0], s[1]) <= 64 }

// imageShape checks that s is [H W C] with H, W ≥ minHW.
func imageShape(name string, s []int, minHW int) error {
	if len(s) != 3 || s[0] < minHW || s[1] < minHW {
		return fmt.Errorf("nn: model %s needs an image input [H W C] with H, W ≥ %d; got %v", name, minHW, s)
	}
	return nil
}

func newHead(name string, in, k int, seed uint64) *Linear {
	h := NewLinear(name, in, k, true, seed)
	initLeCunNormal(h.Kernel, seed)
	return h
}

func buildMLP(s []int, k int, seed uint64) (*Model, error) {
	in := tensor.Numel(s)
	d1 := NewLinear("dense1", in, 512, true, seed)
	d1.ReLU, d1.NoInputGrad = true, true
	d2 := NewLinear("dense2", 512, 512, true, seed)
	d2.ReLU = true
	return &Model{
		Name: "mlp", InputShape: s, NumClasses: k,
		Body: []Named{{"dense1", NewSequential(NewFlatten(), d1)}, {"dense2", d2}},
		Head: newHead("head", 512, k, seed),
	}, nil
}

func buildMnistCNN(s []int, k int, seed uint64) (*Model, error) {
	if err := imageShape("mnist-cnn", s, 4); err != nil {
		return nil, err
	}
	ws := &Workspace{}
	c1 := NewConv2d("conv1", s[2], 32, 3, 1, 1, true, seed)
	c2 := NewConv2d("conv2", 32, 64, 3, 1, 1, true, seed)
	c1.ReLU, c1.NoInputGrad, c1.Work = true, true, ws
	c2.ReLU, c2.Work = true, ws
	d1 := NewLinear("dense1", (s[0]/4)*(s[1]/4)*64, 128, true, seed)
	d1.ReLU = true
	return &Model{
		Name: "mnist-cnn", InputShape: s, NumClasses: k,
		Body: []Named{
			{"conv1", NewSequential(c1, NewMaxPool(2, 2, 0))},
			{"conv2", NewSequential(c2, NewMaxPool(2, 2, 0))},
			{"dense1", NewSequential(NewFlatten(), d1)},
		},
		Head: newHead("head", 128, k, seed),
	}, nil
}

// stem returns the "stem" stage: conv + BN + ReLU (+ maxpool for the
// ImageNet stem).
func stem(inC, outC int, imagenet bool, ws *Workspace, seed uint64) *Sequential {
	var conv *Conv2d
	if imagenet {
		conv = NewConv2d("stem.conv", inC, outC, 7, 2, 3, false, seed)
	} else {
		conv = NewConv2d("stem.conv", inC, outC, 3, 1, 1, false, seed)
	}
	conv.NoInputGrad, conv.Work = true, ws
	bn := NewBatchNorm("stem.bn", outC)
	bn.ReLU = true
	if imagenet {
		return NewSequential(conv, bn, NewMaxPool(3, 2, 1))
	}
	return NewSequential(conv, bn)
}

func buildCifarResNet(name string, n int, s []int, k int, seed uint64) (*Model, error) {
	if err := imageShape(name, s, 4); err != nil {
		return nil, err
	}
	ws := &Workspace{}
	body := []Named{{"stem", stem(s[2], 16, false, ws, seed)}}
	in := 16
	for si, c := range []int{16, 32, 64} {
		for bi := 0; bi < n; bi++ {
			stride := 1
			if si > 0 && bi == 0 {
				stride = 2
			}
			bn := fmt.Sprintf("stage%d.block%d", si+1, bi+1)
			body = append(body, Named{bn, NewBasicBlock(bn, in, c, stride, ws, seed)})
			in = c
		}
	}
	body = append(body, Named{"pool", NewGlobalAvgPool()})
	return &Model{Name: name, InputShape: s, NumClasses: k, Body: body, Head: newHead("head", 64, k, seed)}, nil
}

// buildImageNetResNet builds resnet18 or resnet50 with the ImageNet stem or
// the CIFAR one.
func buildImageNetResNet(name string, s []int, k int, seed uint64, cifarStem bool) (*Model, error) {
	if err := imageShape(name, s, 8); err != nil {
		return nil, err
	}
	ws := &Workspace{}
	body := []Named{{"stem", stem(s[2], 64, !cifarStem, ws, seed)}}
	widths := []int{64, 128, 256, 512}
	in := 64
	var head *Linear
	if name == "resnet18" {
		for si, c := range widths {
			for bi := 0; bi < 2; bi++ {
				stride := 1
				if si > 0 && bi == 0 {
					stride = 2
				}
				bn := fmt.Sprintf("stage%d.block%d", si+1, bi+1)
				body = append(body, Named{bn, NewBasicBlock(bn, in, c, stride, ws, seed)})
				in = c
			}
		}
		head = newHead("head", in, k, seed)
	} else {
		for si, depth := range []int{3, 4, 6, 3} {
			for bi := 0; bi < depth; bi++ {
				stride := 1
				if si > 0 && bi == 0 {
					stride = 2
				}
				bn := fmt.Sprintf("stage%d.block%d", si+1, bi+1)
				body = append(body, Named{bn, NewBottleneck(bn, in, widths[si], stride, true, ws, seed)})
				in = BottleneckExpansion * widths[si]
			}
		}
		head = NewLinear("head", in, k, true, seed)
		initNormal(head.Kernel, 0.01, seed)
	}
	body = append(body, Named{"pool", NewGlobalAvgPool()})
	return &Model{Name: name, InputShape: s, NumClasses: k, Body: body, Head: head}, nil
}
