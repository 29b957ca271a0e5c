// Package study runs a whole study: a spec (spec.go) becomes a plan of
// content-addressed units (plan.go) — train, evaluate, extract features,
// transfer probes, full fine-tuning, corruption robustness, CKA,
// predictions — each run into
// its own folder of a store and marked done by a DONE.json written last
// (units.go). Re-running a study skips finished units and resumes
// unfinished ones, and two studies sharing a store share their units. The
// local executor (Run) runs units side by side, one per core; the Slurm
// executor (slurm.go) submits the training units as a job array. Every run
// ends by gathering results.csv and analyses.json and writing the report
// (package report).
//
// A study folder holds:
//
//	plan.json       the plan last run (units with resolved configs)
//	units/ID/       each unit's outputs and DONE.json (unless --store is elsewhere)
//	results.csv     every metric, long format (report.Row)
//	analyses.json   CKA, disagreement, reliability, notes (report.Analyses)
//	report.md, report.html, figures/
package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/internal/atomicfile"
	"github.com/losslab/losslab/internal/folderlock"
	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/tensor"

	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/train"
)

// PlanFile is the plan stored in a study folder.
const PlanFile = "plan.json"

// Options control a study run.
type Options struct {
	// Dir is the study folder.
	Dir string
	// StoreDir is the units' store; "" means Dir/units.
	StoreDir string
	// Log receives the progress display; nil discards it.
	Log io.Writer
	// NoReport skips gathering results and writing the report.
	NoReport bool
	// Jobs is how many units the local executor runs at once; 0 means
	// one per core. It changes only the wall time, never a result.
	Jobs int
	// Datasets resolves the spec's dataset names; nil resolves catalogue
	// names, paths, derived tasks and holdout splits (data.Resolver).
	Datasets *data.Resolver
	// Wait makes a study folder in use by another process a reason to
	// wait (until it is free, or the context is done) rather than to fail
	// at once. Units always wait for one another: see Store.RunUnit.
	Wait bool
}

func (o Options) store() Store {
	if o.StoreDir != "" {
		return Store{Dir: o.StoreDir, Datasets: o.Datasets}
	}
	return Store{Dir: filepath.Join(o.Dir, "units"), Datasets: o.Datasets}
}

func (o Options) log() io.Writer {
	if o.Log == nil {
		return io.Discard
	}
	return o.Log
}

// SavePlan writes p to DIR/plan.json.
func SavePlan(dir string, p *Plan) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return jsonfile.Write(filepath.Join(dir, PlanFile), p)
}

// LoadPlan reads DIR/plan.json.
func LoadPlan(dir string) (*Plan, error) {
	var p Plan
	if err := jsonfile.Read(filepath.Join(dir, PlanFile), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Run plans s, saves the plan in o.Dir, runs every unfinished unit in
// order and writes the results and the report. Cancelling ctx stops after
// saving the running unit's state (training checkpoints); running Run
// again continues.
func Run(ctx context.Context, s Spec, o Options) (*Plan, error) {
	p, err := NewPlan(s, o.Datasets)
	if err != nil {
		return nil, err
	}
	return p, SaveAndRunPlan(ctx, p, o)
}

// SaveAndRunPlan saves p in o.Dir and runs it (RunPlan), holding the
// study folder throughout, so that a second process on the same folder
// neither overwrites the plan nor redoes the units.
func SaveAndRunPlan(ctx context.Context, p *Plan, o Options) error {
	release, err := lockStudy(ctx, o)
	if err != nil {
		return err
	}
	defer release()
	if err := SavePlan(o.Dir, p); err != nil {
		return err
	}
	return runPlan(ctx, p, o)
}

// lockStudy gives this process the study folder o.Dir (created if
// needed), waiting for it if o.Wait: a second process would redo every
// unit the first is running (finished units are skipped either way) and
// could overwrite its plan.
func lockStudy(ctx context.Context, o Options) (release func(), err error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if !o.Wait {
		return folderlock.Lock(o.Dir)
	}
	return folderlock.Wait(ctx, o.Dir, func(b *folderlock.BusyError) {
		fmt.Fprintf(o.log(), "study folder %s is in use by %s: waiting for it to finish\n", o.Dir, b.Holder)
	})
}

// RunPlan runs p's unfinished units, up to o.Jobs at a time (0: one per
// core), each as soon as its dependencies are finished, then gathers the
// results and writes the report.
//
// Running units side by side does not change any number: every unit runs
// with the recipe's thread count (set once for the whole run), and the
// kernels' reductions are split by that count alone, never by which
// goroutine or core does the work (package tensor), so a unit gives the
// same bits whatever else runs beside it.
func RunPlan(ctx context.Context, p *Plan, o Options) error {
	release, err := lockStudy(ctx, o)
	if err != nil {
		return err
	}
	defer release()
	return runPlan(ctx, p, o)
}

// runPlan is RunPlan in a study folder this process has locked.
func runPlan(ctx context.Context, p *Plan, o Options) error {
	st := o.store()
	if err := os.MkdirAll(st.Dir, 0o755); err != nil {
		return err
	}
	jobs := o.Jobs
	if jobs <= 0 {
		// GOMAXPROCS, not NumCPU: since Go 1.25 it follows a container's
		// CPU limit, where NumCPU reports every core of the node.
		jobs = runtime.GOMAXPROCS(0)
	}
	if base, err := p.Spec.baseConfig(); err == nil && base.Threads > 0 {
		defer tensor.SetThreads(tensor.Threads())
		tensor.SetThreads(base.Threads)
	}
	pr := newProgress(o.log(), p, st)
	pr.jobs = jobs
	// A failed unit (a diverged training run, say) does not stop the
	// study: units that need it are skipped, the rest run, and the report
	// lists what is missing. Cancellation stops starting units and waits
	// for the running ones to save their state.
	type result struct {
		u   *Unit
		err error
	}
	var failed []string
	// done and bad are the store's markers and the failures, kept in
	// memory so that scheduling does not stat every dependency again after
	// each unit.
	done, bad := map[string]bool{}, map[string]bool{}
	running := 0
	results := make(chan result)
	pending := make([]*Unit, 0, len(p.Units))
	for i := range p.Units {
		if done[p.Units[i].ID] = st.Done(p.Units[i].ID); !done[p.Units[i].ID] {
			pending = append(pending, &p.Units[i])
		}
	}
	for len(pending) > 0 || running > 0 {
		// Start, in plan order, every unit whose dependencies are done.
		rest := pending[:0]
		for _, u := range pending {
			switch {
			case slices.ContainsFunc(u.Deps, func(d string) bool { return bad[d] }):
				bad[u.ID] = true
			case ctx.Err() == nil && running < jobs && !slices.ContainsFunc(u.Deps, func(d string) bool { return !done[d] }):
				running++
				pr.start(u)
				go func() {
					err := st.RunUnit(ctx, p, u, pr.unit(u))
					results <- result{u, err}
				}()
			default:
				rest = append(rest, u)
			}
		}
		pending = rest
		if running == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if len(pending) > 0 {
				// Only possible if a dependency is missing from the plan.
				return fmt.Errorf("unit %s: dependencies %v are neither finished nor in the plan", pending[0].ID, pending[0].Deps)
			}
			break
		}
		r := <-results
		running--
		pr.finish(r.u, r.err)
		switch {
		case r.err == nil:
			done[r.u.ID] = true
		case ctx.Err() == nil:
			fmt.Fprintf(o.log(), "  failed: %v\n", r.err)
			failed = append(failed, r.err.Error())
			bad[r.u.ID] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !o.NoReport {
		if err := Gather(p, o); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d unit(s) failed (units that need them were skipped; the report shows the rest):\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// Gather writes results.csv and analyses.json from p's finished units and
// then the report. Unfinished units are left out (their rows missing).
func Gather(p *Plan, o Options) error {
	st := o.store()
	var rows []report.Row
	an := report.Analyses{Study: p.Study, Notes: slices.Clone(p.Notes), Reference: "softmax", TauKey: "tau"}
	base, _ := p.Spec.baseConfig()
	an.Description = fmt.Sprintf("%s pretrained on %s (%s examples held out for temperature scaling), %d epochs, batch %d, lr %g (%s), seeds %v",
		p.Spec.Model, p.Spec.Dataset, fmt.Sprint(p.Spec.holdout()), base.Epochs, base.BatchSize, base.LR, base.Schedule, p.Spec.Seeds)
	if base.TrainLimit > 0 {
		an.Description += fmt.Sprintf(", first %d training examples", base.TrainLimit)
	}
	if base.TestLimit > 0 {
		an.Description += fmt.Sprintf(", first %d test examples", base.TestLimit)
	}
	if p.Spec.Models != "" {
		an.Description = exportDescription(p)
	}
	missing := 0
	for _, u := range p.Units {
		m, err := st.Marker(u.ID)
		if err != nil {
			missing++
			continue
		}
		if u.Kind == KindTrain || u.Kind == KindExport {
			an.Models = append(an.Models, report.Model{Unit: u.ID, Objective: u.Objective, Hyper: u.Hyper, Seed: u.Seed})
		}
		for _, mt := range m.Metrics {
			rows = append(rows, report.Row{Study: p.Study, Unit: u.ID, Objective: u.Objective, Hyper: u.Hyper, Seed: u.Seed, Metric: mt.Name, Value: mt.Value})
		}
		dir := st.UnitDir(u.ID)
		switch u.Kind {
		case KindEvaluate, KindExportEvaluate:
			var rel report.Reliability
			if err := jsonfile.Read(filepath.Join(dir, "reliability.json"), &rel); err != nil {
				return err
			}
			rel.Model = modelOf(p, u.ID)
			an.Reliability = append(an.Reliability, rel)
		case KindCKA:
			var c report.CKAResult
			if err := jsonfile.Read(filepath.Join(dir, "cka.json"), &c); err != nil {
				return err
			}
			an.CKA = &c
		case KindTransfer, KindFinetune:
			var in report.TargetInput
			switch err := jsonfile.Read(filepath.Join(dir, targetInputFile), &in); {
			case errors.Is(err, fs.ErrNotExist): // the target needed no conversion
			case err != nil:
				return err
			case !slices.ContainsFunc(an.TargetInputs, func(t report.TargetInput) bool { return t.Target == in.Target }):
				an.TargetInputs = append(an.TargetInputs, in)
			}
		case KindPredictions, KindExportPredictions:
			var pr report.Predictions
			if err := jsonfile.Read(filepath.Join(dir, "predictions.json"), &pr); err != nil {
				return err
			}
			an.Predictions = &pr
		}
	}
	if missing > 0 {
		an.Notes = append(an.Notes, fmt.Sprintf("%d of %d units are not finished; their results are missing", missing, len(p.Units)))
	}
	var b strings.Builder
	if err := report.WriteResults(&b, rows); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Dir, report.ResultsFile), []byte(b.String())); err != nil {
		return err
	}
	if err := jsonfile.Write(filepath.Join(o.Dir, report.AnalysesFile), an); err != nil {
		return err
	}
	return report.Generate(o.Dir)
}

// progress is the study's one progress display: a line per unit started
// with units done/total and an ETA, and during training a status line at
// most every two seconds naming the unit it is about.
type progress struct {
	w       io.Writer
	mu      sync.Mutex
	total   int
	done    int
	jobs    int
	started map[string]time.Time
	last    time.Time
	// seconds spent per kind and units of each kind done, for the ETA.
	spent   map[string]float64
	count   map[string]int
	pending map[string]int
}

func newProgress(w io.Writer, p *Plan, st Store) *progress {
	pr := &progress{w: w, total: len(p.Units), jobs: 1, started: map[string]time.Time{},
		spent: map[string]float64{}, count: map[string]int{}, pending: map[string]int{}}
	for _, u := range p.Units {
		if st.Done(u.ID) {
			pr.done++
		} else {
			pr.pending[u.Kind]++
		}
	}
	return pr
}

// eta estimates the time left from the mean duration of finished units of
// each kind (a kind not yet seen counts as the mean of all), shared among
// the units that run at once.
func (p *progress) eta() string {
	var all float64
	var n int
	for k, s := range p.spent {
		all += s
		n += p.count[k]
	}
	if n == 0 {
		return "?"
	}
	var left float64
	for k, c := range p.pending {
		mean := all / float64(n)
		if p.count[k] > 0 {
			mean = p.spent[k] / float64(p.count[k])
		}
		left += mean * float64(c)
	}
	left /= float64(max(1, p.jobs))
	return (time.Duration(left) * time.Second).Round(time.Second).String()
}

// describe names a unit for people: its kind, variant, seed and target.
func describe(u *Unit) string {
	desc := u.Kind
	if u.Objective != "" {
		desc += " " + report.VariantLabel(u.Objective, u.Hyper) + fmt.Sprintf(" seed %d", u.Seed)
	}
	if u.Target != "" {
		desc += " → " + u.Target
	}
	return desc
}

func (p *progress) start(u *Unit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[u.ID] = time.Now()
	fmt.Fprintf(p.w, "[%d/%d] %s (%s), about %s left\n", p.done+len(p.started), p.total, describe(u), u.ID, p.eta())
}

func (p *progress) finish(u *Unit, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t0 := p.started[u.ID]
	delete(p.started, u.ID)
	if err != nil {
		return
	}
	p.done++
	p.pending[u.Kind]--
	// Wall time while sharing the machine: eta divides by the jobs.
	p.spent[u.Kind] += time.Since(t0).Seconds()
	p.count[u.Kind]++
}

// unit returns the train.Progress for one running unit.
func (p *progress) unit(u *Unit) train.Progress {
	return unitProgress{p, u}
}

type unitProgress struct {
	p *progress
	u *Unit
}

// Waiting implements Waiter.
func (up unitProgress) Waiting(msg string) {
	up.p.mu.Lock()
	defer up.p.mu.Unlock()
	fmt.Fprintf(up.p.w, "    %s\n", msg)
}

// Step implements train.Progress: a status line every two seconds.
func (up unitProgress) Step(s train.StepInfo) {
	p := up.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 2*time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "    %s: epoch %d/%d step %d/%d loss %.4f acc %.3f %.0f ex/s\n", describe(up.u), s.Epoch, s.Epochs, s.Step, s.TotalSteps, s.Loss, s.Accuracy, s.ExamplesPerSec)
}

// Epoch implements train.Progress.
func (up unitProgress) Epoch(m train.EpochMetrics) {
	up.p.mu.Lock()
	defer up.p.mu.Unlock()
	fmt.Fprintf(up.p.w, "    %s: epoch %d: test accuracy %.4f\n", describe(up.u), m.Epoch, m.TestAccuracy)
}
