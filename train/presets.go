package train

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// presets maps each preset name to its recipe. Every field stays
// overridable: a preset is only the starting Config.
var presets = map[string]func() Config{
	// The ResNet-50 ImageNet recipe of Kornblith et al., "Why do better loss
	// functions lead to less transferable features?" (NeurIPS 2021), as
	// summarised in docs/definitions.md#training-recipes: ResNet-50 v1.5
	// (BatchNorm momentum 0.9, last γ of each block 0, head N(0, 0.01²):
	// nn's resnet50 builds these), SGD with Nesterov momentum 0.9, weight
	// decay 8e-5 on kernels only, linear warmup then cosine decay,
	// evaluation on an exponential moving average of the weights,
	// random-resized-crop + flip for training and a 0.875 centre crop for
	// evaluation.
	//
	// Not in that summary, taken from our reading of the paper's appendix
	// and to be checked against it (GUESSES): batch 4096 with peak learning rate
	// 1.6 (the linear scaling rule 0.1 × batch/256 of Goyal et al. 2017),
	// 90 epochs, 10 warmup epochs, cosine decay to 0, EMA decay 0.9999 with
	// TensorFlow's early-training ramp. The "imagenet" dataset must be
	// registered (RegisterDataset) for the preset to validate, or the
	// dataset set to an ImageNet folder streamed at 224 (PATH:stream224),
	// whose loader does the crop and flip on the full-resolution images.
	"paper-imagenet": func() Config {
		c := DefaultConfig("imagenet", "resnet50")
		c.Epochs = 90
		c.BatchSize = 4096
		c.LR = 1.6
		c.Schedule = "cosine"
		c.WarmupEpochs = 10
		c.WeightDecay = 8e-5
		c.EMADecay = 0.9999
		c.EMAWarmup = true
		c.Augment = "random-resized-crop"
		c.EvalCrop = 0.875
		c.CheckpointEvery = 500
		return c
	},
	// The CIFAR recipe: ResNet-20 (set model = resnet56 for the deeper one),
	// batch 128, SGD with Nesterov momentum 0.9, peak learning rate 0.1 with
	// cosine decay to 0 and no warmup (He et al. 2016 use none for these
	// depths), weight decay 5e-4 on kernels, 200 epochs, random crop with
	// zero padding 4 + horizontal flip, no weight averaging.
	"cifar": func() Config {
		c := DefaultConfig("cifar10", "resnet20")
		c.Epochs = 200
		c.BatchSize = 128
		c.LR = 0.1
		c.Schedule = "cosine"
		c.WarmupEpochs = 0
		c.WeightDecay = 5e-4
		c.Augment = "crop-flip"
		c.CheckpointEvery = 500
		return c
	},
	// The MNIST recipe: DefaultConfig("mnist", "mnist-cnn"), 5 epochs, no
	// augmentation (digits must not be flipped; the crop is optional and
	// off, as the recipe reaches ≥ 99% without it).
	//
	// Test accuracy of mnist-cnn on full MNIST with this preset, seed 1,
	// 2 threads (losslab train --preset mnist --objective NAME):
	//
	//	softmax 99.21   label_smoothing 99.24   sigmoid 99.32
	//	extra_final_layer_l2 99.27   dropout 99.29   logit_penalty 99.27
	//	logit_normalization 99.20   cosine_softmax 99.20   (ImageNet defaults)
	//	squared_error: the defaults (κ 9, M 60, scale 10) diverge within 25
	//	steps at lr 0.05; MNIST-scale κ 5, M 1, scale 0.1 (Hui & Belkin's
	//	small-K setting M = 1, their 1/K averaging as scale, κ raised to
	//	speed up the target logit) gives 98.86 (1 thread); κ 1, M 1,
	//	scale 0.2 gives 98.80 and κ 1, M 1, scale 0.1 98.45.
	"mnist": func() Config {
		return DefaultConfig("mnist", "mnist-cnn")
	},
}

// PresetNames lists the recipe presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Preset returns the named recipe with Config.Preset set to name; see the
// presets table in presets.go for each recipe and its sources.
func Preset(name string) (Config, error) {
	build, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q; valid presets: %s", name, strings.Join(PresetNames(), ", "))
	}
	c := build()
	c.Preset = name
	return c, nil
}

// ConfigKeys lists the config.json field names that `--set key=value` may
// override (see Config.Set), sorted.
func ConfigKeys() []string {
	keys := make([]string, 0, len(settable))
	for k := range settable {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// settable maps config.json field names to Config's field indexes, for
// Config.Set: every field but preset (set by Preset), objective_params (the objective's
// hyperparameters have their own keys) and init_from_sha256 (read from the
// init_from run by Resolved).
var settable = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && name != "objective_params" && name != "preset" && name != "init_from_sha256" {
			m[name] = i
		}
	}
	return m
}()
