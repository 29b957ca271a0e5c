package jsonfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	in := map[string]any{"a": 1.5, "b": "<c>"}
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "{\n  \"a\": 1.5,\n  \"b\": \"\\u003cc\\u003e\"\n}\n"; string(b) != want {
		t.Errorf("file %q, want %q", b, want)
	}
	var out map[string]any
	if err := Read(path, &out); err != nil || out["a"] != 1.5 || out["b"] != "<c>" {
		t.Errorf("read back %v, %v", out, err)
	}
	if err := Read(filepath.Join(dir, "none.json"), &out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	os.WriteFile(path, []byte("{broken"), 0o644)
	if err := Read(path, &out); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("broken file: %v, want an error naming %s", err, path)
	}
}
