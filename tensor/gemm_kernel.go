package tensor

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"
)

// microKernelFunc computes an MR×NR tile of C = alpha·(A·B) + beta·C over kc
// steps, where A[i, p] is at a + i·rsA + p·csA and step p of B (NR
// contiguous values) at b + p·csB (strides in elements). Packed micro-panels
// are rsA = 1, csA = MR, csB = NR; other strides read operands in place. c
// points at the tile's top-left element, with row stride ldc; beta == 0 means
// C is not read. Each element's products are summed in k order, and alpha·AB
// and beta·C are rounded separately before the addition (storeEdgeTile must
// produce the same values).
type microKernelFunc func(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// microKernel is a micro-kernel with the cache blocking that suits it.
type microKernel struct {
	name      string
	mr, nr    int  // register tile
	mc, kc    int  // A block (MC×KC, kept in L2); mc is a multiple of mr
	nc        int  // B panel width (KC×NC, kept in L3); a multiple of nr
	supported bool // whether this CPU can run it
	fn        microKernelFunc
	// narrow, when set, computes the products at most narrow.nr columns
	// wide in this kernel's place. The choice depends on the product's
	// shape alone, so results stay bit-identical across thread counts.
	narrow *microKernel
	// short, when set, computes in this kernel's place the products whose
	// row count m is a multiple of short.mr but not of mr, up to
	// shortMaxM rows: there this kernel's last row of tiles would be part
	// padding (a 64-row product is five 12-row tiles and a sixth with 4
	// rows), while the short kernel's tiles divide m.
	short *microKernel
}

// shortMaxM bounds the products given to a short kernel: beyond it the
// padding of the last row of tiles is under 1.4 % of the work.
const shortMaxM = 575

// family returns k and the kernels it hands products to (narrow, short,
// and theirs).
func (k *microKernel) family() []*microKernel {
	ks := []*microKernel{k}
	for _, v := range []*microKernel{k.narrow, k.short} {
		if v != nil {
			ks = append(ks, v.family()...)
		}
	}
	return ks
}

// forShape returns the kernel that computes an m×n product.
func (k *microKernel) forShape(m, n int) *microKernel {
	if k.narrow != nil && n <= k.narrow.nr {
		return k.narrow.forShape(m, n)
	}
	if s := k.short; s != nil && m <= shortMaxM && m%k.mr != 0 && m%s.mr == 0 {
		return s
	}
	return k
}

// kernels lists every micro-kernel built into this binary, the portable one
// first; the fastest supported one is selected at start-up.
var kernels = append([]*microKernel{genericKernel}, archKernels()...)

var activeKernel atomic.Pointer[microKernel]

// kernelEnv names the environment variable that forces a micro-kernel.
const kernelEnv = "LOSSLAB_GEMM_KERNEL"

func init() {
	best := genericKernel
	for _, k := range kernels {
		if k.supported {
			best = k // later entries are faster
		}
	}
	activeKernel.Store(best)
	if name := os.Getenv(kernelEnv); name != "" {
		if err := SetKernel(name); err != nil {
			fmt.Fprintf(os.Stderr, "losslab: %s=%q ignored: %v; using %s\n", kernelEnv, name, err, best.name)
		}
	}
}

// SetKernel selects the GEMM micro-kernel by name ("generic", "avx2",
// "avx512-8", "avx512-8x16", "avx512-16", "avx512"; "avx512" hands products
// at most 16 columns wide to "avx512-16" and some short ones to "avx512-8",
// and "avx512-16" some short ones to "avx512-8x16", whose results are the
// same as their own, so forcing one matters only for the other products). It returns an error naming the supported kernels if name
// is unknown or this CPU cannot run it, and leaves the selection unchanged.
// Results are bit-identical only for the same kernel (a short kernel and
// its full one give the same results: both sum each element in k order).
func SetKernel(name string) error {
	for _, k := range kernels {
		if k.name != name {
			continue
		}
		if !k.supported {
			return fmt.Errorf("tensor: GEMM kernel %q is not supported by this CPU (supported: %s)", name, strings.Join(SupportedKernels(), ", "))
		}
		activeKernel.Store(k)
		return nil
	}
	return fmt.Errorf("tensor: unknown GEMM kernel %q (supported: %s)", name, strings.Join(SupportedKernels(), ", "))
}

// Kernel names the GEMM micro-kernel in use.
func Kernel() string { return activeKernel.Load().name }

// KernelTiles describes the register tiles of the kernel in use, e.g.
// "12x32; 12x16 when n ≤ 16, 8x16 when m ≤ 575 is a multiple of 8, not of
// 12; 8x32 when m ≤ 575 is a multiple of 8, not of 12": what a measurement
// ran, in a benchmark's output.
func KernelTiles() string {
	k := activeKernel.Load()
	s := fmt.Sprintf("%dx%d", k.mr, k.nr)
	if k.narrow != nil {
		s += fmt.Sprintf("; %dx%d when n ≤ %d", k.narrow.mr, k.narrow.nr, k.narrow.nr)
	}
	short := func(k *microKernel) string {
		return fmt.Sprintf("%dx%d when m ≤ %d is a multiple of %d, not of %d", k.short.mr, k.short.nr, shortMaxM, k.short.mr, k.mr)
	}
	if k.narrow != nil && k.narrow.short != nil {
		s += ", " + short(k.narrow)
	}
	if k.short != nil {
		s += "; " + short(k)
	}
	return s
}

// SupportedKernels lists the GEMM micro-kernels this CPU can run, slowest
// (the portable Go one) first.
func SupportedKernels() []string {
	var names []string
	for _, k := range kernels {
		if k.supported {
			names = append(names, k.name)
		}
	}
	return names
}

// genericKernel is the portable micro-kernel in Go: a 4×4 tile keeps its 16
// accumulators, 4 B values and one A value in registers on amd64 and arm64.
var genericKernel = &microKernel{
	name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 2048,
	supported: true, fn: gemmKernel4x4Go,
}

func gemmKernel4x4Go(kc int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32) {
	const nr = 4
	pa := unsafe.Slice(a, 3*rsA+(kc-1)*csA+1)
	pb := unsafe.Slice(b, (kc-1)*csB+nr)
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		bv := pb[p*csB : p*csB+nr : p*csB+nr]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := pa[p*csA]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := pa[p*csA+rsA]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := pa[p*csA+2*rsA]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := pa[p*csA+3*rsA]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+nr)
	storeRow(cs[0*ldc:0*ldc+nr:0*ldc+nr], c00, c01, c02, c03, alpha, beta)
	storeRow(cs[1*ldc:1*ldc+nr:1*ldc+nr], c10, c11, c12, c13, alpha, beta)
	storeRow(cs[2*ldc:2*ldc+nr:2*ldc+nr], c20, c21, c22, c23, alpha, beta)
	storeRow(cs[3*ldc:3*ldc+nr:3*ldc+nr], c30, c31, c32, c33, alpha, beta)
}

func storeRow(row []float32, v0, v1, v2, v3, alpha, beta float32) {
	row = row[:4]
	if beta == 0 {
		row[0], row[1], row[2], row[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	row[0] = scaleAdd(alpha, v0, beta, row[0])
	row[1] = scaleAdd(alpha, v1, beta, row[1])
	row[2] = scaleAdd(alpha, v2, beta, row[2])
	row[3] = scaleAdd(alpha, v3, beta, row[3])
}

// scaleAdd returns alpha·ab + beta·c with both products rounded to float32
// before the addition; the explicit conversions forbid fusing them into an
// FMA, which the assembly kernels do not do either.
func scaleAdd(alpha, ab, beta, c float32) float32 {
	return float32(alpha*ab) + float32(beta*c)
}
