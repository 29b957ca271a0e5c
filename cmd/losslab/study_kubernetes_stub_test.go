//go:build !kubernetes

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The default build has no Kubernetes executor: asking for it is a usage
// error that says how to build one, and nothing is written.
func TestKubernetesExecutorNeedsTheBuildTag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "study")
	err := run(context.Background(), []string{"study", "--executor", "kubernetes", "--out", out}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-tags kubernetes") || exitCode(err, io.Discard) != exitUsage {
		t.Fatalf("err = %v (exit %d); want a usage error naming the build tag", err, exitCode(err, io.Discard))
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the refused command wrote its --out folder")
	}
}
