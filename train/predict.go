package train

import (
	"runtime"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// Predict runs m in evaluation mode (BatchNorm running statistics, no
// dropout) over ds in order, in batches of cfg's evaluation batch size
// (EvalBatchSize, else BatchSize) with cfg's evaluation crop (EvalCrop),
// and calls fn with each batch's labels and the model's named outputs
// (nn.Model.Outputs: body stages, "penultimate", then "logits"). The
// outputs are overwritten by the next batch: fn copies what it keeps. An
// error from fn stops the pass and is returned.
//
// It is the one evaluation path of losslab: training's per-epoch test
// evaluation, the study's analyses and the CLI all go through it, so that
// every number is measured on the same inputs.
func Predict(m *nn.Model, cfg Config, ds *data.Dataset, fn func(labels []int, outs []nn.Output) error) error {
	bs := cfg.EvalBatchSize
	if bs <= 0 {
		bs = cfg.BatchSize
	}
	var b data.Batch
	var indices []int
	for lo := 0; lo < ds.Len(); lo += bs {
		hi := min(lo+bs, ds.Len())
		if ds.Streamed() {
			// The crop is part of decoding (resize to size/crop, then the
			// centre), not a second resampling of the decoded image.
			indices = indices[:0]
			for i := lo; i < hi; i++ {
				indices = append(indices, i)
			}
			if err := ds.ReadEval(indices, evalCrop(cfg), &b, runtime.GOMAXPROCS(0)); err != nil {
				return err
			}
		} else {
			ds.Slice(lo, hi, &b)
			if c := cfg.EvalCrop; c > 0 && c < 1 {
				data.CenterCrop(&b, c)
			}
		}
		m.Forward(b.X, false)
		if err := fn(b.Labels, m.Outputs()); err != nil {
			return err
		}
	}
	return nil
}

// evalCrop is cfg's evaluation crop fraction in (0, 1].
func evalCrop(cfg Config) float64 {
	if c := cfg.EvalCrop; c > 0 && c < 1 {
		return c
	}
	return 1
}

// Logits returns m's logits on ds (Predict), [N, K].
func Logits(m *nn.Model, cfg Config, ds *data.Dataset) (*tensor.Tensor, error) {
	var buf []float32
	k := 0
	err := Predict(m, cfg, ds, func(_ []int, outs []nn.Output) error {
		z := outs[len(outs)-1].Tensor
		k = z.Shape[1]
		buf = append(buf, z.Data...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tensor.FromData(buf, ds.Len(), k), nil
}

// Penultimate returns m's penultimate-layer features on ds (Predict),
// flattened to [N, D].
func Penultimate(m *nn.Model, cfg Config, ds *data.Dataset) (*tensor.Tensor, error) {
	var buf []float32
	dim := 0
	err := Predict(m, cfg, ds, func(_ []int, outs []nn.Output) error {
		for _, o := range outs {
			if o.Name == "penultimate" {
				dim = tensor.Numel(o.Tensor.Shape[1:])
				buf = append(buf, o.Tensor.Data...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tensor.FromData(buf, ds.Len(), dim), nil
}
