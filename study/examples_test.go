package study

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleSpecsParse reads every spec shipped in examples/: each must
// parse with every key known, and plan where its datasets need no files.
func TestExampleSpecsParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example specs in examples/; want at least cifar10, cifar10-halves and imagenet-resnet50", len(files))
	}
	for _, f := range files {
		s, err := LoadSpec(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(s.Seeds) < 3 && !strings.Contains(f, "halves") {
			t.Errorf("%s: %d seeds; the full examples run at least 3", f, len(s.Seeds))
		}
		if s.Dataset == "cifar10" {
			// Planning needs no data: missing targets become notes.
			if _, err := NewPlan(s, testDatasets); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
