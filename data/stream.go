package data

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ImageFiles is the file list of a streamed image-folder split: the only
// per-example state a streamed dataset holds in memory, so that a folder of
// any size trains in memory bounded by a few batches.
type ImageFiles struct {
	// Paths holds one image file per example, in the dataset's order.
	Paths []string
	// Size is the side of the square images delivered; Channels is 1 or 3.
	Size, Channels int
}

// StreamName names image folder path streamed at size×size (OpenImageFolder):
// "PATH:streamSIZE". The Resolver resolves it for any image-folder path, and
// its holdout splits as for any dataset.
func StreamName(path string, size int) string { return path + ":stream" + strconv.Itoa(size) }

// splitStream parses a StreamName; ok is false for any other name.
func splitStream(name string) (path string, size int, ok bool) {
	i := strings.LastIndex(name, ":stream")
	if i <= 0 {
		return "", 0, false
	}
	size, err := strconv.Atoi(name[i+len(":stream"):])
	if err != nil || size <= 0 || strconv.Itoa(size) != name[i+len(":stream"):] {
		return "", 0, false
	}
	return name[:i], size, true
}

// streamStatsSample is the number of training images whose pixels estimate
// a streamed folder's normalisation: a full pass over ImageNet would cost as
// much as an epoch of decoding, and the mean and deviation of a thousand
// images drawn at random (the folder's mixed order) are within a fraction
// of a percent of the whole set's.
const streamStatsSample = 1000

// OpenImageFolder opens root/train/<class>/… and root/test/<class>/… for
// streaming at size×size: it lists the files (in the mixed order of
// LoadImageFolder) and decodes nothing but a sample for the normalisation,
// the per-channel mean and deviation of the first streamStatsSample
// training images' evaluation view. Channels are those of the first
// training image (1 if grey, else 3). Every class folder must hold images
// in both splits.
func OpenImageFolder(root string, size int) (train, test *Dataset, err error) {
	if size <= 0 {
		return nil, nil, fmt.Errorf("%s: stream size %d; want > 0", root, size)
	}
	var files [2][]string
	var labels [2][]int
	var classes [2][]string
	for s, split := range []string{"train", "test"} {
		dir := filepath.Join(root, split)
		if files[s], labels[s], classes[s], _, err = listImageFolder(dir); err != nil {
			return nil, nil, err
		}
		counts := make([]int, len(classes[s]))
		for _, y := range labels[s] {
			counts[y]++
		}
		for k, n := range counts {
			if n == 0 {
				return nil, nil, fmt.Errorf("%s: class folder holds no images (.png, .jpg, .jpeg)", filepath.Join(dir, classes[s][k]))
			}
		}
		files[s], labels[s] = mixOrder(files[s], labels[s])
	}
	if !slices.Equal(classes[0], classes[1]) {
		return nil, nil, fmt.Errorf("%s: train classes %v differ from test classes %v", root, classes[0], classes[1])
	}
	first, err := decodeImageFile(files[0][0])
	if err != nil {
		return nil, nil, err
	}
	c := 3
	if isGrey(first) {
		c = 1
	}
	name := filepath.Base(filepath.Clean(root))
	k := len(classes[0])
	mk := func(split string, s int) *Dataset {
		return &Dataset{Name: name, Split: split, Labels: labels[s], NumClasses: k,
			Files: &ImageFiles{Paths: files[s], Size: size, Channels: c}}
	}
	train, test = mk("train", 0), mk("test", 1)
	norm, err := streamStats(train.Head(streamStatsSample))
	if err != nil {
		return nil, nil, err
	}
	train.Norm, test.Norm = norm, norm
	return train, test, nil
}

// streamStats is the per-channel normalisation of d's evaluation views.
func streamStats(d *Dataset) (Normalization, error) {
	f := d.Files
	raw := &RawImages{N: d.Len(), H: f.Size, W: f.Size, C: f.Channels, Pix: make([]byte, d.Len()*f.Size*f.Size*f.Channels)}
	per := f.Size * f.Size * f.Channels
	err := parallelExamples(d.Len(), runtime.GOMAXPROCS(0), func(i int, w *streamWorker) error {
		return w.example(f, f.Paths[i], 0, false, 1, raw.Pix[i*per:(i+1)*per])
	})
	if err != nil {
		return Normalization{}, err
	}
	return ChannelStats(raw), nil
}

// Streamed reports whether d decodes its examples from files on demand
// (OpenImageFolder) rather than holding them in memory.
func (d *Dataset) Streamed() bool { return d.Files != nil }

// ReadTrain decodes the training view of the examples at indices into b:
// a random-resized crop of the full-resolution image (scale [0.08, 1],
// ratio [3/4, 4/3], resizedCropBox), a bicubic resize to Size×Size
// (Resize), and a horizontal flip with probability 1/2, normalised with
// d.Norm. keys[i] (ExampleKey) decides example i's draws, so the result
// depends neither on workers (the number of decoding goroutines) nor on
// when it runs. An undecodable file is an error naming it.
func (d *Dataset) ReadTrain(indices []int, keys []uint64, b *Batch, workers int) error {
	if len(keys) != len(indices) {
		panic(fmt.Sprintf("data: %d keys for %d examples", len(keys), len(indices)))
	}
	return d.read(indices, keys, 1, b, workers)
}

// ReadEval decodes the evaluation view of the examples at indices into b:
// the shorter side resized (bicubic) to ⌊Size/crop⌋, the longer side in
// proportion (truncated), then the central Size×Size (EvalBox). crop 0
// means 1.
func (d *Dataset) ReadEval(indices []int, crop float64, b *Batch, workers int) error {
	if crop == 0 {
		crop = 1
	}
	if !(crop > 0 && crop <= 1) {
		panic(fmt.Sprintf("data: evaluation crop %v outside (0, 1]", crop))
	}
	return d.read(indices, nil, crop, b, workers)
}

func (d *Dataset) read(indices []int, keys []uint64, crop float64, b *Batch, workers int) error {
	f := d.Files
	if f == nil {
		panic("data: ReadTrain/ReadEval on dataset " + d.Name + ", which is held in memory")
	}
	per := f.Size * f.Size * f.Channels
	b.X = ensureBatch(b.X, len(indices), []int{f.Size, f.Size, f.Channels})
	b.Labels = b.Labels[:0]
	for _, j := range indices {
		b.Labels = append(b.Labels, d.Labels[j])
	}
	tables := d.Norm.lookup(f.Channels)
	return parallelExamples(len(indices), workers, func(i int, w *streamWorker) error {
		train := keys != nil
		var key uint64
		if train {
			key = keys[i]
		}
		if err := w.example(f, f.Paths[indices[i]], key, train, crop, w.bytes(per)); err != nil {
			return err
		}
		dst, src, c := b.X.Data[i*per:(i+1)*per], w.out[:per], f.Channels
		for p := 0; p < per; p += c {
			for k := range c {
				dst[p+k] = tables[k][src[p+k]]
			}
		}
		return nil
	})
}

// streamWorker holds one decoding goroutine's buffers.
type streamWorker struct {
	pix, crop []float32
	out       []byte
}

func (w *streamWorker) bytes(n int) []byte {
	if cap(w.out) < n {
		w.out = make([]byte, n)
	}
	return w.out[:n]
}

// parallelExamples runs fn for 0 ≤ i < n on up to workers goroutines
// (at least one), each with its own buffers, and returns the first error.
func parallelExamples(n, workers int, fn func(i int, w *streamWorker) error) error {
	workers = max(1, min(workers, n))
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &streamWorker{}
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i, w); err != nil {
					errs[g] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// streamKeySalt separates the loader's draws from those of the in-batch
// augmentation chain, which starts from the same example key.
const streamKeySalt = 0x73747265616d

// example decodes path into dst (Size×Size×Channels bytes): the training
// view drawn from key if train, else the evaluation view at crop.
func (w *streamWorker) example(f *ImageFiles, path string, key uint64, train bool, crop float64, dst []byte) error {
	img, err := decodeImageFile(path)
	if err != nil {
		return err
	}
	b := img.Bounds()
	h, wd, c, s := b.Dy(), b.Dx(), f.Channels, f.Size
	if h == 0 || wd == 0 {
		return fmt.Errorf("%s: empty image", path)
	}
	w.pix = imageFloats(img, c, w.pix)
	if !train {
		rh, rw, top, left := EvalBox(h, wd, s, crop)
		out := Resize(w.pix, 1, h, wd, c, rh, rw)
		for y := range s {
			row := out[((top+y)*rw+left)*c : ((top+y)*rw+left+s)*c]
			quantizeRow(dst[y*s*c:(y+1)*s*c], row)
		}
		return nil
	}
	rng := exampleRNG{key: mix64(key ^ streamKeySalt)}
	top, left, ch, cw := resizedCropBox(h, wd, &rng)
	if cap(w.crop) < ch*cw*c {
		w.crop = make([]float32, ch*cw*c)
	}
	w.crop = w.crop[:ch*cw*c]
	for y := range ch {
		copy(w.crop[y*cw*c:(y+1)*cw*c], w.pix[((top+y)*wd+left)*c:((top+y)*wd+left+cw)*c])
	}
	out := Resize(w.crop, 1, ch, cw, c, s, s)
	quantizeRow(dst, out)
	if rng.uint64()&1 == 1 {
		for y := range s {
			row := dst[y*s*c : (y+1)*s*c]
			for l, r := 0, s-1; l < r; l, r = l+1, r-1 {
				for k := range c {
					row[l*c+k], row[r*c+k] = row[r*c+k], row[l*c+k]
				}
			}
		}
	}
	return nil
}

// quantizeRow rounds resampled pixels to bytes, clamping the overshoot of
// the bicubic kernel, as PIL does for 8-bit images.
func quantizeRow(dst []byte, src []float32) {
	for i, v := range src {
		dst[i] = byte(min(max(math.Round(float64(v)), 0), 255))
	}
}

// EvalBox is the evaluation view's geometry for an h×w image, output side
// size and crop fraction: the image is resized to rh×rw, its shorter side
// to ⌊size/crop⌋ and its longer side to ⌊that·long/short⌋ (torchvision's
// Resize(int)), and the size×size box at (top, left) kept, its offsets
// (rh−size)/2 and (rw−size)/2 rounded half to even (torchvision's
// CenterCrop, Python's round).
func EvalBox(h, w, size int, crop float64) (rh, rw, top, left int) {
	// The tolerance keeps a quotient that is whole in exact arithmetic
	// (224/0.875 = 256) whole despite the fraction's binary rounding.
	short := int(math.Floor(float64(size)/crop + 1e-9))
	if h <= w {
		rh, rw = short, int(float64(short)*float64(w)/float64(h))
	} else {
		rh, rw = int(float64(short)*float64(h)/float64(w)), short
	}
	rh, rw = max(rh, size), max(rw, size)
	top = int(math.RoundToEven(float64(rh-size) / 2))
	left = int(math.RoundToEven(float64(rw-size) / 2))
	return rh, rw, top, left
}

// streamedSubset is d with only the given examples, sharing nothing
// mutable with d.
func (d *Dataset) streamedSubset(paths []string, labels []int, split string) *Dataset {
	out := *d
	f := *d.Files
	f.Paths = paths
	out.Files, out.Labels, out.Split = &f, labels, split
	return &out
}

// streamedPanic refuses in-memory access to a streamed dataset: its
// examples come only through ReadTrain and ReadEval, which report an
// undecodable file instead of panicking.
func (d *Dataset) streamedPanic(what string) {
	panic(fmt.Sprintf("data: %s of dataset %s, which streams from files: use ReadTrain or ReadEval", what, d.Name))
}
