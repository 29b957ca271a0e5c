package objective

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Role says how an objective acts, which decides how it may be stacked.
type Role int

const (
	// BaseLoss is a loss on the logits (softmax, label_smoothing, sigmoid,
	// logit_normalization, squared_error). A stack has at most one; softmax
	// cross-entropy is implied when it has none.
	BaseLoss Role = iota
	// LogitTerm adds a term to the base loss (logit_penalty).
	LogitTerm
	// HeadChange changes the model's head (dropout, cosine_softmax).
	HeadChange
	// WeightPenalty penalises weights after Backward (extra_final_layer_l2).
	WeightPenalty
)

func (r Role) String() string {
	return [...]string{"base loss", "logit term", "head change", "weight penalty"}[r]
}

// Info describes a registered objective.
type Info struct {
	Name    string
	Role    Role
	Formula string             // the per-example loss (docs/definitions.md#objectives)
	Default map[string]float64 // every valid hyperparameter key with its default
}

// Keys returns the valid hyperparameter keys, sorted.
func (i Info) Keys() []string {
	keys := make([]string, 0, len(i.Default))
	for k := range i.Default {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type paramRule struct {
	key  string
	def  float64
	want string // the valid range, for error messages
	ok   func(v float64) bool
}

type entry struct {
	name    string
	role    Role
	formula string
	params  []paramRule
	// check validates relations between hyperparameters, after each is in range.
	check func(p map[string]float64) error
	build func(p map[string]float64) Objective
}

func isBool(v float64) bool        { return v == 0 || v == 1 }
func isPositive(v float64) bool    { return v > 0 }
func isNonNegative(v float64) bool { return v >= 0 }

var registry = []entry{
	{
		name: "softmax", role: BaseLoss,
		formula: "CE(z, t) = −log softmax(z)_y",
		build:   func(map[string]float64) Objective { return Softmax{} },
	},
	{
		name: "label_smoothing", role: BaseLoss,
		formula: "c·CE(z, (1−α)t + α/K), c = 1/(1−α) if rescale else 1",
		params: []paramRule{
			{"alpha", 0.1, "in [0, 1] (below 1 when rescale = 1)", func(v float64) bool { return v >= 0 && v <= 1 }},
			{"rescale", 1, "0 or 1", isBool},
		},
		check: func(p map[string]float64) error {
			if p["rescale"] == 1 && p["alpha"] >= 1 {
				return fmt.Errorf("alpha = %g with rescale = 1 divides by 1−α = 0; want alpha < 1", p["alpha"])
			}
			return nil
		},
		build: func(p map[string]float64) Objective {
			return LabelSmoothing{Alpha: p["alpha"], Rescale: p["rescale"] == 1}
		},
	},
	{
		name: "sigmoid", role: BaseLoss,
		formula: "Σ_k BCE(σ(z_k − o), t_k), o = log K if offset else 0",
		params:  []paramRule{{"offset", 1, "0 or 1", isBool}},
		build:   func(p map[string]float64) Objective { return Sigmoid{Offset: p["offset"] == 1} },
	},
	{
		name: "extra_final_layer_l2", role: WeightPenalty,
		formula: "CE(z, t) + λ‖W‖²/2 on the final-layer kernel W",
		params:  []paramRule{{"lambda", 8e-4, ">= 0", isNonNegative}},
		build:   func(p map[string]float64) Objective { return ExtraFinalLayerL2{Lambda: p["lambda"]} },
	},
	{
		name: "dropout", role: HeadChange,
		formula: "CE(z, t) with inverted dropout (keep probability p) on the penultimate features",
		params:  []paramRule{{"keep_prob", 0.7, "in (0, 1]", func(v float64) bool { return v > 0 && v <= 1 }}},
		build:   func(p map[string]float64) Objective { return Dropout{KeepProb: p["keep_prob"]} },
	},
	{
		name: "logit_penalty", role: LogitTerm,
		formula: "CE(z, t) + β‖z‖²/2",
		params:  []paramRule{{"beta", 6e-4, ">= 0", isNonNegative}},
		build:   func(p map[string]float64) Objective { return LogitPenalty{Beta: p["beta"]} },
	},
	{
		name: "logit_normalization", role: BaseLoss,
		formula: "CE(z/(τ·max(‖z‖, 1e-6)), t)",
		params:  []paramRule{{"tau", 0.04, "> 0", isPositive}},
		build:   func(p map[string]float64) Objective { return LogitNormalization{Tau: p["tau"]} },
	},
	{
		name: "cosine_softmax", role: HeadChange,
		formula: "CE(z, t), z_k = (x̂·ŵ_k)/τ + b_k (x̂ = x if normalize_features = 0)",
		params: []paramRule{
			{"tau", 0.05, "> 0", isPositive},
			{"normalize_features", 1, "0 or 1", isBool},
		},
		build: func(p map[string]float64) Objective {
			return CosineSoftmax{Tau: p["tau"], NormalizeFeatures: p["normalize_features"] == 1}
		},
	},
	{
		name: "squared_error", role: BaseLoss,
		formula: "s·[κ(z_y − M)² + Σ_{k≠y} z_k²]",
		params: []paramRule{
			{"kappa", 9, "> 0", isPositive},
			{"target", 60, "finite", func(float64) bool { return true }},
			{"scale", 10, "> 0", isPositive},
		},
		build: func(p map[string]float64) Objective {
			return SquaredError{Kappa: p["kappa"], Target: p["target"], Scale: p["scale"]}
		},
	},
}

func lookup(name string) (*entry, error) {
	for i := range registry {
		if registry[i].name == name {
			return &registry[i], nil
		}
	}
	return nil, fmt.Errorf("objective: unknown objective %q; valid names: %s", name, strings.Join(Names(), ", "))
}

// Names lists the registered objectives in the order of the study's table.
func Names() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.name
	}
	return names
}

// Describe returns the role, formula and default hyperparameters of a
// registered objective.
func Describe(name string) (Info, error) {
	e, err := lookup(name)
	if err != nil {
		return Info{}, err
	}
	def := make(map[string]float64, len(e.params))
	for _, r := range e.params {
		def[r.key] = r.def
	}
	return Info{Name: e.name, Role: e.role, Formula: e.formula, Default: def}, nil
}

func (e *entry) keys() []string {
	keys := make([]string, len(e.params))
	for i, r := range e.params {
		keys[i] = r.key
	}
	return keys
}

// UnknownHyperparameterError is the error of New for a hyperparameter key
// that the objective does not accept (for a stack: that no part accepts, or
// that the part it is qualified with does not). Its message lists the valid
// keys.
type UnknownHyperparameterError struct {
	// Objective is the objective the key was given to: a registered name,
	// or the "+"-joined stack for a plain key that no part accepts.
	Objective string
	// Key is the unknown key, without its part qualifier.
	Key string
	// Valid lists the keys Objective accepts, in registry order; for a
	// stack, each qualified by its part ("label_smoothing.alpha").
	Valid []string

	stack bool // Objective is a stack: Valid are qualified keys
}

func (e *UnknownHyperparameterError) Error() string {
	if e.stack {
		list := "none"
		if len(e.Valid) > 0 {
			keys := make([]string, len(e.Valid))
			for i, q := range e.Valid {
				part, key, _ := strings.Cut(q, ".")
				keys[i] = key + " (" + part + ")"
			}
			list = strings.Join(keys, ", ")
		}
		return fmt.Sprintf("objective %s: unknown hyperparameter %q; valid keys: %s", e.Objective, e.Key, list)
	}
	if len(e.Valid) == 0 {
		return fmt.Sprintf("objective %s: unknown hyperparameter %q; %s takes no hyperparameters", e.Objective, e.Key, e.Objective)
	}
	return fmt.Sprintf("objective %s: unknown hyperparameter %q; valid keys for %s: %s", e.Objective, e.Key, e.Objective, strings.Join(e.Valid, ", "))
}

// unknownKey is the error for a key that e does not accept.
func (e *entry) unknownKey(key string) error {
	return &UnknownHyperparameterError{Objective: e.name, Key: key, Valid: e.keys()}
}

func (e *entry) hasKey(key string) bool {
	for _, r := range e.params {
		if r.key == key {
			return true
		}
	}
	return false
}

// resolve fills in defaults and range-checks the given hyperparameters,
// which must all be keys of e.
func (e *entry) resolve(given map[string]float64) (map[string]float64, error) {
	p := make(map[string]float64, len(e.params))
	for _, r := range e.params {
		p[r.key] = r.def
	}
	for _, key := range sortedKeys(given) {
		if !e.hasKey(key) {
			return nil, e.unknownKey(key)
		}
		p[key] = given[key]
	}
	for _, r := range e.params {
		v := p[r.key]
		if math.IsNaN(v) || math.IsInf(v, 0) || !r.ok(v) {
			return nil, fmt.Errorf("objective %s: hyperparameter %s = %g, want %s", e.name, r.key, v, r.want)
		}
	}
	if e.check != nil {
		if err := e.check(p); err != nil {
			return nil, fmt.Errorf("objective %s: %v", e.name, err)
		}
	}
	return p, nil
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// New builds an objective from its name and hyperparameters; keys missing
// from params take the defaults (Describe). The name may be a stack of
// registered names joined by "+", e.g. "label_smoothing+dropout+logit_penalty",
// which is built part by part and then combined by Compose (see there for the
// rules). In a stack, a key may be given plainly ("alpha") when exactly one
// part accepts it, or qualified by the part's name ("label_smoothing.alpha").
// Unknown names, unknown keys and out-of-range values are errors that list
// what is valid; an unknown key is an *UnknownHyperparameterError.
func New(name string, params map[string]float64) (Objective, error) {
	names := strings.Split(name, "+")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
		if names[i] == "" {
			return nil, fmt.Errorf("objective: empty part in %q; write names joined by \"+\", e.g. \"label_smoothing+dropout\"", name)
		}
	}
	entries := make([]*entry, len(names))
	for i, n := range names {
		if slices.Index(names, n) != i {
			return nil, fmt.Errorf("objective: %q appears twice in %q", n, name)
		}
		e, err := lookup(n)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	given := make([]map[string]float64, len(entries))
	for i := range given {
		given[i] = map[string]float64{}
	}
	for _, key := range sortedKeys(params) {
		i, plain, err := assignKey(key, names, entries)
		if err != nil {
			return nil, err
		}
		given[i][plain] = params[key]
	}
	parts := make([]Objective, len(entries))
	for i, e := range entries {
		p, err := e.resolve(given[i])
		if err != nil {
			return nil, err
		}
		parts[i] = e.build(p)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return Compose(parts...)
}

// assignKey finds which part of a stack a hyperparameter key belongs to.
func assignKey(key string, names []string, entries []*entry) (part int, plain string, err error) {
	if len(entries) == 1 {
		if q, k, ok := strings.Cut(key, "."); ok && q == names[0] {
			key = k
		}
		return 0, key, nil // resolve reports unknown keys with the valid ones
	}
	if q, k, ok := strings.Cut(key, "."); ok {
		for i, n := range names {
			if n == q {
				if !entries[i].hasKey(k) {
					return 0, "", entries[i].unknownKey(k)
				}
				return i, k, nil
			}
		}
		return 0, "", fmt.Errorf("objective %s: hyperparameter %q names %q, which is not in the stack", strings.Join(names, "+"), key, q)
	}
	var owners []int
	for i, e := range entries {
		if e.hasKey(key) {
			owners = append(owners, i)
		}
	}
	switch len(owners) {
	case 1:
		return owners[0], key, nil
	case 0:
		var valid []string
		for i, e := range entries {
			for _, k := range e.keys() {
				valid = append(valid, names[i]+"."+k)
			}
		}
		return 0, "", &UnknownHyperparameterError{Objective: strings.Join(names, "+"), Key: key, Valid: valid, stack: true}
	default:
		return 0, "", fmt.Errorf("objective %s: hyperparameter %q is accepted by %s and %s; qualify it, e.g. %q",
			strings.Join(names, "+"), key, names[owners[0]], names[owners[1]], names[owners[0]]+"."+key)
	}
}
