package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Verdicts of a finding.
const (
	Supported    = "supported"
	Partly       = "partly supported"
	NotSupported = "not supported"
	NotTested    = "not tested"
)

// Finding is the verdict on one of the paper's claims (docs/definitions.md,
// "The claims the study tests"), with the numbers and the rule that
// decided it.
type Finding struct {
	Claim   int
	Title   string
	Verdict string
	Detail  string
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// Findings checks the five claims against the results. Every rule is
// stated in the detail text.
func (b *builder) Findings() []Finding {
	ref := b.reference()
	better, sig := b.beatReference(ref)
	return []Finding{
		b.claim1(ref, better, sig),
		b.claim2(),
		b.claim3(ref),
		b.claim4(ref, better),
		b.claim5(),
	}
}

// beatReference returns, in variant order, the variants whose mean top-1
// is above ref's, and how many of them differ from ref with Welch p < 0.05.
// Claims 1 and 4 share it.
func (b *builder) beatReference(ref string) (better []string, sig int) {
	refTop1 := b.mean(ref, "test_top1")
	for _, v := range b.variants {
		if v == ref || len(b.get(v, "test_top1")) == 0 {
			continue
		}
		if b.mean(v, "test_top1") > refTop1 {
			better = append(better, v)
			if _, _, p := WelchT(b.get(v, "test_top1"), b.get(ref, "test_top1")); p < 0.05 {
				sig++
			}
		}
	}
	return better, sig
}

// claim1 checks that several objectives beat ref on accuracy but none is
// best at top-1, ECE and corrupted accuracy at once.
func (b *builder) claim1(ref string, better []string, sig int) Finding {
	refTop1 := b.mean(ref, "test_top1")
	bestTop1 := b.best("test_top1", true)
	bestECE := b.best("test_ece", false)
	bestRob := b.best("corrupted_mean_accuracy", true)
	winners := map[string]bool{bestTop1: true, bestECE: true}
	if bestRob != "" {
		winners[bestRob] = true
	}
	f := Finding{Claim: 1, Title: "Several objectives beat softmax on accuracy, but none wins everywhere"}
	f.Detail = fmt.Sprintf("%d objective(s) have a higher mean top-1 than %s (%s%%): %s; %d of them with Welch p < 0.05. Best top-1: %s; best ECE: %s; best mean corrupted accuracy: %s. Rule: supported when at least two objectives beat %s on mean top-1 and the three bests are not all the same objective.",
		len(better), ref, pct(refTop1), strings.Join(better, ", "), sig, bestTop1, bestECE, orNA(bestRob), ref)
	switch {
	case len(better) >= 2 && len(winners) > 1:
		f.Verdict = Supported
	case len(better) >= 1 || len(winners) > 1:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	return f
}

// claim2 checks that objectives disagree more across than within, and
// that mixed-objective ensembles are no more accurate than same-objective
// ones.
func (b *builder) claim2() Finding {
	f := Finding{Claim: 2, Title: "Objectives make different predictions; mixing objectives in ensembles does not help"}
	p := b.an.Predictions
	if p == nil {
		f.Verdict, f.Detail = NotTested, "The predictions analysis did not run."
		return f
	}
	ds, dc, _, _ := pairStats(p.Models, p.Disagreement)
	es, ec, _, _ := pairStats(p.Models, p.PairEnsemble)
	f.Detail = fmt.Sprintf("Disagreement: %s%% within an objective, %s%% across objectives. Two-model ensembles: %s%% same objective, %s%% mixed. Rule: supported when cross-objective disagreement exceeds within-objective disagreement and mixed ensembles are not more accurate than same-objective ones; partly when only one holds. Input regularizers (mixup, AutoAugment) are not tested by this study unless its recipe sets them.",
		pct(ds), pct(dc), pct(es), pct(ec))
	a, c := dc > ds, ec <= es
	switch {
	case math.IsNaN(ds) || math.IsNaN(es):
		f.Verdict = NotTested
		f.Detail += " (needs at least two seeds per objective)"
	case a && c:
		f.Verdict = Supported
	case a || c:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	return f
}

// claim3 checks that CKA with ref is high at the first layer and drops by
// the penultimate one.
func (b *builder) claim3(ref string) Finding {
	f := Finding{Claim: 3, Title: "Representations differ only near the output"}
	if c := b.an.CKA; c != nil && len(c.Layers) >= 2 {
		cross, _ := b.ckaCurves(c)
		L := len(c.Layers)
		var first, pen float64
		n := 0
		for _, cv := range cross {
			first += cv[0]
			pen += cv[L-2] // the penultimate layer comes before the logits
			n++
		}
		if n > 0 {
			first /= float64(n)
			pen /= float64(n)
			f.Detail = fmt.Sprintf("Mean CKA with %s (same seed) across objectives: %s at the first layer (%s), %s at the penultimate layer (%s). Rule: supported when CKA at the first layer exceeds the penultimate layer's by at least 0.05 and is itself at least 0.8; partly when only the drop holds.",
				ref, f4(first), c.Layers[0], f4(pen), c.Layers[L-2])
			switch {
			case first-pen >= 0.05 && first >= 0.8:
				f.Verdict = Supported
			case first-pen >= 0.05:
				f.Verdict = Partly
			default:
				f.Verdict = NotSupported
			}
		}
	}
	if f.Verdict == "" {
		f.Verdict, f.Detail = NotTested, "No CKA between different objectives."
	}
	return f
}

// claim4 checks that the objectives in better (those beating ref on
// top-1) raise R², and that R² goes with top-1 and against transfer; the
// detail adds the fine-tuning spread, which does not enter the verdict.
func (b *builder) claim4(ref string, better []string) Finding {
	f := Finding{Claim: 4, Title: "Better objectives separate classes more, and transfer worse"}
	refR2 := b.mean(ref, "r2")
	var raised []string
	for _, v := range better {
		if b.mean(v, "r2") > refR2 {
			raised = append(raised, v)
		}
	}
	r2s, top1s := b.series("r2", "test_top1")
	cAcc := Pearson(r2s, top1s)
	var parts []string
	neg, tested := 0, 0
	for _, t := range b.targets {
		x, y := b.series("r2", "probe_"+t+"_top1")
		c := Pearson(x, y)
		parts = append(parts, fmt.Sprintf("%s %s", t, f4(c)))
		if !math.IsNaN(c) {
			tested++
			if c < 0 {
				neg++
			}
		}
	}
	f.Detail = fmt.Sprintf("%d of %d objectives that beat %s on top-1 also raise R² above its %s. Pearson correlation over objectives (means over seeds) of R² with top-1: %s; with linear-probe transfer: %s. Rule: supported when every objective that beats %s raises R², R² correlates positively with top-1 and negatively with transfer on most targets. %s",
		len(raised), len(better), ref, f4(refR2), f4(cAcc), orNA(strings.Join(parts, ", ")), ref, b.finetuneSpread())
	conds := 0
	if len(better) > 0 && len(raised) == len(better) {
		conds++
	}
	if cAcc > 0 {
		conds++
	}
	if tested > 0 && 2*neg > tested {
		conds++
	}
	f.Verdict = verdict(conds, 3)
	if math.IsNaN(refR2) {
		f.Verdict = NotTested
	}
	return f
}

// claim5 checks the cosine-softmax τ sweep: smaller τ separates classes
// more and transfers worse, and separation goes with sparser penultimate
// features.
func (b *builder) claim5() Finding {
	f := Finding{Claim: 5, Title: "Cosine-softmax temperature trades separation and accuracy against transfer; separation goes with sparsity"}
	taus, r2, acc, tr := b.tauSweep()
	cR2, cAccT := Pearson(taus, r2), Pearson(taus, acc)
	cTr := math.NaN()
	if tr != nil {
		cTr = Pearson(taus, tr)
	}
	xs, ys := b.series("r2", "active_fraction_penultimate")
	cSp := Pearson(xs, ys)
	f.Detail = fmt.Sprintf("Cosine-softmax τ sweep (%d values): Pearson correlation of τ with R² %s, with top-1 %s, with linear-probe transfer (%s) %s. Over all objectives, correlation of R² with the fraction of non-zero penultimate activations: %s. Rule: supported when smaller τ gives higher R² (correlation < 0) and better transfer with larger τ (> 0), and higher R² goes with sparser features (< 0); partly when some hold.",
		len(taus), f4(cR2), f4(cAccT), orNA(b.firstTarget()), f4(cTr), f4(cSp))
	conds := 0
	if cR2 < 0 {
		conds++
	}
	if cTr > 0 {
		conds++
	}
	if cSp < 0 {
		conds++
	}
	f.Verdict = verdict(conds, 3)
	if len(taus) < 3 {
		f.Verdict = NotTested
		f.Detail += " (needs at least three τ values)"
	}
	return f
}

func verdict(conds, of int) string {
	switch {
	case conds == of:
		return Supported
	case conds > 0:
		return Partly
	}
	return NotSupported
}

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

// best returns the variant with the highest (or lowest) mean of metric.
func (b *builder) best(metric string, high bool) string {
	best, bv := "", math.NaN()
	for _, v := range b.variants {
		if len(b.get(v, metric)) == 0 {
			continue
		}
		m := b.mean(v, metric)
		if best == "" || (high && m > bv) || (!high && m < bv) {
			best, bv = v, m
		}
	}
	return best
}

// series returns the per-variant means of two metrics, over variants that
// have both.
func (b *builder) series(mx, my string) (xs, ys []float64) {
	for _, v := range b.variants {
		if len(b.get(v, mx)) > 0 && len(b.get(v, my)) > 0 {
			xs = append(xs, b.mean(v, mx))
			ys = append(ys, b.mean(v, my))
		}
	}
	return xs, ys
}

// tauSweep returns the cosine-softmax variants' τ with their mean R²,
// top-1 and first-target probe accuracy, sorted by τ.
func (b *builder) tauSweep() (taus, r2, acc, transfer []float64) {
	key := b.an.TauKey
	if key == "" {
		key = "tau"
	}
	type pt struct{ tau, r2, acc, tr float64 }
	var pts []pt
	for _, v := range b.variants {
		r, ok := b.objOf[v]
		if !ok || r.Objective != "cosine_softmax" {
			continue
		}
		tau := math.NaN()
		for _, kv := range strings.Fields(r.Hyper) {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				tau, _ = strconv.ParseFloat(val, 64)
			}
		}
		if math.IsNaN(tau) {
			continue
		}
		p := pt{tau, b.mean(v, "r2"), b.mean(v, "test_top1"), math.NaN()}
		if t := b.firstTarget(); t != "" {
			p.tr = b.mean(v, "probe_"+t+"_top1")
		}
		pts = append(pts, p)
	}
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].tau < pts[j-1].tau; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
	for _, p := range pts {
		taus = append(taus, p.tau)
		r2 = append(r2, p.r2)
		acc = append(acc, p.acc)
		if !math.IsNaN(p.tr) {
			transfer = append(transfer, p.tr)
		}
	}
	if len(transfer) != len(taus) {
		transfer = nil
	}
	return taus, r2, acc, transfer
}

func (b *builder) findings() []block {
	bl := []block{{text: "Each claim of the paper (docs/definitions.md in the losslab repository), checked against this run's numbers by the rule stated with it. Small studies (few seeds, short training) decide little: read the numbers, not only the verdicts."}}
	var rows [][]string
	for _, f := range b.Findings() {
		rows = append(rows, []string{strconv.Itoa(f.Claim), f.Title, f.Verdict})
		bl = append(bl, block{text: fmt.Sprintf("Claim %d — %s: %s. %s", f.Claim, f.Title, strings.ToUpper(f.Verdict[:1])+f.Verdict[1:], f.Detail)})
	}
	return append(bl[:1], append([]block{{header: []string{"claim", "statement", "verdict"}, rows: rows}}, bl[1:]...)...)
}

// finetuneSpread states, per fine-tuning target, how far apart the
// objectives land (max − min over objectives of the mean over seeds)
// after full fine-tuning and, beside it, with the linear probe: the claim
// is that fine-tuning all but erases the objective's effect. It does not
// enter the verdict.
func (b *builder) finetuneSpread() string {
	if len(b.ftTargets) == 0 {
		return "Full fine-tuning is not run."
	}
	spread := func(metric string) (float64, int) {
		lo, hi, n := math.Inf(1), math.Inf(-1), 0
		for _, v := range b.variants {
			if len(b.get(v, metric)) == 0 {
				continue
			}
			m := b.mean(v, metric)
			lo, hi, n = math.Min(lo, m), math.Max(hi, m), n+1
		}
		return hi - lo, n
	}
	var parts []string
	for _, t := range b.ftTargets {
		d, n := spread("finetune_" + t + "_top1")
		part := fmt.Sprintf("%s %.2f points over %d objectives", t, 100*d, n)
		if pd, pn := spread("probe_" + t + "_top1"); pn > 0 {
			part += fmt.Sprintf(" (linear probe: %.2f)", 100*pd)
		}
		parts = append(parts, part)
	}
	return "Full fine-tuning, spread of top-1 between objectives (max − min of the means over seeds): " + strings.Join(parts, "; ") + "."
}
