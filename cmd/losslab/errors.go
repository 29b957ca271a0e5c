package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/losslab/losslab/train"
)

// Exit codes. Every error reaches exitCode, the one place that maps errors to
// codes, so scripts and schedulers can tell failures apart.
const (
	exitOK          = 0
	exitFailure     = 1   // runtime failure: bad data, divergence, I/O
	exitUsage       = 2   // bad command line or configuration, or a config that conflicts with an existing run folder
	exitInterrupted = 130 // Ctrl-C or SIGTERM; work done so far is saved
)

// usageError marks errors in how losslab was invoked.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitCode prints err (if any) and returns the process exit code for it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var conflict *train.ConfigConflictError
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "losslab: interrupted; progress is saved, run the same command again to resume")
		return exitInterrupted
	case errors.As(err, &ue), errors.As(err, &conflict):
		fmt.Fprintf(stderr, "losslab: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "losslab: %v\n", err)
		return exitFailure
	}
}
