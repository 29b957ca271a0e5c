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
	datasets   = map[string]DatasetLoader{"mnist": data.LoadMNIST}
)

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
	if !ok {
		return nil, nil, fmt.Errorf("train: unknown dataset %q", name)
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
