package study

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/data/corrupt"
	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/train"
)

// Spec is a study: what to pretrain, under which objectives and seeds, and
// what to measure. It is read from YAML or JSON (ParseSpec); every key is
// checked, and an unknown one is an error naming its line.
type Spec struct {
	// Name names the study in its report and results.csv.
	Name string `yaml:"name" json:"name"`
	// Dataset and Model are the pretraining dataset (a name data.Resolver
	// resolves: a catalogue name, a derived task such as "mnist-lower", or
	// a path) and model (nn.ModelNames).
	Dataset string `yaml:"dataset" json:"dataset"`
	Model   string `yaml:"model" json:"model"`
	// Preset, if set, is the train preset the recipe starts from instead
	// of train.DefaultConfig(Dataset, Model).
	Preset string `yaml:"preset,omitempty" json:"preset,omitempty"`
	// Recipe overrides training-config fields by their config.json names
	// (train.ConfigKeys), e.g. epochs, lr, train_limit.
	Recipe Recipe `yaml:"recipe,omitempty" json:"recipe,omitempty"`
	// Holdout is the number of training examples held out of training as
	// the validation split for temperature scaling (never the test set).
	// 0 means DefaultHoldout.
	Holdout int `yaml:"holdout,omitempty" json:"holdout,omitempty"`
	// Objectives lists the objectives, each with hyperparameters and
	// optional sweeps.
	Objectives []ObjectiveSpec `yaml:"objectives" json:"objectives"`
	// Inputs are input regularizers crossed with the objectives: every
	// objective variant trains as it is and, for each input that applies
	// to it, once more with the input's recipe (e.g. mixup, AutoAugment).
	// The input's runs are variants of their own, labelled by their
	// objective's hyperparameters followed by input=NAME.
	Inputs []InputSpec `yaml:"inputs,omitempty" json:"inputs,omitempty"`
	// Seeds are the training seeds of every objective.
	Seeds []uint64 `yaml:"seeds" json:"seeds"`
	// Transfer lists the transfer targets: dataset names or derived tasks
	// (data.DerivedTasks), e.g. "fashion-mnist", "mnist-rot90". A target
	// whose images differ from the pretraining images in size or grey/RGB
	// is converted to the models' input (data.Convert).
	Transfer []string `yaml:"transfer,omitempty" json:"transfer,omitempty"`
	// TransferTrain and TransferTest are the number of examples of each
	// transfer target's training and test split used by the probes.
	TransferTrain int `yaml:"transfer_train,omitempty" json:"transfer_train,omitempty"`
	TransferTest  int `yaml:"transfer_test,omitempty" json:"transfer_test,omitempty"`
	// FinetuneEpochs and FinetuneLR are the length and peak learning rate
	// of full fine-tuning on each transfer target that is a dataset with
	// the pretraining examples' shape (0 = DefaultFinetuneEpochs,
	// DefaultFinetuneLR).
	FinetuneEpochs int     `yaml:"finetune_epochs,omitempty" json:"finetune_epochs,omitempty"`
	FinetuneLR     float64 `yaml:"finetune_lr,omitempty" json:"finetune_lr,omitempty"`
	// FinetuneMinSteps is a floor on the length of fine-tuning in steps:
	// the epochs are raised until it is reached, so that a small target is
	// not fine-tuned for a handful of steps (0 = none).
	FinetuneMinSteps int `yaml:"finetune_min_steps,omitempty" json:"finetune_min_steps,omitempty"`
	// FinetuneLRs, when it lists two or more rates, replaces finetune_lr by
	// a choice per target: the reference model (softmax, lowest seed) is
	// fine-tuned at each rate on the target's training subset without a
	// validation split of FinetuneValFraction, the rate with the best
	// validation accuracy is chosen, and every model is then fine-tuned
	// with it on the whole subset (docs/definitions.md, "Full
	// fine-tuning").
	FinetuneLRs []float64 `yaml:"finetune_lrs,omitempty" json:"finetune_lrs,omitempty"`
	// FinetuneTargets, if set, limits full fine-tuning (the costliest
	// analysis) to these transfer targets; empty means every target.
	FinetuneTargets []string `yaml:"finetune_targets,omitempty" json:"finetune_targets,omitempty"`
	// Corruptions lists corruption names (data/corrupt), or the groups
	// "mnist-c", "common" and "all" (corrupt.Expand).
	Corruptions []string `yaml:"corruptions,omitempty" json:"corruptions,omitempty"`
	// CorruptionExamples is the number of test examples corrupted.
	CorruptionExamples int `yaml:"corruption_examples,omitempty" json:"corruption_examples,omitempty"`
	// FeatureExamples is the size of the fixed subset of test images whose
	// block outputs are extracted for CKA.
	FeatureExamples int `yaml:"feature_examples,omitempty" json:"feature_examples,omitempty"`
	// Analyses selects the analyses (Analyses); empty means all.
	Analyses []string `yaml:"analyses,omitempty" json:"analyses,omitempty"`
	// Models, if set, is a folder of exported models (one subfolder per
	// model, docs/exported-models.md): the study trains nothing and runs
	// every analysis that needs no training on the exported arrays. It
	// takes only name, models, analyses, feature_examples, transfer_train
	// and transfer_test (0 = every exported example); a relative path in a
	// spec file is relative to the file's folder.
	Models string `yaml:"models,omitempty" json:"models,omitempty"`
}

// ObjectiveSpec is one objective of a study: a registered name or "+"-stack
// (objective.Names), fixed hyperparameters, and sweeps. A sweep runs the
// objective once per combination of the swept values (a Cartesian product
// over keys), e.g. sweep: {tau: [0.03, 0.05, 0.1]}.
type ObjectiveSpec struct {
	Name   string               `yaml:"name" json:"name"`
	Params map[string]float64   `yaml:"params,omitempty" json:"params,omitempty"`
	Sweep  map[string][]float64 `yaml:"sweep,omitempty" json:"sweep,omitempty"`
}

// InputSpec is an input regularizer of a study: its name, the
// training-config overrides that make it (e.g. {mixup: 0.2} or
// {augment: autoaugment}), and the objectives it is crossed with (registry
// names or "+"-stacks as in Objectives; empty means every objective).
type InputSpec struct {
	Name       string   `yaml:"name" json:"name"`
	Recipe     Recipe   `yaml:"recipe" json:"recipe"`
	Objectives []string `yaml:"objectives,omitempty" json:"objectives,omitempty"`
}

// Recipe is a set of training-config overrides keyed by config.json names.
type Recipe map[string]any

// Analyses lists the analyses a study can run.
var Analyses = []string{"calibration", "separation", "sparsity", "cka", "probe", "knn", "finetune", "predictions", "robustness"}

// Defaults of the optional sizes.
const (
	DefaultHoldout            = 5000
	DefaultTransferTrain      = 5000
	DefaultTransferTest       = 2000
	DefaultCorruptionExamples = 1000
	DefaultFeatureExamples    = 1000
	DefaultFinetuneEpochs     = 1
	// DefaultFinetuneValFraction is the part of a target's training
	// subset held out to choose the fine-tuning rate (finetune_lrs), as the
	// linear probe holds out a part to choose λ.
	DefaultFinetuneValFraction = 0.2
	// DefaultFinetuneLR is losslab's choice, not the paper's: a fifth of
	// the default recipe's peak rate, so that one short epoch adapts the
	// pretrained body rather than overwrite it.
	DefaultFinetuneLR = 0.01
)

// studyKeys are keys the study sets itself and a recipe may not.
var studyKeys = []string{"dataset", "model", "objective", "objective_params", "seed", "preset"}

// UnmarshalYAML checks every recipe key against the training config's
// field names and every value against its field's type (train.Config.Set),
// naming the line of a wrong one.
func (r *Recipe) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: recipe must be a mapping of training-config fields", n.Line)
	}
	out := Recipe{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if slices.Contains(studyKeys, k.Value) {
			return fmt.Errorf("line %d: recipe key %q is set by the study (use the study's dataset, model, preset, objectives and seeds)", k.Line, k.Value)
		}
		var val any
		if err := v.Decode(&val); err != nil {
			return fmt.Errorf("line %d: recipe %s: %v", v.Line, k.Value, err)
		}
		var scratch train.Config
		if err := scratch.Set(k.Value, val); err != nil {
			var unknown *train.UnknownKeyError
			if errors.As(err, &unknown) {
				return fmt.Errorf("line %d: unknown recipe key %q; valid keys: %s", k.Line, k.Value, strings.Join(recipeKeys(), ", "))
			}
			return fmt.Errorf("line %d: recipe: %v", v.Line, err)
		}
		out[k.Value] = val
	}
	*r = out
	return nil
}

func recipeKeys() []string {
	var ks []string
	for _, k := range train.ConfigKeys() {
		if !slices.Contains(studyKeys, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// ParseSpec reads a study from YAML or JSON (JSON is YAML). Unknown keys,
// anywhere, are errors with their line number; name is used in messages.
func ParseSpec(name string, b []byte) (Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%s: %v", name, err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// LoadSpec reads a study file (ParseSpec).
func LoadSpec(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	s, err := ParseSpec(path, b)
	if err == nil && s.Models != "" && !filepath.IsAbs(s.Models) {
		s.Models = filepath.Join(filepath.Dir(path), s.Models)
	}
	return s, err
}

// Default is the built-in study, designed so that the paper's mechanism
// (class separation against transferability) can show on one machine with
// no network: mnist-cnn pretrained on the digits 0–4 of the embedded MNIST
// (mnist-lower; 15,000 examples, 2 epochs) under each of the nine
// objectives at their default hyperparameters plus a cosine-softmax τ
// sweep, three seeds each; transfer to the digits 5–9 that no network saw
// (mnist-upper) and to Fashion-MNIST when it is on the machine, by linear
// probe and kNN, and to the digits 5–9 by 3 epochs of full fine-tuning; the MNIST-C corruptions;
// every analysis. docs/default-study.md explains the choices and shows a
// run's results.
func Default() Spec {
	var objs []ObjectiveSpec
	for _, n := range objective.Names() {
		o := ObjectiveSpec{Name: n}
		switch n {
		case "cosine_softmax":
			o.Sweep = map[string][]float64{"tau": {0.03, 0.05, 0.1}}
		case "squared_error":
			// The ImageNet values (κ 9, M 60, s 10) diverge at this
			// learning rate on MNIST. With κ 5, M 1, s 0.1 mnist-cnn
			// reaches 98.9% in 5 epochs, but short runs (--quick)
			// still blow up or collapse in the first steps; s 0.05
			// trains in both.
			o.Params = map[string]float64{"kappa": 5, "target": 1, "scale": 0.05}
		}
		objs = append(objs, o)
	}
	return Spec{
		Name: "default", Dataset: "mnist-lower", Model: "mnist-cnn",
		Recipe:             Recipe{"epochs": 2, "train_limit": 15000},
		Holdout:            2000,
		Objectives:         objs,
		Seeds:              []uint64{1, 2, 3},
		Transfer:           []string{"mnist-upper", "fashion-mnist"},
		FinetuneTargets:    []string{"mnist-upper"},
		FinetuneEpochs:     3,
		TransferTrain:      3000,
		TransferTest:       2000,
		Corruptions:        []string{"mnist-c"},
		CorruptionExamples: 500,
		FeatureExamples:    500,
	}
}

// builtins are the studies 'losslab study NAME' runs by name.
var builtins = map[string]func() Spec{
	"default":  Default,
	"coarse":   Coarse,
	"stacking": Stacking,
}

// BuiltinNames lists the built-in studies, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns the built-in study called name.
func Builtin(name string) (Spec, error) {
	f, ok := builtins[name]
	if !ok {
		return Spec{}, fmt.Errorf("unknown built-in study %q; built-in: %s", name, strings.Join(BuiltinNames(), ", "))
	}
	return f(), nil
}

// Coarse is the built-in study in the paper's regime ('losslab study
// coarse'): an mlp pretrained on a coarse labelling of the embedded MNIST
// digits (mnist-pairs: {0, 1}, {2, 3}, …; 5,000 examples, 40 epochs, well
// past 100 % training accuracy, the terminal phase of Papyan et al. 2020)
// under the nine objectives plus sweeps of the dials that move class
// separation (cosine-softmax τ over four values, label-smoothing α), three
// seeds each; transfer to the ten digits asks directly whether separating
// the coarse classes discarded what tells the digits inside them apart,
// and to Fashion-MNIST when it is on the machine; full fine-tuning with
// its rate chosen on a validation split; MNIST-C. docs/default-study.md
// explains the design search and shows a run.
func Coarse() Spec {
	var objs []ObjectiveSpec
	for _, n := range objective.Names() {
		o := ObjectiveSpec{Name: n}
		switch n {
		case "cosine_softmax":
			o.Sweep = map[string][]float64{"tau": {0.05, 0.1, 0.2, 0.5}}
		case "label_smoothing":
			o.Sweep = map[string][]float64{"alpha": {0.1, 0.3}}
		case "squared_error":
			o.Params = map[string]float64{"kappa": 5, "target": 1, "scale": 0.05}
		}
		objs = append(objs, o)
	}
	return Spec{
		Name: "coarse", Dataset: "mnist-pairs", Model: "mlp",
		Recipe:             Recipe{"epochs": 40, "train_limit": 5000, "test_limit": 2000},
		Holdout:            1000,
		Objectives:         objs,
		Seeds:              []uint64{1, 2, 3},
		Transfer:           []string{"mnist", "fashion-mnist"},
		TransferTrain:      3000,
		TransferTest:       2000,
		FinetuneMinSteps:   300,
		FinetuneLRs:        []float64{0.003, 0.01, 0.03, 0.1},
		Corruptions:        []string{"mnist-c"},
		CorruptionExamples: 500,
		FeatureExamples:    500,
	}
}

// Stacking is the coarse study with the rest of the paper's second
// finding ('losslab study stacking'): two stacks of final-layer
// regularizers (label smoothing + dropout, and + logit penalty), to test
// whether combining objectives beats their best component, and mixup
// (α 0.2) on softmax and on label smoothing, to test whether input
// regularization adds to an objective. Its other units are the coarse
// study's: with a shared --store it trains only the new variants.
func Stacking() Spec {
	s := Coarse()
	s.Name = "stacking"
	s.Objectives = append(s.Objectives,
		ObjectiveSpec{Name: "label_smoothing+dropout"},
		ObjectiveSpec{Name: "label_smoothing+dropout+logit_penalty"})
	s.Inputs = []InputSpec{{Name: "mixup", Recipe: Recipe{"mixup": 0.2}, Objectives: []string{"softmax", "label_smoothing"}}}
	return s
}

// Quick shrinks s to minutes with the same shape (objectives, sweeps,
// transfer targets, corruptions and analyses unchanged): one epoch on at
// most 4,000 training and 2,000 test examples, at most two seeds, and
// smaller probe, corruption and feature subsets.
func (s Spec) Quick() Spec {
	if s.Models != "" {
		return s // nothing is trained: there is nothing to shrink
	}
	s.Name += "-quick"
	r := Recipe{}
	for k, v := range s.Recipe {
		r[k] = v
	}
	r["epochs"] = 1
	r["warmup_epochs"] = 0.5 // of a 32-step epoch: squared error needs the ramp
	r["train_limit"] = min(positive(r["train_limit"], 4000), 4000)
	r["test_limit"] = min(positive(r["test_limit"], 2000), 2000)
	delete(r, "step_epochs")
	s.Recipe = r
	s.Holdout = min(s.holdout(), 1000)
	s.Seeds = s.Seeds[:min(len(s.Seeds), 2)]
	s.TransferTrain = min(s.transferTrain(), 1000)
	s.TransferTest = min(s.transferTest(), 500)
	s.CorruptionExamples = min(s.corruptionExamples(), 300)
	s.FeatureExamples = min(s.featureExamples(), 300)
	s.FinetuneEpochs = 1
	return s
}

// positive reads a recipe number, returning def for a missing or
// non-positive one.
func positive(v any, def int) int {
	f, ok := toFloat(v)
	if !ok || f <= 0 {
		return def
	}
	return int(f)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func (s Spec) holdout() int       { return orDefault(s.Holdout, DefaultHoldout) }
func (s Spec) transferTrain() int { return orDefault(s.TransferTrain, DefaultTransferTrain) }
func (s Spec) transferTest() int  { return orDefault(s.TransferTest, DefaultTransferTest) }
func (s Spec) corruptionExamples() int {
	return orDefault(s.CorruptionExamples, DefaultCorruptionExamples)
}
func (s Spec) featureExamples() int { return orDefault(s.FeatureExamples, DefaultFeatureExamples) }
func (s Spec) finetuneEpochs() int  { return orDefault(s.FinetuneEpochs, DefaultFinetuneEpochs) }
func (s Spec) finetuneLR() float64 {
	if s.FinetuneLR > 0 {
		return s.FinetuneLR
	}
	return DefaultFinetuneLR
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// analysis reports whether the study runs the named analysis.
func (s Spec) analysis(name string) bool {
	return len(s.Analyses) == 0 || slices.Contains(s.Analyses, name)
}

// Validate checks the fields that do not need data: names, sizes, seeds
// and the analyses. Training configs are checked by Plan.
func (s Spec) Validate() error {
	if s.Models != "" {
		return s.validateModels()
	}
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, "/\\,\n"):
		return fmt.Errorf("study: name %q; want a non-empty name without / \\ , or newlines", s.Name)
	case s.Dataset == "":
		return fmt.Errorf("study %s: dataset is empty; want one of %s, a derived task NAME-%s, or a path", s.Name, strings.Join(data.Names(), ", "), strings.Join(data.DerivedTasks, ", NAME-"))
	case s.Model == "":
		return fmt.Errorf("study %s: model is empty", s.Name)
	case len(s.Objectives) == 0:
		return fmt.Errorf("study %s: objectives is empty; want at least one", s.Name)
	case len(s.Seeds) == 0:
		return fmt.Errorf("study %s: seeds is empty; want at least one", s.Name)
	case s.Holdout < 0 || s.TransferTrain < 0 || s.TransferTest < 0 || s.CorruptionExamples < 0 || s.FeatureExamples < 0 || s.FinetuneEpochs < 0:
		return fmt.Errorf("study %s: holdout, transfer_train, transfer_test, corruption_examples, feature_examples and finetune_epochs must be ≥ 0 (0 = default)", s.Name)
	case s.FinetuneMinSteps < 0:
		return fmt.Errorf("study %s: finetune_min_steps = %d; want ≥ 0 (0 = no floor)", s.Name, s.FinetuneMinSteps)
	case !(s.FinetuneLR >= 0) || math.IsInf(s.FinetuneLR, 0):
		return fmt.Errorf("study %s: finetune_lr = %v; want a finite value ≥ 0 (0 = default %g)", s.Name, s.FinetuneLR, DefaultFinetuneLR)
	}
	for _, lr := range s.FinetuneLRs {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("study %s: finetune_lrs lists %v; want finite rates > 0", s.Name, lr)
		}
	}
	seen := map[uint64]bool{}
	for _, sd := range s.Seeds {
		if seen[sd] {
			return fmt.Errorf("study %s: seed %d listed twice", s.Name, sd)
		}
		seen[sd] = true
	}
	for _, t := range s.FinetuneTargets {
		if !slices.Contains(s.Transfer, t) {
			return fmt.Errorf("study %s: finetune_targets lists %q, which is not a transfer target (transfer: %s)", s.Name, t, strings.Join(s.Transfer, ", "))
		}
	}
	for _, a := range s.Analyses {
		if !slices.Contains(Analyses, a) {
			return fmt.Errorf("study %s: unknown analysis %q; valid: %s", s.Name, a, strings.Join(Analyses, ", "))
		}
	}
	if _, err := s.corruptionNames(); err != nil {
		return err
	}
	if err := s.validateInputs(); err != nil {
		return err
	}
	for _, o := range s.Objectives {
		for k, vs := range o.Sweep {
			if len(vs) == 0 {
				return fmt.Errorf("study %s: objective %s: sweep %s is empty", s.Name, o.Name, k)
			}
			if _, dup := o.Params[k]; dup {
				return fmt.Errorf("study %s: objective %s: %s is both a param and a sweep", s.Name, o.Name, k)
			}
		}
	}
	return nil
}

// validateInputs checks the inputs: unique names without spaces, a
// recipe that changes something, known keys that the study does not set
// itself, and objectives that the study trains.
func (s Spec) validateInputs() error {
	seen := map[string]bool{}
	for _, in := range s.Inputs {
		switch {
		case in.Name == "" || strings.ContainsAny(in.Name, " =,\n"):
			return fmt.Errorf("study %s: input name %q; want a non-empty name without spaces, '=' or ','", s.Name, in.Name)
		case seen[in.Name]:
			return fmt.Errorf("study %s: input %s listed twice", s.Name, in.Name)
		case len(in.Recipe) == 0:
			return fmt.Errorf("study %s: input %s has an empty recipe; want training-config overrides such as mixup: 0.2 or augment: autoaugment", s.Name, in.Name)
		}
		seen[in.Name] = true
		c := train.DefaultConfig(s.Dataset, s.Model)
		if err := applyRecipe(&c, in.Recipe); err != nil {
			return fmt.Errorf("study %s: input %s: %w", s.Name, in.Name, err)
		}
		for k := range in.Recipe {
			if slices.Contains(studyKeys, k) {
				return fmt.Errorf("study %s: input %s: recipe key %q is set by the study", s.Name, in.Name, k)
			}
		}
		for _, o := range in.Objectives {
			if !slices.ContainsFunc(s.Objectives, func(x ObjectiveSpec) bool { return x.Name == o }) {
				return fmt.Errorf("study %s: input %s lists objective %q, which the study does not train", s.Name, in.Name, o)
			}
		}
	}
	return nil
}

// applyRecipe applies r to c through train.Config.Set, as `losslab train
// --set` does, in key order.
func applyRecipe(c *train.Config, r Recipe) error {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := c.Set(k, r[k]); err != nil {
			return err
		}
	}
	return nil
}

// corruptionNames expands the groups in Corruptions (corrupt.Expand) and
// checks the names; the result is sorted, without repeats.
func (s Spec) corruptionNames() ([]string, error) {
	out, err := corrupt.Expand(s.Corruptions)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", s.Name, err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// baseConfig is the training config every unit starts from: the preset or
// default recipe with the study's overrides applied.
func (s Spec) baseConfig() (train.Config, error) {
	c := train.DefaultConfig(s.Dataset, s.Model)
	if s.Preset != "" {
		p, err := train.Preset(s.Preset)
		if err != nil {
			return c, fmt.Errorf("study %s: %w", s.Name, err)
		}
		c = p
		c.Dataset, c.Model = s.Dataset, s.Model
	}
	if err := applyRecipe(&c, s.Recipe); err != nil {
		return c, fmt.Errorf("study %s: recipe: %w", s.Name, err)
	}
	return c, nil
}

// variant is one objective of the study with resolved hyperparameters,
// and the input regularizer it trains with, if any.
type variant struct {
	Name   string
	Params map[string]float64 // every hyperparameter, defaults filled in
	Input  *InputSpec
}

// Label is "name" or "name key=value ..." with the swept and given keys.
func (v variant) hyper() string {
	keys := make([]string, 0, len(v.Params))
	for k := range v.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(v.Params[k], 'g', -1, 64))
	}
	if v.Input != nil {
		parts = append(parts, "input="+v.Input.Name) // always last
	}
	return strings.Join(parts, " ")
}

// variants expands sweeps into one variant per combination, each with its
// hyperparameters resolved by the objective registry (so an explicit
// default and an omitted one are the same variant), then adds one variant
// per input and objective variant it applies to.
func (s Spec) variants() ([]variant, error) {
	var out []variant
	seen := map[string]bool{}
	for _, o := range s.Objectives {
		keys := make([]string, 0, len(o.Sweep))
		for k := range o.Sweep {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		combos := []map[string]float64{{}}
		for _, k := range keys {
			var next []map[string]float64
			for _, c := range combos {
				for _, v := range o.Sweep[k] {
					m := map[string]float64{k: v}
					for kk, vv := range c {
						m[kk] = vv
					}
					next = append(next, m)
				}
			}
			combos = next
		}
		for _, c := range combos {
			p := map[string]float64{}
			for k, v := range o.Params {
				p[k] = v
			}
			for k, v := range c {
				p[k] = v
			}
			obj, err := objective.New(o.Name, p)
			if err != nil {
				return nil, fmt.Errorf("study %s: %w", s.Name, err)
			}
			v := variant{Name: o.Name, Params: obj.Hyperparams()}
			key := v.Name + "|" + v.hyper()
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, v)
		}
	}
	// The input variants follow the plain ones, so that adding an input
	// leaves the plain variants (and their units) as they were.
	plain := len(out)
	for i := range s.Inputs {
		in := &s.Inputs[i]
		for _, v := range out[:plain] {
			if len(in.Objectives) == 0 || slices.Contains(in.Objectives, v.Name) {
				out = append(out, variant{Name: v.Name, Params: v.Params, Input: in})
			}
		}
	}
	return out, nil
}
