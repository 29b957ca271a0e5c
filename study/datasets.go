package study

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/tensor"
	"github.com/losslab/losslab/train"
)

// holdoutSeed fixes the validation split of every study: the same
// examples are held out of training in every run, whatever its seed.
const holdoutSeed = 0x686f6c646f7574

// holdoutName is the registered name of dataset base with n training
// examples held out: training units train on the rest.
func holdoutName(base string, n int) string { return base + ":holdout" + strconv.Itoa(n) }

var (
	cacheMu sync.Mutex
	cache   = map[string]*splitCache{}
	regMu   sync.Mutex
)

// splitCache loads a dataset's splits once per process.
type splitCache struct {
	once             sync.Once
	train, val, test *data.Dataset
	err              error
}

func cached(key string, load func() (train, val, test *data.Dataset, err error)) (train, val, test *data.Dataset, err error) {
	cacheMu.Lock()
	c, ok := cache[key]
	if !ok {
		c = &splitCache{}
		cache[key] = c
	}
	cacheMu.Unlock()
	c.once.Do(func() { c.train, c.val, c.test, c.err = load() })
	return c.train, c.val, c.test, c.err
}

// loadHoldout returns base's training split without its n held-out
// examples, the held-out validation split, and the test split.
func loadHoldout(base string, n int) (trainPart, val, test *data.Dataset, err error) {
	return cached(holdoutName(base, n), func() (*data.Dataset, *data.Dataset, *data.Dataset, error) {
		tr, te, err := train.LoadDataset(base)
		if err != nil {
			return nil, nil, nil, err
		}
		rest, val, err := data.SplitValidation(tr, n, holdoutSeed)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("holdout of dataset %s: %w", base, err)
		}
		return rest, val, te, nil
	})
}

// registerDatasets makes the derived tasks a spec names (its pretraining
// dataset and transfer targets) training datasets, and registers the
// pretraining dataset's holdout split. Every process that plans or runs a
// spec's units calls it: registrations live in memory.
func registerDatasets(s Spec) error {
	registerDerived(s.Dataset)
	for _, t := range s.Transfer {
		registerDerived(t)
	}
	return registerHoldout(s.Dataset, s.holdout())
}

// registerDerived makes a derived task NAME-TASK a training dataset, so that
// a study can pretrain or fine-tune on it; other names are left alone.
func registerDerived(name string) {
	if base, _ := derivedBase(name); base == "" {
		return
	}
	regMu.Lock()
	defer regMu.Unlock()
	if slices.Contains(train.DatasetNames(), name) {
		return
	}
	train.RegisterDataset(name, func() (*data.Dataset, *data.Dataset, error) { return loadTarget(name) })
}

// registerHoldout makes holdoutName(base, n) a training dataset.
func registerHoldout(base string, n int) error {
	regMu.Lock()
	defer regMu.Unlock()
	name := holdoutName(base, n)
	if slices.Contains(train.DatasetNames(), name) {
		return nil
	}
	if strings.Contains(base, ":holdout") {
		return fmt.Errorf("dataset %q: already a holdout split", base)
	}
	train.RegisterDataset(name, func() (*data.Dataset, *data.Dataset, error) {
		tr, _, te, err := loadHoldout(base, n)
		return tr, te, err
	})
	return nil
}

// derivedBase splits a derived-task name NAME-TASK into NAME and TASK;
// base is "" when name is not a derived task.
func derivedBase(name string) (base, task string) {
	for _, t := range DerivedTasks {
		if b, ok := strings.CutSuffix(name, "-"+t); ok && b != "" {
			return b, t
		}
	}
	return "", ""
}

// loadTarget loads a transfer target's training and test splits.
func loadTarget(name string) (trainSet, test *data.Dataset, err error) {
	base, task := derivedBase(name)
	if base == "" {
		trainSet, _, test, err = cached("target:"+name, func() (*data.Dataset, *data.Dataset, *data.Dataset, error) {
			tr, te, err := train.LoadDataset(name)
			return tr, nil, te, err
		})
		return trainSet, test, err
	}
	trainSet, _, test, err = cached("target:"+name, func() (*data.Dataset, *data.Dataset, *data.Dataset, error) {
		tr, te, err := train.LoadDataset(base)
		if err != nil {
			return nil, nil, nil, err
		}
		a, err := derive(tr, task, name)
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := derive(te, task, name)
		return a, nil, b, err
	})
	return trainSet, test, err
}

// derive applies a derived task to a copy of d: "rot90" rotates every image
// a quarter turn clockwise (square images only), "parity" relabels digits
// by parity (class y → y mod 2), "lower" keeps the examples of the first
// ⌊K/2⌋ classes and "upper" those of the others, relabelled from 0
// (class y → y − ⌊K/2⌋): a model pretrained on NAME-lower has never seen
// NAME-upper's classes.
func derive(d *data.Dataset, task, name string) (*data.Dataset, error) {
	out := *d
	out.Name = name
	switch task {
	case "lower", "upper":
		half := d.NumClasses / 2
		if half < 2 || d.NumClasses-half < 2 {
			return nil, fmt.Errorf("transfer target %s: %s needs at least 4 classes; dataset %s has %d", name, task, d.Name, d.NumClasses)
		}
		var idx []int
		for i, y := range d.Labels {
			if (y < half) == (task == "lower") {
				idx = append(idx, i)
			}
		}
		sub := d.Subset(idx, d.Split)
		sub.Name = name
		if task == "upper" {
			for i := range sub.Labels {
				sub.Labels[i] -= half
			}
			sub.NumClasses = d.NumClasses - half
		} else {
			sub.NumClasses = half
		}
		return sub, nil
	case "rot90":
		s := d.Images.Shape
		if len(s) != 4 || s[1] != s[2] {
			return nil, fmt.Errorf("transfer target %s: rot90 needs square [H, W, C] images; dataset %s has %v", name, d.Name, s[1:])
		}
		h, c := s[1], s[3]
		img := tensor.New(s...)
		per := h * h * c
		for n := range s[0] {
			src, dst := d.Images.Data[n*per:(n+1)*per], img.Data[n*per:(n+1)*per]
			// Clockwise: the output pixel (y, x) is the input's (h−1−x, y).
			for y := range h {
				for x := range h {
					copy(dst[(y*h+x)*c:(y*h+x+1)*c], src[((h-1-x)*h+y)*c:((h-1-x)*h+y+1)*c])
				}
			}
		}
		out.Images = img
	case "parity":
		out.Labels = make([]int, len(d.Labels))
		for i, y := range d.Labels {
			out.Labels[i] = y % 2
		}
		out.NumClasses = 2
	default:
		return nil, fmt.Errorf("transfer target %s: unknown derived task %q; known: %s", name, task, strings.Join(DerivedTasks, ", "))
	}
	return &out, nil
}
