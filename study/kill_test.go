package study

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// childDirEnv makes the test binary run the tiny study into the folder it
// names and exit, instead of running tests: the process that
// TestResumeAfterSIGKILL kills.
const childDirEnv = "LOSSLAB_TEST_STUDY_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if _, err := Run(context.Background(), tinySpec(), Options{Dir: dir}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestResumeAfterSIGKILL runs the tiny study in a child process and kills
// it with SIGKILL at random moments (no chance to clean up: half-written
// files, a training step in flight) until a run finishes; results.csv must
// equal that of a straight run, and no unit may have been finished twice.
func TestResumeAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills the study many times")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// run runs the study into dir; with killAt > 0 it kills the process
	// with SIGKILL once killAt units are finished, after a further random
	// delay that lands the kill inside whatever runs next (a training step,
	// an analysis, a half-written file). Waiting for markers rather than a
	// fixed time makes every killed run progress, however loaded the
	// machine is.
	run := func(dir string, killAt int, delay time.Duration) (killed bool) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		out := new(limitedBuffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var deadline <-chan time.Time
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("study process failed: %v\n%s", err, out)
				}
				return false
			case <-tick.C:
				if killAt > 0 && deadline == nil && finishedUnits(dir) >= killAt {
					deadline = time.After(delay)
				}
				continue
			case <-deadline:
			}
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
				return true
			}
			if err != nil {
				t.Fatalf("study process failed: %v\n%s", err, out)
			}
			return false // it finished just before the kill
		}
	}
	straight := t.TempDir()
	run(straight, 0, 0)
	want := readResults(t, straight)

	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 3))
	kills := 0
	var finished map[string]time.Time
	for attempt := 0; ; attempt++ {
		if attempt > 100 {
			t.Fatal("the study did not finish after 100 killed runs")
		}
		killAt := finishedUnits(dir) + 1 + rng.IntN(6)
		if !run(dir, killAt, time.Duration(rng.IntN(300))*time.Millisecond) {
			break
		}
		kills++
		// A unit finished before a kill keeps its marker unchanged.
		now := markers(t, dir)
		for id, at := range finished {
			if now[id] != at {
				t.Fatalf("unit %s was finished at %v, then again at %v: a finished unit was redone", id, at, now[id])
			}
		}
		finished = now
	}
	t.Logf("%d kills", kills)
	if kills < 3 {
		t.Errorf("only %d kills; the test did not exercise resuming", kills)
	}
	if got := readResults(t, dir); got != want {
		t.Errorf("results.csv after %d kills differs from the straight run:\n%s\nwant:\n%s", kills, got, want)
	}
}

// finishedUnits counts the completion markers in the study at dir.
func finishedUnits(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "units", "*", DoneFile))
	return len(m)
}

// markers reads the finish time of every finished unit in the study at dir.
func markers(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	p, err := LoadPlan(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // killed before the plan was saved
	}
	if err != nil {
		t.Fatal(err)
	}
	st := Options{Dir: dir}.store()
	out := map[string]time.Time{}
	for _, u := range p.Units {
		if m, err := st.Marker(u.ID); err == nil {
			out[u.ID] = m.Finished
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("unit %s: %v (a marker must be whole or absent)", u.ID, err)
		}
	}
	return out
}

// limitedBuffer keeps the last 8 KiB written to it, for failure messages.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 8<<10 {
		l.b = l.b[len(l.b)-8<<10:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
