package study

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExampleSpecsParse reads every spec shipped in examples/: each must
// parse with every key known, and plan where its datasets need no files.
func TestExampleSpecsParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example specs in examples/; want at least cifar10, cifar10-halves and imagenet-resnet50", len(files))
	}
	for _, f := range files {
		s, err := LoadSpec(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(s.Seeds) < 3 && !strings.Contains(f, "halves") {
			t.Errorf("%s: %d seeds; the full examples run at least 3", f, len(s.Seeds))
		}
		if s.Dataset == "cifar10" {
			// Planning needs no data: missing targets become notes.
			if _, err := NewPlan(s, testDatasets); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// TestBuiltinStudies: every built-in study validates and plans (datasets
// that are absent become notes), an unknown name lists the known ones, and
// the coarse study is in the regime it promises: pretraining on digit
// pairs, transfer to the ten digits, a τ sweep of at least four values.
func TestBuiltinStudies(t *testing.T) {
	for _, name := range BuiltinNames() {
		s, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != name {
			t.Errorf("built-in %s is named %q", name, s.Name)
		}
		if _, err := NewPlan(s, testDatasets); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	if _, err := Builtin("defualt"); err == nil || !strings.Contains(err.Error(), "coarse") || !strings.Contains(err.Error(), "default") {
		t.Errorf("unknown built-in: err = %v", err)
	}
	c, err := Builtin("coarse")
	if err != nil {
		t.Fatal(err)
	}
	var taus []float64
	for _, o := range c.Objectives {
		if o.Name == "cosine_softmax" {
			taus = o.Sweep["tau"]
		}
	}
	if c.Dataset != "mnist-pairs" || !slices.Contains(c.Transfer, "mnist") || len(taus) < 4 || len(c.FinetuneLRs) < 2 || c.FinetuneMinSteps <= 0 {
		t.Errorf("coarse study: %+v", c)
	}
}
