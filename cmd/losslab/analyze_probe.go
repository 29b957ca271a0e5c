package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/losslab/losslab/probe"
)

// This file holds `losslab analyze probe` (linear probe) and `analyze knn`.

func init() {
	analyzeKinds["probe"] = analyzeProbeCmd
	analyzeKinds["knn"] = analyzeKNNCmd
}

// probeInputs are the flags both probes share.
type probeInputs struct {
	trainX, trainY, testX, testY string
}

func (p *probeInputs) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&p.trainX, "train-features", "", "training features, a 2-D .npy file [examples, features]")
	fs.StringVar(&p.trainY, "train-labels", "", "training labels, a 1-D integer .npy file")
	fs.StringVar(&p.testX, "test-features", "", "test features, a 2-D .npy file with the same number of columns")
	fs.StringVar(&p.testY, "test-labels", "", "test labels, a 1-D integer .npy file")
}

// loadSet reads one labelled set; labels must be non-negative class
// indices, and dim > 0 fixes the number of columns.
func loadSet(xFlag, xPath, yFlag, yPath string, dim int) (probe.Data, error) {
	x, err := loadMatrix(xFlag, xPath)
	if err != nil {
		return probe.Data{}, err
	}
	if dim > 0 && x.Shape[1] != dim {
		return probe.Data{}, fmt.Errorf("--%s %s has %d columns, --train-features has %d", xFlag, xPath, x.Shape[1], dim)
	}
	y, err := loadLabels(yFlag, yPath, x.Shape[0], 0, xPath)
	if err != nil {
		return probe.Data{}, err
	}
	return probe.Data{X: x, Y: y}, nil
}

// load reads the training and test sets.
func (p *probeInputs) load(kind string) (train, test probe.Data, err error) {
	if p.trainX == "" || p.trainY == "" || p.testX == "" || p.testY == "" {
		return train, test, usageErrorf("analyze %s: --train-features, --train-labels, --test-features and --test-labels are required", kind)
	}
	if train, err = loadSet("train-features", p.trainX, "train-labels", p.trainY, 0); err != nil {
		return
	}
	test, err = loadSet("test-features", p.testX, "test-labels", p.testY, train.X.Shape[1])
	return
}

// lambdaList parses a comma-separated list of positive numbers.
func lambdaList(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0) {
			return nil, fmt.Errorf("--lambdas: %q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// probeReport is the JSON of `analyze probe`.
type probeReport struct {
	probe.Result
	Seed    uint64  `json:"seed"`
	Seconds float64 `json:"seconds"`
}

func analyzeProbeCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze probe", flag.ContinueOnError)
	var in probeInputs
	in.addFlags(fs)
	valFrac := fs.Float64("val-fraction", 0.2, "fraction of the training set held out to choose lambda")
	valX := fs.String("val-features", "", "explicit validation features (optional; replaces --val-fraction)")
	valY := fs.String("val-labels", "", "labels of --val-features")
	seed := fs.Uint64("seed", 0, "seed of the validation split")
	lambdas := fs.String("lambdas", "", "comma-separated lambda grid (default 8 values 1e-6..1e1)")
	refine := fs.Int("refine", 2, "points added between the best lambda and each grid neighbour (0: none)")
	gradTol := fs.Float64("grad-tol", 1e-5, "stop each fit when the gradient's largest component is at most this")
	maxIter := fs.Int("max-iter", 1000, "L-BFGS iterations per fit at most")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("probe", fs, args); help || err != nil {
		return err
	}
	if (*valX == "") != (*valY == "") {
		return usageErrorf("analyze probe: --val-features and --val-labels go together")
	}
	if !(*valFrac > 0 && *valFrac < 1) {
		return usageErrorf("analyze probe: --val-fraction %v, want a value in (0, 1)", *valFrac)
	}
	if *refine < 0 || !(*gradTol > 0) || *maxIter < 1 {
		return usageErrorf("analyze probe: want --refine ≥ 0, --grad-tol > 0 and --max-iter ≥ 1")
	}
	grid, err := lambdaList(*lambdas)
	if err != nil {
		return usageErrorf("analyze probe: %v", err)
	}
	train, test, err := in.load("probe")
	if err != nil {
		return err
	}
	cfg := probe.Config{Lambdas: grid, RefineSteps: *refine, ValFraction: *valFrac, Seed: *seed,
		Fit: probe.FitOptions{GradTol: *gradTol, MaxIter: *maxIter}}
	if *refine == 0 {
		cfg.RefineSteps = -1
	}
	if *valX != "" {
		val, err := loadSet("val-features", *valX, "val-labels", *valY, train.X.Shape[1])
		if err != nil {
			return err
		}
		cfg.Validation = &val
	}
	start := time.Now()
	r, err := probe.LinearProbe(train, test, cfg)
	if err != nil {
		return err
	}
	rep := probeReport{Result: r, Seed: *seed, Seconds: time.Since(start).Seconds()}
	if *asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "linear probe: test accuracy %.4f, mean per-class %.4f, lambda %.3g (validation accuracy %.4f, %d fits, %.1fs)\n",
		r.Accuracy, r.MeanPerClassAccuracy, r.Lambda, r.ValAccuracy, len(r.Search)+1, rep.Seconds)
	return nil
}

func analyzeKNNCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze knn", flag.ContinueOnError)
	var in probeInputs
	in.addFlags(fs)
	k := fs.Int("k", probe.DefaultK, "number of neighbours")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("knn", fs, args); help || err != nil {
		return err
	}
	if *k < 1 {
		return usageErrorf("analyze knn: --k %d, want at least 1", *k)
	}
	train, test, err := in.load("knn")
	if err != nil {
		return err
	}
	r, err := probe.KNN(train, test, *k)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "k-NN probe (k=%d, cosine): test accuracy %.4f, mean per-class %.4f\n", r.K, r.Accuracy, r.MeanPerClassAccuracy)
	return nil
}
