// Package folderlock gives one process at a time a folder to work in: a
// second losslab process started on a run or study folder that another is
// using stops at once with an error naming the folder and the holder
// (host, pid, start time), or waits for it (Wait), instead of doing all
// the work a second time.
//
// The lock is an advisory flock on FOLDER/.lock, so the kernel releases it
// when the process ends however it ends (a kill -9 leaves no stale lock).
// The file names its holder, for messages only: the flock alone decides.
// On systems without flock (Windows, Plan 9) locking is a no-op.
//
// On NFS, Linux clients (2.6.12 and later) turn flock into a whole-file
// byte-range lock that the server arbitrates, so the lock holds across
// machines unless the filesystem is mounted with local_lock=flock, or
// local_lock=all or nolock (NFSv3); docs/clusters.md says what to check.
package folderlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File is the lock file's name inside a locked folder.
const File = ".lock"

// Holder is who holds a lock, as the holder wrote it in the lock file.
// On another machine (a shared filesystem) the pid means nothing here,
// hence the host; the start time tells a stuck holder from a busy one.
type Holder struct {
	Host    string    `json:"host,omitempty"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started,omitzero"`
}

func (h Holder) String() string {
	if h.PID <= 0 {
		return "another process"
	}
	s := "process " + strconv.Itoa(h.PID)
	if h.Host != "" {
		s += " on " + h.Host
	}
	if !h.Started.IsZero() {
		s += " since " + h.Started.Local().Format(time.RFC3339)
	}
	return s
}

// BusyError reports a folder locked by another process (or by another
// Lock of this process).
type BusyError struct {
	Dir    string
	Holder Holder // zero when the lock file names no holder
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is in use by %s (lock %s); wait for it to finish (--wait), or stop it and run again to resume",
		e.Dir, e.Holder, filepath.Join(e.Dir, File))
}

// ErrBusy matches every *BusyError with errors.Is.
var ErrBusy = errors.New("folder in use")

func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Lock takes dir's lock without waiting and returns the function that
// releases it; dir must exist. It fails with a *BusyError when the lock is
// held.
func Lock(dir string) (release func(), err error) {
	path := filepath.Join(dir, File)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &BusyError{Dir: dir, Holder: readHolder(path)}
		}
		if unsupported(err) {
			return nil, fmt.Errorf("lock %s: %w: the filesystem does not lock files across processes as mounted (docs/clusters.md, One process per folder)", path, err)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Written in place, not atomically: the lock is on this file, and a
	// renamed replacement would be a different, unlocked file. A reader
	// that sees it half-written only names the holder less precisely.
	h := Holder{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)}
	h.Host, _ = os.Hostname()
	if b, err := json.Marshal(h); err == nil && f.Truncate(0) == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return func() { unlock(f); f.Close() }, nil
}

// readHolder reads the holder from a lock file: JSON, or a bare pid as
// losslab wrote before it recorded host and start time.
func readHolder(path string) Holder {
	b, _ := os.ReadFile(path)
	var h Holder
	if json.Unmarshal(b, &h) == nil {
		return h
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return Holder{PID: pid}
}

// Wait takes dir's lock like Lock, but while another process holds it,
// waits for it instead of failing: until the lock is released or ctx is
// done. busy, if not nil, is called once, when Wait first finds the lock
// held, so that the caller can say what it waits for.
func Wait(ctx context.Context, dir string, busy func(*BusyError)) (release func(), err error) {
	// Polled, not a blocking flock: a blocked flock cannot be cancelled,
	// and on NFS each try is one round trip to the server, so the interval
	// grows to a few seconds.
	delay := 20 * time.Millisecond
	for first := true; ; first = false {
		release, err := Lock(dir)
		var b *BusyError
		if !errors.As(err, &b) {
			return release, err
		}
		if first && busy != nil {
			busy(b)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for %s (in use by %s): %w", dir, b.Holder, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}
