// Package report turns a study folder into DIR/report.md and a
// self-contained DIR/report.html: the paper's tables (mean ± s.e.m. over
// seeds, Welch t-tests against softmax), figures drawn with gonum/plot
// (PNG and SVG, embedded in the HTML), and a findings section that checks
// each of the study's claims against the numbers.
//
// Its inputs are two files the study writes: results.csv (one metric per
// row, long format; see Row) and analyses.json (Analyses: CKA matrices,
// the disagreement matrix, reliability diagrams, notes). Anything that
// writes those files can be reported, whatever trained the models.
package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/metrics"
)

// File names in a study folder.
const (
	ResultsFile  = "results.csv"
	AnalysesFile = "analyses.json"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	FiguresDir   = "figures"
)

// ResultsHeader is the header of results.csv.
var ResultsHeader = []string{"study", "unit", "objective", "hyperparameters", "seed", "metric", "value"}

// Row is one line of results.csv: one metric of one unit. Seed is 0 for
// study-level metrics (ensembles, disagreement summaries).
type Row struct {
	Study     string
	Unit      string
	Objective string
	Hyper     string // "key=value key=value", sorted by key; "" for none
	Seed      uint64
	Metric    string
	Value     float64
}

// Variant is the row's objective with its hyperparameters, the grouping key
// of every table.
func (r Row) Variant() string { return VariantLabel(r.Objective, r.Hyper) }

// VariantLabel is "objective" or "objective (hyperparameters)".
func VariantLabel(objective, hyper string) string {
	if hyper == "" {
		return objective
	}
	return objective + " (" + hyper + ")"
}

// WriteResults writes rows as results.csv (values with 17 significant
// digits so that they read back exactly).
func WriteResults(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ResultsHeader); err != nil {
		return err
	}
	for _, r := range rows {
		seed := ""
		if r.Seed != 0 {
			seed = strconv.FormatUint(r.Seed, 10)
		}
		if err := cw.Write([]string{r.Study, r.Unit, r.Objective, r.Hyper, seed, r.Metric, strconv.FormatFloat(r.Value, 'g', 17, 64)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadResults reads results.csv, checking its header and every value.
func ReadResults(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(ResultsHeader)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: empty; want the header %v", path, ResultsHeader)
	}
	for i, h := range ResultsHeader {
		if recs[0][i] != h {
			return nil, fmt.Errorf("%s: header column %d is %q; want %q", path, i+1, recs[0][i], h)
		}
	}
	var rows []Row
	for i, r := range recs[1:] {
		v, err := strconv.ParseFloat(r[6], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: value %q is not a number", path, i+2, r[6])
		}
		var seed uint64
		if r[4] != "" {
			if seed, err = strconv.ParseUint(r[4], 10, 64); err != nil {
				return nil, fmt.Errorf("%s: line %d: seed %q is not an unsigned integer", path, i+2, r[4])
			}
		}
		rows = append(rows, Row{Study: r[0], Unit: r[1], Objective: r[2], Hyper: r[3], Seed: seed, Metric: r[5], Value: v})
	}
	return rows, nil
}

// Model identifies one trained model.
type Model struct {
	Unit      string `json:"unit"` // the training unit's id
	Objective string `json:"objective"`
	Hyper     string `json:"hyperparameters,omitempty"`
	Seed      uint64 `json:"seed"`
}

// Variant is the model's objective with its hyperparameters.
func (m Model) Variant() string { return VariantLabel(m.Objective, m.Hyper) }

// CKAPair is the layer × layer linear CKA between two models' block
// outputs on the same test images: Matrix[i][j] = CKA(A layer i, B layer j).
type CKAPair struct {
	A      Model       `json:"a"`
	B      Model       `json:"b"`
	Matrix [][]float64 `json:"matrix"`
}

// CKAResult holds every CKA pair of a study.
type CKAResult struct {
	Layers   []string  `json:"layers"`
	Examples int       `json:"examples"`
	Spatial  string    `json:"spatial"` // how spatial maps became vectors
	Pairs    []CKAPair `json:"pairs"`
}

// Predictions holds the pairwise disagreement of models' test predictions
// and the accuracy of two-model ensembles (mean probabilities).
type Predictions struct {
	Models       []Model     `json:"models"`
	Disagreement [][]float64 `json:"disagreement"`
	// PairEnsemble[i][j] is the accuracy of the ensemble of models i and j
	// (i ≠ j); the diagonal is model i's own accuracy.
	PairEnsemble [][]float64 `json:"pair_ensemble"`
}

// Reliability is one model's reliability diagram before and after
// temperature scaling.
type Reliability struct {
	Model       Model                    `json:"model"`
	Temperature float64                  `json:"temperature"`
	Before      []metrics.ReliabilityBin `json:"before"`
	After       []metrics.ReliabilityBin `json:"after"`
}

// TargetInput is how a transfer target's images were brought to the
// pretrained models' input shape before probing or fine-tuning; a target
// whose images already had that shape has none.
type TargetInput struct {
	Target string `json:"target"`
	From   []int  `json:"from"` // the target's example shape [H, W, C]
	To     []int  `json:"to"`   // the models' input shape
	// Preprocessing says in words what was done: "resized from 8×8 to
	// 28×28 with bicubic interpolation (…), grey → RGB by replication".
	Preprocessing string `json:"preprocessing"`
}

// Analyses is analyses.json: everything in the report that is not a
// per-model metric.
type Analyses struct {
	Study       string        `json:"study"`
	Description string        `json:"description"` // dataset, model, recipe, in words
	Reference   string        `json:"reference"`   // the variant others are tested against (softmax)
	Models      []Model       `json:"models"`
	Notes       []string      `json:"notes,omitempty"`
	CKA         *CKAResult    `json:"cka,omitempty"`
	Predictions *Predictions  `json:"predictions,omitempty"`
	Reliability []Reliability `json:"reliability,omitempty"`
	// TargetInputs lists the transfer targets whose images were converted
	// to the models' input shape, by target.
	TargetInputs []TargetInput `json:"target_inputs,omitempty"`
	// TauKey is the cosine-softmax temperature hyperparameter's key ("tau").
	TauKey string `json:"tau_key,omitempty"`
}

// ReadAnalyses reads DIR/analyses.json.
func ReadAnalyses(dir string) (*Analyses, error) {
	var a Analyses
	if err := jsonfile.Read(filepath.Join(dir, AnalysesFile), &a); err != nil {
		return nil, err
	}
	return &a, nil
}
