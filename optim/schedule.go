package optim

import (
	"fmt"
	"math"
	"sort"
)

// Schedule gives the learning rate for each optimiser step, counted from 0.
// Schedules are pure functions of the step, so a resumed run needs no
// schedule state.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant struct {
	Value float64
}

// LR implements Schedule.
func (c Constant) LR(int) float64 { return c.Value }

// StepDecay multiplies Base by Factor at each boundary: the learning rate at
// step s is Base·Factor^b, where b is the number of boundaries ≤ s. With
// Boundaries {100, 150} and Factor 0.1, steps 0–99 use Base, 100–149 use
// Base/10 and 150 onward Base/100.
type StepDecay struct {
	Base       float64
	Boundaries []int // ascending
	Factor     float64
}

// LR implements Schedule.
func (d StepDecay) LR(step int) float64 {
	b := sort.Search(len(d.Boundaries), func(i int) bool { return d.Boundaries[i] > step })
	return d.Base * math.Pow(d.Factor, float64(b))
}

// Cosine decays from Base to Final over Steps steps along half a cosine
// (Loshchilov & Hutter 2017, SGDR, without restarts):
//
//	lr(s) = Final + (Base − Final)·(1 + cos(π·min(s, Steps)/Steps))/2
//
// so lr(0) = Base, lr(Steps/2) is the midpoint and lr(s) = Final for s ≥ Steps.
type Cosine struct {
	Base, Final float64
	Steps       int
}

// LR implements Schedule.
func (c Cosine) LR(step int) float64 {
	if c.Steps <= 0 || step >= c.Steps {
		return c.Final
	}
	s := max(step, 0)
	return c.Final + (c.Base-c.Final)*(1+math.Cos(math.Pi*float64(s)/float64(c.Steps)))/2
}

// Warmup ramps the learning rate linearly for Steps steps, then hands over to
// Then, whose step count starts at 0 when the warmup ends:
//
//	lr(s) = Then.LR(0)·(s+1)/Steps   for s < Steps
//	lr(s) = Then.LR(s − Steps)       otherwise
//
// The ramp starts at Then.LR(0)/Steps rather than 0 so that no step is wasted,
// and reaches Then.LR(0) on its last step. To decay to a final value at the
// end of training, give Then the remaining steps (total − Steps).
type Warmup struct {
	Steps int
	Then  Schedule
}

// LR implements Schedule.
func (w Warmup) LR(step int) float64 {
	if step < w.Steps {
		return w.Then.LR(0) * float64(max(step, 0)+1) / float64(w.Steps)
	}
	return w.Then.LR(step - w.Steps)
}

// String describes the schedule, for logs.
func (w Warmup) String() string { return fmt.Sprintf("warmup %d steps, then %v", w.Steps, w.Then) }
