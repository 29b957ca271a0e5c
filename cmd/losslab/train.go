package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/losslab/losslab/train"
)

// trainOptions are the flags of `losslab train`.
type trainOptions struct {
	cfg     train.Config
	out     string
	sets    setFlags
	json    bool
	noSteps bool
}

// setFlags collects repeated `--set key=value` objective hyperparameters.
type setFlags map[string]float64

func (s *setFlags) String() string {
	var parts []string
	for k, v := range *s {
		parts = append(parts, fmt.Sprintf("%s=%g", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (s *setFlags) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", kv)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		switch v {
		case "true", "on":
			f = 1
		case "false", "off":
			f = 0
		default:
			return fmt.Errorf("%s: want a number (or true/false), got %q", k, v)
		}
	}
	if *s == nil {
		*s = setFlags{}
	}
	(*s)[k] = f
	return nil
}

func (o *trainOptions) AddFlags(fs *flag.FlagSet) {
	d := train.DefaultConfig("mnist", "mnist-cnn")
	c := &o.cfg
	fs.StringVar(&c.Dataset, "dataset", d.Dataset, "dataset: "+strings.Join(train.DatasetNames(), ", "))
	fs.StringVar(&c.Model, "model", d.Model, "model name")
	fs.StringVar(&c.Objective, "objective", d.Objective, "objective name, or a '+'-joined stack")
	fs.Var(&o.sets, "set", "objective hyperparameter `key=value` (repeatable), e.g. --set alpha=0.2")
	fs.IntVar(&c.Epochs, "epochs", d.Epochs, "passes over the training set")
	fs.IntVar(&c.BatchSize, "batch", d.BatchSize, "batch size")
	fs.Float64Var(&c.LR, "lr", d.LR, "peak learning rate")
	fs.StringVar(&c.Schedule, "schedule", d.Schedule, "learning-rate schedule: "+strings.Join(train.Schedules, ", "))
	fs.Float64Var(&c.WarmupEpochs, "warmup-epochs", d.WarmupEpochs, "linear warmup length in epochs")
	fs.Float64Var(&c.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.BoolVar(&c.Nesterov, "nesterov", d.Nesterov, "use Nesterov momentum")
	fs.Float64Var(&c.WeightDecay, "weight-decay", d.WeightDecay, "L2 weight decay on conv and dense kernels")
	fs.Float64Var(&c.EMADecay, "ema", d.EMADecay, "decay of the weights' moving average used for evaluation (0 = off)")
	fs.Uint64Var(&c.Seed, "seed", d.Seed, "random seed (initialisation, data order, dropout)")
	fs.IntVar(&c.Threads, "threads", d.Threads, "worker threads (0 = all cores); results are bit-identical for the same seed and thread count")
	fs.IntVar(&c.CheckpointEvery, "checkpoint-every", d.CheckpointEvery, "steps between checkpoints (besides every epoch end; 0 = epoch ends only)")
	fs.IntVar(&c.TrainLimit, "train-limit", 0, "use only the first N training examples (0 = all)")
	fs.IntVar(&c.TestLimit, "test-limit", 0, "use only the first N test examples (0 = all)")
	fs.StringVar(&o.out, "out", "", "run folder (required): config, checkpoints and metrics go here")
	fs.BoolVar(&o.json, "json", false, "print the final metrics as one JSON object")
	c.EMAWarmup = d.EMAWarmup
}

func init() {
	register(&command{
		name:    "train",
		summary: "Train one model under one objective; resumes an interrupted run in the same --out folder.",
		usage:   "--out DIR [flags]",
		addFlags: func(fs *flag.FlagSet) runFunc {
			var o trainOptions
			o.AddFlags(fs)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runTrain(ctx, &o, args, stdout, stderr)
			}
		},
	})
}

func runTrain(ctx context.Context, o *trainOptions, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageErrorf("train: unexpected arguments %v", args)
	}
	if o.out == "" {
		return usageErrorf("train: --out DIR is required")
	}
	cfg := o.cfg
	if len(o.sets) > 0 {
		cfg.ObjectiveParams = map[string]float64(o.sets)
	}
	cfg = cfg.Resolved()
	if err := cfg.Validate(); err != nil {
		return usageErrorf("train: %v", err)
	}
	res, err := train.Run(ctx, cfg, o.out, train.NewTerminalProgress(stderr))
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(struct {
			*train.Result
			AlreadyDone bool `json:"already_done"`
		}{res, res.AlreadyDone})
	}
	state := "trained"
	switch {
	case res.AlreadyDone:
		state = "already finished (nothing to do)"
	case res.Resumed:
		state = "resumed and finished"
	}
	fmt.Fprintf(stdout, "%s: %s; test accuracy %.4f, test loss %.4f, params_sha256 %s\n",
		o.out, state, res.TestAccuracy, res.TestLoss, res.ParamsSHA256)
	return nil
}
