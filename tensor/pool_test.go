package tensor

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelForChunks checks, for many sizes and thread counts, that the
// chunks are exactly [w·n/t, (w+1)·n/t) for t = min(threads, n) and that every
// index is covered once.
func TestParallelForChunks(t *testing.T) {
	for threads := 1; threads <= 9; threads++ {
		withThreads(threads, func() {
			for n := 0; n <= 40; n++ {
				var mu sync.Mutex
				seen := map[[2]int]int{}
				hits := make([]atomic.Int32, n)
				ParallelFor(n, func(lo, hi int) {
					mu.Lock()
					seen[[2]int{lo, hi}]++
					mu.Unlock()
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads=%d n=%d: index %d run %d times", threads, n, i, h)
					}
				}
				chunks := min(threads, n)
				if len(seen) != chunks {
					t.Fatalf("threads=%d n=%d: %d distinct chunks %v, want %d", threads, n, len(seen), seen, chunks)
				}
				for w := 0; w < chunks; w++ {
					want := [2]int{w * n / chunks, (w + 1) * n / chunks}
					if seen[want] != 1 {
						t.Fatalf("threads=%d n=%d: chunk %v run %d times; chunks %v", threads, n, want, seen[want], seen)
					}
				}
			}
		})
	}
}

// TestParallelForConcurrentNested calls ParallelFor from many goroutines at
// once, each chunk calling it again two levels deep; everything must run
// exactly once and nothing may deadlock.
func TestParallelForConcurrentNested(t *testing.T) {
	withThreads(4, func() {
		const callers, outer, middle, inner = 8, 50, 7, 3
		var total atomic.Int64
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					ParallelFor(outer, func(lo, hi int) {
						for range hi - lo {
							ParallelFor(middle, func(lo, hi int) {
								for range hi - lo {
									ParallelFor(inner, func(lo, hi int) { total.Add(int64(hi - lo)) })
								}
							})
						}
					})
				})
			}
			wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("nested concurrent ParallelFor calls did not finish (deadlock?)")
		}
		if got, want := total.Load(), int64(callers*outer*middle*inner); got != want {
			t.Fatalf("ran %d innermost indices, want %d", got, want)
		}
	})
}

type sumRunner struct{ parts []int64 }

func (s *sumRunner) RunChunk(lo, hi int) {
	for i := lo; i < hi; i++ {
		s.parts[i] += int64(i)
	}
}

// TestParallelRunNoAllocs checks that a ChunkRunner held by pointer costs no
// allocation per call.
func TestParallelRunNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	withThreads(3, func() {
		r := &sumRunner{parts: make([]int64, 300)}
		ParallelRun(len(r.parts), r)
		if n := testing.AllocsPerRun(100, func() { ParallelRun(len(r.parts), r) }); n != 0 {
			t.Errorf("%v allocations per ParallelRun", n)
		}
		for i, v := range r.parts {
			if v != int64(i)*102 {
				t.Fatalf("parts[%d] = %d, want %d", i, v, int64(i)*102)
			}
		}
	})
}

func TestSetThreads(t *testing.T) {
	withThreads(5, func() {
		if Threads() != 5 {
			t.Fatalf("Threads() = %d after SetThreads(5)", Threads())
		}
		SetThreads(0)
		if Threads() != 1 {
			t.Fatalf("Threads() = %d after SetThreads(0), want 1", Threads())
		}
	})
}
