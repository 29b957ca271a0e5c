package objective

import (
	"errors"
	"slices"
	"testing"
)

// TestUnknownHyperparameterError: every way of giving New a key that no
// objective accepts is an *UnknownHyperparameterError with the valid keys,
// and its message is the one New always gave.
func TestUnknownHyperparameterError(t *testing.T) {
	cases := []struct {
		name, key string
		objective string
		valid     []string
		msg       string
	}{
		{"softmax", "tau", "softmax", nil,
			`objective softmax: unknown hyperparameter "tau"; softmax takes no hyperparameters`},
		{"cosine_softmax", "alpha", "cosine_softmax", []string{"tau", "normalize_features"},
			`objective cosine_softmax: unknown hyperparameter "alpha"; valid keys for cosine_softmax: tau, normalize_features`},
		{"label_smoothing", "label_smoothing.tau", "label_smoothing", []string{"alpha", "rescale"},
			`objective label_smoothing: unknown hyperparameter "tau"; valid keys for label_smoothing: alpha, rescale`},
		{"label_smoothing+dropout", "dropout.alpha", "dropout", []string{"keep_prob"},
			`objective dropout: unknown hyperparameter "alpha"; valid keys for dropout: keep_prob`},
		{"label_smoothing+dropout", "tau", "label_smoothing+dropout", []string{"label_smoothing.alpha", "label_smoothing.rescale", "dropout.keep_prob"},
			`objective label_smoothing+dropout: unknown hyperparameter "tau"; valid keys: alpha (label_smoothing), rescale (label_smoothing), keep_prob (dropout)`},
		{"softmax+dropout", "beta", "softmax+dropout", []string{"dropout.keep_prob"},
			`objective softmax+dropout: unknown hyperparameter "beta"; valid keys: keep_prob (dropout)`},
	}
	for _, c := range cases {
		_, err := New(c.name, map[string]float64{c.key: 1})
		var u *UnknownHyperparameterError
		if !errors.As(err, &u) {
			t.Errorf("New(%s, %s): error %v (%T), want an *UnknownHyperparameterError", c.name, c.key, err, err)
			continue
		}
		if u.Objective != c.objective || !slices.Equal(u.Valid, c.valid) {
			t.Errorf("New(%s, %s): %+v, want objective %s, valid %v", c.name, c.key, u, c.objective, c.valid)
		}
		if err.Error() != c.msg {
			t.Errorf("New(%s, %s) error\n%s\nwant\n%s", c.name, c.key, err, c.msg)
		}
	}
	// Other errors are not: an unknown objective, an out-of-range value,
	// a qualifier naming a part not in the stack.
	for _, c := range []struct {
		name   string
		params map[string]float64
	}{
		{"nope", nil},
		{"label_smoothing", map[string]float64{"alpha": 2}},
		{"label_smoothing+dropout", map[string]float64{"sigmoid.alpha": 0.1}},
	} {
		_, err := New(c.name, c.params)
		var u *UnknownHyperparameterError
		if err == nil || errors.As(err, &u) {
			t.Errorf("New(%s, %v): error %v, want another error", c.name, c.params, err)
		}
	}
}
