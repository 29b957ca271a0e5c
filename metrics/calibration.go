package metrics

import (
	"fmt"
	"math"
	"sort"

	"github.com/losslab/losslab/tensor"
)

// DefaultBins is the study's number of calibration bins: 15 equal-width
// bins over top-label confidence (docs/definitions.md#ece).
const DefaultBins = 15

// Binning names the bin convention of Calibration, for reports.
const Binning = "equal-width over top-label confidence; bin i of B is (i/B, (i+1)/B], confidence 0 in bin 0"

// Calibration accumulates calibration statistics over batches of logits, in
// memory O(classes × bins) whatever the number of examples: add batches with
// Add, read the summary with Result.
//
// Definitions, with p = softmax(z), confidence c = max_j p_j, prediction
// ŷ = argmax_j z_j, B bins and n examples:
//
//   - bin of a probability q: b = ⌈q·B⌉ − 1, clamped to [0, B−1], i.e. bin
//     b is the interval (b/B, (b+1)/B] and q = 0 falls in bin 0;
//   - ECE (top-label, L1, Guo et al. 2017) = Σ_b (n_b/n)·|acc_b − conf_b|,
//     where n_b examples have their confidence in bin b, acc_b is the
//     fraction of them with ŷ = y and conf_b their mean confidence;
//   - MCE = max over non-empty bins of |acc_b − conf_b|;
//   - classwise ECE (Kull et al. 2019) = (1/K)·Σ_k Σ_b (n_kb/n)·|f_kb − q_kb|,
//     binning every example's p_k by the same rule; f_kb is the fraction of
//     those examples with y = k and q_kb their mean p_k;
//   - NLL = mean −log p_y (nats);
//   - Brier = mean Σ_k (p_k − [y = k])², summed over classes (Brier 1950;
//     range [0, 2]), not divided by K.
//
// All are fractions; multiply by 100 for the percent the study reports.
type Calibration struct {
	classes, bins int

	examples int64
	correct  int64
	nllSum   float64
	brierSum float64

	// Top-label bins.
	count   []int64
	confSum []float64
	hits    []int64

	// Classwise bins, indexed [class*bins + bin].
	classCount []int64
	classProb  []float64
	classHits  []int64

	probs []float64
}

// NewCalibration returns an empty accumulator for logits with the given
// number of classes, binned into bins equal-width bins (DefaultBins in the
// study).
func NewCalibration(classes, bins int) (*Calibration, error) {
	if classes < 2 {
		return nil, fmt.Errorf("calibration: %d classes, want at least 2", classes)
	}
	if bins < 1 {
		return nil, fmt.Errorf("calibration: %d bins, want at least 1", bins)
	}
	return &Calibration{
		classes: classes, bins: bins,
		count: make([]int64, bins), confSum: make([]float64, bins), hits: make([]int64, bins),
		classCount: make([]int64, classes*bins), classProb: make([]float64, classes*bins),
		classHits: make([]int64, classes*bins),
		probs:     make([]float64, classes),
	}, nil
}

// binOf returns the equal-width bin (b/B, (b+1)/B] that holds q, with q = 0
// in bin 0.
func binOf(q float64, bins int) int {
	b := int(math.Ceil(q*float64(bins))) - 1
	return min(max(b, 0), bins-1)
}

// Add accumulates a batch of logits [examples, classes] with their labels.
func (c *Calibration) Add(logits *tensor.Tensor, labels []int) error {
	n, k, err := checkLogits("calibration", logits, labels)
	if err != nil {
		return err
	}
	if k != c.classes {
		return fmt.Errorf("calibration: logits have %d classes, accumulator was made for %d", k, c.classes)
	}
	p := c.probs
	for i := 0; i < n; i++ {
		z := logits.Data[i*k : (i+1)*k]
		y := labels[i]
		maxBZ, logSum := softmaxInto(p, z, 1)
		pred := argmax(z)
		c.examples++
		if pred == y {
			c.correct++
		}
		c.nllSum += maxBZ + logSum - float64(z[y])
		conf := p[pred]
		b := binOf(conf, c.bins)
		c.count[b]++
		c.confSum[b] += conf
		if pred == y {
			c.hits[b]++
		}
		for j, q := range p {
			t := 0.0
			if j == y {
				t = 1
			}
			c.brierSum += (q - t) * (q - t)
			cb := j*c.bins + binOf(q, c.bins)
			c.classCount[cb]++
			c.classProb[cb] += q
			if j == y {
				c.classHits[cb]++
			}
		}
	}
	return nil
}

// ReliabilityBin is one bar of a reliability diagram: the examples whose
// top-label confidence lies in (Lo, Hi].
type ReliabilityBin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Count      int64   `json:"count"`
	Confidence float64 `json:"confidence"` // mean confidence; 0 when empty
	Accuracy   float64 `json:"accuracy"`   // fraction correct; 0 when empty
}

// CalibrationResult summarises a Calibration; see Calibration for the
// definitions. Every value is a fraction (not percent) except NLL (nats).
type CalibrationResult struct {
	Examples     int64            `json:"examples"`
	Bins         int              `json:"bins"`
	Binning      string           `json:"binning"`
	Accuracy     float64          `json:"accuracy"`
	ECE          float64          `json:"ece"`
	MCE          float64          `json:"mce"`
	ClasswiseECE float64          `json:"classwise_ece"`
	NLL          float64          `json:"nll"`
	Brier        float64          `json:"brier"`
	Reliability  []ReliabilityBin `json:"reliability"`
}

// Result returns the statistics of everything added so far. With no
// examples every statistic is 0.
func (c *Calibration) Result() CalibrationResult {
	r := CalibrationResult{Examples: c.examples, Bins: c.bins, Binning: Binning}
	if c.examples == 0 {
		return r
	}
	n := float64(c.examples)
	r.Accuracy = float64(c.correct) / n
	r.NLL = c.nllSum / n
	r.Brier = c.brierSum / n
	for b := 0; b < c.bins; b++ {
		bin := ReliabilityBin{
			Lo: float64(b) / float64(c.bins), Hi: float64(b+1) / float64(c.bins),
			Count: c.count[b],
		}
		if c.count[b] > 0 {
			m := float64(c.count[b])
			bin.Confidence = c.confSum[b] / m
			bin.Accuracy = float64(c.hits[b]) / m
			gap := math.Abs(bin.Accuracy - bin.Confidence)
			r.ECE += m / n * gap
			r.MCE = math.Max(r.MCE, gap)
		}
		r.Reliability = append(r.Reliability, bin)
	}
	for i, cnt := range c.classCount {
		if cnt > 0 {
			m := float64(cnt)
			r.ClasswiseECE += m / n * math.Abs(float64(c.classHits[i])/m-c.classProb[i]/m)
		}
	}
	r.ClasswiseECE /= float64(c.classes)
	return r
}

// Calibrate is NewCalibration, Add and Result in one call.
func Calibrate(logits *tensor.Tensor, labels []int, bins int) (CalibrationResult, error) {
	_, k, err := checkLogits("calibration", logits, labels)
	if err != nil {
		return CalibrationResult{}, err
	}
	c, err := NewCalibration(k, bins)
	if err != nil {
		return CalibrationResult{}, err
	}
	if err := c.Add(logits, labels); err != nil {
		return CalibrationResult{}, err
	}
	return c.Result(), nil
}

// AdaptiveBinning names the bin convention of AdaptiveECE, for reports.
const AdaptiveBinning = "equal-mass over top-label confidence: examples sorted by confidence (then index), bin b holds sorted positions [b·n/B, (b+1)·n/B)"

// AdaptiveECE returns the top-label ECE with equal-mass bins (Nguyen &
// O'Connor 2015; Nixon et al. 2019): examples are sorted by confidence
// (ties by index) and bin b of B holds sorted positions
// [⌊b·n/B⌋, ⌊(b+1)·n/B⌋); then ECE = Σ_b (n_b/n)·|acc_b − conf_b| as in
// Calibration. Unlike Calibration it needs the confidences of all examples
// in memory (O(n)), because bin edges depend on all of them. When bins > n
// the empty bins are skipped.
func AdaptiveECE(logits *tensor.Tensor, labels []int, bins int) (float64, error) {
	if bins < 1 {
		return 0, fmt.Errorf("adaptive ECE: %d bins, want at least 1", bins)
	}
	n, k, err := checkLogits("adaptive ECE", logits, labels)
	if err != nil {
		return 0, err
	}
	type scored struct {
		conf    float64
		correct bool
	}
	all := make([]scored, n)
	p := make([]float64, k)
	for i := range all {
		z := logits.Data[i*k : (i+1)*k]
		softmaxInto(p, z, 1)
		pred := argmax(z)
		all[i] = scored{p[pred], pred == labels[i]}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].conf < all[b].conf })
	var ece float64
	for b := 0; b < bins; b++ {
		lo, hi := b*n/bins, (b+1)*n/bins
		if hi == lo {
			continue
		}
		var conf, hits float64
		for _, s := range all[lo:hi] {
			conf += s.conf
			if s.correct {
				hits++
			}
		}
		m := float64(hi - lo)
		ece += m / float64(n) * math.Abs(hits/m-conf/m)
	}
	return ece, nil
}
