package study

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/probe"
	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/represent"
	"github.com/losslab/losslab/tensor"
)

// Unit kinds of a study over exported models (Spec.Models). They stand
// where training, evaluation, transfer, robustness and predictions units
// stand in a training study and write the same files, so that CKA,
// Gather and the report read them unchanged.
const (
	KindExport            = "export"             // one exported model: its layout checked, in place of train
	KindExportEvaluate    = "export-evaluate"    // as evaluate, plus the CKA features of features
	KindExportTransfer    = "export-transfer"    // as transfer, on exported target features
	KindExportRobustness  = "export-robustness"  // as robustness, on exported corrupted-set logits
	KindExportPredictions = "export-predictions" // as predictions, streaming over blocks of examples
)

// The export layout (docs/exported-models.md). Each split is SPLIT.npz or
// a folder SPLIT/ of NAME.npy files.
const (
	ModelFile        = "model.json"
	exportTest       = "test"
	exportVal        = "val"
	exportTrain      = "train"
	exportCorrupt    = "corrupt"  // corrupt/NAME/SEVERITY(.npz)
	exportTransfer   = "transfer" // transfer/TARGET/{train,test}(.npz)
	arrLogits        = "logits"
	arrLabels        = "labels"
	arrPenultimate   = "penultimate"
	layerLogits      = "logits"
	layerPenultimate = "penultimate"
)

// ModelInfo is an exported model's model.json. Objective, Hyperparameters
// and Seed take the places a training study's variant and seed take: the
// report groups and pairs models by them.
type ModelInfo struct {
	Objective       string             `json:"objective"`
	Hyperparameters map[string]float64 `json:"hyperparameters,omitempty"`
	Seed            uint64             `json:"seed"`
	// Layers orders the named layer outputs of the test split, input to
	// output; empty means sorted by name.
	Layers []string `json:"layers,omitempty"`
	// Free text, for people.
	Architecture string `json:"architecture,omitempty"`
	Dataset      string `json:"dataset,omitempty"`
	Framework    string `json:"framework,omitempty"`
	Description  string `json:"description,omitempty"`
}

// exportName is what a name in the layout (objective, corruption, transfer
// target, layer) may be made of: it becomes part of metric names and
// results.csv fields.
var exportName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)

// split is one split of an exported model: a .npz archive or a folder of
// .npy files, with its arrays' headers.
type split struct {
	path   string
	npz    bool
	arrays map[string]npy.Info
}

// findSplit returns dir/name.npz or dir/name/, or nil when neither is
// there.
func findSplit(dir, name string) (*split, error) {
	z := filepath.Join(dir, name+".npz")
	d := filepath.Join(dir, name)
	_, zerr := os.Stat(z)
	dst, derr := os.Stat(d)
	switch {
	case zerr == nil && derr == nil:
		return nil, fmt.Errorf("%s: both %s.npz and the folder %s/ are there; want one of them", dir, name, name)
	case zerr == nil:
		infos, err := npy.StatNPZ(z)
		if err != nil {
			return nil, err
		}
		return &split{path: z, npz: true, arrays: infos}, nil
	case derr == nil:
		if !dst.IsDir() {
			return nil, fmt.Errorf("%s: not a folder; a split is %s.npz or a folder %s/ of .npy files", d, name, name)
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		sp := &split{path: d, arrays: map[string]npy.Info{}}
		for _, e := range ents {
			n, ok := strings.CutSuffix(e.Name(), ".npy")
			if !ok || e.IsDir() {
				continue
			}
			info, err := npy.Stat(filepath.Join(d, e.Name()))
			if err != nil {
				return nil, err
			}
			sp.arrays[n] = info
		}
		return sp, nil
	}
	return nil, nil
}

// where names an array for error messages: the file and the array.
func (sp *split) where(name string) string {
	if sp.npz {
		return fmt.Sprintf("%s, array %q", sp.path, name)
	}
	return filepath.Join(sp.path, name+".npy")
}

// check checks that array name is there with the wanted rank and kind, rows
// rows (−1: any) and, for a matrix, cols columns (−1: any); it returns the
// array's header.
func (sp *split) check(name string, float bool, rank []int, rows, cols int) (npy.Info, error) {
	info, ok := sp.arrays[name]
	if !ok {
		have := slices.Sorted(mapKeys(sp.arrays))
		return info, fmt.Errorf("%s: no array %q (arrays: %s)", sp.path, name, strings.Join(have, ", "))
	}
	kind := "an integer"
	if float {
		kind = "a float32 or float64"
	}
	want := fmt.Sprintf("%s array of %s", kind, rankText(rank))
	var with []string
	if rows >= 0 {
		with = append(with, fmt.Sprintf("%d rows", rows))
	}
	if cols >= 0 {
		with = append(with, fmt.Sprintf("%d columns", cols))
	}
	if len(with) > 0 {
		want += " with " + strings.Join(with, " and ")
	}
	bad := !slices.Contains(rank, len(info.Shape)) || (float && !info.Float()) || (!float && !info.Integer()) ||
		(rows >= 0 && info.Shape[0] != rows) || (cols >= 0 && len(info.Shape) == 2 && info.Shape[1] != cols)
	if bad {
		return info, fmt.Errorf("%s: shape %s, dtype %s; want %s", sp.where(name), info.ShapeText(), info.DType, want)
	}
	if info.Shape[0] == 0 {
		return info, fmt.Errorf("%s: shape %s has no examples", sp.where(name), info.ShapeText())
	}
	return info, nil
}

func rankText(rank []int) string {
	var parts []string
	for _, r := range rank {
		switch r {
		case 1:
			parts = append(parts, "1 axis [examples]")
		case 2:
			parts = append(parts, "2 axes [examples, features]")
		case 4:
			parts = append(parts, "4 axes [examples, height, width, channels]")
		}
	}
	return strings.Join(parts, " or ")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// read reads the named arrays of the split (a .npz is read whole: its
// members cannot be skipped cheaply when compressed).
func (sp *split) read(names ...string) (map[string]*npy.Array, error) {
	if sp.npz {
		all, err := npy.ReadNPZ(sp.path)
		if err != nil {
			return nil, err
		}
		out := map[string]*npy.Array{}
		for _, n := range names {
			if all[n] == nil {
				return nil, fmt.Errorf("%s: no array %q", sp.path, n)
			}
			out[n] = all[n]
		}
		return out, nil
	}
	out := map[string]*npy.Array{}
	for _, n := range names {
		a, err := npy.ReadFile(filepath.Join(sp.path, n+".npy"))
		if err != nil {
			return nil, err
		}
		out[n] = a
	}
	return out, nil
}

// matrix returns array name as a float32 matrix; a 4-D array (block
// outputs [N, H, W, C]) is pooled as a training study pools its block
// outputs (represent.SpatialRule).
func (sp *split) matrix(arrs map[string]*npy.Array, name string) (*tensor.Tensor, error) {
	a := arrs[name]
	if len(a.Shape) == 4 {
		if a.Float64 != nil {
			a = &npy.Array{Shape: a.Shape, DType: "<f4", Float32: float32s(a.Float64)}
		}
		return represent.PoolSpatial(tensor.FromData(a.Float32, a.Shape...), represent.DefaultPoolGrid), nil
	}
	t, err := a.Matrix()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp.where(name), err)
	}
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: element %d (row %d) is %v; want finite values", sp.where(name), i, i/max(1, t.Shape[1]), v)
		}
	}
	return t, nil
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// labels returns array name as labels, each in [0, classes) when classes
// > 0.
func (sp *split) labels(arrs map[string]*npy.Array, name string, classes int) ([]int, error) {
	y, err := arrs[name].Ints()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp.where(name), err)
	}
	for i, v := range y {
		if v < 0 || (classes > 0 && v >= classes) {
			return nil, fmt.Errorf("%s: element %d is %d; want a class index in [0, %d)", sp.where(name), i, v, classes)
		}
	}
	return y, nil
}

// matrixAndLabels reads array name as a matrix and the split's labels,
// each in [0, classes) when classes > 0.
func (sp *split) matrixAndLabels(name string, classes int) (*tensor.Tensor, []int, error) {
	arrs, err := sp.read(name, arrLabels)
	if err != nil {
		return nil, nil, err
	}
	x, err := sp.matrix(arrs, name)
	if err != nil {
		return nil, nil, err
	}
	y, err := sp.labels(arrs, arrLabels, classes)
	if err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

// exported is one exported model as the planner found it.
type exported struct {
	dir       string
	info      ModelInfo
	hyper     string
	test      *split
	n, k, d   int      // test examples, classes, penultimate width
	layers    []string // named layer outputs, in order
	val       *split
	train     *split
	corrupt   []corruptSet
	transfer  []string // targets, sorted
	transfers map[string][2]*split
	print     string
}

type corruptSet struct {
	name     string
	severity int
	sp       *split
}

// loadExport reads and checks one exported model's folder: model.json and
// every array's header (not the data).
func loadExport(dir string) (*exported, error) {
	e := &exported{dir: dir, transfers: map[string][2]*split{}}
	path := filepath.Join(dir, ModelFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("exported model %s: %w (every model folder needs a %s naming its objective and seed)", dir, err, ModelFile)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e.info); err != nil {
		return nil, fmt.Errorf("%s: %v; want {\"objective\": NAME, \"seed\": N, \"hyperparameters\": {KEY: NUMBER}, \"layers\": [NAME, ...], \"architecture\", \"dataset\", \"framework\", \"description\": TEXT}", path, err)
	}
	switch {
	case !exportName.MatchString(e.info.Objective):
		return nil, fmt.Errorf("%s: objective %q; want a name of letters, digits, '_', '.', '+' or '-' (e.g. softmax, label_smoothing)", path, e.info.Objective)
	case e.info.Seed == 0:
		return nil, fmt.Errorf("%s: seed is missing or 0; want a positive integer (the report pairs models of different objectives by seed, and 0 marks study-level rows in results.csv)", path)
	}
	for k, v := range e.info.Hyperparameters {
		if !exportName.MatchString(k) || strings.Contains(k, "=") {
			return nil, fmt.Errorf("%s: hyperparameter name %q; want letters, digits, '_', '.', '+' or '-'", path, k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: hyperparameter %s = %v; want a finite number", path, k, v)
		}
	}
	e.hyper = variant{Name: e.info.Objective, Params: e.info.Hyperparameters}.hyper()

	if e.test, err = findSplit(dir, exportTest); err != nil {
		return nil, err
	}
	if e.test == nil {
		return nil, fmt.Errorf("exported model %s: no test split (%s.npz, or a folder %s/ of .npy files, holding logits, labels and penultimate)", dir, exportTest, exportTest)
	}
	lg, err := e.test.check(arrLogits, true, []int{2}, -1, -1)
	if err != nil {
		return nil, err
	}
	e.n, e.k = lg.Shape[0], lg.Shape[1]
	if e.k < 2 {
		return nil, fmt.Errorf("%s: shape %s; want at least 2 classes", e.test.where(arrLogits), lg.ShapeText())
	}
	if _, err := e.test.check(arrLabels, false, []int{1}, e.n, -1); err != nil {
		return nil, err
	}
	pen, err := e.test.check(arrPenultimate, true, []int{2}, e.n, -1)
	if err != nil {
		return nil, err
	}
	e.d = pen.Shape[1]
	var named []string
	for name := range e.test.arrays {
		if name != arrLogits && name != arrLabels && name != arrPenultimate {
			named = append(named, name)
		}
	}
	sort.Strings(named)
	if len(e.info.Layers) > 0 {
		if a, b := slices.Sorted(slices.Values(e.info.Layers)), named; !slices.Equal(a, b) {
			return nil, fmt.Errorf("%s: layers lists %v; the test split %s holds the named layer outputs %v; want the same names", path, e.info.Layers, e.test.path, named)
		}
		named = slices.Clone(e.info.Layers)
	}
	for _, name := range named {
		if !exportName.MatchString(name) {
			return nil, fmt.Errorf("%s: layer name %q; want letters, digits, '_', '.', '+' or '-'", e.test.where(name), name)
		}
		if _, err := e.test.check(name, true, []int{2, 4}, e.n, -1); err != nil {
			return nil, err
		}
	}
	e.layers = named

	if e.val, err = findSplit(dir, exportVal); err != nil {
		return nil, err
	}
	if e.val != nil {
		v, err := e.val.check(arrLogits, true, []int{2}, -1, e.k)
		if err != nil {
			return nil, err
		}
		if _, err := e.val.check(arrLabels, false, []int{1}, v.Shape[0], -1); err != nil {
			return nil, err
		}
	}
	if e.train, err = findSplit(dir, exportTrain); err != nil {
		return nil, err
	}
	if e.train != nil {
		p, err := e.train.check(arrPenultimate, true, []int{2}, -1, e.d)
		if err != nil {
			return nil, err
		}
		if _, err := e.train.check(arrLabels, false, []int{1}, p.Shape[0], -1); err != nil {
			return nil, err
		}
	}
	if err := e.loadCorruptions(); err != nil {
		return nil, err
	}
	if err := e.loadTransfer(); err != nil {
		return nil, err
	}
	e.print, err = fingerprint(dir)
	return e, err
}

// subdirs lists the folders in dir, sorted; a missing dir has none.
func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// loadCorruptions finds corrupt/NAME/SEVERITY(.npz): logits of corrupted
// copies of the first rows of the test split, and optionally their labels.
func (e *exported) loadCorruptions() error {
	root := filepath.Join(e.dir, exportCorrupt)
	names, err := subdirs(root)
	if err != nil {
		return err
	}
	rows := -1
	for _, name := range names {
		if !exportName.MatchString(name) {
			return fmt.Errorf("%s: corruption name %q; want letters, digits, '_', '.', '+' or '-'", filepath.Join(root, name), name)
		}
		ents, err := os.ReadDir(filepath.Join(root, name))
		if err != nil {
			return err
		}
		var sevs []int
		for _, ent := range ents {
			s := strings.TrimSuffix(ent.Name(), ".npz")
			sev, err := strconv.Atoi(s)
			if err != nil || sev < 1 || (!ent.IsDir() && !strings.HasSuffix(ent.Name(), ".npz")) {
				return fmt.Errorf("%s: want one split per severity, named by it: 1.npz, 2.npz, … (or folders 1/, 2/, … of .npy files)", filepath.Join(root, name, ent.Name()))
			}
			if !slices.Contains(sevs, sev) {
				sevs = append(sevs, sev)
			}
		}
		slices.Sort(sevs)
		for _, sev := range sevs {
			sp, err := findSplit(filepath.Join(root, name), strconv.Itoa(sev))
			if err != nil {
				return err
			}
			lg, err := sp.check(arrLogits, true, []int{2}, rows, e.k)
			if err != nil {
				if rows >= 0 {
					return fmt.Errorf("%w (every corrupted set holds the same first test examples)", err)
				}
				return err
			}
			rows = lg.Shape[0]
			if rows > e.n {
				return fmt.Errorf("%s: %d rows; the test split has %d (a corrupted set holds corrupted copies of the first test examples)", sp.where(arrLogits), rows, e.n)
			}
			if _, ok := sp.arrays[arrLabels]; ok {
				if _, err := sp.check(arrLabels, false, []int{1}, rows, -1); err != nil {
					return err
				}
			}
			e.corrupt = append(e.corrupt, corruptSet{name, sev, sp})
		}
	}
	return nil
}

// loadTransfer finds transfer/TARGET/{train,test}(.npz): penultimate
// features and labels of a transfer target's images.
func (e *exported) loadTransfer() error {
	root := filepath.Join(e.dir, exportTransfer)
	targets, err := subdirs(root)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if !exportName.MatchString(t) {
			return fmt.Errorf("%s: target name %q; want letters, digits, '_', '.', '+' or '-'", filepath.Join(root, t), t)
		}
		var pair [2]*split
		for i, name := range []string{exportTrain, exportTest} {
			sp, err := findSplit(filepath.Join(root, t), name)
			if err != nil {
				return err
			}
			if sp == nil {
				return fmt.Errorf("%s: no %s split (%s.npz or a folder %s/); a transfer target needs train and test", filepath.Join(root, t), name, name, name)
			}
			p, err := sp.check(arrPenultimate, true, []int{2}, -1, e.d)
			if err != nil {
				return err
			}
			if _, err := sp.check(arrLabels, false, []int{1}, p.Shape[0], -1); err != nil {
				return err
			}
			pair[i] = sp
		}
		e.transfer = append(e.transfer, t)
		e.transfers[t] = pair
	}
	return nil
}

// fingerprint hashes the names, sizes and modification times of the files
// under dir: hashing the arrays themselves would read gigabytes at every
// plan.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", filepath.ToSlash(rel), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)[:8]), err
}

// loadExports reads every model folder of the models folder root, sorted
// as a training study orders its models: the reference variant first,
// then by objective and hyperparameters, then by seed.
func loadExports(root string) ([]*exported, error) {
	names, err := subdirs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("models folder: %w", err)
	}
	var out []*exported
	for _, n := range names {
		e, err := loadExport(filepath.Join(root, n))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("models folder %s holds no model folders; want one folder per model, each with a %s (docs/exported-models.md)", root, ModelFile)
	}
	slices.SortStableFunc(out, func(a, b *exported) int {
		va, vb := a.variant(), b.variant()
		switch {
		case variantLess(va, vb):
			return -1
		case variantLess(vb, va):
			return 1
		}
		return int(min(max(int64(a.info.Seed)-int64(b.info.Seed), -1), 1))
	})
	for i := 1; i < len(out); i++ {
		a, b, f := out[i-1], out[i], out[0]
		if a.info.Objective == b.info.Objective && a.hyper == b.hyper && a.info.Seed == b.info.Seed {
			return nil, fmt.Errorf("%s and %s: both are %s seed %d; want one model per objective, hyperparameters and seed (give copies different seeds)", a.dir, b.dir, report.VariantLabel(a.info.Objective, a.hyper), a.info.Seed)
		}
		if b.n != f.n || b.k != f.k {
			return nil, fmt.Errorf("%s: logits of %d test examples × %d classes, %s: %d × %d; want every model evaluated on the same test examples", b.test.where(arrLogits), b.n, b.k, f.test.where(arrLogits), f.n, f.k)
		}
	}
	return out, nil
}

func (e *exported) variant() variant {
	return variant{Name: e.info.Objective, Params: e.info.Hyperparameters}
}

// newExportPlan plans a study over the exported models in s.Models.
func newExportPlan(s Spec) (*Plan, error) {
	root, err := filepath.Abs(s.Models)
	if err != nil {
		return nil, err
	}
	models, err := loadExports(root)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", s.Name, err)
	}
	pl := &planner{spec: s, plan: &Plan{Study: s.Name, Spec: s}}
	// CKA compares layers by name across models: the named layers every
	// model exported, in the first model's order, then the penultimate
	// layer and the logits.
	var common []string
	for _, l := range models[0].layers {
		if !slices.ContainsFunc(models, func(e *exported) bool { return !slices.Contains(e.layers, l) }) {
			common = append(common, l)
		}
	}
	for _, e := range models {
		if len(e.layers) != len(common) {
			pl.note(fmt.Sprintf("cka: model %s exports layers %v; CKA compares only the layers every model exports (%v), the penultimate layer and the logits", filepath.Base(e.dir), e.layers, common))
		}
	}
	ckaLayers := append(common, layerPenultimate, layerLogits)
	var evals []Unit
	type withExport struct {
		e    *exported
		unit Unit
	}
	var all []withExport
	var noVal, noTrain []string
	for _, e := range models {
		meta := Unit{Objective: e.info.Objective, Hyper: e.hyper, Seed: e.info.Seed}
		xu := meta
		xu.Kind, xu.Export, xu.Fingerprint = KindExport, e.dir, e.print
		xu = pl.add(xu)
		eu := meta
		eu.Kind, eu.Deps, eu.Export = KindExportEvaluate, []string{xu.ID}, e.dir
		if s.analysis("cka") && len(models) > 1 {
			eu.TestN, eu.Layers = min(s.featureExamples(), e.n), ckaLayers
		}
		evals = append(evals, pl.add(eu))
		all = append(all, withExport{e, xu})
		if e.val == nil {
			noVal = append(noVal, filepath.Base(e.dir))
		}
		if e.train == nil {
			noTrain = append(noTrain, filepath.Base(e.dir))
		}
	}
	if len(noVal) > 0 {
		pl.note(fmt.Sprintf("calibration: %s no validation split (%s.npz or %s/); temperature scaling skipped for them (temperature and the *_ts metrics left out)", someModels(noVal, len(models)), exportVal, exportVal))
	}
	if len(noTrain) > 0 {
		pl.note(fmt.Sprintf("separation: %s no training split (%s.npz or %s/); class separation on training images skipped for them (r2_train left out)", someModels(noTrain, len(models)), exportTrain, exportTrain))
	}
	if s.analysis("probe") || s.analysis("knn") {
		seen := map[string]bool{}
		for _, x := range all {
			for _, t := range x.e.transfer {
				seen[t] = true
				pl.add(about(Unit{Kind: KindExportTransfer, Deps: []string{x.unit.ID}, Export: x.e.dir, Target: t,
					TrainN: s.TransferTrain, TestN: s.TransferTest}, model{train: x.unit}))
			}
		}
		for _, t := range slices.Sorted(mapKeys(seen)) {
			var without []string
			for _, x := range all {
				if !slices.Contains(x.e.transfer, t) {
					without = append(without, filepath.Base(x.e.dir))
				}
			}
			if len(without) > 0 {
				pl.note(fmt.Sprintf("probe, knn: %s no features for transfer target %s (%s/%s/); its probes skipped for them", someModels(without, len(models)), t, exportTransfer, t))
			}
		}
		if len(seen) == 0 {
			pl.note(fmt.Sprintf("probe, knn: no model exports transfer-target features (%s/TARGET/train.npz and test.npz); skipped", exportTransfer))
		}
	}
	if s.analysis("finetune") {
		pl.note("finetune: full fine-tuning trains the models, which a study over exported models does not; skipped")
	}
	if s.analysis("robustness") {
		some := false
		for _, x := range all {
			if len(x.e.corrupt) == 0 {
				continue
			}
			some = true
			var names []string
			for _, c := range x.e.corrupt {
				names = append(names, c.name+"/"+strconv.Itoa(c.severity))
			}
			pl.add(about(Unit{Kind: KindExportRobustness, Deps: []string{x.unit.ID}, Export: x.e.dir, Corruptions: names}, model{train: x.unit}))
		}
		if !some {
			pl.note(fmt.Sprintf("robustness: no model exports corrupted test sets (%s/NAME/SEVERITY.npz); skipped", exportCorrupt))
		}
	}
	if len(models) < 2 {
		pl.note("cka, predictions: a single model has nothing to be compared with; skipped")
	}
	if s.analysis("cka") && len(models) > 1 {
		pl.add(canonicalPairs(Unit{Kind: KindCKA, Deps: unitIDs(evals), Pairs: exportPairs(models)}))
	}
	if s.analysis("predictions") && len(models) > 1 {
		deps := unitIDs(evals)
		slices.Sort(deps)
		pl.add(Unit{Kind: KindExportPredictions, Deps: deps, Export: root})
	}
	return pl.plan, nil
}

// exportOf is the folder of the model behind unit id.
func exportOf(p *Plan, id string) string {
	if u := p.Unit(id); u != nil {
		return u.Export
	}
	return id
}

// someModels says which of total models a note is about, naming the
// first few folders.
func someModels(names []string, total int) string {
	list := strings.Join(names[:min(len(names), 4)], ", ")
	if len(names) > 4 {
		list += ", …"
	}
	if len(names) == 1 {
		return fmt.Sprintf("1 of %d models (%s) exports", total, list)
	}
	return fmt.Sprintf("%d of %d models (%s) export", len(names), total, list)
}

func unitIDs(us []Unit) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

// exportPairs are the CKA pairs of a training study (planner.cka) where
// the models need not fill a grid: each model against the reference
// variant's model of the same seed, when there is one, and the first two
// seeds of every variant against each other. models are sorted as
// loadExports sorts them.
func exportPairs(models []*exported) [][2]int {
	var vars []variant
	key := func(e *exported) string { return e.info.Objective + "|" + e.hyper }
	byVar := map[string][]int{}
	var order []string
	for i, e := range models {
		k := key(e)
		if byVar[k] == nil {
			order = append(order, k)
			vars = append(vars, e.variant())
		}
		byVar[k] = append(byVar[k], i)
	}
	ref := order[referenceVariant(vars)]
	var pairs [][2]int
	for _, k := range order {
		idx := byVar[k]
		if k != ref {
			for _, i := range idx {
				for _, r := range byVar[ref] {
					if models[r].info.Seed == models[i].info.Seed {
						pairs = append(pairs, [2]int{r, i})
					}
				}
			}
		}
		if len(idx) > 1 {
			pairs = append(pairs, [2]int{idx[0], idx[1]})
		}
	}
	return pairs
}

// runExported runs the units of a study over exported models.
func (s Store) runExported(p *Plan, u *Unit) ([]Metric, error) {
	if u.Kind == KindExportPredictions {
		return s.runExportPredictions(p, u)
	}
	e, err := loadExport(u.Export)
	if err != nil {
		return nil, err
	}
	if e.print != s.exportPrint(p, u) {
		return nil, fmt.Errorf("%s changed since the study was planned; plan again (run the study again) to analyse the new export", u.Export)
	}
	switch u.Kind {
	case KindExport:
		return nil, nil // loadExport checked the layout
	case KindExportEvaluate:
		return s.runExportEvaluate(u, e)
	case KindExportTransfer:
		return s.runExportTransfer(p, u, e)
	case KindExportRobustness:
		return s.runExportRobustness(u, e)
	}
	return nil, fmt.Errorf("unit %s: unknown kind %q", u.ID, u.Kind)
}

// exportPrint is the fingerprint the plan recorded for u's model.
func (s Store) exportPrint(p *Plan, u *Unit) string {
	if u.Kind == KindExport {
		return u.Fingerprint
	}
	if x := p.Unit(u.Deps[0]); x != nil {
		return x.Fingerprint
	}
	return ""
}

// runExportEvaluate measures what evaluate measures, from the exported
// test split: accuracy and calibration (temperature fitted on the
// validation split when there is one), class separation of the
// penultimate features (and of the training split's, when exported), and
// every layer's fraction of non-zero activations; it writes the files
// evaluate and features write.
func (s Store) runExportEvaluate(u *Unit, e *exported) ([]Metric, error) {
	names := append([]string{arrLogits, arrLabels, arrPenultimate}, e.layers...)
	arrs, err := e.test.read(names...)
	if err != nil {
		return nil, err
	}
	z, err := e.test.matrix(arrs, arrLogits)
	if err != nil {
		return nil, err
	}
	labels, err := e.test.labels(arrs, arrLabels, e.k)
	if err != nil {
		return nil, err
	}
	pen, err := e.test.matrix(arrs, arrPenultimate)
	if err != nil {
		return nil, err
	}
	layers := map[string]*tensor.Tensor{layerPenultimate: pen, layerLogits: z}
	for _, l := range e.layers {
		if layers[l], err = e.test.matrix(arrs, l); err != nil {
			return nil, err
		}
	}
	arrs = nil // the tensors hold the data; let the rest go
	dir := s.UnitDir(u.ID)
	if err := npy.WriteMatrix(filepath.Join(dir, "test_logits.npy"), z); err != nil {
		return nil, err
	}
	if err := npy.WriteLabels(filepath.Join(dir, "test_labels.npy"), labels); err != nil {
		return nil, err
	}
	before, err := metrics.Calibrate(z, labels, metrics.DefaultBins)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.test.path, err)
	}
	top1, err := metrics.Accuracy(z, labels)
	if err != nil {
		return nil, err
	}
	ms := []Metric{{"test_top1", top1}, {"test_nll", before.NLL}, {"test_ece", before.ECE}, {"test_brier", before.Brier}}
	if e.k >= 5 {
		top5, err := metrics.TopKAccuracy(z, labels, 5)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Metric{"test_top5", top5})
	}
	rel := report.Reliability{Before: before.Reliability}
	if e.val != nil {
		vz, vy, err := e.val.matrixAndLabels(arrLogits, e.k)
		if err != nil {
			return nil, err
		}
		fit, err := metrics.FitTemperature(vz, vy)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.val.path, err)
		}
		after, err := metrics.Calibrate(metrics.ScaleLogits(z, fit.Temperature), labels, metrics.DefaultBins)
		if err != nil {
			return nil, err
		}
		rel.Temperature, rel.After = fit.Temperature, after.Reliability
		ms = append(ms, Metric{"temperature", fit.Temperature},
			Metric{"test_nll_ts", after.NLL}, Metric{"test_ece_ts", after.ECE}, Metric{"test_brier_ts", after.Brier})
	}
	if err := jsonfile.Write(filepath.Join(dir, "reliability.json"), rel); err != nil {
		return nil, err
	}
	if sr, err := represent.ClassSeparation(pen, labels); err == nil {
		ms = append(ms, Metric{"r2", sr.R2})
	} else {
		fmt.Fprintf(os.Stderr, "unit %s: %v; r2 left out\n", u.ID, err)
	}
	if e.train != nil {
		f, y, err := e.train.matrixAndLabels(arrPenultimate, e.k)
		if err != nil {
			return nil, err
		}
		if sr, err := represent.ClassSeparation(f, y); err == nil {
			ms = append(ms, Metric{"r2_train", sr.R2})
		} else {
			fmt.Fprintf(os.Stderr, "unit %s: %v; r2_train left out\n", u.ID, err)
		}
	}
	for _, l := range append(slices.Clone(e.layers), layerPenultimate) {
		ms = append(ms, Metric{"active_fraction_" + l, represent.ActiveFraction(layers[l])})
	}
	if u.TestN > 0 {
		for i, l := range u.Layers {
			t := layers[l]
			if t == nil {
				return nil, fmt.Errorf("%s: no layer %q, which CKA compares across the models; export it again", e.test.path, l)
			}
			head := tensor.FromData(t.Data[:u.TestN*t.Shape[1]], u.TestN, t.Shape[1])
			if err := npy.WriteMatrix(filepath.Join(dir, strconv.Itoa(i)+".npy"), head); err != nil {
				return nil, err
			}
		}
		if err := npy.WriteLabels(filepath.Join(dir, "labels.npy"), labels[:u.TestN]); err != nil {
			return nil, err
		}
		if err := jsonfile.Write(filepath.Join(dir, "layers.json"), featureLayers{u.Layers, u.TestN, represent.SpatialRule}); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// runExportTransfer probes the exported features of one transfer target
// as transfer probes a trained model's (linear probe on standardised and
// on raw features, kNN), on the first TrainN and TestN rows (0: all).
func (s Store) runExportTransfer(p *Plan, u *Unit, e *exported) ([]Metric, error) {
	pair, ok := e.transfers[u.Target]
	if !ok {
		return nil, fmt.Errorf("%s: no transfer target %s any more", e.dir, u.Target)
	}
	var data [2]probe.Data
	for i, sp := range pair {
		x, y, err := sp.matrixAndLabels(arrPenultimate, 0)
		if err != nil {
			return nil, err
		}
		if n := []int{u.TrainN, u.TestN}[i]; n > 0 && n < len(y) {
			x, y = tensor.FromData(x.Data[:n*x.Shape[1]], n, x.Shape[1]), y[:n]
		}
		data[i] = probe.Data{X: x, Y: y}
	}
	ms, err := probeMetrics(p, u.Target, data[0], data[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Dir(pair[0].path), err)
	}
	return ms, nil
}

// runExportRobustness scores the exported corrupted sets: accuracy per
// corruption and severity, their mean, and the accuracy on the same test
// examples uncorrupted.
func (s Store) runExportRobustness(u *Unit, e *exported) ([]Metric, error) {
	z, labels, err := e.test.matrixAndLabels(arrLogits, e.k)
	if err != nil {
		return nil, err
	}
	var ms []Metric
	var cells []metrics.CorruptionAccuracy
	rows := -1
	for _, c := range e.corrupt {
		names := []string{arrLogits}
		if _, ok := c.sp.arrays[arrLabels]; ok {
			names = append(names, arrLabels)
		}
		ca, err := c.sp.read(names...)
		if err != nil {
			return nil, err
		}
		cz, err := c.sp.matrix(ca, arrLogits)
		if err != nil {
			return nil, err
		}
		rows = cz.Shape[0]
		if ca[arrLabels] != nil {
			cy, err := c.sp.labels(ca, arrLabels, e.k)
			if err != nil {
				return nil, err
			}
			for i, y := range cy {
				if y != labels[i] {
					return nil, fmt.Errorf("%s: element %d is %d, the test split's label %d; want the labels of the first %d test examples, in order", c.sp.where(arrLabels), i, y, labels[i], rows)
				}
			}
		}
		acc, err := metrics.Accuracy(cz, labels[:rows])
		if err != nil {
			return nil, err
		}
		cells = append(cells, metrics.CorruptionAccuracy{Corruption: c.name, Severity: c.severity, Accuracy: acc})
		ms = append(ms, Metric{fmt.Sprintf("corrupted_%s_s%d", c.name, c.severity), acc})
	}
	clean, err := metrics.Accuracy(tensor.FromData(z.Data[:rows*e.k], rows, e.k), labels[:rows])
	if err != nil {
		return nil, err
	}
	mean, err := metrics.MeanCorruptedAccuracy(cells)
	if err != nil {
		return nil, err
	}
	return append([]Metric{{"clean_subset_accuracy", clean}}, append(ms, Metric{"corrupted_mean_accuracy", mean})...), nil
}

// predictionBlock bounds the logits runExportPredictions holds at once
// (elements across all models): 72 models × 1,000 classes gives blocks of
// 466 examples and about 128 MB of float32 logits plus as much again of
// probabilities.
const predictionBlock = 32 << 20

// runExportPredictions measures what predictions measures (disagreement
// and two-model ensembles) reading the evaluate units' test logits a
// block of examples at a time, so that memory does not grow with the
// number of models times the test set. Disagreements and correct
// predictions are counted, so the block size changes no result.
func (s Store) runExportPredictions(p *Plan, u *Unit) ([]Metric, error) {
	n := len(u.Deps)
	paths := make([]string, n)
	res := report.Predictions{}
	var labels []int
	var rows, k int
	for i, id := range u.Deps {
		paths[i] = filepath.Join(s.UnitDir(id), "test_logits.npy")
		info, err := npy.Stat(paths[i])
		if err != nil {
			return nil, err
		}
		y, err := npy.ReadLabels(filepath.Join(s.UnitDir(id), "test_labels.npy"))
		if err != nil {
			return nil, err
		}
		if i == 0 {
			labels, rows, k = y, info.Shape[0], info.Shape[1]
		} else if info.Shape[0] != rows || info.Shape[1] != k || !slices.Equal(y, labels) {
			return nil, fmt.Errorf("%s: the test split differs from %s's (shape or labels); want every model evaluated on the same test examples in the same order", exportOf(p, id), exportOf(p, u.Deps[0]))
		}
		res.Models = append(res.Models, modelOf(p, id))
	}
	differ := make([][]int, n)
	correct := make([][]int, n) // pair ensembles; the diagonal is each model alone
	for i := range n {
		differ[i], correct[i] = make([]int, n), make([]int, n)
	}
	block := max(1, min(rows, predictionBlock/max(1, n*k)))
	probs := make([]*tensor.Tensor, n)
	preds := make([][]int, n)
	for from := 0; from < rows; from += block {
		to := min(rows, from+block)
		err := parallel(n, func(i int) error {
			z, err := npy.ReadMatrixRows(paths[i], from, to)
			if err != nil {
				return err
			}
			if probs[i], err = metrics.EnsembleProbabilities([]*tensor.Tensor{z}); err != nil {
				return err
			}
			preds[i], err = metrics.Predictions(probs[i])
			return err
		})
		if err != nil {
			return nil, err
		}
		// Model i's row of counts is its own task's: the pairs (i, j>i)
		// are shared out by i, most work first.
		parallel(n, func(i int) error {
			for r := range to - from {
				y := labels[from+r]
				if preds[i][r] == y {
					correct[i][i]++
				}
				pi := probs[i].Data[r*k : (r+1)*k]
				for j := i + 1; j < n; j++ {
					if preds[i][r] != preds[j][r] {
						differ[i][j]++
					}
					pj := probs[j].Data[r*k : (r+1)*k]
					best, top := 0, float64(pi[0])+float64(pj[0])
					for c := 1; c < k; c++ {
						if v := float64(pi[c]) + float64(pj[c]); v > top {
							best, top = c, v
						}
					}
					if best == y {
						correct[i][j]++
					}
				}
			}
			return nil
		})
	}
	res.Disagreement, res.PairEnsemble = make([][]float64, n), make([][]float64, n)
	for i := range n {
		res.Disagreement[i], res.PairEnsemble[i] = make([]float64, n), make([]float64, n)
	}
	for i := range n {
		res.PairEnsemble[i][i] = float64(correct[i][i]) / float64(rows)
		for j := i + 1; j < n; j++ {
			d, c := float64(differ[i][j])/float64(rows), float64(correct[i][j])/float64(rows)
			res.Disagreement[i][j], res.Disagreement[j][i] = d, d
			res.PairEnsemble[i][j], res.PairEnsemble[j][i] = c, c
		}
	}
	return nil, jsonfile.Write(filepath.Join(s.UnitDir(u.ID), "predictions.json"), res)
}

// parallel runs f(0), …, f(n−1) on every core and returns the first
// error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// validateModels checks a spec over exported models: the keys that
// configure training must be empty.
func (s Spec) validateModels() error {
	if s.Name == "" || strings.ContainsAny(s.Name, "/\\,\n") {
		return fmt.Errorf("study: name %q; want a non-empty name without / \\ , or newlines", s.Name)
	}
	set := []struct {
		key string
		on  bool
	}{
		{"dataset", s.Dataset != ""}, {"model", s.Model != ""}, {"preset", s.Preset != ""}, {"recipe", len(s.Recipe) > 0},
		{"holdout", s.Holdout != 0}, {"objectives", len(s.Objectives) > 0}, {"inputs", len(s.Inputs) > 0},
		{"seeds", len(s.Seeds) > 0}, {"transfer", len(s.Transfer) > 0}, {"finetune_epochs", s.FinetuneEpochs != 0},
		{"finetune_lr", s.FinetuneLR != 0}, {"finetune_min_steps", s.FinetuneMinSteps != 0}, {"finetune_lrs", len(s.FinetuneLRs) > 0},
		{"finetune_targets", len(s.FinetuneTargets) > 0}, {"corruptions", len(s.Corruptions) > 0}, {"corruption_examples", s.CorruptionExamples != 0},
	}
	for _, k := range set {
		if k.on {
			return fmt.Errorf("study %s: %s is set with models; a study over exported models trains nothing and takes only name, models, analyses, feature_examples, transfer_train and transfer_test (the models' objectives, seeds, transfer targets and corruptions come from their folders)", s.Name, k.key)
		}
	}
	if s.FeatureExamples < 0 || s.TransferTrain < 0 || s.TransferTest < 0 {
		return fmt.Errorf("study %s: feature_examples, transfer_train and transfer_test must be ≥ 0 (0 = default, or every exported example for the transfer sizes)", s.Name)
	}
	for _, a := range s.Analyses {
		if !slices.Contains(Analyses, a) {
			return fmt.Errorf("study %s: unknown analysis %q; valid: %s", s.Name, a, strings.Join(Analyses, ", "))
		}
	}
	return nil
}

// exportDescription describes a study over exported models for the
// report: how many models, from where, and what model.json says of them.
func exportDescription(p *Plan) string {
	var n int
	var arch, data, fw []string
	for _, u := range p.Units {
		if u.Kind != KindExport {
			continue
		}
		n++
		var info ModelInfo
		if b, err := os.ReadFile(filepath.Join(u.Export, ModelFile)); err == nil && json.Unmarshal(b, &info) == nil {
			for _, x := range []struct {
				v    string
				into *[]string
			}{{info.Architecture, &arch}, {info.Dataset, &data}, {info.Framework, &fw}} {
				if x.v != "" && !slices.Contains(*x.into, x.v) {
					*x.into = append(*x.into, x.v)
				}
			}
		}
	}
	d := fmt.Sprintf("%d exported models from %s (trained outside losslab", n, filepath.Base(p.Spec.Models))
	if len(arch) > 0 {
		d += "; architecture " + strings.Join(arch, ", ")
	}
	if len(data) > 0 {
		d += "; dataset " + strings.Join(data, ", ")
	}
	if len(fw) > 0 {
		d += "; " + strings.Join(fw, ", ")
	}
	return d + ")"
}
