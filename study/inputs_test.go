package study

import (
	"slices"
	"strings"
	"testing"
)

const inputsSpec = `
name: inputs
dataset: mnist
model: mlp
recipe: {epochs: 1, train_limit: 256}
objectives:
  - name: softmax
  - name: label_smoothing
  - name: label_smoothing+logit_penalty
seeds: [1, 2]
inputs:
  - name: mixup
    recipe: {mixup: 0.2}
    objectives: [softmax, label_smoothing]
  - name: autoaugment
    recipe: {augment: autoaugment-cifar10}
analyses: [probe]
`

// An inputs axis parses, crosses each input with the objectives it lists,
// labels its runs input=NAME, and trains them with the input's recipe.
func TestInputsAxisPlans(t *testing.T) {
	s, err := ParseSpec("inputs.yaml", []byte(inputsSpec))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, u := range p.TrainUnits() {
		label := u.Objective + " | " + u.Hyper
		got[label]++
		mixup := strings.HasSuffix(u.Hyper, "input=mixup")
		auto := strings.HasSuffix(u.Hyper, "input=autoaugment")
		if (u.Config.Mixup == 0.2) != mixup || (u.Config.Augment == "autoaugment-cifar10") != auto {
			t.Errorf("%s: mixup %v, augment %q", label, u.Config.Mixup, u.Config.Augment)
		}
	}
	// 3 plain variants + 2 with mixup + 3 with AutoAugment, 2 seeds each.
	if len(got) != 8 || len(p.TrainUnits()) != 16 {
		t.Errorf("training variants %v; want 8 variants × 2 seeds", got)
	}
	for _, want := range []string{"softmax | input=mixup", "label_smoothing | alpha=0.1 rescale=1 input=mixup", "label_smoothing+logit_penalty | alpha=0.1 beta=0.0006 rescale=1 input=autoaugment"} {
		if got[want] != 2 {
			t.Errorf("variant %q planned %d times; want 2 (have %v)", want, got[want], got)
		}
	}
	if got["label_smoothing+logit_penalty | alpha=0.1 beta=0.0006 rescale=1 input=mixup"] != 0 {
		t.Error("mixup was crossed with an objective it does not list")
	}
}

// Adding an input value reuses every unit of the plain variants: the
// plain runs' ids do not change.
func TestInputsAxisReusesUnits(t *testing.T) {
	s, err := ParseSpec("inputs.yaml", []byte(inputsSpec))
	if err != nil {
		t.Fatal(err)
	}
	withInputs := ids(t, s)
	s.Inputs = nil
	plain := ids(t, s)
	var kept int
	for _, id := range plain {
		if slices.Contains(withInputs, id) {
			kept++
		}
	}
	// Every unit but the cross-model ones (CKA, predictions) is kept; the
	// probe-only spec has none of those.
	if kept != len(plain) {
		t.Errorf("%d of the %d plain units are reused after adding inputs", kept, len(plain))
	}
	s2, _ := ParseSpec("inputs.yaml", []byte(inputsSpec))
	s2.Inputs = s2.Inputs[:1]
	oneInput := ids(t, s2)
	for _, id := range oneInput {
		if !slices.Contains(withInputs, id) {
			t.Errorf("unit %s of the one-input study is not in the two-input study", id)
		}
	}
}

func TestInputsAxisErrors(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{"recipe: {mixup: 0.2}\n    objectives: [sigmoid]", `lists objective "sigmoid"`},
		{"recipe: {mixupp: 0.2}", `unknown recipe key "mixupp"`},
		{"recipe: {}", "empty recipe"},
		{"recipe: {seed: 3}", "set by the study"},
	} {
		spec := strings.Replace(inputsSpec, "recipe: {mixup: 0.2}\n    objectives: [softmax, label_smoothing]", tc.edit, 1)
		_, err := ParseSpec("inputs.yaml", []byte(spec))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want %q", tc.edit, err, tc.want)
		}
	}
	dup := strings.Replace(inputsSpec, "name: autoaugment", "name: mixup", 1)
	if _, err := ParseSpec("inputs.yaml", []byte(dup)); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate input: err = %v", err)
	}
	noop := strings.Replace(inputsSpec, "recipe: {mixup: 0.2}", "recipe: {mixup: 0}", 1)
	s, err := ParseSpec("inputs.yaml", []byte(noop))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlan(s, testDatasets); err == nil || !strings.Contains(err.Error(), "changes nothing") {
		t.Errorf("an input that changes nothing: err = %v", err)
	}
}
