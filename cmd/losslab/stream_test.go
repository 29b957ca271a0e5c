package main

import (
	"bytes"
	"context"
	"fmt"
	goimage "image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/train"
)

// TestTrainStreamedFolder trains from the command line on a folder of
// images of mixed sizes streamed at 8×8, which the in-memory folder loader
// refuses (its images must share one size), and checks that `data info`
// describes the streamed views and `data corrupt` refuses them.
func TestTrainStreamedFolder(t *testing.T) {
	t.Setenv(data.CacheDirEnv, t.TempDir()) // the in-memory loader's decoded cache
	root := t.TempDir()
	for split, n := range map[string]int{"train": 24, "test": 8} {
		for i := range n {
			img := goimage.NewRGBA(goimage.Rect(0, 0, 9+i%4, 11+i%3))
			for j := range img.Pix {
				img.Pix[j] = uint8(60*(i%2) + j%50)
			}
			img.Set(0, 0, color.RGBA{255, 0, 0, 255})
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(root, split, fmt.Sprintf("c%d", i%2), fmt.Sprintf("%d.png", i))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	if err := run(ctx, []string{"data", "info", root}, io.Discard, io.Discard); err == nil {
		t.Error("the in-memory loader read images of mixed sizes")
	}
	var info bytes.Buffer
	if err := run(ctx, []string{"data", "info", root + ":stream8"}, &info, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.String(), "24 examples of [8 8 3], 2 classes") {
		t.Errorf("data info:\n%s", info.String())
	}
	out := t.TempDir()
	err := run(ctx, []string{"train", "--dataset", root + ":stream8", "--model", "mlp", "--epochs", "1", "--batch", "8",
		"--augment", "random-resized-crop", "--set", "eval_crop=0.875", "--threads", "1", "--out", out}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, train.MetricsFile)); err != nil {
		t.Errorf("no %s after training: %v", train.MetricsFile, err)
	}
	err = run(ctx, []string{"data", "corrupt", "--dataset", root + ":stream8", "--out", t.TempDir(), "--corruptions", "fog"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "streams") {
		t.Errorf("data corrupt of a streamed folder: %v; want a refusal", err)
	}
}
