package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/losslab/losslab/internal/atomicfile"
)

// CacheDirEnv names the environment variable that overrides the download
// cache folder.
const CacheDirEnv = "LOSSLAB_DATA"

// CacheDir is where downloaded datasets live: $LOSSLAB_DATA, else
// <user cache dir>/losslab (e.g. ~/.cache/losslab on Linux).
func CacheDir() (string, error) {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: set %s (%w)", CacheDirEnv, err)
	}
	return filepath.Join(d, "losslab"), nil
}

// CheckedFile is a file a dataset needs at load time, with the checksum of
// its uncompressed contents (gzip files are decompressed before hashing,
// so a re-compressed copy such as Debian's still verifies).
type CheckedFile struct {
	Path        string // relative to the dataset folder
	SHA256, MD5 string // of the uncompressed bytes; SHA256 preferred
	// AsStored hashes the file's bytes as they are, compressed or not.
	AsStored bool
}

// Entry is one dataset of the catalogue.
type Entry struct {
	Name        string
	Description string
	// Dir is the folder name under the cache (defaults to Name); datasets
	// that are views of one download (cifar100, cifar100-coarse) share it.
	Dir string
	// Files are the files loading needs.
	Files []CheckedFile
	// Downloads are fetched by `losslab data fetch`; Unpack (if set) then
	// extracts Files from them.
	Downloads []Remote
	Unpack    func(dir string) error
	// SystemDirs are folders where a system package may have installed
	// Files (checked before the cache), e.g. Debian's dataset packages.
	SystemDirs []string
	// Hint says how to get the data without the network, if possible.
	Hint string
	// Licence is the dataset's licence and required attribution.
	Licence string
	// Norm is the normalisation used when loading.
	Norm Normalization
	load func(dir string, norm Normalization) (train, test *Dataset, err error)
	// locate overrides the folder search (MNIST: the GoMNIST module).
	locate func() (string, error)
}

// DownloadSize is the total published size of e's downloads in bytes.
func (e *Entry) DownloadSize() int64 {
	var n int64
	for _, r := range e.Downloads {
		n += r.Size
	}
	return n
}

func (e *Entry) cacheDir() (string, error) {
	c, err := CacheDir()
	if err != nil {
		return "", err
	}
	name := e.Dir
	if name == "" {
		name = e.Name
	}
	return filepath.Join(c, name), nil
}

func hasFiles(dir string, files []CheckedFile) bool {
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f.Path)); err != nil {
			return false
		}
	}
	return true
}

// ErrNotPresent is wrapped by Locate's error when a dataset has not been
// fetched.
var ErrNotPresent = errors.New("dataset not present")

// Locate returns the folder holding e's files: a system folder, else the
// cache. It never downloads; the error for a missing dataset says how to
// get it.
func (e *Entry) Locate() (string, error) {
	if e.locate != nil {
		return e.locate()
	}
	for _, d := range e.SystemDirs {
		if hasFiles(d, e.Files) {
			return d, nil
		}
	}
	dir, err := e.cacheDir()
	if err != nil {
		return "", err
	}
	if hasFiles(dir, e.Files) {
		return dir, nil
	}
	how := fmt.Sprintf("run 'losslab data fetch %s' (downloads %.0f MB into %s)", e.Name, float64(e.DownloadSize())/1e6, dir)
	if e.Hint != "" {
		how = e.Hint + ", or " + how
	}
	return "", fmt.Errorf("%w: %s not found in %s: %s", ErrNotPresent, e.Name, strings.Join(append(slices.Clone(e.SystemDirs), dir), ", "), how)
}

// Fetch downloads e's files into the cache (nothing if they are present
// in a system folder or the cache already) and unpacks them.
func (e *Entry) Fetch(ctx context.Context, d *Downloader) (string, error) {
	if e.locate != nil {
		return e.locate()
	}
	if dir, err := e.Locate(); err == nil {
		return dir, nil
	}
	dir, err := e.cacheDir()
	if err != nil {
		return "", err
	}
	for _, r := range e.Downloads {
		if err := d.Fetch(ctx, r, dir); err != nil {
			return "", err
		}
	}
	if e.Unpack != nil {
		if err := e.Unpack(dir); err != nil {
			return "", err
		}
	}
	return dir, e.VerifyIn(dir)
}

// VerifyIn checks the uncompressed checksum of each of e's files in dir.
func (e *Entry) VerifyIn(dir string) error {
	var errs []error
	for _, f := range e.Files {
		if err := verifyFile(filepath.Join(dir, f.Path), f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func verifyFile(path string, f CheckedFile) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var src io.Reader = r
	var magic [2]byte
	if n, _ := io.ReadFull(r, magic[:]); n == 2 && magic == [2]byte{0x1f, 0x8b} && !f.AsStored {
		r.Seek(0, io.SeekStart)
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: bad gzip: %w", path, err)
		}
		src = zr
	} else {
		r.Seek(0, io.SeekStart)
	}
	var h hash.Hash
	want, algo := f.SHA256, "sha256"
	if want != "" {
		h = sha256.New()
	} else {
		h, want, algo = md5.New(), f.MD5, "md5"
	}
	if _, err := io.Copy(h, src); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: uncompressed %s is %s, want %s (corrupt or wrong file)", path, algo, got, want)
	}
	return nil
}

var (
	catalogMu sync.Mutex
	loaded    = map[string]*loadOnce{}
)

type loadOnce struct {
	once        sync.Once
	train, test *Dataset
	err         error
}

// Load loads a catalogue dataset or, for a name that is a path, a .npz file
// or an image folder with train/ and test/ (see LoadPath). Each dataset is
// decoded once per process and then shared: callers must not modify the
// returned datasets (copy with Subset or Head first). Load never
// downloads.
func Load(name string) (train, test *Dataset, err error) {
	catalogMu.Lock()
	l := loaded[name]
	if l == nil {
		l = &loadOnce{}
		loaded[name] = l
	}
	catalogMu.Unlock()
	l.once.Do(func() {
		if IsPath(name) {
			l.train, l.test, l.err = LoadPath(name)
			return
		}
		e := Lookup(name)
		if e == nil {
			l.err = fmt.Errorf("unknown dataset %q; known: %s, or a path to a .npz file or an image folder", name, strings.Join(Names(), ", "))
			return
		}
		dir, err := e.Locate()
		if err != nil {
			l.err = err
			return
		}
		l.train, l.test, l.err = e.load(dir, e.Norm)
		if l.err == nil {
			l.train.Name, l.test.Name = e.Name, e.Name
		}
	})
	if l.err != nil {
		// Keep the failure from sticking: the data may be fetched later.
		catalogMu.Lock()
		if loaded[name] == l {
			delete(loaded, name)
		}
		catalogMu.Unlock()
	}
	return l.train, l.test, l.err
}

// IsPath reports whether a dataset name is a file-system path rather than a
// catalogue name.
func IsPath(name string) bool {
	return strings.ContainsRune(name, os.PathSeparator) || strings.ContainsRune(name, '/') || strings.HasSuffix(name, ".npz")
}

// LoadPath loads a .npz file (LoadNPZ) or an image folder holding train/
// and test/ (LoadImageFolder, images kept at their size), normalised with
// the training set's per-channel statistics.
func LoadPath(path string) (train, test *Dataset, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		return LoadImageFolder(path, FolderOptions{}, nil)
	}
	return LoadNPZ(path, nil)
}

// idxEntry describes an IDX dataset of four gzipped files with the sha256
// of the downloads and of their uncompressed contents.
func idxEntry(name, desc string, bases []string, files [4]string, gzSHA, rawSHA [4]string, sizes [4]int64, norm Normalization) *Entry {
	e := &Entry{Name: name, Description: desc, Norm: norm}
	spec := IDXSpec{Name: name, NumClasses: 10,
		Train: IDXSplit{Images: files[0], Labels: files[1], ImagesSHA256: rawSHA[0], LabelsSHA256: rawSHA[1]},
		Test:  IDXSplit{Images: files[2], Labels: files[3], ImagesSHA256: rawSHA[2], LabelsSHA256: rawSHA[3]}}
	for i, f := range files {
		e.Files = append(e.Files, CheckedFile{Path: f, SHA256: rawSHA[i]})
		var urls []string
		for _, b := range bases {
			urls = append(urls, b+f)
		}
		e.Downloads = append(e.Downloads, Remote{File: f, URLs: urls, Size: sizes[i], SHA256: gzSHA[i]})
	}
	e.load = func(dir string, norm Normalization) (*Dataset, *Dataset, error) { return LoadIDX(dir, spec, norm) }
	return e
}

var mnistFiles = [4]string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

// Catalogue normalisations for the MNIST look-alikes: mean and standard
// deviation of the training pixels scaled to [0, 1].
var (
	FashionMNISTNormalization = Normalization{Mean: []float64{0.2860}, Std: []float64{0.3530}}
	KMNISTNormalization       = Normalization{Mean: []float64{0.1918}, Std: []float64{0.3483}}
)

// catalogue lists the known datasets (docs/definitions.md#datasets);
// checksums are from torchvision, TFDS and the dataset pages.
var catalogue = func() []*Entry {
	mnist := idxEntry("mnist", "MNIST handwritten digits, 28×28 grey, 60k/10k (shipped in the GoMNIST Go module)",
		[]string{"https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"},
		mnistFiles,
		[4]string{"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
			"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
		[4]string{MNIST.Train.ImagesSHA256, MNIST.Train.LabelsSHA256, MNIST.Test.ImagesSHA256, MNIST.Test.LabelsSHA256},
		[4]int64{9912422, 28881, 1648877, 4542}, MNISTNormalization)
	mnist.locate = MNISTDir
	mnist.Licence = "CC BY-SA 3.0 (LeCun, Cortes, Burges)"

	fashion := idxEntry("fashion-mnist", "Fashion-MNIST clothing, 28×28 grey, 60k/10k",
		[]string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"},
		mnistFiles,
		[4]string{"3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
			"346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
		[4]string{"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
			"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
		[4]int64{26421880, 29515, 4422102, 5148}, FashionMNISTNormalization)
	fashion.SystemDirs = []string{"/usr/share/datasets/fashion-mnist"}
	fashion.Hint = "install Debian's dataset-fashion-mnist package"
	fashion.Licence = "MIT (Zalando Research)"

	kmnist := idxEntry("kmnist", "Kuzushiji-MNIST cursive Japanese characters, 28×28 grey, 60k/10k",
		[]string{"http://codh.rois.ac.jp/kmnist/dataset/kmnist/"},
		mnistFiles,
		[4]string{"51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
			"edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"},
		[4]string{}, [4]int64{18165135, 29497, 3041136, 5120}, KMNISTNormalization)
	// No uncompressed hashes are published for KMNIST: the files are
	// checked as downloaded.
	for i, md := range []string{"bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344", "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"} {
		kmnist.Files[i] = CheckedFile{Path: mnistFiles[i], SHA256: kmnist.Downloads[i].SHA256, AsStored: true}
		kmnist.Downloads[i].MD5 = md
	}
	kmnist.Licence = `CC BY-SA 4.0: "KMNIST Dataset" (created by CODH), adapted from "Kuzushiji Dataset" (created by NIJL and others), doi:10.20676/00000341`

	cifar10Bins := map[string]string{
		"data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25", "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
		"data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421", "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
		"data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d", "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
	}
	cifar10 := &Entry{Name: "cifar10", Description: "CIFAR-10, 32×32 RGB, 10 classes, 50k/10k", Norm: CIFAR10Normalization,
		Downloads: []Remote{{File: "cifar-10-binary.tar.gz", URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
			Size: 170052171, SHA256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"}},
		Hint:    "for offline work, an image folder (root/train/<class>, root/test/<class>) can be given by path",
		Licence: "see https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009)",
		load:    func(dir string, norm Normalization) (*Dataset, *Dataset, error) { return LoadCIFAR10(dir, norm) },
	}
	for _, f := range slices.Sorted(mapKeys(cifar10Bins)) {
		cifar10.Files = append(cifar10.Files, CheckedFile{Path: f, MD5: cifar10Bins[f]})
	}
	cifar10.Unpack = func(dir string) error {
		return untarFiles(filepath.Join(dir, "cifar-10-binary.tar.gz"), "cifar-10-batches-bin/", dir, cifar10.Files)
	}

	cifar100Files := []CheckedFile{{Path: "test.bin", MD5: "4499cfba6c016c1be1438163640a0898"}, {Path: "train.bin", MD5: "6172c7755cfe09b2fe270c85cebc1b15"}}
	cifar100Download := []Remote{{File: "cifar-100-binary.tar.gz", URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"},
		Size: 168513733, SHA256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"}}
	unpack100 := func(dir string) error {
		return untarFiles(filepath.Join(dir, "cifar-100-binary.tar.gz"), "cifar-100-binary/", dir, cifar100Files)
	}
	cifar100 := &Entry{Name: "cifar100", Description: "CIFAR-100, 32×32 RGB, 100 fine classes, 50k/10k", Dir: "cifar100",
		Files: cifar100Files, Downloads: cifar100Download, Unpack: unpack100, Norm: CIFAR100Normalization, Licence: cifar10.Licence,
		load: func(dir string, norm Normalization) (*Dataset, *Dataset, error) {
			return LoadCIFAR100(dir, false, norm)
		}}
	cifar100c := &Entry{Name: "cifar100-coarse", Description: "CIFAR-100 with its 20 superclass labels", Dir: "cifar100",
		Files: cifar100Files, Downloads: cifar100Download, Unpack: unpack100, Norm: CIFAR100Normalization, Licence: cifar10.Licence,
		load: func(dir string, norm Normalization) (*Dataset, *Dataset, error) { return LoadCIFAR100(dir, true, norm) }}

	svhnDownloads := []Remote{
		{File: "train_32x32.mat", URLs: []string{"http://ufldl.stanford.edu/housenumbers/train_32x32.mat"}, Size: 182040794,
			SHA256: "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8"},
		{File: "test_32x32.mat", URLs: []string{"http://ufldl.stanford.edu/housenumbers/test_32x32.mat"}, Size: 64275384,
			SHA256: "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b"},
	}
	svhn := &Entry{Name: "svhn", Description: "SVHN cropped house-number digits, 32×32 RGB, 73k/26k", Downloads: svhnDownloads,
		Norm: SVHNNormalization, Licence: "non-commercial use only (Netzer et al. 2011)",
		load: func(dir string, norm Normalization) (*Dataset, *Dataset, error) { return LoadSVHN(dir, norm) }}
	for _, r := range svhnDownloads {
		svhn.Files = append(svhn.Files, CheckedFile{Path: r.File, SHA256: r.SHA256})
	}
	return []*Entry{mnist, fashion, kmnist, cifar10, cifar100, cifar100c, svhn}
}()

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Names lists the catalogue's datasets in catalogue order.
func Names() []string {
	names := make([]string, len(catalogue))
	for i, e := range catalogue {
		names[i] = e.Name
	}
	return names
}

// Lookup returns the catalogue entry of a name, or nil.
func Lookup(name string) *Entry {
	for _, e := range catalogue {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// untarFiles extracts the wanted files (by base name, found under prefix in
// the tarball) into dir, each written atomically and checked.
func untarFiles(tarball, prefix, dir string, want []CheckedFile) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: bad gzip: %w", tarball, err)
	}
	tr := tar.NewReader(zr)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tarball, err)
		}
		rel, ok := strings.CutPrefix(h.Name, prefix)
		if !ok {
			continue
		}
		i := slices.IndexFunc(want, func(c CheckedFile) bool { return c.Path == rel })
		if i < 0 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", tarball, h.Name, err)
		}
		dst := filepath.Join(dir, rel)
		if err := atomicfile.WriteFile(dst, b); err != nil {
			return err
		}
		if err := verifyFile(dst, want[i]); err != nil {
			os.Remove(dst)
			return err
		}
		found[rel] = true
	}
	for _, w := range want {
		if !found[w.Path] {
			return fmt.Errorf("%s: %s%s missing from the archive", tarball, prefix, w.Path)
		}
	}
	return nil
}
