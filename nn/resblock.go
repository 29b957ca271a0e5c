package nn

import "github.com/losslab/losslab/tensor"

// BasicBlock is the two-convolution residual block of He et al. (2016):
//
//	out = ReLU(BN2(conv2(ReLU(BN1(conv1(x))))) + shortcut(x)),
//
// with 3×3 convolutions (the first carrying the stride) and an identity
// shortcut, or a 1×1 convolution + BatchNorm projection ("option B") when
// the stride is not 1 or the channel count changes. The convolutions have no
// bias (the BatchNorm β replaces it). BN1's ReLU, and BN2's residual add and
// ReLU, are fused into the BatchNorm passes, and the gradient sum of the two
// branches into conv1's col2im.
type BasicBlock struct {
	Conv1, Conv2 *Conv2d
	BN1, BN2     *BatchNorm
	ShortConv    *Conv2d    // nil for the identity shortcut
	ShortBN      *BatchNorm // nil for the identity shortcut
	g            *tensor.Tensor
}

// NewBasicBlock returns a basic block named name (parameters
// "<name>.conv1.kernel", "<name>.bn1.gamma", …, "<name>.shortcut.conv.kernel")
// whose convolutions use the workspace ws (a fresh one if nil).
func NewBasicBlock(name string, inC, outC, stride int, ws *Workspace, seed uint64) *BasicBlock {
	if ws == nil {
		ws = &Workspace{}
	}
	b := &BasicBlock{
		Conv1: NewConv2d(name+".conv1", inC, outC, 3, stride, 1, false, seed),
		BN1:   NewBatchNorm(name+".bn1", outC),
		Conv2: NewConv2d(name+".conv2", outC, outC, 3, 1, 1, false, seed),
		BN2:   NewBatchNorm(name+".bn2", outC),
	}
	b.Conv1.Work, b.Conv2.Work = ws, ws
	b.BN1.ReLU, b.BN2.ReLU = true, true
	if stride != 1 || inC != outC {
		b.ShortConv = NewConv2d(name+".shortcut.conv", inC, outC, 1, stride, 0, false, seed)
		b.ShortConv.Work = ws
		b.ShortBN = NewBatchNorm(name+".shortcut.bn", outC)
	}
	return b
}

// Forward implements Layer.
func (b *BasicBlock) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	a1 := b.BN1.Forward(b.Conv1.Forward(x, train), train)
	h2 := b.Conv2.Forward(a1, train)
	s := x
	if b.ShortConv != nil {
		s = b.ShortBN.Forward(b.ShortConv.Forward(x, train), train)
	}
	return b.BN2.forward(h2, s, train)
}

// Backward implements Layer.
func (b *BasicBlock) Backward(dy *tensor.Tensor) *tensor.Tensor {
	// g = dL/d(BN2 output) = dL/d(shortcut output): dy masked by the ReLU.
	b.g = tensor.Ensure(b.g, dy.Shape...)
	d2 := b.BN2.backward(dy, b.g.Data)
	dh1 := b.BN1.Backward(b.Conv2.Backward(d2))
	ds := b.g
	if b.ShortConv != nil {
		ds = b.ShortConv.Backward(b.ShortBN.Backward(b.g))
	}
	return b.Conv1.backward(dh1, ds)
}

// Params implements Layer.
func (b *BasicBlock) Params() []*Param {
	ps := concatParams(b.Conv1, b.BN1, b.Conv2, b.BN2)
	if b.ShortConv != nil {
		ps = append(ps, concatParams(b.ShortConv, b.ShortBN)...)
	}
	return ps
}

// Bottleneck is the ResNet v1.5 bottleneck block: 1×1 conv to width channels,
// 3×3 conv carrying the stride (v1.5; v1 strides the first 1×1), 1×1 conv to
// 4·width channels, each followed by BatchNorm, with ReLUs after the first
// two and after the residual sum. The shortcut is a 1×1 convolution +
// BatchNorm projection when the stride is not 1 or the channel count
// changes. With zeroGamma the last BatchNorm's γ starts at 0, so the block
// starts as its shortcut (Goyal et al. 2017).
type Bottleneck struct {
	Conv1, Conv2, Conv3 *Conv2d
	BN1, BN2, BN3       *BatchNorm
	ShortConv           *Conv2d    // nil for the identity shortcut
	ShortBN             *BatchNorm // nil for the identity shortcut
	g                   *tensor.Tensor
}

// BottleneckExpansion is the ratio of a bottleneck block's output channels to
// its width.
const BottleneckExpansion = 4

// NewBottleneck returns a bottleneck block named name with output channels
// 4·width, its convolutions using the workspace ws (a fresh one if nil).
func NewBottleneck(name string, inC, width, stride int, zeroGamma bool, ws *Workspace, seed uint64) *Bottleneck {
	if ws == nil {
		ws = &Workspace{}
	}
	outC := BottleneckExpansion * width
	b := &Bottleneck{
		Conv1: NewConv2d(name+".conv1", inC, width, 1, 1, 0, false, seed),
		BN1:   NewBatchNorm(name+".bn1", width),
		Conv2: NewConv2d(name+".conv2", width, width, 3, stride, 1, false, seed),
		BN2:   NewBatchNorm(name+".bn2", width),
		Conv3: NewConv2d(name+".conv3", width, outC, 1, 1, 0, false, seed),
		BN3:   NewBatchNorm(name+".bn3", outC),
	}
	b.Conv1.Work, b.Conv2.Work, b.Conv3.Work = ws, ws, ws
	b.BN1.ReLU, b.BN2.ReLU, b.BN3.ReLU = true, true, true
	if zeroGamma {
		fill(b.BN3.Gamma, 0)
	}
	if stride != 1 || inC != outC {
		b.ShortConv = NewConv2d(name+".shortcut.conv", inC, outC, 1, stride, 0, false, seed)
		b.ShortConv.Work = ws
		b.ShortBN = NewBatchNorm(name+".shortcut.bn", outC)
	}
	return b
}

// Forward implements Layer.
func (b *Bottleneck) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	a1 := b.BN1.Forward(b.Conv1.Forward(x, train), train)
	a2 := b.BN2.Forward(b.Conv2.Forward(a1, train), train)
	h3 := b.Conv3.Forward(a2, train)
	s := x
	if b.ShortConv != nil {
		s = b.ShortBN.Forward(b.ShortConv.Forward(x, train), train)
	}
	return b.BN3.forward(h3, s, train)
}

// Backward implements Layer.
func (b *Bottleneck) Backward(dy *tensor.Tensor) *tensor.Tensor {
	b.g = tensor.Ensure(b.g, dy.Shape...)
	d3 := b.BN3.backward(dy, b.g.Data)
	d2 := b.BN2.Backward(b.Conv3.Backward(d3))
	d1 := b.BN1.Backward(b.Conv2.Backward(d2))
	ds := b.g
	if b.ShortConv != nil {
		ds = b.ShortConv.Backward(b.ShortBN.Backward(b.g))
	}
	return b.Conv1.backward(d1, ds)
}

// Params implements Layer.
func (b *Bottleneck) Params() []*Param {
	ps := concatParams(b.Conv1, b.BN1, b.Conv2, b.BN2, b.Conv3, b.BN3)
	if b.ShortConv != nil {
		ps = append(ps, concatParams(b.ShortConv, b.ShortBN)...)
	}
	return ps
}

func concatParams(ls ...Layer) []*Param {
	var ps []*Param
	for _, l := range ls {
		ps = append(ps, l.Params()...)
	}
	return ps
}
