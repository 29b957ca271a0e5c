package tensor

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n and C is m×n; lda, ldb and ldc
// are the row strides of A, B and C as stored. When beta is 0, C is not read
// (NaNs in C do not propagate), as in BLAS.
//
// The result is bit-identical for identical inputs and the same micro-kernel
// (see Kernel), whatever the thread count: threads split C into blocks of
// whole register tiles and never split the k dimension, so every element is
// summed in the same order. Gemm is safe for concurrent use and allocates
// nothing in steady state.
//
// Design (Goto/BLIS): a KC×NC panel of op(B) and an MC×KC block of op(A) are
// packed into contiguous micro-panels, zero-padded to whole tiles, and an
// assembly micro-kernel computes each MR×NR tile of C over KC; edge tiles go
// through a small temporary tile.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Workers(Threads()).Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Workers is the number of threads a product may use. Gemm and
// GemmSegmented use Threads(); Workers(1).Gemm runs on the calling goroutine
// alone, for callers that already keep every thread busy with products of
// their own (a convolution's per-thread groups of examples), where cutting
// each product up again would only add hand-offs between threads. The
// result does not depend on it.
type Workers int

// Gemm is Gemm on at most w threads.
func (w Workers) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemmArgs(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
	gemm(int(w), transA, transB, m, n, k, alpha, a, lda, segments{}, b, ldb, beta, c, ldc)
}

// GemmSegmented is Gemm (alpha = 1, op(B) = B) for an A read in place from
// an image, without copying all its windows out (a convolution's im2col
// matrix described rather than built).
// A's segmented dimension — the columns of op(A) (k) when A is not
// transposed, its rows (m) when it is — is stored in runs of segLen
// contiguous values, run s starting s·segStride values after run 0:
//
//	op(A)[i, p] = a[i·lda + ⌊p/segLen⌋·segStride + p mod segLen]   (transA false)
//	op(A)[i, p] = a[p·lda + ⌊i/segLen⌋·segStride + i mod segLen]   (transA true)
//
// For a stride-1 convolution of a zero-padded NHWC image of width Wp and C
// channels with a kh×kw kernel, "virtual" output pixel r (row-major over the
// padded width) has its window (ky, kx, c) at r·C + ky·Wp·C + kx·C + c: lda
// = C, segLen = kw·C, segStride = Wp·C. With each image row expanded to its
// wo windows of kw·C values (nn's expanded rows), output pixel r has it at
// r·kw·C + ky·wo·kw·C + kx·C + c: lda = segLen = kw·C, segStride = wo·kw·C.
// Rows of A may overlap (lda < segLen): A is only read. The segmented
// dimension must be a multiple of segLen, and segStride ≥ segLen. Results are bit-identical across thread counts, like
// Gemm's, but may differ in rounding from Gemm on the copied-out matrix (the
// k dimension is summed in blocks that do not cross a run).
func GemmSegmented(transA bool, m, n, k int, a []float32, lda, segLen, segStride int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Workers(Threads()).GemmSegmented(transA, m, n, k, a, lda, segLen, segStride, b, ldb, beta, c, ldc)
}

// GemmSegmented is GemmSegmented on at most w threads.
func (w Workers) GemmSegmented(transA bool, m, n, k int, a []float32, lda, segLen, segStride int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	segDim := k
	if transA {
		segDim = m
	}
	if segLen < 1 || segStride < segLen || lda < 1 || segDim%segLen != 0 {
		panic(fmt.Sprintf("tensor.GemmSegmented: runs of %d every %d with row stride %d do not tile a segmented dimension of %d", segLen, segStride, lda, segDim))
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor.GemmSegmented: negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix("C", m, n, c, ldc)
	if k > 0 {
		seg := segments{segLen, segStride}
		rows, last := m, seg.off(k-1)
		if transA {
			rows, last = k, seg.off(m-1)
		}
		if need := (rows-1)*lda + last + 1; len(a) < need {
			panic(fmt.Sprintf("tensor.GemmSegmented: A needs %d values, has %d", need, len(a)))
		}
		checkMatrix("B", k, n, b, ldb)
	}
	gemm(int(w), transA, false, m, n, k, 1, a, lda, segments{segLen, segStride}, b, ldb, beta, c, ldc)
}

// segments describes a segmented dimension of A (GemmSegmented); the zero
// value is a plain, contiguous one.
type segments struct{ len, stride int }

// off is where index i of the segmented dimension is stored, relative to
// index 0.
func (s segments) off(i int) int {
	if s.len == 0 {
		return i
	}
	return i/s.len*s.stride + i%s.len
}

func gemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, seg segments, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	job := getGemmJob()
	job.kern = activeKernel.Load().forShape(m, n)
	job.transA, job.transB = transA, transB
	job.m, job.n, job.k = m, n, k
	job.alpha, job.beta = alpha, beta
	job.a, job.lda, job.b, job.ldb, job.c, job.ldc = a, lda, b, ldb, c, ldc
	job.seg = seg
	job.plan(threads)
	job.run()
	job.release()
	putGemmJob(job)
}

// GemmFlops is the floating-point operation count of an m×n×k product
// (one multiply and one add per term), the usual numerator of GFLOP/s.
func GemmFlops(m, n, k int) float64 { return 2 * float64(m) * float64(n) * float64(k) }

// Below these sizes threads cost more (a wake-up is a few microseconds) than
// they save: products under parallelMinFlops run on the calling goroutine,
// and each thread gets at least parallelFlopsPerThread.
const (
	parallelMinFlops       = 2 << 20
	parallelFlopsPerThread = 1 << 20
)

// Direct-operand thresholds: op(A) is read in place when n (the number of
// times each of its values is used) is at most directAMaxN; op(B), when not
// transposed, when m and B's row stride are at most directBMaxM (wide rows
// put the steps of a micro-panel in the same cache sets and it no longer
// stays in L1).
var (
	directAMaxN = 128
	directBMaxM = 256
	// directBPanelRows: op(B) whose rows are exactly one micro-panel wide
	// (n = ldb = NR) is read in place whatever m (see plan).
	directBPanelRows = true
)

// sharedBMaxFloats bounds the buffer that holds all of op(B) packed once for
// every row chunk (32 MiB); larger products pack B per chunk.
const sharedBMaxFloats = 8 << 20

// chunksPerWorker: row chunks per thread when chunks cost no extra packing,
// so that a thread that the OS delays leaves its chunks to the others.
const chunksPerWorker = 4

// gemmJob is one Gemm call. Threads claim tasks from it in order: first the
// packing of op(B) into sharedB (when used), then chunks of C, which are row
// ranges (splitRows) or column ranges in whole MR (or NR) tiles, so that
// tile boundaries and the arithmetic are those of a serial run whichever
// thread computes which chunk.
type gemmJob struct {
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	seg       segments // A's segmented dimension (GemmSegmented)
	kcStep    int      // depth of the k blocks (all but the last of a run)
	kBlocks   int      // number of k blocks
	kbPerSeg  int      // k blocks per run of a segmented k, else 0
	workers   int      // goroutines claiming tasks
	chunks    int
	splitRows bool
	tiles     int // tiles along the split dimension

	// directA and directB read full tiles of op(A) and op(B) in place
	// instead of packing them: worth it when an operand is large and each of
	// its values is used by few tiles, so that packing would cost as much as
	// the arithmetic. It changes where values are read, never the arithmetic.
	directA, directB bool

	// sharedB holds all of op(B) packed, block (pc) by block: the block at
	// depth pc starts at pc·nPad and holds its NR-wide panels one after the
	// other. nil when each chunk packs its own panels.
	sharedB    *packedB
	nPad       int
	packGroups int // packing tasks per k block

	packing bool         // the phase: packing B, or computing C
	tasks   int          // tasks in the phase
	next    atomic.Int64 // next task to claim
}

// gemmJobFree is a free list of jobs. Like packBufferFree it is not a
// sync.Pool, which empties on garbage collection: a training step would then
// allocate its jobs again after every collection.
var gemmJobFree struct {
	sync.Mutex
	list []*gemmJob
}

func getGemmJob() *gemmJob {
	f := &gemmJobFree
	f.Lock()
	defer f.Unlock()
	if n := len(f.list); n > 0 {
		g := f.list[n-1]
		f.list[n-1] = nil
		f.list = f.list[:n-1]
		return g
	}
	return new(gemmJob)
}

func putGemmJob(g *gemmJob) {
	gemmJobFree.Lock()
	gemmJobFree.list = append(gemmJobFree.list, g)
	gemmJobFree.Unlock()
}

// plan chooses how the product is cut. Splitting rows makes every chunk
// need all of op(B) (packed once and shared when it fits sharedBMaxFloats)
// and splitting columns all of op(A), so the dimension whose other operand is
// smaller is split.
func (g *gemmJob) plan(threads int) {
	kern := g.kern
	g.kbPerSeg = 0
	if g.seg.len > 0 && !g.transA {
		// A kernel call reads its k steps of A contiguously, so no block
		// crosses from one run of k to the next.
		g.kbPerSeg = (g.seg.len + kern.kc - 1) / kern.kc
		g.kcStep = (g.seg.len + g.kbPerSeg - 1) / g.kbPerSeg
		g.kBlocks = g.k / g.seg.len * g.kbPerSeg
	} else {
		g.kBlocks = (g.k + kern.kc - 1) / kern.kc
		g.kcStep = (g.k + g.kBlocks - 1) / g.kBlocks
	}
	tilesM := (g.m + kern.mr - 1) / kern.mr
	tilesN := (g.n + kern.nr - 1) / kern.nr
	g.workers, g.chunks, g.splitRows, g.tiles = 1, 1, true, tilesM
	// In place, a tile of a transposed segmented A must lie inside one run.
	g.directA = g.n <= directAMaxN && !(g.transA && g.seg.len%kern.mr != 0)
	// When B's rows are exactly NR wide its micro-panels are already laid
	// out as packB would lay them (a convolution's kernel or output
	// gradient with NR channels), so they are read in place for any m.
	g.directB = !g.transB && (g.m <= directBMaxM && g.ldb <= directBMaxM || directBPanelRows && g.ldb == kern.nr && g.n == kern.nr)
	flops := GemmFlops(g.m, g.n, g.k)
	if threads <= 1 || flops < parallelMinFlops {
		return
	}
	w := min(threads, int(flops/parallelFlopsPerThread))
	rows := g.m >= g.n
	if rows && tilesM < w && tilesN > tilesM {
		rows = false
	} else if !rows && tilesN < w && tilesM > tilesN {
		rows = true
	}
	if !rows {
		g.workers, g.chunks, g.splitRows, g.tiles = min(w, tilesN), min(w, tilesN), false, tilesN
		return
	}
	g.nPad = tilesN * kern.nr
	if !g.directB && g.k*g.nPad <= sharedBMaxFloats {
		g.sharedB = getPackedB(g.k * g.nPad)
		g.packGroups = min(tilesN, chunksPerWorker*w)
	}
	chunks := w
	if g.sharedB != nil || g.directB {
		// Up to chunksPerWorker chunks per thread, the same number for
		// every thread, but none shorter than an MC block: a B micro-panel
		// brought into L1 then serves that many rows of A.
		chunks = w * max(1, min(chunksPerWorker, tilesM/(w*(kern.mc/kern.mr))))
	}
	g.workers, g.chunks = min(w, tilesM), min(chunks, tilesM)
}

// run computes the product: serially, or by the job's workers claiming the
// packing tasks and then the chunks.
func (g *gemmJob) run() {
	if g.workers == 1 {
		bufs := getPackBuffers(g.kern)
		g.computeChunk(bufs, 0)
		putPackBuffers(bufs)
		return
	}
	if g.sharedB != nil {
		g.packing, g.tasks = true, g.kBlocks*g.packGroups
		g.next.Store(0)
		ParallelRun(g.workers, g)
	}
	g.packing, g.tasks = false, g.chunks
	g.next.Store(0)
	ParallelRun(g.workers, g)
}

// release returns the shared buffer and drops references to the caller's
// slices.
func (g *gemmJob) release() {
	if g.sharedB != nil {
		putPackedB(g.sharedB)
	}
	g.kern, g.a, g.b, g.c, g.sharedB = nil, nil, nil, nil, nil
	g.seg = segments{}
	g.nPad, g.packGroups = 0, 0
}

// RunChunk is one worker of the job (ChunkRunner): it claims tasks of the
// current phase until none are left. Which worker runs a task does not
// change the result.
func (g *gemmJob) RunChunk(_, _ int) {
	var bufs *packBuffers
	for {
		i := int(g.next.Add(1)) - 1
		if i >= g.tasks {
			break
		}
		if g.packing {
			g.packSharedB(i)
			continue
		}
		if bufs == nil {
			bufs = getPackBuffers(g.kern)
		}
		g.computeChunk(bufs, i)
	}
	if bufs != nil {
		putPackBuffers(bufs)
	}
}

// packSharedB packs one group of NR-wide panels of one k block of op(B).
func (g *gemmJob) packSharedB(task int) {
	nr := g.kern.nr
	pc, kc := g.kBlock(task / g.packGroups)
	group := task % g.packGroups
	panels := g.nPad / nr
	p0, p1 := group*panels/g.packGroups, (group+1)*panels/g.packGroups
	j0, j1 := p0*nr, min(p1*nr, g.n)
	if j0 < j1 {
		packB(g.sharedB.data[pc*g.nPad+j0*kc:], g.b, g.ldb, g.transB, pc, kc, j0, j1-j0, nr)
	}
}

// kBlock returns the start and depth of k block b: blocks of kcStep (the
// last one shorter), restarting at every run of a segmented k.
func (g *gemmJob) kBlock(b int) (pc, kc int) {
	if g.kbPerSeg == 0 {
		pc = b * g.kcStep
		return pc, min(g.kcStep, g.k-pc)
	}
	run, sub := b/g.kbPerSeg, b%g.kbPerSeg
	return run*g.seg.len + sub*g.kcStep, min(g.kcStep, g.seg.len-sub*g.kcStep)
}

// computeChunk computes chunk w of C.
func (g *gemmJob) computeChunk(bufs *packBuffers, w int) {
	t0, t1 := w*g.tiles/g.chunks, (w+1)*g.tiles/g.chunks
	if g.splitRows {
		g.serial(bufs, t0*g.kern.mr, min(t1*g.kern.mr, g.m), 0, g.n)
	} else {
		g.serial(bufs, 0, g.m, t0*g.kern.nr, min(t1*g.kern.nr, g.n))
	}
}

// serial computes rows [i0, i1) × columns [j0, j1) of C on this goroutine.
// The k dimension is cut into equal blocks of at most KC that depend on k
// alone (plan), so the order of summation does not depend on the split.
func (g *gemmJob) serial(bufs *packBuffers, i0, i1, j0, j1 int) {
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	for jc := j0; jc < j1; jc += kern.nc {
		nc := min(kern.nc, j1-jc)
		for kb := 0; kb < g.kBlocks; kb++ {
			pc, kc := g.kBlock(kb)
			bPanels := bufs.b
			if g.sharedB != nil {
				// Packed before the chunks started; jc is a multiple of NR.
				bPanels = g.sharedB.data[pc*g.nPad+jc*kc:]
			} else if !g.directB {
				packB(bufs.b, g.b, g.ldb, g.transB, pc, kc, jc, nc, nr)
			} else if full := nc / nr * nr; full < nc {
				// Full panels are read in place; only the last one needs padding.
				packB(bufs.b[full*kc:], g.b, g.ldb, g.transB, pc, kc, jc+full, nc-full, nr)
			}
			beta := g.beta
			if pc > 0 {
				beta = 1 // later k blocks add to what the first one stored
			}
			for ic := i0; ic < i1; ic += kern.mc {
				mc := min(kern.mc, i1-ic)
				if !g.directA {
					packA(bufs.a, g.a, g.lda, g.seg, g.transA, ic, mc, pc, kc, mr)
				} else if full := mc / mr * mr; full < mc {
					packA(bufs.a[full*kc:], g.a, g.lda, g.seg, g.transA, ic+full, mc-full, pc, kc, mr)
				}
				g.macroKernel(bufs, bPanels, ic, mc, jc, nc, pc, kc, beta)
			}
		}
	}
}

// macroKernel multiplies the mc×kc block of op(A) at (ic, pc) by the kc×nc
// panel of op(B) at (pc, jc) into C[ic:ic+mc, jc:jc+nc]. Operands come from
// the packing buffers or, for full tiles in direct mode, from A and B
// themselves. The B micro-panel stays in L1 while the A micro-panels stream
// past it.
func (g *gemmJob) macroKernel(bufs *packBuffers, bPanels []float32, ic, mc, jc, nc, pc, kc int, beta float32) {
	kern := g.kern
	mr, nr, fn := kern.mr, kern.nr, kern.fn
	for jr := 0; jr < nc; jr += nr {
		nrCur := min(nr, nc-jr)
		bp, csB := &bPanels[jr*kc], nr
		if g.directB && nrCur == nr {
			bp, csB = &g.b[pc*g.ldb+jc+jr], g.ldb
		}
		for ir := 0; ir < mc; ir += mr {
			mrCur := min(mr, mc-ir)
			ap, rsA, csA := &bufs.a[ir*kc], 1, mr
			if g.directA && mrCur == mr {
				if g.transA {
					ap, rsA, csA = &g.a[pc*g.lda+g.seg.off(ic+ir)], 1, g.lda
				} else {
					ap, rsA, csA = &g.a[(ic+ir)*g.lda+g.seg.off(pc)], g.lda, 1
				}
			}
			ci := (ic+ir)*g.ldc + jc + jr
			if mrCur == mr && nrCur == nr {
				// checkGemmArgs guaranteed that the whole tile lies inside c,
				// and in direct mode that its rows of A and columns of B do.
				fn(kc, ap, rsA, csA, bp, csB, &g.c[ci], g.ldc, g.alpha, beta)
				continue
			}
			fn(kc, ap, rsA, csA, bp, csB, &bufs.tile[0], nr, 1, 0)
			storeEdgeTile(bufs.tile, nr, g.c[ci:], g.ldc, mrCur, nrCur, g.alpha, beta)
		}
	}
}

// storeEdgeTile writes the top-left mr×nr part of an unscaled tile (row
// stride tileStride) into C with the same rounding as the micro-kernels.
func storeEdgeTile(tile []float32, tileStride int, c []float32, ldc, mr, nr int, alpha, beta float32) {
	for i := 0; i < mr; i++ {
		src := tile[i*tileStride : i*tileStride+nr]
		dst := c[i*ldc : i*ldc+nr]
		if beta == 0 {
			for j, v := range src {
				dst[j] = alpha * v
			}
			continue
		}
		for j, v := range src {
			dst[j] = scaleAdd(alpha, v, beta, dst[j])
		}
	}
}

// packA copies op(A)[i0:i0+mc, p0:p0+kc] into dst as micro-panels of mr
// rows: panel t holds kc steps of mr values (row-interleaved), starting at
// t·mr·kc. Rows past mc are zero so that edge tiles need no branches. seg
// is A's segmented dimension (GemmSegmented); a block of k never crosses
// one of its runs.
func packA(dst, a []float32, lda int, seg segments, transA bool, i0, mc, p0, kc, mr int) {
	col0 := p0 // where column p0 of a row of A lies, when A is not transposed
	if !transA {
		col0 = seg.off(p0)
	}
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+mr*kc]
		if transA && seg.len > 0 && seg.off(i0+ir+rows-1)-seg.off(i0+ir) != rows-1 {
			// The panel's rows span two runs: gather them one by one.
			for i := 0; i < rows; i++ {
				off := seg.off(i0 + ir + i)
				for p := 0; p < kc; p++ {
					panel[p*mr+i] = a[(p0+p)*lda+off]
				}
			}
		} else if transA {
			// op(A)[i, p] = a[p·lda + i]: each step's mr values are contiguous.
			base := seg.off(i0 + ir)
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+base:]
				src = src[:rows]
				d := panel[p*mr : p*mr+rows]
				switch {
				case rows == 6:
					*(*[6]float32)(d) = *(*[6]float32)(src)
				case rows == 12:
					*(*[12]float32)(d) = *(*[12]float32)(src)
				case rows == 4:
					*(*[4]float32)(d) = *(*[4]float32)(src)
				default:
					for i, v := range src {
						d[i] = v
					}
				}
			}
		} else if (mr == 6 || mr == 12) && kc <= len(zeroRow) {
			// Rows past mc are read from zeroRow: an edge panel is packed
			// as fast as a full one (one by one, a clear per step, the few
			// edge panels of the convolutions' products took 2–3 % of a
			// resnet20 step).
			var r [12][]float32
			for i := range mr {
				if i < rows {
					o := (i0+ir+i)*lda + col0
					r[i] = a[o : o+kc]
				} else {
					r[i] = zeroRow[:kc]
				}
			}
			if mr == 6 {
				interleave6(panel, (*[6][]float32)(r[:6]), kc)
			} else {
				interleave12(panel, &r, kc)
			}
			continue
		} else {
			for i := 0; i < rows; i++ {
				src := a[(i0+ir+i)*lda+col0:]
				src = src[:kc]
				d := panel[i:]
				for p, v := range src {
					d[p*mr] = v
				}
			}
		}
		if rows < mr {
			for p := 0; p < kc; p++ {
				clear(panel[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// zeroRow stands for the rows past the end of an edge panel of A (packA);
// it is only read. Its length bounds the depth of a block (kernel KC).
var zeroRow [512]float32

// interleave6 interleaves six rows of A (kc values each) into kc steps of
// six values: the AVX2 kernel's panel.
func interleave6(panel []float32, r *[6][]float32, kc int) {
	r0, r1, r2 := r[0][:kc], r[1][:kc], r[2][:kc]
	r3, r4, r5 := r[3][:kc], r[4][:kc], r[5][:kc]
	panel = panel[:6*kc]
	for p := range r0 {
		d := panel[6*p : 6*p+6 : 6*p+6]
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// interleave12 is interleave6 for twelve rows: the AVX-512 kernels' panel.
// Writing each step's twelve values together, rather than scattering one
// row at a time at a stride of twelve, keeps the stores sequential.
func interleave12(panel []float32, r *[12][]float32, kc int) {
	r0, r1, r2, r3 := r[0][:kc], r[1][:kc], r[2][:kc], r[3][:kc]
	r4, r5, r6, r7 := r[4][:kc], r[5][:kc], r[6][:kc], r[7][:kc]
	r8, r9, r10, r11 := r[8][:kc], r[9][:kc], r[10][:kc], r[11][:kc]
	panel = panel[:12*kc]
	for p := range r0 {
		d := panel[12*p : 12*p+12 : 12*p+12]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
		d[8], d[9], d[10], d[11] = r8[p], r9[p], r10[p], r11[p]
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as micro-panels of nr
// columns: panel t holds kc steps of nr values, starting at t·nr·kc. Columns
// past nc are zero.
func packB(dst, b []float32, ldb int, transB bool, p0, kc, j0, nc, nr int) {
	if !transB {
		// op(B)[p, j] = b[p·ldb + j]. Bands of packBandRows rows of B
		// (which stay in L1) are copied panel by panel with CopyStrided, so
		// that each panel receives a contiguous run of steps. Row by row,
		// with a 16-byte move per four values, packing took 9–11 % of a
		// 1024³ product on two threads; this way 4 %.
		full := nc / nr * nr
		for pb := 0; pb < kc; pb += packBandRows {
			pe := min(pb+packBandRows, kc)
			for jr := 0; jr < full; jr += nr {
				CopyStrided(dst[jr*kc+pb*nr:], nr, b[(p0+pb)*ldb+j0+jr:], ldb, pe-pb, nr)
			}
		}
		if full < nc {
			for p := 0; p < kc; p++ {
				d := dst[full*kc+p*nr : full*kc+p*nr+nr]
				copy(d, b[(p0+p)*ldb+j0+full:(p0+p)*ldb+j0+nc])
				clear(d[nc-full:])
			}
		}
		return
	}
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+nr*kc]
		// op(B)[p, j] = b[j·ldb + p]: gather column j of each step from row j.
		for j := 0; j < cols; j++ {
			src := b[(j0+jr+j)*ldb+p0:]
			src = src[:kc]
			d := panel[j:]
			for p, v := range src {
				d[p*nr] = v
			}
		}
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(panel[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// packBandRows is the number of rows of B that packB copies per band.
const packBandRows = 8

// packedB is a reusable buffer for all of op(B), packed.
type packedB struct {
	data  []float32
	class int // capacity is 1<<class floats
}

// packedBFree holds packed-B buffers by size class (capacity 2^class), so
// that a request is never handed a buffer too small for it: with one list
// for all sizes, the GEMMs of a training step, whose B panels differ in
// size, kept trading buffers and reallocating them. Free lists rather than
// sync.Pools, which empty on garbage collection (see packBufferFree).
var packedBFree struct {
	sync.Mutex
	lists [48][]*packedB
}

func getPackedB(n int) *packedB {
	class := bits.Len(uint(max(n, 1) - 1))
	f := &packedBFree
	f.Lock()
	var p *packedB
	if l := f.lists[class]; len(l) > 0 {
		p = l[len(l)-1]
		l[len(l)-1] = nil
		f.lists[class] = l[:len(l)-1]
	}
	f.Unlock()
	if p == nil {
		p = &packedB{data: alignedFloats(1 << class), class: class}
	}
	p.data = p.data[:n]
	return p
}

func putPackedB(p *packedB) {
	packedBFree.Lock()
	packedBFree.lists[p.class] = append(packedBFree.lists[p.class], p)
	packedBFree.Unlock()
}

// packBuffers are one thread's packing areas, reused across calls.
type packBuffers struct {
	a, b []float32 // at least MC×KC and KC×NC, 64-byte aligned
	tile []float32 // at least MR×NR: the edge tile
}

// fits reports whether the buffers are large enough for kern.
func (p *packBuffers) fits(kern *microKernel) bool {
	return len(p.a) >= kern.mc*kern.kc && len(p.b) >= kern.kc*kern.nc && len(p.tile) >= kern.mr*kern.nr
}

// packBufferFree is a free list of packing areas. It is not a sync.Pool:
// a pool may hand out a new item while a free one sits in another P's
// private slot, and empties on garbage collection, so steady-state training
// steps would sometimes reallocate megabytes. The list holds at most as many
// sets as ever ran at once.
var packBufferFree struct {
	sync.Mutex
	list []*packBuffers
}

func putPackBuffers(p *packBuffers) {
	packBufferFree.Lock()
	packBufferFree.list = append(packBufferFree.list, p)
	packBufferFree.Unlock()
}

func getPackBuffers(kern *microKernel) *packBuffers {
	f := &packBufferFree
	f.Lock()
	// A training step alternates between a kernel and its narrow and short
	// variants: new buffers are made large enough for every kernel of the
	// family, so that each variant does not hold a set of its own per
	// thread. Buffers too small (made for a kernel chosen by SetKernel
	// before) stay on the list.
	for i := len(f.list) - 1; i >= 0; i-- {
		if p := f.list[i]; p.fits(kern) {
			last := len(f.list) - 1
			f.list[i] = f.list[last]
			f.list[last] = nil
			f.list = f.list[:last]
			f.Unlock()
			return p
		}
	}
	f.Unlock()
	var a, b, tile int
	for _, k := range append(activeKernel.Load().family(), kern) {
		a, b, tile = max(a, k.mc*k.kc), max(b, k.kc*k.nc), max(tile, k.mr*k.nr)
	}
	return &packBuffers{a: alignedFloats(a), b: alignedFloats(b), tile: alignedFloats(tile)}
}

// alignedFloats returns n zeroed float32s starting on a 64-byte (cache line)
// boundary, so that vector loads from packed panels never split lines.
func alignedFloats(n int) []float32 {
	const align = 64 / 4
	buf := make([]float32, n+align)
	off := int(uintptr(unsafe.Pointer(&buf[0]))%64) / 4
	if off != 0 {
		off = align - off
	}
	return buf[off : off+n : off+n]
}

// scaleMatrix sets C = beta·C (C = 0 when beta is 0, without reading C).
func scaleMatrix(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// checkGemmArgs panics (a programmer error) if the sizes, strides or slice
// lengths cannot hold the matrices that Gemm will touch. The micro-kernels
// write whole tiles through pointers, so this check is what keeps them in
// bounds.
func checkGemmArgs(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor.Gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix("C", m, n, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	if transA {
		checkMatrix("A (transposed)", k, m, a, lda)
	} else {
		checkMatrix("A", m, k, a, lda)
	}
	if transB {
		checkMatrix("B (transposed)", n, k, b, ldb)
	} else {
		checkMatrix("B", k, n, b, ldb)
	}
}

func checkMatrix(name string, rows, cols int, x []float32, ld int) {
	if ld < cols {
		panic(fmt.Sprintf("tensor.Gemm: %s is stored %d×%d but its row stride is %d", name, rows, cols, ld))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("tensor.Gemm: %s is stored %d×%d with row stride %d and needs %d values, has %d", name, rows, cols, ld, need, len(x)))
	}
}
