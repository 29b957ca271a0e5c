package tensor

import (
	"fmt"
	"os"
	"testing"
	"time"
)

type spinRunner struct {
	start [8]time.Time
	t0    time.Time
	sink  [8]float64
}

func (s *spinRunner) RunChunk(lo, hi int) {
	for w := lo; w < hi; w++ {
		s.start[w] = time.Now()
		x := 1.0
		for i := 0; i < 3_000_000; i++ {
			x = x*1.0000001 + 1e-9
		}
		s.sink[w] = x
	}
}

func TestTmpSched(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	SetThreads(2)
	r := &spinRunner{}
	for rep := 0; rep < 10; rep++ {
		t0 := time.Now()
		ParallelRun(2, r)
		el := time.Since(t0)
		t1 := time.Now()
		r.RunChunk(0, 1)
		one := time.Since(t1)
		fmt.Printf("parallel %v (one chunk %v) starts: %v %v\n", el, one, r.start[0].Sub(t0), r.start[1].Sub(t0))
	}
}

func TestTmpSchedGo(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	r := &spinRunner{}
	for rep := 0; rep < 6; rep++ {
		t0 := time.Now()
		done := make(chan bool)
		go func() { r.RunChunk(0, 1); done <- true }()
		r.RunChunk(1, 2)
		<-done
		el := time.Since(t0)
		fmt.Printf("go-stmt %v starts: %v %v\n", el, r.start[0].Sub(t0), r.start[1].Sub(t0))
	}
}

func TestTmpSchedChan(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	r := &spinRunner{}
	q := make(chan int, 16)
	done := make(chan bool, 1)
	go func() {
		for w := range q {
			r.RunChunk(w, w+1)
			done <- true
		}
	}()
	time.Sleep(time.Millisecond)
	for rep := 0; rep < 6; rep++ {
		t0 := time.Now()
		q <- 0
		r.RunChunk(1, 2)
		<-done
		el := time.Since(t0)
		fmt.Printf("plain-chan %v starts: %v %v\n", el, r.start[0].Sub(t0), r.start[1].Sub(t0))
	}
	q2 := make(chan int) // unbuffered
	go func() {
		for w := range q2 {
			r.RunChunk(w, w+1)
			done <- true
		}
	}()
	time.Sleep(time.Millisecond)
	for rep := 0; rep < 6; rep++ {
		t0 := time.Now()
		q2 <- 0
		r.RunChunk(1, 2)
		<-done
		el := time.Since(t0)
		fmt.Printf("unbuf-chan %v starts: %v %v\n", el, r.start[0].Sub(t0), r.start[1].Sub(t0))
	}
}

func TestTmpSchedB2B(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	SetThreads(2)
	r := &spinRunner{}
	for rep := 0; rep < 10; rep++ {
		t0 := time.Now()
		ParallelRun(2, r)
		el := time.Since(t0)
		fmt.Printf("b2b %v starts: %v %v\n", el, r.start[0].Sub(t0), r.start[1].Sub(t0))
	}
}
