package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/study"
)

// studyOptions are the flags of `losslab study`.
type studyOptions struct {
	out      string
	store    string
	quick    bool
	executor string
	index    int
	jobs     int
	models   string
	wait     bool
	kube     kubeOptions
}

// executors are the values of --executor.
var executors = []string{"local", "slurm", "kubernetes"}

func (o *studyOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "losslab-study", "study folder: plan, units, results.csv and the report go here")
	fs.StringVar(&o.store, "store", "", "units folder shared between studies (default OUT/units)")
	fs.BoolVar(&o.quick, "quick", false, "shrink the study to minutes with the same shape")
	fs.StringVar(&o.executor, "executor", "local", "where units run: "+strings.Join(executors, ", ")+" (see the kubernetes: flags)")
	fs.IntVar(&o.index, "index", -1, "run-unit: the training unit's index in the plan; -1 reads $JOB_COMPLETION_INDEX (Kubernetes), else $SLURM_ARRAY_TASK_ID (Slurm)")
	fs.IntVar(&o.jobs, "jobs", 0, "local executor: units run at once (0 = one per core); changes the wall time, never a result")
	fs.StringVar(&o.models, "models", "", "analyse the exported models in DIR (one folder per model, docs/exported-models.md) instead of training; with a spec file, sets its models: key")
	fs.BoolVar(&o.wait, "wait", false, "if another process is using --out, wait for it to finish instead of stopping at once (run-plan always waits)")
	o.kube.AddFlags(fs)
}

func init() {
	register(&command{
		name:    "study",
		summary: "Run a whole study (a YAML/JSON spec, or a built-in study by name; default: the built-in default) and write its report; re-run to resume.",
		usage:   "[flags] [FILE|NAME] | plan [flags] [FILE|NAME] | run-unit --out DIR [--index I] | run-plan --out DIR",
		addFlags: func(fs *flag.FlagSet) runFunc {
			var o studyOptions
			o.AddFlags(fs)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runStudy(ctx, &o, args, stdout, stderr)
			}
		},
	})
	register(&command{
		name:    "report",
		summary: "Regenerate a study folder's report.md and report.html from its results.csv and analyses.json.",
		usage:   "DIR",
		addFlags: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if len(args) != 1 {
					return usageErrorf("report: want one study folder, got %d arguments", len(args))
				}
				if err := report.Generate(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "report: %s\n", filepath.Join(args[0], report.HTMLFile))
				return nil
			}
		},
	})
}

// parseAfter parses the flags among args that follow a positional argument
// (Go's flag package stops at the first one) into o, keeping the values of
// the flags given before it, and returns the remaining arguments.
func (o *studyOptions) parseAfter(args []string, stderr io.Writer) ([]string, error) {
	fs := flag.NewFlagSet("losslab study", flag.ContinueOnError)
	fs.SetOutput(stderr)
	saved := *o
	o.AddFlags(fs) // registering a flag sets it to its default
	*o = saved
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

func runStudy(ctx context.Context, o *studyOptions, args []string, stdout, stderr io.Writer) error {
	mode := "run"
	if len(args) > 0 && (args[0] == "plan" || args[0] == "run-unit" || args[0] == "run-plan") {
		mode = args[0]
		var err error
		if args, err = o.parseAfter(args[1:], stderr); err != nil {
			return usageErrorf("study %s: %v", mode, err)
		}
	}
	if len(args) > 1 {
		// Flags after the study's name or file: `losslab study coarse --out DIR`.
		rest, err := o.parseAfter(args[1:], stderr)
		if err != nil {
			return usageErrorf("study: %v", err)
		}
		args = append(args[:1], rest...)
	}
	if o.jobs < 0 {
		return usageErrorf("study: --jobs %d; want ≥ 0 (0 = one per core)", o.jobs)
	}
	// Checked before anything is planned or written; the switch below
	// relies on it.
	if !slices.Contains(executors, o.executor) {
		return usageErrorf("study: --executor %q; want %s", o.executor, strings.Join(executors, ", "))
	}
	// run-plan is what a scheduler runs: a replacement for a task still
	// running elsewhere must wait for it rather than fail the study.
	opts := study.Options{Dir: o.out, StoreDir: o.store, Log: stderr, Jobs: o.jobs, Wait: o.wait || mode == "run-plan"}
	if mode == "run-unit" {
		if o.index == -1 {
			i, err := indexFromEnv()
			if err != nil {
				return err
			}
			o.index = i
		}
		p, err := study.LoadPlan(o.out)
		if err != nil {
			return fmt.Errorf("study run-unit: %w", err)
		}
		return study.RunTrainUnit(ctx, p, opts, o.index)
	}
	if mode == "run-plan" {
		return study.RunPlanDir(ctx, opts)
	}
	if len(args) > 1 {
		return usageErrorf("study: want at most one study file, got %d arguments", len(args))
	}
	spec := study.Default()
	if o.models != "" && len(args) == 0 {
		spec = study.Spec{Name: "models", Models: o.models}
	}
	if len(args) == 1 {
		var err error
		if _, statErr := os.Stat(args[0]); statErr != nil && slices.Contains(study.BuiltinNames(), args[0]) {
			spec, err = study.Builtin(args[0])
		} else {
			spec, err = study.LoadSpec(args[0])
		}
		if err != nil {
			return usageErrorf("study: %v (built-in studies: %s)", err, strings.Join(study.BuiltinNames(), ", "))
		}
	}
	if o.models != "" {
		if o.quick {
			return usageErrorf("study: --quick shrinks training; a study over exported models (--models) trains nothing")
		}
		spec.Models = o.models
	}
	if spec.Models != "" && o.executor != "local" {
		return usageErrorf("study: a study over exported models trains nothing and runs with the local executor; drop --executor %s", o.executor)
	}
	if o.quick {
		spec = spec.Quick()
	}
	p, err := study.NewPlan(spec, nil)
	if err != nil {
		return usageErrorf("study: %v", err)
	}
	if mode == "plan" {
		for i, u := range p.Units {
			desc := ""
			if u.Objective != "" {
				desc = report.VariantLabel(u.Objective, u.Hyper) + " seed " + strconv.FormatUint(u.Seed, 10)
			}
			if u.Kind == study.KindTrain {
				desc += fmt.Sprintf(", %d epochs", u.Config.Epochs)
			}
			if u.Target != "" {
				desc += " → " + u.Target
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", i, u.Kind, u.ID, desc)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(stdout, "note: %s\n", n)
		}
		fmt.Fprintf(stdout, "%d units (%d training runs) into %s\n", len(p.Units), len(p.TrainUnits()), o.out)
		return nil
	}
	if o.executor == "kubernetes" {
		if err := o.kube.check(o); err != nil {
			return err
		}
	}
	if o.executor != "local" {
		if err := study.SavePlan(o.out, p); err != nil {
			return err
		}
	}
	switch o.executor {
	case "local":
		err = study.SaveAndRunPlan(ctx, p, opts)
	case "slurm":
		err = study.RunSlurm(ctx, p, opts, study.SlurmOptions{})
	case "kubernetes":
		var finished bool
		if finished, err = runKubernetes(ctx, o, p, stdout, stderr); err == nil && !finished {
			return nil // manifests written: the report comes when the Jobs have run
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.out, report.HTMLFile))
	return nil
}

// indexEnv is the variable that gives a Kubernetes Indexed Job pod its
// completion index (kubernetes.IndexEnv; defined here so that run-unit
// reads it in builds without the Kubernetes executor too).
const indexEnv = "JOB_COMPLETION_INDEX"

// indexFromEnv is run-unit's index when --index is not given: the
// completion index of a Kubernetes Indexed Job pod, else the task id of a
// Slurm array task.
func indexFromEnv() (int, error) {
	for _, name := range []string{indexEnv, "SLURM_ARRAY_TASK_ID"} {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return 0, usageErrorf("study run-unit: $%s is %q; want a unit index (0, 1, ...)", name, v)
		}
		return i, nil
	}
	return 0, usageErrorf("study run-unit: no --index, and neither $%s (Kubernetes Indexed Job) nor $SLURM_ARRAY_TASK_ID (Slurm job array) is set", indexEnv)
}
