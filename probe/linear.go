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
	// Raw fits on the features as they are (RawFeatures) instead of
	// standardising each one (Standardisation). Standardising is the
	// default because objectives change the scale of the penultimate
	// features by orders of magnitude (cosine softmax and logit
	// normalization among them), and one λ grid should suit every model;
	// the raw probe shows what the features give without that help
	// (docs/definitions.md, "Linear probe").
	Raw bool
}

// RawFeatures names the raw probe's (Config.Raw) feature treatment.
const RawFeatures = "none: features used as they are"

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

// LinearProbe fits the study's linear probe on frozen features (docs/definitions.md,
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
	lambdas, refine, err := probeGrid(cfg)
	if err != nil {
		return Result{}, err
	}
	classes, err := checkSets("linear probe", train, test, cfg.Validation)
	if err != nil {
		return Result{}, err
	}
	dim := train.X.Shape[1]
	split, err := searchSplit(train, cfg)
	if err != nil {
		return Result{}, err
	}
	s, err := searchLambda(split, dim, classes, lambdas, refine, cfg.Fit)
	if err != nil {
		return Result{}, err
	}
	model, refit, err := refitProbe(train, cfg.Validation, dim, classes, s.best.Lambda, s.solutions[s.best.Lambda], cfg.Fit, cfg.Raw)
	if err != nil {
		return Result{}, err
	}
	acc, perClass, err := evaluateProbe(model, test, classes)
	if err != nil {
		return Result{}, err
	}
	treatment := Standardisation
	if cfg.Raw {
		treatment = RawFeatures
	}
	return Result{
		Accuracy: acc, MeanPerClassAccuracy: perClass,
		Lambda: s.best.Lambda, ValAccuracy: s.best.ValAccuracy,
		Classes: classes, Train: len(split.yTrain), Val: len(split.yVal), Test: len(test.Y),
		Search: s.scores, Refit: refit,
		Objective: Objective, Standardisation: treatment, Selection: Selection,
		Model: model,
	}, nil
}

// featureScaling is standardisation of the given rows, or for a raw probe
// mean 0 and scale 1, under which standardise copies x exactly.
func featureScaling(x *tensor.Tensor, rows []int, raw bool) (mean, scale []float64) {
	if !raw {
		return standardisation(x, rows)
	}
	p := x.Shape[1]
	mean, scale = make([]float64, p), make([]float64, p)
	for j := range scale {
		scale[j] = 1
	}
	return mean, scale
}

// probeGrid returns cfg's λ grid (DefaultLambdas when unset) and its
// number of refinement steps (2 when unset), or an error for an empty grid
// or a value that is not finite and positive.
func probeGrid(cfg Config) (lambdas []float64, refine int, err error) {
	lambdas = cfg.Lambdas
	if lambdas == nil {
		lambdas = DefaultLambdas
	}
	if len(lambdas) == 0 {
		return nil, 0, fmt.Errorf("linear probe: empty lambda grid")
	}
	for _, l := range lambdas {
		if !(l > 0) || math.IsInf(l, 0) {
			return nil, 0, fmt.Errorf("linear probe: lambda %v in the grid, want finite values > 0", l)
		}
	}
	refine = cfg.RefineSteps
	if refine == 0 {
		refine = 2
	}
	return lambdas, refine, nil
}

// splitData is the data of the λ search: the examples fitted and those
// that score each fit, both standardised with the statistics of the fitted
// part.
type splitData struct {
	xTrain, xVal *tensor.Tensor
	yTrain, yVal []int
}

// searchSplit returns the λ search's data: train against cfg.Validation
// when it is set, otherwise a split of train holding out cfg.ValFraction
// of it (default 0.2), drawn by a permutation seeded with cfg.Seed, each
// part in row order.
func searchSplit(train Data, cfg Config) (splitData, error) {
	var d splitData
	if cfg.Validation != nil {
		trainRows := seq(train.X.Shape[0])
		mean, scale := featureScaling(train.X, trainRows, cfg.Raw)
		d.xTrain = standardise(train.X, mean, scale)
		d.xVal = standardise(cfg.Validation.X, mean, scale)
		d.yTrain, d.yVal = train.Y, cfg.Validation.Y
		return d, nil
	}
	frac := cfg.ValFraction
	if frac == 0 {
		frac = 0.2
	}
	if !(frac > 0 && frac < 1) {
		return splitData{}, fmt.Errorf("linear probe: validation fraction %v, want a value in (0, 1)", frac)
	}
	n := train.X.Shape[0]
	nVal := int(math.Round(frac * float64(n)))
	if nVal < 1 || nVal > n-1 {
		return splitData{}, fmt.Errorf("linear probe: validation fraction %v of %d examples leaves %d for validation and %d for training; want at least 1 each",
			frac, n, nVal, n-nVal)
	}
	perm := rand.New(rand.NewPCG(cfg.Seed, 0x70726f6265)).Perm(n)
	valRows, trainRows := perm[:nVal], perm[nVal:]
	sort.Ints(valRows)
	sort.Ints(trainRows)
	mean, scale := featureScaling(train.X, trainRows, cfg.Raw)
	d.xTrain = gatherStandardised(train.X, trainRows, mean, scale)
	d.xVal = gatherStandardised(train.X, valRows, mean, scale)
	d.yTrain, d.yVal = pick(train.Y, trainRows), pick(train.Y, valRows)
	return d, nil
}

// lambdaSearch is the state of the λ search: every fit's parameters by λ,
// and its scores in the order fitted.
type lambdaSearch struct {
	obj       *logisticObjective
	xVal      *tensor.Tensor
	yVal      []int
	classes   int
	opts      FitOptions
	solutions map[float64][]float64
	scores    []LambdaScore
	best      LambdaScore // by Selection, set by searchLambda
}

// fitAt fits at lambda from init (nil: zeros), scores the fit on the
// validation set and records both.
func (s *lambdaSearch) fitAt(lambda float64, init []float64, refined bool) error {
	params, info, err := s.obj.fit(lambda, init, s.opts)
	if err != nil {
		return err
	}
	acc, loss := scoreParams(params, s.xVal, s.yVal, s.classes)
	s.solutions[lambda] = params
	s.scores = append(s.scores, LambdaScore{Lambda: lambda, ValAccuracy: acc, ValLoss: loss, Refined: refined, Fit: info})
	return nil
}

// searchLambda fits the grid lambdas from the largest to the smallest
// (duplicates once), each fit warm-started from the previous one, then the
// refine points around the best of them (see refinePoints), each
// warm-started from the nearest λ fitted so far, and chooses the best of
// all by Selection.
func searchLambda(d splitData, dim, classes int, lambdas []float64, refine int, opts FitOptions) (*lambdaSearch, error) {
	s := &lambdaSearch{
		obj:  newLogisticObjective(d.xTrain.Data, d.yTrain, len(d.yTrain), dim, classes),
		xVal: d.xVal, yVal: d.yVal, classes: classes, opts: opts,
		solutions: map[float64][]float64{},
	}
	grid := append([]float64(nil), lambdas...)
	sort.Sort(sort.Reverse(sort.Float64Slice(grid)))
	grid = dedupe(grid)
	var prev []float64
	for _, l := range grid {
		if err := s.fitAt(l, prev, false); err != nil {
			return nil, err
		}
		prev = s.solutions[l]
	}
	s.best = bestScore(s.scores)
	if refine > 0 {
		for _, l := range refinePoints(grid, s.best.Lambda, refine) {
			if err := s.fitAt(l, s.solutions[nearest(s.solutions, l)], true); err != nil {
				return nil, err
			}
		}
		s.best = bestScore(s.scores)
	}
	return s, nil
}

// refinePoints returns, largest first, the refine points inserted
// log-evenly between best and each of its neighbours in grid (sorted
// descending, without duplicates).
func refinePoints(grid []float64, best float64, refine int) []float64 {
	var extra []float64
	i := sort.Search(len(grid), func(i int) bool { return grid[i] <= best })
	for _, j := range []int{i - 1, i + 1} {
		if j < 0 || j >= len(grid) {
			continue
		}
		for s := 1; s <= refine; s++ {
			extra = append(extra, best*math.Pow(grid[j]/best, float64(s)/float64(refine+1)))
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(extra)))
	return extra
}

// refitProbe fits the final model at lambda, from init, on train and val
// (when set) together, standardised with their joint statistics.
func refitProbe(train Data, val *Data, dim, classes int, lambda float64, init []float64, opts FitOptions, raw bool) (*Logistic, FitInfo, error) {
	var xAll *tensor.Tensor
	var yAll []int
	if val != nil {
		xAll = concatRows(train.X, val.X)
		yAll = append(append([]int(nil), train.Y...), val.Y...)
	} else {
		xAll, yAll = train.X, train.Y
	}
	mean, scale := featureScaling(xAll, seq(xAll.Shape[0]), raw)
	xs := standardise(xAll, mean, scale)
	full := newLogisticObjective(xs.Data, yAll, len(yAll), dim, classes)
	params, info, err := full.fit(lambda, init, opts)
	if err != nil {
		return nil, FitInfo{}, err
	}
	model := &Logistic{Classes: classes, Dim: dim, W: make([]float32, classes*dim), B: make([]float32, classes), Mean: mean, Scale: scale}
	for i := range model.W {
		model.W[i] = float32(params[i])
	}
	for k := range model.B {
		model.B[k] = float32(params[classes*dim+k])
	}
	return model, info, nil
}

// evaluateProbe returns the model's top-1 and mean per-class accuracy on
// test (see accuracies).
func evaluateProbe(model *Logistic, test Data, classes int) (acc, meanPerClass float64, err error) {
	pred, err := model.Predict(test.X)
	if err != nil {
		return 0, 0, err
	}
	acc, meanPerClass = accuracies(pred, test.Y, classes)
	return acc, meanPerClass, nil
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
