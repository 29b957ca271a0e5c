package data

import (
	"fmt"
	"strings"

	"github.com/losslab/losslab/tensor"
)

// DerivedTasks are the tasks a dataset name NAME-TASK derives from dataset
// NAME without a download (Derive). They serve as transfer targets and as
// pretraining datasets (docs/definitions.md, "Derived tasks").
var DerivedTasks = []string{"rot90", "parity", "lower", "upper", "pairs"}

// SplitDerived splits a derived-task name NAME-TASK into NAME and TASK;
// base is "" when name does not end in -TASK for a task of DerivedTasks.
func SplitDerived(name string) (base, task string) {
	for _, t := range DerivedTasks {
		if b, ok := strings.CutSuffix(name, "-"+t); ok && b != "" {
			return b, t
		}
	}
	return "", ""
}

// Derive applies a derived task to d and returns the result, named name; d
// is not modified. The tasks:
//
//   - "rot90" rotates every image a quarter turn clockwise (square [H, W, C]
//     images only), labels unchanged;
//   - "parity" relabels class y as y mod 2 (2 classes);
//   - "pairs" relabels class y as ⌊y/2⌋ (⌈K/2⌉ coarse classes: the digits
//     {0, 1}, {2, 3}, …): a model pretrained on NAME-pairs is never asked to
//     tell the two classes of a pair apart, which transfer to NAME asks;
//   - "lower" keeps the examples of the first ⌊K/2⌋ classes, "upper" those
//     of the others relabelled from 0 (class y → y − ⌊K/2⌋): a model
//     pretrained on NAME-lower has never seen NAME-upper's classes.
func Derive(d *Dataset, task, name string) (*Dataset, error) {
	if d.Streamed() {
		return nil, fmt.Errorf("dataset %s: derived tasks of a streamed image folder are not supported; derive the folder's in-memory form, or build a folder of the task", name)
	}
	out := *d
	out.Name = name
	switch task {
	case "lower", "upper":
		half := d.NumClasses / 2
		if half < 2 || d.NumClasses-half < 2 {
			return nil, fmt.Errorf("dataset %s: %s needs at least 4 classes; dataset %s has %d", name, task, d.Name, d.NumClasses)
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
			return nil, fmt.Errorf("dataset %s: rot90 needs square [H, W, C] images; dataset %s has %v", name, d.Name, s[1:])
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
	case "pairs":
		if d.NumClasses < 4 {
			return nil, fmt.Errorf("dataset %s: pairs needs at least 4 classes; dataset %s has %d", name, d.Name, d.NumClasses)
		}
		out.Labels = make([]int, len(d.Labels))
		for i, y := range d.Labels {
			out.Labels[i] = y / 2
		}
		out.NumClasses = (d.NumClasses + 1) / 2
	case "parity":
		out.Labels = make([]int, len(d.Labels))
		for i, y := range d.Labels {
			out.Labels[i] = y % 2
		}
		out.NumClasses = 2
	default:
		return nil, fmt.Errorf("dataset %s: unknown derived task %q; known: %s", name, task, strings.Join(DerivedTasks, ", "))
	}
	return &out, nil
}
