package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool: goroutines started once and kept for the whole process,
// because starting a goroutine per call costs more than a small GEMM takes.
// Work is split statically (chunk boundaries depend only on the size and the
// thread count), never by timing, so per-chunk reductions are deterministic;
// which goroutine runs a chunk does not matter.
//
// A caller queues all chunks but one, runs that one itself, and while it
// waits for the rest it runs queued chunks (its own or anyone's). Because a
// waiting goroutine always helps, ParallelFor may be called concurrently from
// many goroutines and re-entrantly from inside a chunk without deadlock.

var (
	threads atomic.Int32

	workersMu      sync.Mutex
	workersStarted atomic.Int32

	// taskQueue holds queued chunks. When it is full the caller runs the chunk
	// itself, so queueing never blocks.
	taskQueue = make(chan poolTask, 1024)

	// joinFree is a free list of join counters. It is not a sync.Pool, which
	// garbage collection empties: a training step would then allocate.
	joinFree struct {
		sync.Mutex
		list []*joinCounter
	}
)

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets the number of worker threads used by the kernels (at least
// 1). Results of Gemm do not depend on it; ParallelFor's chunks do.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
}

// Threads reports the number of worker threads.
func Threads() int { return int(threads.Load()) }

// ChunkRunner is work that ParallelRun splits into ranges. Passing a pointer
// to a long-lived value lets hot loops avoid the closure allocation that
// ParallelFor's func argument may cost.
type ChunkRunner interface {
	// RunChunk processes the indices [lo, hi).
	RunChunk(lo, hi int)
}

type chunkFunc func(lo, hi int)

func (f chunkFunc) RunChunk(lo, hi int) { f(lo, hi) }

// ParallelFor splits [0, n) into Threads() contiguous chunks of nearly equal
// size, fixed by n and the thread count alone — chunk w of t is
// [w·n/t, (w+1)·n/t) — and calls fn(lo, hi) for each chunk concurrently,
// returning when all are done. Because the split never depends on timing,
// reductions done per chunk are deterministic. Fewer chunks are used when
// n < Threads(); nothing is called when n <= 0.
//
// It is safe to call from several goroutines at once and from inside fn.
func ParallelFor(n int, fn func(lo, hi int)) { ParallelRun(n, chunkFunc(fn)) }

// ParallelRun is ParallelFor with the work given as a ChunkRunner.
func ParallelRun(n int, r ChunkRunner) {
	t := min(Threads(), n)
	if t <= 1 {
		if n > 0 {
			r.RunChunk(0, n)
		}
		return
	}
	startWorkers(t - 1)
	j := getJoin()
	j.pending.Store(int32(t - 1))
	for w := 0; w < t-1; w++ {
		task := poolTask{r: r, lo: w * n / t, hi: (w + 1) * n / t, join: j}
		select {
		case taskQueue <- task:
		default:
			task.run()
		}
	}
	r.RunChunk((t-1)*n/t, n)
	for {
		select {
		case <-j.done:
			putJoin(j)
			return
		default:
		}
		select {
		case <-j.done:
			putJoin(j)
			return
		case task := <-taskQueue:
			task.run()
		}
	}
}

// poolTask is one queued chunk.
type poolTask struct {
	r      ChunkRunner
	lo, hi int
	join   *joinCounter
}

func (t poolTask) run() {
	t.r.RunChunk(t.lo, t.hi)
	if t.join.pending.Add(-1) == 0 {
		t.join.done <- struct{}{}
	}
}

// joinCounter counts a call's queued chunks still running; the goroutine
// that finishes the last one signals done (buffered, so it never blocks).
type joinCounter struct {
	pending atomic.Int32
	done    chan struct{}
}

func getJoin() *joinCounter {
	f := &joinFree
	f.Lock()
	if n := len(f.list); n > 0 {
		j := f.list[n-1]
		f.list[n-1] = nil
		f.list = f.list[:n-1]
		f.Unlock()
		return j
	}
	f.Unlock()
	return &joinCounter{done: make(chan struct{}, 1)}
}

func putJoin(j *joinCounter) {
	joinFree.Lock()
	joinFree.list = append(joinFree.list, j)
	joinFree.Unlock()
}

// startWorkers makes sure at least n worker goroutines exist. Workers are
// never stopped: they sleep on the queue when idle.
func startWorkers(n int) {
	if int(workersStarted.Load()) >= n {
		return
	}
	workersMu.Lock()
	defer workersMu.Unlock()
	for int(workersStarted.Load()) < n {
		go worker()
		workersStarted.Add(1)
	}
}

// workerSpin is how long an idle worker keeps polling the queue before it
// sleeps. Waking a sleeping goroutine on another core takes from
// microseconds to milliseconds on a busy machine, during which the caller
// would run alone; back-to-back kernel calls (the training loop) find their
// workers awake instead. The cost is at most this much CPU after each burst.
const workerSpin = 200 * time.Microsecond

func worker() {
	for {
		select {
		case task := <-taskQueue:
			task.run()
			continue
		default:
		}
		if task, ok := pollQueue(workerSpin); ok {
			task.run()
			continue
		}
		task := <-taskQueue
		task.run()
	}
}

// pollQueue polls the queue for up to d, yielding to other goroutines
// between polls.
func pollQueue(d time.Duration) (poolTask, bool) {
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		select {
		case task := <-taskQueue:
			return task, true
		default:
		}
		if i%32 == 31 && time.Now().After(deadline) {
			return poolTask{}, false
		}
		runtime.Gosched()
	}
}
