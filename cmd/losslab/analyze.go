package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/objective"
)

// analyzeLossOptions are the flags of `losslab analyze loss`.
type analyzeLossOptions struct {
	objective string
	logits    string
	labels    string
	sets      setFlags
	json      bool
}

func (o *analyzeLossOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.objective, "objective", "softmax", "objective name or '+'-joined stack")
	fs.StringVar(&o.logits, "logits", "", "logits, a 2-D float32/float64 .npy file [examples, classes]")
	fs.StringVar(&o.labels, "labels", "", "labels, a 1-D int32/int64 .npy file [examples]")
	fs.Var(&o.sets, "set", "objective hyperparameter `key=value` (repeatable)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object")
}

func init() {
	register(&command{
		name:    "analyze",
		summary: "Analyse exported arrays (.npy): 'analyze loss' scores logits under an objective.",
		usage:   "loss --objective NAME --logits L.npy --labels y.npy [--set k=v] [--json]",
		addFlags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error { return runAnalyze(ctx, args, os.Stdout) }
		},
	})
}

func runAnalyze(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("analyze: want a kind: loss")
	}
	switch args[0] {
	case "loss":
		var o analyzeLossOptions
		fs := flag.NewFlagSet("losslab analyze loss", flag.ContinueOnError)
		fs.SetOutput(os.Stderr)
		o.AddFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			if err == flag.ErrHelp {
				return nil
			}
			return usageErrorf("analyze loss: %v", err)
		}
		if fs.NArg() > 0 {
			return usageErrorf("analyze loss: unexpected arguments %v", fs.Args())
		}
		return runAnalyzeLoss(&o, w)
	default:
		return usageErrorf("analyze: unknown kind %q; valid: loss", args[0])
	}
}

func runAnalyzeLoss(o *analyzeLossOptions, w io.Writer) error {
	if o.logits == "" || o.labels == "" {
		return usageErrorf("analyze loss: --logits and --labels are required")
	}
	if _, err := objective.New(o.objective, o.sets); err != nil {
		return usageErrorf("analyze loss: %v", err)
	}
	z, err := npy.ReadMatrix(o.logits)
	if err != nil {
		return err
	}
	y, err := npy.ReadLabels(o.labels)
	if err != nil {
		return err
	}
	loss, err := objective.ScoreLogits(o.objective, o.sets, z, y)
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(w).Encode(map[string]any{"objective": o.objective, "loss": loss, "examples": len(y)})
	}
	fmt.Fprintf(w, "%s: mean loss %.6g over %d examples\n", o.objective, loss, len(y))
	return nil
}
