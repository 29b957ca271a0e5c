package data

import (
	"bytes"
	"fmt"
	goimage "image"
	"image/color"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// streamFolder writes root/<split>/c<k>/ PNGs (lossless, so that pixels
// can be checked exactly) of varying sizes: image i of class k is
// (6+i%5)×(9+i%7) (h×w), and its pixel (y, x, ch) is (10x + y + 50ch +
// 20k) mod 256.
func streamFolder(t *testing.T, root string, perClass, classes int) {
	t.Helper()
	for _, split := range []string{"train", "test"} {
		for k := range classes {
			for i := range perClass {
				h, w := 6+i%5, 9+i%7
				putPNG(t, filepath.Join(root, split, fmt.Sprintf("c%d", k), fmt.Sprintf("%d.png", i)), h, w,
					func(y, x, ch int) byte { return byte((10*x + y + 50*ch + 20*k) % 256) })
			}
		}
	}
}

func putPNG(t *testing.T, path string, h, w int, pix func(y, x, ch int) byte) {
	t.Helper()
	img := goimage.NewRGBA(goimage.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{pix(y, x, 0), pix(y, x, 1), pix(y, x, 2), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	putFile(t, path, buf.Bytes())
}

func TestEvalBox(t *testing.T) {
	for _, c := range []struct {
		h, w, size        int
		crop              float64
		rh, rw, top, left int
	}{
		// 10×20 at size 4, crop 1/2: shorter side 4/0.5 = 8, longer 8·20/10
		// = 16; offsets (8−4)/2 = 2 and (16−4)/2 = 6.
		{10, 20, 4, 0.5, 8, 16, 2, 6},
		// ImageNet's usual 375×500 at 224, crop 0.875: 256 × ⌊256·500/375⌋
		// = 256×341; offsets 16 and 58.5, rounded half to even: 58.
		{375, 500, 224, 0.875, 256, 341, 16, 58},
		{500, 375, 224, 0.875, 341, 256, 58, 16},
		// Offset 1.5 rounds to 2 (half to even), 2.5 to 2.
		{7, 7, 4, 1, 4, 4, 0, 0},
		{4, 7, 4, 1, 4, 7, 0, 2},
		{4, 9, 4, 1, 4, 9, 0, 2},
		// A square image is only scaled.
		{100, 100, 32, 1, 32, 32, 0, 0},
	} {
		rh, rw, top, left := EvalBox(c.h, c.w, c.size, c.crop)
		if rh != c.rh || rw != c.rw || top != c.top || left != c.left {
			t.Errorf("EvalBox(%d, %d, %d, %v) = %d, %d, %d, %d; want %d, %d, %d, %d",
				c.h, c.w, c.size, c.crop, rh, rw, top, left, c.rh, c.rw, c.top, c.left)
		}
	}
}

// openStream opens a streamed folder and replaces its estimated
// normalisation by the identity, so that values are pixels/255.
func openStream(t *testing.T, root string, size int) (train, test *Dataset) {
	t.Helper()
	train, test, err := OpenImageFolder(root, size)
	if err != nil {
		t.Fatal(err)
	}
	train.Norm, test.Norm = Identity, Identity
	return train, test
}

func TestReadEvalCentreCrop(t *testing.T) {
	// One 8×12 image at size 8, crop 1: the shorter side is already 8, so
	// the bicubic resize is the identity, and the view is columns [2, 10).
	root := t.TempDir()
	pix := func(y, x, ch int) byte { return byte(10*x + y + 50*ch) }
	for _, split := range []string{"train", "test"} {
		putPNG(t, filepath.Join(root, split, "only", "a.png"), 8, 12, pix)
	}
	_, test := openStream(t, root, 8)
	var b Batch
	if err := test.ReadEval([]int{0}, 1, &b, 2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.X.Shape, []int{1, 8, 8, 3}) {
		t.Fatalf("batch shape %v", b.X.Shape)
	}
	for y := range 8 {
		for x := range 8 {
			for ch := range 3 {
				want := float32(pix(y, x+2, ch)) / 255
				if got := b.X.Data[(y*8+x)*3+ch]; math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("pixel (%d, %d, %d) = %v, want %v (source column %d)", y, x, ch, got, want, x+2)
				}
			}
		}
	}
	// Crop 1/2 reads the same centre at twice the scale: resize to 16×24,
	// keep [4, 12)×[8, 16). A horizontal ramp stays a ramp away from the
	// edges under the cubic kernel, so the middle row's values rise.
	if err := test.ReadEval([]int{0}, 0.5, &b, 1); err != nil {
		t.Fatal(err)
	}
	row := b.X.Data[4*8*3 : 5*8*3]
	for x := 1; x < 8; x++ {
		if !(row[x*3] > row[(x-1)*3]) {
			t.Errorf("crop 1/2: red channel of the middle row not increasing at column %d: %v", x, row)
		}
	}
}

func TestReadTrainIsAFunctionOfTheKey(t *testing.T) {
	root := t.TempDir()
	streamFolder(t, root, 6, 3)
	train, _, err := OpenImageFolder(root, 5)
	if err != nil {
		t.Fatal(err)
	}
	indices := []int{3, 0, 17, 9, 9, 12, 1}
	keys := make([]uint64, len(indices))
	for i, j := range indices {
		keys[i] = ExampleKey(7, 2, j)
	}
	var one, many, again Batch
	if err := train.ReadTrain(indices, keys, &one, 1); err != nil {
		t.Fatal(err)
	}
	if err := train.ReadTrain(indices, keys, &many, 5); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.X.Data, many.X.Data) || !slices.Equal(one.Labels, many.Labels) {
		t.Fatal("the training view depends on the number of workers")
	}
	// Index 9 appears twice with the same key: the same view.
	per := 5 * 5 * 3
	if !slices.Equal(one.X.Data[3*per:4*per], one.X.Data[4*per:5*per]) {
		t.Error("one key gave two views")
	}
	for i, j := range indices {
		if one.Labels[i] != train.Labels[j] {
			t.Errorf("label %d = %d, want %d", i, one.Labels[i], train.Labels[j])
		}
	}
	// Another epoch's keys draw other crops.
	for i, j := range indices {
		keys[i] = ExampleKey(7, 3, j)
	}
	if err := train.ReadTrain(indices, keys, &again, 3); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(one.X.Data, again.X.Data) {
		t.Error("epochs 2 and 3 gave the same views")
	}
}

func TestReadTrainFlipsHalf(t *testing.T) {
	// A 16×16 image whose red channel is 16x: any crop resized to 4×4 keeps
	// red rising left to right, unless flipped.
	root := t.TempDir()
	for _, split := range []string{"train", "test"} {
		putPNG(t, filepath.Join(root, split, "c", "a.png"), 16, 16, func(_, x, ch int) byte {
			if ch == 0 {
				return byte(16 * x)
			}
			return 0
		})
	}
	train, _ := openStream(t, root, 4)
	const n = 400
	indices, keys := make([]int, n), make([]uint64, n)
	for i := range keys {
		keys[i] = ExampleKey(1, 0, i)
	}
	var b Batch
	if err := train.ReadTrain(indices, keys, &b, 2); err != nil {
		t.Fatal(err)
	}
	flipped := 0
	for i := range n {
		x := b.X.Data[i*48 : (i+1)*48]
		left, right := x[(1*4+0)*3], x[(1*4+3)*3]
		if left > right {
			flipped++
		}
	}
	if flipped < n*4/10 || flipped > n*6/10 {
		t.Errorf("%d of %d views flipped; want about half", flipped, n)
	}
}

func TestResizedCropBoxBounds(t *testing.T) {
	// Over many draws: every box inside the image; a box from the ten
	// tries has area in [0.08, 1] of the image and ratio w/h in
	// [3/4, 4/3], up to the rounding of its sides to whole pixels; the
	// fallback is the centred box of the clamped ratio.
	for _, size := range [][2]int{{224, 224}, {375, 500}, {500, 375}, {20, 40}, {33, 7}, {10, 200}} {
		h, w := size[0], size[1]
		for k := range 2000 {
			rng := exampleRNG{key: uint64(k)}
			top, left, bh, bw := resizedCropBox(h, w, &rng)
			if top < 0 || left < 0 || bh < 1 || bw < 1 || top+bh > h || left+bw > w {
				t.Fatalf("%d×%d: box (%d, %d, %d, %d) outside the image", h, w, top, left, bh, bw)
			}
			area := float64(bh*bw) / float64(h*w)
			ratio := float64(bw) / float64(bh)
			// Rounding each side moves it by ≤ 0.5 pixel.
			slackW, slackH := 0.5/float64(bw), 0.5/float64(bh)
			inRange := area >= 0.08*(1-slackW)*(1-slackH) && area <= 1 &&
				ratio >= 0.75*(1-slackW)*(1-slackH) && ratio <= 4.0/3*(1+slackW)*(1+slackH)
			if inRange {
				continue
			}
			// Only a fallback may leave the ranges: centred, one side full.
			if (bh != h && bw != w) || top != (h-bh)/2 || left != (w-bw)/2 {
				t.Fatalf("%d×%d: box %d×%d at (%d, %d): area %.3f, ratio %.3f out of range and not the centred fallback",
					h, w, bh, bw, top, left, area, ratio)
			}
		}
	}
	// A 3×400 image fits no box of ≥ 8% of its area (≥ 96 pixels) at a
	// ratio ≤ 4/3 (it would need h ≥ 8.5): every draw falls back to
	// h × round(h·4/3) = 3×4, centred at (0, (400−4)/2).
	rng := exampleRNG{key: 1}
	if top, left, bh, bw := resizedCropBox(3, 400, &rng); bh != 3 || bw != 4 || top != 0 || left != 198 {
		t.Errorf("fallback box of 3×400: (%d, %d, %d, %d), want (0, 198, 3, 4)", top, left, bh, bw)
	}
}

func TestOpenImageFolderStreams(t *testing.T) {
	root := t.TempDir()
	streamFolder(t, root, 4, 3)
	train, test, err := OpenImageFolder(root, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !train.Streamed() || train.Images != nil || train.Len() != 12 || test.Len() != 12 || train.NumClasses != 3 {
		t.Fatalf("streamed: %v, images %v, %d train, %d test, %d classes", train.Streamed(), train.Images != nil, train.Len(), test.Len(), train.NumClasses)
	}
	if !slices.Equal(train.ExampleShape(), []int{6, 6, 3}) {
		t.Errorf("example shape %v, want [6 6 3]", train.ExampleShape())
	}
	if err := train.Norm.Validate(3); err != nil || len(train.Norm.Mean) != 3 {
		t.Errorf("normalisation %+v: %v; want per-channel statistics", train.Norm, err)
	}
	// The estimated statistics standardise the evaluation views.
	all := make([]int, train.Len())
	for i := range all {
		all[i] = i
	}
	var b Batch
	if err := train.ReadEval(all, 1, &b, 2); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i := 0; i < len(b.X.Data); i += 3 {
		sum += float64(b.X.Data[i])
	}
	if m := sum / float64(len(b.X.Data)/3); math.Abs(m) > 1e-3 {
		t.Errorf("mean of the normalised red channel %v; want 0", m)
	}
	// Head and Subset select files, keeping labels with their images.
	h := train.Head(5)
	if h.Len() != 5 || len(h.Files.Paths) != 5 || !h.Streamed() {
		t.Errorf("Head(5): %d examples, %d files", h.Len(), len(h.Files.Paths))
	}
	s := train.Subset([]int{7, 2}, "validation")
	if !slices.Equal(s.Files.Paths, []string{train.Files.Paths[7], train.Files.Paths[2]}) || !slices.Equal(s.Labels, []int{train.Labels[7], train.Labels[2]}) || s.Split != "validation" {
		t.Errorf("Subset: %v %v %s", s.Files.Paths, s.Labels, s.Split)
	}
	if _, err := Convert(train, []int{4, 4, 3}, "x"); err == nil {
		t.Error("Convert of a streamed dataset: no error")
	}
}

func TestStreamNameResolves(t *testing.T) {
	root := t.TempDir()
	streamFolder(t, root, 4, 3)
	r := NewResolver()
	name := StreamName(root, 6)
	if !r.Known(name) || !r.Known(HoldoutName(name, 3)) {
		t.Fatalf("%s or its holdout is not known", name)
	}
	train, test, err := r.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if !train.Streamed() || !test.Streamed() {
		t.Fatal("not streamed")
	}
	rest, val, _, err := r.Holdout(name, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rest.Len() != 9 || val.Len() != 3 || !rest.Streamed() || !val.Streamed() {
		t.Errorf("holdout 3 of 12: %d + %d", rest.Len(), val.Len())
	}
	for _, bad := range []string{root + ":stream0", root + ":stream-3", root + ":stream06"} {
		if _, _, err := r.Load(bad); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
}

func TestStreamErrorsNameTheFile(t *testing.T) {
	root := t.TempDir()
	streamFolder(t, root, 3, 2)
	// The test split is not sampled when opening: its bad file shows when
	// read. A training file is, among the first streamStatsSample.
	bad := putFile(t, filepath.Join(root, "test", "c1", "zz.jpg"), []byte("\xff\xd8\xff\xe0 not a jpeg"))
	_, test, err := OpenImageFolder(root, 4)
	if err != nil {
		t.Fatal(err)
	}
	j := slices.Index(test.Files.Paths, bad)
	var b Batch
	requireErr(t, test.ReadTrain([]int{0, j, 1}, []uint64{1, 2, 3}, &b, 2), bad, "cannot decode")
	requireErr(t, test.ReadEval([]int{j}, 1, &b, 1), bad)
	badTrain := putFile(t, filepath.Join(root, "train", "c0", "zz.png"), []byte("\x89PNG truncated"))
	_, _, err = OpenImageFolder(root, 4)
	requireErr(t, err, badTrain, "cannot decode")

	empty := t.TempDir()
	streamFolder(t, empty, 2, 2)
	putFile(t, filepath.Join(empty, "train", "c2", "readme.txt"), []byte("no images"))
	putFile(t, filepath.Join(empty, "test", "c2", "x.txt"), []byte("no images"))
	_, _, err = OpenImageFolder(empty, 4)
	requireErr(t, err, filepath.Join(empty, "train", "c2"), "no images")

	mismatch := t.TempDir()
	streamFolder(t, mismatch, 2, 2)
	putPNG(t, filepath.Join(mismatch, "train", "extra", "a.png"), 4, 4, func(int, int, int) byte { return 1 })
	_, _, err = OpenImageFolder(mismatch, 4)
	requireErr(t, err, "differ")
}
