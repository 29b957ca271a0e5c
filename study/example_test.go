package study_test

import (
	"fmt"
	"log"

	"github.com/losslab/losslab/study"
)

const specYAML = `
name: mnist-sweep
dataset: mnist-lower
model: mnist-cnn
recipe:
  epochs: 2
  lr: 0.05
holdout: 1000
objectives:
  - name: softmax
  - name: label_smoothing
    params: {alpha: 0.2}
  - name: cosine_softmax
    sweep:
      tau: [0.03, 0.05, 0.1]
seeds: [1, 2, 3]
transfer: [mnist-upper]
analyses: [calibration, probe, knn]
`

// ParseSpec reads a study from YAML (or JSON) and validates it; Quick
// shrinks it to a few minutes with the same objectives and analyses.
func ExampleParseSpec() {
	s, err := study.ParseSpec("mnist-sweep.yaml", []byte(specYAML))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("study:", s.Name, "on", s.Dataset, "with", s.Model)
	fmt.Println("recipe:", s.Recipe)
	for _, o := range s.Objectives {
		fmt.Println("objective:", o.Name, o.Params, o.Sweep)
	}
	fmt.Println("seeds:", s.Seeds, "transfer:", s.Transfer, "analyses:", s.Analyses)

	q := s.Quick()
	fmt.Println("quick:", q.Name, "seeds", q.Seeds, "holdout", q.Holdout, "recipe", q.Recipe)

	// Unknown keys are errors that name their line.
	_, err = study.ParseSpec("typo.yaml", []byte("name: x\ndataset: mnist\nmodel: mnist-cnn\nseed: [1]\n"))
	fmt.Println(err)
	// Output:
	// study: mnist-sweep on mnist-lower with mnist-cnn
	// recipe: map[epochs:2 lr:0.05]
	// objective: softmax map[] map[]
	// objective: label_smoothing map[alpha:0.2] map[]
	// objective: cosine_softmax map[] map[tau:[0.03 0.05 0.1]]
	// seeds: [1 2 3] transfer: [mnist-upper] analyses: [calibration probe knn]
	// quick: mnist-sweep-quick seeds [1 2] holdout 1000 recipe map[epochs:1 lr:0.05 test_limit:2000 train_limit:4000 warmup_epochs:0.5]
	// typo.yaml: yaml: unmarshal errors:
	//   line 4: field seed not found in type study.Spec
}
