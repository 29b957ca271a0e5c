package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/losslab/losslab/internal/atomicfile"
	"github.com/losslab/losslab/internal/folderlock"
	"github.com/losslab/losslab/internal/jsonfile"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/optim"
	"github.com/losslab/losslab/tensor"
)

// Names of the files in a run folder.
const (
	ConfigFile     = "config.json"
	CheckpointFile = "checkpoint.bin"
	MetricsLogFile = "metrics.jsonl"
	MetricsFile    = "metrics.json"
)

// Result is the outcome of a finished run, stored in metrics.json.
type Result struct {
	TestAccuracy float64 `json:"test_accuracy"`
	// TestLoss is the softmax cross-entropy (NLL) of the logits, whatever the
	// training objective, so that runs are comparable.
	TestLoss      float64 `json:"test_loss"`
	TrainLoss     float64 `json:"train_loss"`     // last epoch, training objective
	TrainAccuracy float64 `json:"train_accuracy"` // last epoch
	// ParamsSHA256 is the hex sha256 of all parameters and buffers, in
	// Model.Params order, as little-endian float32 bytes: the live (not
	// averaged) weights at the end of training.
	ParamsSHA256 string  `json:"params_sha256"`
	Steps        int     `json:"steps"`
	Epochs       int     `json:"epochs"`
	NumParams    int     `json:"num_params"` // trainable parameter elements
	Seconds      float64 `json:"seconds"`    // training time over all invocations, evaluation excluded
	// Resumed reports that the invocation that finished the run started
	// from a checkpoint.
	Resumed bool `json:"resumed"`
	// AlreadyDone reports that the folder held a finished run, whose stored
	// result this is; Run did no work.
	AlreadyDone bool `json:"-"`
}

// Run trains cfg in dir, resuming from dir's checkpoint if there is one, and
// returns the final result. If dir holds a finished run with the same
// config, Run returns its result with AlreadyDone set. If dir holds a
// different config, Run refuses, listing the differing fields.
//
// When ctx is cancelled, Run saves a checkpoint before the next step and
// returns ctx.Err(); calling Run again with the same config resumes and ends
// with bit-identical weights. A NaN or infinite loss stops the run with an
// error naming the step and epoch.
func Run(ctx context.Context, cfg Config, dir string, opts Options) (*Result, error) {
	cfg = cfg.Resolved()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = noProgress{}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// One process at a time trains in a run folder: a second would train
	// the same run again from the last checkpoint.
	var release func()
	var err error
	if opts.Wait {
		release, err = folderlock.Wait(ctx, dir, func(b *folderlock.BusyError) {
			if opts.Waiting != nil {
				opts.Waiting(fmt.Sprintf("%s is in use by %s: waiting for it to finish", dir, b.Holder))
			}
		})
	} else {
		release, err = folderlock.Lock(dir)
	}
	if err != nil {
		return nil, err
	}
	defer release()
	created, err := claimFolder(dir, cfg)
	if err != nil {
		return nil, err
	}
	if res, err := readResult(filepath.Join(dir, MetricsFile)); err == nil {
		res.AlreadyDone = true
		return res, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(cfg.Threads)
	r, err := newRun(cfg, dir, opts.Datasets)
	if err != nil {
		if created {
			// Nothing was trained: release the folder so that a corrected
			// command (another dataset path, say) is not refused as a
			// different config.
			os.Remove(filepath.Join(dir, ConfigFile))
		}
		return nil, err
	}
	return r.run(ctx, progress)
}

// Options are what a run needs besides its Config. None of them changes
// a result.
type Options struct {
	// Datasets resolves Config.Dataset; nil resolves catalogue names,
	// paths, streamed image folders, derived tasks and holdout splits
	// (data.Resolver).
	Datasets *data.Resolver
	// Progress receives every step and epoch; nil discards them.
	Progress Progress
	// Wait makes Run wait while another process holds the run folder,
	// until it lets go or ctx is done, instead of failing at once; the
	// run it finished is then already done.
	Wait bool
	// Waiting, if set, is told once when Run starts waiting, and whom for.
	Waiting func(msg string)
}

type noProgress struct{}

func (noProgress) Step(StepInfo)      {}
func (noProgress) Epoch(EpochMetrics) {}

// ConfigConflictError is returned by Run when the run folder already holds
// a run with a different config: the folder is left untouched.
type ConfigConflictError struct {
	Dir         string
	Differences []string // "field: saved X, requested Y"
}

func (e *ConfigConflictError) Error() string {
	return fmt.Sprintf("%s holds a run with a different config; use another folder or the same settings. Differences:\n  %s",
		e.Dir, strings.Join(e.Differences, "\n  "))
}

// claimFolder checks that dir's config.json (if any) has the same identity
// as cfg, then writes cfg there. created reports that there was none.
func claimFolder(dir string, cfg Config) (created bool, err error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var saved Config
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&saved); err != nil {
			return false, fmt.Errorf("%s: %v; it is not a losslab training config (use another folder)", path, err)
		}
		if d := diff(saved, cfg); len(d) > 0 {
			return false, &ConfigConflictError{Dir: dir, Differences: d}
		}
	case errors.Is(err, fs.ErrNotExist):
		created = true
	default:
		return false, err
	}
	return created, jsonfile.Write(path, cfg)
}

func readResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %v; delete it to redo the final evaluation", path, err)
	}
	return &res, nil
}

// run is the state of one training run.
type run struct {
	cfg         Config
	dir         string
	train, test *data.Dataset
	model       *nn.Model
	obj         objective.Objective
	opt         *optim.SGD
	ema         *optim.EMA
	sched       optim.Schedule
	perEpoch    int // steps per epoch
	total       int // steps in the run
	step        int // steps done
	stats       epochStats
	resumed     bool
	logged      []EpochMetrics // lines of metrics.jsonl
	batch       data.Batch
	dz          *tensor.Tensor
	aug         *data.Augmentation
	augKeys     []uint64
	mix         data.Mix
	mixed       bool // this step's batch was mixed (r.mix is valid)
	dzPartner   *tensor.Tensor
	// streamCrop: the streamed training set's loader does the augmentation's
	// random-resized crop and flip on the full-resolution images (r.aug
	// holds the rest of the chain).
	streamCrop bool
	loader     *prefetcher // the epoch's loader of a streamed training set
}

func newRun(cfg Config, dir string, datasets *data.Resolver) (*run, error) {
	r := &run{cfg: cfg, dir: dir}
	var err error
	if r.train, r.test, err = datasets.Load(cfg.Dataset); err != nil {
		return nil, err
	}
	r.train, r.test = r.train.Head(cfg.TrainLimit), r.test.Head(cfg.TestLimit)
	if r.model, err = nn.Build(cfg.Model, r.train.ExampleShape(), r.train.NumClasses, cfg.Seed); err != nil {
		return nil, err
	}
	if r.obj, err = objective.New(cfg.Objective, cfg.ObjectiveParams); err != nil {
		return nil, err
	}
	if err = objective.ModifyHead(r.obj, r.model); err != nil {
		return nil, err
	}
	if cfg.InitFrom != "" {
		// Before the optimiser and the EMA take their initial state; a
		// checkpoint restored below overwrites these values anyway.
		if _, err = initFrom(cfg, r.model, datasets); err != nil {
			return nil, err
		}
	}
	augment := cfg.Augment
	if r.train.Streamed() && data.HasStage(augment, "random-resized-crop") {
		r.streamCrop = true
		augment = withoutStage(augment, "random-resized-crop")
	}
	if r.aug, err = data.NewAugmentation(augment, cfg.RandAugmentN, cfg.RandAugmentM); err != nil {
		return nil, err
	}
	if !r.aug.Empty() {
		shape := r.train.ExampleShape()
		if len(shape) != 3 {
			return nil, fmt.Errorf("augment %q: dataset %s has examples of shape %v; want [H, W, C] images", cfg.Augment, cfg.Dataset, shape)
		}
		if err := r.train.Norm.Validate(shape[2]); err != nil {
			return nil, fmt.Errorf("augment %q needs the dataset's normalisation to recover [0, 1] pixels: dataset %s: %w", cfg.Augment, cfg.Dataset, err)
		}
	}
	if (cfg.Mixup > 0 || cfg.CutMix > 0 || (cfg.EvalCrop > 0 && cfg.EvalCrop < 1)) && len(r.train.ExampleShape()) != 3 {
		return nil, fmt.Errorf("mixup/cutmix/eval_crop: dataset %s has examples of shape %v; want [H, W, C] images", cfg.Dataset, r.train.ExampleShape())
	}
	r.opt = optim.NewSGD(r.model.Params(), optim.SGDConfig{Momentum: cfg.Momentum, Nesterov: cfg.Nesterov, WeightDecay: cfg.WeightDecay})
	if cfg.EMADecay > 0 {
		r.ema = optim.NewEMA(r.model.Params(), optim.EMAConfig{Decay: cfg.EMADecay, Warmup: cfg.EMAWarmup})
	}
	r.perEpoch = (r.train.Len() + cfg.BatchSize - 1) / cfg.BatchSize
	r.total = cfg.Epochs * r.perEpoch
	r.sched = schedule(cfg, r.perEpoch)

	if r.logged, err = readMetricsLog(filepath.Join(dir, MetricsLogFile)); err != nil {
		return nil, err
	}
	ckPath := filepath.Join(dir, CheckpointFile)
	ck, err := readCheckpoint(ckPath)
	switch {
	case err == nil:
		if err := r.restore(ckPath, ck); err != nil {
			return nil, err
		}
		r.resumed = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return r, nil
}

// withoutStage is the augmentation spec without the named stage.
func withoutStage(spec, name string) string {
	var keep []string
	for _, s := range strings.Split(spec, "+") {
		if s != name {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, "+")
}

// schedule builds the learning-rate schedule of cfg for perEpoch steps per
// epoch.
func schedule(cfg Config, perEpoch int) optim.Schedule {
	total := cfg.Epochs * perEpoch
	warm := int(math.Round(cfg.WarmupEpochs * float64(perEpoch)))
	var s optim.Schedule
	switch cfg.Schedule {
	case "constant":
		s = optim.Constant{Value: cfg.LR}
	case "cosine":
		s = optim.Cosine{Base: cfg.LR, Final: 0, Steps: total - warm}
	case "step":
		b := make([]int, len(cfg.StepEpochs))
		for i, e := range cfg.StepEpochs {
			b[i] = e*perEpoch - warm
		}
		s = optim.StepDecay{Base: cfg.LR, Boundaries: b, Factor: cfg.StepFactor}
	default:
		panic("train: unvalidated schedule " + cfg.Schedule)
	}
	if warm > 0 {
		s = optim.Warmup{Steps: warm, Then: s}
	}
	return s
}

// sections lists everything a checkpoint holds besides counters: parameters
// and buffers, then optimiser and EMA state (sharing their storage).
func (r *run) sections() []optim.NamedSlice {
	var s []optim.NamedSlice
	for _, p := range r.model.Params() {
		s = append(s, optim.NamedSlice{Name: "param/" + p.Name, Data: p.Value})
	}
	s = append(s, r.opt.State()...)
	if r.ema != nil {
		s = append(s, r.ema.State()...)
	}
	return s
}

func (r *run) restore(path string, ck *checkpoint) error {
	if !bytes.Equal(ck.Fingerprint, r.cfg.fingerprint()) {
		return fmt.Errorf("%s was written by a run with another config (%s); delete it, or restore the config.json it belongs to", path, ck.Fingerprint)
	}
	if ck.Step < 0 || ck.Step > r.total {
		return fmt.Errorf("%s: step %d outside the run's %d steps", path, ck.Step, r.total)
	}
	if err := restoreSections(path, r.sections(), ck.Sections); err != nil {
		return err
	}
	r.step, r.stats = ck.Step, ck.Stats
	return nil
}

func (r *run) saveCheckpoint() error {
	return writeCheckpoint(filepath.Join(r.dir, CheckpointFile), &checkpoint{
		Fingerprint: r.cfg.fingerprint(),
		Step:        r.step,
		Stats:       r.stats,
		Sections:    r.sections(),
	})
}

// run trains to the end, evaluating and logging after every epoch.
func (r *run) run(ctx context.Context, progress Progress) (*Result, error) {
	n, bs := r.train.Len(), r.cfg.BatchSize
	defer r.stopLoader()
	for r.step < r.total {
		epoch := r.step / r.perEpoch // from 0
		perm := permutation(r.cfg.Seed, epoch, n)
		startSeen, startSeconds := r.stats.Seen, r.stats.EpochSeconds
		if r.train.Streamed() {
			r.loader = startPrefetch(r.train, perm, epoch, r.step%r.perEpoch, bs, r.cfg.Seed, r.streamCrop)
		}
		for s := r.step % r.perEpoch; s < r.perEpoch; s++ {
			if err := ctx.Err(); err != nil {
				if serr := r.saveCheckpoint(); serr != nil {
					return nil, fmt.Errorf("interrupted, and saving the checkpoint failed: %w", serr)
				}
				return nil, err
			}
			t0 := time.Now()
			if err := r.prepareBatch(perm[s*bs:min((s+1)*bs, n)], epoch); err != nil {
				return nil, fmt.Errorf("epoch %d, batch %d of %d: %w", epoch+1, s+1, r.perEpoch, err)
			}
			lr := r.sched.LR(r.step)
			loss, correct := r.trainStep(lr)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("training diverged: loss is %v at step %d (epoch %d, batch %d of %d, learning rate %.4g); lower lr or check the data",
					loss, r.step+1, epoch+1, s+1, r.perEpoch, lr)
			}
			r.step++
			dt := time.Since(t0).Seconds()
			r.stats.LossSum += loss * float64(len(r.batch.Labels))
			r.stats.Correct += int64(correct)
			r.stats.Seen += int64(len(r.batch.Labels))
			r.stats.EpochSeconds += dt
			r.stats.TotalSeconds += dt
			progress.Step(StepInfo{
				Epoch: epoch + 1, Epochs: r.cfg.Epochs, Step: r.step, TotalSteps: r.total,
				EpochStep: s + 1, PerEpoch: r.perEpoch,
				Loss:     r.stats.LossSum / float64(r.stats.Seen),
				Accuracy: float64(r.stats.Correct) / float64(r.stats.Seen),
				LR:       lr, ExamplesPerSec: rate(r.stats.Seen-startSeen, r.stats.EpochSeconds-startSeconds),
				Elapsed: time.Duration(r.stats.TotalSeconds * float64(time.Second)),
			})
			if r.cfg.CheckpointEvery > 0 && r.step%r.cfg.CheckpointEvery == 0 && s+1 < r.perEpoch {
				if err := r.saveCheckpoint(); err != nil {
					return nil, err
				}
			}
		}
		r.stopLoader()
		m := EpochMetrics{
			Epoch: epoch + 1, Step: r.step,
			TrainLoss:      r.stats.LossSum / float64(r.stats.Seen),
			TrainAccuracy:  float64(r.stats.Correct) / float64(r.stats.Seen),
			LR:             r.sched.LR(r.step - 1),
			Seconds:        r.stats.EpochSeconds,
			ExamplesPerSec: rate(r.stats.Seen, r.stats.EpochSeconds),
		}
		m.TestAccuracy, m.TestLoss = r.evaluate()
		if math.IsNaN(m.TestLoss) || math.IsInf(m.TestLoss, 0) {
			return nil, fmt.Errorf("evaluation after epoch %d (step %d) gave a test loss of %v: the weights diverged", epoch+1, r.step, m.TestLoss)
		}
		// The line goes out before the epoch-end checkpoint: after a crash
		// in between, the epoch is redone and its line not repeated.
		if err := r.logEpoch(m); err != nil {
			return nil, err
		}
		progress.Epoch(m)
		r.stats = epochStats{TotalSeconds: r.stats.TotalSeconds}
		if err := r.saveCheckpoint(); err != nil {
			return nil, err
		}
	}
	return r.finish()
}

// stopLoader stops the epoch's loader, if any.
func (r *run) stopLoader() {
	if r.loader != nil {
		r.loader.stop()
		r.loader = nil
	}
}

// prepareBatch gathers the examples at indices into r.batch (a streamed
// training set's loader has decoded them already, in this order), augments
// each with the key of (seed, epoch, example index), and mixes the batch
// with mixup or CutMix keyed by (seed, step). Nothing here keeps state
// between steps, so a resumed run prepares the same batches.
func (r *run) prepareBatch(indices []int, epoch int) error {
	if r.loader != nil {
		b, err := r.loader.next()
		if err != nil {
			return err
		}
		r.batch = *b
	} else {
		r.train.Gather(indices, &r.batch)
	}
	if !r.aug.Empty() {
		r.augKeys = r.augKeys[:0]
		for _, j := range indices {
			r.augKeys = append(r.augKeys, data.ExampleKey(r.cfg.Seed, epoch, j))
		}
		r.aug.Apply(&r.batch, r.train.Norm, r.augKeys)
	}
	r.mixed = false
	mixup, cutmix := r.cfg.Mixup, r.cfg.CutMix
	if mixup == 0 && cutmix == 0 {
		return nil
	}
	key := data.MixKey(r.cfg.Seed, r.step)
	if mixup > 0 && cutmix > 0 {
		// One of the two per batch, each with probability 1/2 (timm's switch).
		if stepSeed(key, 0)&1 == 0 {
			cutmix = 0
		} else {
			mixup = 0
		}
	}
	if mixup > 0 {
		data.Mixup(&r.batch, mixup, key, &r.mix)
	} else {
		data.CutMix(&r.batch, cutmix, key, &r.mix)
	}
	r.mixed = true
	return nil
}

// mixedLoss is the loss of a mixed batch, λ·L(z, labels) + (1 − λ)·L(z,
// partner), with dz its gradient: every objective's loss is a mean of
// per-example terms in which the label enters only its own example, so the
// soft-label loss is this weighted sum of two hard-label losses and its
// gradient the same weighting of theirs. scratch holds the second gradient.
func mixedLoss(obj objective.Loss, z *tensor.Tensor, labels, partner []int, lambda float64, dz, scratch *tensor.Tensor) float64 {
	own := obj.Loss(z, labels, dz)
	if lambda == 1 {
		return own
	}
	other := obj.Loss(z, partner, scratch)
	l, o := float32(lambda), float32(1-lambda)
	for i := range dz.Data {
		dz.Data[i] = l*dz.Data[i] + o*scratch.Data[i]
	}
	return lambda*own + (1-lambda)*other
}

// trainStep runs one forward/backward/update on r.batch and returns the
// batch's mean loss and number of correct predictions (against each
// example's dominant label when the batch is mixed).
func (r *run) trainStep(lr float64) (loss float64, correct int) {
	r.model.SetSeed(stepSeed(r.cfg.Seed, r.step))
	z := r.model.Forward(r.batch.X, true)
	r.dz = tensor.Ensure(r.dz, z.Shape...)
	if r.mixed {
		r.dzPartner = tensor.Ensure(r.dzPartner, z.Shape...)
		loss = mixedLoss(r.obj, z, r.batch.Labels, r.mix.PartnerLabels, r.mix.Lambda, r.dz, r.dzPartner)
		if r.mix.Lambda >= 0.5 {
			correct = countCorrect(z, r.batch.Labels)
		} else {
			correct = countCorrect(z, r.mix.PartnerLabels)
		}
	} else {
		loss = r.obj.Loss(z, r.batch.Labels, r.dz)
		correct = countCorrect(z, r.batch.Labels)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, correct
	}
	r.model.Backward(r.dz)
	loss += objective.Regularize(r.obj, r.model)
	r.opt.Step(lr)
	if r.ema != nil {
		r.ema.Update(r.step + 1)
	}
	return loss, correct
}

// evaluate returns the test accuracy and softmax cross-entropy in eval mode
// (Predict), on the EMA weights if enabled.
func (r *run) evaluate() (accuracy, loss float64) {
	if r.ema != nil {
		r.ema.SwapIn()
		defer r.ema.SwapOut()
	}
	var lossSum float64
	correct := 0
	_ = Predict(r.model, r.cfg, r.test, func(labels []int, outs []nn.Output) error {
		z := outs[len(outs)-1].Tensor
		lossSum += objective.Softmax{}.Loss(z, labels, nil) * float64(len(labels))
		correct += countCorrect(z, labels)
		return nil
	})
	n := r.test.Len()
	return float64(correct) / float64(n), lossSum / float64(n)
}

// countCorrect counts the rows of z whose prediction is the label
// (metrics.Correct); a batch with non-finite logits counts none, and its
// loss stops the run.
func countCorrect(z *tensor.Tensor, labels []int) int {
	c, err := metrics.Correct(z, labels)
	if err != nil {
		return 0
	}
	return c
}

// logEpoch appends m to metrics.jsonl unless its epoch is already there.
func (r *run) logEpoch(m EpochMetrics) error {
	for _, l := range r.logged {
		if l.Epoch == m.Epoch {
			return nil
		}
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, MetricsLogFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if len(r.logged) == 0 {
		if err := atomicfile.SyncDir(r.dir); err != nil {
			return err
		}
	}
	r.logged = append(r.logged, m)
	return nil
}

// readMetricsLog reads metrics.jsonl. A last line cut short by a crash is
// dropped (the file is rewritten without it); a malformed line elsewhere is
// an error naming the file and line.
func readMetricsLog(path string) ([]EpochMetrics, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []EpochMetrics
	good := bytes.LastIndexByte(b, '\n') + 1 // bytes after it were cut short
	for i, line := range bytes.Split(b[:good], []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m EpochMetrics
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, i+1, err)
		}
		out = append(out, m)
	}
	if good < len(b) {
		if err := atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(b[:good]); return err }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// finish evaluates if needed, writes metrics.json and returns the result.
func (r *run) finish() (*Result, error) {
	res := &Result{
		Steps: r.step, Epochs: r.cfg.Epochs, NumParams: r.model.NumParams(),
		ParamsSHA256: paramsSHA256(r.model), Resumed: r.resumed,
	}
	if k := len(r.logged); k > 0 && r.logged[k-1].Epoch == r.cfg.Epochs {
		last := r.logged[k-1]
		res.TestAccuracy, res.TestLoss = last.TestAccuracy, last.TestLoss
		res.TrainLoss, res.TrainAccuracy = last.TrainLoss, last.TrainAccuracy
	} else {
		// Resumed from the final checkpoint with the last line missing.
		res.TestAccuracy, res.TestLoss = r.evaluate()
	}
	res.Seconds = r.stats.TotalSeconds
	if err := jsonfile.Write(filepath.Join(r.dir, MetricsFile), res); err != nil {
		return nil, err
	}
	return res, nil
}

// paramsSHA256 hashes all parameters and buffers in Model.Params order as
// little-endian float32 bytes.
func paramsSHA256(m *nn.Model) string {
	h := sha256.New()
	var buf []byte
	for _, p := range m.Params() {
		buf = buf[:0]
		for _, v := range p.Value {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// permutation is the order of the n training examples in an epoch: a
// Fisher–Yates shuffle driven by a PCG generator seeded with (seed, epoch),
// so a resumed run needs no generator state. The bounded draws are written
// out (Lemire's method) rather than taken from math/rand/v2's Shuffle, whose
// algorithm is not promised to stay the same across Go releases.
func permutation(seed uint64, epoch, n int) []int {
	rng := rand.NewPCG(seed, 0x9E3779B97F4A7C15^uint64(epoch))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(bounded(rng, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// bounded draws uniformly from [0, n) (Lemire, "Fast random integer
// generation in an interval", 2019).
func bounded(rng *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(rng.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(rng.Uint64(), n)
		}
	}
	return hi
}

// stepSeed is the seed of a step's random draws (dropout masks), a hash of
// the run seed and the step (SplitMix64's finaliser).
func stepSeed(seed uint64, step int) uint64 {
	z := seed + uint64(step+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// rate is n per seconds, 0 when no time was measured.
func rate(n int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}
