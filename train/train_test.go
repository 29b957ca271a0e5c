package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/optim"
	"github.com/losslab/losslab/tensor"
)

// tinyDataset is a synthetic 4-class problem of 8×8 grey images: class k
// lights rows 2k and 2k+1, plus Gaussian noise. poison puts a NaN in the
// first training image.
func tinyDataset(poison bool) DatasetLoader {
	return func() (train, test *data.Dataset, err error) {
		make := func(split string, n int, seed uint64) *data.Dataset {
			rng := rand.New(rand.NewPCG(seed, 7))
			d := &data.Dataset{Name: "tiny", Split: split, NumClasses: 4, Norm: data.Identity,
				Images: tensor.New(n, 8, 8, 1), Labels: make([]int, n)}
			for i := 0; i < n; i++ {
				k := rng.IntN(4)
				d.Labels[i] = k
				for p := 0; p < 64; p++ {
					v := 0.5 * rng.NormFloat64()
					if r := p / 8; r/2 == k {
						v += 1
					}
					d.Images.Data[i*64+p] = float32(v)
				}
			}
			return d
		}
		train, test = make("train", 240, 1), make("test", 80, 2)
		if poison {
			train.Images.Data[3] = float32(math.NaN())
		}
		return train, test, nil
	}
}

func init() {
	RegisterDataset("tiny", tinyDataset(false))
	RegisterDataset("tiny-nan", tinyDataset(true))
}

// tinyConfig trains an mlp on 200 tiny examples for 3 epochs of 7 steps,
// with dropout on the penultimate features (so the per-step seeds matter)
// and weight averaging (so EMA state must be checkpointed).
func tinyConfig() Config {
	c := DefaultConfig("tiny", "mlp")
	c.Objective = "dropout"
	c.Epochs = 3
	c.BatchSize = 32
	c.LR = 0.05
	c.WarmupEpochs = 1
	c.EMADecay = 0.9
	c.Threads = 2
	c.CheckpointEvery = 0
	c.TrainLimit = 200
	return c
}

// progressFunc adapts a function to Progress.
type progressFunc func(StepInfo)

func (f progressFunc) Step(s StepInfo)    { f(s) }
func (f progressFunc) Epoch(EpochMetrics) {}

func mustRun(t *testing.T, cfg Config, dir string) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readLog(t *testing.T, dir string) []EpochMetrics {
	t.Helper()
	out, err := readMetricsLog(filepath.Join(dir, MetricsLogFile))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameLog compares the logs without the timing fields.
func sameLog(t *testing.T, got, want []EpochMetrics) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d metrics lines, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		g.Seconds, g.ExamplesPerSec, w.Seconds, w.ExamplesPerSec = 0, 0, 0, 0
		if g != w {
			t.Errorf("line %d: %+v, want %+v", i+1, g, w)
		}
	}
}

func TestRunLearnsAndLogs(t *testing.T) {
	dir := t.TempDir()
	var steps []int
	res, err := Run(context.Background(), tinyConfig(), dir, progressFunc(func(s StepInfo) { steps = append(steps, s.Step) }))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 21 || res.Epochs != 3 || res.Resumed || res.AlreadyDone || len(steps) != 21 || steps[20] != 21 {
		t.Errorf("result %+v after steps %v; want 21 steps, 3 epochs", res, steps)
	}
	if res.TestAccuracy < 0.9 {
		t.Errorf("test accuracy %.3f on an easy 4-class problem; want ≥ 0.9", res.TestAccuracy)
	}
	log := readLog(t, dir)
	for i, m := range log {
		if m.Epoch != i+1 || m.Step != 7*(i+1) || !(m.TrainLoss > 0) || m.Seconds <= 0 {
			t.Errorf("line %d: %+v", i+1, m)
		}
	}
	if len(log) != 3 || log[2].TestAccuracy != res.TestAccuracy || log[2].TrainLoss >= log[0].TrainLoss {
		t.Errorf("log %+v, result %+v", log, res)
	}
	// The cosine schedule ends near 0 at the last step.
	if log[2].LR > 0.01*0.05 {
		t.Errorf("last lr %v", log[2].LR)
	}
	var saved Result
	b, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err := json.Unmarshal(b, &saved); err != nil || saved.ParamsSHA256 != res.ParamsSHA256 || len(res.ParamsSHA256) != 64 {
		t.Errorf("metrics.json %s (%v)", b, err)
	}
	var cfg Config
	b, _ = os.ReadFile(filepath.Join(dir, ConfigFile))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.EvalBatchSize != 32 || cfg.Threads != 2 {
		t.Errorf("config.json %s (%v); want the resolved config", b, err)
	}
}

func TestResumeAfterCancelIsBitIdentical(t *testing.T) {
	cfg := tinyConfig()
	want := mustRun(t, cfg, t.TempDir())

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run(ctx, cfg, dir, progressFunc(func(s StepInfo) {
		if s.Step == 10 { // mid-epoch 2
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v, want context.Canceled", err)
	}
	ck, err := readCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil || ck.Step != 10 {
		t.Fatalf("checkpoint after cancel: %v, step %v", err, ck)
	}
	if _, err := os.Stat(filepath.Join(dir, MetricsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an interrupted run wrote metrics.json")
	}
	got := mustRun(t, cfg, dir)
	if !got.Resumed || got.ParamsSHA256 != want.ParamsSHA256 || got.TestAccuracy != want.TestAccuracy || got.TestLoss != want.TestLoss {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
	sameLog(t, readLog(t, dir), readLog(t, filepath.Dir(filepath.Join(t.TempDir(), "x"))+"/../"+"missing")) // placeholder replaced below
}
