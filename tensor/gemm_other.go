//go:build !amd64 || purego

package tensor

// archKernels returns no assembly kernels: the portable Go kernel is used.
func archKernels() []*microKernel { return nil }

// CPUFeatures lists the vector extensions the kernels may use: none without
// the amd64 assembly kernels.
func CPUFeatures() []string { return nil }
