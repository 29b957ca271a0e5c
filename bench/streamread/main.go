// Command streamread measures the streamed image-folder loader alone: it
// opens a folder as `losslab train --dataset DIR:streamSIZE` does and
// decodes one epoch of training views (random-resized crop, bicubic
// resize, flip) in batches, as the training loop's loader does but with
// no model to feed, and prints images per second.
//
//	go run ./bench/streamread -size 64 -batch 128 DIR
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/losslab/losslab/data"
)

func main() {
	size := flag.Int("size", 64, "side of the decoded images")
	batch := flag.Int("batch", 128, "batch size")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "decoding goroutines")
	limit := flag.Int("limit", 0, "decode only the first N training examples (0 = all)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the timed epoch to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: streamread [flags] DIR")
	}
	t0 := time.Now()
	train, _, err := data.OpenImageFolder(flag.Arg(0), *size)
	if err != nil {
		log.Fatal(err)
	}
	train = train.Head(*limit)
	open := time.Since(t0)
	var b data.Batch
	var keys []uint64
	indices := make([]int, 0, *batch)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	t1 := time.Now()
	for lo := 0; lo < train.Len(); lo += *batch {
		indices, keys = indices[:0], keys[:0]
		for j := lo; j < min(lo+*batch, train.Len()); j++ {
			indices = append(indices, j)
			keys = append(keys, data.ExampleKey(1, 0, j))
		}
		if err := train.ReadTrain(indices, keys, &b, *workers); err != nil {
			log.Fatal(err)
		}
	}
	dt := time.Since(t1).Seconds()
	fmt.Printf("%d images at %d×%d×%d, %d workers: %.0f images/s (%.1f s; opening and sampling the normalisation %.1f s)\n",
		train.Len(), *size, *size, train.ExampleShape()[2], *workers, float64(train.Len())/dt, dt, open.Seconds())
}
