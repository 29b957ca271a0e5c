package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/train"
)

// parseTrain parses a `losslab train` command line and resolves its config.
func parseTrain(t *testing.T, args ...string) error {
	t.Helper()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &trainOptions{}
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := resolveTrainConfig(o)
	return err
}

func TestTrainPresetAndOverrides(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	o := &trainOptions{}
	o.AddFlags(fs)
	args := []string{"--preset", "cifar", "--dataset", "mnist", "--lr", "0.05", "--objective", "logit_normalization",
		"--set", "epochs=3", "--set", "mixup=0.2", "--set", "augment=crop", "--set", "tau=0.5", "--set", "nesterov=false", "--set", "momentum=0"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolveTrainConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	// From the flags and --set: dataset, lr, objective, epochs, mixup,
	// augment, tau, nesterov, momentum. From the cifar preset: the rest.
	if cfg.Dataset != "mnist" || cfg.LR != 0.05 || cfg.Objective != "logit_normalization" || cfg.Epochs != 3 ||
		cfg.Mixup != 0.2 || cfg.Augment != "crop" || cfg.ObjectiveParams["tau"] != 0.5 || cfg.Nesterov || cfg.Momentum != 0 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if cfg.Model != "resnet20" || cfg.Preset != "cifar" || cfg.WarmupEpochs != 0 {
		t.Errorf("preset fields not kept: %+v", cfg)
	}
	// A flag left at its (mnist) default does not override the preset: the
	// cifar preset's 128 batch and 5e-4 weight decay equal the mnist ones,
	// but its 200 epochs and no warmup do not.
	fs = flag.NewFlagSet("train", flag.ContinueOnError)
	o = &trainOptions{}
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--preset", "cifar", "--dataset", "mnist"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err = resolveTrainConfig(o); err != nil {
		t.Fatal(err)
	}
	if cfg.Epochs != 200 || cfg.WarmupEpochs != 0 || cfg.Augment != "crop-flip" {
		t.Errorf("unset flags overrode the preset: %+v", cfg)
	}
}

func TestTrainSetErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of the error
	}{
		{[]string{"--set", "bogus=1"}, []string{"bogus", "epochs", "mixup"}},                                 // neither kind: both sets listed
		{[]string{"--objective", "logit_normalization", "--set", "bogus=1"}, []string{"bogus", "tau", "lr"}}, // the objective's keys too
		{[]string{"--set", "epochs=many"}, []string{"epochs"}},
		{[]string{"--set", "mixup=-1"}, []string{"mixup"}},
		{[]string{"--set", "augment=crop+blur"}, []string{"augment", "blur"}},
		{[]string{"--objective", "label_smoothing", "--set", "alpha=2"}, []string{"alpha"}},
		{[]string{"--preset", "cifar100"}, []string{"preset", "paper-imagenet"}},
		{[]string{"--augment", "sideways"}, []string{"augment"}},
	}
	for _, c := range cases {
		err := parseTrain(t, c.args...)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", c.args, err, w)
			}
		}
	}
	if err := parseTrain(t, "--objective", "logit_normalization", "--set", "tau=0.5", "--augment", "crop", "--mixup", "0.2"); err != nil {
		t.Errorf("valid command line: %v", err)
	}
}

func TestTrainInitFrom(t *testing.T) {
	src := t.TempDir()
	sha := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(src, train.MetricsFile), []byte(`{"params_sha256":"`+sha+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--dataset", "fashion-mnist", "--init-from", src},
		{"--dataset", "fashion-mnist", "--set", "init_from=" + src},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		o := &trainOptions{}
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := resolveTrainConfig(o)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if cfg.InitFrom != src || cfg.InitFromSHA256 != sha {
			t.Errorf("%v: init_from %q, init_from_sha256 %q; want %q, the source's params_sha256", args, cfg.InitFrom, cfg.InitFromSHA256, src)
		}
	}
	if err := parseTrain(t, "--init-from", t.TempDir()); err == nil || !strings.Contains(err.Error(), "init_from") {
		t.Errorf("--init-from of an empty folder: %v; want an error naming init_from", err)
	}
}
