package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/internal/folderlock"
	"github.com/losslab/losslab/optim"
	"github.com/losslab/losslab/tensor"
)

// barsSplit is a synthetic k-class split of n 8×8 images with c channels:
// class j lights rows 2j and 2j+1 (columns with columns set) in every
// channel, plus Gaussian noise of standard deviation 0.5. The stream of
// random numbers is fixed by seed and stream.
func barsSplit(name, split string, n, k, c int, columns bool, seed, stream uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, stream))
	d := &data.Dataset{Name: name, Split: split, NumClasses: k, Norm: data.Identity,
		Images: tensor.New(n, 8, 8, c), Labels: make([]int, n)}
	for i := range n {
		j := rng.IntN(k)
		d.Labels[i] = j
		for p := range 64 * c {
			v := 0.5 * rng.NormFloat64()
			pos := (p / c) / 8 // row
			if columns {
				pos = (p / c) % 8
			}
			if pos/2 == j {
				v += 1
			}
			d.Images.Data[i*64*c+p] = float32(v)
		}
	}
	return d
}

// tinyDataset is a synthetic 4-class problem of 8×8 grey images whose
// classes light rows (barsSplit). poison puts a NaN in the first training
// image.
func tinyDataset(poison bool) data.Loader {
	return func() (train, test *data.Dataset, err error) {
		train = barsSplit("tiny", "train", 240, 4, 1, false, 1, 7)
		test = barsSplit("tiny", "test", 80, 4, 1, false, 2, 7)
		if poison {
			train.Images.Data[3] = float32(math.NaN())
		}
		return train, test, nil
	}
}

// testData resolves the tests' synthetic datasets besides the catalogue's.
var testData = func() *data.Resolver {
	r := data.NewResolver()
	for name, load := range map[string]data.Loader{
		"tiny": tinyDataset(false), "tiny-nan": tinyDataset(true),
		"stripes": stripesDataset(1), "stripes-rgb": stripesDataset(3),
	} {
		if err := r.Add(name, load); err != nil {
			panic(err)
		}
	}
	return r
}()

// opts are the Options of a test run: the test datasets and progress p.
func opts(p Progress) Options { return Options{Datasets: testData, Progress: p} }

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
	res, err := Run(context.Background(), cfg, dir, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// runCancelledAt runs cfg into dir and cancels it from the progress
// callback of step (0: the first step), as Ctrl-C would; the run must stop
// with context.Canceled.
func runCancelledAt(t *testing.T, cfg Config, dir string, step int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run(ctx, cfg, dir, opts(progressFunc(func(s StepInfo) {
		if step == 0 || s.Step == step {
			cancel()
		}
	})))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled at step %d returned %v, want context.Canceled", step, err)
	}
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
	res, err := Run(context.Background(), tinyConfig(), dir, opts(progressFunc(func(s StepInfo) { steps = append(steps, s.Step) })))
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
	// Warmup over epoch 1 (7 steps), then cosine over 14 steps: the last
	// step is the cosine's 13th.
	if want := 0.05 * (1 + math.Cos(math.Pi*13/14)) / 2; math.Abs(log[2].LR-want) > 1e-15 || log[0].LR != 0.05 {
		t.Errorf("lr %v at the end of epoch 1, %v at the end; want 0.05, %v", log[0].LR, log[2].LR, want)
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
	ref := t.TempDir()
	want := mustRun(t, cfg, ref)

	dir := t.TempDir()
	runCancelledAt(t, cfg, dir, 10) // mid-epoch 2
	ck, err := readCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil || ck.Step != 10 {
		t.Fatalf("checkpoint after cancel: %v, %+v", err, ck)
	}
	if _, err := os.Stat(filepath.Join(dir, MetricsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an interrupted run wrote metrics.json")
	}
	if n := len(readLog(t, dir)); n != 1 {
		t.Fatalf("%d metrics lines after 1 full epoch", n)
	}
	got := mustRun(t, cfg, dir)
	if !got.Resumed || got.ParamsSHA256 != want.ParamsSHA256 || got.TestAccuracy != want.TestAccuracy || got.TestLoss != want.TestLoss {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
	// One line per epoch, with the same values as the uninterrupted run:
	// the mid-epoch training statistics were checkpointed too.
	sameLog(t, readLog(t, dir), readLog(t, ref))
}

// TestResumeAfterCrashAtMidEpochCheckpoint simulates a kill: the folder is
// frozen as it was after step 11, when the latest checkpoint was the
// periodic one of step 9 (mid-epoch 2) and the last metrics line was cut
// short; resuming from there must end where an uninterrupted run ends.
func TestResumeAfterCrashAtMidEpochCheckpoint(t *testing.T) {
	cfg := tinyConfig()
	cfg.CheckpointEvery = 3
	ref := t.TempDir()
	crashed := t.TempDir()
	copyFile := func(name string) {
		b, err := os.ReadFile(filepath.Join(ref, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := Run(context.Background(), cfg, ref, opts(progressFunc(func(s StepInfo) {
		if s.Step == 11 {
			copyFile(ConfigFile)
			copyFile(CheckpointFile)
			copyFile(MetricsLogFile)
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := readCheckpoint(filepath.Join(crashed, CheckpointFile))
	if err != nil || ck.Step != 9 {
		t.Fatalf("frozen checkpoint: %v, %+v; want step 9", err, ck)
	}
	f, err := os.OpenFile(filepath.Join(crashed, MetricsLogFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"epoch":2,"step":14,"train_lo`) // a line cut short by the crash
	f.Close()

	got := mustRun(t, cfg, crashed)
	if !got.Resumed || got.ParamsSHA256 != want.ParamsSHA256 || got.TestAccuracy != want.TestAccuracy {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
	sameLog(t, readLog(t, crashed), readLog(t, ref))
}

func TestResumeWithBatchNorm(t *testing.T) {
	// resnet20 has BatchNorm running statistics (buffers) that the
	// checkpoint must carry, and the EMA averages only trainable weights.
	cfg := tinyConfig()
	cfg.Model, cfg.Objective = "resnet20", "softmax"
	cfg.Epochs, cfg.BatchSize, cfg.TrainLimit, cfg.TestLimit = 2, 16, 48, 32
	want := mustRun(t, cfg, t.TempDir())
	dir := t.TempDir()
	runCancelledAt(t, cfg, dir, 2)
	got := mustRun(t, cfg, dir)
	if got.ParamsSHA256 != want.ParamsSHA256 || got.TestLoss != want.TestLoss {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
}

func TestSameSeedSameBitsOtherSeedOtherBits(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs, cfg.WarmupEpochs = 1, 0.5
	a := mustRun(t, cfg, t.TempDir())
	b := mustRun(t, cfg, t.TempDir())
	// Result-neutral fields do not change the weights.
	cfg.CheckpointEvery, cfg.EvalBatchSize = 2, 7
	c := mustRun(t, cfg, t.TempDir())
	cfg.Seed = 2
	d := mustRun(t, cfg, t.TempDir())
	if a.ParamsSHA256 != b.ParamsSHA256 || a.ParamsSHA256 != c.ParamsSHA256 {
		t.Errorf("same config: %s, %s, %s", a.ParamsSHA256, b.ParamsSHA256, c.ParamsSHA256)
	}
	if math.Abs(a.TestLoss-c.TestLoss) > 1e-9 || a.TestAccuracy != c.TestAccuracy {
		t.Errorf("eval batch 32: %v/%v, eval batch 7: %v/%v", a.TestAccuracy, a.TestLoss, c.TestAccuracy, c.TestLoss)
	}
	if d.ParamsSHA256 == a.ParamsSHA256 {
		t.Error("seeds 1 and 2 trained identical weights")
	}
}

func TestAlreadyDone(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs, cfg.WarmupEpochs = 1, 0.5
	dir := t.TempDir()
	first := mustRun(t, cfg, dir)
	ckPath := filepath.Join(dir, CheckpointFile)
	before, _ := os.ReadFile(ckPath)
	called := false
	// Result-neutral fields may differ.
	cfg.CheckpointEvery, cfg.EvalBatchSize = 5, 100
	again, err := Run(context.Background(), cfg, dir, opts(progressFunc(func(StepInfo) { called = true })))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(ckPath)
	if !again.AlreadyDone || called || again.ParamsSHA256 != first.ParamsSHA256 || !bytes.Equal(before, after) {
		t.Errorf("second run: %+v, progress called %v; want the stored result and no work", again, called)
	}
	if n := len(readLog(t, dir)); n != 1 {
		t.Errorf("%d metrics lines", n)
	}
}

func TestRefusesDifferentConfig(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs, cfg.WarmupEpochs = 1, 0.5
	dir := t.TempDir()
	mustRun(t, cfg, dir)
	other := cfg
	other.Seed, other.LR, other.Threads = 9, 0.1, 1
	_, err := Run(context.Background(), other, dir, opts(nil))
	if err == nil {
		t.Fatal("a different config was accepted")
	}
	for _, want := range []string{dir, "seed: saved 1, requested 9", "lr: saved 0.05, requested 0.1", "threads: saved 2, requested 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "epochs") {
		t.Errorf("error %q lists an equal field", err)
	}
	// Refused before anything was overwritten.
	var saved Config
	b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if json.Unmarshal(b, &saved); saved.Seed != 1 {
		t.Errorf("config.json was overwritten: %s", b)
	}

	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, ConfigFile), []byte(`{"not":"a config"}`), 0o644)
	if _, err := Run(context.Background(), cfg, junk, opts(nil)); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("foreign config.json: err = %v", err)
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	runCancelledAt(t, cfg, dir, 3)
	path := filepath.Join(dir, CheckpointFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"flipped byte": func() []byte { b := slices.Clone(good); b[len(b)/2] ^= 1; return b }(),
		"truncated":    good[:len(good)-100],
		"empty":        {},
		"not ours":     []byte("PK\x03\x04 some zip file, long enough to have a checksum's worth of bytes"),
	}
	for name, b := range cases {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), cfg, dir, opts(nil))
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s: err = %v; want it to name %s as corrupt", name, err, path)
		}
	}
	// A checkpoint of another model is refused too.
	os.WriteFile(path, good, 0o644)
	other := cfg
	other.Model = "mnist-cnn"
	os.Remove(filepath.Join(dir, ConfigFile))
	if _, err := Run(context.Background(), other, dir, opts(nil)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("checkpoint of another config: err = %v", err)
	}
}

func TestDivergenceStops(t *testing.T) {
	cfg := tinyConfig()
	cfg.Dataset = "tiny-nan"
	cfg.Objective = "softmax"
	cfg.TrainLimit = 0
	var err error
	// The poisoned image is somewhere in the first epoch's shuffled order.
	_, err = Run(context.Background(), cfg, t.TempDir(), opts(nil))
	if err == nil {
		t.Fatal("NaN input trained without error")
	}
	for _, want := range []string{"diverged", "NaN", "step ", "(epoch 1,"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	base := tinyConfig().Resolved()
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"mlp", "mnist-cnn"} {
		if err := DefaultConfig("mnist", m).Resolved().Validate(); err != nil {
			t.Errorf("DefaultConfig(mnist, %s): %v", m, err)
		}
	}
	cases := []struct {
		field string
		edit  func(c *Config)
	}{
		{"dataset", func(c *Config) { c.Dataset = "" }},
		{"model", func(c *Config) { c.Model = "vgg" }},
		{"objective", func(c *Config) { c.Objective = "hinge" }},
		{"objective", func(c *Config) { c.ObjectiveParams = map[string]float64{"keep_prob": 2} }},
		{"epochs", func(c *Config) { c.Epochs = 0 }},
		{"batch_size", func(c *Config) { c.BatchSize = 0 }},
		{"lr", func(c *Config) { c.LR = 0 }},
		{"lr", func(c *Config) { c.LR = math.Inf(1) }},
		{"schedule", func(c *Config) { c.Schedule = "linear" }},
		{"warmup_epochs", func(c *Config) { c.WarmupEpochs = 3 }},
		{"warmup_epochs", func(c *Config) { c.WarmupEpochs = -1 }},
		{"momentum", func(c *Config) { c.Momentum = 1 }},
		{"nesterov", func(c *Config) { c.Momentum = 0 }},
		{"weight_decay", func(c *Config) { c.WeightDecay = -1e-4 }},
		{"ema_decay", func(c *Config) { c.EMADecay = 1 }},
		{"threads", func(c *Config) { c.Threads = -2 }},
		{"checkpoint_every", func(c *Config) { c.CheckpointEvery = -1 }},
		{"eval_batch_size", func(c *Config) { c.EvalBatchSize = -1 }},
		{"train_limit", func(c *Config) { c.TrainLimit = -1 }},
		{"test_limit", func(c *Config) { c.TestLimit = -1 }},
		{"step_factor", func(c *Config) { c.Schedule, c.StepEpochs, c.StepFactor = "step", []int{2}, 1.5 }},
		{"step_epochs", func(c *Config) { c.Schedule, c.StepEpochs, c.StepFactor = "step", []int{2, 2}, 0.1 }},
		{"step_epochs", func(c *Config) { c.Schedule, c.StepEpochs, c.StepFactor = "step", []int{3}, 0.1 }},
		{"step_epochs", func(c *Config) { c.StepEpochs = []int{2} }},
	}
	for _, tc := range cases {
		c := base
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v; want it to name the field", tc.field, err)
		}
	}
}

func TestResolved(t *testing.T) {
	c := DefaultConfig("mnist", "mlp")
	c.Threads, c.EvalBatchSize, c.Objective = 0, 0, ""
	r := c.Resolved()
	if r.Threads < 1 || r.EvalBatchSize != 128 || r.Objective != "softmax" {
		t.Errorf("resolved %+v", r)
	}
	c.Schedule, c.Epochs = "step", 8
	if r := c.Resolved(); !slices.Equal(r.StepEpochs, []int{4, 6}) || r.StepFactor != 0.1 || r.Validate() != nil {
		t.Errorf("step defaults: %v ×%v (%v)", r.StepEpochs, r.StepFactor, r.Validate())
	}
}

func TestSchedule(t *testing.T) {
	c := tinyConfig()
	c.WarmupEpochs, c.Epochs, c.LR = 0.5, 4, 0.1
	// 10 steps per epoch: warmup of 5 steps, then cosine over 35.
	s := schedule(c, 10)
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 0.02}, {4, 0.1}, {5, 0.1}, {12, 0.1 * (1 + math.Cos(math.Pi*7/35)) / 2}, {40, 0}, {39, 0.1 * (1 + math.Cos(math.Pi*34/35)) / 2}} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("cosine LR(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
	c.Schedule, c.StepEpochs, c.StepFactor = "step", []int{2, 3}, 0.1
	s = schedule(c, 10)
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 0.02}, {19, 0.1}, {20, 0.01}, {29, 0.01}, {30, 0.001}} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("step LR(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
	c.Schedule, c.WarmupEpochs, c.StepEpochs, c.StepFactor = "constant", 0, nil, 0
	if s := schedule(c, 10); s.LR(0) != 0.1 || s.LR(39) != 0.1 {
		t.Errorf("constant: %v %v", s.LR(0), s.LR(39))
	}
}

func TestPermutation(t *testing.T) {
	p := permutation(1, 0, 100)
	if !slices.Equal(p, permutation(1, 0, 100)) {
		t.Error("permutation is not deterministic")
	}
	sorted := slices.Sorted(slices.Values(p))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("not a permutation of 0..99: %v", p)
		}
	}
	if slices.Equal(p, permutation(1, 1, 100)) || slices.Equal(p, permutation(2, 0, 100)) {
		t.Error("epochs or seeds share an order")
	}
	// Uniformity: each position takes each value ≈ 1/n of the time.
	const n, trials = 4, 8000
	var counts [n][n]int
	for e := 0; e < trials; e++ {
		for pos, v := range permutation(7, e, n) {
			counts[pos][v]++
		}
	}
	for pos := range counts {
		for v, c := range counts[pos] {
			if math.Abs(float64(c)-trials/n) > 5*math.Sqrt(trials/n) {
				t.Errorf("position %d holds %d in %d of %d orders", pos, v, c, trials)
			}
		}
	}
	if stepSeed(1, 0) == stepSeed(1, 1) || stepSeed(1, 0) == stepSeed(2, 0) {
		t.Error("step seeds collide")
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck.bin")
	ck := &checkpoint{
		Fingerprint: []byte(`{"a":1}`), Step: 12345,
		Stats:    epochStats{LossSum: 1.25, Correct: 7, Seen: 9, EpochSeconds: 0.5, TotalSeconds: 3},
		Sections: []optim.NamedSlice{{Name: "param/w", Data: []float32{1, -2, float32(math.Inf(1))}}, {Name: "empty"}, {Name: "big", Data: make([]float32, 40000)}},
	}
	ck.Sections[2].Data[39999] = 5
	if err := writeCheckpoint(path, ck); err != nil {
		t.Fatal(err)
	}
	got, err := readCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != ck.Step || got.Stats != ck.Stats || string(got.Fingerprint) != string(ck.Fingerprint) || len(got.Sections) != 3 {
		t.Fatalf("read %+v", got)
	}
	for i, s := range got.Sections {
		if s.Name != ck.Sections[i].Name || !slices.Equal(s.Data, ck.Sections[i].Data) && len(s.Data)+len(ck.Sections[i].Data) > 0 {
			t.Errorf("section %d: %s (%d values)", i, s.Name, len(s.Data))
		}
	}
	// A future format version with a valid checksum is named as such.
	b, _ := os.ReadFile(path)
	b[len(checkpointMagic)] = 2
	sum := sha256.Sum256(b[:len(b)-checksumSize])
	copy(b[len(b)-checksumSize:], sum[:])
	os.WriteFile(path, b, 0o644)
	if _, err := readCheckpoint(path); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("future version: err = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	dst := []optim.NamedSlice{{Name: "param/w", Data: make([]float32, 3)}}
	if err := restoreSections(path, dst, got.Sections[:1]); err != nil || dst[0].Data[1] != -2 {
		t.Errorf("restore: %v %v", err, dst[0].Data)
	}
	if err := restoreSections(path, []optim.NamedSlice{{Name: "param/v", Data: make([]float32, 3)}}, got.Sections[:1]); err == nil || !strings.Contains(err.Error(), "param/w") {
		t.Errorf("mismatched section: %v", err)
	}
}

func TestMetricsLogRejectsMalformedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), MetricsLogFile)
	os.WriteFile(path, []byte("{\"epoch\":1}\nnot json\n{\"epoch\":3}\n"), 0o644)
	if _, err := readMetricsLog(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v; want it to name line 2", err)
	}
}

func TestTerminalProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewTerminalProgress(&buf)
	if p.tty {
		t.Fatal("a bytes.Buffer is not a terminal")
	}
	p.Step(StepInfo{Epoch: 1, Epochs: 2, EpochStep: 1, PerEpoch: 10, Loss: 1.5})
	p.Step(StepInfo{Epoch: 1, Epochs: 2, EpochStep: 2, PerEpoch: 10, Loss: 1.4}) // within LogInterval: skipped
	p.Epoch(EpochMetrics{Epoch: 1, Step: 10, TestAccuracy: 0.875})
	out := buf.String()
	if strings.Count(out, "\n") != 2 || strings.Contains(out, "\r") || !strings.Contains(out, "loss 1.5000") || !strings.Contains(out, "test acc 87.50%") {
		t.Errorf("log output %q", out)
	}
	buf.Reset()
	p.tty = true
	p.last = p.last.Add(-time.Hour)
	p.Step(StepInfo{Epoch: 1, Epochs: 2, EpochStep: 3, PerEpoch: 10})
	p.Epoch(EpochMetrics{Epoch: 1})
	if out := buf.String(); strings.Count(out, "\r\x1b[K") != 2 || strings.Count(out, "\n") != 1 {
		t.Errorf("terminal output %q", out)
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if NewTerminalProgress(f).tty {
		t.Error("a regular file was taken for a terminal")
	}
}

func TestBench(t *testing.T) {
	eps, err := Bench(context.Background(), "mlp", 8, 2)
	if err != nil || !(eps > 0) {
		t.Errorf("Bench(mlp) = %v, %v", eps, err)
	}
	if _, err := Bench(context.Background(), "vgg", 8, 2); err == nil || !strings.Contains(err.Error(), "vgg") {
		t.Errorf("unknown model: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Bench(ctx, "mlp", 8, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestParamsSHA256(t *testing.T) {
	cfg := tinyConfig()
	r, err := newRun(cfg.Resolved(), t.TempDir(), testData)
	if err != nil {
		t.Fatal(err)
	}
	a := paramsSHA256(r.model)
	r.model.Params()[0].Value[0] += 1
	if paramsSHA256(r.model) == a {
		t.Error("hash ignores a parameter change")
	}
}

func TestDiff(t *testing.T) {
	a := tinyConfig().Resolved()
	b := a
	b.Seed = a.Seed + 1<<60
	a.Seed += 1<<60 + 1 // differ only beyond float64's 53-bit mantissa
	if d := diff(a, b); len(d) != 1 || !strings.HasPrefix(d[0], "seed: ") {
		t.Errorf("diff = %q; want the seed only", d)
	}
	b = a
	b.CheckpointEvery, b.EvalBatchSize = 99, 99
	b.ObjectiveParams = map[string]float64{"keep_prob": 0.5}
	if d := diff(a, b); len(d) != 1 || !strings.Contains(d[0], `objective_params: saved (unset), requested {"keep_prob":0.5}`) {
		t.Errorf("diff = %q; want objective_params only", d)
	}
	if string(a.fingerprint()) == string(b.fingerprint()) {
		t.Error("fingerprints ignore objective_params")
	}
}

// A run that fails before training (here: a dataset path that does not
// exist) leaves the folder unclaimed, so the corrected command is not
// refused as a different config.
func TestFailedStartLeavesFolderReusable(t *testing.T) {
	dir := t.TempDir()
	bad := tinyConfig()
	bad.Dataset = filepath.Join(dir, "missing", "data.npz")
	if _, err := Run(context.Background(), bad, dir, opts(nil)); err == nil {
		t.Fatal("training on a missing dataset path succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("config.json after a failed start: %v, want it absent", err)
	}
	if _, err := Run(context.Background(), tinyConfig(), dir, opts(nil)); err != nil {
		t.Fatalf("corrected run refused: %v", err)
	}
	// Once trained, the folder is claimed: a different config is refused.
	var conflict *ConfigConflictError
	if _, err := Run(context.Background(), bad, dir, opts(nil)); !errors.As(err, &conflict) {
		t.Errorf("different config on a trained folder: err %v, want ConfigConflictError", err)
	}
}

// An unknown dataset is found when the run loads it: the error names it
// and the folder is released, so a corrected command is not refused as a
// different config.
func TestRunUnknownDataset(t *testing.T) {
	cfg := tinyConfig()
	cfg.Dataset = "imagenet-typo"
	dir := t.TempDir()
	_, err := Run(context.Background(), cfg, dir, opts(nil))
	if err == nil || !strings.Contains(err.Error(), `unknown dataset "imagenet-typo"`) || !strings.Contains(err.Error(), "tiny") {
		t.Fatalf("err = %v; want it to name the dataset and list the known ones", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("config.json left behind after a failed start: %v", err)
	}
	if _, err := Run(context.Background(), tinyConfig(), dir, opts(nil)); err != nil {
		t.Errorf("the corrected config is refused: %v", err)
	}
}

// A second process (here: a second lock holder) on a run folder in use is
// refused at once, naming the folder, and trains nothing.
func TestRunRefusesAFolderInUse(t *testing.T) {
	dir := t.TempDir()
	release, err := folderlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), tinyConfig(), dir, opts(nil))
	if !errors.Is(err, folderlock.ErrBusy) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v; want the folder-in-use error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the refused run wrote its config")
	}
	release()
	mustRun(t, tinyConfig(), dir)
}
