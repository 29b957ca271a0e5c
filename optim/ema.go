package optim

import (
	"fmt"

	"github.com/losslab/losslab/nn"
)

// EMAConfig configures an exponential moving average of the weights.
type EMAConfig struct {
	// Decay d in (0, 1): shadow ← d·shadow + (1−d)·w after every step.
	Decay float64
	// Warmup uses TensorFlow's num_updates rule, decay = min(d, (1+n)/(10+n)),
	// so the average follows the weights closely early in training instead of
	// remembering the random initialisation.
	Warmup bool
	// IncludeBuffers also averages nn.Buffer parameters (BatchNorm running
	// statistics). By default they are not averaged: evaluation with the EMA
	// uses the live running statistics, which are themselves exponential
	// averages (this is what "copying the buffers" amounts to). The paper's
	// TF code applies ExponentialMovingAverage to trainable variables only.
	IncludeBuffers bool
}

// EMA keeps an exponential moving average ("shadow") of a model's trainable
// parameters (tf.train.ExponentialMovingAverage):
//
//	shadow ← shadow − (1 − d)·(shadow − w)
//
// The shadow starts as a copy of the initial values. SwapIn/SwapOut exchange
// the shadow and the live values so that evaluation can run on the average.
type EMA struct {
	cfg     EMAConfig
	params  []*nn.Param // the averaged ones
	shadow  [][]float32
	backup  [][]float32
	swapped bool
}

// NewEMA returns a moving average of params (trainable ones, plus buffers if
// cfg.IncludeBuffers) initialised to their current values. It panics if the
// decay is outside (0, 1) (a programmer error).
func NewEMA(params []*nn.Param, cfg EMAConfig) *EMA {
	if !(cfg.Decay > 0 && cfg.Decay < 1) {
		panic(fmt.Sprintf("optim: EMA decay %v outside (0, 1)", cfg.Decay))
	}
	e := &EMA{cfg: cfg}
	for _, p := range params {
		if p.Kind == nn.Buffer && !cfg.IncludeBuffers {
			continue
		}
		e.params = append(e.params, p)
		e.shadow = append(e.shadow, append([]float32(nil), p.Value...))
		e.backup = append(e.backup, make([]float32, len(p.Value)))
	}
	return e
}

// DecayAt is the decay used for the update after numUpdates optimiser steps.
func (e *EMA) DecayAt(numUpdates int) float64 {
	d := e.cfg.Decay
	if e.cfg.Warmup {
		n := float64(numUpdates)
		d = min(d, (1+n)/(10+n))
	}
	return d
}

// Update folds the current values into the average. numUpdates is the
// number of optimiser steps taken so far, this one included (TF passes the
// global step); it only matters with Warmup.
func (e *EMA) Update(numUpdates int) {
	if e.swapped {
		panic("optim: EMA.Update while the average is swapped in")
	}
	a := float32(1 - e.DecayAt(numUpdates))
	for i, p := range e.params {
		s := e.shadow[i]
		w := p.Value[:len(s)]
		for j := range s {
			s[j] -= a * (s[j] - w[j])
		}
	}
}

// SwapIn puts the averaged values into the parameters, keeping the live ones
// aside until SwapOut. Calls must alternate.
func (e *EMA) SwapIn() {
	if e.swapped {
		panic("optim: EMA.SwapIn twice")
	}
	for i, p := range e.params {
		copy(e.backup[i], p.Value)
		copy(p.Value, e.shadow[i])
	}
	e.swapped = true
}

// SwapOut restores the live values saved by SwapIn.
func (e *EMA) SwapOut() {
	if !e.swapped {
		panic("optim: EMA.SwapOut without SwapIn")
	}
	for i, p := range e.params {
		copy(p.Value, e.backup[i])
	}
	e.swapped = false
}

// State returns the averages as "ema/<param name>" slices, sharing the EMA's
// storage.
func (e *EMA) State() []NamedSlice {
	s := make([]NamedSlice, len(e.params))
	for i, p := range e.params {
		s[i] = NamedSlice{"ema/" + p.Name, e.shadow[i]}
	}
	return s
}

// LoadState copies averages saved by State into the EMA. The names and sizes
// must match exactly.
func (e *EMA) LoadState(state []NamedSlice) error {
	if e.swapped {
		panic("optim: EMA.LoadState while the average is swapped in")
	}
	return loadInto(e.State(), state, "EMA")
}
