package report

import "testing"

// TestVariantLabels: the labels the issue asks for, from the default
// study's variants, and a sweep that shows a default value because it
// varies.
func TestVariantLabels(t *testing.T) {
	type variant struct{ obj, hyper, want string }
	for _, tc := range [][]variant{
		{
			{"softmax", "", "softmax"},
			// Registry defaults (α 0.1, rescale 1) are left out.
			{"label_smoothing", "alpha=0.1 rescale=1", "label smoothing"},
			{"sigmoid", "offset=1", "sigmoid"},
			{"extra_final_layer_l2", "lambda=0.0008", "final-layer L2"},
			{"dropout", "keep_prob=0.7", "dropout"},
			// τ varies between the cosine variants, so even the default
			// 0.05 is shown; normalize_features is the default everywhere.
			{"cosine_softmax", "normalize_features=1 tau=0.03", "cosine τ=0.03"},
			{"cosine_softmax", "normalize_features=1 tau=0.05", "cosine τ=0.05"},
			// Every value differs from the registry's (κ 9, M 60, s 10), in
			// the formula's order.
			{"squared_error", "kappa=5 scale=0.05 target=1", "squared error κ=5 M=1 s=0.05"},
		},
		{
			{"label_smoothing", "alpha=0.1 rescale=1", "label smoothing α=0.1"},
			{"label_smoothing", "alpha=0.3 rescale=1", "label smoothing α=0.3"},
			{"label_smoothing", "alpha=0.1 rescale=1 input=mixup", "label smoothing α=0.1 + mixup"},
			{"label_smoothing+logit_penalty", "label_smoothing.alpha=0.2 logit_penalty.beta=0.0006", "label smoothing + logit penalty α=0.2"},
			{"my_objective", "k=1", "my objective k=1"},
		},
	} {
		var vs []string
		obj, hyper := map[string]string{}, map[string]string{}
		for _, v := range tc {
			k := VariantLabel(v.obj, v.hyper)
			vs = append(vs, k)
			obj[k], hyper[k] = v.obj, v.hyper
		}
		got := variantLabels(vs, obj, hyper)
		for i, v := range tc {
			if got[vs[i]] != v.want {
				t.Errorf("%s: label %q; want %q", vs[i], got[vs[i]], v.want)
			}
		}
	}
}

// TestVariantLabelsNeverCollide: two variants that differ only in a key
// the labels leave out (an unknown value equal on neither side cannot be
// told apart by shown keys) fall back to their full keys.
func TestVariantLabelsNeverCollide(t *testing.T) {
	// "1" and "1.0" are the same number, so tau is the same and not shown,
	// yet the keys differ: the labels must still differ.
	a, b := VariantLabel("cosine_softmax", "tau=0.05"), VariantLabel("cosine_softmax", "tau=0.050")
	got := variantLabels([]string{a, b}, map[string]string{a: "cosine_softmax", b: "cosine_softmax"}, map[string]string{a: "tau=0.05", b: "tau=0.050"})
	if got[a] == got[b] {
		t.Errorf("two variants share the label %q", got[a])
	}
}

// TestRelabelPrefersLongestKey: "cosine_softmax (…)" is replaced whole,
// not read as containing "softmax".
func TestRelabelPrefersLongestKey(t *testing.T) {
	b := &builder{labels: map[string]string{
		"softmax":                    "softmax",
		"cosine_softmax (tau=0.03)":  "cosine τ=0.03",
		"label_smoothing":            "label smoothing",
		"label_smoothing (alpha=.3)": "label smoothing α=.3",
	}}
	in := "top-1: cosine_softmax (tau=0.03) − softmax; label_smoothing (alpha=.3) vs label_smoothing"
	want := "top-1: cosine τ=0.03 − softmax; label smoothing α=.3 vs label smoothing"
	if got := b.relabel(in); got != want {
		t.Errorf("relabel:\n got %q\nwant %q", got, want)
	}
}
