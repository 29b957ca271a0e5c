package data

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// flakyServer serves content with Range support; for its first cutsLeft
// requests it promises the rest of the file but hangs up after cut bytes.
type flakyServer struct {
	mu       sync.Mutex
	content  []byte
	cut      int
	cutsLeft int
	ranges   []string
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut := s.cutsLeft > 0
	if cut {
		s.cutsLeft--
	}
	s.mu.Unlock()
	if !cut {
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(s.content))
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	var start int
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err == nil {
		fmt.Fprintf(buf, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n",
			start, len(s.content)-1, len(s.content), len(s.content)-start)
	} else {
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(s.content))
	}
	buf.Write(s.content[start:min(start+s.cut, len(s.content))])
	buf.Flush()
	conn.Close()
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestDownloadResumesAfterCut(t *testing.T) {
	content := randomBytes(200_000, 1)
	srv := &flakyServer{content: content, cut: 70_000, cutsLeft: 1}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	r := Remote{File: "f.bin", URLs: []string{ts.URL + "/f.bin"}, Size: int64(len(content)), SHA256: sha(content)}
	d := &Downloader{Attempts: 1}
	err := d.Fetch(context.Background(), r, dir)
	if err == nil {
		t.Fatal("a cut connection with one attempt succeeded")
	}
	part, err2 := os.ReadFile(filepath.Join(dir, "f.bin.part"))
	if err2 != nil || len(part) != 70_000 {
		t.Fatalf("partial file: %d bytes, %v; want 70000 kept after the cut (first error %v)", len(part), err2, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.bin")); err == nil {
		t.Fatal("final file exists after a failed download")
	}
	if err := d.Fetch(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "f.bin"))
	if !bytes.Equal(got, content) {
		t.Fatal("resumed download differs from the content")
	}
	if srv.ranges[len(srv.ranges)-1] != "bytes=70000-" {
		t.Errorf("resume asked for %q, want bytes=70000-", srv.ranges[len(srv.ranges)-1])
	}
	if _, err := os.Stat(filepath.Join(dir, "f.bin.part")); !os.IsNotExist(err) {
		t.Error("partial file left behind after success")
	}

	// Within one call, retries resume by themselves.
	srv2 := &flakyServer{content: content, cut: 50_000, cutsLeft: 2}
	ts2 := httptest.NewServer(srv2)
	defer ts2.Close()
	dir2 := t.TempDir()
	r.URLs = []string{ts2.URL + "/f.bin"}
	if err := (&Downloader{Attempts: 3}).Fetch(context.Background(), r, dir2); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir2, "f.bin")); !bytes.Equal(got, content) {
		t.Fatal("download with automatic resumes differs")
	}
	if want := []string{"", "bytes=50000-", "bytes=100000-"}; strings.Join(srv2.ranges, ",") != strings.Join(want, ",") {
		t.Errorf("requests asked for ranges %q, want %q", srv2.ranges, want)
	}
}

func TestDownloadChecksumMismatchRefused(t *testing.T) {
	content := randomBytes(10_000, 2)
	ts := httptest.NewServer(&flakyServer{content: content})
	defer ts.Close()
	dir := t.TempDir()
	wrong := randomBytes(10_000, 3)
	for _, r := range []Remote{
		{File: "f.bin", URLs: []string{ts.URL + "/f"}, SHA256: sha(wrong)},
		{File: "f.bin", URLs: []string{ts.URL + "/f"}, MD5: "00000000000000000000000000000000"},
	} {
		err := (&Downloader{Attempts: 2}).Fetch(context.Background(), r, dir)
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("mismatch gave %v; want ErrChecksum", err)
		}
		requireErr(t, err, "f.bin", "deleted")
		for _, f := range []string{"f.bin", "f.bin.part"} {
			if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
				t.Errorf("%s left in the cache after a checksum mismatch", f)
			}
		}
	}
	// The right md5 passes.
	h := md5.Sum(content)
	if err := (&Downloader{}).Fetch(context.Background(), Remote{File: "ok.bin", URLs: []string{ts.URL}, MD5: hex.EncodeToString(h[:])}, dir); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadMirrorsAndErrors(t *testing.T) {
	content := randomBytes(5_000, 4)
	mux := http.NewServeMux()
	mux.Handle("/good", &flakyServer{content: content})
	mux.HandleFunc("/gone", http.NotFound)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	dir := t.TempDir()
	r := Remote{File: "m.bin", URLs: []string{ts.URL + "/gone", ts.URL + "/good"}, SHA256: sha(content)}
	if err := (&Downloader{}).Fetch(context.Background(), r, dir); err != nil {
		t.Fatalf("mirror fallback: %v", err)
	}
	r = Remote{File: "n.bin", URLs: []string{ts.URL + "/gone"}, SHA256: sha(content)}
	err := (&Downloader{}).Fetch(context.Background(), r, dir)
	requireErr(t, err, "n.bin", "404")
	err = (&Downloader{}).Fetch(context.Background(), Remote{File: "x", URLs: []string{ts.URL}}, dir)
	requireErr(t, err, "no published checksum")
}

func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, b := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestEntryFetchLocateVerify(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(CacheDirEnv, cache)
	inner := cifarRecords(4, 1)
	innerMD5 := md5.Sum(inner)
	tarball := tarGz(t, map[string][]byte{"toy-bin/a.bin": inner, "toy-bin/readme.txt": []byte("hi")})
	srv := &flakyServer{content: tarball}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	files := []CheckedFile{{Path: "a.bin", MD5: hex.EncodeToString(innerMD5[:])}}
	e := &Entry{Name: "toy", Files: files, Norm: CIFAR10Normalization,
		Downloads: []Remote{{File: "toy.tar.gz", URLs: []string{ts.URL + "/toy.tar.gz"}, Size: int64(len(tarball)), SHA256: sha(tarball)}},
		load: func(dir string, norm Normalization) (*Dataset, *Dataset, error) {
			return loadCIFAR("toy", []string{filepath.Join(dir, "a.bin")}, []string{filepath.Join(dir, "a.bin")}, 1, 0, 10, norm)
		},
	}
	e.Unpack = func(dir string) error { return untarFiles(filepath.Join(dir, "toy.tar.gz"), "toy-bin/", dir, files) }
	_, err := e.Locate()
	if !errors.Is(err, ErrNotPresent) {
		t.Fatalf("Locate before fetch: %v; want ErrNotPresent", err)
	}
	requireErr(t, err, "losslab data fetch toy", cache)
	dir, err := e.Fetch(context.Background(), &Downloader{})
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(cache, "toy") {
		t.Errorf("fetched into %s", dir)
	}
	if got, err := e.Locate(); err != nil || got != dir {
		t.Errorf("Locate after fetch: %q, %v", got, err)
	}
	if err := e.VerifyIn(dir); err != nil {
		t.Fatal(err)
	}
	train, _, err := e.load(dir, e.Norm)
	if err != nil || train.Len() != 4 {
		t.Fatalf("load: %v", err)
	}
	// A second fetch finds the files and does not download again.
	n := len(srv.ranges)
	if _, err := e.Fetch(context.Background(), &Downloader{}); err != nil || len(srv.ranges) != n {
		t.Errorf("second fetch: %v, %d new requests", err, len(srv.ranges)-n)
	}
	// Corruption in place is caught by verify, naming the file.
	bad := append([]byte{}, inner...)
	bad[100] ^= 1
	putFile(t, filepath.Join(dir, "a.bin"), bad)
	requireErr(t, e.VerifyIn(dir), "a.bin", "md5")

	// A system folder holding the files takes precedence over the cache.
	sys := t.TempDir()
	putFile(t, filepath.Join(sys, "a.bin"), inner)
	e.SystemDirs = []string{sys}
	if got, _ := e.Locate(); got != sys {
		t.Errorf("Locate = %s, want the system folder %s", got, sys)
	}
}

func TestVerifyUncompressedHashOfRegzippedFile(t *testing.T) {
	content := []byte(strings.Repeat("idx bytes ", 1000))
	dir := t.TempDir()
	for level, name := range map[int]string{gzip.BestSpeed: "fast.gz", gzip.BestCompression: "best.gz"} {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, level)
		zw.Write(content)
		zw.Close()
		p := putFile(t, filepath.Join(dir, name), buf.Bytes())
		if err := verifyFile(p, CheckedFile{Path: name, SHA256: sha(content)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// Hashing as stored sees the compressed bytes instead.
		if err := verifyFile(p, CheckedFile{Path: name, SHA256: sha(content), AsStored: true}); err == nil {
			t.Errorf("%s: compressed bytes matched the uncompressed hash", name)
		}
	}
}

func TestLoadByNameAndPath(t *testing.T) {
	t.Setenv(CacheDirEnv, t.TempDir())
	path := filepath.Join(t.TempDir(), "toy.npz")
	npzFixture(t, path, 4, 2, 2, 2, 1, 2, "|u1")
	a, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Load(path)
	if a != b {
		t.Error("a second Load decoded the dataset again")
	}
	_, _, err = Load("no-such-set")
	requireErr(t, err, "unknown dataset", "fashion-mnist")
	// A catalogue dataset absent from the (empty) cache says how to get it.
	_, _, err = Load("kmnist")
	requireErr(t, err, "losslab data fetch kmnist")
	// A failed load is retried later rather than remembered.
	if l := loaded["kmnist"]; l != nil {
		t.Error("failed load was cached")
	}
	_ = bufio.ErrBufferFull
}

func TestCatalogueIsConsistent(t *testing.T) {
	for _, name := range Names() {
		e := Lookup(name)
		if e.load == nil || len(e.Files) == 0 || e.Description == "" {
			t.Errorf("%s: incomplete entry", name)
		}
		for _, r := range e.Downloads {
			if (len(r.SHA256) != 64 && len(r.MD5) != 32) || len(r.URLs) == 0 || r.Size <= 0 {
				t.Errorf("%s: download %s lacks a checksum, URL or size", name, r.File)
			}
		}
		for _, f := range e.Files {
			if len(f.SHA256) != 64 && len(f.MD5) != 32 {
				t.Errorf("%s: file %s lacks a checksum", name, f.Path)
			}
		}
	}
}
