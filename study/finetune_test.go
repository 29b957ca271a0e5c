package study

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/tensor"
	"github.com/losslab/losslab/train"
)

// testDatasets resolves the study tests' datasets: the catalogue's and
// mnist-reversed, a training dataset with MNIST's example shape but
// another task: the first digits with their labels reversed (9 − y).
var testDatasets = func() *data.Resolver {
	r := data.NewResolver()
	err := r.Add("mnist-reversed", func() (*data.Dataset, *data.Dataset, error) {
		tr, te, err := r.Load("mnist")
		if err != nil {
			return nil, nil, err
		}
		rev := func(d *data.Dataset, n int) *data.Dataset {
			h := *d.Head(n)
			h.Name = "mnist-reversed"
			h.Images = tensor.FromData(slices.Clone(h.Images.Data), h.Images.Shape...)
			h.Labels = slices.Clone(h.Labels)
			for i, y := range h.Labels {
				h.Labels[i] = 9 - y
			}
			return &h
		}
		return rev(tr, 400), rev(te, 200), nil
	})
	if err != nil {
		panic(err)
	}
	return r
}()

// TestFinetuneUnits plans and runs fine-tuning on a real target (a derived
// one is skipped with a note): one unit per pretrained model, softmax
// whatever the pretraining objective, started from the pretrained run's
// final weights, reported in results.csv and the report's transfer table.
func TestFinetuneUnits(t *testing.T) {
	s := tinySpec()
	s.Name = "ft"
	s.Objectives = []ObjectiveSpec{{Name: "softmax"}, {Name: "cosine_softmax"}}
	s.Seeds = []uint64{3}
	s.Transfer = []string{"mnist-parity", "mnist-reversed"}
	s.Corruptions = nil
	s.Analyses = []string{"finetune"}
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	var ft []Unit
	for _, u := range p.Units {
		if u.Kind == KindFinetune {
			ft = append(ft, u)
		}
	}
	if len(ft) != 4 {
		t.Fatalf("%d finetune units, want 4 (one per pretrained model and target, derived targets included)", len(ft))
	}
	for _, u := range ft {
		c := u.Config
		if c.Objective != "softmax" || c.Dataset != u.Target || c.Seed != 3 || c.InitFrom != "" ||
			c.Epochs != DefaultFinetuneEpochs || c.LR != DefaultFinetuneLR || c.TrainLimit != s.TransferTrain || c.TestLimit != s.TransferTest {
			t.Errorf("finetune unit %s config %+v", u.ID, c)
		}
		if dep := p.Unit(u.Deps[0]); dep == nil || dep.Kind != KindTrain || dep.Objective != u.Objective {
			t.Errorf("finetune unit %s depends on %v", u.ID, u.Deps)
		}
	}

	dir := t.TempDir()
	if _, err := Run(context.Background(), s, Options{Dir: dir, Datasets: testDatasets}); err != nil {
		t.Fatal(err)
	}
	res := readResults(t, dir)
	for _, target := range s.Transfer {
		if n := strings.Count(res, ",finetune_"+target+"_top1,"); n != 2 {
			t.Errorf("results.csv has %d finetune_%s_top1 rows, want 2:\n%s", n, target, res)
		}
	}
	st := Store{Dir: filepath.Join(dir, "units"), Datasets: testDatasets}
	for _, u := range ft {
		var cfg train.Config
		var src train.Result
		if err := jsonfile.Read(filepath.Join(st.trainDir(u.ID), train.ConfigFile), &cfg); err != nil {
			t.Fatal(err)
		}
		if err := jsonfile.Read(filepath.Join(st.trainDir(u.Deps[0]), train.MetricsFile), &src); err != nil {
			t.Fatal(err)
		}
		if cfg.InitFromSHA256 != src.ParamsSHA256 || cfg.InitFrom != st.trainDir(u.Deps[0]) {
			t.Errorf("finetune unit %s: init_from %s (%s); want the pretrained run %s (%s)", u.ID, cfg.InitFrom, cfg.InitFromSHA256, st.trainDir(u.Deps[0]), src.ParamsSHA256)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "fine-tuning mnist-reversed (%)") {
		t.Error("report.md lacks the fine-tuning column")
	}
	// The plan stored with the study reads back with the same units.
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	var stored Plan
	if err := json.Unmarshal(b, &stored); err != nil || len(stored.Units) != len(p.Units) {
		t.Errorf("stored plan: %v, %d units", err, len(stored.Units))
	}
}

// TestFinetuneTargets limits fine-tuning to the listed transfer targets and
// refuses a target that is not a transfer target.
func TestFinetuneTargets(t *testing.T) {
	s := tinySpec()
	s.Seeds, s.Corruptions = []uint64{3}, nil
	s.Transfer = []string{"mnist-parity", "mnist-reversed"}
	s.FinetuneTargets = []string{"mnist-reversed"}
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range p.Units {
		if u.Kind == KindFinetune {
			n++
			if u.Target != "mnist-reversed" {
				t.Errorf("fine-tuning unit on %s; finetune_targets lists only mnist-reversed", u.Target)
			}
		}
	}
	if n != len(p.TrainUnits()) {
		t.Errorf("%d fine-tuning units; want one per training run (%d)", n, len(p.TrainUnits()))
	}
	s.FinetuneTargets = []string{"fashion"}
	if _, err := NewPlan(s, testDatasets); err == nil || !strings.Contains(err.Error(), `finetune_targets lists "fashion"`) {
		t.Errorf("finetune_targets naming no transfer target: err = %v", err)
	}
}

// TestFinetuneRateChoice: finetune_min_steps raises the epochs of a small
// target; with finetune_lrs the reference model chooses the rate on a
// validation split (softmax, lowest seed), every fine-tuning unit trains
// at the chosen rate, and the choice is the candidate with the best
// validation accuracy.
func TestFinetuneRateChoice(t *testing.T) {
	s := tinySpec()
	s.Name = "ftlr"
	s.Objectives = []ObjectiveSpec{{Name: "softmax"}, {Name: "sigmoid"}}
	s.Seeds = []uint64{4, 3}
	s.Transfer = []string{"mnist-reversed"}
	s.Corruptions = nil
	s.Analyses = []string{"finetune"}
	s.TransferTrain = 100 // 2 steps of 64 per epoch
	s.FinetuneMinSteps = 5
	s.FinetuneLRs = []float64{1e-5, 0.05}
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	var chooser *Unit
	var ft []Unit
	for i, u := range p.Units {
		switch u.Kind {
		case KindFinetuneLR:
			chooser = &p.Units[i]
		case KindFinetune:
			ft = append(ft, u)
		}
	}
	if chooser == nil || len(ft) != 4 {
		t.Fatalf("chooser %v, %d fine-tuning units; want one chooser and 4 units", chooser != nil, len(ft))
	}
	ref := p.Unit(chooser.Deps[0])
	if ref.Objective != "softmax" || ref.Seed != 3 {
		t.Errorf("the rate is chosen with %s seed %d; want softmax seed 3", ref.Objective, ref.Seed)
	}
	// 100 examples, 20 held out: 80 → 2 steps per epoch → 3 epochs ≥ 5 steps.
	if c := chooser.Config; chooser.ValN != 20 || c.TrainLimit != 80 || c.Epochs != 3 || c.Dataset != "mnist-reversed:holdout20" {
		t.Errorf("chooser: %d validation examples, config %+v", chooser.ValN, c)
	}
	for _, u := range ft {
		if u.Config.Epochs != 3 || u.Config.LR != 0 || len(u.Deps) != 2 || u.Deps[1] != chooser.ID {
			t.Errorf("fine-tuning unit %s: %d epochs, lr %v, deps %v", u.ID, u.Config.Epochs, u.Config.LR, u.Deps)
		}
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), s, Options{Dir: dir, Datasets: testDatasets}); err != nil {
		t.Fatal(err)
	}
	st := Store{Dir: filepath.Join(dir, "units"), Datasets: testDatasets}
	var ch lrChoice
	if err := jsonfile.Read(filepath.Join(st.UnitDir(chooser.ID), lrChoiceFile), &ch); err != nil {
		t.Fatal(err)
	}
	if len(ch.ValAcc) != 2 || ch.LR != 0.05 || !(ch.ValAcc[1] > ch.ValAcc[0]) {
		// A rate of 1e-5 barely moves the fresh head: chance accuracy.
		t.Errorf("choice %+v; want 0.05 chosen, with the better validation accuracy", ch)
	}
	for _, u := range ft {
		var cfg train.Config
		if err := jsonfile.Read(filepath.Join(st.trainDir(u.ID), train.ConfigFile), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.LR != ch.LR {
			t.Errorf("fine-tuning unit %s trained at %v; the choice was %v", u.ID, cfg.LR, ch.LR)
		}
	}
	if res := readResults(t, dir); strings.Count(res, ",finetune_mnist-reversed_lr,0.05") != 4 {
		t.Errorf("results.csv lacks the rate of every fine-tuning unit:\n%s", res)
	}
}
