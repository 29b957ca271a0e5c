package data

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	goimage "image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder for image.Decode
	_ "image/png"  // registers the PNG decoder
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/losslab/losslab/npy"
)

// FolderOptions control how an image folder is read.
type FolderOptions struct {
	// Size is the side every image is resized to (bilinear, see
	// resizeFolderImage); 0 keeps the size of the first image, and then all
	// images must have that size.
	Size int
	// Channels is 1 (grey, ITU-R BT.601 luma) or 3 (RGB); 0 picks 1 when
	// the first image is grey and 3 otherwise.
	Channels int
}

// imageExts are the file types read from image folders.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// ReadImageFolder reads root/<class>/*.{png,jpg,jpeg}. Classes are the
// sorted sub-folder names, and classes[i] is label i; files within a class
// are read in name order. Images are decoded concurrently, one worker per
// core.
func ReadImageFolder(root string, opts FolderOptions) (raw *RawImages, labels []int, classes []string, err error) {
	files, labels, classes, _, err := listImageFolder(root)
	if err != nil {
		return nil, nil, nil, err
	}
	raw, err = decodeImages(root, files, opts)
	return raw, labels, classes, err
}

// listImageFolder lists root/<class>/ images; stamp summarises the
// listing (names and folder modification times) for the decoded cache.
func listImageFolder(root string) (files []string, labels []int, classes []string, stamp string, err error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, nil, "", err
	}
	var sb strings.Builder
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		names, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, nil, "", err
		}
		if st, err := os.Stat(dir); err == nil {
			fmt.Fprintf(&sb, "%s %d\n", dir, st.ModTime().UnixNano())
		}
		k := len(classes)
		classes = append(classes, e.Name())
		for _, n := range names {
			if !n.IsDir() && imageExts[strings.ToLower(filepath.Ext(n.Name()))] {
				files = append(files, filepath.Join(dir, n.Name()))
				labels = append(labels, k)
				sb.WriteString(n.Name())
				sb.WriteByte('\n')
			}
		}
	}
	if len(files) == 0 {
		return nil, nil, nil, "", fmt.Errorf("%s: no images found; want root/<class>/*.png|jpg", root)
	}
	return files, labels, classes, sb.String(), nil
}

// decodeImages decodes and converts files concurrently.
func decodeImages(root string, files []string, opts FolderOptions) (raw *RawImages, err error) {
	first, err := decodeImageFile(files[0])
	if err != nil {
		return nil, err
	}
	size := opts.Size
	b := first.Bounds()
	raw = &RawImages{N: len(files), H: b.Dy(), W: b.Dx(), C: opts.Channels}
	if size > 0 {
		raw.H, raw.W = size, size
	}
	if raw.C == 0 {
		raw.C = 3
		if isGrey(first) {
			raw.C = 1
		}
	}
	if raw.C != 1 && raw.C != 3 {
		return nil, fmt.Errorf("%s: %d channels requested; want 1 or 3", root, raw.C)
	}
	raw.Pix = make([]byte, raw.N*raw.H*raw.W*raw.C)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		next    = make(chan int, 256)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, raw.H*raw.W*raw.C)
			for i := range next {
				img, e := decodeImageFile(files[i])
				if e == nil {
					e = imageBytes(img, raw.H, raw.W, raw.C, size > 0, buf, raw.Image(i))
					if e != nil {
						e = fmt.Errorf("%s: %w", files[i], e)
					}
				}
				if e != nil {
					errOnce.Do(func() { err = e })
				}
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return raw, nil
}

func decodeImageFile(path string) (goimage.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := goimage.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode image: %w", path, err)
	}
	return img, nil
}

func isGrey(img goimage.Image) bool {
	switch img.(type) {
	case *goimage.Gray, *goimage.Gray16:
		return true
	}
	return false
}

// imageBytes converts img to h×w×c bytes in dst, resizing if allowed.
func imageBytes(img goimage.Image, h, w, c int, resize bool, buf []float32, dst []byte) error {
	b := img.Bounds()
	if !resize && (b.Dx() != w || b.Dy() != h) {
		return fmt.Errorf("image is %d×%d, want %d×%d (set a size to resize)", b.Dx(), b.Dy(), w, h)
	}
	sh, sw := b.Dy(), b.Dx()
	src := imageFloats(img, c, nil)
	if sh == h && sw == w {
		for i, v := range src {
			dst[i] = byte(v)
		}
		return nil
	}
	resizeFolderImage(src, sh, sw, c, buf, h, w)
	for i, v := range buf {
		dst[i] = byte(min(max(math.Round(float64(v)), 0), 255))
	}
	return nil
}

// imageFloats converts img to sh×sw×c values in [0, 255] (grey ↔ RGB as
// FolderOptions.Channels says), in buf if it is large enough.
func imageFloats(img goimage.Image, c int, buf []float32) []float32 {
	b := img.Bounds()
	sh, sw := b.Dy(), b.Dx()
	src := buf
	if cap(src) < sh*sw*c {
		src = make([]float32, sh*sw*c)
	}
	src = src[:sh*sw*c]
	switch g := img.(type) {
	case *goimage.Gray:
		for y := range sh {
			row := g.Pix[y*g.Stride : y*g.Stride+sw]
			for x, v := range row {
				for k := range c {
					src[(y*sw+x)*c+k] = float32(v)
				}
			}
		}
	case *goimage.YCbCr: // JPEG: convert without the per-pixel interface calls of At
		for y := range sh {
			for x := range sw {
				yy := g.Y[g.YOffset(b.Min.X+x, b.Min.Y+y)]
				o := (y*sw + x) * c
				if c == 1 { // the luma plane is the grey image
					src[o] = float32(yy)
					continue
				}
				ci := g.COffset(b.Min.X+x, b.Min.Y+y)
				r, gg, bb := color.YCbCrToRGB(yy, g.Cb[ci], g.Cr[ci])
				src[o], src[o+1], src[o+2] = float32(r), float32(gg), float32(bb)
			}
		}
	default:
		for y := range sh {
			for x := range sw {
				o := (y*sw + x) * c
				r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				if c == 1 {
					src[o] = float32(color.GrayModel.Convert(color.RGBA64{uint16(r), uint16(gg), uint16(bb), 0xffff}).(color.Gray).Y)
				} else {
					src[o], src[o+1], src[o+2] = float32(r>>8), float32(gg>>8), float32(bb>>8)
				}
			}
		}
	}
	return src
}

// resizeFolderImage resamples an sh×sw×c image to dh×dw×c by bilinear
// interpolation with half-pixel centres (output pixel centre x maps to
// source coordinate (x+0.5)·sw/dw − 0.5, clamped to the image), the
// convention of OpenCV's INTER_LINEAR and PyTorch's align_corners=False.
// It does not low-pass filter first, so strong shrinking aliases.
func resizeFolderImage(src []float32, sh, sw, c int, dst []float32, dh, dw int) {
	for y := range dh {
		fy := min(max((float64(y)+0.5)*float64(sh)/float64(dh)-0.5, 0), float64(sh-1))
		y0 := int(fy)
		y1 := min(y0+1, sh-1)
		ty := float32(fy - float64(y0))
		for x := range dw {
			fx := min(max((float64(x)+0.5)*float64(sw)/float64(dw)-0.5, 0), float64(sw-1))
			x0 := int(fx)
			x1 := min(x0+1, sw-1)
			tx := float32(fx - float64(x0))
			for k := range c {
				a := src[(y0*sw+x0)*c+k]*(1-tx) + src[(y0*sw+x1)*c+k]*tx
				b := src[(y1*sw+x0)*c+k]*(1-tx) + src[(y1*sw+x1)*c+k]*tx
				dst[(y*dw+x)*c+k] = a*(1-ty) + b*ty
			}
		}
	}
}

// LoadImageFolder loads root/train/<class>/… and root/test/<class>/…; both
// must have the same class folders. With a nil norm, the training set's
// per-channel statistics are used. Each split's examples come in a fixed
// pseudo-random order (mixOrder), the same on every load, so that its
// first N examples are a sample of every class.
//
// Decoding tens of thousands of JPEGs takes seconds, so the decoded bytes
// are kept in the cache folder (decoded/<key>.npz, uncompressed) and
// reused while the folder's listing (file names, folder modification
// times) and the options are unchanged. Editing an image in place without
// renaming it is not detected: delete the cache file then.
func LoadImageFolder(root string, opts FolderOptions, norm *Normalization) (train, test *Dataset, err error) {
	var files [2][]string
	var labels [2][]int
	var classes [2][]string
	var stamps [2]string
	for s, split := range []string{"train", "test"} {
		if files[s], labels[s], classes[s], stamps[s], err = listImageFolder(filepath.Join(root, split)); err != nil {
			return nil, nil, err
		}
		files[s], labels[s] = mixOrder(files[s], labels[s])
	}
	if !slices.Equal(classes[0], classes[1]) {
		return nil, nil, fmt.Errorf("%s: train classes %v differ from test classes %v", root, classes[0], classes[1])
	}
	abs, _ := filepath.Abs(root)
	// "mixed": caches from before mixOrder hold the name order.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%+v\n%s\n%s\nmixed", abs, opts, stamps[0], stamps[1]))
	var cacheFile string
	if dir, err := CacheDir(); err == nil {
		cacheFile = filepath.Join(dir, "decoded", hex.EncodeToString(sum[:12])+".npz")
	}
	var raws [2]*RawImages
	if cacheFile != "" {
		raws = readDecodedCache(cacheFile, len(files[0]), len(files[1]))
	}
	if raws[0] == nil {
		for s := range 2 {
			if raws[s], err = decodeImages(filepath.Join(root, []string{"train", "test"}[s]), files[s], opts); err != nil {
				return nil, nil, err
			}
			if s == 0 && opts.Size == 0 && raws[0].H == raws[0].W { // the test images must match
				opts.Size = raws[0].H
			}
			if s == 0 && opts.Channels == 0 {
				opts.Channels = raws[0].C
			}
		}
		if cacheFile != "" && os.MkdirAll(filepath.Dir(cacheFile), 0o755) == nil {
			// A failure to cache only costs the next load time.
			_ = npy.WriteNPZ(cacheFile, []string{"x_train", "x_test"}, []*npy.Array{rawArray(raws[0]), rawArray(raws[1])})
		}
	}
	if raws[0].H != raws[1].H || raws[0].W != raws[1].W || raws[0].C != raws[1].C {
		return nil, nil, fmt.Errorf("%s: train images are %d×%d×%d, test images %d×%d×%d", root,
			raws[0].H, raws[0].W, raws[0].C, raws[1].H, raws[1].W, raws[1].C)
	}
	n := ChannelStats(raws[0])
	if norm != nil {
		n = *norm
	}
	name := filepath.Base(filepath.Clean(root))
	k := len(classes[0])
	if train, err = ToDataset(name, "train", raws[0], labels[0], k, n); err != nil {
		return nil, nil, err
	}
	if test, err = ToDataset(name, "test", raws[1], labels[1], k, n); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// folderOrderSeed fixes the order of image-folder examples.
const folderOrderSeed = 0x666f6c646572

// mixOrder returns files and their labels in a pseudo-random order that
// depends only on their number. A folder lists its examples class by class,
// so without this the first N examples (train_limit, a probe's training
// subset) would hold only the first classes; the standard binary
// distributions (MNIST, CIFAR) are already in such a mixed order. Mixing
// the list before decoding costs nothing per load: the decoded cache holds
// the mixed order.
func mixOrder(files []string, labels []int) ([]string, []int) {
	perm := rand.New(rand.NewPCG(folderOrderSeed, uint64(len(files)))).Perm(len(files))
	f, l := make([]string, len(files)), make([]int, len(labels))
	for i, j := range perm {
		f[i], l[i] = files[j], labels[j]
	}
	return f, l
}

// readDecodedCache returns the cached train and test images, or nils if
// the cache is missing, unreadable or does not match the counts.
func readDecodedCache(path string, nTrain, nTest int) [2]*RawImages {
	var out [2]*RawImages
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		return out
	}
	for s, key := range []string{"x_train", "x_test"} {
		a := arrays[key]
		if a == nil || a.Uint8 == nil || len(a.Shape) != 4 || a.Shape[0] != []int{nTrain, nTest}[s] {
			return [2]*RawImages{}
		}
		out[s] = &RawImages{N: a.Shape[0], H: a.Shape[1], W: a.Shape[2], C: a.Shape[3], Pix: a.Uint8}
	}
	return out
}
