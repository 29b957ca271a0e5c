package data

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/losslab/losslab/internal/atomicfile"
)

// Remote is a file published at one or more URLs with a known checksum.
type Remote struct {
	// File is the name the download is stored under.
	File string
	// URLs are tried in order; mirrors follow the canonical address.
	URLs []string
	// Size is the published size in bytes (0: unknown).
	Size int64
	// SHA256 and MD5 are the published checksums of the file as served;
	// at least one must be set. SHA256 is checked when present.
	SHA256, MD5 string
}

// checksum returns a fresh hash for r's published checksum and its value.
func (r Remote) checksum() (hash.Hash, string, string) {
	if r.SHA256 != "" {
		return sha256.New(), r.SHA256, "sha256"
	}
	return md5.New(), r.MD5, "md5"
}

// Downloader fetches Remotes into a folder, resuming partial files.
type Downloader struct {
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// Attempts is how many times a cut transfer is resumed per URL before
	// moving to the next URL (0 means 4).
	Attempts int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// ErrChecksum is wrapped by the error returned when a download does not
// match its published checksum or size.
var ErrChecksum = errors.New("checksum mismatch")

// Fetch downloads r into dir/r.File. Bytes arrive in dir/r.File+".part",
// which survives a cut connection and is resumed with an HTTP Range
// request, by this call's retries or a later call. The complete file is
// verified against the published checksum, fsynced and renamed into place;
// on a mismatch the partial file is deleted and ErrChecksum returned, so a
// bad file never enters the cache.
func (d *Downloader) Fetch(ctx context.Context, r Remote, dir string) error {
	if r.SHA256 == "" && r.MD5 == "" {
		return fmt.Errorf("%s: no published checksum to verify the download against", r.File)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	final := filepath.Join(dir, r.File)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	var errs []error
	for _, url := range r.URLs {
		for a := 0; a < attempts; a++ {
			err := d.transfer(ctx, r, url, final+".part")
			if err == nil {
				if err = verifyAndPlace(r, final+".part", final); err == nil {
					return nil
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var perm *permanentError
			if errors.Is(err, ErrChecksum) || errors.As(err, &perm) {
				errs = append(errs, err)
				break // this URL serves something else: try the next
			}
			errs = append(errs, fmt.Errorf("%s (attempt %d): %w", url, a+1, err))
			d.logf("%s: %v; resuming\n", r.File, err)
			time.Sleep(time.Duration(a) * 200 * time.Millisecond)
		}
	}
	return fmt.Errorf("downloading %s failed: %w", r.File, errors.Join(errs...))
}

// permanentError marks a failure that retrying the same URL will not fix.
type permanentError struct{ error }

func (d *Downloader) logf(format string, args ...any) {
	if d.Log != nil {
		fmt.Fprintf(d.Log, format, args...)
	}
}

// transfer appends url's bytes to part, starting where part ends.
func (d *Downloader) transfer(ctx context.Context, r Remote, url, part string) error {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if r.Size > 0 && have == r.Size {
		return nil // complete already; verifyAndPlace decides
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &permanentError{err}
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("server resumed at %q, want byte %d", resp.Header.Get("Content-Range"), have)
		}
	case http.StatusOK: // no range support: start over
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have = 0
	case http.StatusRequestedRangeNotSatisfiable:
		return nil // nothing more to send: verifyAndPlace decides
	default:
		err := fmt.Errorf("%s: HTTP %s", url, resp.Status)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return &permanentError{err}
		}
		return err
	}
	total := r.Size
	if total == 0 && resp.ContentLength > 0 {
		total = have + resp.ContentLength
	}
	pw := &progressWriter{w: f, done: have, total: total, name: r.File, d: d, next: have}
	_, err = io.Copy(pw, resp.Body)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	return err
}

func contentRangeStart(h string) (int64, bool) {
	// "bytes START-END/TOTAL"
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	startStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(startStr, 10, 64)
	return n, err == nil
}

// progressWriter logs progress every 10 % of the file.
type progressWriter struct {
	w           io.Writer
	done, total int64
	next        int64
	name        string
	d           *Downloader
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.total > 0 && p.done >= p.next {
		p.d.logf("%s: %.0f%% of %.1f MB\n", p.name, 100*float64(p.done)/float64(p.total), float64(p.total)/1e6)
		p.next = p.done + p.total/10
	}
	return n, err
}

// verifyAndPlace checks part against r's size and checksum, then renames it
// to final; a mismatching part is removed.
func verifyAndPlace(r Remote, part, final string) error {
	f, err := os.Open(part)
	if err != nil {
		return err
	}
	h, want, algo := r.checksum()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	if r.Size > 0 && n < r.Size {
		return fmt.Errorf("%s: %d of %d bytes received", r.File, n, r.Size)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if (r.Size > 0 && n != r.Size) || got != want {
		os.Remove(part)
		return fmt.Errorf("%s: %w: %d bytes with %s %s, published %d bytes with %s %s; the download was deleted",
			r.File, ErrChecksum, n, algo, got, r.Size, algo, want)
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(final))
}
