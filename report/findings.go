package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/losslab/losslab/objective"
)

// Verdicts of a finding. Every tested claim gets one of the first three;
// NotTested means the study lacks the results the claim needs.
const (
	Supported    = "supported"
	Contradicted = "contradicted"
	NotResolved  = "not resolved"
	NotTested    = "not tested"
)

// Alpha is the significance level of every verdict rule
// (docs/definitions.md#verdict-rules).
const Alpha = 0.05

// Finding is the verdict on one of the paper's claims (docs/definitions.md,
// "The claims the study tests"), with the pre-declared rule that decided
// it, every test the rule used, and the numbers in words.
type Finding struct {
	Claim   int
	Title   string
	Verdict string
	Rule    string
	Detail  string
	Tests   []TestRow
}

// TestRow is one test behind a verdict.
type TestRow struct {
	Test     string  // what is compared
	Estimate string  // the effect with its standard error, in the metric's units
	N        int     // independent units: seeds (pairs), objectives or runs
	Stat     string  // the statistic and how its p-value was found
	P        float64 // two-sided p-value
	PAdj     float64 // after the correction the rule names; P where none
	Reading  string  // at α, after correction: as claimed, opposite, not significant
}

// Readings of a test row.
const (
	readAsClaimed = "significant, as claimed"
	readOpposite  = "significant, opposite to the claim"
	readNS        = "not significant"
	readUndefined = "undefined"
	readInfo      = "not in the rule"
)

func f3s(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// pEq is "p = 0.023", "p < 0.001" or "p n/a".
func pEq(p float64) string {
	switch {
	case math.IsNaN(p):
		return "p n/a"
	case p < 0.001:
		return "p < 0.001"
	}
	return "p = " + formatP(p)
}

func fp(p float64) string {
	if math.IsNaN(p) {
		return "n/a"
	}
	return formatP(p)
}

// evidence holds what the claims are tested on: per-seed values of every
// variant and the one variant per objective that cross-objective tests use.
type evidence struct {
	b     *builder
	alpha float64
	ref   string
	seeds map[string]map[string]map[uint64]float64 // variant → metric → seed → value
	obj   map[string]string                        // variant → objective
	hyper map[string]string                        // variant → hyperparameters
	// perObj is one variant per objective, the reference's first (see
	// perObjective); variants with an input regularizer are never in it.
	perObj []string
}

// InputKey is the hyperparameter key that names a run's input regularizer
// (mixup, AutoAugment, ...) in a Hyper string: the plain variant's
// hyperparameters followed by " input=NAME", or "input=NAME" alone when the
// plain variant has none. The Objective is the plain variant's.
const InputKey = "input"

// SplitInput splits a Hyper string into the plain variant's
// hyperparameters and the name of the input regularizer: "alpha=0.1
// rescale=1 input=mixup" gives ("alpha=0.1 rescale=1", "mixup"),
// "input=autoaugment" gives ("", "autoaugment"). Without an input token
// (it is always the last) it returns (hyper, "").
func SplitInput(hyper string) (plain, input string) {
	rest, last := "", hyper
	if i := strings.LastIndexByte(hyper, ' '); i >= 0 {
		rest, last = hyper[:i], hyper[i+1:]
	}
	if name, ok := strings.CutPrefix(last, InputKey+"="); ok && name != "" {
		return rest, name
	}
	return hyper, ""
}

// inputOf is the name of variant v's input regularizer, "" for a plain
// variant.
func (e *evidence) inputOf(v string) string {
	_, in := SplitInput(e.hyper[v])
	return in
}

// plainOf is the label of v's plain counterpart (v itself when plain).
func (e *evidence) plainOf(v string) string {
	plain, in := SplitInput(e.hyper[v])
	if in == "" {
		return v
	}
	return VariantLabel(e.obj[v], plain)
}

// Findings tests the five claims against the results by the rules of
// docs/definitions.md#verdict-rules, at level Alpha.
func (b *builder) Findings() []Finding {
	e := newEvidence(b, Alpha)
	return []Finding{e.claim1(), e.claim2(), e.claim3(), e.claim4(), e.claim5()}
}

func newEvidence(b *builder, alpha float64) *evidence {
	e := &evidence{b: b, alpha: alpha, ref: b.reference(), seeds: map[string]map[string]map[uint64]float64{}, obj: map[string]string{}, hyper: map[string]string{}}
	for _, m := range b.an.Models {
		e.obj[m.Variant()], e.hyper[m.Variant()] = m.Objective, m.Hyper
	}
	for _, r := range b.rows {
		if r.Seed == 0 {
			continue
		}
		v := r.Variant()
		e.obj[v], e.hyper[v] = r.Objective, r.Hyper
		if e.seeds[v] == nil {
			e.seeds[v] = map[string]map[uint64]float64{}
		}
		if e.seeds[v][r.Metric] == nil {
			e.seeds[v][r.Metric] = map[uint64]float64{}
		}
		e.seeds[v][r.Metric][r.Seed] = r.Value
	}
	// The reference is a plain variant: were it named with an input
	// regularizer, its plain counterpart takes its place.
	e.ref = e.plainOf(e.ref)
	e.perObj = e.perObjective()
	return e
}

// vals returns variant v's values of metric by seed.
func (e *evidence) vals(v, metric string) map[uint64]float64 { return e.seeds[v][metric] }

func (e *evidence) has(v, metric string) bool { return len(e.seeds[v][metric]) > 0 }

// mean is the mean over seeds of v's metric.
func (e *evidence) mean(v, metric string) float64 {
	m, _ := MeanSEM(seedValues(e.vals(v, metric)))
	return m
}

// perObjective picks one variant per objective, so that an objective
// swept over a hyperparameter counts once in tests across objectives (see
// pick). Variants with an input regularizer are left out: they are
// compared with their plain counterparts in claim 2 only. The reference
// comes first, the others in plan order.
func (e *evidence) perObjective() []string {
	var order []string
	cands := map[string][]string{}
	for _, v := range e.b.variants {
		o, ok := e.obj[v]
		if !ok || e.inputOf(v) != "" {
			continue
		}
		if _, seen := cands[o]; !seen {
			order = append(order, o)
		}
		cands[o] = append(cands[o], v)
	}
	var out []string
	for _, o := range order {
		out = append(out, e.pick(o, cands[o]))
	}
	if i := slices.Index(out, e.ref); i > 0 {
		out = append([]string{e.ref}, slices.Delete(out, i, i+1)...)
	}
	return out
}

// pick chooses one of objective o's variants cs (in plan order): the
// reference itself for its objective; otherwise the only variant; among
// several, the one whose hyperparameters are the objective's registry
// defaults (objective.Describe); failing that, the one with the most
// seeds, the first in plan order on a tie.
func (e *evidence) pick(o string, cs []string) string {
	switch {
	case o == e.obj[e.ref] && slices.Contains(cs, e.ref):
		return e.ref
	case len(cs) == 1:
		return cs[0]
	}
	for _, v := range cs {
		if isRegistryDefault(o, e.hyper[v]) {
			return v
		}
	}
	pick, best := "", -1
	for _, v := range cs {
		if n := len(e.seeds[v]["test_top1"]); n > best {
			pick, best = v, n
		}
	}
	return pick
}

// isRegistryDefault reports whether every hyperparameter in hyper
// ("key=value ...") has the registered objective's default value.
func isRegistryDefault(obj, hyper string) bool {
	info, err := objective.Describe(obj)
	if err != nil {
		return false
	}
	for _, kv := range strings.Fields(hyper) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		x, err := strconv.ParseFloat(val, 64)
		d, known := info.Default[k]
		if err != nil || !known || math.Abs(x-d) > 1e-9*math.Max(1, math.Abs(d)) {
			return false
		}
	}
	return true
}

// others returns the per-objective variants other than the reference.
func (e *evidence) others() []string {
	var out []string
	for _, v := range e.perObj {
		if v != e.ref {
			out = append(out, v)
		}
	}
	return out
}

// reading classifies a test at level a: want is the sign the claim
// predicts (+1 or −1), est the estimate.
func reading(p, est float64, want int, a float64) string {
	switch {
	case math.IsNaN(p):
		return readUndefined
	case p >= a:
		return readNS
	case float64(want)*est > 0:
		return readAsClaimed
	case float64(want)*est < 0:
		return readOpposite
	}
	return readNS
}

func sigDir(p, est float64, want int, a float64) bool {
	return !math.IsNaN(p) && p < a && float64(want)*est > 0
}

// tRow formats a t-test of a difference (scaled for display, e.g. 100 for
// points of accuracy).
func tRow(name string, t TTest, scale float64, digits int, unit string, padj float64, want int, a float64) TestRow {
	est := "n/a"
	if !math.IsNaN(t.Diff) {
		est = fmt.Sprintf("%+.*f", digits, scale*t.Diff)
		if !math.IsNaN(t.SE) {
			est += fmt.Sprintf(" ± %.*f", digits, scale*t.SE)
		}
		est += unit
	}
	kind := "paired t"
	if !t.Paired {
		kind = "Welch t"
	}
	st := kind + " undefined"
	if !math.IsNaN(t.T) {
		st = fmt.Sprintf("%s(%s) = %.2f", kind, strconv.FormatFloat(t.DF, 'g', 3, 64), t.T)
	}
	r := want
	if r == 0 {
		r = 1
	}
	row := TestRow{Test: name, Estimate: est, N: t.N, Stat: st, P: t.P, PAdj: padj, Reading: reading(padj, t.Diff, r, a)}
	if want == 0 {
		row.Reading = readInfo
	}
	return row
}

// cRow formats a permutation correlation.
func cRow(name string, c Correlation, padj float64, want int, a float64) TestRow {
	how := "no test"
	if !math.IsNaN(c.P) {
		if c.Exact {
			how = fmt.Sprintf("permutation, exact (%d)", c.Perms)
		} else {
			how = fmt.Sprintf("permutation, %d random (seed %d)", c.Perms, PermutationSeed)
		}
	}
	row := TestRow{Test: name, Estimate: "r = " + signed3(c.R), N: c.N, Stat: how, P: c.P, PAdj: padj, Reading: reading(padj, c.R, want, a)}
	if want == 0 {
		row.Reading = readInfo
	}
	return row
}

func signed3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%+.3f", v)
}

// ---------------------------------------------------------------- claim 1

// claim1: several objectives beat the reference on top-1, and none wins on
// every output metric.
func (e *evidence) claim1() Finding {
	a := e.alpha
	f := Finding{Claim: 1, Title: "Several objectives beat softmax on accuracy, but none wins everywhere"}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests. Top-1 of each objective (one variant per objective) against %s: paired t-test over shared seeds (Welch's test where fewer than two seeds are shared), Holm-corrected over the m objectives. An objective wins everywhere when, on each of top-1, ECE and mean corrupted accuracy (those measured), it is significantly better than every other objective (paired tests, Holm over its comparisons, at α/2). Supported: at least two objectives significantly above %s on top-1 (Holm p < α) and none wins everywhere. Contradicted (each condition at α/2, Bonferroni over the claim's two parts): an objective wins everywhere, or all but at most one of the m objectives are significantly below %s on top-1. Otherwise not resolved.",
		a, e.ref, e.ref, e.ref)
	var vs []string
	for _, v := range e.others() {
		if e.has(v, "test_top1") {
			vs = append(vs, v)
		}
	}
	if !e.has(e.ref, "test_top1") || len(vs) < 2 {
		f.Verdict, f.Detail = NotTested, fmt.Sprintf("Needs test top-1 of %s and of at least two other objectives.", e.ref)
		return f
	}
	tests := make([]TTest, len(vs))
	ps := make([]float64, len(vs))
	for i, v := range vs {
		tests[i] = Compare(e.vals(v, "test_top1"), e.vals(e.ref, "test_top1"))
		ps[i] = tests[i].P
	}
	adj := Holm(ps)
	var better, worse []string
	for i, v := range vs {
		f.Tests = append(f.Tests, tRow("top-1: "+v+" − "+e.ref, tests[i], 100, 2, " points", adj[i], +1, a))
		if sigDir(adj[i], tests[i].Diff, +1, a) {
			better = append(better, v)
		}
		if sigDir(adj[i], tests[i].Diff, -1, a/2) {
			worse = append(worse, v)
		}
	}
	// Does one objective win everywhere?
	type metric struct {
		name string
		sign float64 // +1: higher is better
	}
	var ms []metric
	for _, m := range []metric{{"test_top1", 1}, {"test_ece", -1}, {"corrupted_mean_accuracy", 1}} {
		for _, v := range e.perObj {
			if e.has(v, m.name) {
				ms = append(ms, m)
				break
			}
		}
	}
	winner := ""
	var winnerRows []TestRow
	closest, closestP := "", math.Inf(1)
	for _, x := range e.perObj {
		var ps []float64
		var ts []TTest
		var names []string
		for _, m := range ms {
			for _, y := range e.perObj {
				if y == x {
					continue
				}
				t := Compare(e.vals(x, m.name), e.vals(y, m.name))
				t.Diff *= m.sign
				ts, ps = append(ts, t), append(ps, t.P)
				names = append(names, fmt.Sprintf("%s: %s vs %s", m.name, x, y))
			}
		}
		adjX := Holm(ps)
		all, worst := len(ts) > 0, 0.0
		for i, t := range ts {
			if !sigDir(adjX[i], t.Diff, +1, a/2) {
				all = false
			}
			if math.IsNaN(adjX[i]) || t.Diff <= 0 {
				worst = math.Inf(1)
			} else {
				worst = math.Max(worst, adjX[i])
			}
		}
		if worst < closestP {
			closest, closestP = x, worst
		}
		if all && winner == "" {
			winner = x
			for i, t := range ts {
				winnerRows = append(winnerRows, tRow(names[i]+" (oriented: + = better)", t, 1, 4, "", adjX[i], +1, a/2))
			}
		}
	}
	f.Tests = append(f.Tests, winnerRows...)
	m := len(vs)
	var msNames []string
	for _, x := range ms {
		msNames = append(msNames, x.name)
	}
	list := func(names []string) string {
		if len(names) == 0 {
			return ""
		}
		return " (" + strings.Join(names, ", ") + ")"
	}
	f.Detail = fmt.Sprintf("%d of %d objectives significantly above %s on top-1 (%s%%)%s; %d significantly below%s. ",
		len(better), m, e.ref, pct(e.mean(e.ref, "test_top1")), list(better), len(worse), list(worse))
	if winner != "" {
		f.Detail += fmt.Sprintf("%s is significantly better than every other objective on %s.", winner, strings.Join(msNames, ", "))
	} else if closest != "" && !math.IsInf(closestP, 1) {
		f.Detail += fmt.Sprintf("No objective wins everywhere (%s); the closest, %s, is ahead of every other on every metric but its weakest lead has Holm p = %s.", strings.Join(msNames, ", "), closest, fp(closestP))
	} else {
		f.Detail += fmt.Sprintf("No objective is ahead of every other on every metric (%s).", strings.Join(msNames, ", "))
	}
	switch {
	case winner != "" || len(worse) >= m-1:
		f.Verdict = Contradicted
	case len(better) >= 2:
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

// ---------------------------------------------------------------- claim 2

// claim2: models of different objectives disagree more than models of the
// same objective, and combining objectives does not help: mixed-objective
// ensembles are not more accurate than same-objective ones, and a stack of
// objectives is not more accurate than its best component; input
// regularizers (mixup, AutoAugment) improve accuracy on top of any
// objective. A study with neither stacked objectives nor input
// regularizers gets the two-part rule (disagreement, ensembles) alone.
func (e *evidence) claim2() Finding {
	a := e.alpha
	stacks, unStacked, hasStacks := e.stackTests()
	inputs, unInputs, hasInputs := e.inputTests()
	if !hasStacks && !hasInputs {
		return e.claim2Predictions()
	}
	f := Finding{Claim: 2, Title: "Objectives make different predictions; combining objectives does not help; input regularizers add accuracy"}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests; one variant per objective, without input regularizer, unless said otherwise. Parts, each tested where the study has what it needs: "+
		"(disagreement) for each objective v with at least two seeds in the predictions analysis: W_v, the mean over pairs of its own models (different seeds) of the test disagreement, and A_v, the mean over pairs of one of its models and a model of another objective with a different seed; paired t-test over objectives of A − W. "+
		"(ensembles) likewise for the accuracy of two-model ensembles, same-objective E_same,v and mixed E_mixed,v; paired t-test over objectives of E_mixed − E_same. "+
		"(stacked) for each stacked objective (parts joined by \"+\"), test top-1 against the plain variant of each component (the component's registry-default variant, or its only variant); the best component is the one with the highest mean top-1; paired t-test by seed of stacked − best component (Welch's test where fewer than two seeds are shared), Holm over the stacked objectives. "+
		"(input) for each input regularizer and each objective with both a variant with it and that variant without it (one variant per objective), the top-1 gain with − without, paired by seed; per regularizer, a one-sample t-test over objectives of their mean gains (with one objective, its paired test by seed). "+
		"Supported: A − W significantly > 0 (p < α); E_mixed − E_same not significantly > 0; no stacked objective significantly above its best component (Holm p < α); and the gain significantly > 0 (p < α) for every input regularizer tested. Without the predictions analysis the claim is never supported. "+
		"Contradicted (each part at α/P, Bonferroni over the P parts tested): A − W significantly < 0, E_mixed − E_same significantly > 0, a stacked objective significantly above its best component (Holm), or a regularizer's gain significantly < 0 (Holm over regularizers). Otherwise not resolved.", a)
	pr := e.predictionParts()
	P := 0
	if pr.ok {
		P += 2
	}
	if len(stacks) > 0 {
		P++
	}
	if len(inputs) > 0 {
		P++
	}
	var detail []string
	if pr.ok {
		f.Tests = append(f.Tests, pr.rows(a)...)
		detail = append(detail, pr.detail())
	} else {
		why := strings.TrimSuffix(pr.why, ".")
		detail = append(detail, "Disagreement and ensembles: not tested by this study ("+strings.ToLower(why[:1])+why[1:]+").")
	}
	// (stacked)
	stackRev, stackAbove := false, false
	if len(stacks) > 0 {
		ps := make([]float64, len(stacks))
		for i, st := range stacks {
			ps[i] = st.t.P
		}
		adj := Holm(ps)
		var parts []string
		for i, st := range stacks {
			f.Tests = append(f.Tests, tRow("stacked top-1: "+st.v+" − best component "+st.best, st.t, 100, 2, " points", adj[i], -1, a))
			for j, c := range st.comps {
				if c != st.best {
					f.Tests = append(f.Tests, tRow("stacked top-1: "+st.v+" − component "+c, st.vs[j], 100, 2, " points", st.vs[j].P, 0, a))
				}
			}
			stackAbove = stackAbove || sigDir(adj[i], st.t.Diff, +1, a)
			stackRev = stackRev || sigDir(adj[i], st.t.Diff, +1, a/float64(P))
			parts = append(parts, fmt.Sprintf("%s %s%% vs %s %s%% (Holm p = %s)", st.v, pct(e.mean(st.v, "test_top1")), st.best, pct(e.mean(st.best, "test_top1")), fp(adj[i])))
		}
		d := "Stacked objectives, top-1 against their best single component: " + strings.Join(parts, "; ") + "."
		if len(unStacked) > 0 {
			d += " Not tested (a component has no plain variant to compare with): " + strings.Join(unStacked, ", ") + "."
		}
		detail = append(detail, d)
	} else {
		d := "Stacked objectives: not tested by this study"
		if len(unStacked) > 0 {
			d += " (a component of " + strings.Join(unStacked, ", ") + " has no plain variant to compare with: neither its registry defaults nor a single variant)"
		}
		detail = append(detail, d+".")
	}
	// (input)
	inAll, inRev := len(inputs) > 0, false
	if len(inputs) > 0 {
		ps := make([]float64, len(inputs))
		for i, in := range inputs {
			ps[i] = in.t.P
		}
		adj := Holm(ps)
		var parts []string
		for i, in := range inputs {
			name := fmt.Sprintf("input %s: top-1 gain with − without, mean over %d objectives", in.name, len(in.plain))
			if len(in.plain) == 1 {
				name = fmt.Sprintf("input %s: top-1 gain with − without on %s, paired by seed", in.name, in.plain[0])
			}
			f.Tests = append(f.Tests, tRow(name, in.t, 100, 2, " points", in.t.P, +1, a))
			if len(in.plain) > 1 {
				for j, v := range in.plain {
					f.Tests = append(f.Tests, tRow(fmt.Sprintf("input %s on %s: top-1 with − without", in.name, v), in.gains[j], 100, 2, " points", in.gains[j].P, 0, a))
				}
			}
			inAll = inAll && sigDir(in.t.P, in.t.Diff, +1, a)
			inRev = inRev || sigDir(adj[i], in.t.Diff, -1, a/float64(P))
			if len(in.plain) == 1 {
				parts = append(parts, fmt.Sprintf("%s %+.2f points on %s, paired by seed (%s)", in.name, 100*in.t.Diff, in.plain[0], pEq(in.t.P)))
				continue
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, g := range in.gains {
				lo, hi = math.Min(lo, g.Diff), math.Max(hi, g.Diff)
			}
			parts = append(parts, fmt.Sprintf("%s %+.2f points over %d objectives (%s; per objective %+.2f to %+.2f)", in.name, 100*in.t.Diff, len(in.plain), pEq(in.t.P), 100*lo, 100*hi))
		}
		d := "Input regularizers, top-1 gain over the same objective without them: " + strings.Join(parts, "; ") + "."
		if len(unInputs) > 0 {
			d += " Not tested (no objective has both variants): " + strings.Join(unInputs, ", ") + "."
		}
		detail = append(detail, d)
	} else {
		d := "Input regularizers: not tested by this study"
		if len(unInputs) > 0 {
			d += " (no objective has both a variant with " + strings.Join(unInputs, ", ") + " and that variant without it)"
		}
		detail = append(detail, d+".")
	}
	f.Detail = strings.Join(detail, " ")
	if P == 0 {
		f.Verdict = NotTested
		return f
	}
	bon := a / float64(P)
	switch {
	case pr.ok && (sigDir(pr.td.P, pr.td.Diff, -1, bon) || sigDir(pr.te.P, pr.te.Diff, +1, bon)), stackRev, inRev:
		f.Verdict = Contradicted
	case pr.ok && sigDir(pr.td.P, pr.td.Diff, +1, a) && !sigDir(pr.te.P, pr.te.Diff, +1, a) && !stackAbove && (len(inputs) == 0 || inAll):
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

// claim2Predictions is claim 2 for a study without stacked objectives or
// input regularizers: disagreement and mixed-objective ensembles.
func (e *evidence) claim2Predictions() Finding {
	a := e.alpha
	f := Finding{Claim: 2, Title: "Objectives make different predictions; mixing objectives in ensembles does not help"}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests; one variant per objective. For each objective v with at least two seeds: W_v, the mean over pairs of its own models (different seeds) of the test disagreement, and A_v, the mean over pairs of one of its models and a model of another objective with a different seed (so both kinds of pair differ in seed, and only A in objective); likewise for the accuracy of two-model ensembles (same-objective E_same,v, mixed E_mixed,v). Tests: paired t-tests over objectives of A − W and of E_mixed − E_same. Supported: A − W significantly > 0 (p < α) and E_mixed − E_same not significantly > 0. Contradicted (each at α/2, Bonferroni over the two parts): A − W significantly < 0, or E_mixed − E_same significantly > 0. Otherwise not resolved. Input regularizers (mixup, AutoAugment) are not tested.", a)
	pr := e.predictionParts()
	if !pr.ok {
		f.Verdict, f.Detail = NotTested, pr.why
		return f
	}
	f.Tests = pr.rows(a)
	f.Detail = pr.detail()
	td, te := pr.td, pr.te
	switch {
	case sigDir(td.P, td.Diff, -1, a/2) || sigDir(te.P, te.Diff, +1, a/2):
		f.Verdict = Contradicted
	case sigDir(td.P, td.Diff, +1, a) && !sigDir(te.P, te.Diff, +1, a):
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

// predParts holds claim 2's tests on the predictions analysis.
type predParts struct {
	ok               bool
	why              string // when not ok
	n                int    // objectives
	td, te           TTest  // A − W, E_mixed − E_same
	mW, mA, mES, mEM float64
}

func (p predParts) rows(a float64) []TestRow {
	return []TestRow{
		tRow("disagreement: across − within objective", p.td, 100, 3, " points", p.td.P, +1, a),
		tRow("pair-ensemble top-1: mixed − same objective", p.te, 100, 3, " points", p.te.P, -1, a),
	}
}

func (p predParts) detail() string {
	return fmt.Sprintf("Over %d objectives: disagreement %s%% within an objective, %s%% across objectives (different seeds); two-model ensembles %s%% same objective, %s%% mixed.",
		p.n, pct(p.mW), pct(p.mA), pct(p.mES), pct(p.mEM))
}

// predictionParts computes W, A, E_same and E_mixed per objective (one
// variant per objective) from the predictions analysis and tests A − W and
// E_mixed − E_same over objectives.
func (e *evidence) predictionParts() predParts {
	p := e.b.an.Predictions
	if p == nil {
		return predParts{why: "The predictions analysis did not run."}
	}
	sel := map[string]bool{}
	for _, v := range e.perObj {
		sel[v] = true
	}
	type acc struct{ ws, wn, as, an, es, en, ms, mn float64 }
	per := map[string]*acc{}
	for i, mi := range p.Models {
		vi := mi.Variant()
		if !sel[vi] {
			continue
		}
		for j, mj := range p.Models {
			vj := mj.Variant()
			if j == i || !sel[vj] || mi.Seed == mj.Seed || i >= len(p.Disagreement) || j >= len(p.Disagreement[i]) {
				continue
			}
			if per[vi] == nil {
				per[vi] = &acc{}
			}
			s := per[vi]
			d := p.Disagreement[i][j]
			en := math.NaN()
			if i < len(p.PairEnsemble) && j < len(p.PairEnsemble[i]) {
				en = p.PairEnsemble[i][j]
			}
			if vi == vj {
				s.ws, s.wn = s.ws+d, s.wn+1
				if !math.IsNaN(en) {
					s.es, s.en = s.es+en, s.en+1
				}
			} else {
				s.as, s.an = s.as+d, s.an+1
				if !math.IsNaN(en) {
					s.ms, s.mn = s.ms+en, s.mn+1
				}
			}
		}
	}
	var W, A, ES, EM []float64
	for _, v := range e.perObj {
		s := per[v]
		if s == nil || s.wn == 0 || s.an == 0 {
			continue
		}
		W, A = append(W, s.ws/s.wn), append(A, s.as/s.an)
		if s.en > 0 && s.mn > 0 {
			ES, EM = append(ES, s.es/s.en), append(EM, s.ms/s.mn)
		}
	}
	if len(W) < 2 {
		return predParts{why: "Needs at least two objectives with two or more seeds in the predictions analysis."}
	}
	r := predParts{ok: true, n: len(W), td: PairedT(A, W), te: PairedT(EM, ES)}
	r.mW, _ = MeanSEM(W)
	r.mA, _ = MeanSEM(A)
	r.mES, _ = MeanSEM(ES)
	r.mEM, _ = MeanSEM(EM)
	return r
}

// stackTest compares a stacked objective with its components.
type stackTest struct {
	v     string   // the stacked variant
	comps []string // each component's plain variant, in stack order
	vs    []TTest  // stacked − each component
	best  string   // the component with the highest mean top-1
	t     TTest    // stacked − best
}

// stackTests returns claim 2's stacked-objective comparisons: every
// stacked variant (objective with "+", no input regularizer) with test
// top-1 whose every component has a plain variant with test top-1, in
// plan order; the stacked variants left out because a component lacks
// one; and whether the study has any stacked variant with test top-1.
func (e *evidence) stackTests() (tested []stackTest, untested []string, any bool) {
	for _, v := range e.b.variants {
		o := e.obj[v]
		if !strings.Contains(o, "+") || e.inputOf(v) != "" || !e.has(v, "test_top1") {
			continue
		}
		any = true
		st := stackTest{v: v}
		for _, c := range strings.Split(o, "+") {
			cv := e.componentVariant(strings.TrimSpace(c))
			if cv == "" {
				st.comps = nil
				break
			}
			st.comps = append(st.comps, cv)
		}
		if len(st.comps) == 0 {
			untested = append(untested, v)
			continue
		}
		bestMean := math.Inf(-1)
		for _, c := range st.comps {
			st.vs = append(st.vs, Compare(e.vals(v, "test_top1"), e.vals(c, "test_top1")))
			if m := e.mean(c, "test_top1"); m > bestMean {
				st.best, bestMean = c, m
			}
		}
		st.t = st.vs[slices.Index(st.comps, st.best)]
		tested = append(tested, st)
	}
	return tested, untested, any
}

// componentVariant is objective o's plain variant with test top-1 that a
// stack is compared with: the reference for its objective, the variant
// with the registry's default hyperparameters, or the objective's only
// plain variant; "" when there is none of these.
func (e *evidence) componentVariant(o string) string {
	var cs []string
	for _, v := range e.b.variants {
		if e.obj[v] == o && e.inputOf(v) == "" && e.has(v, "test_top1") {
			cs = append(cs, v)
		}
	}
	if o == e.obj[e.ref] && slices.Contains(cs, e.ref) {
		return e.ref
	}
	for _, v := range cs {
		if isRegistryDefault(o, e.hyper[v]) {
			return v
		}
	}
	if len(cs) == 1 {
		return cs[0]
	}
	return ""
}

// inputTest is claim 2's test of one input regularizer.
type inputTest struct {
	name  string
	plain []string // one plain variant per objective, in plan order
	with  []string // its counterpart with the regularizer
	gains []TTest  // with − without, paired by seed, per objective
	t     TTest    // over objectives of the mean gains; the one objective's paired test
}

// inputTests returns claim 2's input-regularizer tests, one per
// regularizer in order of first appearance; the regularizers that no
// objective has both with and without; and whether the study has any
// variant with an input regularizer and test top-1.
func (e *evidence) inputTests() (tested []inputTest, untested []string, any bool) {
	var names []string
	objOrder := map[string][]string{}             // input → objectives in plan order
	cands := map[string]map[string][]string{}     // input → objective → plain variants
	counterpart := map[string]map[string]string{} // input → plain variant → variant with it
	for _, v := range e.b.variants {
		in := e.inputOf(v)
		if in == "" || !e.has(v, "test_top1") {
			continue
		}
		any = true
		if !slices.Contains(names, in) {
			names = append(names, in)
			cands[in], counterpart[in] = map[string][]string{}, map[string]string{}
		}
		pv := e.plainOf(v)
		if !e.has(pv, "test_top1") {
			continue
		}
		o := e.obj[v]
		if _, ok := cands[in][o]; !ok {
			objOrder[in] = append(objOrder[in], o)
		}
		cands[in][o] = append(cands[in][o], pv)
		counterpart[in][pv] = v
	}
	for _, in := range names {
		it := inputTest{name: in}
		var gains []float64
		for _, o := range objOrder[in] {
			pv := e.pick(o, cands[in][o])
			wv := counterpart[in][pv]
			g := PairedBySeed(e.vals(wv, "test_top1"), e.vals(pv, "test_top1"))
			if math.IsNaN(g.Diff) {
				continue // no seed shared
			}
			it.plain, it.with, it.gains = append(it.plain, pv), append(it.with, wv), append(it.gains, g)
			gains = append(gains, g.Diff)
		}
		switch len(gains) {
		case 0:
			untested = append(untested, in)
			continue
		case 1:
			it.t = it.gains[0]
		default:
			it.t = OneSampleT(gains)
		}
		tested = append(tested, it)
	}
	return tested, untested, any
}

// ---------------------------------------------------------------- claim 3

// claim3: CKA between networks of different objectives falls below the
// same-objective baseline only near the output.
func (e *evidence) claim3() Finding {
	a := e.alpha
	f := Finding{Claim: 3, Title: "Representations differ only near the output"}
	c := e.b.an.CKA
	if c == nil || len(c.Layers) < 2 {
		f.Verdict, f.Detail = NotTested, "No layer-wise CKA."
		return f
	}
	L := len(c.Layers)
	late := []int{L - 1}
	if L >= 3 {
		late = []int{L - 2, L - 1}
	}
	var lateNames []string
	for _, l := range late {
		lateNames = append(lateNames, c.Layers[l])
	}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests; one variant per objective other than %s. For each objective v and layer ℓ: C_v(ℓ), the CKA between v and %s at the same seed (mean over seeds), and B_v(ℓ), the CKA between two seeds of v (the same-objective baseline); deficit Δ_v(ℓ) = C_v(ℓ) − B_v(ℓ). Paired t-tests over objectives of Δ(ℓ) = 0 at the first layer (%s) and at the last layers (%s; Holm over them). Supported: Δ significantly < 0 at one of the last layers and not significantly < 0 at the first layer. Contradicted: Δ significantly < 0 at the first layer with a mean deficit at least as large as at every last layer (objectives change early representations as much as late ones). Otherwise not resolved. The same-seed pairs share initialisation and data order, which the baseline pairs do not; that raises C against B, so the first condition is conservative and the second lenient.",
		a, e.ref, e.ref, c.Layers[0], strings.Join(lateNames, ", "))
	sel := map[string]bool{}
	for _, v := range e.others() {
		sel[v] = true
	}
	diag := func(pr CKAPair, l int) float64 {
		if l < len(pr.Matrix) && l < len(pr.Matrix[l]) {
			return pr.Matrix[l][l]
		}
		return math.NaN()
	}
	type sums struct {
		cs, bs []float64
		cn, bn float64
	}
	per := map[string]*sums{}
	get := func(v string) *sums {
		if per[v] == nil {
			per[v] = &sums{cs: make([]float64, L), bs: make([]float64, L)}
		}
		return per[v]
	}
	for _, pr := range c.Pairs {
		va, vb := pr.A.Variant(), pr.B.Variant()
		switch {
		case va == vb && pr.A.Seed != pr.B.Seed && sel[va]:
			s := get(va)
			for l := range L {
				s.bs[l] += diag(pr, l)
			}
			s.bn++
		case va != vb && pr.A.Seed == pr.B.Seed && (va == e.ref && sel[vb] || vb == e.ref && sel[va]):
			v := va
			if va == e.ref {
				v = vb
			}
			s := get(v)
			for l := range L {
				s.cs[l] += diag(pr, l)
			}
			s.cn++
		}
	}
	var objs []string
	for _, v := range e.others() {
		if s := per[v]; s != nil && s.cn > 0 && s.bn > 0 {
			objs = append(objs, v)
		}
	}
	if len(objs) < 2 {
		f.Verdict, f.Detail = NotTested, fmt.Sprintf("Needs CKA with %s at the same seed and between two seeds of the same objective, for at least two objectives.", e.ref)
		return f
	}
	tests := make([]TTest, L)
	Cm, Bm := make([]float64, L), make([]float64, L)
	for l := range L {
		var cv, bv []float64
		for _, v := range objs {
			s := per[v]
			cv, bv = append(cv, s.cs[l]/s.cn), append(bv, s.bs[l]/s.bn)
		}
		tests[l] = PairedT(cv, bv)
		Cm[l], _ = MeanSEM(cv)
		Bm[l], _ = MeanSEM(bv)
	}
	lateP := make([]float64, len(late))
	for i, l := range late {
		lateP[i] = tests[l].P
	}
	lateAdj := Holm(lateP)
	for l := range L {
		name := fmt.Sprintf("CKA deficit at %s: C − B", c.Layers[l])
		switch {
		case l == 0:
			// The claim predicts no deficit here: a significant deficit reads
			// as opposite, a significant surplus as consistent with it.
			f.Tests = append(f.Tests, tRow(name+" (first layer)", tests[l], 1, 4, "", tests[l].P, +1, a))
		case slices.Contains(late, l):
			i := slices.Index(late, l)
			f.Tests = append(f.Tests, tRow(name+" (last layers)", tests[l], 1, 4, "", lateAdj[i], -1, a))
		default:
			f.Tests = append(f.Tests, tRow(name, tests[l], 1, 4, "", tests[l].P, 0, a))
		}
	}
	var parts []string
	for l := range L {
		parts = append(parts, fmt.Sprintf("%s %s vs %s", c.Layers[l], f3s(Cm[l]), f3s(Bm[l])))
	}
	f.Detail = fmt.Sprintf("Over %d objectives, mean CKA with %s at the same seed vs between two seeds of the same objective: %s.", len(objs), e.ref, strings.Join(parts, "; "))
	lateDeficit := false
	minLate := math.Inf(1)
	for i, l := range late {
		if sigDir(lateAdj[i], tests[l].Diff, -1, a) {
			lateDeficit = true
		}
		minLate = math.Min(minLate, tests[l].Diff)
	}
	early := tests[0]
	earlyDeficit := sigDir(early.P, early.Diff, -1, a)
	switch {
	case earlyDeficit && early.Diff <= minLate:
		f.Verdict = Contradicted
	case lateDeficit && !earlyDeficit:
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

// ---------------------------------------------------------------- claim 4

// claim4: across objectives, more class separation goes with worse
// linear-probe transfer (and better pretraining accuracy), and full
// fine-tuning shrinks the differences between objectives.
func (e *evidence) claim4() Finding {
	a := e.alpha
	f := Finding{Claim: 4, Title: "Better objectives separate classes more, and transfer worse; fine-tuning evens them out"}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests; one point per objective (one variant per objective, mean over its seeds). Parts: (A) for each linear-probe target, the Pearson correlation of R² with probe top-1, permutation p-value, Holm over targets; (B) the correlation of R² with pretraining top-1; (C) for each fine-tuned target, whether the spread (standard deviation) across objectives of fine-tuning top-1 is smaller than that of the linear probe on the same target: Pitman–Morgan test for paired variances (objectives are the pairs). Supported: (A) significantly negative on at least one target and significantly positive on none, (C) significant, fine-tuning's spread the smaller, on every fine-tuned target (so the claim is never supported without fine-tuning), and (B) not significantly negative. Contradicted (each part at α/3, Bonferroni over the three parts; Holm within a part): (A) significantly positive on a target, (B) significantly negative, or (C) fine-tuning's spread significantly larger on a target. Otherwise not resolved.", a)
	var objs []string
	for _, v := range e.perObj {
		if e.has(v, "r2") {
			objs = append(objs, v)
		}
	}
	if len(objs) < 3 || len(e.b.targets) == 0 {
		f.Verdict, f.Detail = NotTested, "Needs R² and linear-probe transfer for at least three objectives."
		return f
	}
	series := func(mx, my string) (xs, ys []float64) {
		for _, v := range objs {
			if e.has(v, mx) && e.has(v, my) {
				xs, ys = append(xs, e.mean(v, mx)), append(ys, e.mean(v, my))
			}
		}
		return xs, ys
	}
	// (A)
	var probeTargets []string
	var cs []Correlation
	for _, t := range e.b.targets {
		if x, y := series("r2", "probe_"+t+"_top1"); len(x) >= 3 {
			probeTargets = append(probeTargets, t)
			cs = append(cs, PermutationCorrelation(x, y, nil))
		}
	}
	if len(probeTargets) == 0 {
		f.Verdict, f.Detail = NotTested, "Needs R² and linear-probe transfer for at least three objectives."
		return f
	}
	ps := make([]float64, len(cs))
	for i, c := range cs {
		ps[i] = c.P
	}
	adjA := Holm(ps)
	aNeg, aPos, aPosC := false, false, false
	for i, t := range probeTargets {
		f.Tests = append(f.Tests, cRow("(A) R² vs linear probe "+t, cs[i], adjA[i], -1, a))
		aNeg = aNeg || sigDir(adjA[i], cs[i].R, -1, a)
		aPos = aPos || sigDir(adjA[i], cs[i].R, +1, a)
		aPosC = aPosC || sigDir(adjA[i], cs[i].R, +1, a/3)
	}
	// (B)
	x, y := series("r2", "test_top1")
	cb := PermutationCorrelation(x, y, nil)
	f.Tests = append(f.Tests, cRow("(B) R² vs pretraining top-1", cb, cb.P, +1, a))
	bNeg, bNegC := sigDir(cb.P, cb.R, -1, a), sigDir(cb.P, cb.R, -1, a/3)
	// (C)
	var ftTargets []string
	var ss []Spread
	for _, t := range e.b.ftTargets {
		var pr, ft []float64
		for _, v := range objs {
			if e.has(v, "probe_"+t+"_top1") && e.has(v, "finetune_"+t+"_top1") {
				pr, ft = append(pr, e.mean(v, "probe_"+t+"_top1")), append(ft, e.mean(v, "finetune_"+t+"_top1"))
			}
		}
		if len(pr) >= 3 {
			ftTargets = append(ftTargets, t)
			ss = append(ss, PitmanMorgan(pr, ft))
		}
	}
	psC := make([]float64, len(ss))
	for i, s := range ss {
		psC[i] = s.P
	}
	adjC := Holm(psC)
	cAll, cRevC := len(ss) > 0, false
	var spreadParts []string
	for i, t := range ftTargets {
		s := ss[i]
		st := "Pitman–Morgan undefined"
		if !math.IsNaN(s.T) {
			st = fmt.Sprintf("Pitman–Morgan t(%g) = %.2f", s.DF, s.T)
		}
		row := TestRow{Test: "(C) spread across objectives, fine-tuning vs linear probe, " + t,
			Estimate: fmt.Sprintf("SD %.2f vs %.2f points; corr(sum, diff) = %s", 100*s.SDY, 100*s.SDX, signed3(s.R)),
			N:        s.N, Stat: st, P: s.P, PAdj: s.P, Reading: reading(s.P, s.R, +1, a)}
		f.Tests = append(f.Tests, row)
		// Each target must pass on its own (an intersection–union test needs
		// no correction); a reversal on any target is corrected by Holm.
		if !sigDir(s.P, s.R, +1, a) {
			cAll = false
		}
		cRevC = cRevC || sigDir(adjC[i], s.R, -1, a/3)
		spreadParts = append(spreadParts, fmt.Sprintf("%s: fine-tuning SD %.2f points (range %.2f) vs linear probe SD %.2f (range %.2f) over %d objectives",
			t, 100*s.SDY, 100*e.rangeOver(objs, "finetune_"+t+"_top1"), 100*s.SDX, 100*e.rangeOver(objs, "probe_"+t+"_top1"), s.N))
	}
	var corrParts []string
	for i, t := range probeTargets {
		corrParts = append(corrParts, fmt.Sprintf("%s r = %s (%s)", t, signed3(cs[i].R), pEq(cs[i].P)))
	}
	r2m, r2M := e.minMax(objs, "r2")
	f.Detail = fmt.Sprintf("Over %d objectives, R² ranges %s–%s. Correlation of R² with linear-probe top-1: %s; with pretraining top-1: r = %s (%s). ",
		len(objs), f3s(r2m), f3s(r2M), strings.Join(corrParts, ", "), signed3(cb.R), pEq(cb.P))
	if len(ftTargets) == 0 {
		f.Detail += "Full fine-tuning is not run, so part (C) is untested."
	} else {
		f.Detail += "Full fine-tuning, spread of top-1 between objectives (of the means over seeds): " + strings.Join(spreadParts, "; ") + "."
	}
	switch {
	case aPosC || bNegC || cRevC:
		f.Verdict = Contradicted
	case aNeg && !aPos && cAll && !bNeg:
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

func (e *evidence) minMax(vs []string, metric string) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if e.has(v, metric) {
			m := e.mean(v, metric)
			lo, hi = math.Min(lo, m), math.Max(hi, m)
		}
	}
	if math.IsInf(lo, 1) {
		return math.NaN(), math.NaN()
	}
	return lo, hi
}

func (e *evidence) rangeOver(vs []string, metric string) float64 {
	lo, hi := e.minMax(vs, metric)
	return hi - lo
}

// ---------------------------------------------------------------- claim 5

// claim5: in a cosine-softmax τ sweep, a larger τ gives more class
// separation and worse linear-probe transfer; across objectives, more
// separation goes with sparser penultimate activations.
func (e *evidence) claim5() Finding {
	a := e.alpha
	f := Finding{Claim: 5, Title: "A larger cosine-softmax temperature gives more class separation and worse transfer; separation goes with sparsity"}
	f.Rule = fmt.Sprintf("α = %g, two-sided tests. Every run of the cosine-softmax τ sweep (variants that differ only in τ) is a point (log τ, metric); the correlation of log τ with the metric is taken within seeds (both centred per seed) and its p-value comes from permuting τ among each seed's runs (exact when there are at most %d arrangements). Parts: (A) log τ vs R², the paper's direction positive; (B) log τ vs linear-probe top-1 for each target, negative, Holm over targets; (C) across objectives (one point per objective, mean over seeds), R² vs the fraction of non-zero penultimate activations, negative (higher separation, sparser features). Supported: (A) significantly positive, (B) significantly negative on at least one target and significantly positive on none, and (C) not significantly positive. Contradicted (each part at α/3, Bonferroni over the three parts): (A) significantly negative, (B) significantly positive on a target, or (C) significantly positive. Otherwise not resolved. The direction of (A) and (B) is the paper's (docs/definitions.md#verdict-rules).",
		a, MaxExactPermutations)
	sweep, taus := e.tauGroup()
	if len(sweep) < 2 {
		f.Verdict, f.Detail = NotTested, "No cosine-softmax τ sweep (needs at least two τ values)."
		return f
	}
	runs := func(metric string) (x, y []float64, strata []int) {
		for i, v := range sweep {
			for s, val := range e.vals(v, metric) {
				if math.IsNaN(val) {
					continue
				}
				x, y, strata = append(x, math.Log(taus[i])), append(y, val), append(strata, int(s))
			}
		}
		// Map iteration order must not change the result: sort the runs.
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(p, q int) int {
			if strata[p] != strata[q] {
				return cmp.Compare(strata[p], strata[q])
			}
			switch {
			case x[p] < x[q]:
				return -1
			case x[p] > x[q]:
				return 1
			}
			return 0
		})
		xs, ys, ss := make([]float64, len(idx)), make([]float64, len(idx)), make([]int, len(idx))
		for k, i := range idx {
			xs[k], ys[k], ss[k] = x[i], y[i], strata[i]
		}
		return xs, ys, ss
	}
	x, y, s := runs("r2")
	cA := PermutationCorrelation(x, y, s)
	f.Tests = append(f.Tests, cRow("(A) log τ vs R², within seeds", cA, cA.P, +1, a))
	var targets []string
	var cBs []Correlation
	for _, t := range e.b.targets {
		x, y, s := runs("probe_" + t + "_top1")
		if len(x) == 0 {
			continue
		}
		targets = append(targets, t)
		cBs = append(cBs, PermutationCorrelation(x, y, s))
	}
	ps := make([]float64, len(cBs))
	for i, c := range cBs {
		ps[i] = c.P
	}
	adjB := Holm(ps)
	bNeg, bPos, bPosC := false, false, false
	for i, t := range targets {
		f.Tests = append(f.Tests, cRow("(B) log τ vs linear probe "+t+", within seeds", cBs[i], adjB[i], -1, a))
		bNeg = bNeg || sigDir(adjB[i], cBs[i].R, -1, a)
		bPos = bPos || sigDir(adjB[i], cBs[i].R, +1, a)
		bPosC = bPosC || sigDir(adjB[i], cBs[i].R, +1, a/3)
	}
	var xs, ys []float64
	for _, v := range e.perObj {
		if e.has(v, "r2") && e.has(v, "active_fraction_penultimate") {
			xs, ys = append(xs, e.mean(v, "r2")), append(ys, e.mean(v, "active_fraction_penultimate"))
		}
	}
	cC := PermutationCorrelation(xs, ys, nil)
	f.Tests = append(f.Tests, cRow("(C) R² vs non-zero penultimate fraction, across objectives", cC, cC.P, -1, a))
	x, y, s = runs("test_top1")
	cAcc := PermutationCorrelation(x, y, s)
	f.Tests = append(f.Tests, cRow("log τ vs pretraining top-1, within seeds", cAcc, cAcc.P, 0, a))
	var tauStr []string
	for _, t := range taus {
		tauStr = append(tauStr, strconv.FormatFloat(t, 'g', -1, 64))
	}
	var bParts []string
	for i, t := range targets {
		bParts = append(bParts, fmt.Sprintf("%s r = %s (%s)", t, signed3(cBs[i].R), pEq(cBs[i].P)))
	}
	f.Detail = fmt.Sprintf("τ = %s (%d runs with R²). Within-seed correlation of log τ with R²: r = %s (%s); with linear-probe top-1: %s; with pretraining top-1: r = %s. Across objectives, R² with the non-zero penultimate fraction: r = %s (%s).",
		strings.Join(tauStr, ", "), cA.N, signed3(cA.R), pEq(cA.P), orNA(strings.Join(bParts, ", ")), signed3(cAcc.R), signed3(cC.R), pEq(cC.P))
	switch {
	case sigDir(cA.P, cA.R, -1, a/3) || bPosC || sigDir(cC.P, cC.R, +1, a/3):
		f.Verdict = Contradicted
	case sigDir(cA.P, cA.R, +1, a) && bNeg && !bPos && !sigDir(cC.P, cC.R, +1, a):
		f.Verdict = Supported
	default:
		f.Verdict = NotResolved
	}
	return f
}

// tauGroup returns the cosine-softmax variants of the τ sweep, sorted by
// τ, with their τ: the variants that differ only in τ, the largest such
// group (the first in plan order on a tie).
func (e *evidence) tauGroup() ([]string, []float64) {
	key := e.b.an.TauKey
	if key == "" {
		key = "tau"
	}
	type member struct {
		v   string
		tau float64
	}
	groups := map[string][]member{}
	var order []string
	for _, v := range e.b.variants {
		if e.obj[v] != "cosine_softmax" || !e.has(v, "r2") || e.inputOf(v) != "" {
			continue
		}
		tau := math.NaN()
		var rest []string
		for _, kv := range strings.Fields(e.hyper[v]) {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				tau, _ = strconv.ParseFloat(val, 64)
			} else {
				rest = append(rest, kv)
			}
		}
		if !(tau > 0) {
			continue
		}
		g := strings.Join(rest, " ")
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], member{v, tau})
	}
	var best []member
	for _, g := range order {
		if len(groups[g]) > len(best) {
			best = groups[g]
		}
	}
	slices.SortStableFunc(best, func(p, q member) int { return cmp.Compare(p.tau, q.tau) })
	var vs []string
	var taus []float64
	for _, m := range best {
		vs, taus = append(vs, m.v), append(taus, m.tau)
	}
	return vs, taus
}

// ---------------------------------------------------------------- figures and rendering

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func (b *builder) firstTarget() string {
	if len(b.targets) == 0 {
		return ""
	}
	return b.targets[0]
}

func (b *builder) findings(fs []Finding) []block {
	bl := []block{{text: fmt.Sprintf("Each claim of the paper (docs/definitions.md in the losslab repository, \"The claims the study tests\") is decided by tests declared before looking at the numbers, at α = %g (docs/definitions.md, \"Verdict rules\"): supported, contradicted, or not resolved (the tests cannot decide at this study's power: too few seeds or objectives, or too small an effect). Runs of the same seed share initialisation and data order, so comparisons between variants are paired by seed. Tests across objectives use one variant per objective (the registry-default hyperparameters of a swept objective). p: two-sided; p (corr.): after the correction the rule names. The verdicts are summarised at the top of the report.", Alpha)}}
	for _, f := range fs {
		bl = append(bl, block{heading: fmt.Sprintf("Claim %d — %s: %s", f.Claim, f.Title, f.Verdict)},
			block{text: b.relabel(f.Detail)})
		if f.Rule != "" {
			bl = append(bl, block{text: "Rule: " + f.Rule})
		}
		if len(f.Tests) > 0 {
			var tr [][]string
			for _, t := range f.Tests {
				tr = append(tr, []string{b.relabel(t.Test), t.Estimate, strconv.Itoa(t.N), t.Stat, fp(t.P), fp(t.PAdj), t.Reading})
			}
			bl = append(bl, block{header: []string{"test", "estimate", "n", "statistic", "p", "p (corr.)", "reading"}, rows: tr, prose: true})
		}
	}
	return bl
}
