package report

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/metrics"
)

// fixture writes a study folder with three variants (softmax, a better
// objective, a cosine τ sweep of three), two seeds, every metric and
// analysis. sepBetter decides whether the better objective has the higher
// R² (claim 4).
func fixture(t *testing.T, sepBetter bool) string {
	dir := t.TempDir()
	type v struct {
		obj, hyper     string
		top1, r2, prob float64
		active         float64
	}
	r2Better := 0.5
	if sepBetter {
		r2Better = 0.8
	}
	vs := []v{
		{"softmax", "", 0.90, 0.6, 0.80, 0.5},
		{"dropout", "keep_prob=0.7", 0.93, r2Better, 0.70, 0.3},
		{"cosine_softmax", "tau=0.03", 0.94, 0.9, 0.60, 0.2},
		{"cosine_softmax", "tau=0.05", 0.92, 0.8, 0.70, 0.3},
		{"cosine_softmax", "tau=0.1", 0.91, 0.7, 0.75, 0.4},
	}
	var rows []Row
	an := Analyses{Study: "fixture", Description: "a fixture", Reference: "softmax", TauKey: "tau"}
	bins := []metrics.ReliabilityBin{{Lo: 0.8, Hi: 0.9, Count: 10, Confidence: 0.85, Accuracy: 0.8}, {Lo: 0.9, Hi: 1, Count: 90, Confidence: 0.95, Accuracy: 0.93}}
	for i, x := range vs {
		for _, seed := range []uint64{1, 2} {
			d := float64(seed) * 0.005
			unit := "train-" + x.obj + string(rune('a'+i)) + string(rune('0'+seed))
			m := Model{Unit: unit, Objective: x.obj, Hyper: x.hyper, Seed: seed}
			an.Models = append(an.Models, m)
			an.Reliability = append(an.Reliability, Reliability{Model: m, Temperature: 1.1, Before: bins, After: bins})
			for name, val := range map[string]float64{
				"test_top1": x.top1 + d, "test_top5": 0.99, "test_ece": 0.02 + d, "test_ece_ts": 0.01, "test_nll": 0.3, "test_nll_ts": 0.28, "temperature": 1.1,
				"corrupted_mean_accuracy": x.top1 - 0.2 + d, "clean_subset_accuracy": x.top1, "r2": x.r2 + d, "active_fraction_penultimate": x.active,
				"probe_fashion-mnist_top1": x.prob + d, "knn_fashion-mnist_top1": x.prob - 0.05,
			} {
				rows = append(rows, Row{Study: "fixture", Unit: unit, Objective: x.obj, Hyper: x.hyper, Seed: seed, Metric: name, Value: val})
			}
		}
	}
	n := len(an.Models)
	dis := make([][]float64, n)
	ens := make([][]float64, n)
	for i := range dis {
		dis[i], ens[i] = make([]float64, n), make([]float64, n)
		for j := range dis[i] {
			same := an.Models[i].Variant() == an.Models[j].Variant()
			switch {
			case i == j:
				ens[i][j] = 0.9
			case same:
				dis[i][j], ens[i][j] = 0.02, 0.94
			default:
				dis[i][j], ens[i][j] = 0.05, 0.93
			}
		}
	}
	an.Predictions = &Predictions{Models: an.Models, Disagreement: dis, PairEnsemble: ens}
	layers := []string{"conv1", "conv2", "dense1", "logits"}
	an.CKA = &CKAResult{Layers: layers, Examples: 100, Spatial: "pooled"}
	for i := 2; i < n; i += 2 {
		mat := [][]float64{{0.95, 0.8, 0.5, 0.4}, {0.8, 0.9, 0.6, 0.5}, {0.5, 0.6, 0.6, 0.5}, {0.4, 0.5, 0.5, 0.5}}
		an.CKA.Pairs = append(an.CKA.Pairs, CKAPair{A: an.Models[0], B: an.Models[i], Matrix: mat})
	}
	an.CKA.Pairs = append(an.CKA.Pairs, CKAPair{A: an.Models[0], B: an.Models[1], Matrix: [][]float64{{0.99, 0, 0, 0}, {0, 0.98, 0, 0}, {0, 0, 0.95, 0}, {0, 0, 0, 0.97}}})
	f, err := os.Create(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResults(f, rows); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := json.Marshal(an)
	if err := os.WriteFile(filepath.Join(dir, AnalysesFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGenerateHasEveryTableAndFigure(t *testing.T) {
	dir := fixture(t, true)
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	htm, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Accuracy and calibration", "## Robustness", "## Representations", "## Transfer", "## Predictions", "## Representational similarity (CKA)", "## Findings",
		"linear probe fashion-mnist (%)", "kNN fashion-mnist (%)", "disagreement (%)", "ensemble with same objective (%)", "ECE TS (%)"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	// softmax top-1: seeds 0.905 and 0.91, mean 90.75%, s.e.m. 0.25%.
	if !strings.Contains(string(md), "| softmax | 2 | 90.75 ± 0.25 |") {
		t.Errorf("report.md lacks softmax's top-1 row 90.75 ± 0.25:\n%s", md)
	}
	for _, fig := range []string{"cka_curve", "cka_layers", "cka_heatmaps", "r2_vs_accuracy", "r2_vs_transfer", "reliability", "tau_sweep", "disagreement"} {
		for _, ext := range []string{".png", ".svg"} {
			fi, err := os.Stat(filepath.Join(dir, FiguresDir, fig+ext))
			if err != nil || fi.Size() < 500 {
				t.Errorf("figure %s%s: %v", fig, ext, err)
			}
		}
		// "PHN2Zy" and "PD94bW" are "<svg" and "<?xml" in base64.
		if i := strings.Index(string(htm), `<figure id="fig-`+fig+`">`); i < 0 || !strings.Contains(string(htm[i:min(len(htm), i+600)]), `src="data:image/svg+xml;base64,PD94bW`) {
			t.Errorf("report.html does not embed %s as an SVG", fig)
		}
		if !strings.Contains(string(md), "figures/"+fig+".png") {
			t.Errorf("report.md does not link %s", fig)
		}
	}
	// The summary (verdicts first) opens the report, before the setup and
	// every table.
	sum, setup, acc := strings.Index(string(md), "## Summary"), strings.Index(string(md), "## Setup"), strings.Index(string(md), "## Accuracy and calibration")
	if sum < 0 || !(sum < setup && setup < acc) {
		t.Errorf("sections at %d (Summary), %d (Setup), %d (Accuracy); want the summary first", sum, setup, acc)
	}
	if i := strings.Index(string(md), "| claim | statement | verdict |"); i < sum || i > setup {
		t.Error("the verdict table is not in the summary")
	}
	// Tables and figures name variants by their short labels; the full
	// configuration stays in the variants table.
	if !strings.Contains(string(md), "| cosine τ=0.03 | 2 |") || strings.Contains(string(md), "| cosine_softmax (tau=0.03) | 2 |") {
		t.Error("report.md's tables do not use the short label cosine τ=0.03")
	}
	if !strings.Contains(string(md), "| cosine τ=0.03 | cosine_softmax | tau=0.03 | 1, 2 |") {
		t.Error("report.md lacks cosine τ=0.03's full configuration")
	}
	if !strings.Contains(string(htm), "<summary>Variants and their full configuration</summary>") {
		t.Error("report.html does not collapse the variants' configurations under <details>")
	}
	for c := 1; c <= 5; c++ {
		if !strings.Contains(string(md), "Claim "+string(rune('0'+c))+" —") {
			t.Errorf("report.md lacks the finding for claim %d", c)
		}
	}
}

// TestFixtureDecidesNothing: the fixture has two seeds, and every
// variant's per-seed offset is the same (0.005·seed), so every paired
// difference is identical at both seeds and its t-test undefined, and three
// objectives or a 3 × 2 τ sweep leave permutation p-values of at least
// 1/3 and 2/36. No claim may come out supported or contradicted from that;
// claim 3 is not tested because the only same-objective CKA pair is
// softmax's own (the baseline must come from the other objectives). The
// verdicts on data with real effects are tested in findings_test.go.
func TestFixtureDecidesNothing(t *testing.T) {
	for _, sepBetter := range []bool{true, false} {
		dir := fixture(t, sepBetter)
		rows, err := ReadResults(filepath.Join(dir, ResultsFile))
		if err != nil {
			t.Fatal(err)
		}
		an, err := ReadAnalyses(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]string{1: NotResolved, 2: NotResolved, 3: NotTested, 4: NotResolved, 5: NotResolved}
		for _, f := range newBuilder(rows, an).Findings() {
			if f.Verdict != want[f.Claim] {
				t.Errorf("sepBetter %v, claim %d: %s; want %s\n%s", sepBetter, f.Claim, f.Verdict, want[f.Claim], dump(f))
			}
		}
	}
}

// TestFineTuningColumnAndSpread adds fine-tuning results to the fixture:
// the transfer table gains their column and claim 4 states the spread
// between objectives beside the linear probe's.
func TestFineTuningColumnAndSpread(t *testing.T) {
	dir := fixture(t, true)
	path := filepath.Join(dir, ResultsFile)
	rows, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	// Per variant, before the seed offset 0.005·seed.
	ft := map[string]float64{"softmax": 0.88, "keep_prob=0.7": 0.885, "tau=0.03": 0.87, "tau=0.05": 0.875, "tau=0.1": 0.88}
	var added []Row
	for _, r := range rows {
		if r.Metric != "test_top1" {
			continue
		}
		key := r.Hyper
		if key == "" {
			key = r.Objective
		}
		r.Unit, r.Metric, r.Value = "finetune-"+r.Unit, "finetune_fashion-mnist_top1", ft[key]+0.005*float64(r.Seed)
		added = append(added, r)
	}
	if len(added) != 10 {
		t.Fatalf("%d fine-tuning rows, want 10", len(added))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResults(f, append(rows, added...)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	an, err := ReadAnalyses(dir)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	var claim4 string
	for _, f := range newBuilder(all, an).Findings() {
		if f.Claim == 4 {
			claim4 = f.Detail
		}
	}
	// One variant per objective: softmax, dropout and cosine τ = 0.05 (the
	// registry default). Means over seeds (offset 0.0075): fine-tuning
	// 0.8875, 0.8925, 0.8825, SD 0.005 and range 0.010; linear probe
	// 0.8075, 0.7075, 0.7075, SD √(0.00667/2) = 0.0577 and range 0.100.
	if want := "fashion-mnist: fine-tuning SD 0.50 points (range 1.00) vs linear probe SD 5.77 (range 10.00) over 3 objectives"; !strings.Contains(claim4, want) {
		t.Errorf("claim 4 detail lacks %q:\n%s", want, claim4)
	}
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	// softmax: 0.885 and 0.89, mean 88.75 ± 0.25.
	for _, s := range []string{"fine-tuning fashion-mnist (%)", "88.75 ± 0.25", "linear probe fashion-mnist (%)"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	if strings.Contains(string(md), "Fine-tuning transfer is not run") {
		t.Error("report.md says fine-tuning is not run")
	}
}

// The Transfer section states how each converted target was preprocessed,
// and says nothing of targets that needed no conversion.
func TestTransferStatesTargetPreprocessing(t *testing.T) {
	dir := fixture(t, true)
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(md), "to the pretrained models' input") {
		t.Error("report.md describes a conversion the study did not make")
	}
	an, err := ReadAnalyses(dir)
	if err != nil {
		t.Fatal(err)
	}
	an.TargetInputs = []TargetInput{{Target: "fashion-mnist", From: []int{8, 8, 1}, To: []int{32, 32, 3},
		Preprocessing: "resized from 8×8 to 32×32 with bicubic interpolation (Keys a = −0.5), grey → RGB by replication"}}
	b, _ := json.Marshal(an)
	if err := os.WriteFile(filepath.Join(dir, AnalysesFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	want := "Target fashion-mnist has 8×8×1 images: resized from 8×8 to 32×32 with bicubic interpolation (Keys a = −0.5), grey → RGB by replication, to the pretrained models' input 32×32×3."
	for f, w := range map[string]string{MarkdownFile: want, HTMLFile: html.EscapeString(want)} {
		text, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), w) {
			t.Errorf("%s lacks %q", f, w)
		}
	}
}

// The summary quotes the test a verdict turned on: an unresolved claim's
// closest non-significant test, not a significant one beside it that the
// rule also needed; a supported claim's strongest test read as claimed.
func TestKeyNumbersQuoteTheDecidingTest(t *testing.T) {
	tests := []TestRow{
		{Test: "first layer", Estimate: "+0.02", N: 8, P: 0.0001, PAdj: 0.0002, Reading: readAsClaimed},
		{Test: "last layer", Estimate: "-0.05", N: 8, P: 0.16, PAdj: 0.31, Reading: readNS},
		{Test: "last but one", Estimate: "+0.01", N: 8, P: 0.9, PAdj: 0.9, Reading: readNS},
		{Test: "side remark", Estimate: "+9", N: 8, P: 0.00001, PAdj: 0.00001, Reading: readInfo},
	}
	if got := keyNumbers(Finding{Verdict: NotResolved, Tests: tests}); !strings.HasPrefix(got, "last layer:") {
		t.Errorf("not resolved: %q, want the last-layer test", got)
	}
	if got := keyNumbers(Finding{Verdict: Supported, Tests: tests}); !strings.HasPrefix(got, "first layer:") {
		t.Errorf("supported: %q, want the first-layer test", got)
	}
	if got := keyNumbers(Finding{Verdict: Contradicted, Tests: tests[:2]}); !strings.HasPrefix(got, "first layer:") {
		t.Errorf("contradicted without an opposite test: %q, want the strongest test of the rule", got)
	}
}
