//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package train

// isTerminal reports false where terminal detection is not implemented, so
// progress is printed as plain log lines.
func isTerminal(fd uintptr) bool { return false }
