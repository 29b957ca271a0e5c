//go:build !unix

package folderlock

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

func tryLock(f *os.File) error { return nil }

func unlock(f *os.File) {}

func unsupported(err error) bool { return false }
