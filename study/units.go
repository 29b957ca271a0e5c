package study

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/data/corrupt"
	"github.com/losslab/losslab/internal/folderlock"
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
type Store struct {
	Dir string
	// Datasets resolves the datasets units read; nil resolves catalogue
	// names, paths, derived tasks and holdout splits (data.Resolver).
	Datasets *data.Resolver
}

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

// Waiter is a train.Progress that is also told when RunUnit waits for a
// unit that another process is running.
type Waiter interface {
	Waiting(msg string)
}

// RunUnit runs u unless it is finished, then writes its marker. Its
// dependencies must be finished. A unit interrupted midway leaves no
// marker and is redone (training resumes from its checkpoint).
//
// The unit's folder is locked while it runs (package folderlock). A unit
// that another live process is running (a requeued Slurm task or a
// replacement pod whose first attempt still runs, or another study sharing
// the store) is waited for, not run a second time beside it, nor failed:
// once that process lets go, the unit is done if it finished it, and run
// here (resuming) if it did not. A progress that is a Waiter is told.
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
	release, err := folderlock.Wait(ctx, dir, func(b *folderlock.BusyError) {
		if w, ok := progress.(Waiter); ok {
			w.Waiting(fmt.Sprintf("unit %s is being run by %s: waiting for it", u.ID, b.Holder))
		}
	})
	if err != nil {
		return fmt.Errorf("unit %s: %w", u.ID, err)
	}
	defer release()
	if s.Done(u.ID) {
		return nil // finished by the process waited for
	}
	if err := jsonfile.Write(filepath.Join(dir, "unit.json"), u); err != nil {
		return err
	}
	start := time.Now()
	var ms []Metric
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
	case KindFinetuneLR:
		ms, err = s.runFinetuneLR(ctx, u, progress)
	case KindCorruptSet:
		ms, err = s.runCorruptSet(u)
	case KindRobustness:
		ms, err = s.runRobustness(p, u)
	case KindCKA:
		ms, err = s.runCKA(p, u)
	case KindPredictions:
		ms, err = s.runPredictions(p, u)
	case KindExport, KindExportEvaluate, KindExportTransfer, KindExportRobustness, KindExportPredictions:
		ms, err = s.runExported(p, u)
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
	res, err := train.Run(ctx, *u.Config, s.trainDir(u.ID), train.Options{Datasets: s.Datasets, Progress: progress})
	if err != nil {
		return nil, err
	}
	return []Metric{{"train_test_accuracy", res.TestAccuracy}, {"train_loss", res.TrainLoss}}, nil
}

// loadModel loads the final model of the training unit id.
func (s Store) loadModel(id string) (*nn.Model, train.Config, error) {
	return train.LoadModel(s.trainDir(id), s.Datasets)
}

func (s Store) runEvaluate(u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	trainPart, val, test, err := s.Datasets.Holdout(u.Source, u.Holdout)
	if err != nil {
		return nil, err
	}
	test = test.Head(cfg.TestLimit)
	valLogits, err := train.Logits(m, cfg, val)
	if err != nil {
		return nil, err
	}
	ev, err := evaluateTest(m, cfg, test)
	if err != nil {
		return nil, err
	}
	dir := s.UnitDir(u.ID)
	if err := npy.WriteMatrix(filepath.Join(dir, "test_logits.npy"), ev.logits); err != nil {
		return nil, err
	}
	if err := npy.WriteLabels(filepath.Join(dir, "test_labels.npy"), test.Labels); err != nil {
		return nil, err
	}
	ms, err := predictionMetrics(dir, ev.logits, test.Labels, valLogits, val.Labels)
	if err != nil {
		return nil, err
	}
	if sr, err := ev.separation.Result(); err == nil {
		ms = append(ms, Metric{"r2", sr.R2})
	} else {
		fmt.Fprintf(os.Stderr, "unit %s: %v; r2 left out\n", u.ID, err)
	}
	// R² on as many training images as test images: separation where the
	// objective acted, beside separation where it generalised.
	n := test.Len()
	if cfg.TrainLimit > 0 {
		n = min(n, cfg.TrainLimit) // the run trained on the first TrainLimit
	}
	seen := trainPart.Head(n)
	if f, err := train.Penultimate(m, cfg, seen); err != nil {
		return nil, err
	} else if sr, err := represent.ClassSeparation(f, seen.Labels); err == nil {
		ms = append(ms, Metric{"r2_train", sr.R2})
	} else {
		fmt.Fprintf(os.Stderr, "unit %s: %v; r2_train left out\n", u.ID, err)
	}
	for i, f := range ev.activity.Fractions() {
		ms = append(ms, Metric{"active_fraction_" + ev.layers[i], f})
	}
	return ms, nil
}

// testEvaluation is what one pass over the test split measures.
type testEvaluation struct {
	logits     *tensor.Tensor        // [N, K]
	separation *represent.Separation // of the penultimate features
	activity   *represent.Activity   // of every body stage, penultimate last
	layers     []string              // activity's layers
}

// evaluateTest makes one pass over test: logits, the penultimate layer's
// class separation and every layer's activity.
func evaluateTest(m *nn.Model, cfg train.Config, test *data.Dataset) (*testEvaluation, error) {
	ev := &testEvaluation{}
	var logits []float32
	k := 0
	err := train.Predict(m, cfg, test, func(labels []int, outs []nn.Output) error {
		z := outs[len(outs)-1].Tensor
		k = z.Shape[1]
		logits = append(logits, z.Data...)
		var pen *tensor.Tensor
		var body []*tensor.Tensor
		for _, o := range outs {
			if o.Name == "penultimate" {
				pen = o.Tensor.Reshape(o.Tensor.Shape[0], tensor.Numel(o.Tensor.Shape[1:]))
				continue
			}
			if o.Name != "logits" {
				body = append(body, o.Tensor)
				if ev.activity == nil {
					ev.layers = append(ev.layers, o.Name)
				}
			}
		}
		body = append(body, pen)
		if ev.activity == nil {
			ev.layers = append(ev.layers, "penultimate")
			ev.activity = represent.NewActivity(len(body))
			var err error
			if ev.separation, err = represent.NewSeparation(test.NumClasses, pen.Shape[1]); err != nil {
				return err
			}
		}
		if err := ev.activity.Add(body); err != nil {
			return err
		}
		return ev.separation.Add(pen, labels)
	})
	if err != nil {
		return nil, err
	}
	ev.logits = tensor.FromData(logits, test.Len(), k)
	return ev, nil
}

// predictionMetrics measures the test logits z: accuracy, and calibration
// before and after temperature scaling fitted on the validation logits
// (docs/definitions.md, "Calibration"); it writes the reliability diagrams
// to dir/reliability.json.
func predictionMetrics(dir string, z *tensor.Tensor, labels []int, valLogits *tensor.Tensor, valLabels []int) ([]Metric, error) {
	before, err := metrics.Calibrate(z, labels, metrics.DefaultBins)
	if err != nil {
		return nil, err
	}
	fit, err := metrics.FitTemperature(valLogits, valLabels)
	if err != nil {
		return nil, err
	}
	after, err := metrics.Calibrate(metrics.ScaleLogits(z, fit.Temperature), labels, metrics.DefaultBins)
	if err != nil {
		return nil, err
	}
	rel := report.Reliability{Temperature: fit.Temperature, Before: before.Reliability, After: after.Reliability}
	if err := jsonfile.Write(filepath.Join(dir, "reliability.json"), rel); err != nil {
		return nil, err
	}
	top1, err := metrics.Accuracy(z, labels)
	if err != nil {
		return nil, err
	}
	ms := []Metric{
		{"test_top1", top1},
		{"test_nll", before.NLL}, {"test_ece", before.ECE}, {"test_brier", before.Brier},
		{"temperature", fit.Temperature},
		{"test_nll_ts", after.NLL}, {"test_ece_ts", after.ECE}, {"test_brier_ts", after.Brier},
	}
	if z.Shape[1] >= 5 {
		top5, err := metrics.TopKAccuracy(z, labels, 5)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"test_top5", top5})
	}
	return ms, nil
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
	_, test, err := s.Datasets.Load(cfg.Dataset)
	if err != nil {
		return nil, err
	}
	test = test.Head(u.TestN)
	var names []string
	var rows [][]float32
	var dims []int
	err = train.Predict(m, cfg, test, func(_ []int, outs []nn.Output) error {
		i := 0
		for _, o := range outs {
			if o.Name == "penultimate" {
				continue // the last body stage's output, already taken
			}
			p := represent.PoolSpatial(o.Tensor, represent.DefaultPoolGrid)
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
	return nil, jsonfile.Write(filepath.Join(dir, "layers.json"), featureLayers{names, test.Len(), represent.SpatialRule})
}

// modelInput is the name under which the resolver gives transfer target
// converted to a model's input shape: the target itself when its examples
// have that shape, data.ResizedName when they differ only in height, width
// or grey ↔ RGB channels, and otherwise an error naming both shapes.
func modelInput(target string, have, want []int) (string, error) {
	if slices.Equal(have, want) {
		return target, nil
	}
	if _, err := data.NewConversion(have, want); err != nil {
		return "", fmt.Errorf("transfer target %s has examples %v; the model takes %v, and only the height, width and channels grey ↔ RGB (1 ↔ 3) are converted", target, have, want)
	}
	return data.ResizedName(target, want), nil
}

// targetInputFile, in a transfer or fine-tuning unit's folder, records how
// the target's images were converted to the model's input shape; a unit
// whose target needed no conversion has none.
const targetInputFile = "target_input.json"

// writeTargetInput writes u's targetInputFile: its target's examples of
// shape from were converted to shape to.
func (s Store) writeTargetInput(u *Unit, from, to []int) error {
	c, err := data.NewConversion(from, to)
	if err != nil {
		return err
	}
	return jsonfile.Write(filepath.Join(s.UnitDir(u.ID), targetInputFile),
		report.TargetInput{Target: u.Target, From: c.From, To: c.To, Preprocessing: c.String()})
}

func (s Store) runTransfer(p *Plan, u *Unit) ([]Metric, error) {
	m, cfg, err := s.loadModel(u.Deps[0])
	if err != nil {
		return nil, err
	}
	tr, te, err := s.Datasets.Load(u.Target)
	if err != nil {
		return nil, err
	}
	name, err := modelInput(u.Target, tr.ExampleShape(), m.InputShape)
	if err != nil {
		return nil, err
	}
	tr, te = tr.Head(u.TrainN), te.Head(u.TestN)
	if name != u.Target {
		// Only the probed examples are converted (as the resolver would
		// convert name, image by image): a whole split at the model's
		// size can be many times the target's.
		from := tr.ExampleShape()
		if tr, err = data.Convert(tr, m.InputShape, name); err != nil {
			return nil, err
		}
		if te, err = data.Convert(te, m.InputShape, name); err != nil {
			return nil, err
		}
		if err := s.writeTargetInput(u, from, m.InputShape); err != nil {
			return nil, err
		}
	}
	cfg.EvalCrop = 0 // transfer images are used whole
	ftr, err := train.Penultimate(m, cfg, tr)
	if err != nil {
		return nil, err
	}
	fte, err := train.Penultimate(m, cfg, te)
	if err != nil {
		return nil, err
	}
	return probeMetrics(p, u.Target, probe.Data{X: ftr, Y: tr.Labels}, probe.Data{X: fte, Y: te.Labels})
}

// probeMetrics runs the transfer probes the spec asks for on features of a
// target's training and test examples: the linear probe on standardised
// and on raw features, and kNN.
func probeMetrics(p *Plan, target string, tr, te probe.Data) ([]Metric, error) {
	var ms []Metric
	if p.Spec.analysis("probe") {
		r, err := probe.LinearProbe(tr, te, probe.Config{Seed: 1})
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"probe_" + target + "_top1", r.Accuracy}, Metric{"probe_" + target + "_lambda", r.Lambda})
		raw, err := probe.LinearProbe(tr, te, probe.Config{Seed: 1, Raw: true})
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"rawprobe_" + target + "_top1", raw.Accuracy}, Metric{"rawprobe_" + target + "_lambda", raw.Lambda})
	}
	if p.Spec.analysis("knn") {
		r, err := probe.KNN(tr, te, probe.DefaultK)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"knn_" + target + "_top1", r.Accuracy})
	}
	return ms, nil
}

// runFinetune trains the unit's config from the final weights of its
// pretrained model (train.Config.InitFrom), at the rate its finetune-lr
// dependency chose when it has one; like a training unit it resumes from
// its checkpoint when interrupted.
func (s Store) runFinetune(ctx context.Context, u *Unit, progress train.Progress) ([]Metric, error) {
	cfg := *u.Config
	cfg.InitFrom = s.trainDir(u.Deps[0])
	if len(u.Deps) > 1 {
		var ch lrChoice
		if err := jsonfile.Read(filepath.Join(s.UnitDir(u.Deps[1]), lrChoiceFile), &ch); err != nil {
			return nil, err
		}
		cfg.LR = ch.LR
	}
	res, err := train.Run(ctx, cfg, s.trainDir(u.ID), train.Options{Datasets: s.Datasets, Progress: progress})
	if err != nil {
		return nil, err
	}
	if cfg.Dataset != u.Target { // the planner chose a conversion (finetuneInput)
		from, _, err := s.Datasets.Load(u.Target)
		if err != nil {
			return nil, err
		}
		to, _, err := s.Datasets.Load(cfg.Dataset)
		if err != nil {
			return nil, err
		}
		if err := s.writeTargetInput(u, from.ExampleShape(), to.ExampleShape()); err != nil {
			return nil, err
		}
	}
	return []Metric{{"finetune_" + u.Target + "_top1", res.TestAccuracy}, {"finetune_" + u.Target + "_lr", cfg.LR}}, nil
}

// lrChoiceFile holds a finetune-lr unit's choice.
const lrChoiceFile = "choice.json"

// lrChoice is the outcome of choosing a target's fine-tuning rate.
type lrChoice struct {
	Target string `json:"target"`
	// LR is the chosen rate: the best validation accuracy, ties to the
	// smaller rate.
	LR         float64   `json:"lr"`
	LRs        []float64 `json:"lrs"`
	ValAcc     []float64 `json:"val_accuracy"` // per candidate
	ValN       int       `json:"val_examples"`
	TrainN     int       `json:"train_examples"`
	ModelUnit  string    `json:"model_unit"`
	Validation string    `json:"validation"`
}

// runFinetuneLR fine-tunes the reference model on the target's training
// subset without its validation split at each candidate rate (each run in
// its own folder, so an interrupted choice resumes), scores each on the
// validation split, and writes the choice.
func (s Store) runFinetuneLR(ctx context.Context, u *Unit, progress train.Progress) ([]Metric, error) {
	// The candidates train on HoldoutName(NAME, u.ValN), NAME the target
	// as the models read it (converted when its images differ; the planner
	// sets it): score them on its held-out part.
	name, ok := strings.CutSuffix(u.Config.Dataset, data.HoldoutName("", u.ValN))
	if !ok {
		return nil, fmt.Errorf("dataset %s is not a holdout of %d examples", u.Config.Dataset, u.ValN)
	}
	_, val, _, err := s.Datasets.Holdout(name, u.ValN)
	if err != nil {
		return nil, err
	}
	ch := lrChoice{Target: u.Target, LRs: u.LRs, ValN: u.ValN, TrainN: u.Config.TrainLimit, ModelUnit: u.Deps[0],
		Validation: fmt.Sprintf("%d examples of %s's training split held out (seed data.HoldoutSeed); the candidates train on the first %d of the rest", u.ValN, u.Target, u.Config.TrainLimit)}
	best := -1
	for i, lr := range u.LRs {
		cfg := *u.Config
		cfg.LR, cfg.InitFrom = lr, s.trainDir(u.Deps[0])
		dir := filepath.Join(s.UnitDir(u.ID), fmt.Sprintf("lr%d", i))
		if _, err := train.Run(ctx, cfg, dir, train.Options{Datasets: s.Datasets, Progress: progress}); err != nil {
			return nil, fmt.Errorf("fine-tuning at rate %g: %w", lr, err)
		}
		m, mcfg, err := train.LoadModel(dir, s.Datasets)
		if err != nil {
			return nil, err
		}
		z, err := train.Logits(m, mcfg, val)
		if err != nil {
			return nil, err
		}
		acc, err := metrics.Accuracy(z, val.Labels)
		if err != nil {
			return nil, err
		}
		ch.ValAcc = append(ch.ValAcc, acc)
		if best < 0 || acc > ch.ValAcc[best] || (acc == ch.ValAcc[best] && lr < u.LRs[best]) {
			best = i
		}
	}
	ch.LR = u.LRs[best]
	return nil, jsonfile.Write(filepath.Join(s.UnitDir(u.ID), lrChoiceFile), ch)
}

// corruptionSeed fixes the corrupted sets: every study corrupts the same
// way.
const corruptionSeed = 0x636f7272

func (s Store) runCorruptSet(u *Unit) ([]Metric, error) {
	_, te, err := s.Datasets.Load(u.Source)
	if err != nil {
		return nil, err
	}
	return nil, corrupt.WriteSet(filepath.Join(s.UnitDir(u.ID), "set"), te.Head(u.TestN), u.Corruptions, corruptionSeed, nil)
}

// accuracyOf is m's top-1 accuracy on ds.
func accuracyOf(m *nn.Model, cfg train.Config, ds *data.Dataset) (float64, error) {
	z, err := train.Logits(m, cfg, ds)
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
	_, te, err := s.Datasets.Load(setUnit.Source)
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
	mean, err := metrics.MeanCorruptedAccuracy(cells)
	if err != nil {
		return nil, err
	}
	ms = append(ms, Metric{"corrupted_mean_accuracy", mean})
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
	res := report.CKAResult{Spatial: represent.SpatialRule}
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
