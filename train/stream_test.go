package train

import (
	"bytes"
	"context"
	"fmt"
	goimage "image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
)

// jpegFolder writes root/{train,test}/c<k>/ JPEGs of 10–21 pixels a side,
// class k a bright band at rows [4k, 4k+4) of the top of the image, so
// that a model learns something.
func jpegFolder(t *testing.T, root string, nTrain, nTest, classes int) {
	t.Helper()
	for split, n := range map[string]int{"train": nTrain, "test": nTest} {
		for i := range n {
			k := i % classes
			h, w := 10+i%9, 12+i%10
			img := goimage.NewRGBA(goimage.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					v := uint8(40 + (x*7+y*13+i)%30)
					if y*classes/h == k {
						v = 220
					}
					img.SetRGBA(x, y, color.RGBA{v, v / 2, 255 - v, 255})
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(root, split, fmt.Sprintf("c%d", k), fmt.Sprintf("%d.jpg", i))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// streamConfig trains an mlp on a streamed folder at 8×8 for 2 epochs of
// 6 steps, with the ImageNet recipe's views and weight averaging.
func streamConfig(root string) Config {
	c := DefaultConfig(data.StreamName(root, 8), "mlp")
	c.Epochs = 2
	c.BatchSize = 16
	c.Augment = "random-resized-crop"
	c.EvalCrop = 0.875
	c.EMADecay = 0.9
	c.Threads = 2
	c.CheckpointEvery = 0
	return c
}

func TestStreamedRunResumesBitIdentically(t *testing.T) {
	root := t.TempDir()
	jpegFolder(t, root, 90, 30, 3)
	cfg := streamConfig(root)
	want := mustRun(t, cfg, t.TempDir())
	if want.Steps != 12 {
		t.Fatalf("%d steps, want 2 epochs of ⌈90/16⌉ = 6", want.Steps)
	}
	dir := t.TempDir()
	runCancelledAt(t, cfg, dir, 8) // mid-epoch 2: the loader restarts at batch 3
	got := mustRun(t, cfg, dir)
	if !got.Resumed || got.ParamsSHA256 != want.ParamsSHA256 || got.TestAccuracy != want.TestAccuracy || got.TestLoss != want.TestLoss {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}

	// One decoding goroutine instead of several: the same batches.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one := mustRun(t, cfg, t.TempDir())
	if one.ParamsSHA256 != want.ParamsSHA256 {
		t.Errorf("GOMAXPROCS 1: params %s, want %s", one.ParamsSHA256, want.ParamsSHA256)
	}
}

func TestStreamedRunUsesTheViews(t *testing.T) {
	root := t.TempDir()
	jpegFolder(t, root, 90, 30, 3)
	cfg := streamConfig(root)
	base := mustRun(t, cfg, t.TempDir())
	// The loader draws the crops: without random-resized-crop the training
	// batches, and so the weights, differ; the evaluation crop changes only
	// the evaluation.
	cfg.Augment = ""
	if r := mustRun(t, cfg, t.TempDir()); r.ParamsSHA256 == base.ParamsSHA256 {
		t.Error("random-resized-crop made no difference to a streamed run")
	}
	cfg = streamConfig(root)
	cfg.EvalCrop = 0
	r := mustRun(t, cfg, t.TempDir())
	if r.ParamsSHA256 != base.ParamsSHA256 {
		t.Error("eval_crop changed the training")
	}
	if r.TestLoss == base.TestLoss {
		t.Error("eval_crop did not change the evaluation")
	}
}

func TestStreamedRunReportsABadFile(t *testing.T) {
	root := t.TempDir()
	jpegFolder(t, root, 40, 10, 2)
	var bad string
	r := data.NewResolver()
	// The file goes bad after the folder was opened (and sampled): the
	// loader meets it during the epoch.
	if err := r.Add("breaks", func() (train, test *data.Dataset, err error) {
		if train, test, err = data.OpenImageFolder(root, 8); err != nil {
			return nil, nil, err
		}
		bad = train.Files.Paths[len(train.Files.Paths)-1]
		return train, test, os.WriteFile(bad, []byte("not an image"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	cfg := streamConfig(root)
	cfg.Dataset = "breaks"
	_, err := Run(context.Background(), cfg, t.TempDir(), Options{Datasets: r})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "epoch 1") {
		t.Fatalf("err = %v; want it to name %s and the epoch", err, bad)
	}
}
