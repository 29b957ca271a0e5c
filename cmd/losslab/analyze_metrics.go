package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/tensor"
)

// This file holds `losslab analyze calibration` and `analyze disagreement`,
// and the input helpers shared by the analysis kinds (analyze_*.go).

func init() {
	analyzeKinds["calibration"] = analyzeCalibrationCmd
	analyzeKinds["disagreement"] = analyzeDisagreementCmd
}

// pathList is a repeatable path flag.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// parseKindFlags parses a kind's flags; help is reported as done.
func parseKindFlags(kind string, fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := parseAnalyzeFlags(kind, fs, args); err != nil {
		if err == flag.ErrHelp {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

// loadMatrix reads a 2-D .npy file given by flag and checks that every value
// is finite; errors name the flag and the file.
func loadMatrix(flagName, path string) (*tensor.Tensor, error) {
	t, err := npy.ReadMatrix(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	cols := t.Shape[1]
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("--%s %s: element [%d, %d] is %v; want finite values", flagName, path, i/cols, i%cols, v)
		}
	}
	if t.Shape[0] == 0 || cols == 0 {
		return nil, fmt.Errorf("--%s %s: shape %v, want at least one row and one column", flagName, path, t.Shape)
	}
	return t, nil
}

// loadLabels reads a 1-D integer .npy file given by flag and checks that it
// has rows labels in [0, classes) (classes ≤ 0: any non-negative label).
func loadLabels(flagName, path string, rows, classes int, rowsFrom string) ([]int, error) {
	y, err := npy.ReadLabels(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	if len(y) != rows {
		return nil, fmt.Errorf("--%s %s: %d labels, but %s has %d rows", flagName, path, len(y), rowsFrom, rows)
	}
	for i, v := range y {
		if v < 0 || (classes > 0 && v >= classes) {
			if classes > 0 {
				return nil, fmt.Errorf("--%s %s: label %d at index %d is outside [0, %d) (%s has %d columns)", flagName, path, v, i, classes, rowsFrom, classes)
			}
			return nil, fmt.Errorf("--%s %s: label %d at index %d is negative", flagName, path, v, i)
		}
	}
	return y, nil
}

// writeJSON prints v as one JSON object on its own line.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// calibrationReport is the JSON of `analyze calibration`.
type calibrationReport struct {
	Examples           int64                    `json:"examples"`
	Classes            int                      `json:"classes"`
	Accuracy           float64                  `json:"accuracy"`
	Top5Accuracy       *float64                 `json:"top5_accuracy,omitempty"`
	ECE                float64                  `json:"ece"`
	MCE                float64                  `json:"mce"`
	AdaptiveECE        float64                  `json:"adaptive_ece"`
	ClasswiseECE       float64                  `json:"classwise_ece"`
	NLL                float64                  `json:"nll"`
	Brier              float64                  `json:"brier"`
	Bins               int                      `json:"bins"`
	Binning            string                   `json:"binning"`
	AdaptiveBinning    string                   `json:"adaptive_binning"`
	Units              string                   `json:"units"`
	BrierDefinition    string                   `json:"brier_definition"`
	Reliability        []metrics.ReliabilityBin `json:"reliability"`
	Temperature        *float64                 `json:"temperature,omitempty"`
	TemperatureFit     *metrics.TemperatureFit  `json:"temperature_fit,omitempty"`
	ECEScaled          *float64                 `json:"ece_scaled,omitempty"`
	NLLScaled          *float64                 `json:"nll_scaled,omitempty"`
	BrierScaled        *float64                 `json:"brier_scaled,omitempty"`
	MCEScaled          *float64                 `json:"mce_scaled,omitempty"`
	AdaptiveECEScaled  *float64                 `json:"adaptive_ece_scaled,omitempty"`
	ReliabilityScaled  []metrics.ReliabilityBin `json:"reliability_scaled,omitempty"`
	ValidationExamples int                      `json:"validation_examples,omitempty"`
}

func analyzeCalibrationCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze calibration", flag.ContinueOnError)
	logits := fs.String("logits", "", "logits to score, a 2-D .npy file [examples, classes]")
	labels := fs.String("labels", "", "their labels, a 1-D integer .npy file")
	bins := fs.Int("bins", metrics.DefaultBins, "number of equal-width confidence bins")
	valLogits := fs.String("val-logits", "", "held-out logits to fit temperature scaling on (optional)")
	valLabels := fs.String("val-labels", "", "labels of --val-logits")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("calibration", fs, args); help || err != nil {
		return err
	}
	if *logits == "" || *labels == "" {
		return usageErrorf("analyze calibration: --logits and --labels are required")
	}
	if (*valLogits == "") != (*valLabels == "") {
		return usageErrorf("analyze calibration: --val-logits and --val-labels go together")
	}
	if *bins < 1 {
		return usageErrorf("analyze calibration: --bins %d, want at least 1", *bins)
	}
	z, err := loadMatrix("logits", *logits)
	if err != nil {
		return err
	}
	classes := z.Shape[1]
	y, err := loadLabels("labels", *labels, z.Shape[0], classes, *logits)
	if err != nil {
		return err
	}
	rep, err := calibrationOf(z, y, *bins)
	if err != nil {
		return err
	}
	if *valLogits != "" {
		vz, err := loadMatrix("val-logits", *valLogits)
		if err != nil {
			return err
		}
		if vz.Shape[1] != classes {
			return fmt.Errorf("--val-logits %s has %d classes, --logits %s has %d", *valLogits, vz.Shape[1], *logits, classes)
		}
		vy, err := loadLabels("val-labels", *valLabels, vz.Shape[0], classes, *valLogits)
		if err != nil {
			return err
		}
		fit, err := metrics.FitTemperature(vz, vy)
		if err != nil {
			return err
		}
		scaled, err := calibrationOf(metrics.ScaleLogits(z, fit.Temperature), y, *bins)
		if err != nil {
			return err
		}
		rep.Temperature, rep.TemperatureFit = &fit.Temperature, &fit
		rep.ECEScaled, rep.NLLScaled, rep.BrierScaled = &scaled.ECE, &scaled.NLL, &scaled.Brier
		rep.MCEScaled, rep.AdaptiveECEScaled = &scaled.MCE, &scaled.AdaptiveECE
		rep.ReliabilityScaled = scaled.Reliability
		rep.ValidationExamples = len(vy)
	}
	if *asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "%d examples, %d classes: accuracy %.4f, ECE %.4f (%d bins), adaptive ECE %.4f, MCE %.4f, NLL %.4f, Brier %.4f\n",
		rep.Examples, rep.Classes, rep.Accuracy, rep.ECE, rep.Bins, rep.AdaptiveECE, rep.MCE, rep.NLL, rep.Brier)
	if rep.Temperature != nil {
		fmt.Fprintf(w, "temperature %.4f (converged %v, fitted on %d examples): ECE %.4f, NLL %.4f\n",
			*rep.Temperature, rep.TemperatureFit.Converged, rep.ValidationExamples, *rep.ECEScaled, *rep.NLLScaled)
	}
	return nil
}

// calibrationOf computes every calibration statistic of the report.
func calibrationOf(z *tensor.Tensor, y []int, bins int) (calibrationReport, error) {
	c, err := metrics.Calibrate(z, y, bins)
	if err != nil {
		return calibrationReport{}, err
	}
	ace, err := metrics.AdaptiveECE(z, y, bins)
	if err != nil {
		return calibrationReport{}, err
	}
	rep := calibrationReport{
		Examples: c.Examples, Classes: z.Shape[1], Accuracy: c.Accuracy,
		ECE: c.ECE, MCE: c.MCE, AdaptiveECE: ace, ClasswiseECE: c.ClasswiseECE, NLL: c.NLL, Brier: c.Brier,
		Bins: bins, Binning: c.Binning, AdaptiveBinning: metrics.AdaptiveBinning,
		Units:           "accuracy, ECE, MCE and Brier are fractions (x100 for percent); NLL in nats",
		BrierDefinition: "mean over examples of sum over classes of (p_k - [y=k])^2, range [0, 2]",
		Reliability:     c.Reliability,
	}
	if z.Shape[1] > 5 {
		top5, err := metrics.TopKAccuracy(z, y, 5)
		if err != nil {
			return calibrationReport{}, err
		}
		rep.Top5Accuracy = &top5
	}
	return rep, nil
}

// disagreementReport is the JSON of `analyze disagreement`.
type disagreementReport struct {
	Models           []string    `json:"models"`
	Examples         int         `json:"examples"`
	Disagreement     [][]float64 `json:"disagreement"`
	Definition       string      `json:"definition"`
	Accuracy         []float64   `json:"accuracy,omitempty"`
	EnsembleAccuracy *float64    `json:"ensemble_accuracy,omitempty"`
	Ensemble         string      `json:"ensemble,omitempty"`
}

func analyzeDisagreementCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("losslab analyze disagreement", flag.ContinueOnError)
	var paths pathList
	fs.Var(&paths, "logits", "one model's logits, a 2-D .npy file [examples, classes] (repeat, at least twice)")
	labels := fs.String("labels", "", "labels, a 1-D integer .npy file (optional: adds accuracies and the ensemble's)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseKindFlags("disagreement", fs, args); help || err != nil {
		return err
	}
	if len(paths) < 2 {
		return usageErrorf("analyze disagreement: want --logits at least twice, got %d", len(paths))
	}
	models := make([]*tensor.Tensor, len(paths))
	for i, p := range paths {
		z, err := loadMatrix("logits", p)
		if err != nil {
			return err
		}
		if i > 0 && (z.Shape[0] != models[0].Shape[0] || z.Shape[1] != models[0].Shape[1]) {
			return fmt.Errorf("--logits %s has shape %v, --logits %s has %v; want the same examples and classes",
				p, z.Shape, paths[0], models[0].Shape)
		}
		models[i] = z
	}
	m, err := metrics.DisagreementMatrix(models)
	if err != nil {
		return err
	}
	rep := disagreementReport{
		Models: paths, Examples: models[0].Shape[0], Disagreement: m,
		Definition: "fraction of examples whose argmax (lowest index among ties) differs between two models",
	}
	if *labels != "" {
		y, err := loadLabels("labels", *labels, models[0].Shape[0], models[0].Shape[1], paths[0])
		if err != nil {
			return err
		}
		for _, z := range models {
			acc, err := metrics.Accuracy(z, y)
			if err != nil {
				return err
			}
			rep.Accuracy = append(rep.Accuracy, acc)
		}
		ens, err := metrics.EnsembleAccuracy(models, y)
		if err != nil {
			return err
		}
		rep.EnsembleAccuracy = &ens
		rep.Ensemble = "argmax of the mean of the models' softmax probabilities"
	}
	if *asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "disagreement over %d examples (fraction of differing argmax):\n", rep.Examples)
	for i, row := range m {
		fmt.Fprintf(w, "%-40s", paths[i])
		for _, v := range row {
			fmt.Fprintf(w, " %.4f", v)
		}
		fmt.Fprintln(w)
	}
	if rep.EnsembleAccuracy != nil {
		fmt.Fprintf(w, "accuracy %v; ensemble (mean probabilities) %.4f\n", rep.Accuracy, *rep.EnsembleAccuracy)
	}
	return nil
}
