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

// gemmKernel8x32AVX512 is implemented in gemm_kernels_amd64.s; see microKernelFunc.
//
//go:noescape
func gemmKernel8x32AVX512(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// gemmKernel12x16AVX512 is implemented in gemm_kernels_amd64.s; see microKernelFunc.
//
//go:noescape
func gemmKernel12x16AVX512(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// gemmKernel8x16AVX512 is implemented in gemm_kernels_amd64.s; see microKernelFunc.
//
//go:noescape
func gemmKernel8x16AVX512(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// CPUFeatures lists the vector extensions the kernels may use and this CPU
// has (as golang.org/x/sys/cpu sees them), for benchmark reports.
func CPUFeatures() []string {
	var fs []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"avx", cpu.X86.HasAVX}, {"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA},
		{"avx512f", cpu.X86.HasAVX512F}, {"avx512dq", cpu.X86.HasAVX512DQ},
		{"avx512bw", cpu.X86.HasAVX512BW}, {"avx512vl", cpu.X86.HasAVX512VL},
		{"avx512vnni", cpu.X86.HasAVX512VNNI}, {"avx512bf16", cpu.X86.HasAVX512BF16},
	} {
		if f.has {
			fs = append(fs, f.name)
		}
	}
	return fs
}

// archKernels returns the assembly kernels, slowest first. Block sizes (Zen 4:
// 32 KiB L1d, 1 MiB L2 per core): the B micro-panel (KC×NR, 20 KiB for AVX2)
// stays in L1 while A micro-panels stream from the MC×KC block in L2, and the
// KC×NC panel of B sits in L3. KC = 320 keeps the k of our 3×3 convolutions
// with 32 input channels (288) in one block, so C is written once; k = 576
// becomes two blocks of 288. For AVX-512 the 32-wide micro-panel would not
// fit L1 at that depth, but at one 512-bit FMA per cycle (Zen 4) its loads
// from L2 are far below L2 bandwidth.
//
// The 12×32 kernel's MC×KC block of A is 528×256 (528 KiB, half of a 1 MiB
// L2): each B micro-panel brought into L1 then serves 44 A micro-panels.
// With MC = 144 a 1024³ product on two threads of a Zen 5 spent a tenth of
// its time bringing B panels from L3 (bench/openblas: 0.80–0.85× OpenBLAS
// with MC = 144, 0.89–0.93× with MC = 528 and chunks of at least MC rows;
// the convolutions' products did not change measurably).
//
// The 12×16 AVX-512 kernel serves the products at most 16 columns wide
// (the 16-channel convolutions' forward pass and both gradients), where the
// 12×32 tile would spend half its multiply-adds on zero padding and every
// tile would go through the edge-tile path. The 8×32 kernel serves the
// products whose rows are a multiple of 8 but not of 12, up to shortMaxM
// (a convolution's 64- or 256-pixel images, one per product): twelve-row
// tiles would spend 11 % (64 rows) or 3 % (256) of their work on padding.
// On a Zen 4 core its speed in L1 matches the 12×32 kernel's. The 8×16
// kernel is likewise the 12×16 kernel's short variant: the Winograd weight
// gradients of the 16-channel convolutions are 16×16 products.
func archKernels() []*microKernel {
	narrowShort := &microKernel{
		name: "avx512-8x16", mr: 8, nr: 16, mc: 144, kc: 256, nc: 4080,
		supported: cpu.X86.HasAVX512F,
		fn:        gemmKernel8x16AVX512,
	}
	narrow := &microKernel{
		name: "avx512-16", mr: 12, nr: 16, mc: 144, kc: 256, nc: 4080,
		supported: cpu.X86.HasAVX512F,
		fn:        gemmKernel12x16AVX512,
		short:     narrowShort,
	}
	short := &microKernel{
		name: "avx512-8", mr: 8, nr: 32, mc: 528, kc: 256, nc: 4064,
		supported: cpu.X86.HasAVX512F,
		fn:        gemmKernel8x32AVX512,
	}
	return []*microKernel{
		{
			name: "avx2", mr: 6, nr: 16, mc: 144, kc: 320, nc: 4080,
			supported: cpu.X86.HasAVX2 && cpu.X86.HasFMA,
			fn:        gemmKernel6x16AVX2,
		},
		short,
		narrowShort,
		narrow,
		{
			name: "avx512", mr: 12, nr: 32, mc: 528, kc: 256, nc: 4064,
			supported: cpu.X86.HasAVX512F,
			fn:        gemmKernel12x32AVX512,
			narrow:    narrow,
			short:     short,
		},
	}
}
