package report

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/losslab/losslab/objective"
)

// Display labels. Every table and figure names a variant by a short label
// ("cosine τ=0.03") instead of its grouping key ("cosine_softmax
// (normalize_features=1 tau=0.03)"): a key that wraps every table row and
// collides in figures hides the numbers it labels. Labels are for display
// only; grouping, statistics and the study's caching use the key.

// objectiveNames are the objectives' display names; an unknown objective
// shows its name with underscores as spaces.
var objectiveNames = map[string]string{
	"softmax":              "softmax",
	"label_smoothing":      "label smoothing",
	"sigmoid":              "sigmoid",
	"extra_final_layer_l2": "final-layer L2",
	"dropout":              "dropout",
	"logit_penalty":        "logit penalty",
	"logit_normalization":  "logit norm.",
	"cosine_softmax":       "cosine",
	"squared_error":        "squared error",
}

// paramSymbols are the hyperparameters' symbols in docs/definitions.md, in
// the order a label lists them (a label reads "κ=5 M=1 s=0.05" as the
// formula does, not alphabetically).
var paramSymbols = []struct{ key, symbol string }{
	{"alpha", "α"}, {"tau", "τ"}, {"kappa", "κ"}, {"target", "M"}, {"scale", "s"},
	{"lambda", "λ"}, {"beta", "β"}, {"keep_prob", "p"}, {"offset", "offset"},
	{"rescale", "rescale"}, {"normalize_features", "normalized"},
}

func objectiveName(o string) string {
	parts := strings.Split(o, "+")
	for i, p := range parts {
		if n, ok := objectiveNames[p]; ok {
			parts[i] = n
		} else {
			parts[i] = strings.ReplaceAll(p, "_", " ")
		}
	}
	return strings.Join(parts, " + ")
}

// paramSymbol is the symbol of a hyperparameter key; a stack part's
// qualifier is dropped ("label_smoothing.alpha" → "α"): the parts' keys
// rarely clash, and labels that would collide fall back to the full key.
func paramSymbol(key string) string {
	if _, k, ok := strings.Cut(key, "."); ok {
		key = k
	}
	for _, p := range paramSymbols {
		if p.key == key {
			return p.symbol
		}
	}
	return key
}

func paramRank(key string) int {
	_, k, ok := strings.Cut(key, ".")
	if !ok {
		k = key
	}
	for i, p := range paramSymbols {
		if p.key == k {
			return i
		}
	}
	return len(paramSymbols)
}

// registryDefault is the default of key (plain or qualified by a stack
// part) for objective o, and whether the registry knows one.
func registryDefault(o, key string) (float64, bool) {
	parts := strings.Split(o, "+")
	if q, k, ok := strings.Cut(key, "."); ok {
		parts, key = []string{q}, k
	}
	for _, p := range parts {
		info, err := objective.Describe(p)
		if err != nil {
			continue
		}
		if d, ok := info.Default[key]; ok {
			return d, true
		}
	}
	return 0, false
}

type kv struct{ key, val string }

func parseHyper(h string) []kv {
	var out []kv
	for _, f := range strings.Fields(h) {
		k, v, _ := strings.Cut(f, "=")
		out = append(out, kv{k, v})
	}
	return out
}

func sameValue(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y))
}

// variantLabels gives each variant (objective, hyperparameters) a short
// label: the objective's display name, then only the hyperparameters that
// differ from the registry's default or between the variants of the same
// objective, then "+ NAME" for an input regularizer. Labels that would
// still collide fall back to the full key, so a label always names one
// variant.
func variantLabels(variants []string, obj, hyper map[string]string) map[string]string {
	// Per objective, every key's values over its variants.
	values := map[string]map[string][]string{}
	for _, v := range variants {
		plain, _ := SplitInput(hyper[v])
		o := obj[v]
		if values[o] == nil {
			values[o] = map[string][]string{}
		}
		for _, p := range parseHyper(plain) {
			values[o][p.key] = append(values[o][p.key], p.val)
		}
	}
	count := map[string]int{}
	for _, v := range variants {
		count[obj[v]]++
	}
	varies := func(o, key string) bool {
		vs := values[o][key]
		if len(vs) < count[o] {
			return true // absent from some variant
		}
		for _, x := range vs[1:] {
			if !sameValue(x, vs[0]) {
				return true
			}
		}
		return false
	}
	out := map[string]string{}
	for _, v := range variants {
		o, ok := obj[v]
		if !ok {
			out[v] = v
			continue
		}
		plain, input := SplitInput(hyper[v])
		ps := parseHyper(plain)
		slices.SortStableFunc(ps, func(a, b kv) int { return paramRank(a.key) - paramRank(b.key) })
		var shown []string
		for _, p := range ps {
			d, known := registryDefault(o, p.key)
			if !known || !sameValue(p.val, strconv.FormatFloat(d, 'g', -1, 64)) || varies(o, p.key) {
				shown = append(shown, paramSymbol(p.key)+"="+p.val)
			}
		}
		l := objectiveName(o)
		if len(shown) > 0 {
			l += " " + strings.Join(shown, " ")
		}
		if input != "" {
			l += " + " + input
		}
		out[v] = l
	}
	seen := map[string]int{}
	for _, v := range variants {
		seen[out[v]]++
	}
	for _, v := range variants {
		if seen[out[v]] > 1 {
			out[v] = v
		}
	}
	return out
}

// label is variant v's display label.
func (b *builder) label(v string) string {
	if l, ok := b.labels[v]; ok {
		return l
	}
	return v
}

// relabel replaces every variant key in s by its label, longest key first
// so that "cosine_softmax" is not read as "softmax".
func (b *builder) relabel(s string) string {
	keys := make([]string, 0, len(b.labels))
	for k, l := range b.labels {
		if k != l {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y string) int { return len(y) - len(x) })
	var args []string
	for _, k := range keys {
		args = append(args, k, b.labels[k])
	}
	if len(args) == 0 {
		return s
	}
	return strings.NewReplacer(args...).Replace(s)
}
