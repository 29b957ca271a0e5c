package study

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/data/corrupt"
	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/probe"
	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/represent"
	"github.com/losslab/losslab/tensor"
	"github.com/losslab/losslab/train"
)

// DoneFile is a unit's completion marker, written last and atomically:
// a unit is finished exactly when its folder holds it.
const DoneFile = "DONE.json"

// Metric is one named value a unit measured.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Marker is the content of DONE.json.
type Marker struct {
	Unit     string    `json:"unit"`
	Kind     string    `json:"kind"`
	Metrics  []Metric  `json:"metrics,omitempty"`
	Seconds  float64   `json:"seconds"`
	Finished time.Time `json:"finished"`
}

// Store is a folder of units, one subfolder per unit id. Several studies
// may share a store: a unit any of them finished is reused by all.
type Store struct{ Dir string }

// UnitDir is the folder of unit id.
func (s Store) UnitDir(id string) string { return filepath.Join(s.Dir, id) }

// Done reports whether unit id is finished.
func (s Store) Done(id string) bool {
	_, err := os.Stat(filepath.Join(s.UnitDir(id), DoneFile))
	return err == nil
}

// Marker reads unit id's completion marker.
func (s Store) Marker(id string) (*Marker, error) {
	path := filepath.Join(s.UnitDir(id), DoneFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v; delete it to redo the unit", path, err)
	}
	return &m, nil
}

// RunUnit runs u unless it is finished, then writes its marker. Its
// dependencies must be finished. A unit interrupted midway leaves no
// marker and is redone (training resumes from its checkpoint).
func (s Store) RunUnit(ctx context.Context, p *Plan, u *Unit, progress train.Progress) error {
	if s.Done(u.ID) {
		return nil
	}
	for _, d := range u.Deps {
		if !s.Done(d) {
			return fmt.Errorf("unit %s: dependency %s is not finished", u.ID, d)
		}
	}
	dir := s.UnitDir(u.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := jsonfile.Write(filepath.Join(dir, "unit.json"), u); err != nil {
		return err
	}
	if err := registerDatasets(p.Spec); err != nil {
		return err
	}
	start := time.Now()
	var ms []Metric
	var err error
	switch u.Kind {
	case KindTrain:
		ms, err = s.runTrain(ctx, u, progress)
	case KindEvaluate:
		ms, err = s.runEvaluate(u)
	case KindFeatures:
		ms, err = s.runFeatures(u)
	case KindTransfer:
		ms, err = s.runTransfer(p, u)
	case KindFinetune:
		ms, err = s.runFinetune(ctx, u, progress)
	case KindCorruptSet:
		ms, err = s.runCorruptSet(u)
	case KindRobustness:
		ms, err = s.runRobustness(p, u)
	case KindCKA:
		ms, err = s.runCKA(p, u)
	case KindPredictions:
		ms, err = s.runPredictions(p, u)
	default:
		err = fmt.Errorf("unit %s: unknown kind %q", u.ID, u.Kind)
	}
	if err != nil {
		return fmt.Errorf("unit %s: %w", u.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return jsonfile.Write(filepath.Join(dir, DoneFile), Marker{
		Unit: u.ID, Kind: u.Kind, Metrics: ms, Seconds: time.Since(start).Seconds(), Finished: time.Now().UTC(),
	})
}

func (s Store) trainDir(id string) string { return filepath.Join(s.UnitDir(id), "run") }

func (s Store) runTrain(ctx context.Context, u *Unit, progress train.Progress) ([]Metric, error) {
	res, err := train.Run(ctx, *u.Config, s.trainDir(u.ID), progress)
	if err != nil {
		return nil, err
	}
	return []Metric{{"train_test_accuracy", res.TestAccuracy}, {"train_loss", res.TrainLoss}}, nil
}

// loadModel loads the final model of the training unit id.
func (s Store) loadModel(id string) (*nn.Model, train.Config, error) {
	return train.LoadModel(s.trainDir(id))
}

// forward runs m in eval mode over ds in batches, calling fn with each
// batch's labels and the model's named outputs.
func forward(m *nn.Model, cfg train.Config, ds *data.Dataset, fn func(labels []int, outs []nn.Output) error) error {
	bs := cfg.EvalBatchSize
	if bs <= 0 {
		bs = cfg.BatchSize
	}
	var b data.Batch
	for lo := 0; lo < ds.Len(); lo += bs {
		hi := min(lo+bs, ds.Len())
		ds.Slice(lo, hi, &b)
		if c := cfg.EvalCrop; c > 0 && c < 1 {
			data.CenterCrop(&b, c)
		}
		m.Forward(b.X, false)
		if err := fn(b.Labels, m.Outputs()); err != nil {
			return err
		}
	}
	return nil
}

// appendRows copies a batch of outputs (flattened per example) onto rows.
func appendRows(dst []float32, t *tensor.Tensor) []float32 { return append(dst, t.Data...) }

// logitsOf returns the logits of m on ds, [N, K].
func logitsOf(m *nn.Model, cfg train.Config, ds *data.Dataset) (*tensor.Tensor, error) {
	var buf []float32
	k := 0
	err := forward(m, cfg, ds, func(_ []int, outs []nn.Output) error {
		z := outs[len(outs)-1].Tensor
		k = z.Shape[1]
		buf = appendRows(buf, z)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tensor.FromData(buf, ds.Len(), k), nil
}

// flat views t as [N, rest].
func flat(t *tensor.Tensor) *tensor.Tensor {
	return tensor.FromData(t.Data, t.Shape[0], tensor.Numel(t.Shape[1:]))
}

func (s Store) runEvaluate(u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	_, val, test, err := loadHoldout(u.Source, u.Holdout)
	if err != nil {
		return nil, err
	}
	test = test.Head(cfg.TestLimit)
	valLogits, err := logitsOf(m, cfg, val)
	if err != nil {
		return nil, err
	}
	// One pass over test: logits, penultimate separation, activity.
	var logits []float32
	var sep *represent.Separation
	var act *represent.Activity
	var names []string
	k := 0
	err = forward(m, cfg, test, func(labels []int, outs []nn.Output) error {
		z := outs[len(outs)-1].Tensor
		k = z.Shape[1]
		logits = appendRows(logits, z)
		var pen *tensor.Tensor
		var body []*tensor.Tensor
		for _, o := range outs {
			if o.Name == "penultimate" {
				pen = flat(o.Tensor)
				continue
			}
			if o.Name != "logits" {
				body = append(body, o.Tensor)
				if act == nil {
					names = append(names, o.Name)
				}
			}
		}
		body = append(body, pen)
		if act == nil {
			names = append(names, "penultimate")
			act = represent.NewActivity(len(body))
			var err error
			if sep, err = represent.NewSeparation(test.NumClasses, pen.Shape[1]); err != nil {
				return err
			}
		}
		if err := act.Add(body); err != nil {
			return err
		}
		return sep.Add(pen, labels)
	})
	if err != nil {
		return nil, err
	}
	z := tensor.FromData(logits, test.Len(), k)
	dir := s.UnitDir(u.ID)
	if err := npy.WriteMatrix(filepath.Join(dir, "test_logits.npy"), z); err != nil {
		return nil, err
	}
	if err := npy.WriteLabels(filepath.Join(dir, "test_labels.npy"), test.Labels); err != nil {
		return nil, err
	}
	before, err := metrics.Calibrate(z, test.Labels, 15)
	if err != nil {
		return nil, err
	}
	fit, err := metrics.FitTemperature(valLogits, val.Labels)
	if err != nil {
		return nil, err
	}
	after, err := metrics.Calibrate(metrics.ScaleLogits(z, fit.Temperature), test.Labels, 15)
	if err != nil {
		return nil, err
	}
	rel := report.Reliability{Temperature: fit.Temperature, Before: before.Reliability, After: after.Reliability}
	if err := jsonfile.Write(filepath.Join(dir, "reliability.json"), rel); err != nil {
		return nil, err
	}
	top1, err := metrics.Accuracy(z, test.Labels)
	if err != nil {
		return nil, err
	}
	ms := []Metric{
		{"test_top1", top1},
		{"test_nll", before.NLL}, {"test_ece", before.ECE}, {"test_brier", before.Brier},
		{"temperature", fit.Temperature},
		{"test_nll_ts", after.NLL}, {"test_ece_ts", after.ECE}, {"test_brier_ts", after.Brier},
	}
	if k >= 5 {
		top5, err := metrics.TopKAccuracy(z, test.Labels, 5)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"test_top5", top5})
	}
	if sr, err := sep.Result(); err == nil {
		ms = append(ms, Metric{"r2", sr.R2})
	} else {
		fmt.Fprintf(os.Stderr, "unit %s: %v; r2 left out\n", u.ID, err)
	}
	for i, f := range act.Fractions() {
		ms = append(ms, Metric{"active_fraction_" + names[i], f})
	}
	return ms, nil
}

// poolGrid is the side of the grid spatial maps are average-pooled to
// before CKA: a [H, W, C] block output becomes a vector of
// min(H, poolGrid)·min(W, poolGrid)·C cell means.
const poolGrid = 4

// SpatialRule states how features handles spatial maps, for the report.
const SpatialRule = "block outputs [H, W, C] are average-pooled over an adaptive grid of at most 4×4 cells (cell edges ⌊i·H/4⌋) and flattened; vectors are used as they are"

// pooled returns t [N, H, W, C] average-pooled to at most poolGrid×poolGrid
// cells and flattened, or t [N, M] as it is.
func pooled(t *tensor.Tensor) *tensor.Tensor {
	if len(t.Shape) != 4 {
		return flat(t)
	}
	n, h, w, c := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	gh, gw := min(h, poolGrid), min(w, poolGrid)
	out := tensor.New(n, gh*gw*c)
	for i := range n {
		img := t.Data[i*h*w*c : (i+1)*h*w*c]
		row := out.Data[i*gh*gw*c : (i+1)*gh*gw*c]
		for gy := range gh {
			y0, y1 := gy*h/gh, (gy+1)*h/gh
			for gx := range gw {
				x0, x1 := gx*w/gw, (gx+1)*w/gw
				cell := row[(gy*gw+gx)*c : (gy*gw+gx+1)*c]
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						px := img[(y*w+x)*c : (y*w+x+1)*c]
						for ch, v := range px {
							cell[ch] += v
						}
					}
				}
				inv := 1 / float32((y1-y0)*(x1-x0))
				for ch := range cell {
					cell[ch] *= inv
				}
			}
		}
	}
	return out
}

// featureLayers names the layers features extracts: every body stage (the
// last is the penultimate layer) and the logits.
type featureLayers struct {
	Layers   []string `json:"layers"`
	Examples int      `json:"examples"`
	Spatial  string   `json:"spatial"`
}

func (s Store) runFeatures(u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	_, test, err := train.LoadDataset(cfg.Dataset)
	if err != nil {
		return nil, err
	}
	test = test.Head(u.TestN)
	var names []string
	var rows [][]float32
	var dims []int
	err = forward(m, cfg, test, func(_ []int, outs []nn.Output) error {
		i := 0
		for _, o := range outs {
			if o.Name == "penultimate" {
				continue // the last body stage's output, already taken
			}
			p := pooled(o.Tensor)
			if len(names) <= i {
				names = append(names, o.Name)
				rows = append(rows, nil)
				dims = append(dims, p.Shape[1])
			}
			rows[i] = append(rows[i], p.Data...)
			i++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	dir := s.UnitDir(u.ID)
	for i := range names {
		if err := npy.WriteMatrix(filepath.Join(dir, strconv.Itoa(i)+".npy"), tensor.FromData(rows[i], test.Len(), dims[i])); err != nil {
			return nil, err
		}
	}
	if err := npy.WriteLabels(filepath.Join(dir, "labels.npy"), test.Labels); err != nil {
		return nil, err
	}
	return nil, jsonfile.Write(filepath.Join(dir, "layers.json"), featureLayers{names, test.Len(), SpatialRule})
}

// penultimateOf returns the penultimate features of m on ds.
func penultimateOf(m *nn.Model, cfg train.Config, ds *data.Dataset) (*tensor.Tensor, error) {
	var buf []float32
	dim := 0
	err := forward(m, cfg, ds, func(_ []int, outs []nn.Output) error {
		for _, o := range outs {
			if o.Name == "penultimate" {
				f := flat(o.Tensor)
				dim = f.Shape[1]
				buf = append(buf, f.Data...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tensor.FromData(buf, ds.Len(), dim), nil
}

func (s Store) runTransfer(p *Plan, u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	tr, te, err := loadTarget(u.Target)
	if err != nil {
		return nil, err
	}
	if want := m.InputShape; fmt.Sprint(tr.ExampleShape()) != fmt.Sprint(want) {
		return nil, fmt.Errorf("transfer target %s has examples %v; the model takes %v", u.Target, tr.ExampleShape(), want)
	}
	tr, te = tr.Head(u.TrainN), te.Head(u.TestN)
	cfg.EvalCrop = 0 // transfer images are used whole
	ftr, err := penultimateOf(m, cfg, tr)
	if err != nil {
		return nil, err
	}
	fte, err := penultimateOf(m, cfg, te)
	if err != nil {
		return nil, err
	}
	var ms []Metric
	if p.Spec.analysis("probe") {
		r, err := probe.LinearProbe(probe.Data{X: ftr, Y: tr.Labels}, probe.Data{X: fte, Y: te.Labels}, probe.Config{Seed: 1})
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"probe_" + u.Target + "_top1", r.Accuracy}, Metric{"probe_" + u.Target + "_lambda", r.Lambda})
	}
	if p.Spec.analysis("knn") {
		r, err := probe.KNN(probe.Data{X: ftr, Y: tr.Labels}, probe.Data{X: fte, Y: te.Labels}, 10)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"knn_" + u.Target + "_top1", r.Accuracy})
	}
	return ms, nil
}

// runFinetune trains the unit's config from the final weights of its
// pretrained model (train.Config.InitFrom); like a training unit it
// resumes from its checkpoint when interrupted.
func (s Store) runFinetune(ctx context.Context, u *Unit, progress train.Progress) ([]Metric, error) {
	cfg := *u.Config
	cfg.InitFrom = s.trainDir(u.Deps[0])
	res, err := train.Run(ctx, cfg, s.trainDir(u.ID), progress)
	if err != nil {
		return nil, err
	}
	return []Metric{{"finetune_" + u.Target + "_top1", res.TestAccuracy}}, nil
}

// corruptionSeed fixes the corrupted sets: every study corrupts the same
// way.
const corruptionSeed = 0x636f7272

func (s Store) runCorruptSet(u *Unit) ([]Metric, error) {
	_, te, err := train.LoadDataset(u.Source)
	if err != nil {
		return nil, err
	}
	return nil, corrupt.WriteSet(filepath.Join(s.UnitDir(u.ID), "set"), te.Head(u.TestN), u.Corruptions, corruptionSeed, nil)
}

// accuracyOf is m's top-1 accuracy on ds.
func accuracyOf(m *nn.Model, cfg train.Config, ds *data.Dataset) (float64, error) {
	z, err := logitsOf(m, cfg, ds)
	if err != nil {
		return 0, err
	}
	return metrics.Accuracy(z, ds.Labels)
}

func (s Store) runRobustness(p *Plan, u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	setUnit := p.Unit(u.Deps[1])
	if setUnit == nil {
		return nil, fmt.Errorf("corruption set %s is not in the plan", u.Deps[1])
	}
	_, te, err := train.LoadDataset(setUnit.Source)
	if err != nil {
		return nil, err
	}
	base := te.Head(u.TestN)
	cleanAcc, err := accuracyOf(m, cfg, base)
	if err != nil {
		return nil, err
	}
	ms := []Metric{{"clean_subset_accuracy", cleanAcc}}
	var cells []metrics.CorruptionAccuracy
	for _, name := range setUnit.Corruptions {
		for sev := 1; sev <= corrupt.Lookup(name).Severities; sev++ {
			ds, err := corrupt.LoadSet(filepath.Join(s.UnitDir(setUnit.ID), "set"), name, sev, base)
			if err != nil {
				return nil, err
			}
			acc, err := accuracyOf(m, cfg, ds)
			if err != nil {
				return nil, err
			}
			cells = append(cells, metrics.CorruptionAccuracy{Corruption: name, Severity: sev, Accuracy: acc})
			ms = append(ms, Metric{fmt.Sprintf("corrupted_%s_s%d", name, sev), acc})
		}
	}
	var sum float64
	for _, c := range cells {
		sum += c.Accuracy
	}
	ms = append(ms, Metric{"corrupted_mean_accuracy", sum / float64(len(cells))})
	return ms, nil
}

// modelOf describes the model behind a per-model unit.
func modelOf(p *Plan, id string) report.Model {
	u := p.Unit(id)
	if u == nil {
		return report.Model{Unit: id}
	}
	t := u.ID
	if len(u.Deps) > 0 && u.Kind != KindTrain {
		t = u.Deps[0]
	}
	return report.Model{Unit: t, Objective: u.Objective, Hyper: u.Hyper, Seed: u.Seed}
}

func (s Store) runCKA(p *Plan, u *Unit) ([]Metric, error) {
	load := func(id string) ([]*tensor.Tensor, featureLayers, error) {
		var fl featureLayers
		if err := jsonfile.Read(filepath.Join(s.UnitDir(id), "layers.json"), &fl); err != nil {
			return nil, fl, err
		}
		var ts []*tensor.Tensor
		for i := range fl.Layers {
			t, err := npy.ReadMatrix(filepath.Join(s.UnitDir(id), strconv.Itoa(i)+".npy"))
			if err != nil {
				return nil, fl, err
			}
			ts = append(ts, t)
		}
		return ts, fl, nil
	}
	res := report.CKAResult{Spatial: SpatialRule}
	for _, pr := range u.Pairs {
		a, fa, err := load(u.Deps[pr[0]])
		if err != nil {
			return nil, err
		}
		b, _, err := load(u.Deps[pr[1]])
		if err != nil {
			return nil, err
		}
		mat, err := represent.CKAMatrix(a, b, false)
		if err != nil {
			return nil, err
		}
		res.Layers, res.Examples = fa.Layers, fa.Examples
		res.Pairs = append(res.Pairs, report.CKAPair{A: modelOf(p, u.Deps[pr[0]]), B: modelOf(p, u.Deps[pr[1]]), Matrix: mat})
	}
	return nil, jsonfile.Write(filepath.Join(s.UnitDir(u.ID), "cka.json"), res)
}

func (s Store) runPredictions(p *Plan, u *Unit) ([]Metric, error) {
	var logits []*tensor.Tensor
	var labels []int
	res := report.Predictions{}
	for _, id := range u.Deps {
		z, err := npy.ReadMatrix(filepath.Join(s.UnitDir(id), "test_logits.npy"))
		if err != nil {
			return nil, err
		}
		if labels == nil {
			if labels, err = npy.ReadLabels(filepath.Join(s.UnitDir(id), "test_labels.npy")); err != nil {
				return nil, err
			}
		}
		logits = append(logits, z)
		res.Models = append(res.Models, modelOf(p, id))
	}
	var err error
	if res.Disagreement, err = metrics.DisagreementMatrix(logits); err != nil {
		return nil, err
	}
	n := len(logits)
	res.PairEnsemble = make([][]float64, n)
	for i := range n {
		res.PairEnsemble[i] = make([]float64, n)
		for j := range n {
			group := []*tensor.Tensor{logits[i]}
			if j != i {
				group = append(group, logits[j])
			}
			if res.PairEnsemble[i][j], err = metrics.EnsembleAccuracy(group, labels); err != nil {
				return nil, err
			}
		}
	}
	return nil, jsonfile.Write(filepath.Join(s.UnitDir(u.ID), "predictions.json"), res)
}
