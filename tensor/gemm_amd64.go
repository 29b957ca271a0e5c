//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

//go:generate go run gemm_asmgen.go

// gemmKernel6x16AVX2 is implemented in gemm_kernels_amd64.s; see microKernelFunc.
//
//go:noescape
func gemmKernel6x16AVX2(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// gemmKernel12x32AVX512 is implemented in gemm_kernels_amd64.s; see microKernelFunc.
//
//go:noescape
func gemmKernel12x32AVX512(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// archKernels returns the assembly kernels, slowest first. Block sizes: the
// B micro-panel (KC×NR) stays in L1 while the A block (MC×KC) streams from
// L2 and the B panel (KC×NC) from L3 (Zen 4: 32 KiB L1d, 1 MiB L2 per core).
func archKernels() []*microKernel {
	return []*microKernel{
		{
			name: "avx2", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4080,
			supported: cpu.X86.HasAVX2 && cpu.X86.HasFMA,
			fn:        gemmKernel6x16AVX2,
		},
		{
			name: "avx512", mr: 12, nr: 32, mc: 144, kc: 256, nc: 4064,
			supported: cpu.X86.HasAVX512F,
			fn:        gemmKernel12x32AVX512,
		},
	}
}
