package train

import (
	"runtime"
	"sync"

	"github.com/losslab/losslab/data"
)

// prefetchDepth is the number of decoded batches a streamed dataset's
// loader keeps ready: enough to absorb the variation of decoding times
// between batches, few enough that memory stays a few batches.
const prefetchDepth = 2

// prefetcher decodes the batches of one epoch of a streamed dataset
// (data.Dataset.ReadTrain) on its own goroutines while the steps train.
// Every example's view is a function of (seed, epoch, example index), so
// the batches are the same whatever the timing and the decoding
// parallelism, and a run resumed mid-epoch reads the same ones.
type prefetcher struct {
	ready chan prefetched
	free  chan *data.Batch // buffers not in use: prefetchDepth + 2 in all
	done  chan struct{}
	wg    sync.WaitGroup
	held  *data.Batch // the batch the step is using
}

type prefetched struct {
	b   *data.Batch
	err error
}

// startPrefetch decodes the batches from step from to the end of epoch,
// whose example order is perm, in batches of bs. crop selects the
// random-resized crop (else the evaluation view at crop 1).
func startPrefetch(ds *data.Dataset, perm []int, epoch, from, bs int, seed uint64, crop bool) *prefetcher {
	p := &prefetcher{
		ready: make(chan prefetched, prefetchDepth),
		free:  make(chan *data.Batch, prefetchDepth+2),
		done:  make(chan struct{}),
	}
	for range prefetchDepth + 2 {
		p.free <- &data.Batch{}
	}
	workers := runtime.GOMAXPROCS(0)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var keys []uint64
		for lo := from * bs; lo < len(perm); lo += bs {
			var b *data.Batch
			select {
			case b = <-p.free:
			case <-p.done:
				return
			}
			indices := perm[lo:min(lo+bs, len(perm))]
			var err error
			if crop {
				keys = keys[:0]
				for _, j := range indices {
					keys = append(keys, data.ExampleKey(seed, epoch, j))
				}
				err = ds.ReadTrain(indices, keys, b, workers)
			} else {
				err = ds.ReadEval(indices, 1, b, workers)
			}
			select {
			case p.ready <- prefetched{b, err}:
			case <-p.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// next returns the next batch, valid until the following call.
func (p *prefetcher) next() (*data.Batch, error) {
	if p.held != nil {
		p.free <- p.held
		p.held = nil
	}
	r := <-p.ready
	p.held = r.b
	return r.b, r.err
}

// stop ends the decoding goroutine; p is unusable afterwards.
func (p *prefetcher) stop() {
	close(p.done)
	p.wg.Wait()
}
