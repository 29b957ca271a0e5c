package main

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/npy"
)

// toyNPZ writes a .npz dataset of 6 train and 4 test 8×8 grey images.
func toyNPZ(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "toy.npz")
	img := func(n int) []byte {
		b := make([]byte, n*64)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}
	err := npy.WriteNPZ(path, []string{"x_train", "y_train", "x_test", "y_test"}, []*npy.Array{
		{Shape: []int{6, 8, 8}, DType: "|u1", Uint8: img(6)}, npy.FromInts([]int{0, 1, 0, 1, 0, 1}),
		{Shape: []int{4, 8, 8}, DType: "|u1", Uint8: img(4)}, npy.FromInts([]int{1, 0, 1, 0}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDataCommands(t *testing.T) {
	t.Setenv(data.CacheDirEnv, t.TempDir())
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"data", "list"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mnist", "fashion-mnist", "kmnist", "cifar100-coarse", "svhn"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("data list does not mention %s", name)
		}
	}
	for _, args := range [][]string{
		{"data"}, {"data", "nope"}, {"data", "fetch"}, {"data", "fetch", "no-such-set"},
		{"data", "corrupt", "--out", "x"}, {"data", "corrupt", "--dataset", "mnist"},
		{"data", "corrupt", "--dataset", "mnist", "--out", "x", "--corruptions", "acid_rain"},
	} {
		if got := exitCode(run(ctx, args, io.Discard, io.Discard), io.Discard); got != exitUsage {
			t.Errorf("%v: exit code %d, want %d", args, got, exitUsage)
		}
	}
	// kmnist is not in the empty cache: a runtime error naming the fix.
	err := run(ctx, []string{"data", "info", "kmnist"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "losslab data fetch kmnist") {
		t.Errorf("info on a missing dataset: %v", err)
	}

	npz := toyNPZ(t)
	dir := filepath.Join(t.TempDir(), "c")
	out.Reset()
	err = run(ctx, []string{"data", "corrupt", "--dataset", npz, "--out", dir, "--limit", "3",
		"--corruptions", "gaussian_noise,mnistc_stripe", "--far-ood", "2"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"gaussian_noise_s1.npy", "gaussian_noise_s5.npy", "mnistc_stripe_s1.npy", "labels.npy", "manifest.json", "far-ood_shapes.npy"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mnistc_stripe_s2.npy")); err == nil {
		t.Error("MNIST-C corruption written at severity 2")
	}
	a, err := npy.ReadFile(filepath.Join(dir, "gaussian_noise_s3.npy"))
	if err != nil || !slices.Equal(a.Shape, []int{3, 8, 8, 1}) || a.DType != "|u1" {
		t.Fatalf("corrupted set: %+v, %v", a, err)
	}
	grid := filepath.Join(t.TempDir(), "g.png")
	if err := run(ctx, []string{"data", "corrupt", "--dataset", npz, "--grid", grid, "--corruptions", "fog,contrast", "--images", "2", "--zoom", "2"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 4 rows (2 corruptions × 2 images), 6 columns (clean + 5), tiles of
	// 16 pixels plus a 1-pixel gutter.
	if b := img.Bounds(); b.Dx() != 6*17+1 || b.Dy() != 4*17+1 {
		t.Errorf("grid is %v", b)
	}
}
