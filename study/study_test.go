package study

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/train"
)

func tinySpec() Spec {
	base := train.DefaultConfig("mnist", "mlp")
	base.Epochs, base.TrainLimit, base.TestLimit, base.Threads = 1, 256, 128, 2
	return Spec{Name: "tiny", Base: base, Objectives: []Objective{{Name: "softmax"}, {Name: "label_smoothing", Params: map[string]float64{"alpha": 0.2}}}, Seeds: []uint64{1, 2}}
}

func TestUnitIDsAreContentAddressed(t *testing.T) {
	s := tinySpec()
	a, err := s.Units()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 4 {
		t.Fatalf("%d units, want 4", len(a))
	}
	ids := map[string]bool{}
	for _, u := range a {
		ids[u.ID] = true
	}
	if len(ids) != 4 {
		t.Errorf("unit ids not distinct: %v", ids)
	}
	// Reordering objectives and seeds changes the order, not the ids.
	s.Objectives[0], s.Objectives[1] = s.Objectives[1], s.Objectives[0]
	s.Seeds = []uint64{2, 1}
	b, _ := s.Units()
	for _, u := range b {
		if !ids[u.ID] {
			t.Errorf("unit %s (%s seed %d) is new after reordering", u.ID, u.Config.Objective, u.Config.Seed)
		}
	}
	// A changed hyperparameter is a different unit.
	s.Objectives[0].Params = map[string]float64{"alpha": 0.3}
	c, _ := s.Units()
	if ids[c[0].ID] {
		t.Errorf("changing alpha kept id %s", c[0].ID)
	}
}

func TestRunWritesReportAndReusesUnits(t *testing.T) {
	dir := t.TempDir()
	s := tinySpec()
	rows, err := Run(context.Background(), s, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"softmax", "label_smoothing"} {
		if !strings.Contains(string(report), "| "+o+" |") {
			t.Errorf("report lacks a row for %s:\n%s", o, report)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	if got := strings.Count(string(csv), "\n"); got != 1+2*len(rows) {
		t.Errorf("results.csv has %d lines, want %d", got, 1+2*len(rows))
	}
	// Running again (with one more seed) trains only the new unit.
	s.Seeds = append(s.Seeds, 3)
	rows2, err := Run(context.Background(), s, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, r := range rows2 {
		if r.Result.AlreadyDone {
			done++
		}
	}
	if done != len(rows) || len(rows2) != len(rows)+2 {
		t.Errorf("second run: %d of %d units already done, want %d of %d", done, len(rows2), len(rows), len(rows)+2)
	}
}

func TestMeanSEM(t *testing.T) {
	m, s := meanSEM([]float64{1, 2, 3, 4})
	// sample sd of 1..4 is sqrt(5/3); sem = sd/2.
	if m != 2.5 || s < 0.6454 || s > 0.6455 {
		t.Errorf("meanSEM = %v, %v; want 2.5, 0.6455", m, s)
	}
}
