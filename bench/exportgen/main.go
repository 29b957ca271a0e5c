// Command exportgen writes a synthetic set of exported models in the
// layout of docs/exported-models.md, to measure a study over exported
// models at scale ('losslab study --models DIR'; docs/exported-models.md,
// "Memory and time"). The arrays are random, with the label's logit and
// one penultimate unit per class raised so that accuracy, calibration and
// class separation are neither trivial nor degenerate:
//
//	go run ./bench/exportgen --out /tmp/exports --models 18 --n 50000 --k 1000 --d 2048
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/tensor"
)

func main() {
	out := flag.String("out", "exports", "models folder to write")
	models := flag.Int("models", 18, "number of models (objectives × seeds, objective-major)")
	seeds := flag.Int("seeds", 3, "seeds per objective")
	n := flag.Int("n", 50000, "test examples")
	k := flag.Int("k", 1000, "classes")
	d := flag.Int("d", 2048, "penultimate width")
	val := flag.Int("val", 10000, "validation examples (0: no validation split)")
	flag.Parse()
	if err := generate(*out, *models, *seeds, *n, *k, *d, *val); err != nil {
		fmt.Fprintln(os.Stderr, "exportgen:", err)
		os.Exit(1)
	}
}

var objectives = []string{"softmax", "label_smoothing", "sigmoid", "logit_penalty", "dropout", "cosine_softmax"}

func generate(out string, models, seeds, n, k, d, val int) error {
	labels := make([]int, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range labels {
		labels[i] = r.IntN(k)
	}
	for m := range models {
		obj, seed := objectives[(m/seeds)%len(objectives)], m%seeds+1
		if m/seeds >= len(objectives) {
			obj = fmt.Sprintf("%s_%d", obj, m/seeds/len(objectives))
		}
		dir := filepath.Join(out, fmt.Sprintf("%s-seed%d", obj, seed))
		if err := os.MkdirAll(filepath.Join(dir, "test"), 0o755); err != nil {
			return err
		}
		info, _ := json.Marshal(map[string]any{"objective": obj, "seed": seed, "architecture": "synthetic", "framework": "bench/exportgen"})
		if err := os.WriteFile(filepath.Join(dir, "model.json"), info, 0o644); err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(uint64(m), 2))
		if err := npy.WriteLabels(filepath.Join(dir, "test", "labels.npy"), labels); err != nil {
			return err
		}
		if err := npy.WriteMatrix(filepath.Join(dir, "test", "logits.npy"), logits(r, labels, k)); err != nil {
			return err
		}
		if err := npy.WriteMatrix(filepath.Join(dir, "test", "penultimate.npy"), features(r, labels, d)); err != nil {
			return err
		}
		if val > 0 {
			if err := os.MkdirAll(filepath.Join(dir, "val"), 0o755); err != nil {
				return err
			}
			vy := make([]int, val)
			for i := range vy {
				vy[i] = r.IntN(k)
			}
			if err := npy.WriteLabels(filepath.Join(dir, "val", "labels.npy"), vy); err != nil {
				return err
			}
			if err := npy.WriteMatrix(filepath.Join(dir, "val", "logits.npy"), logits(r, vy, k)); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", dir)
	}
	return nil
}

func logits(r *rand.Rand, labels []int, k int) *tensor.Tensor {
	z := tensor.New(len(labels), k)
	for i, y := range labels {
		row := z.Data[i*k : (i+1)*k]
		for c := range row {
			row[c] = float32(r.NormFloat64())
		}
		row[y] += 3
	}
	return z
}

func features(r *rand.Rand, labels []int, d int) *tensor.Tensor {
	f := tensor.New(len(labels), d)
	for i, y := range labels {
		row := f.Data[i*d : (i+1)*d]
		for j := range row {
			row[j] = float32(max(r.NormFloat64(), 0))
		}
		row[y%d] += 4
	}
	return f
}
