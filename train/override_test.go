package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/objective"
)

// TestSetTyped: typed values, as YAML and JSON decode them, set the field
// they name; a value of the wrong type is an error naming the key and what
// it wants.
func TestSetTyped(t *testing.T) {
	c := DefaultConfig("mnist", "mnist-cnn")
	for _, kv := range []struct {
		key   string
		value any
	}{
		{"epochs", 3}, {"batch_size", int64(64)}, {"train_limit", 1000.0}, {"test_limit", uint64(500)},
		{"lr", 1}, {"momentum", 0.5}, {"weight_decay", int64(0)}, {"nesterov", false}, {"ema_warmup", true},
		{"seed", uint64(math.MaxUint64)}, {"augment", "crop"}, {"step_epochs", []any{2, 4.0, int64(6)}},
		{"schedule", "step"}, {"warmup_epochs", 0.5},
	} {
		if err := c.Set(kv.key, kv.value); err != nil {
			t.Fatalf("%s=%v: %v", kv.key, kv.value, err)
		}
	}
	if c.Epochs != 3 || c.BatchSize != 64 || c.TrainLimit != 1000 || c.TestLimit != 500 || c.LR != 1 || c.Momentum != 0.5 ||
		c.WeightDecay != 0 || c.Nesterov || !c.EMAWarmup || c.Seed != math.MaxUint64 || c.Augment != "crop" ||
		!slices.Equal(c.StepEpochs, []int{2, 4, 6}) || c.Schedule != "step" || c.WarmupEpochs != 0.5 {
		t.Errorf("after Set: %+v", c)
	}
	if err := c.Set("seed", 7.0); err != nil || c.Seed != 7 {
		t.Errorf("seed = 7.0: %v, %d", err, c.Seed)
	}
	if err := c.Set("step_epochs", []int{9}); err != nil || !slices.Equal(c.StepEpochs, []int{9}) {
		t.Errorf("step_epochs = []int{9}: %v, %v", err, c.StepEpochs)
	}
	if err := c.Set("step_epochs", []any{}); err != nil || c.StepEpochs == nil || len(c.StepEpochs) != 0 {
		t.Errorf("step_epochs = []: %v, %#v (JSON decodes [] to an empty list)", err, c.StepEpochs)
	}
	if err := c.Set("step_epochs", ""); err != nil || c.StepEpochs != nil {
		t.Errorf(`step_epochs = "": %v, %#v`, err, c.StepEpochs)
	}
	for _, bad := range []struct {
		key   string
		value any
		msg   string
	}{
		{"epochs", 2.5, "config key epochs: 2.5 is not an integer"},
		{"epochs", true, "config key epochs: true is not an integer"},
		{"epochs", "2.5", `config key epochs: "2.5" is not an integer`},
		{"epochs", 1e30, "config key epochs: 1e+30 is not an integer"},
		{"epochs", uint64(math.MaxUint64), "config key epochs: 18446744073709551615 is not an integer"},
		{"epochs", nil, "config key epochs: no value"},
		{"seed", -1, "config key seed: -1 is not an unsigned integer"},
		{"seed", 0.5, "config key seed: 0.5 is not an unsigned integer"},
		{"lr", true, "config key lr: true is not a number"},
		{"lr", []any{1}, "config key lr: [1] is not a number"},
		{"nesterov", 1, "config key nesterov: 1 is not true or false"},
		{"nesterov", "maybe", `config key nesterov: "maybe" is not true or false`},
		{"augment", 3, "config key augment: 3 is not a string"},
		{"step_epochs", 3, "config key step_epochs: 3 is not a list of integers"},
		{"step_epochs", []any{1, "x"}, "config key step_epochs: [1 x] is not a list of integers"},
		{"step_epochs", []any{1.5}, "config key step_epochs: [1.5] is not a list of integers"},
		{"step_epochs", "1,x", `config key step_epochs: "1,x" is not a comma-separated list of integers`},
	} {
		err := c.Set(bad.key, bad.value)
		if err == nil || err.Error() != bad.msg {
			t.Errorf("%s = %#v: error %v, want %q", bad.key, bad.value, err, bad.msg)
		}
	}
	for _, key := range []string{"tau", "objective_params", "preset", "init_from_sha256", "Epochs"} {
		err := c.Set(key, 1)
		var unknown *UnknownKeyError
		if !errors.As(err, &unknown) || unknown.Key != key || !slices.Equal(unknown.Valid, ConfigKeys()) {
			t.Errorf("Set(%q): %v, want an *UnknownKeyError listing ConfigKeys", key, err)
			continue
		}
		if want := `unknown config key "` + key + `"; valid keys: ` + strings.Join(ConfigKeys(), ", "); err.Error() != want {
			t.Errorf("Set(%q) error %q, want %q", key, err, want)
		}
	}
}

// TestSetMeansConfigJSON: a typed value means what config.json's decoding
// makes of it, for values of the types YAML and JSON decode to.
func TestSetMeansConfigJSON(t *testing.T) {
	for _, recipe := range []map[string]any{
		{"epochs": 2, "train_limit": 15000},
		{"epochs": 1, "warmup_epochs": 0.5, "train_limit": 4000, "test_limit": 2000},
		{"epochs": 2.0, "lr": 1, "seed": uint64(math.MaxUint64), "nesterov": false, "augment": "crop-flip", "mixup": 0.2,
			"step_epochs": []any{1, 2.0}, "schedule": "step", "step_factor": int64(10), "ema_decay": 0.999, "ema_warmup": true},
		{"step_epochs": []any{}, "dataset": "tiny", "model": "mlp", "objective": "sigmoid", "init_from": "x"},
	} {
		want := DefaultConfig("mnist", "mnist-cnn")
		b, err := json.Marshal(recipe)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		got := DefaultConfig("mnist", "mnist-cnn")
		for k, v := range recipe {
			if err := got.Set(k, v); err != nil {
				t.Fatalf("%s = %v: %v", k, v, err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("recipe %v:\nSet  %+v\nJSON %+v", recipe, got, want)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	base := DefaultConfig("mnist", "mnist-cnn")
	base.Objective = "label_smoothing+dropout"
	base.ObjectiveParams = map[string]float64{"keep_prob": 0.8}
	c, err := ApplyOverrides(base, []Override{
		{"epochs", "3"}, {"alpha", "0.2"}, {"lr", 0.1}, {"rescale", "false"}, {"step_epochs", []any{1, 2}},
		{"label_smoothing.alpha", 0.3}, {"dropout.keep_prob", true}, {"epochs", 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Epochs != 4 || c.LR != 0.1 || !slices.Equal(c.StepEpochs, []int{1, 2}) ||
		!reflect.DeepEqual(c.ObjectiveParams, map[string]float64{"keep_prob": 0.8, "alpha": 0.2, "rescale": 0, "label_smoothing.alpha": 0.3, "dropout.keep_prob": 1}) {
		t.Errorf("after ApplyOverrides: %+v", c)
	}
	if !reflect.DeepEqual(base.ObjectiveParams, map[string]float64{"keep_prob": 0.8}) {
		t.Errorf("ApplyOverrides changed its argument's objective params: %v", base.ObjectiveParams)
	}
	if c, err := ApplyOverrides(base, nil); err != nil || !reflect.DeepEqual(c, base) {
		t.Errorf("no overrides: %v, %+v", err, c)
	}
	// Out-of-range values are left to Validate.
	if c, err := ApplyOverrides(base, []Override{{"alpha", "2"}, {"epochs", "-1"}}); err != nil || c.ObjectiveParams["alpha"] != 2 || c.Epochs != -1 {
		t.Errorf("out of range: %v, %+v", err, c)
	}

	// Neither a config key nor a hyperparameter: both sets listed.
	_, err = ApplyOverrides(base, []Override{{"tau", "1"}})
	var neither *UnknownOverrideError
	var unknownHyper *objective.UnknownHyperparameterError
	if !errors.As(err, &neither) || !errors.As(err, &unknownHyper) || neither.Key != "tau" || unknownHyper.Key != "tau" {
		t.Fatalf("tau: %v, want an *UnknownOverrideError wrapping an *objective.UnknownHyperparameterError", err)
	}
	for _, w := range []string{"tau: not a config key nor a hyperparameter of objective label_smoothing+dropout (", "alpha (label_smoothing)", "keep_prob (dropout)", "; config keys: ", "weight_decay"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	for _, c := range []struct {
		kvs []Override
		msg string
	}{
		{[]Override{{"alpha", "x"}}, `alpha=x: alpha: want a number (or true/false), got "x"`},
		{[]Override{{"alpha", []any{1}}}, `alpha=[1]: alpha: want a number (or true/false), got [1]`},
		{[]Override{{"alpha", "x"}, {"epochs", "many"}}, `epochs=many: config key epochs: "many" is not an integer`},
		{[]Override{{"seed", -2}}, `seed=-2: config key seed: -2 is not an unsigned integer`},
	} {
		got, err := ApplyOverrides(base, c.kvs)
		var oe *OverrideError
		if !errors.As(err, &oe) || err.Error() != c.msg {
			t.Errorf("%v: error %v, want an *OverrideError %q", c.kvs, err, c.msg)
		}
		if !reflect.DeepEqual(got, base) {
			t.Errorf("%v: on error, got %+v, want the config as given", c.kvs, got)
		}
	}
	// An unknown objective is objective.New's own error.
	bad := base
	bad.Objective = "nope"
	if _, err := ApplyOverrides(bad, []Override{{"tau", "1"}}); err == nil || !strings.Contains(err.Error(), "unknown objective") {
		t.Errorf("unknown objective: %v", err)
	}
	if _, err := ApplyOverrides(bad, []Override{{"epochs", "1"}}); err != nil {
		t.Errorf("config keys only, unknown objective: %v (left to Validate)", err)
	}
}
