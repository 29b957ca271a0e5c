package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/losslab/losslab/internal/folderlock"
)

// asMainEnv makes the test binary run as losslab itself (main, with its
// arguments), so that tests can start real second processes.
const asMainEnv = "LOSSLAB_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) != "" {
		main()
	}
	os.Exit(m.Run())
}

// outBuffer is a process's output, read while the process writes it.
type outBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *outBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *outBuffer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func (o *outBuffer) Bytes() []byte { return []byte(o.String()) }

// losslab starts the test binary as 'losslab args...'.
func losslab(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *outBuffer) {
	t.Helper()
	cmd = exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	stdout, stderr = &outBuffer{}, &outBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

func trainArgs(dir string, extra ...string) []string {
	return append([]string{"train", "--model", "mlp", "--epochs", "1", "--train-limit", "512", "--test-limit", "256",
		"--threads", "1", "--out", dir, "--json"}, extra...)
}

type trainJSON struct {
	AlreadyDone  bool   `json:"already_done"`
	ParamsSHA256 string `json:"params_sha256"`
}

// TestTwoTrainProcessesOneTrains starts two processes on one run folder
// at once: exactly one trains; the other waits for it (--wait) and reports
// the same run as already finished.
func TestTwoTrainProcessesOneTrains(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *outBuffer
	}
	var ps []proc
	for range 2 {
		c, o, e := losslab(t, trainArgs(dir, "--wait")...)
		ps = append(ps, proc{c, o, e})
	}
	trained := 0
	var sums []string
	for _, p := range ps {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("a train process failed: %v\n%s", err, p.stderr)
		}
		var r trainJSON
		if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
			t.Fatalf("%v: %q", err, p.stdout)
		}
		if !r.AlreadyDone {
			trained++
		}
		sums = append(sums, r.ParamsSHA256)
	}
	if trained != 1 {
		t.Errorf("%d of two processes on one folder trained; want exactly one", trained)
	}
	if sums[0] == "" || sums[0] != sums[1] {
		t.Errorf("params_sha256 %q and %q; want the one run's", sums[0], sums[1])
	}
}

// A second process on a folder in use stops at once, naming the folder
// and the holder's host, pid and start time; with --wait it waits, then
// does the work once the holder lets go.
func TestFolderInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	release, err := folderlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	host, _ := os.Hostname()
	holder := "in use by process " + strconv.Itoa(os.Getpid()) + " on " + host + " since "

	start := time.Now()
	cmd, stdout, stderr := losslab(t, trainArgs(dir)...)
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != exitFailure {
		t.Errorf("train on a folder in use: exit %d (%v); want %d", code, err, exitFailure)
	}
	if !strings.Contains(stderr.String(), dir+" is "+holder) || !strings.Contains(stderr.String(), "--wait") {
		t.Errorf("stderr %q; want it to name %s, the holder and --wait", stderr, dir)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the refusal took %v; want it at once", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil || stdout.String() != "" {
		t.Errorf("the refused process wrote its config or printed %q", stdout)
	}

	cmd, stdout, stderr = losslab(t, trainArgs(dir, "--wait")...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), holder); {
		select {
		case err := <-done:
			t.Fatalf("train --wait returned (%v) while the folder was in use:\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("train --wait does not say whom it waits for")
		}
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("train --wait: %v\n%s", err, stderr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("train --wait did not finish after the folder was let go")
	}
	var r trainJSON
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.AlreadyDone {
		t.Errorf("train --wait: %+v, %v; want it to have trained", r, err)
	}
}
