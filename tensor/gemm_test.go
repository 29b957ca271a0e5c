package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// forEachKernel runs f as a subtest once per micro-kernel built into the
// binary and per operand mode (everything packed; everything read in place
// where possible), skipping (with the reason) kernels this CPU cannot run. It
// restores the selected kernel and the thresholds afterwards.
func forEachKernel(t *testing.T, f func(t *testing.T, kern *microKernel)) {
	t.Helper()
	saved, savedA, savedB, savedRows := Kernel(), directAMaxN, directBMaxM, directBPanelRows
	defer func() {
		directAMaxN, directBMaxM, directBPanelRows = savedA, savedB, savedRows
		if err := SetKernel(saved); err != nil {
			t.Fatal(err)
		}
	}()
	modes := []struct {
		name       string
		maxN, maxM int
	}{
		{"packed", -1, -1},
		{"direct", math.MaxInt, math.MaxInt},
	}
	for _, kern := range kernels {
		for _, mode := range modes {
			t.Run(kern.name+"/"+mode.name, func(t *testing.T) {
				if !kern.supported {
					t.Skipf("this CPU cannot run the %s kernel (e.g. no AVX-512F); its tests run on CPUs that can", kern.name)
				}
				if err := SetKernel(kern.name); err != nil {
					t.Fatal(err)
				}
				directAMaxN, directBMaxM, directBPanelRows = mode.maxN, mode.maxM, mode.maxM > 0
				f(t, kern)
			})
		}
	}
}

// withThreads runs f with the thread count set to n.
func withThreads(n int, f func()) {
	saved := Threads()
	SetThreads(n)
	defer SetThreads(saved)
	f()
}

// stored is a matrix as Gemm sees it: rows×cols values with row stride ld.
// Padding between rows is NaN so that reading it would poison the result.
type stored struct {
	rows, cols, ld int
	data           []float32
}

func newStored(rng *rand.Rand, rows, cols, pad int) stored {
	s := stored{rows: rows, cols: cols, ld: cols + pad}
	s.data = make([]float32, max(0, (rows-1)*s.ld+cols))
	for i := range s.data {
		if i%s.ld < cols {
			s.data[i] = float32(rng.NormFloat64())
		} else {
			s.data[i] = float32(math.NaN())
		}
	}
	return s
}

func (s stored) at(i, j int) float64 { return float64(s.data[i*s.ld+j]) }

// gemmCase is one product with everything needed to check it.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        stored
}

func newGemmCase(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	if transA {
		g.a = newStored(rng, k, m, pad)
	} else {
		g.a = newStored(rng, m, k, pad)
	}
	if transB {
		g.b = newStored(rng, n, k, pad)
	} else {
		g.b = newStored(rng, k, n, pad)
	}
	g.c = newStored(rng, m, n, pad)
	if beta == 0 {
		// beta == 0 must not read C: NaNs there may not propagate.
		for i := range g.c.data {
			g.c.data[i] = float32(math.NaN())
		}
	}
	return g
}

func (g *gemmCase) opA(i, p int) float64 {
	if g.transA {
		return g.a.at(p, i)
	}
	return g.a.at(i, p)
}

func (g *gemmCase) opB(p, j int) float64 {
	if g.transB {
		return g.b.at(j, p)
	}
	return g.b.at(p, j)
}

func (g *gemmCase) run(c []float32) {
	Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a.data, g.a.ld, g.b.data, g.b.ld, g.beta, c, g.c.ld)
}

// check runs the product on a copy of C and compares every element with a
// float64 reference, allowing the float32 rounding error of a k-term sum
// (relative to Σ|terms|); C's row padding must be left untouched.
func (g *gemmCase) check(t *testing.T) {
	t.Helper()
	c := append([]float32(nil), g.c.data...)
	g.run(c)
	eps := float64(math.Nextafter32(1, 2) - 1)
	tol := 2 * float64(g.k+3) * eps
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var want, size float64
			for p := 0; p < g.k; p++ {
				term := g.opA(i, p) * g.opB(p, j)
				want += term
				size += math.Abs(term)
			}
			want *= float64(g.alpha)
			size *= math.Abs(float64(g.alpha))
			if g.beta != 0 {
				old := g.c.at(i, j)
				want += float64(g.beta) * old
				size += math.Abs(float64(g.beta) * old)
			}
			got := float64(c[i*g.c.ld+j])
			if !(math.Abs(got-want) <= tol*size+1e-30) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v (tolerance %.3g)", g, i, j, got, want, tol*size)
			}
		}
		for j := g.n; j < g.c.ld && i < g.m-1; j++ {
			if old, now := g.c.data[i*g.c.ld+j], c[i*g.c.ld+j]; math.Float32bits(old) != math.Float32bits(now) {
				t.Fatalf("%s: padding C[%d,%d] changed from %v to %v", g, i, j, old, now)
			}
		}
	}
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("Gemm(transA=%v transB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d)",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.a.ld, g.b.ld, g.c.ld)
}

var scalings = []struct{ alpha, beta float32 }{
	{1, 0}, {0.5, 0}, {1, 1}, {-1.5, 0.25}, {2, -1}, {0, 0.5}, {0, 0},
}

// TestGemmSmallExhaustive covers every m, n, k in 1..9 (all edge-tile
// shapes of the 4×4 and 6×16 kernels and part of the 12×32 one) in all four
// transpose variants.
func TestGemmSmallExhaustive(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(1, 2))
		for m := 1; m <= 9; m++ {
			for n := 1; n <= 9; n++ {
				for k := 1; k <= 9; k++ {
					for v := 0; v < 4; v++ {
						s := scalings[(m+n+k+v)%len(scalings)]
						newGemmCase(rng, v&1 != 0, v&2 != 0, m, n, k, s.alpha, s.beta, (m*n+k)%3).check(t)
					}
				}
			}
		}
	})
}

// TestGemmOddSizes sweeps each of m, n and k over 1..70 with the other two
// drawn at random from 1..70, every transpose variant and scaling, and row
// strides larger than the minimum.
func TestGemmOddSizes(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(3, 4))
		for dim := 0; dim < 3; dim++ {
			for s := 1; s <= 70; s++ {
				size := [3]int{1 + rng.IntN(70), 1 + rng.IntN(70), 1 + rng.IntN(70)}
				size[dim] = s
				v := rng.IntN(4)
				sc := scalings[rng.IntN(len(scalings))]
				newGemmCase(rng, v&1 != 0, v&2 != 0, size[0], size[1], size[2], sc.alpha, sc.beta, rng.IntN(5)).check(t)
			}
		}
	})
}

// TestGemmBlockBoundaries uses sizes just below, at and above the kernel's
// MC, KC and NC blocks, where the packing loops start a second block, and
// several threads so that chunk boundaries fall inside blocks.
func TestGemmBlockBoundaries(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(5, 6))
		var sizes [][3]int
		for _, d := range []int{-1, 0, 1} {
			sizes = append(sizes,
				[3]int{kern.mc + d, 2*kern.nr + 3, 17},
				[3]int{2*kern.mr + 1, kern.nr + 5, kern.kc + d},
				[3]int{kern.mr + 1, kern.nc + d, 3},
			)
		}
		sizes = append(sizes, [3]int{2*kern.mc + kern.mr + 1, kern.nr + 1, 2*kern.kc + 1})
		for _, threads := range []int{1, 3} {
			withThreads(threads, func() {
				for i, s := range sizes {
					sc := scalings[(i+threads)%len(scalings)]
					v := (i + threads) % 4
					newGemmCase(rng, v&1 != 0, v&2 != 0, s[0], s[1], s[2], sc.alpha, sc.beta, 1+i%3).check(t)
				}
			})
		}
	})
}

// TestGemmMicroKernel calls each micro-kernel directly, with A and B as
// packed micro-panels and in place (A row- or column-strided, B with a step
// stride wider than the tile), C with a row stride wider than the tile, for
// beta 0 (C full of NaN), 1 and another value.
func TestGemmMicroKernel(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(7, 8))
		mr, nr := kern.mr, kern.nr
		layouts := []struct {
			name          string
			rsA, csA, csB func(kc int) int
		}{
			{"packed", func(int) int { return 1 }, func(int) int { return mr }, func(int) int { return nr }},
			{"A rows", func(kc int) int { return kc + 3 }, func(int) int { return 1 }, func(int) int { return nr + 5 }},
			{"A columns", func(int) int { return 1 }, func(int) int { return mr + 2 }, func(int) int { return 2*nr + 1 }},
		}
		for _, lay := range layouts {
			for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 65} {
				for _, beta := range []float32{0, 1, -0.75} {
					alpha := float32(1.25)
					rsA, csA, csB := lay.rsA(kc), lay.csA(kc), lay.csB(kc)
					a := make([]float32, (mr-1)*rsA+(kc-1)*csA+1)
					b := make([]float32, (kc-1)*csB+nr)
					for i := range a {
						a[i] = float32(rng.NormFloat64())
					}
					for i := range b {
						b[i] = float32(rng.NormFloat64())
					}
					ldc := nr + 3
					c := make([]float32, mr*ldc)
					for i := range c {
						c[i] = float32(rng.NormFloat64())
						if beta == 0 {
							c[i] = float32(math.NaN())
						}
					}
					old := append([]float32(nil), c...)
					kern.fn(kc, &a[0], rsA, csA, &b[0], csB, &c[0], ldc, alpha, beta)
					checkMicroTile(t, fmt.Sprintf("%s kc=%d beta=%v", lay.name, kc, beta), c, old, a, rsA, csA, b, csB, mr, nr, ldc, kc, alpha, beta)
				}
			}
		}
	})
}

// checkMicroTile checks a micro-kernel's output got (mr rows of stride ldc)
// against a float64 product of the kc-long panels of a (row stride rsA,
// column stride csA) and b (row stride csB) plus beta times the old C, with
// an error bound proportional to kc and the size of the summed terms, and
// checks that columns nr..ldc−1 were left untouched (bit for bit).
func checkMicroTile(t *testing.T, what string, got, old, a []float32, rsA, csA int, b []float32, csB, mr, nr, ldc, kc int, alpha, beta float32) {
	t.Helper()
	for i := 0; i < mr; i++ {
		for j := 0; j < ldc && i*ldc+j < len(got); j++ {
			x := i*ldc + j
			if j >= nr {
				if math.Float32bits(got[x]) != math.Float32bits(old[x]) {
					t.Fatalf("%s: wrote outside the tile at [%d,%d]", what, i, j)
				}
				continue
			}
			var ab, size float64
			for q := 0; q < kc; q++ {
				term := float64(a[i*rsA+q*csA]) * float64(b[q*csB+j])
				ab += term
				size += math.Abs(term)
			}
			want := float64(alpha) * ab
			size *= float64(alpha)
			if beta != 0 {
				want += float64(beta) * float64(old[x])
				size += math.Abs(float64(beta) * float64(old[x]))
			}
			if math.Abs(float64(got[x])-want) > 2*float64(kc+3)*1.2e-7*size+1e-30 {
				t.Fatalf("%s: C[%d,%d] = %v, want %v", what, i, j, got[x], want)
			}
		}
	}
}

// TestGemmEdgeTilesRoundLikeFullTiles checks the promise that lets results
// ignore how C is cut: the same element computed inside a full tile and
// inside an edge tile (through the temporary tile) is bit-identical.
func TestGemmEdgeTilesRoundLikeFullTiles(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, beta := range []float32{0, 1, 0.3} {
			big := newGemmCase(rng, false, false, kern.mr+1, kern.nr+1, 37, 0.7, beta, 0)
			if beta == 0 {
				for i := range big.c.data {
					big.c.data[i] = float32(rng.NormFloat64())
				}
			}
			full := append([]float32(nil), big.c.data...)
			big.run(full) // rows 0..mr-1 × cols 0..nr-1 form one full tile
			edge := append([]float32(nil), big.c.data...)
			// The same data seen as an (mr-1)×(nr-1) product: all edge tiles.
			Gemm(false, false, kern.mr-1, kern.nr-1, big.k, big.alpha, big.a.data, big.a.ld, big.b.data, big.b.ld, beta, edge, big.c.ld)
			for i := 0; i < kern.mr-1; i++ {
				for j := 0; j < kern.nr-1; j++ {
					x := i*big.c.ld + j
					if math.Float32bits(full[x]) != math.Float32bits(edge[x]) {
						t.Fatalf("beta=%v: C[%d,%d] is %v in a full tile but %v in an edge tile", beta, i, j, full[x], edge[x])
					}
				}
			}
		}
	})
}

// TestGemmDeterministic checks that repeated calls and every thread count
// give bit-identical results, for each transpose variant and for shapes that
// split by rows and by columns.
func TestGemmDeterministic(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(11, 12))
		shapes := [][3]int{{301, 67, 290}, {23, 290, 301}, {97, 97, 600}}
		for si, s := range shapes {
			v := si % 4
			g := newGemmCase(rng, v&1 != 0, v&2 != 0, s[0], s[1], s[2], 1, 0.5, 2)
			var first []float32
			for _, threads := range []int{1, 2, 3, 4, 7, 1} {
				withThreads(threads, func() {
					for rep := 0; rep < 2; rep++ {
						c := append([]float32(nil), g.c.data...)
						g.run(c)
						if first == nil {
							first = c
							continue
						}
						for i := range c {
							if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
								t.Fatalf("%s with %d threads (repeat %d): C[%d] = %v, first run %v", g, threads, rep, i, c[i], first[i])
							}
						}
					}
				})
			}
		}
	})
}

// TestGemmConcurrentCallers runs products from several goroutines at once
// (each of them splitting its product over threads) and compares each with
// the same product run alone.
func TestGemmConcurrentCallers(t *testing.T) {
	withThreads(3, func() {
		rng := rand.New(rand.NewPCG(13, 14))
		cases := make([]*gemmCase, 6)
		want := make([][]float32, len(cases))
		for i := range cases {
			cases[i] = newGemmCase(rng, i%2 == 0, i%3 == 0, 90+i, 80+2*i, 150, 1, 0, 0)
			want[i] = append([]float32(nil), cases[i].c.data...)
			cases[i].run(want[i])
		}
		var wg sync.WaitGroup
		got := make([][]float32, len(cases))
		for i := range cases {
			wg.Go(func() {
				for rep := 0; rep < 5; rep++ {
					got[i] = append(got[i][:0], cases[i].c.data...)
					cases[i].run(got[i])
				}
			})
		}
		wg.Wait()
		for i := range cases {
			for x := range want[i] {
				if math.Float32bits(got[i][x]) != math.Float32bits(want[i][x]) {
					t.Fatalf("case %d: concurrent C[%d] = %v, alone %v", i, x, got[i][x], want[i][x])
				}
			}
		}
	})
}

// TestGemmZeroSizes checks the cases with no products: m or n zero touches
// nothing, and k zero or alpha zero scale C by beta without reading A or B.
func TestGemmZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6}
	Gemm(false, false, 0, 3, 4, 1, nil, 4, nil, 3, 0, c, 3)
	Gemm(false, false, 2, 0, 4, 1, nil, 4, nil, 0, 0, c, 3)
	if c[0] != 1 || c[5] != 6 {
		t.Fatalf("an empty product changed C: %v", c)
	}
	Gemm(false, false, 2, 3, 0, 1, nil, 0, nil, 3, 2, c, 3)
	for i, v := range c {
		if v != float32(2*(i+1)) {
			t.Fatalf("k=0, beta=2: C = %v, want 2·[1..6]", c)
		}
	}
	Gemm(true, true, 2, 3, 5, 0, nil, 2, nil, 5, 0, c, 3)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("alpha=0, beta=0: C = %v, want zeros", c)
		}
	}
}

// TestGemmPanicsOnShortSlices checks that sizes the slices cannot hold are
// reported rather than read or written out of bounds by the kernels.
func TestGemmPanicsOnShortSlices(t *testing.T) {
	a, b := make([]float32, 6*5), make([]float32, 5*16)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short C", func() { Gemm(false, false, 6, 16, 5, 1, a, 5, b, 16, 0, make([]float32, 6*16-1), 16) }},
		{"short A", func() { Gemm(false, false, 7, 16, 5, 1, a, 5, b, 16, 0, make([]float32, 7*16), 16) }},
		{"small ldb", func() { Gemm(false, false, 6, 16, 5, 1, a, 5, b, 15, 0, make([]float32, 6*16), 16) }},
		{"negative k", func() { Gemm(false, false, 6, 16, -1, 1, a, 5, b, 16, 0, make([]float32, 6*16), 16) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		}()
	}
}

// TestGemmNoAllocs checks that steady-state calls allocate nothing, serial
// and threaded.
func TestGemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	rng := rand.New(rand.NewPCG(15, 16))
	g := newGemmCase(rng, false, true, 150, 130, 140, 1, 0, 0)
	c := make([]float32, len(g.c.data))
	for _, threads := range []int{1, 2} {
		withThreads(threads, func() {
			g.run(c)
			if n := testing.AllocsPerRun(50, func() { g.run(c) }); n != 0 {
				t.Errorf("%d threads: %v allocations per call", threads, n)
			}
		})
	}
}

func TestSetKernel(t *testing.T) {
	saved := Kernel()
	defer SetKernel(saved)
	if err := SetKernel("generic"); err != nil || Kernel() != "generic" {
		t.Fatalf("SetKernel(generic) = %v, Kernel() = %q", err, Kernel())
	}
	err := SetKernel("sse9")
	if err == nil || !strings.Contains(err.Error(), "sse9") || !strings.Contains(err.Error(), "generic") {
		t.Fatalf("SetKernel(sse9) = %v, want an error naming it and the supported kernels", err)
	}
	if Kernel() != "generic" {
		t.Fatalf("a failed SetKernel changed the kernel to %q", Kernel())
	}
	for _, k := range kernels {
		if !k.supported {
			if err := SetKernel(k.name); err == nil {
				t.Errorf("SetKernel(%q) succeeded on a CPU that cannot run it", k.name)
			}
		}
	}
}

// TestKernelEnvironment re-runs this test binary with LOSSLAB_GEMM_KERNEL
// set and checks the kernel it starts with (and the warning for a bad name).
func TestKernelEnvironment(t *testing.T) {
	if name := os.Getenv("LOSSLAB_TEST_PRINT_KERNEL"); name != "" {
		fmt.Printf("kernel=%s\n", Kernel())
		return
	}
	supported := SupportedKernels()
	best := supported[len(supported)-1] // the default without the variable
	for _, tc := range []struct{ env, want, warn string }{
		{"generic", "kernel=generic", ""},
		{"bogus", "kernel=" + best, `LOSSLAB_GEMM_KERNEL="bogus" ignored`},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKernelEnvironment$")
		cmd.Env = append(os.Environ(), "LOSSLAB_TEST_PRINT_KERNEL=1", "LOSSLAB_GEMM_KERNEL="+tc.env)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.env, err, stderr.String())
		}
		if !strings.Contains(string(out), tc.want+"\n") {
			t.Errorf("LOSSLAB_GEMM_KERNEL=%s: output %q, want %q", tc.env, out, tc.want)
		}
		if !strings.Contains(stderr.String(), tc.warn) {
			t.Errorf("LOSSLAB_GEMM_KERNEL=%s: stderr %q, want %q", tc.env, stderr.String(), tc.warn)
		}
	}
}

// TestGemmOperandModesAgree checks that reading operands in place and
// packing them give bit-identical results: the mode changes where values
// are read, never the arithmetic.
func TestGemmOperandModesAgree(t *testing.T) {
	saved, savedA, savedB := Kernel(), directAMaxN, directBMaxM
	defer func() {
		directAMaxN, directBMaxM = savedA, savedB
		SetKernel(saved)
	}()
	rng := rand.New(rand.NewPCG(17, 18))
	for _, name := range SupportedKernels() {
		if err := SetKernel(name); err != nil {
			t.Fatal(err)
		}
		for v := 0; v < 4; v++ {
			g := newGemmCase(rng, v&1 != 0, v&2 != 0, 53, 41, 300, 0.5, 0.25, 3)
			var results [][]float32
			for _, limit := range []int{-1, math.MaxInt} {
				directAMaxN, directBMaxM = limit, limit
				c := append([]float32(nil), g.c.data...)
				g.run(c)
				results = append(results, c)
			}
			for i := range results[0] {
				if math.Float32bits(results[0][i]) != math.Float32bits(results[1][i]) {
					t.Fatalf("%s %s: C[%d] packed %v, in place %v", name, g, i, results[0][i], results[1][i])
				}
			}
		}
	}
}

// TestGemmNarrowKernel checks the products that a kernel hands to its
// narrow variant (avx512 → avx512-16 for n ≤ 16): the choice follows n, the
// results are right in every transposition and through both the packed and
// the in-place operand paths, and they do not depend on the thread count.
func TestGemmNarrowKernel(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		if kern.narrow == nil {
			t.Skipf("the %s kernel has no narrow variant", kern.name)
		}
		nr := kern.narrow.nr
		if kern.forShape(1200, nr) != kern.narrow || kern.forShape(1200, nr+1) != kern {
			t.Fatalf("%s: forShape(1200, %d) and forShape(1200, %d) do not pick %s and %s", kern.name, nr, nr+1, kern.narrow.name, kern.name)
		}
		rng := rand.New(rand.NewPCG(31, 32))
		for _, n := range []int{1, 5, nr - 1, nr, nr + 1} {
			for _, shape := range [][2]int{{7, 3}, {kern.narrow.mr*3 + 5, 144}, {300, 2*kern.narrow.kc + 7}} {
				for tr := 0; tr < 4; tr++ {
					g := newGemmCase(rng, tr&1 != 0, tr&2 != 0, shape[0], n, shape[1], 1, 0.5, 3)
					g.check(t)
					var one, two []float32
					withThreads(1, func() { one = append([]float32(nil), g.c.data...); g.run(one) })
					withThreads(2, func() { two = append([]float32(nil), g.c.data...); g.run(two) })
					for i := range one {
						if math.Float32bits(one[i]) != math.Float32bits(two[i]) && !(math.IsNaN(float64(one[i])) && math.IsNaN(float64(two[i]))) {
							t.Fatalf("%s: C[%d] = %v with 1 thread, %v with 2", g, i, one[i], two[i])
						}
					}
				}
			}
		}
	})
}

// TestGemmShortKernel checks the products that a kernel hands to its short
// variant (avx512 → avx512-8 for m a multiple of 8 but not of 12, up to
// shortMaxM rows): the choice follows m, and the results are right in every
// transposition, through both operand paths, bit-identical for 1 and 2
// threads, and bit-identical to the main kernel's (each element is the
// same chain of fused multiply-adds whatever the tile).
func TestGemmShortKernel(t *testing.T) {
	forEachKernel(t, func(t *testing.T, main *microKernel) {
		if main.short == nil {
			t.Skipf("the %s kernel has no short variant", main.name)
		}
		s := main.short
		var ns *microKernel // the narrow kernel's short variant
		if main.narrow != nil {
			ns = main.narrow.short
		}
		for _, c := range []struct {
			m, n int
			want *microKernel
		}{
			{64, 64, s}, {256, 32, s}, {8, 100, s}, {shortMaxM + 1, 64, main}, {72, 64, main}, {60, 64, main},
			{72, 16, main.narrow}, {16, 16, ns}, {256, 9, ns}, {shortMaxM + 1, 16, main.narrow},
		} {
			if c.want == nil {
				continue
			}
			if got := main.forShape(c.m, c.n); got != c.want {
				t.Fatalf("%s: forShape(%d, %d) = %s, want %s", main.name, c.m, c.n, got.name, c.want.name)
			}
		}
		// The main kernel's short variant on products wider than the narrow
		// kernel, the narrow kernel's on products it takes.
		ns0 := []int{17, 32, 64, 70}
		kerns := []*microKernel{main}
		if ns != nil {
			kerns = append(kerns, main.narrow)
		}
		for _, kern := range kerns {
			checkShortKernel(t, kern, ns0)
			ns0 = []int{1, 9, 16}
		}
	})
}

// checkShortKernel runs the products of widths ns that kern (the main kernel
// or its narrow one) hands to its short variant, against 1 and 2 threads and
// against kern itself.
func checkShortKernel(t *testing.T, kern *microKernel, ns []int) {
	t.Helper()
	s := kern.short
	rng := rand.New(rand.NewPCG(41, 42))
	for _, m := range []int{8, 64, 256} {
		for _, n := range ns {
			for tr := 0; tr < 4; tr++ {
				g := newGemmCase(rng, tr&1 != 0, tr&2 != 0, m, n, 2*s.kc+13, 1, 0.5, 3)
				g.check(t)
				var one, two, full []float32
				withThreads(1, func() { one = append([]float32(nil), g.c.data...); g.run(one) })
				withThreads(2, func() { two = append([]float32(nil), g.c.data...); g.run(two) })
				saved := kern.short
				kern.short = nil
				withThreads(1, func() { full = append([]float32(nil), g.c.data...); g.run(full) })
				kern.short = saved
				for i := range one {
					if math.Float32bits(one[i]) != math.Float32bits(two[i]) || math.Float32bits(one[i]) != math.Float32bits(full[i]) {
						t.Fatalf("%s: C[%d] = %v with 1 thread, %v with 2, %v with the %s kernel", g, i, one[i], two[i], full[i], kern.name)
					}
				}
			}
		}
	}
}

// TestGemmSegmented checks GemmSegmented against a float64 product of the
// matrix its description denotes, copied out element by element: windows of
// a padded image (overlapping rows, runs of the kernel width), in both
// transpositions, with runs that do and do not fit whole register tiles,
// runs deeper than a k block, and for bit-identity across thread counts.
func TestGemmSegmented(t *testing.T) {
	forEachKernel(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(41, 42))
		for _, tc := range []struct {
			m, n, runs, segLen, lda, segStride int
		}{
			{m: 50, n: 16, runs: 3, segLen: 48, lda: 16, segStride: 34 * 16},         // 3×3, 16 channels, 32-wide image
			{m: 29, n: 7, runs: 3, segLen: 9, lda: 3, segStride: 12 * 3},             // 3 channels: runs cut tiles
			{m: 300, n: 40, runs: 2, segLen: 2*kern.kc + 5, lda: 8, segStride: 4000}, // runs deeper than KC
			{m: 13, n: 33, runs: 1, segLen: 24, lda: 24, segStride: 24},              // one run: a plain matrix
		} {
			k := tc.runs * tc.segLen
			for _, transA := range []bool{false, true} {
				m := tc.m
				rows := m // rows of A as stored
				if transA {
					// The segmented dimension is m: the runs describe columns of op(A).
					m, k = k, tc.m
					rows = tc.m
				}
				segDim := k
				if transA {
					segDim = m
				}
				seg := segments{tc.segLen, tc.segStride}
				a := make([]float32, (rows-1)*tc.lda+seg.off(segDim-1)+1)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				g := newGemmCase(rng, false, false, m, tc.n, k, 1, 0.5, 2)
				// Copy out op(A) so that the float64 reference of check applies.
				for i := 0; i < m; i++ {
					for p := 0; p < k; p++ {
						if transA {
							g.a.data[i*g.a.ld+p] = a[p*tc.lda+seg.off(i)]
						} else {
							g.a.data[i*g.a.ld+p] = a[i*tc.lda+seg.off(p)]
						}
					}
				}
				name := fmt.Sprintf("%s transA=%v runs=%d×%d lda=%d", g, transA, tc.runs, tc.segLen, tc.lda)
				got := func(threads int) []float32 {
					c := append([]float32(nil), g.c.data...)
					withThreads(threads, func() {
						GemmSegmented(transA, m, tc.n, k, a, tc.lda, tc.segLen, tc.segStride, g.b.data, g.b.ld, g.beta, c, g.c.ld)
					})
					return c
				}
				one, two := got(1), got(2)
				eps := float64(math.Nextafter32(1, 2) - 1)
				for i := 0; i < m; i++ {
					for j := 0; j < tc.n; j++ {
						var want, size float64
						for p := 0; p < k; p++ {
							term := g.opA(i, p) * g.opB(p, j)
							want += term
							size += math.Abs(term)
						}
						old := g.c.at(i, j)
						want += 0.5 * old
						size += math.Abs(0.5 * old)
						x := i*g.c.ld + j
						if d := math.Abs(float64(one[x]) - want); !(d <= 2*float64(k+3)*eps*size) {
							t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, one[x], want)
						}
						if math.Float32bits(one[x]) != math.Float32bits(two[x]) {
							t.Fatalf("%s: C[%d,%d] = %v with 1 thread, %v with 2", name, i, j, one[x], two[x])
						}
					}
				}
				if transA {
					k = tc.runs * tc.segLen
				}
			}
		}
	})
}

// TestGemmSegmentedPanics checks that descriptions the data cannot hold are
// reported.
func TestGemmSegmentedPanics(t *testing.T) {
	b, c := make([]float32, 96*4), make([]float32, 10*4)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short A", func() { GemmSegmented(false, 10, 4, 96, make([]float32, 100), 4, 48, 64, b, 4, 0, c, 4) }},
		{"k not whole runs", func() { GemmSegmented(false, 10, 4, 90, make([]float32, 1000), 4, 48, 64, b, 4, 0, c, 4) }},
		{"runs overlap", func() { GemmSegmented(false, 10, 4, 96, make([]float32, 1000), 4, 48, 40, b, 4, 0, c, 4) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		}()
	}
}

// Workers(1) computes on the calling goroutine what Gemm computes on all
// threads, bit for bit.
func TestWorkersOneMatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	withThreads(2, func() {
		for _, shape := range [][3]int{{300, 40, 500}, {1000, 16, 144}, {64, 700, 90}} {
			g := newGemmCase(rng, false, true, shape[0], shape[1], shape[2], 1, 0.5, 1)
			all := append([]float32(nil), g.c.data...)
			one := append([]float32(nil), g.c.data...)
			g.run(all)
			Workers(1).Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a.data, g.a.ld, g.b.data, g.b.ld, g.beta, one, g.c.ld)
			for i := range all {
				if math.Float32bits(all[i]) != math.Float32bits(one[i]) && !math.IsNaN(float64(all[i])) {
					t.Fatalf("%s: C[%d] = %v on 2 threads, %v on the caller alone", g, i, all[i], one[i])
				}
			}
		}
	})
}
