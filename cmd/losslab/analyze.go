package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

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
		summary: "Analyse exported arrays (.npy): loss, and the analyses listed by 'analyze' alone.",
		usage:   "KIND [flags] (e.g. loss --objective NAME --logits L.npy --labels y.npy --json)",
		addFlags: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runAnalyze(ctx, args, stdout)
			}
		},
	})
}

// analyzeKinds maps each `losslab analyze KIND` to its runner; each kind's
// file registers itself. A runner parses its own flags from args.
var analyzeKinds = map[string]func(args []string, w io.Writer) error{}

func runAnalyze(ctx context.Context, args []string, w io.Writer) error {
	var kinds []string
	for k := range analyzeKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if len(args) == 0 {
		return usageErrorf("analyze: want a kind: %s", strings.Join(kinds, ", "))
	}
	run, ok := analyzeKinds[args[0]]
	if !ok {
		return usageErrorf("analyze: unknown kind %q; valid: %s", args[0], strings.Join(kinds, ", "))
	}
	return run(args[1:], w)
}

// parseAnalyzeFlags parses a kind's flags, refusing positional arguments.
func parseAnalyzeFlags(kind string, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageErrorf("analyze %s: %v", kind, err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("analyze %s: unexpected arguments %v", kind, fs.Args())
	}
	return nil
}

func init() {
	analyzeKinds["loss"] = func(args []string, w io.Writer) error {
		var o analyzeLossOptions
		fs := flag.NewFlagSet("losslab analyze loss", flag.ContinueOnError)
		o.AddFlags(fs)
		if err := parseAnalyzeFlags("loss", fs, args); err != nil {
			if err == flag.ErrHelp {
				return nil
			}
			return err
		}
		return runAnalyzeLoss(&o, w)
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
