package study

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/tensor"
	"github.com/losslab/losslab/train"
)

// stripes makes a generated dataset of n train and n/2 test images of
// shape [h, w, c], three classes: class k has a bright horizontal band in
// the k-th third of the image, over uniform noise; norm is recorded with
// it as a loader would.
func stripes(name string, n, h, w, c int, norm data.Normalization) (train, test *data.Dataset) {
	rng := rand.New(rand.NewPCG(uint64(h), uint64(c)))
	mk := func(split string, n int) *data.Dataset {
		img := tensor.New(n, h, w, c)
		labels := make([]int, n)
		per := h * w * c
		for i := range n {
			k := i % 3
			labels[i] = k
			for p := range per {
				y, ch := p/(w*c), p%c
				v := 0.3 * rng.Float64()
				if y*3/h == k {
					v += 0.6
				}
				m, s := norm.Mean[0], norm.Std[0]
				if len(norm.Mean) > 1 {
					m, s = norm.Mean[ch], norm.Std[ch]
				}
				img.Data[i*per+p] = float32((v - m) / s)
			}
		}
		return &data.Dataset{Name: name, Split: split, Images: img, Labels: labels, NumClasses: 3, Norm: norm}
	}
	return mk("train", n), mk("test", n/2)
}

// resizeDatasets resolves the catalogue's datasets and three generated
// transfer targets whose images are not MNIST's 28×28×1: digits8 (8×8
// grey), rgb32 (32×32 RGB, per-channel normalisation) and two8 (8×8 with
// two channels, which has no conversion).
func resizeDatasets(t *testing.T) *data.Resolver {
	r := data.NewResolver()
	for _, f := range []struct {
		name    string
		h, w, c int
		norm    data.Normalization
	}{
		{"digits8", 8, 8, 1, data.Identity},
		{"rgb32", 32, 32, 3, data.Normalization{Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.25, 0.2, 0.3}}},
		{"two8", 8, 8, 2, data.Identity},
	} {
		err := r.Add(f.name, func() (*data.Dataset, *data.Dataset, error) {
			tr, te := stripes(f.name, 90, f.h, f.w, f.c, f.norm)
			return tr, te, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestTransferTargetsOfOtherShapes transfer-probes and fine-tunes a
// 28×28×1 MNIST model on an 8×8×1 target and on a 32×32×3 target: the
// targets are converted to 28×28×1 (resized bicubically; RGB → grey), the
// rate is chosen on the converted target, the units record what was done,
// and the report says it. A 2-channel target is refused with its shape.
func TestTransferTargetsOfOtherShapes(t *testing.T) {
	datasets := resizeDatasets(t)
	s := tinySpec()
	s.Name = "resize"
	s.Objectives = []ObjectiveSpec{{Name: "softmax"}}
	s.Seeds = []uint64{3}
	s.Recipe["train_limit"], s.Recipe["test_limit"] = 128, 64
	s.Holdout = 50
	s.Transfer = []string{"digits8", "rgb32", "two8"}
	s.TransferTrain, s.TransferTest = 60, 30
	s.Corruptions = nil
	s.Analyses = []string{"probe", "knn", "finetune"}
	s.FinetuneLRs = []float64{0.01, 0.05}
	p, err := NewPlan(s, datasets)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"digits8": "digits8@28x28x1", "rgb32": "rgb32@28x28x1"}
	var transfer []string
	for _, u := range p.Units {
		switch u.Kind {
		case KindTransfer:
			transfer = append(transfer, u.Target)
		case KindFinetune:
			if u.Config.Dataset != want[u.Target] {
				t.Errorf("fine-tuning on %s reads dataset %s; want %s", u.Target, u.Config.Dataset, want[u.Target])
			}
		case KindFinetuneLR:
			if h := data.HoldoutName(want[u.Target], u.ValN); u.Config.Dataset != h {
				t.Errorf("the rate for %s is chosen on %s; want %s", u.Target, u.Config.Dataset, h)
			}
		}
	}
	if !slices.Equal(transfer, []string{"digits8", "rgb32", "two8"}) {
		t.Errorf("transfer units on %v", transfer)
	}
	if !slices.ContainsFunc(p.Notes, func(n string) bool {
		return strings.Contains(n, "finetune: transfer target two8 has examples [8 8 2]; the model takes [28 28 1]")
	}) {
		t.Errorf("no note skipping fine-tuning on two8: %q", p.Notes)
	}

	dir := t.TempDir()
	_, err = Run(context.Background(), s, Options{Dir: dir, Datasets: datasets})
	if err == nil || !strings.Contains(err.Error(), "1 unit(s) failed") ||
		!strings.Contains(err.Error(), "transfer target two8 has examples [8 8 2]; the model takes [28 28 1]") {
		t.Fatalf("the study ran with err = %v; want only the two8 probe to fail, naming its shape", err)
	}
	res := readResults(t, dir)
	for _, target := range []string{"digits8", "rgb32"} {
		for _, m := range []string{"probe_", "knn_", "finetune_"} {
			if !strings.Contains(res, ","+m+target+"_top1,") {
				t.Errorf("results.csv lacks %s%s_top1", m, target)
			}
		}
	}
	st := Store{Dir: filepath.Join(dir, "units"), Datasets: datasets}
	wantInput := map[string]report.TargetInput{
		"digits8": {Target: "digits8", From: []int{8, 8, 1}, To: []int{28, 28, 1},
			Preprocessing: "resized from 8×8 to 28×28 with bicubic interpolation (Keys a = −0.5, antialiased when downsampling, half-pixel centres: PIL's BICUBIC)"},
		"rgb32": {Target: "rgb32", From: []int{32, 32, 3}, To: []int{28, 28, 1},
			Preprocessing: "resized from 32×32 to 28×28 with bicubic interpolation (Keys a = −0.5, antialiased when downsampling, half-pixel centres: PIL's BICUBIC), RGB → grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B)"},
	}
	for _, u := range p.Units {
		if (u.Kind != KindTransfer && u.Kind != KindFinetune) || u.Target == "two8" {
			continue
		}
		var in report.TargetInput
		if err := jsonfile.Read(filepath.Join(st.UnitDir(u.ID), targetInputFile), &in); err != nil {
			t.Errorf("%s unit on %s: %v", u.Kind, u.Target, err)
			continue
		}
		w := wantInput[u.Target]
		if in.Target != w.Target || !slices.Equal(in.From, w.From) || !slices.Equal(in.To, w.To) || in.Preprocessing != w.Preprocessing {
			t.Errorf("%s unit on %s recorded %+v; want %+v", u.Kind, u.Target, in, w)
		}
		if u.Kind == KindFinetune {
			var cfg train.Config
			if err := jsonfile.Read(filepath.Join(st.trainDir(u.ID), train.ConfigFile), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Dataset != want[u.Target] || cfg.LR != 0.01 && cfg.LR != 0.05 {
				t.Errorf("fine-tuning on %s ran on %s at rate %v", u.Target, cfg.Dataset, cfg.LR)
			}
		}
	}
	an, err := report.ReadAnalyses(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(an.TargetInputs) != 2 || an.TargetInputs[0].Target != "digits8" || an.TargetInputs[1].Target != "rgb32" {
		t.Errorf("analyses.json target inputs %+v; want digits8 and rgb32 once each", an.TargetInputs)
	}
	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Target digits8 has 8×8×1 images: resized from 8×8 to 28×28 with bicubic interpolation (Keys a = −0.5",
		"Target rgb32 has 32×32×3 images: resized from 32×32 to 28×28 with bicubic interpolation",
		"RGB → grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), to the pretrained models' input 28×28×1.",
	} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	if strings.Contains(string(md), "Target mnist") {
		t.Error("report.md describes a conversion of a target that needed none")
	}
}

func TestModelInput(t *testing.T) {
	for _, tc := range []struct {
		have, want []int
		name, err  string
	}{
		{[]int{28, 28, 1}, []int{28, 28, 1}, "t", ""},
		{[]int{8, 8, 1}, []int{28, 28, 1}, "t@28x28x1", ""},
		{[]int{28, 28, 1}, []int{32, 32, 3}, "t@32x32x3", ""},
		{[]int{32, 32, 3}, []int{28, 28, 1}, "t@28x28x1", ""},
		{[]int{8, 8, 2}, []int{28, 28, 1}, "", "transfer target t has examples [8 8 2]; the model takes [28 28 1]"},
		{[]int{28, 28, 4}, []int{28, 28, 3}, "", "transfer target t has examples [28 28 4]; the model takes [28 28 3]"},
		{[]int{784}, []int{28, 28, 1}, "", "transfer target t has examples [784]; the model takes [28 28 1]"},
	} {
		name, err := modelInput("t", tc.have, tc.want)
		if name != tc.name || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v → %v: %q, %v; want %q, %q", tc.have, tc.want, name, err, tc.name, tc.err)
		}
	}
}

// TestGreyTargetOfRGBModel transfers a model pretrained on 32×32 RGB
// images to an 8×8 grey target: resized and replicated into R, G and B,
// for the probe and for fine-tuning alike.
func TestGreyTargetOfRGBModel(t *testing.T) {
	datasets := resizeDatasets(t)
	s := tinySpec()
	s.Name = "rgbmodel"
	s.Dataset, s.Holdout = "rgb32", 20
	s.Objectives = []ObjectiveSpec{{Name: "softmax"}}
	s.Seeds = []uint64{5}
	s.Transfer = []string{"digits8"}
	s.TransferTrain, s.TransferTest = 60, 30
	s.Corruptions = nil
	s.Analyses = []string{"probe", "finetune"}
	dir := t.TempDir()
	p, err := Run(context.Background(), s, Options{Dir: dir, Datasets: datasets})
	if err != nil {
		t.Fatal(err)
	}
	res := readResults(t, dir)
	for _, m := range []string{"probe_digits8_top1", "finetune_digits8_top1"} {
		if !strings.Contains(res, ","+m+",") {
			t.Errorf("results.csv lacks %s", m)
		}
	}
	st := Store{Dir: filepath.Join(dir, "units"), Datasets: datasets}
	for _, u := range p.Units {
		if u.Kind != KindFinetune {
			continue
		}
		var cfg train.Config
		if err := jsonfile.Read(filepath.Join(st.trainDir(u.ID), train.ConfigFile), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Dataset != "digits8@32x32x3" {
			t.Errorf("fine-tuned on %s; want digits8@32x32x3", cfg.Dataset)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "Target digits8 has 8×8×1 images: resized from 8×8 to 32×32 with bicubic interpolation (Keys a = −0.5, antialiased when downsampling, half-pixel centres: PIL's BICUBIC), grey → RGB by replication, to the pretrained models' input 32×32×3."
	if !strings.Contains(string(md), want) {
		t.Errorf("report.md lacks %q", want)
	}
}
