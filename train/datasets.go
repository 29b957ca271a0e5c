package train

import (
	"fmt"
	"slices"
	"sync"

	"github.com/losslab/losslab/data"
)

// DatasetLoader loads the training and test splits of a dataset.
type DatasetLoader func() (train, test *data.Dataset, err error)

var (
	datasetsMu sync.Mutex
	datasets   = map[string]DatasetLoader{}
)

// The data catalogue's datasets (mnist, fashion-mnist, kmnist, cifar10, …)
// are registered under their names. data.Load decodes each once per
// process and shares it, so a study's runs do not decode it again (runs
// only read the datasets). They load from a system folder or the download
// cache and never download: a missing one fails with an error that says
// how to fetch it ('losslab data fetch NAME').
func init() {
	for _, name := range data.Names() {
		datasets[name] = func() (*data.Dataset, *data.Dataset, error) { return data.Load(name) }
	}
}

// RegisterDataset makes a dataset available to Config.Dataset under name.
// Registering a name twice panics (a programmer error).
func RegisterDataset(name string, load DatasetLoader) {
	datasetsMu.Lock()
	defer datasetsMu.Unlock()
	if _, dup := datasets[name]; dup {
		panic(fmt.Sprintf("train: dataset %q registered twice", name))
	}
	datasets[name] = load
}

// DatasetNames lists the registered datasets, sorted.
func DatasetNames() []string {
	datasetsMu.Lock()
	defer datasetsMu.Unlock()
	names := make([]string, 0, len(datasets))
	for n := range datasets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// loadDataset loads a registered dataset and checks that the two splits
// agree on the example shape and the number of classes.
func loadDataset(name string) (train, test *data.Dataset, err error) {
	datasetsMu.Lock()
	load, ok := datasets[name]
	datasetsMu.Unlock()
	if !ok && data.IsPath(name) {
		// A .npz file or an image folder with train/ and test/.
		load, ok = func() (*data.Dataset, *data.Dataset, error) { return data.Load(name) }, true
	}
	if !ok {
		return nil, nil, fmt.Errorf("train: unknown dataset %q; known: %v, or a path to a .npz file or an image folder with train/ and test/", name, DatasetNames())
	}
	if train, test, err = load(); err != nil {
		return nil, nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	if !slices.Equal(train.ExampleShape(), test.ExampleShape()) || train.NumClasses != test.NumClasses {
		return nil, nil, fmt.Errorf("dataset %s: train examples %v with %d classes, test examples %v with %d classes",
			name, train.ExampleShape(), train.NumClasses, test.ExampleShape(), test.NumClasses)
	}
	if train.Len() == 0 || test.Len() == 0 {
		return nil, nil, fmt.Errorf("dataset %s: %d training and %d test examples; want both > 0", name, train.Len(), test.Len())
	}
	return train, test, nil
}
