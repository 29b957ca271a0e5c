package metrics

import (
	"fmt"
	"math"
	"sort"
)

// CorruptionAccuracy is a model's accuracy on one corruption at one
// severity (Hendrycks & Dietterich 2019 use severities 1–5).
type CorruptionAccuracy struct {
	Corruption string  `json:"corruption"`
	Severity   int     `json:"severity"`
	Accuracy   float64 `json:"accuracy"`
}

// RobustnessSummary tabulates accuracy over a full corruption × severity
// grid.
type RobustnessSummary struct {
	// Corruptions and Severities are the grid's axes, sorted.
	Corruptions []string `json:"corruptions"`
	Severities  []int    `json:"severities"`
	// Table[c][s] is the accuracy on Corruptions[c] at Severities[s].
	Table [][]float64 `json:"table"`
	// MeanCorrupted is the mean of every cell, each weighted equally.
	MeanCorrupted float64 `json:"mean_corrupted_accuracy"`
	// PerCorruption[c] is the mean over severities; PerSeverity[s] the mean
	// over corruptions.
	PerCorruption []float64 `json:"per_corruption"`
	PerSeverity   []float64 `json:"per_severity"`
}

// MeanCorruptedAccuracy is the mean accuracy over corruption × severity
// cells, each weighted equally, summed in the order given
// (docs/definitions.md, "Robustness"). Unlike SummarizeRobustness it
// accepts ragged grids — corruptions with different numbers of severities,
// such as MNIST-C's single one beside the common corruptions' five — where
// a corruption with more severities weighs more. Each (corruption,
// severity) must appear once, with an accuracy in [0, 1].
func MeanCorruptedAccuracy(cells []CorruptionAccuracy) (float64, error) {
	if len(cells) == 0 {
		return 0, fmt.Errorf("robustness: no results")
	}
	seen := map[CorruptionAccuracy]bool{}
	var sum float64
	for _, c := range cells {
		if err := checkCell(c); err != nil {
			return 0, err
		}
		key := CorruptionAccuracy{Corruption: c.Corruption, Severity: c.Severity}
		if seen[key] {
			return 0, fmt.Errorf("robustness: %s at severity %d is given twice", c.Corruption, c.Severity)
		}
		seen[key] = true
		sum += c.Accuracy
	}
	return sum / float64(len(cells)), nil
}

func checkCell(c CorruptionAccuracy) error {
	if c.Corruption == "" {
		return fmt.Errorf("robustness: a result has an empty corruption name")
	}
	if math.IsNaN(c.Accuracy) || c.Accuracy < 0 || c.Accuracy > 1 {
		return fmt.Errorf("robustness: accuracy %v for %s at severity %d, want a fraction in [0, 1]",
			c.Accuracy, c.Corruption, c.Severity)
	}
	return nil
}

// SummarizeRobustness arranges per-cell accuracies into a table and averages
// them. Every corruption must be given at every severity exactly once (the
// mean over an incomplete grid would weight corruptions unequally), and
// accuracies must lie in [0, 1].
func SummarizeRobustness(cells []CorruptionAccuracy) (RobustnessSummary, error) {
	if len(cells) == 0 {
		return RobustnessSummary{}, fmt.Errorf("robustness: no results")
	}
	corr := map[string]int{}
	sev := map[int]int{}
	for _, c := range cells {
		if err := checkCell(c); err != nil {
			return RobustnessSummary{}, err
		}
		corr[c.Corruption] = 0
		sev[c.Severity] = 0
	}
	var s RobustnessSummary
	for name := range corr {
		s.Corruptions = append(s.Corruptions, name)
	}
	sort.Strings(s.Corruptions)
	for v := range sev {
		s.Severities = append(s.Severities, v)
	}
	sort.Ints(s.Severities)
	for i, name := range s.Corruptions {
		corr[name] = i
	}
	for i, v := range s.Severities {
		sev[v] = i
	}
	seen := make([][]bool, len(s.Corruptions))
	s.Table = make([][]float64, len(s.Corruptions))
	for i := range s.Table {
		s.Table[i] = make([]float64, len(s.Severities))
		seen[i] = make([]bool, len(s.Severities))
	}
	for _, c := range cells {
		i, j := corr[c.Corruption], sev[c.Severity]
		if seen[i][j] {
			return RobustnessSummary{}, fmt.Errorf("robustness: %s at severity %d is given twice", c.Corruption, c.Severity)
		}
		seen[i][j] = true
		s.Table[i][j] = c.Accuracy
	}
	for i := range seen {
		for j := range seen[i] {
			if !seen[i][j] {
				return RobustnessSummary{}, fmt.Errorf("robustness: %s at severity %d is missing; want every corruption at every severity",
					s.Corruptions[i], s.Severities[j])
			}
		}
	}
	s.PerCorruption = make([]float64, len(s.Corruptions))
	s.PerSeverity = make([]float64, len(s.Severities))
	for i, row := range s.Table {
		for j, a := range row {
			s.PerCorruption[i] += a / float64(len(s.Severities))
			s.PerSeverity[j] += a / float64(len(s.Corruptions))
			s.MeanCorrupted += a
		}
	}
	s.MeanCorrupted /= float64(len(cells))
	return s, nil
}
