// Package study runs a study: every objective × seed of a spec trained by
// the train package into one study folder, then a summary table. It is the
// seed of the full planner (units, analyses, executors, report) and already
// keeps its two promises: unit ids are content-addressed from the resolved
// training config, and a finished unit is never redone or overwritten.
package study

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/train"
)

// Objective is one objective of a study with its hyperparameter overrides.
type Objective struct {
	Name   string             `json:"name"`
	Params map[string]float64 `json:"params,omitempty"`
}

// Spec is a study: the base training config, and the objectives and seeds
// to cross with it.
type Spec struct {
	Name       string       `json:"name"`
	Base       train.Config `json:"base"`
	Objectives []Objective  `json:"objectives"`
	Seeds      []uint64     `json:"seeds"`
}

// Default is the built-in study: mnist-cnn on the embedded MNIST, trained
// with each of the nine objectives at their default hyperparameters, two
// seeds each. It needs no network.
func Default() Spec {
	base := train.DefaultConfig("mnist", "mnist-cnn")
	base.Epochs = 2
	var objs []Objective
	for _, n := range objective.Names() {
		objs = append(objs, Objective{Name: n})
	}
	return Spec{Name: "default", Base: base, Objectives: objs, Seeds: []uint64{1, 2}}
}

// Quick shrinks s to a few minutes with the same shape: one epoch on the
// first 6,000 training and 2,000 test examples, and one seed.
func (s Spec) Quick() Spec {
	s.Name += "-quick"
	s.Base.Epochs = 1
	s.Base.WarmupEpochs = min(s.Base.WarmupEpochs, 0.5)
	s.Base.TrainLimit, s.Base.TestLimit = 6000, 2000
	s.Seeds = s.Seeds[:1]
	return s
}

// Unit is one training run of a study.
type Unit struct {
	ID     string // content address of the resolved config
	Config train.Config
}

// Units lists the study's training runs, objectives in spec order then
// seeds, each config validated.
func (s Spec) Units() ([]Unit, error) {
	if len(s.Objectives) == 0 || len(s.Seeds) == 0 {
		return nil, fmt.Errorf("study %s: needs at least one objective and one seed", s.Name)
	}
	var us []Unit
	for _, o := range s.Objectives {
		for _, seed := range s.Seeds {
			c := s.Base
			c.Objective, c.ObjectiveParams, c.Seed = o.Name, o.Params, seed
			c = c.Resolved()
			if err := c.Validate(); err != nil {
				return nil, fmt.Errorf("study %s, objective %s, seed %d: %w", s.Name, o.Name, seed, err)
			}
			us = append(us, Unit{ID: unitID(c), Config: c})
		}
	}
	return us, nil
}

// unitID hashes the config's JSON (keys in struct order, maps sorted), so the
// same run gets the same folder in every study that contains it.
func unitID(c train.Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	h := sha256.Sum256(b)
	return "train-" + strings.ReplaceAll(c.Objective, "+", "_") + "-" + hex.EncodeToString(h[:6])
}

// Row is one unit's result.
type Row struct {
	Unit   Unit
	Result *train.Result
}

// Run trains every unit of s under dir/runs (resuming or skipping finished
// ones) and writes dir/results.csv and dir/report.md. log receives one line
// per unit and the units' progress.
func Run(ctx context.Context, s Spec, dir string, log io.Writer) ([]Row, error) {
	units, err := s.Units()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	var rows []Row
	for i, u := range units {
		fmt.Fprintf(log, "[%d/%d] %s seed %d (%s)\n", i+1, len(units), u.Config.Objective, u.Config.Seed, u.ID)
		res, err := train.Run(ctx, u.Config, filepath.Join(dir, "runs", u.ID), train.NewTerminalProgress(log))
		if err != nil {
			return rows, fmt.Errorf("unit %s: %w", u.ID, err)
		}
		rows = append(rows, Row{u, res})
		if done := i + 1; done < len(units) {
			eta := time.Since(start) / time.Duration(done) * time.Duration(len(units)-done)
			fmt.Fprintf(log, "  test accuracy %.4f; %d/%d units done, about %s left\n", res.TestAccuracy, done, len(units), eta.Round(time.Second))
		}
	}
	if err := writeResults(dir, rows); err != nil {
		return rows, err
	}
	return rows, writeReport(dir, s, rows)
}

func writeResults(dir string, rows []Row) error {
	var b strings.Builder
	b.WriteString("unit,objective,seed,metric,value\n")
	for _, r := range rows {
		for _, m := range []struct {
			name string
			v    float64
		}{{"test_accuracy", r.Result.TestAccuracy}, {"test_loss", r.Result.TestLoss}} {
			fmt.Fprintf(&b, "%s,%s,%d,%s,%.17g\n", r.Unit.ID, r.Unit.Config.Objective, r.Unit.Config.Seed, m.name, m.v)
		}
	}
	return writeFileAtomic(filepath.Join(dir, "results.csv"), []byte(b.String()))
}

// meanSEM returns the mean and the standard error of the mean (sample
// standard deviation / √n; 0 for a single value).
func meanSEM(xs []float64) (mean, sem float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}

func writeReport(dir string, s Spec, rows []Row) error {
	acc := map[string][]float64{}
	loss := map[string][]float64{}
	var order []string
	for _, r := range rows {
		o := r.Unit.Config.Objective
		if _, ok := acc[o]; !ok {
			order = append(order, o)
		}
		acc[o] = append(acc[o], r.Result.TestAccuracy)
		loss[o] = append(loss[o], r.Result.TestLoss)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Study %s\n\n%s on %s, %d epochs, seeds %v.\n\n", s.Name, s.Base.Model, s.Base.Dataset, s.Base.Epochs, s.Seeds)
	b.WriteString("| objective | test top-1 (%) | test loss | seeds |\n|---|---|---|---|\n")
	sort.SliceStable(order, func(i, j int) bool { return order[i] < order[j] })
	for _, o := range order {
		ma, sa := meanSEM(acc[o])
		ml, sl := meanSEM(loss[o])
		fmt.Fprintf(&b, "| %s | %.2f ± %.2f | %.4f ± %.4f | %d |\n", o, 100*ma, 100*sa, ml, sl, len(acc[o]))
	}
	b.WriteString("\nMean ± standard error of the mean over seeds. The test loss is each run's own objective, so it is not comparable across objectives.\n")
	return writeFileAtomic(filepath.Join(dir, "report.md"), []byte(b.String()))
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder and a rename, so readers never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
