package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/losslab/losslab/study"
)

// studyOptions are the flags of `losslab study`.
type studyOptions struct {
	out   string
	quick bool
}

func (o *studyOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "losslab-study", "study folder: runs, results.csv and report.md go here")
	fs.BoolVar(&o.quick, "quick", false, "shrink the study to a few minutes with the same shape")
}

func init() {
	register(&command{
		name:    "study",
		summary: "Run a whole study (the built-in default: nine objectives on MNIST) and write its report; re-run to resume.",
		usage:   "[flags] | plan [flags]",
		addFlags: func(fs *flag.FlagSet) runFunc {
			var o studyOptions
			o.AddFlags(fs)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runStudy(ctx, &o, args, stdout, stderr)
			}
		},
	})
}

func runStudy(ctx context.Context, o *studyOptions, args []string, stdout, stderr io.Writer) error {
	spec := study.Default()
	plan := false
	if len(args) > 0 {
		if args[0] != "plan" {
			return usageErrorf("study: unexpected argument %q (study files come with the study issue; 'plan' lists the runs)", args[0])
		}
		fs := flag.NewFlagSet("losslab study plan", flag.ContinueOnError)
		fs.SetOutput(stderr)
		o.AddFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return usageErrorf("study plan: %v", err)
		}
		plan = true
	}
	if o.quick {
		spec = spec.Quick()
	}
	units, err := spec.Units()
	if err != nil {
		return usageErrorf("study: %v", err)
	}
	if plan {
		for _, u := range units {
			fmt.Fprintf(stdout, "%s\t%s\tseed %d\t%d epochs\n", u.ID, u.Config.Objective, u.Config.Seed, u.Config.Epochs)
		}
		fmt.Fprintf(stdout, "%d training runs into %s\n", len(units), o.out)
		return nil
	}
	if _, err := study.Run(ctx, spec, o.out, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.out, "report.md"))
	return nil
}
