// Package folderlock gives one process at a time a folder to work in: a
// second losslab process started on a run or study folder that another is
// using stops at once with an error naming the folder and the process,
// instead of doing all the work a second time.
//
// The lock is an advisory flock on FOLDER/.lock, so the kernel releases it
// when the process ends however it ends (a kill -9 leaves no stale lock);
// the file holds the owner's pid, for the message only. On systems
// without flock (Windows, Plan 9) locking is a no-op.
package folderlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is the lock file's name inside a locked folder.
const File = ".lock"

// BusyError reports a folder locked by another process (or by another
// Lock of this process).
type BusyError struct {
	Dir string
	PID int // the owner's pid, 0 when unknown
}

func (e *BusyError) Error() string {
	owner := "another process"
	if e.PID > 0 {
		owner = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("%s is in use by %s (lock %s); wait for it to finish, or stop it and run again to resume", e.Dir, owner, filepath.Join(e.Dir, File))
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
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &BusyError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is informational; a failure to write it does not matter.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { unlock(f); f.Close() }, nil
}
