package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/losslab/losslab/tensor"
)

// IDX magic numbers (LeCun's format): two zero bytes, the element type (0x08
// = unsigned byte) and the number of dimensions. Dimensions follow as
// big-endian uint32s, then the elements.
const (
	idxImagesMagic = 0x00000803 // ubyte, 3 dims: N, rows, cols
	idxLabelsMagic = 0x00000801 // ubyte, 1 dim: N
)

// maxGzipRatio bounds the preallocation taken from a gzip trailer, which a
// corrupt or truncated file could set to anything: a trailer promising more
// than this many times the compressed size is ignored (the buffer then grows
// as needed). MNIST-like IDX files compress about 5:1.
const maxGzipRatio = 64

// chunkSize is the unit in which decompressed bytes are handed from the
// decoder to the goroutine that hashes and converts them.
const chunkSize = 256 << 10

// idx is a parsed IDX file of unsigned bytes.
type idx struct {
	dims   []int
	data   []byte
	pixels *tensor.Tensor // [N, rows, cols, 1] through the table, if one was given
}

// idxStream hashes the decompressed bytes and converts the elements of an
// images file to float32 as they arrive, so that both overlap gzip decoding,
// which dominates the load time.
type idxStream struct {
	hash   hash.Hash
	table  *[256]float32
	limit  int // upper bound on the decompressed size, against absurd headers
	header int
	pixels *tensor.Tensor
}

// consume takes the decompressed bytes at offset off.
func (s *idxStream) consume(off int, b []byte) {
	if s.hash != nil {
		s.hash.Write(b)
	}
	if s.table == nil {
		return
	}
	if off == 0 && len(b) >= 16 && binary.BigEndian.Uint32(b) == idxImagesMagic {
		n, h, w := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])
		if size := uint64(n) * uint64(h) * uint64(w); size > 0 && size <= uint64(s.limit) {
			s.header = 16
			s.pixels = tensor.New(int(n), int(h), int(w), 1)
		}
	}
	if s.pixels == nil {
		return
	}
	dst := s.pixels.Data
	lo := max(off, s.header)
	hi := min(off+len(b), s.header+len(dst))
	if lo >= hi {
		return
	}
	src := b[lo-off : hi-off]
	out := dst[lo-s.header : hi-s.header]
	out = out[:len(src)]
	table := s.table
	for i, p := range src {
		out[i] = table[p]
	}
}

// readIDX reads an IDX file (raw or gzipped), checks its magic number, that
// its size matches its header and, when wantSHA256 is not empty, the sha256
// of the uncompressed bytes. With a table, an images file's elements are
// also converted to float32 through it.
func readIDX(path string, wantMagic uint32, wantSHA256 string, table *[256]float32) (*idx, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := &idxStream{table: table, limit: len(raw)}
	if wantSHA256 != "" {
		st.hash = sha256.New()
	}
	b := raw
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		if b, err = gunzipStreaming(raw, st); err != nil {
			return nil, fmt.Errorf("%s: bad gzip: %w", path, err)
		}
	} else {
		st.consume(0, raw)
	}
	if st.hash != nil {
		if got := hex.EncodeToString(st.hash.Sum(nil)); got != wantSHA256 {
			return nil, fmt.Errorf("%s: sha256 of the uncompressed data is %s, want %s (corrupt or wrong file)", path, got, wantSHA256)
		}
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%s: truncated: %d bytes, shorter than the 4-byte IDX magic number", path, len(b))
	}
	magic := binary.BigEndian.Uint32(b)
	if magic != wantMagic {
		return nil, fmt.Errorf("%s: IDX magic number 0x%08x, want 0x%08x (%s)", path, magic, wantMagic, idxKind(wantMagic))
	}
	nd := int(magic & 0xff)
	header := 4 + 4*nd
	if len(b) < header {
		return nil, fmt.Errorf("%s: truncated: %d bytes, shorter than the %d-byte IDX header", path, len(b), header)
	}
	f := &idx{dims: make([]int, nd)}
	size := 1
	for i := range f.dims {
		f.dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
		size *= f.dims[i]
	}
	body := b[header:]
	switch {
	case len(body) < size:
		return nil, fmt.Errorf("%s: truncated: header promises %v = %d bytes of data, file has %d", path, f.dims, size, len(body))
	case len(body) > size:
		return nil, fmt.Errorf("%s: %d unexpected bytes after the %d bytes of data promised by header %v", path, len(body)-size, size, f.dims)
	}
	f.data = body
	if table != nil {
		f.pixels = st.pixels
		if f.pixels == nil { // empty file: nothing was streamed
			f.pixels = tensor.New(append(f.dims, 1)...)
		}
	}
	return f, nil
}

// gunzipStreaming decompresses raw, handing each chunk to st on another
// goroutine as soon as it is decoded.
func gunzipStreaming(raw []byte, st *idxStream) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	// The trailer's ISIZE (size mod 2³²) lets the buffer be allocated once.
	size := 4 * len(raw)
	if isize := int(binary.LittleEndian.Uint32(raw[len(raw)-4:])); isize <= maxGzipRatio*len(raw) {
		size = isize
	}
	st.limit = maxGzipRatio * len(raw)
	type chunk struct {
		off int
		b   []byte
	}
	chunks := make(chan chunk, 16)
	done := make(chan struct{})
	go func() {
		for c := range chunks {
			st.consume(c.off, c.b)
		}
		close(done)
	}()
	defer func() { close(chunks); <-done }()
	buf := make([]byte, 0, size+1)
	for {
		if len(buf) == cap(buf) {
			// Chunks already sent keep pointing into the old array, which
			// is never written again.
			buf = slices.Grow(buf, len(buf))
		}
		end := min(cap(buf), len(buf)+chunkSize)
		n, err := readAtLeast(zr, buf[len(buf):end])
		if n > 0 {
			chunks <- chunk{len(buf), buf[len(buf) : len(buf)+n]}
			buf = buf[:len(buf)+n]
		}
		switch err {
		case nil:
		case io.EOF:
			// The gzip reader reports EOF only after verifying the
			// trailer's CRC-32 and size; truncation is ErrUnexpectedEOF.
			return buf, nil
		default:
			return nil, err
		}
	}
}

func idxKind(magic uint32) string {
	if magic == idxImagesMagic {
		return "IDX images: unsigned bytes, 3 dimensions"
	}
	return "IDX labels: unsigned bytes, 1 dimension"
}

// IDXSplit names the two IDX files of one split and, optionally, the sha256
// of their uncompressed contents (empty: not checked).
type IDXSplit struct {
	Images, Labels             string
	ImagesSHA256, LabelsSHA256 string
}

// IDXSpec describes an IDX dataset (MNIST and its look-alikes: Fashion-MNIST,
// KMNIST, EMNIST) stored as four files in one folder.
type IDXSpec struct {
	Name        string
	Train, Test IDXSplit
	NumClasses  int
}

// LoadIDX reads the train and test splits of spec from dir, decoding the four
// files concurrently (gzip decoding dominates the time), and normalises the
// pixels with norm. Images become [N, rows, cols, 1].
func LoadIDX(dir string, spec IDXSpec, norm Normalization) (train, test *Dataset, err error) {
	if err := norm.Validate(1); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	type job struct {
		path, sha string
		magic     uint32
		table     *[256]float32
		out       *idx
		err       error
	}
	table := &norm.lookup(1)[0]
	jobs := []*job{
		{path: spec.Train.Images, sha: spec.Train.ImagesSHA256, magic: idxImagesMagic, table: table},
		{path: spec.Train.Labels, sha: spec.Train.LabelsSHA256, magic: idxLabelsMagic},
		{path: spec.Test.Images, sha: spec.Test.ImagesSHA256, magic: idxImagesMagic, table: table},
		{path: spec.Test.Labels, sha: spec.Test.LabelsSHA256, magic: idxLabelsMagic},
	}
	done := make(chan struct{})
	for _, j := range jobs {
		go func() {
			j.out, j.err = readIDX(filepath.Join(dir, j.path), j.magic, j.sha, j.table)
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	for _, j := range jobs {
		if j.err != nil {
			return nil, nil, j.err
		}
	}
	build := func(split string, images, labels *job) (*Dataset, error) {
		n := images.out.dims[0]
		if m := labels.out.dims[0]; m != n {
			return nil, fmt.Errorf("%s has %d images but %s has %d labels",
				filepath.Join(dir, images.path), n, filepath.Join(dir, labels.path), m)
		}
		d := &Dataset{Name: spec.Name, Split: split, NumClasses: spec.NumClasses, Norm: norm, Labels: make([]int, n)}
		for i, y := range labels.out.data {
			if int(y) >= spec.NumClasses {
				return nil, fmt.Errorf("%s: label %d of example %d is not below the %d classes",
					filepath.Join(dir, labels.path), y, i, spec.NumClasses)
			}
			d.Labels[i] = int(y)
		}
		d.Images = images.out.pixels
		return d, nil
	}
	if train, err = build("train", jobs[0], jobs[1]); err != nil {
		return nil, nil, err
	}
	if test, err = build("test", jobs[2], jobs[3]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readAtLeast fills b from r unless the stream ends or fails first. Unlike
// io.ReadFull it passes the reader's own error through, so a clean io.EOF
// stays distinguishable from a truncated stream's io.ErrUnexpectedEOF.
func readAtLeast(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
