package study

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestArrayRange(t *testing.T) {
	if got := arrayRange([]int{0, 1, 2, 5, 7, 8}); got != "0-2,5,7-8" {
		t.Errorf("arrayRange = %q; want 0-2,5,7-8", got)
	}
}

// TestSlurmExecutor runs a tiny study through a real Slurm: the training
// units as a job array, then the analyses and report as a dependent job.
// It is skipped where sbatch is missing, unless LOSSLAB_TEST_DISALLOW_SKIP
// contains "slurm" (CI sets it after .ci/slurm-up.sh).
func TestSlurmExecutor(t *testing.T) {
	_, err := exec.LookPath("sbatch")
	if err == nil {
		// sbatch without a reachable controller (no SLURM_CONF) is no cluster.
		err = exec.Command("sinfo", "-h").Run()
	}
	if err != nil {
		if strings.Contains(os.Getenv("LOSSLAB_TEST_DISALLOW_SKIP"), "slurm") {
			t.Fatalf("no Slurm cluster (sbatch/sinfo: %v), and LOSSLAB_TEST_DISALLOW_SKIP=slurm forbids skipping", err)
		}
		t.Skipf("no Slurm cluster (sbatch/sinfo: %v); run eval \"$(.ci/slurm-up.sh)\" to test the Slurm executor", err)
	}
	bin := filepath.Join(t.TempDir(), "losslab")
	build := exec.Command("go", "build", "-o", bin, "github.com/losslab/losslab/cmd/losslab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building losslab: %v\n%s", err, out)
	}
	s := tinySpec()
	s.Transfer, s.Corruptions = nil, nil
	s.Seeds = []uint64{1}
	// Threads 1: the array tasks run side by side on the node.
	s.Recipe["threads"] = 1
	dir := t.TempDir()
	p, err := NewPlan(s, testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	if err := SavePlan(dir, p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	if err := RunSlurm(ctx, p, Options{Dir: dir, Log: &log}, SlurmOptions{Binary: bin, Poll: 500 * time.Millisecond}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	st := Store{Dir: filepath.Join(dir, "units")}
	for _, u := range p.Units {
		if !st.Done(u.ID) {
			t.Errorf("unit %s not done", u.ID)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "slurm", "train-*.log"))
	if len(logs) != len(p.TrainUnits()) {
		t.Errorf("%d training task logs; want one per training unit (%d): the array did not run them", len(logs), len(p.TrainUnits()))
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
}
