package data

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// HoldoutSeed fixes every holdout split (HoldoutName): the same examples
// are held out whatever the training seed or the study.
const HoldoutSeed = 0x686f6c646f7574

// HoldoutName names dataset base with n training examples held out as a
// validation split: its training split is the rest (Resolver.Holdout).
func HoldoutName(base string, n int) string { return base + ":holdout" + strconv.Itoa(n) }

// splitHoldout parses a HoldoutName; ok is false for any other name.
func splitHoldout(name string) (base string, n int, ok bool) {
	i := strings.LastIndex(name, ":holdout")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+len(":holdout"):])
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return name[:i], n, true
}

// Loader loads a dataset's training and test splits.
type Loader func() (train, test *Dataset, err error)

// Resolver turns dataset names into datasets. With nothing added it
// resolves, in this order:
//
//   - catalogue names (Names), loaded with Load (never downloading);
//   - holdout names BASE:holdoutN (HoldoutName) of any name it resolves;
//   - derived tasks NAME-TASK (DerivedTasks, Derive) of any name it resolves;
//   - converted images NAME@HxWxC (ResizedName, Convert) of any name it
//     resolves: its images resized to H×W and, if need be, grey ↔ RGB;
//   - streamed image folders PATH:streamSIZE (StreamName, OpenImageFolder):
//     an image folder decoded batch by batch at SIZE×SIZE, for folders too
//     large to hold in memory;
//   - paths (IsPath): a .npz file or an image folder with train/ and test/.
//
// Add makes further names resolvable (test fixtures, programmatic
// datasets); an added name is looked up before all of the above.
//
// A resolver decodes each name once and shares the splits between its
// callers, who must not modify them (copy with Subset or Head first). It is
// safe for concurrent use. A nil *Resolver resolves as a resolver with
// nothing added, with one cache shared by the process.
type Resolver struct {
	mu    sync.Mutex
	added map[string]Loader
	cache map[string]*resolution
}

// resolution is one name's splits, loaded once.
type resolution struct {
	once             sync.Once
	train, val, test *Dataset
	err              error
}

// NewResolver returns a resolver with nothing added.
func NewResolver() *Resolver { return &Resolver{} }

var processResolver = NewResolver()

func (r *Resolver) self() *Resolver {
	if r == nil {
		return processResolver
	}
	return r
}

// Add makes name resolve to the splits load returns. Adding a name twice,
// or the name of a catalogue dataset, is an error.
func (r *Resolver) Add(name string, load Loader) error {
	if r == nil {
		return fmt.Errorf("dataset %q: cannot add to a nil Resolver; use NewResolver", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case name == "" || load == nil:
		return fmt.Errorf("dataset %q: want a non-empty name and a loader", name)
	case Lookup(name) != nil:
		return fmt.Errorf("dataset %q: already a catalogue dataset", name)
	case r.added[name] != nil:
		return fmt.Errorf("dataset %q: added twice", name)
	}
	if r.added == nil {
		r.added = map[string]Loader{}
	}
	r.added[name] = load
	return nil
}

// Names lists the catalogue's datasets and the added ones, sorted. Derived
// tasks, holdout splits and paths resolve too (see Resolver).
func (r *Resolver) Names() []string {
	r = r.self()
	r.mu.Lock()
	names := Names()
	for n := range r.added {
		names = append(names, n)
	}
	r.mu.Unlock()
	slices.Sort(names)
	return names
}

// Known reports whether name has a form the resolver resolves, without
// loading anything: a catalogue or added name, a path, or a holdout split
// or derived task of a known name. A known name may still fail to load
// (a catalogue dataset not on this machine, a missing file).
func (r *Resolver) Known(name string) bool {
	r = r.self()
	if r.isAdded(name) || Lookup(name) != nil {
		return true
	}
	if base, _, ok := splitHoldout(name); ok {
		return r.Known(base)
	}
	if base, _ := SplitDerived(name); base != "" {
		return r.Known(base)
	}
	if base, _, ok := splitResized(name); ok && r.Known(base) {
		return true
	}
	if path, _, ok := splitStream(name); ok && IsPath(path) {
		return true
	}
	return IsPath(name)
}

func (r *Resolver) isAdded(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.added[name] != nil
}

// unknownError is the error for a name the resolver cannot resolve.
func (r *Resolver) unknownError(name string) error {
	return fmt.Errorf("unknown dataset %q; known: %s; derived: NAME-%s, NAME:holdoutN, NAME@HxWxC; or a path to a .npz file or an image folder with train/ and test/ (PATH:streamSIZE streams a folder)",
		name, strings.Join(r.Names(), ", "), strings.Join(DerivedTasks, ", NAME-"))
}

// Load returns the training and test splits of the named dataset, checked
// to agree on the example shape and the number of classes and to be
// non-empty.
func (r *Resolver) Load(name string) (train, test *Dataset, err error) {
	r = r.self()
	res := r.resolve(name)
	return res.train, res.test, res.err
}

// Holdout returns base's training split without n held-out examples, the
// held-out validation split (chosen by HoldoutSeed, data.SplitValidation),
// and the test split: HoldoutName(base, n) resolves to (trainPart, test).
func (r *Resolver) Holdout(base string, n int) (trainPart, val, test *Dataset, err error) {
	r = r.self()
	res := r.resolve(HoldoutName(base, n))
	return res.train, res.val, res.test, res.err
}

// resolve loads name once per resolver; a failure is not cached, since
// the data may be fetched later.
func (r *Resolver) resolve(name string) *resolution {
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]*resolution{}
	}
	res := r.cache[name]
	if res == nil {
		res = &resolution{}
		r.cache[name] = res
	}
	r.mu.Unlock()
	res.once.Do(func() { res.train, res.val, res.test, res.err = r.load(name) })
	if res.err != nil {
		r.mu.Lock()
		if r.cache[name] == res {
			delete(r.cache, name)
		}
		r.mu.Unlock()
	}
	return res
}

func (r *Resolver) load(name string) (train, val, test *Dataset, err error) {
	r.mu.Lock()
	added := r.added[name]
	r.mu.Unlock()
	switch base, n, isHoldout := splitHoldout(name); {
	case added != nil:
		train, test, err = added()
	case Lookup(name) != nil:
		train, test, err = Load(name)
	case isHoldout:
		if strings.Contains(base, ":holdout") {
			return nil, nil, nil, fmt.Errorf("dataset %s: %s is already a holdout split", name, base)
		}
		full, t, err := r.Load(base)
		if err != nil {
			return nil, nil, nil, err
		}
		rest, v, err := SplitValidation(full, n, HoldoutSeed)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("holdout of dataset %s: %w", base, err)
		}
		return rest, v, t, nil
	default:
		if b, task := SplitDerived(name); b != "" && r.Known(b) {
			tr, te, err := r.Load(b)
			if err != nil {
				return nil, nil, nil, err
			}
			if train, err = Derive(tr, task, name); err != nil {
				return nil, nil, nil, err
			}
			if test, err = Derive(te, task, name); err != nil {
				return nil, nil, nil, err
			}
			return train, nil, test, nil
		}
		if b, shape, ok := splitResized(name); ok && r.Known(b) {
			tr, te, err := r.Load(b)
			if err != nil {
				return nil, nil, nil, err
			}
			if train, err = Convert(tr, shape, name); err != nil {
				return nil, nil, nil, err
			}
			if test, err = Convert(te, shape, name); err != nil {
				return nil, nil, nil, err
			}
			return train, nil, test, nil
		}
		if path, size, ok := splitStream(name); ok && IsPath(path) {
			train, test, err = OpenImageFolder(path, size)
			break
		}
		if !IsPath(name) {
			return nil, nil, nil, r.unknownError(name)
		}
		train, test, err = Load(name)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	if !slices.Equal(train.ExampleShape(), test.ExampleShape()) || train.NumClasses != test.NumClasses {
		return nil, nil, nil, fmt.Errorf("dataset %s: train examples %v with %d classes, test examples %v with %d classes",
			name, train.ExampleShape(), train.NumClasses, test.ExampleShape(), test.NumClasses)
	}
	if train.Len() == 0 || test.Len() == 0 {
		return nil, nil, nil, fmt.Errorf("dataset %s: %d training and %d test examples; want both > 0", name, train.Len(), test.Len())
	}
	return train, nil, test, nil
}
