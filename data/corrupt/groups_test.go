package corrupt

import (
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"common"}, Common()},
		{[]string{"mnist-c"}, MNISTCNames()},
		{[]string{"all"}, All()},
		{[]string{"fog", "gaussian_noise"}, []string{"fog", "gaussian_noise"}},
		// Groups and names mix; a repeat keeps its first place.
		{[]string{"fog", "mnist-c"}, append([]string{"fog"}, MNISTCNames()...)},
		{[]string{"mnist-c", "fog", "mnist-c", "fog"}, append(MNISTCNames(), "fog")},
		{[]string{"common", "mnist-c"}, append(Common(), MNISTCNames()...)},
		{[]string{"common", "all"}, append(Common(), namesOf(Extra, MNISTC)...)},
		{[]string{MNISTCNames()[0], "all"}, append([]string{MNISTCNames()[0]}, slices.DeleteFunc(All(), func(n string) bool { return n == MNISTCNames()[0] })...)},
	} {
		got, err := Expand(c.in)
		if err != nil {
			t.Errorf("Expand(%q): %v", c.in, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got, _ := Expand([]string{"all"}); len(got) != len(Common())+len(MNISTCNames())+len(namesOf(Extra)) {
		t.Errorf("all has %d corruptions", len(got))
	}
	for _, bad := range [][]string{{"acid_rain"}, {"common", "acid_rain"}, {""}, {"Fog"}, {"MNIST-C"}} {
		got, err := Expand(bad)
		if err == nil {
			t.Errorf("Expand(%q) = %q, want an error", bad, got)
			continue
		}
		msg := err.Error()
		for _, w := range []string{"unknown corruption", "all", "common", "mnist-c", "gaussian_noise", MNISTCNames()[0], `"` + bad[len(bad)-1] + `"`} {
			if !strings.Contains(msg, w) {
				t.Errorf("Expand(%q) error %q lacks %q", bad, msg, w)
			}
		}
	}
}
