package study

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/train"
)

// Unit kinds, in the order a study runs them.
const (
	KindTrain       = "train"       // train.Run of one objective variant × seed
	KindEvaluate    = "evaluate"    // test logits, calibration (T fitted on the holdout), separation, sparsity
	KindFeatures    = "features"    // block outputs of a fixed test subset, as .npy
	KindTransfer    = "transfer"    // linear probe + kNN on one transfer target
	KindCorruptSet  = "corrupt-set" // the corrupted copies of a test subset
	KindRobustness  = "robustness"  // accuracy on every corruption × severity
	KindCKA         = "cka"         // layer × layer CKA between pairs of models
	KindPredictions = "predictions" // disagreement matrix and ensembles
	KindFinetune    = "finetune"    // full fine-tuning of one pretrained model on one transfer target
	// KindFinetuneLR chooses the fine-tuning rate of one target on a
	// validation split, with the reference model (Spec.FinetuneLRs).
	KindFinetuneLR = "finetune-lr"
)

// Unit is one step of a study. Its ID is a content address: a hash of its
// kind, its inputs and its dependencies' ids, so the same work has the same
// id in every study and every order of the spec.
type Unit struct {
	ID   string   `json:"id"`
	Kind string   `json:"kind"`
	Deps []string `json:"deps,omitempty"`

	// Objective, Hyper and Seed describe the model a per-model unit is
	// about (results.csv's columns); not part of the id beyond Config.
	Objective string `json:"objective,omitempty"`
	Hyper     string `json:"hyperparameters,omitempty"`
	Seed      uint64 `json:"seed,omitempty"`

	// Inputs, by kind.
	Config      *train.Config `json:"config,omitempty"`      // train, finetune (init_from filled when it runs)
	Source      string        `json:"source,omitempty"`      // pretraining dataset (with its holdout)
	Holdout     int           `json:"holdout,omitempty"`     // evaluate
	Target      string        `json:"target,omitempty"`      // transfer, finetune
	TrainN      int           `json:"train_n,omitempty"`     // transfer
	TestN       int           `json:"test_n,omitempty"`      // transfer, features, corrupt-set
	Corruptions []string      `json:"corruptions,omitempty"` // corrupt-set
	Pairs       [][2]int      `json:"pairs,omitempty"`       // cka: indexes into Deps
	LRs         []float64     `json:"lrs,omitempty"`         // finetune-lr: the candidate rates
	ValN        int           `json:"val_n,omitempty"`       // finetune-lr: validation examples
	// Export is the exported model's folder (export and its per-model
	// units) or the models folder (export-predictions); Fingerprint, the
	// export's file names, sizes and modification times, so that a model
	// exported again into the same folder is analysed again.
	Export      string   `json:"export,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	Layers      []string `json:"layers,omitempty"` // export-evaluate: the layers CKA compares
}

// unitVersions holds each kind's version, which changes whenever the
// kind's computation or outputs change, so that stale results are not
// reused; a kind not listed is at version 1. Versions are per kind, so a
// new analysis does not retrain the models it reads.
//
// Converting transfer targets of another shape (data.Convert) bumped
// nothing: a target that already had the models' shape is read as before,
// and one that did not was refused, so no earlier result changes meaning.
// A change to data.Convert must bump transfer, finetune and finetune-lr.
var unitVersions = map[string]int{
	KindEvaluate: 2, // + r2_train
	KindTransfer: 2, // + the raw-feature probe
}

func unitVersion(kind string) int {
	if v, ok := unitVersions[kind]; ok {
		return v
	}
	return 1
}

// address sets u.ID from its kind, inputs and deps.
func (u *Unit) address() {
	v := *u
	v.ID, v.Objective, v.Hyper, v.Seed = "", "", "", 0
	b, err := json.Marshal(struct {
		V int
		U Unit
	}{unitVersion(u.Kind), v})
	if err != nil {
		panic(err) // Unit holds only JSON-encodable fields
	}
	h := sha256.Sum256(b)
	name := u.Kind
	if u.Objective != "" {
		name += "-" + strings.NewReplacer("+", "_", "/", "_").Replace(u.Objective)
	}
	u.ID = name + "-" + hex.EncodeToString(h[:8])
}

// Plan is a study's units in dependency order, with notes on what was
// left out and why.
type Plan struct {
	Study string   `json:"study"`
	Spec  Spec     `json:"spec"`
	Units []Unit   `json:"units"`
	Notes []string `json:"notes,omitempty"`
}

// TrainUnits returns the plan's training units, in order.
func (p *Plan) TrainUnits() []Unit {
	var out []Unit
	for _, u := range p.Units {
		if u.Kind == KindTrain {
			out = append(out, u)
		}
	}
	return out
}

// Unit returns the unit with the given id, or nil.
func (p *Plan) Unit(id string) *Unit {
	for i := range p.Units {
		if p.Units[i].ID == id {
			return &p.Units[i]
		}
	}
	return nil
}

// NewPlan turns a spec into units. Threads 0 in the recipe is resolved to
// this machine's core count; the plan is stored with the study, so other
// machines (Slurm tasks) run the same units. datasets resolves the spec's
// dataset names (nil: data.Resolver's default); transfer targets that
// cannot be loaded are left out with a note.
func NewPlan(s Spec, datasets *data.Resolver) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Models != "" {
		return newExportPlan(s)
	}
	base, err := s.baseConfig()
	if err != nil {
		return nil, err
	}
	vars, err := s.variants()
	if err != nil {
		return nil, err
	}
	corruptions, err := s.corruptionNames()
	if err != nil {
		return nil, err
	}
	pl := &planner{spec: s, datasets: datasets, plan: &Plan{Study: s.Name, Spec: s}}
	if err := pl.models(base, vars); err != nil {
		return nil, err
	}
	if s.analysis("probe") || s.analysis("knn") {
		pl.transfer()
	}
	if s.analysis("finetune") {
		if err := pl.finetune(base, vars); err != nil {
			return nil, err
		}
	}
	if s.analysis("robustness") {
		pl.robustness(corruptions)
	}
	if s.analysis("cka") && len(pl.trained) > 1 {
		pl.cka(vars)
	}
	if s.analysis("predictions") && len(pl.trained) > 1 {
		pl.predictions()
	}
	return pl.plan, nil
}

// planner builds a Plan unit by unit.
type planner struct {
	spec     Spec
	datasets *data.Resolver
	plan     *Plan
	seeds    []uint64 // sorted
	trained  []model  // variant-major, then seed
}

// model is the per-model units every analysis builds on.
type model struct {
	train, eval, feat Unit
}

// add addresses u and appends it to the plan.
func (pl *planner) add(u Unit) Unit {
	u.address()
	pl.plan.Units = append(pl.plan.Units, u)
	return u
}

func (pl *planner) note(n string) { pl.plan.Notes = append(pl.plan.Notes, n) }

// about copies m's description (objective, hyperparameters, seed) onto u.
func about(u Unit, m model) Unit {
	u.Objective, u.Hyper, u.Seed = m.train.Objective, m.train.Hyper, m.train.Seed
	return u
}

// models adds a training and an evaluation unit (and a feature unit for
// CKA) per variant and seed. Training units train on the pretraining
// dataset without its holdout split.
func (pl *planner) models(base train.Config, vars []variant) error {
	s := pl.spec
	pl.seeds = slices.Clone(s.Seeds)
	slices.Sort(pl.seeds)
	source := data.HoldoutName(s.Dataset, s.holdout())
	for _, v := range vars {
		for _, seed := range pl.seeds {
			c := base
			if v.Input != nil {
				if err := applyRecipe(&c, v.Input.Recipe); err != nil {
					return fmt.Errorf("study %s, input %s: %w", s.Name, v.Input.Name, err)
				}
				if reflect.DeepEqual(c, base) {
					return fmt.Errorf("study %s: input %s changes nothing in the recipe (%v); its runs would be the plain ones", s.Name, v.Input.Name, v.Input.Recipe)
				}
			}
			c.Dataset, c.Objective, c.ObjectiveParams, c.Seed = source, v.Name, v.Params, seed
			c = c.Resolved()
			if err := c.Validate(); err != nil {
				return fmt.Errorf("study %s, objective %s %s, seed %d: %w", s.Name, v.Name, v.hyper(), seed, err)
			}
			meta := Unit{Objective: v.Name, Hyper: v.hyper(), Seed: seed}
			tu := meta
			tu.Kind, tu.Config = KindTrain, &c
			tu = pl.add(tu)
			m := model{train: tu}
			eu := meta
			eu.Kind, eu.Deps, eu.Source, eu.Holdout = KindEvaluate, []string{tu.ID}, s.Dataset, s.holdout()
			m.eval = pl.add(eu)
			if s.analysis("cka") {
				fu := meta
				fu.Kind, fu.Deps, fu.TestN = KindFeatures, []string{tu.ID}, s.featureExamples()
				m.feat = pl.add(fu)
			}
			pl.trained = append(pl.trained, m)
		}
	}
	return nil
}

// transfer adds a probe unit per transfer target and model.
func (pl *planner) transfer() {
	s := pl.spec
	for _, target := range s.Transfer {
		if note := targetMissing(pl.datasets, target); note != "" {
			pl.note(note)
			continue
		}
		for _, m := range pl.trained {
			pl.add(about(Unit{Kind: KindTransfer, Deps: []string{m.train.ID}, Target: target,
				TrainN: s.transferTrain(), TestN: s.transferTest()}, m))
		}
	}
}

// finetune adds a fine-tuning unit per fine-tuning target and model and,
// when the spec lists candidate rates, the unit that chooses the target's
// rate with the reference model.
func (pl *planner) finetune(base train.Config, vars []variant) error {
	s := pl.spec
	for _, target := range s.Transfer {
		if len(s.FinetuneTargets) > 0 && !slices.Contains(s.FinetuneTargets, target) {
			continue
		}
		name, note := finetuneInput(pl.datasets, s.Dataset, target)
		if note != "" {
			pl.note(note)
			continue
		}
		trainN := s.transferTrain()
		if tr, _, err := pl.datasets.Load(target); err == nil {
			trainN = min(trainN, tr.Len())
		}
		var chooser *Unit
		if len(s.FinetuneLRs) >= 2 {
			ref := pl.trained[referenceVariant(vars)*len(pl.seeds)]
			valN := max(1, int(math.Round(DefaultFinetuneValFraction*float64(trainN))))
			c := finetuneConfig(s, base, name, ref.train.Seed, trainN-valN)
			c.Dataset, c.LR = data.HoldoutName(name, valN), s.FinetuneLRs[0]
			c.TrainLimit = trainN - valN
			if err := c.Validate(); err != nil {
				return fmt.Errorf("study %s, choosing the fine-tuning rate on %s: %w", s.Name, target, err)
			}
			c.LR = 0 // each candidate in turn
			u := pl.add(about(Unit{Kind: KindFinetuneLR, Deps: []string{ref.train.ID}, Target: target, Config: &c,
				LRs: slices.Clone(s.FinetuneLRs), ValN: valN}, ref))
			chooser = &u
		}
		for _, m := range pl.trained {
			c := finetuneConfig(s, base, name, m.train.Seed, trainN)
			deps := []string{m.train.ID}
			if chooser != nil {
				deps = append(deps, chooser.ID)
				c.LR = s.FinetuneLRs[0] // for Validate; the chosen rate is set when the unit runs
			}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("study %s, fine-tuning on %s: %w", s.Name, target, err)
			}
			if chooser != nil {
				c.LR = 0
			}
			pl.add(about(Unit{Kind: KindFinetune, Deps: deps, Target: target, Config: &c}, m))
		}
	}
	return nil
}

// robustness adds the corrupted test subset and a robustness unit per
// model.
func (pl *planner) robustness(corruptions []string) {
	s := pl.spec
	if len(corruptions) == 0 {
		pl.note("robustness: the spec lists no corruptions; skipped")
		return
	}
	set := pl.add(Unit{Kind: KindCorruptSet, Source: s.Dataset, TestN: s.corruptionExamples(), Corruptions: corruptions})
	for _, m := range pl.trained {
		pl.add(about(Unit{Kind: KindRobustness, Deps: []string{m.train.ID, set.ID}, TestN: s.corruptionExamples()}, m))
	}
}

// cka adds the one CKA unit. Pairs: each model against the reference
// variant (softmax, see referenceVariant) at the same seed, and the first
// two seeds of every variant against each other.
func (pl *planner) cka(vars []variant) {
	var deps []string
	for _, m := range pl.trained {
		deps = append(deps, m.feat.ID)
	}
	var pairs [][2]int
	perVar := len(pl.seeds)
	ref := referenceVariant(vars)
	for vi := range vars {
		for si := range pl.seeds {
			if vi != ref {
				pairs = append(pairs, [2]int{ref*perVar + si, vi*perVar + si})
			}
		}
		if perVar > 1 {
			pairs = append(pairs, [2]int{vi * perVar, vi*perVar + 1})
		}
	}
	pl.add(canonicalPairs(Unit{Kind: KindCKA, Deps: deps, Pairs: pairs}))
}

// predictions adds the one disagreement-and-ensembles unit.
func (pl *planner) predictions() {
	var deps []string
	for _, m := range pl.trained {
		deps = append(deps, m.eval.ID)
	}
	slices.Sort(deps)
	pl.add(Unit{Kind: KindPredictions, Deps: deps})
}

// canonicalPairs sorts a CKA unit's deps and renumbers its pairs (each
// ordered, then sorted), so that its id does not depend on spec order.
func canonicalPairs(u Unit) Unit {
	sorted := slices.Clone(u.Deps)
	slices.Sort(sorted)
	pos := map[string]int{}
	for i, d := range sorted {
		pos[d] = i
	}
	var pairs [][2]int
	for _, pr := range u.Pairs {
		a, b := pos[u.Deps[pr[0]]], pos[u.Deps[pr[1]]]
		if a > b {
			a, b = b, a
		}
		pairs = append(pairs, [2]int{a, b})
	}
	slices.SortFunc(pairs, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	u.Deps, u.Pairs = sorted, slices.Compact(pairs)
	return u
}

// targetMissing returns a note when a transfer target cannot be loaded
// without a download, or "" when it is available.
func targetMissing(datasets *data.Resolver, target string) string {
	base, _ := data.SplitDerived(target)
	if base == "" {
		base = target
	}
	if e := data.Lookup(base); e != nil {
		if _, err := e.Locate(); err != nil {
			return fmt.Sprintf("transfer target %s: dataset %s is not on this machine ('losslab data fetch %s'); skipped", target, base, base)
		}
		return ""
	}
	if datasets.Known(base) {
		return ""
	}
	return fmt.Sprintf("transfer target %s: unknown dataset %s (known: %s; derived: NAME-%s); skipped", target, base, strings.Join(datasets.Names(), ", "), strings.Join(data.DerivedTasks, ", NAME-"))
}

// referenceVariant is the index of the variant others are compared with:
// plain softmax if the study has it, else the first by name and
// hyperparameters (so that the choice does not depend on spec order).
func referenceVariant(vs []variant) int {
	best := -1
	for i, v := range vs {
		if best < 0 || variantLess(v, vs[best]) {
			best = i
		}
	}
	return best
}

func variantLess(a, b variant) bool {
	if (a.Name == "softmax") != (b.Name == "softmax") {
		return a.Name == "softmax"
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.hyper() < b.hyper()
}

// finetuneConfig is the recipe of fine-tuning a model pretrained with seed
// on target (the name of its dataset at the models' input shape,
// finetuneInput): the study's optimiser settings, softmax cross-entropy
// whatever the pretraining objective (as Kornblith et al. 2021 fine-tune), the
// spec's finetune_epochs (raised until trainN examples give at least
// finetune_min_steps steps) and finetune_lr with cosine decay and no warmup,
// on the transfer subsets the probes use (transfer_train, transfer_test),
// whole images without augmentation, mixing or weight averaging (as the
// probes see them). init_from is left empty: the pretrained run's folder
// depends on the store, so the unit fills it when it runs and the unit id
// stays a content address.
func finetuneConfig(s Spec, base train.Config, target string, seed uint64, trainN int) train.Config {
	c := base
	c.Dataset, c.Objective, c.ObjectiveParams, c.Seed = target, "softmax", nil, seed
	c.Epochs, c.LR = s.finetuneEpochs(), s.finetuneLR()
	if perEpoch := (trainN + c.BatchSize - 1) / max(c.BatchSize, 1); perEpoch > 0 && s.FinetuneMinSteps > 0 {
		c.Epochs = max(c.Epochs, (s.FinetuneMinSteps+perEpoch-1)/perEpoch)
	}
	c.Schedule, c.WarmupEpochs, c.StepEpochs, c.StepFactor = "cosine", 0, nil, 0
	c.TrainLimit, c.TestLimit = s.transferTrain(), s.transferTest()
	c.Augment, c.RandAugmentN, c.RandAugmentM, c.Mixup, c.CutMix, c.EvalCrop = "", 0, 0, 0, 0, 0
	c.EMADecay = 0
	c.Preset = ""
	return c.Resolved()
}

// finetuneInput returns the dataset a model pretrained on source is
// fine-tuned on for target: target itself when its examples have the
// source's shape, target converted to it (modelInput) when they differ
// only in height, width or grey ↔ RGB, and otherwise a note saying why
// target is skipped.
func finetuneInput(datasets *data.Resolver, source, target string) (name, note string) {
	if note := targetMissing(datasets, target); note != "" {
		return "", "finetune: " + note
	}
	src, _, err := datasets.Load(source)
	if err != nil {
		return "", fmt.Sprintf("finetune: pretraining dataset %s: %v; skipped", source, err)
	}
	tr, _, err := datasets.Load(target)
	if err != nil {
		return "", fmt.Sprintf("finetune: transfer target %s: %v; skipped", target, err)
	}
	name, err = modelInput(target, tr.ExampleShape(), src.ExampleShape())
	if err != nil {
		return "", fmt.Sprintf("finetune: %v; skipped", err)
	}
	return name, ""
}
