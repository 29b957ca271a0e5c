package study

import (
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data/corrupt"
)

// TestRecipeValuesAndCorruptionGroups: a recipe value of the wrong type is
// an error naming its line and what the key wants; a recipe applies as
// `losslab train --set` would; corruptions accept the group "all".
func TestRecipeValuesAndCorruptionGroups(t *testing.T) {
	head := "name: x\ndataset: mnist\nmodel: mlp\nobjectives: [{name: softmax}]\nseeds: [1]\n"
	for _, tc := range []struct{ text, want string }{
		{"recipe:\n  epochs: 2.5\n", "line 7: recipe: config key epochs: 2.5 is not an integer"},
		{"recipe:\n  lr: 0.1\n  nesterov: maybe\n", `line 8: recipe: config key nesterov: "maybe" is not true or false`},
		{"recipe:\n  step_epochs: [1, x]\n", "line 7: recipe: config key step_epochs: [1 x] is not a list of integers"},
		{"recipe:\n  epochs: 1\n  lrr: 0.1\n", `line 8: unknown recipe key "lrr"; valid keys: `},
		{"corruptions: [fog, acid_rain]\n", `study x: unknown corruption "acid_rain"; valid: the groups all, common, mnist-c`},
	} {
		_, err := ParseSpec("s.yaml", []byte(head+tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v; want one containing %q", tc.text, err, tc.want)
		}
	}
	s, err := ParseSpec("s.yaml", []byte(head+"recipe: {epochs: 3.0, lr: 1, step_epochs: [1, 2], nesterov: false, schedule: step}\ncorruptions: [all, fog]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.baseConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Epochs != 3 || c.LR != 1 || !slices.Equal(c.StepEpochs, []int{1, 2}) || c.Nesterov || c.Schedule != "step" {
		t.Errorf("recipe applied as %+v", c)
	}
	names, err := s.corruptionNames()
	want := slices.Sorted(slices.Values(corrupt.All()))
	if err != nil || !slices.Equal(names, want) {
		t.Errorf("corruptions [all, fog]: %v, %v; want %v", names, err, want)
	}
}
