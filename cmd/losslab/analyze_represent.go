package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/losslab/losslab/represent"
	"github.com/losslab/losslab/tensor"
)

// This file holds `losslab analyze cka`, `analyze separation` and
// `analyze sparsity`.

func init() {
	analyzeKinds["cka"] = analyzeCKACmd
	analyzeKinds["separation"] = analyzeSeparationCmd
	analyzeKinds["sparsity"] = analyzeSparsityCmd
}

// ckaReport is the JSON of `analyze cka`.
type ckaReport struct {
	Linear     float64 `json:"linear"`
	Debiased   float64 `json:"debiased"`
	Examples   int     `json:"examples"`
	AFeatures  int     `json:"a_features"`
	BFeatures  int     `json:"b_features"`
	Definition string  `json:"definition"`

	Minibatch         *float64 `json:"minibatch,omitempty"`
	MinibatchSize     int      `json:"minibatch_size,omitempty"`
	MinibatchExamples int      `json:"minibatch_examples,omitempty"`
	MinibatchSeed     *uint64  `json:"minibatch_seed,omitempty"`
	MinibatchDef      string   `json:"minibatch_definition,omitempty"`
}

func analyzeCKACmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze cka", flag.ContinueOnError)
	a := fs.String("a", "", "first representation, a 2-D .npy file [examples, features] (flatten or pool spatial maps first)")
	b := fs.String("b", "", "second representation of the same examples, a 2-D .npy file")
	mb := fs.Int("minibatch", 0, "also report minibatch CKA over shuffled batches of this many examples (at least 4; 0: off)")
	seed := fs.Uint64("seed", 0, "seed of the minibatch shuffle")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("cka", fs, args); help || err != nil {
		return err
	}
	if *a == "" || *b == "" {
		return usageErrorf("analyze cka: --a and --b are required")
	}
	if *mb != 0 && *mb < 4 {
		return usageErrorf("analyze cka: --minibatch %d, want 0 (off) or at least 4", *mb)
	}
	x, err := loadMatrix("a", *a)
	if err != nil {
		return err
	}
	y, err := loadMatrix("b", *b)
	if err != nil {
		return err
	}
	if x.Shape[0] != y.Shape[0] {
		return fmt.Errorf("--a %s has %d rows, --b %s has %d; want the same examples", *a, x.Shape[0], *b, y.Shape[0])
	}
	if *mb > x.Shape[0] {
		return usageErrorf("analyze cka: --minibatch %d is more than the %d examples", *mb, x.Shape[0])
	}
	lin, err := represent.LinearCKA(x, y)
	if err != nil {
		return err
	}
	rep := ckaReport{
		Linear: lin, Examples: x.Shape[0], AFeatures: x.Shape[1], BFeatures: y.Shape[1],
		Definition: "linear: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X, Y; debiased: the same with unbiased HSIC (Song et al. 2012)",
	}
	if rep.Debiased, err = represent.DebiasedCKA(x, y); err != nil {
		return err
	}
	if *mb > 0 {
		v, used, err := represent.MinibatchLinearCKA(x, y, *mb, *seed)
		if err != nil {
			return err
		}
		rep.Minibatch, rep.MinibatchSize, rep.MinibatchExamples, rep.MinibatchSeed = &v, *mb, used, seed
		rep.MinibatchDef = "Nguyen et al. 2021: mean over batches of unbiased HSIC, normalised by the means of the self terms; rows shuffled by seed, the last n mod size rows unused"
	}
	if *asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "CKA over %d examples (%d vs %d features): linear %.4f, debiased %.4f\n",
		rep.Examples, rep.AFeatures, rep.BFeatures, rep.Linear, rep.Debiased)
	if rep.Minibatch != nil {
		fmt.Fprintf(w, "minibatch CKA (batches of %d, %d examples used): %.4f\n", *mb, rep.MinibatchExamples, *rep.Minibatch)
	}
	return nil
}

// separationReport is the JSON of `analyze separation`.
type separationReport struct {
	represent.SeparationResult
	Definition string `json:"definition"`
}

func analyzeSeparationCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze separation", flag.ContinueOnError)
	features := fs.String("features", "", "penultimate features, a 2-D .npy file [examples, features]")
	labels := fs.String("labels", "", "their labels, a 1-D integer .npy file")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("separation", fs, args); help || err != nil {
		return err
	}
	if *features == "" || *labels == "" {
		return usageErrorf("analyze separation: --features and --labels are required")
	}
	x, err := loadMatrix("features", *features)
	if err != nil {
		return err
	}
	y, err := loadLabels("labels", *labels, x.Shape[0], 0, *features)
	if err != nil {
		return err
	}
	r, err := represent.ClassSeparation(x, y)
	if err != nil {
		return err
	}
	rep := separationReport{r, "R^2 = 1 - d_within/d_total with cosine distance, self-pairs included, classes weighted equally " +
		"(d_within = 1 - mean_k ||mu_k||^2, d_total = 1 - ||mean_k mu_k||^2, mu_k the class mean of x/||x||; a zero vector has cosine 0 with everything)"}
	if *asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "class separation over %d examples, %d classes: R² %.4f (d_within %.4f, d_total %.4f; %d zero vectors)\n",
		r.Examples, r.Classes, r.R2, r.DWithin, r.DTotal, r.ZeroVectors)
	return nil
}

// sparsityReport is the JSON of `analyze sparsity`.
type sparsityReport struct {
	Files          []string  `json:"files"`
	ActiveFraction []float64 `json:"active_fraction"`
	Definition     string    `json:"definition"`
}

func analyzeSparsityCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze sparsity", flag.ContinueOnError)
	var paths pathList
	fs.Var(&paths, "features", "a layer's activations, a 2-D .npy file (repeatable)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("sparsity", fs, args); help || err != nil {
		return err
	}
	if len(paths) == 0 {
		return usageErrorf("analyze sparsity: --features is required")
	}
	layers := make([]*tensor.Tensor, len(paths))
	for i, p := range paths {
		x, err := loadMatrix("features", p)
		if err != nil {
			return err
		}
		layers[i] = x
	}
	acc := represent.NewActivity(len(layers))
	if err := acc.Add(layers); err != nil {
		return err
	}
	rep := sparsityReport{Files: paths, ActiveFraction: acc.Fractions(),
		Definition: "fraction of activations that are non-zero (post-ReLU: positive)"}
	if *asJSON {
		return writeJSON(w, rep)
	}
	for i, p := range paths {
		fmt.Fprintf(w, "%s: %.4f of activations non-zero\n", p, rep.ActiveFraction[i])
	}
	return nil
}
