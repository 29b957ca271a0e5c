package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/objective"
)

// stripesDataset is a synthetic transfer target of 8×8 images with c
// channels and 3 classes whose classes light columns (the "tiny" source
// lights rows; barsSplit).
func stripesDataset(c int) data.Loader {
	return func() (train, test *data.Dataset, err error) {
		return barsSplit("stripes", "train", 96, 3, c, true, 3, 11), barsSplit("stripes", "test", 48, 3, c, true, 4, 11), nil
	}
}

// sourceConfig pretrains resnet20 (BatchNorm buffers, so that they are
// checked to transfer) on tiny for one short epoch, with weight averaging
// (the transferred weights are the averages) and a cosine-softmax head
// (which the transfer drops).
func sourceConfig() Config {
	c := DefaultConfig("tiny", "resnet20")
	c.Objective = "cosine_softmax"
	c.Epochs, c.BatchSize, c.TrainLimit, c.TestLimit = 1, 16, 48, 32
	c.EMADecay = 0.9
	c.Threads = 2
	c.CheckpointEvery = 0
	return c
}

// fineTuneConfig fine-tunes src on stripes with softmax for one epoch.
func fineTuneConfig(src string) Config {
	c := DefaultConfig("stripes", "resnet20")
	c.Epochs, c.BatchSize, c.TrainLimit, c.TestLimit = 2, 16, 48, 32
	c.WarmupEpochs = 0
	c.Threads = 2
	c.CheckpointEvery = 0
	c.InitFrom = src
	return c
}

func TestFineTuneCopiesBodyAndKeepsFreshHead(t *testing.T) {
	src := t.TempDir()
	mustRun(t, sourceConfig(), src)
	want, _, err := LoadModel(src, testData)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fineTuneConfig(src).Resolved()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := newRun(cfg, t.TempDir(), testData)
	if err != nil {
		t.Fatal(err)
	}
	// The model the same config builds without a source: its body must
	// differ from the source's (else the comparison proves nothing), its
	// head must be the fine-tuned model's.
	train, _, _ := testData.Load("stripes")
	fresh, err := nn.Build(cfg.Model, train.ExampleShape(), train.NumClasses, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	source := map[string]*nn.Param{}
	for _, p := range want.Params() {
		source[p.Name] = p
	}
	head := map[string]bool{}
	for _, p := range r.model.Head.Params() {
		head[p.Name] = true
	}
	buffers, body := 0, 0
	for i, p := range r.model.Params() {
		f := fresh.Params()[i]
		if head[p.Name] {
			if !strings.HasPrefix(p.Name, "head.") {
				t.Errorf("head parameter %s not named head.*", p.Name)
			}
			if !slices.Equal(p.Value, f.Value) {
				t.Errorf("head parameter %s is not the fresh initialisation from seed %d", p.Name, cfg.Seed)
			}
			if s := source[p.Name]; s != nil && slices.Equal(s.Shape, p.Shape) && slices.Equal(s.Value, p.Value) {
				t.Errorf("head parameter %s was copied from the source", p.Name)
			}
			continue
		}
		body++
		if p.Kind == nn.Buffer {
			buffers++
		}
		s := source[p.Name]
		if s == nil {
			t.Fatalf("source has no %s", p.Name)
		}
		if !slices.Equal(p.Value, s.Value) {
			t.Errorf("%s (%v) differs from the source's final weights", p.Name, p.Kind)
		}
		if slices.Equal(p.Value, f.Value) && p.Kind != nn.Buffer {
			t.Errorf("%s equals its fresh initialisation: the source did not train it?", p.Name)
		}
	}
	if buffers == 0 || body < 20 {
		t.Errorf("%d body tensors of which %d BatchNorm buffers; want resnet20's", body, buffers)
	}
	// The fine-tuned head is a plain linear one: softmax does not modify it.
	if _, ok := r.model.Head.(*objective.CosineHead); ok {
		t.Error("the fine-tuning run kept the source's cosine head")
	}
	// And the run trains from there.
	res := mustRun(t, fineTuneConfig(src), t.TempDir())
	if res.Steps != 6 {
		t.Errorf("fine-tuning run took %d steps, want 6", res.Steps)
	}
	b, err := os.ReadFile(filepath.Join(src, MetricsFile))
	if err != nil || !strings.Contains(string(b), cfg.InitFromSHA256) || len(cfg.InitFromSHA256) != 64 {
		t.Errorf("resolved init_from_sha256 %q is not the source's params_sha256", cfg.InitFromSHA256)
	}
}

func TestFineTuneRefusals(t *testing.T) {
	src := t.TempDir()
	mustRun(t, sourceConfig(), src)
	unfinished := t.TempDir()
	runCancelledAt(t, sourceConfig(), unfinished, 0)
	for _, tc := range []struct {
		name string
		cfg  func() Config
		want string // besides "init_from"
	}{
		{"empty folder", func() Config { return fineTuneConfig(t.TempDir()) }, "no finished run"},
		{"missing folder", func() Config { return fineTuneConfig(filepath.Join(t.TempDir(), "nope")) }, "no finished run"},
		{"unfinished run", func() Config { return fineTuneConfig(unfinished) }, "no finished run"},
		{"other model", func() Config { c := fineTuneConfig(src); c.Model = "mlp"; return c }, `model "resnet20"`},
		{"other input shape", func() Config { c := fineTuneConfig(src); c.Dataset = "stripes-rgb"; return c }, "[8 8 1]"},
	} {
		dir := t.TempDir()
		_, err := Run(context.Background(), tc.cfg(), dir, opts(nil))
		if err == nil || !strings.Contains(err.Error(), "init_from") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming init_from and %q", tc.name, err, tc.want)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused run left a config.json", tc.name)
		}
	}
	// A config resolved against an older source is refused once the source
	// has changed under it.
	cfg := fineTuneConfig(src).Resolved()
	cfg.InitFromSHA256 = strings.Repeat("0", 64)
	if _, err := newRun(cfg, t.TempDir(), testData); err == nil || !strings.Contains(err.Error(), "init_from") || !strings.Contains(err.Error(), "retrained") {
		t.Errorf("stale init_from_sha256: %v", err)
	}
}

func TestFineTuneResumeIsBitIdentical(t *testing.T) {
	src := t.TempDir()
	mustRun(t, sourceConfig(), src)
	cfg := fineTuneConfig(src)
	want := mustRun(t, cfg, t.TempDir())
	dir := t.TempDir()
	runCancelledAt(t, cfg, dir, 4) // mid-epoch 2
	got := mustRun(t, cfg, dir)
	if !got.Resumed || got.ParamsSHA256 != want.ParamsSHA256 || got.TestLoss != want.TestLoss {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
}

func TestFineTuneFingerprintFollowsSource(t *testing.T) {
	src := t.TempDir()
	mustRun(t, sourceConfig(), src)
	cfg := fineTuneConfig(src)
	dir := t.TempDir()
	first := mustRun(t, cfg, dir)
	before := cfg.Resolved().fingerprint()

	// The same source under another path is the same run.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(src, moved); err != nil {
		t.Fatal(err)
	}
	again, err := Run(context.Background(), fineTuneConfig(moved), dir, opts(nil))
	if err != nil || !again.AlreadyDone || again.ParamsSHA256 != first.ParamsSHA256 {
		t.Fatalf("same source, moved: %+v, %v; want the finished run", again, err)
	}
	if err := os.Rename(moved, src); err != nil {
		t.Fatal(err)
	}

	// Retrained differently in the same folder: another config.
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	other := sourceConfig()
	other.Seed = 2
	mustRun(t, other, src)
	after := fineTuneConfig(src).Resolved().fingerprint()
	if string(after) == string(before) {
		t.Fatal("retraining the source did not change the fine-tuning fingerprint")
	}
	_, err = Run(context.Background(), fineTuneConfig(src), dir, opts(nil))
	var conflict *ConfigConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "init_from_sha256") {
		t.Errorf("rerun after retraining the source: %v; want a config conflict on init_from_sha256", err)
	}
	// A run without init_from keeps the fingerprint it had before the field
	// existed: no init_from key at all.
	if strings.Contains(string(tinyConfig().Resolved().fingerprint()), "init_from") {
		t.Error("a config without init_from mentions it in its fingerprint")
	}
}

func TestInitFromIsSettable(t *testing.T) {
	c := DefaultConfig("tiny", "mlp")
	if err := c.Set("init_from", "/some/run"); err != nil || c.InitFrom != "/some/run" {
		t.Errorf("Set init_from: %v, %q", err, c.InitFrom)
	}
	if err := c.Set("init_from_sha256", "abc"); err == nil {
		t.Error("init_from_sha256 is settable; it must come from the source run")
	}
	c = DefaultConfig("tiny", "mlp")
	c.InitFromSHA256 = "abc"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "init_from_sha256") {
		t.Errorf("init_from_sha256 without init_from: %v", err)
	}
}
