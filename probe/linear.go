package probe

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/losslab/losslab/tensor"
)

// Data is a labelled set of examples: features X [examples, dim] and one
// label in [0, classes) per row.
type Data struct {
	X *tensor.Tensor
	Y []int
}

// DefaultLambdas is the default regularisation grid: 8 values log-spaced
// from 1e-6 to 1e1, one per decade.
var DefaultLambdas = []float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10}

// Objective names the probe's training objective, for reports.
const Objective = "mean cross-entropy + (lambda/2)*||W||_F^2, bias not penalised (scikit-learn: C = 1/(n*lambda))"

// Standardisation names how the probe standardises features, for reports.
const Standardisation = "per feature (x - mean)/std, population std (std 0 -> 1); stats of the training part during the lambda search, of train+validation for the refit, applied to the test set"

// Config controls LinearProbe. The zero value gives the defaults.
type Config struct {
	// Lambdas is the search grid of λ (default DefaultLambdas); values must
	// be positive.
	Lambdas []float64
	// RefineSteps is the number of points inserted, log-evenly, between the
	// best grid λ and each of its neighbours in the grid (default 2, so up to
	// 4 more fits; negative for none).
	RefineSteps int
	// ValFraction is the fraction of the training set held out to choose λ
	// (default 0.2), drawn by a permutation seeded with Seed. Ignored when
	// Validation is set.
	ValFraction float64
	Seed        uint64
	// Validation, when set, is used to choose λ instead of a split of the
	// training set, and joins it for the refit.
	Validation *Data
	// Fit controls each L-BFGS fit.
	Fit FitOptions
}

// LambdaScore is one point of the λ search.
type LambdaScore struct {
	Lambda      float64 `json:"lambda"`
	ValAccuracy float64 `json:"val_accuracy"`
	ValLoss     float64 `json:"val_loss"` // mean cross-entropy on the validation set
	Refined     bool    `json:"refined"`  // added by the refinement around the grid's best
	Fit         FitInfo `json:"fit"`
}

// Result is the outcome of LinearProbe.
type Result struct {
	Accuracy             float64       `json:"accuracy"`
	MeanPerClassAccuracy float64       `json:"mean_per_class_accuracy"`
	Lambda               float64       `json:"lambda"`
	ValAccuracy          float64       `json:"val_accuracy"`
	Classes              int           `json:"classes"`
	Train                int           `json:"train_examples"` // used to fit during the search
	Val                  int           `json:"val_examples"`
	Test                 int           `json:"test_examples"`
	Search               []LambdaScore `json:"search"`
	Refit                FitInfo       `json:"refit"`
	Objective            string        `json:"objective"`
	Standardisation      string        `json:"standardisation"`
	Selection            string        `json:"selection"`
	Model                *Logistic     `json:"-"`
}

// Selection names the λ selection rule, for reports.
const Selection = "highest validation accuracy; ties: lower validation cross-entropy, then larger lambda"

// LinearProbe fits the study's linear probe on frozen features (STUDY.md,
// "Transfer"): multinomial logistic regression minimising
//
//	(1/n)·Σ_i −log softmax(W·s(x_i) + b)_{y_i} + (λ/2)·‖W‖²_F
//
// (bias not penalised) with L-BFGS, where s standardises each feature (see
// Standardisation). λ is chosen on a validation set (a seeded split of
// train, or cfg.Validation) over cfg.Lambdas, fitted from the largest λ to
// the smallest, each fit warm-started from the previous solution; then
// cfg.RefineSteps points are fitted log-evenly between the best λ and each
// grid neighbour, and the best of all is chosen by Selection. Finally the
// probe is refitted at that λ on train + validation (the mean-loss form
// makes λ mean the same for any n) and scored on test: top-1 accuracy and
// mean per-class accuracy (the mean over classes present in test of the
// fraction of that class predicted right).
//
// The number of classes is 1 + the largest label in any set. Errors: sets
// with different feature widths, a label count that does not match the
// rows, negative labels, NaN or infinite features, a bad λ grid.
func LinearProbe(train, test Data, cfg Config) (Result, error) {
	lambdas := cfg.Lambdas
	if lambdas == nil {
		lambdas = DefaultLambdas
	}
	if len(lambdas) == 0 {
		return Result{}, fmt.Errorf("linear probe: empty lambda grid")
	}
	for _, l := range lambdas {
		if !(l > 0) || math.IsInf(l, 0) {
			return Result{}, fmt.Errorf("linear probe: lambda %v in the grid, want finite values > 0", l)
		}
	}
	refine := cfg.RefineSteps
	if refine == 0 {
		refine = 2
	}
	classes, err := checkSets("linear probe", train, test, cfg.Validation)
	if err != nil {
		return Result{}, err
	}
	dim := train.X.Shape[1]

	// The search split, standardised with the statistics of its training part.
	var trainRows, valRows []int
	var xTrain, xVal *tensor.Tensor
	var yTrain, yVal []int
	if cfg.Validation != nil {
		trainRows = seq(train.X.Shape[0])
		mean, scale := standardisation(train.X, trainRows)
		xTrain = standardise(train.X, mean, scale)
		xVal = standardise(cfg.Validation.X, mean, scale)
		yTrain, yVal = train.Y, cfg.Validation.Y
	} else {
		frac := cfg.ValFraction
		if frac == 0 {
			frac = 0.2
		}
		if !(frac > 0 && frac < 1) {
			return Result{}, fmt.Errorf("linear probe: validation fraction %v, want a value in (0, 1)", frac)
		}
		n := train.X.Shape[0]
		nVal := int(math.Round(frac * float64(n)))
		if nVal < 1 || nVal > n-1 {
			return Result{}, fmt.Errorf("linear probe: validation fraction %v of %d examples leaves %d for validation and %d for training; want at least 1 each",
				frac, n, nVal, n-nVal)
		}
		perm := rand.New(rand.NewPCG(cfg.Seed, 0x70726f6265)).Perm(n)
		valRows, trainRows = perm[:nVal], perm[nVal:]
		sort.Ints(valRows)
		sort.Ints(trainRows)
		mean, scale := standardisation(train.X, trainRows)
		xTrain = gatherStandardised(train.X, trainRows, mean, scale)
		xVal = gatherStandardised(train.X, valRows, mean, scale)
		yTrain, yVal = pick(train.Y, trainRows), pick(train.Y, valRows)
	}

	obj := newLogisticObjective(xTrain.Data, yTrain, len(yTrain), dim, classes)
	solutions := map[float64][]float64{}
	var search []LambdaScore
	fitAt := func(lambda float64, init []float64, refined bool) error {
		params, info, err := obj.fit(lambda, init, cfg.Fit)
		if err != nil {
			return err
		}
		acc, loss := scoreParams(params, xVal, yVal, classes)
		solutions[lambda] = params
		search = append(search, LambdaScore{Lambda: lambda, ValAccuracy: acc, ValLoss: loss, Refined: refined, Fit: info})
		return nil
	}
	grid := append([]float64(nil), lambdas...)
	sort.Sort(sort.Reverse(sort.Float64Slice(grid)))
	grid = dedupe(grid)
	var prev []float64
	for _, l := range grid {
		if err := fitAt(l, prev, false); err != nil {
			return Result{}, err
		}
		prev = solutions[l]
	}
	best := bestScore(search)
	if refine > 0 {
		var extra []float64
		i := sort.Search(len(grid), func(i int) bool { return grid[i] <= best.Lambda })
		for _, j := range []int{i - 1, i + 1} {
			if j < 0 || j >= len(grid) {
				continue
			}
			for s := 1; s <= refine; s++ {
				extra = append(extra, best.Lambda*math.Pow(grid[j]/best.Lambda, float64(s)/float64(refine+1)))
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(extra)))
		for _, l := range extra {
			if err := fitAt(l, solutions[nearest(solutions, l)], true); err != nil {
				return Result{}, err
			}
		}
		best = bestScore(search)
	}

	// Refit on train + validation, standardised with their joint statistics.
	var xAll *tensor.Tensor
	var yAll []int
	if cfg.Validation != nil {
		xAll = concatRows(train.X, cfg.Validation.X)
		yAll = append(append([]int(nil), train.Y...), cfg.Validation.Y...)
	} else {
		xAll, yAll = train.X, train.Y
	}
	mean, scale := standardisation(xAll, seq(xAll.Shape[0]))
	xs := standardise(xAll, mean, scale)
	full := newLogisticObjective(xs.Data, yAll, len(yAll), dim, classes)
	params, refit, err := full.fit(best.Lambda, solutions[best.Lambda], cfg.Fit)
	if err != nil {
		return Result{}, err
	}
	model := &Logistic{Classes: classes, Dim: dim, W: make([]float32, classes*dim), B: make([]float32, classes), Mean: mean, Scale: scale}
	for i := range model.W {
		model.W[i] = float32(params[i])
	}
	for k := range model.B {
		model.B[k] = float32(params[classes*dim+k])
	}
	pred, err := model.Predict(test.X)
	if err != nil {
		return Result{}, err
	}
	acc, perClass := accuracies(pred, test.Y, classes)
	return Result{
		Accuracy: acc, MeanPerClassAccuracy: perClass,
		Lambda: best.Lambda, ValAccuracy: best.ValAccuracy,
		Classes: classes, Train: len(yTrain), Val: len(yVal), Test: len(test.Y),
		Search: search, Refit: refit,
		Objective: Objective, Standardisation: Standardisation, Selection: Selection,
		Model: model,
	}, nil
}

// checkSets validates the sets and returns the number of classes.
func checkSets(name string, train, test Data, val *Data) (int, error) {
	type named struct {
		name string
		d    *Data
	}
	sets := []named{{"train", &train}, {"test", &test}}
	if val != nil {
		sets = append(sets, named{"validation", val})
	}
	classes := 0
	for _, s := range sets {
		if err := checkFeatures(name+": "+s.name, s.d.X, -1); err != nil {
			return 0, err
		}
		if s.d.X.Shape[1] != train.X.Shape[1] {
			return 0, fmt.Errorf("%s: %s features have %d columns, train has %d", name, s.name, s.d.X.Shape[1], train.X.Shape[1])
		}
		if len(s.d.Y) != s.d.X.Shape[0] {
			return 0, fmt.Errorf("%s: %d %s labels for %d rows of features", name, len(s.d.Y), s.name, s.d.X.Shape[0])
		}
		for i, y := range s.d.Y {
			if y < 0 {
				return 0, fmt.Errorf("%s: %s label %d of example %d is negative", name, s.name, y, i)
			}
			classes = max(classes, y+1)
		}
	}
	if classes < 2 {
		return 0, fmt.Errorf("%s: labels span %d class, want at least 2", name, classes)
	}
	// Labels are class indices 0..K−1; far more classes than examples means
	// they are something else (and would size the model by mistake).
	total := train.X.Shape[0] + test.X.Shape[0]
	if val != nil {
		total += val.X.Shape[0]
	}
	if classes > total {
		return 0, fmt.Errorf("%s: labels go up to %d but there are only %d examples; want class indices 0..K-1", name, classes-1, total)
	}
	return classes, nil
}

// scoreParams returns the accuracy and mean cross-entropy of the parameters
// on standardised features.
func scoreParams(params []float64, x *tensor.Tensor, y []int, classes int) (acc, loss float64) {
	n, dim := x.Shape[0], x.Shape[1]
	w := make([]float32, classes*dim)
	for i := range w {
		w[i] = float32(params[i])
	}
	b := params[classes*dim:]
	z := logits(x.Data, n, dim, w, classes)
	hits := 0
	for i := 0; i < n; i++ {
		row := z[i*classes : (i+1)*classes]
		best, m := 0, math.Inf(-1)
		for k, v := range row {
			if zk := float64(v) + b[k]; zk > m {
				best, m = k, zk
			}
		}
		var s float64
		for k, v := range row {
			s += math.Exp(float64(v) + b[k] - m)
		}
		loss += math.Log(s) - (float64(row[y[i]]) + b[y[i]] - m)
		if best == y[i] {
			hits++
		}
	}
	return float64(hits) / float64(n), loss / float64(n)
}

// bestScore applies Selection.
func bestScore(s []LambdaScore) LambdaScore {
	best := s[0]
	for _, c := range s[1:] {
		switch {
		case c.ValAccuracy > best.ValAccuracy,
			c.ValAccuracy == best.ValAccuracy && c.ValLoss < best.ValLoss,
			c.ValAccuracy == best.ValAccuracy && c.ValLoss == best.ValLoss && c.Lambda > best.Lambda:
			best = c
		}
	}
	return best
}

// nearest returns the fitted λ closest to l in log scale.
func nearest(solutions map[float64][]float64, l float64) float64 {
	best, dist := 0.0, math.Inf(1)
	for k := range solutions {
		if d := math.Abs(math.Log(k / l)); d < dist || (d == dist && k > best) {
			best, dist = k, d
		}
	}
	return best
}

// accuracies returns top-1 accuracy and the mean over classes present in y
// of per-class accuracy.
func accuracies(pred, y []int, classes int) (acc, meanPerClass float64) {
	hits := make([]int, classes)
	count := make([]int, classes)
	total := 0
	for i, c := range y {
		count[c]++
		if pred[i] == c {
			hits[c]++
			total++
		}
	}
	present := 0
	for c := range count {
		if count[c] > 0 {
			present++
			meanPerClass += float64(hits[c]) / float64(count[c])
		}
	}
	return float64(total) / float64(len(y)), meanPerClass / float64(present)
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func pick(v []int, rows []int) []int {
	out := make([]int, len(rows))
	for r, i := range rows {
		out[r] = v[i]
	}
	return out
}

func dedupe(sorted []float64) []float64 {
	out := sorted[:0]
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func concatRows(a, b *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(a.Shape[0]+b.Shape[0], a.Shape[1])
	copy(out.Data, a.Data)
	copy(out.Data[len(a.Data):], b.Data)
	return out
}
