package train

import (
	"fmt"
	"io"
	"time"
)

// StepInfo is the state of a run after one optimiser step.
type StepInfo struct {
	Epoch, Epochs       int // the current epoch, from 1
	Step, TotalSteps    int // optimiser steps done, over the whole run
	EpochStep, PerEpoch int // steps done in this epoch, steps per epoch
	// Loss and Accuracy are running means over this epoch's examples so far.
	Loss, Accuracy float64
	LR             float64 // the learning rate of this step
	// ExamplesPerSec is the training throughput since this invocation
	// (re)started the epoch.
	ExamplesPerSec float64
	Elapsed        time.Duration // training time of the run so far
}

// EpochMetrics is one line of metrics.jsonl, written when an epoch ends.
type EpochMetrics struct {
	Epoch          int     `json:"epoch"` // from 1
	Step           int     `json:"step"`  // optimiser steps done at the end of the epoch
	TrainLoss      float64 `json:"train_loss"`
	TrainAccuracy  float64 `json:"train_accuracy"`
	TestAccuracy   float64 `json:"test_accuracy"`
	TestLoss       float64 `json:"test_loss"`
	LR             float64 `json:"lr"`               // of the epoch's last step
	Seconds        float64 `json:"seconds"`          // training time of the epoch, evaluation excluded
	ExamplesPerSec float64 `json:"examples_per_sec"` // training examples / Seconds
}

// Progress receives updates from Run. Its methods are called from the
// training goroutine between steps, so they should return quickly.
type Progress interface {
	Step(StepInfo)
	Epoch(EpochMetrics)
}

// TerminalProgress prints progress to a writer. On a terminal it redraws one
// status line (at most RedrawInterval apart); elsewhere (a log file, a
// pipe) it prints a plain line every LogInterval and one per epoch.
type TerminalProgress struct {
	RedrawInterval time.Duration
	LogInterval    time.Duration

	w    io.Writer
	tty  bool
	last time.Time
}

// NewTerminalProgress returns a Progress printing to w, redrawing in place
// when w is a terminal.
func NewTerminalProgress(w io.Writer) *TerminalProgress {
	tty := false
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		tty = isTerminal(f.Fd())
	}
	return &TerminalProgress{RedrawInterval: 100 * time.Millisecond, LogInterval: 30 * time.Second, w: w, tty: tty}
}

// Step implements Progress.
func (p *TerminalProgress) Step(s StepInfo) {
	now := time.Now()
	interval := p.LogInterval
	if p.tty {
		interval = p.RedrawInterval
	}
	if now.Sub(p.last) < interval && s.EpochStep != s.PerEpoch {
		return
	}
	p.last = now
	line := fmt.Sprintf("epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  lr %.4g  %.0f ex/s",
		s.Epoch, s.Epochs, s.EpochStep, s.PerEpoch, s.Loss, 100*s.Accuracy, s.LR, s.ExamplesPerSec)
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	} else if s.EpochStep != s.PerEpoch {
		fmt.Fprintln(p.w, line)
	}
}

// Epoch implements Progress.
func (p *TerminalProgress) Epoch(m EpochMetrics) {
	prefix := ""
	if p.tty {
		prefix = "\r\x1b[K"
	}
	fmt.Fprintf(p.w, "%sepoch %d  step %d  train loss %.4f  train acc %.2f%%  test loss %.4f  test acc %.2f%%  %.1f s  %.0f ex/s\n",
		prefix, m.Epoch, m.Step, m.TrainLoss, 100*m.TrainAccuracy, m.TestLoss, 100*m.TestAccuracy, m.Seconds, m.ExamplesPerSec)
}
