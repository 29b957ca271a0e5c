package study

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/losslab/losslab/internal/folderlock"
)

// tinySpec is a whole study at test size: an MLP on 256 MNIST digits, two
// objectives (one swept), two seeds, a derived transfer target, one
// corruption and every analysis.
func tinySpec() Spec {
	return Spec{
		Name: "tiny", Dataset: "mnist", Model: "mlp",
		Recipe:  Recipe{"epochs": 1, "train_limit": 256, "test_limit": 128, "threads": 2, "checkpoint_every": 1, "batch_size": 64},
		Holdout: 100,
		Objectives: []ObjectiveSpec{
			{Name: "softmax"},
			{Name: "label_smoothing", Sweep: map[string][]float64{"alpha": {0.1, 0.2}}},
		},
		Seeds:              []uint64{1, 2},
		Transfer:           []string{"mnist-parity"},
		TransferTrain:      120,
		TransferTest:       60,
		Corruptions:        []string{"mnistc_shot_noise"},
		CorruptionExamples: 50,
		FeatureExamples:    40,
	}
}

func ids(t *testing.T, s Spec) []string {
	t.Helper()
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range p.Units {
		out = append(out, u.ID)
	}
	slices.Sort(out)
	return out
}

func TestPlanIDsStableUnderReordering(t *testing.T) {
	s := tinySpec()
	a := ids(t, s)
	if len(slices.Compact(slices.Clone(a))) != len(a) {
		t.Fatalf("duplicate unit ids: %v", a)
	}
	// 3 variants × 2 seeds × (train, evaluate, features, transfer,
	// finetune, robustness) + corrupt-set + cka + predictions.
	if want := 3*2*6 + 3; len(a) != want {
		t.Fatalf("%d units, want %d", len(a), want)
	}
	r := tinySpec()
	r.Objectives[0], r.Objectives[1] = r.Objectives[1], r.Objectives[0]
	r.Objectives[0].Sweep = map[string][]float64{"alpha": {0.2, 0.1}}
	r.Seeds = []uint64{2, 1}
	// An explicit default is the same variant as an omitted one.
	r.Objectives[0].Params = map[string]float64{"rescale": 1}
	if b := ids(t, r); !slices.Equal(a, b) {
		t.Errorf("reordering the spec changed the ids:\n%v\n%v", a, b)
	}
	// A changed hyperparameter changes that variant's units only.
	c := tinySpec()
	c.Objectives[1].Sweep["alpha"] = []float64{0.1, 0.3}
	changed := 0
	for _, id := range ids(t, c) {
		if !slices.Contains(a, id) {
			changed++
		}
	}
	// The alpha=0.3 variant's 2×6 units, plus cka and predictions.
	if changed != 14 {
		t.Errorf("%d new ids after changing one swept value; want 14", changed)
	}
}

func TestParseSpecErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "name: x\ndataset: mnist\nmodel: mlp\nseedz: [1]\n", "line 4"},
		{"unknown recipe key", "name: x\ndataset: mnist\nmodel: mlp\nrecipe:\n  epochs: 1\n  lrr: 0.1\nobjectives: [{name: softmax}]\nseeds: [1]\n", "line 6"},
		{"recipe sets the seed", "name: x\ndataset: mnist\nmodel: mlp\nrecipe:\n  seed: 3\nobjectives: [{name: softmax}]\nseeds: [1]\n", "line 5"},
		{"unknown objective key", "name: x\ndataset: mnist\nmodel: mlp\nobjectives:\n  - name: softmax\n    parms: {a: 1}\nseeds: [1]\n", "line 6"},
	} {
		_, err := ParseSpec("s.yaml", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one naming %s", tc.name, err, tc.want)
		}
	}
	s, err := ParseSpec("s.json", []byte(`{"name": "j", "dataset": "mnist", "model": "mlp", "recipe": {"epochs": 2},
		"objectives": [{"name": "cosine_softmax", "sweep": {"tau": [0.03, 0.1]}}], "seeds": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	tu := p.TrainUnits()
	if len(tu) != 4 || tu[0].Config.Epochs != 2 || tu[0].Config.ObjectiveParams["tau"] != 0.03 {
		t.Errorf("JSON spec planned %d training units, first %+v", len(tu), tu[0].Config)
	}
}

func readResults(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResumeAfterInterruptsGivesSameResults runs the tiny study straight
// through, then again in another folder with the context cancelled at
// random moments (between units and inside them, training included) until
// it finishes; results.csv must match byte for byte.
func TestResumeAfterInterruptsGivesSameResults(t *testing.T) {
	s := tinySpec()
	straight := t.TempDir()
	if _, err := Run(context.Background(), s, Options{Dir: straight}); err != nil {
		t.Fatal(err)
	}
	want := readResults(t, straight)
	for _, m := range []string{"test_top1", "r2", "r2_train", "probe_mnist-parity_top1", "rawprobe_mnist-parity_top1", "knn_mnist-parity_top1", "corrupted_mean_accuracy", "temperature", "active_fraction_penultimate"} {
		if !strings.Contains(want, ","+m+",") {
			t.Errorf("results.csv lacks metric %s", m)
		}
	}
	for _, f := range []string{"report.md", "report.html", "analyses.json"} {
		if _, err := os.Stat(filepath.Join(straight, f)); err != nil {
			t.Error(err)
		}
	}

	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	interrupted := 0
	for attempt := 0; ; attempt++ {
		if attempt > 200 {
			t.Fatal("the study did not finish after 200 interrupted attempts")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(400))*time.Millisecond)
		_, err := Run(ctx, s, Options{Dir: dir})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() == nil {
			t.Fatal(err)
		}
		interrupted++
	}
	if interrupted < 3 {
		t.Errorf("only %d interruptions; the test did not exercise resuming", interrupted)
	}
	if got := readResults(t, dir); got != want {
		t.Errorf("results.csv after %d interruptions differs from the straight run:\n%s\nwant:\n%s", interrupted, got, want)
	}
}

// TestParallelUnitsGiveSameResults runs the tiny study one unit at a time
// and three at a time: results.csv must match byte for byte, because a
// unit's numbers may not depend on what runs beside it.
func TestParallelUnitsGiveSameResults(t *testing.T) {
	s := tinySpec()
	var got [2]string
	for i, jobs := range []int{1, 3} {
		dir := t.TempDir()
		if _, err := Run(context.Background(), s, Options{Dir: dir, Jobs: jobs}); err != nil {
			t.Fatal(err)
		}
		got[i] = readResults(t, dir)
	}
	if got[0] != got[1] {
		t.Errorf("results.csv with 3 units at a time differs from one at a time:\n%s\nwant:\n%s", got[1], got[0])
	}
}

// TestStudiesShareUnits runs a one-objective study, then a two-objective
// study on the same store: the second trains only the new objective and
// leaves the first study's units untouched.
func TestStudiesShareUnits(t *testing.T) {
	store := t.TempDir()
	a := tinySpec()
	a.Name, a.Objectives, a.Seeds, a.Transfer, a.Corruptions = "a", a.Objectives[:1], []uint64{1}, nil, nil
	pa, err := Run(context.Background(), a, Options{Dir: t.TempDir(), StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	st := Store{Dir: store}
	before := map[string]time.Time{}
	for _, u := range pa.Units {
		m, err := st.Marker(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		before[u.ID] = m.Finished
	}
	b := a
	b.Name = "b"
	b.Objectives = append(slices.Clone(a.Objectives), ObjectiveSpec{Name: "logit_penalty"})
	pb, err := Run(context.Background(), b, Options{Dir: t.TempDir(), StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	reused := 0
	for _, u := range pb.Units {
		m, err := st.Marker(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := before[u.ID]; ok {
			reused++
			if !m.Finished.Equal(f) {
				t.Errorf("unit %s was redone", u.ID)
			}
		}
	}
	// softmax's train, evaluate and features units.
	if reused != 3 {
		t.Errorf("study b reused %d units of study a; want 3", reused)
	}
}

// TestPretrainOnDerivedTask plans a study that pretrains on mnist-lower and
// transfers (probes and fine-tuning) to mnist-upper, and runs its
// fine-tuning: derived tasks are training datasets.
func TestPretrainOnDerivedTask(t *testing.T) {
	s := tinySpec()
	s.Name, s.Dataset, s.Transfer, s.Corruptions = "halves", "mnist-lower", []string{"mnist-upper"}, nil
	s.Objectives, s.Seeds = s.Objectives[:1], []uint64{1}
	s.Analyses = []string{"finetune", "probe"}
	dir := t.TempDir()
	p, err := Run(context.Background(), s, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, u := range p.Units {
		kinds[u.Kind]++
	}
	if kinds[KindFinetune] != 1 || kinds[KindTransfer] != 1 {
		t.Fatalf("units by kind %v; want one fine-tuning and one transfer unit", kinds)
	}
	res := readResults(t, dir)
	for _, m := range []string{"finetune_mnist-upper_top1", "probe_mnist-upper_top1"} {
		if !strings.Contains(res, ","+m+",") {
			t.Errorf("results.csv lacks %s:\n%s", m, res)
		}
	}
}

// A study folder in use by another process is refused before any unit
// runs.
func TestRunRefusesAStudyFolderInUse(t *testing.T) {
	dir := t.TempDir()
	release, err := folderlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = Run(context.Background(), tinySpec(), Options{Dir: dir})
	if !errors.Is(err, folderlock.ErrBusy) {
		t.Fatalf("err = %v; want the folder-in-use error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "units")); err == nil {
		t.Error("the refused study started its store")
	}
	if _, err := os.Stat(filepath.Join(dir, PlanFile)); err == nil {
		t.Error("the refused study wrote its plan over the running one's")
	}
}
