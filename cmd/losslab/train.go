package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/train"
)

// trainOptions are the flags of `losslab train`.
type trainOptions struct {
	fs      *flag.FlagSet
	preset  string
	cfg     train.Config // the flags' values; only those set explicitly apply
	out     string
	sets    setPairs
	json    bool
	noSteps bool
	wait    bool
}

// trainFlagKeys maps each config flag to the config.json key it sets.
var trainFlagKeys = map[string]string{
	"dataset": "dataset", "model": "model", "objective": "objective", "epochs": "epochs",
	"batch": "batch_size", "lr": "lr", "schedule": "schedule", "warmup-epochs": "warmup_epochs",
	"momentum": "momentum", "nesterov": "nesterov", "weight-decay": "weight_decay", "ema": "ema_decay",
	"seed": "seed", "threads": "threads", "checkpoint-every": "checkpoint_every",
	"train-limit": "train_limit", "test-limit": "test_limit",
	"augment": "augment", "mixup": "mixup", "cutmix": "cutmix", "init-from": "init_from",
}

// setPairs collects repeated `--set key=value` overrides in order, as text:
// whether a key is a config field or an objective hyperparameter is decided
// once the objective is known (train.ApplyOverrides).
type setPairs [][2]string

func (s *setPairs) String() string {
	var parts []string
	for _, kv := range *s {
		parts = append(parts, kv[0]+"="+kv[1])
	}
	return strings.Join(parts, ",")
}

func (s *setPairs) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", kv)
	}
	*s = append(*s, [2]string{k, v})
	return nil
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
	o.fs = fs
	d, err := train.Preset("mnist")
	if err != nil {
		panic(err)
	}
	c := &o.cfg
	fs.StringVar(&o.preset, "preset", "mnist", "recipe to start from: "+strings.Join(train.PresetNames(), ", ")+
		"; flags and --set override its fields (the defaults shown are the mnist preset's)")
	fs.StringVar(&c.Dataset, "dataset", d.Dataset, "dataset: "+strings.Join(data.Names(), ", ")+
		", a derived task NAME-"+strings.Join(data.DerivedTasks, ", NAME-")+", or a path to a .npz file or an image folder with train/ and test/")
	fs.StringVar(&c.Model, "model", d.Model, "model name")
	fs.StringVar(&c.Objective, "objective", d.Objective, "objective name, or a '+'-joined stack")
	fs.Var(&o.sets, "set", "override `key=value` (repeatable), applied after the preset and the other flags: "+
		"a key that is a config.json field ("+strings.Join(train.ConfigKeys(), ", ")+") sets the config, "+
		"e.g. --set epochs=3 --set augment=crop-flip --set mixup=0.2; any other key is a hyperparameter of the objective, "+
		"e.g. --set tau=0.05 (a number, or true/false); a key that is neither is an error listing both sets")
	fs.StringVar(&c.Augment, "augment", d.Augment, "training augmentation: none, or stages joined by '+' from "+strings.Join(data.AugmentStages(), ", "))
	fs.Float64Var(&c.Mixup, "mixup", d.Mixup, "mixup α (0 = off)")
	fs.Float64Var(&c.CutMix, "cutmix", d.CutMix, "CutMix α (0 = off)")
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
	fs.StringVar(&c.InitFrom, "init-from", "", "full fine-tuning: a finished run folder of the same --model trained on examples of the same shape; "+
		"its final weights (EMA-averaged if it averaged), BatchNorm statistics included, initialise every layer but the head, "+
		"which is fresh from --seed for this dataset's classes; the source's params_sha256 becomes part of the config (empty = train from scratch)")
	fs.StringVar(&o.out, "out", "", "run folder (required): config, checkpoints and metrics go here")
	fs.BoolVar(&o.json, "json", false, "print the final metrics as one JSON object")
	fs.BoolVar(&o.wait, "wait", false, "if another process is using --out, wait for it to finish instead of stopping at once")
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
	cfg, err := resolveTrainConfig(o)
	if err != nil {
		return usageErrorf("train: %v", err)
	}
	var res *train.Result
	res, err = train.Run(ctx, cfg, o.out, train.Options{Progress: train.NewTerminalProgress(stderr), Wait: o.wait,
		Waiting: func(msg string) { fmt.Fprintln(stderr, msg) }})
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

// resolveTrainConfig builds the run's config: the preset, then every flag
// set explicitly on the command line, then the --set pairs in order
// (train.ApplyOverrides: config keys to the config, other keys to the
// objective's hyperparameters); then it fills defaults and validates.
func resolveTrainConfig(o *trainOptions) (train.Config, error) {
	cfg, err := train.Preset(o.preset)
	if err != nil {
		return cfg, fmt.Errorf("--preset: %v", err)
	}
	var flagErr error
	o.fs.Visit(func(f *flag.Flag) {
		if key, ok := trainFlagKeys[f.Name]; ok && flagErr == nil {
			if err := cfg.Set(key, f.Value.String()); err != nil {
				flagErr = fmt.Errorf("--%s: %v", f.Name, err)
			}
		}
	})
	if flagErr != nil {
		return cfg, flagErr
	}
	overrides := make([]train.Override, len(o.sets))
	for i, kv := range o.sets {
		overrides[i] = train.Override{Key: kv[0], Value: kv[1]}
	}
	cfg, err = train.ApplyOverrides(cfg, overrides)
	var badValue *train.OverrideError
	var unknown *train.UnknownOverrideError
	switch {
	case errors.As(err, &badValue) || errors.As(err, &unknown):
		return cfg, fmt.Errorf("--set %v", err)
	case err != nil: // the objective's name
		return cfg, err
	}
	cfg = cfg.Resolved()
	return cfg, cfg.Validate()
}
