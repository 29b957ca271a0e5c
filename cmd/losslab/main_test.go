package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/tensor"
)

func TestHelpForEveryCommand(t *testing.T) {
	for _, name := range commandNames() {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"help", name}, &out, io.Discard); err != nil {
			t.Fatalf("help %s: %v", name, err)
		}
		if !strings.Contains(out.String(), "Usage: losslab "+name) {
			t.Errorf("help %s printed %q, want a usage line", name, out.String())
		}
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"train"}, exitUsage},                                  // --out missing
		{[]string{"train", "--out", "x", "--model", "nope"}, exitUsage}, // unknown model
		{[]string{"train", "--out", "x", "--objective", "nope"}, exitUsage},
		{[]string{"bench", "nope"}, exitUsage},
		{[]string{"analyze", "nope"}, exitUsage},
		{[]string{"study", "--jobs", "-1", "--out", "x"}, exitUsage},
		{[]string{"study", "--executor", "nope", "--out", "x"}, exitUsage},    // refused before anything is written
		{[]string{"study", "plan", "--out", "x", "no-such-study"}, exitUsage}, // neither a file nor a built-in
	}
	for _, c := range cases {
		err := run(context.Background(), c.args, io.Discard, io.Discard)
		if got := exitCode(err, io.Discard); got != c.code {
			t.Errorf("%v: exit code %d (err %v), want %d", c.args, got, err, c.code)
		}
	}
	if _, err := os.Stat("x"); err == nil {
		os.RemoveAll("x")
		t.Error("a refused command wrote its --out folder x")
	}
	if got := exitCode(context.Canceled, io.Discard); got != exitInterrupted {
		t.Errorf("context.Canceled: exit code %d, want %d", got, exitInterrupted)
	}
	if got := exitCode(errors.New("disk full"), io.Discard); got != exitFailure {
		t.Errorf("plain error: exit code %d, want %d", got, exitFailure)
	}
}

func TestSetFlagsParse(t *testing.T) {
	var s setFlags
	for _, kv := range []string{"alpha=0.2", "rescale=false", "tau=5e-2"} {
		if err := s.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	if s["alpha"] != 0.2 || s["rescale"] != 0 || s["tau"] != 0.05 {
		t.Errorf("parsed %v", s)
	}
	for _, bad := range []string{"alpha", "=1", "alpha=x"} {
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

// TestAnalyzeLoss scores logits written as .npy against a hand-worked value:
// softmax CE of z=(0, ln 3) with label 1 is −log(3/4).
func TestAnalyzeLoss(t *testing.T) {
	dir := t.TempDir()
	lp, yp := filepath.Join(dir, "l.npy"), filepath.Join(dir, "y.npy")
	z := tensor.FromData([]float32{0, float32(math.Log(3)), 0, float32(math.Log(3))}, 2, 2)
	if err := npy.WriteFile(lp, npy.FromTensor(z)); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFile(yp, npy.FromInts([]int{1, 0})); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"analyze", "loss", "--objective", "softmax", "--logits", lp, "--labels", yp, "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Loss float64 }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	want := (-math.Log(0.75) - math.Log(0.25)) / 2
	if math.Abs(res.Loss-want) > 1e-6 {
		t.Errorf("loss %v, want %v", res.Loss, want)
	}
	err = run(context.Background(), []string{"analyze", "loss", "--objective", "cosine_softmax", "--logits", lp, "--labels", yp}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cosine_softmax") {
		t.Errorf("cosine_softmax from logits: err %v, want an explanation", err)
	}
}

// TestTrainTwiceDoesNoWork trains a tiny run, then runs the same command
// again: the second reports the same result and does no work.
func TestTrainTwiceDoesNoWork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--model", "mlp", "--epochs", "1", "--train-limit", "512", "--test-limit", "256",
		"--threads", "2", "--out", dir, "--json"}
	var first, second bytes.Buffer
	if err := run(context.Background(), args, &first, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args, &second, io.Discard); err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	json.Unmarshal(first.Bytes(), &a)
	json.Unmarshal(second.Bytes(), &b)
	if a["params_sha256"] == nil || a["params_sha256"] != b["params_sha256"] {
		t.Errorf("params_sha256 %v then %v", a["params_sha256"], b["params_sha256"])
	}
	if b["already_done"] != true {
		t.Errorf("second run: %v, want already_done", second.String())
	}
	// A different config on the same folder is refused.
	args[4] = "2"
	err := run(context.Background(), args, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "epochs") {
		t.Errorf("changed epochs on a finished run: err %v, want a refusal naming epochs", err)
	}
	if code := exitCode(err, io.Discard); code != exitUsage {
		t.Errorf("config conflict: exit code %d, want %d", code, exitUsage)
	}
}

// A built-in study is named on the command line like a spec file.
func TestStudyByName(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"study", "plan", "--out", dir, "coarse"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(39 training runs)") { // 13 variants × 3 seeds
		t.Errorf("plan output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "finetune-lr") {
		t.Errorf("the coarse study's plan has no rate choice:\n%s", out.String())
	}
}

// Flags may follow the study's name, and those before it are kept:
// `losslab study coarse --out DIR` is what users type.
func TestStudyFlagsAfterName(t *testing.T) {
	var full, quick bytes.Buffer
	if err := run(context.Background(), []string{"study", "plan", "coarse"}, &full, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"study", "plan", "coarse", "--quick"}, &quick, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full.String(), "40 epochs") || strings.Contains(quick.String(), "40 epochs") {
		t.Errorf("--quick after the name was not applied: the plans are\n%.300s\nand\n%.300s", full.String(), quick.String())
	}
	var o studyOptions
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--jobs", "1", "coarse", "--out", "x"}); err != nil {
		t.Fatal(err)
	}
	rest, err := o.parseAfter(fs.Args()[1:], io.Discard)
	if err != nil || len(rest) != 0 || o.jobs != 1 || o.out != "x" {
		t.Errorf("parseAfter: rest %v, err %v, jobs %d, out %q; want jobs 1 (given before the name) and out x", rest, err, o.jobs, o.out)
	}
	if err := run(context.Background(), []string{"study", "plan", "coarse", "default"}, io.Discard, io.Discard); exitCode(err, io.Discard) != exitUsage {
		t.Errorf("two study names: %v, want a usage error", err)
	}
}
