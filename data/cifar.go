package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// CIFAR binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each
// record is labelBytes label bytes, then the 32×32 red plane, the green
// plane and the blue plane, rows top to bottom.
const (
	cifarSide  = 32
	cifarPlane = cifarSide * cifarSide
)

// ReadCIFARBin reads the records of CIFAR binary files. labelBytes is 1 for
// CIFAR-10 and 2 for CIFAR-100 (coarse, then fine); labelIndex picks which
// of them to return. numClasses bounds the labels. Files are concatenated
// in the given order; each file's size must be a whole number of records.
func ReadCIFARBin(paths []string, labelBytes, labelIndex, numClasses int) (*RawImages, []int, error) {
	rec := labelBytes + 3*cifarPlane
	var files [][]byte
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		if len(b) == 0 || len(b)%rec != 0 {
			return nil, nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte CIFAR records (truncated or wrong file)", p, len(b), rec)
		}
		files = append(files, b)
		n += len(b) / rec
	}
	raw := &RawImages{N: n, H: cifarSide, W: cifarSide, C: 3, Pix: make([]byte, n*3*cifarPlane)}
	labels := make([]int, n)
	i := 0
	for f, b := range files {
		for off := 0; off < len(b); off += rec {
			y := int(b[off+labelIndex])
			if y >= numClasses {
				return nil, nil, fmt.Errorf("%s: record %d has label %d; want < %d (wrong label layout?)", paths[f], off/rec, y, numClasses)
			}
			labels[i] = y
			planes := b[off+labelBytes : off+rec]
			dst := raw.Image(i)
			for p := range cifarPlane { // planar RGB → interleaved
				dst[3*p] = planes[p]
				dst[3*p+1] = planes[cifarPlane+p]
				dst[3*p+2] = planes[2*cifarPlane+p]
			}
			i++
		}
	}
	return raw, labels, nil
}

// CIFAR normalisations: the per-channel mean and standard deviation of the
// training pixels scaled to [0, 1], as commonly quoted for each dataset.
var (
	CIFAR10Normalization  = Normalization{Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.2470, 0.2435, 0.2616}}
	CIFAR100Normalization = Normalization{Mean: []float64{0.5071, 0.4865, 0.4409}, Std: []float64{0.2673, 0.2564, 0.2762}}
)

// LoadCIFAR10 reads CIFAR-10 from dir holding data_batch_1..5.bin and
// test_batch.bin (the cifar-10-batches-bin folder of the binary tarball).
func LoadCIFAR10(dir string, norm Normalization) (train, test *Dataset, err error) {
	var trainFiles []string
	for i := 1; i <= 5; i++ {
		trainFiles = append(trainFiles, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)))
	}
	return loadCIFAR("cifar10", trainFiles, []string{filepath.Join(dir, "test_batch.bin")}, 1, 0, 10, norm)
}

// LoadCIFAR100 reads CIFAR-100 from dir holding train.bin and test.bin
// (the cifar-100-binary folder), with the 100 fine labels or, if coarse,
// the 20 superclass labels.
func LoadCIFAR100(dir string, coarse bool, norm Normalization) (train, test *Dataset, err error) {
	name, index, k := "cifar100", 1, 100
	if coarse {
		name, index, k = "cifar100-coarse", 0, 20
	}
	return loadCIFAR(name, []string{filepath.Join(dir, "train.bin")}, []string{filepath.Join(dir, "test.bin")}, 2, index, k, norm)
}

func loadCIFAR(name string, trainFiles, testFiles []string, labelBytes, labelIndex, k int, norm Normalization) (train, test *Dataset, err error) {
	type result struct {
		raw    *RawImages
		labels []int
		err    error
	}
	var res [2]result
	done := make(chan struct{})
	for s, files := range [][]string{trainFiles, testFiles} {
		go func() {
			res[s].raw, res[s].labels, res[s].err = ReadCIFARBin(files, labelBytes, labelIndex, k)
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	for _, r := range res {
		if r.err != nil {
			return nil, nil, r.err
		}
	}
	if train, err = ToDataset(name, "train", res[0].raw, res[0].labels, k, norm); err != nil {
		return nil, nil, err
	}
	if test, err = ToDataset(name, "test", res[1].raw, res[1].labels, k, norm); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
