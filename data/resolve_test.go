package data

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func TestDeriveRot90(t *testing.T) {
	datasets := NewResolver()
	tr, _, err := datasets.Load("mnist-rot90")
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := datasets.Load("mnist")
	if err != nil {
		t.Fatal(err)
	}
	h := 28
	// Pixel (y, x) of the rotated image is pixel (h−1−x, y) of the original.
	for _, yx := range [][2]int{{0, 0}, {3, 17}, {27, 5}, {14, 14}} {
		y, x := yx[0], yx[1]
		got := tr.Images.Data[y*h+x]
		want := base.Images.Data[(h-1-x)*h+y]
		if got != want {
			t.Errorf("rot90 pixel (%d,%d) = %v; want %v", y, x, got, want)
		}
	}
	if tr.Labels[0] != base.Labels[0] {
		t.Errorf("rot90 changed a label")
	}
}

// TestDeriveLowerUpper checks the class-split tasks example by example:
// NAME-lower holds exactly the digits 0–4 in their original order and
// labels, NAME-upper exactly the digits 5–9 relabelled 0–4, with the
// images unchanged.
func TestDeriveLowerUpper(t *testing.T) {
	datasets := NewResolver()
	base, _, err := datasets.Load("mnist")
	if err != nil {
		t.Fatal(err)
	}
	lo, _, err := datasets.Load("mnist-lower")
	if err != nil {
		t.Fatal(err)
	}
	hi, _, err := datasets.Load("mnist-upper")
	if err != nil {
		t.Fatal(err)
	}
	if lo.NumClasses != 5 || hi.NumClasses != 5 {
		t.Fatalf("classes: lower %d, upper %d; want 5 and 5", lo.NumClasses, hi.NumClasses)
	}
	if lo.Len()+hi.Len() != base.Len() {
		t.Fatalf("lower %d + upper %d examples; want the %d of mnist", lo.Len(), hi.Len(), base.Len())
	}
	per := 28 * 28
	var li, hj int
	for i, y := range base.Labels {
		img := base.Images.Data[i*per : (i+1)*per]
		var d *Dataset
		var j, want int
		if y < 5 {
			d, j, want = lo, li, y
			li++
		} else {
			d, j, want = hi, hj, y-5
			hj++
		}
		if d.Labels[j] != want || !slices.Equal(d.Images.Data[j*per:(j+1)*per], img) {
			t.Fatalf("mnist example %d (digit %d) is not example %d of %s with label %d", i, y, j, d.Name, want)
		}
	}
}

// tinySplits is a 4-class dataset of n 2×2 grey images whose pixels hold
// the example's index, labelled i mod 4.
func tinySplits(name string, n int, shape ...int) (train, test *Dataset) {
	mk := func(split string, n int) *Dataset {
		if len(shape) == 0 {
			shape = []int{2, 2, 1}
		}
		per := tensor.Numel(shape)
		img := tensor.New(append([]int{n}, shape...)...)
		labels := make([]int, n)
		for i := range n {
			for j := range per {
				img.Data[i*per+j] = float32(i)
			}
			labels[i] = i % 4
		}
		return &Dataset{Name: name, Split: split, Images: img, Labels: labels, NumClasses: 4}
	}
	return mk("train", n), mk("test", n/2)
}

func TestResolverAddedDatasets(t *testing.T) {
	r := NewResolver()
	calls := 0
	if err := r.Add("tiny", func() (*Dataset, *Dataset, error) {
		calls++
		tr, te := tinySplits("tiny", 40)
		return tr, te, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("tiny", func() (*Dataset, *Dataset, error) { return nil, nil, nil }); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("adding a name twice: err = %v", err)
	}
	if err := r.Add("mnist", func() (*Dataset, *Dataset, error) { return nil, nil, nil }); err == nil || !strings.Contains(err.Error(), "catalogue") {
		t.Errorf("adding a catalogue name: err = %v", err)
	}
	a, _, err := r.Load("tiny")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := r.Load("tiny")
	if err != nil || a != b || calls != 1 {
		t.Errorf("second load: same splits %v, loader called %d times, err %v; want the cached splits", a == b, calls, err)
	}
	if !slices.Contains(r.Names(), "tiny") || !slices.Contains(r.Names(), "mnist") {
		t.Errorf("Names() = %v; want the catalogue and tiny", r.Names())
	}
	// Another resolver does not see it: nothing is global.
	if _, _, err := NewResolver().Load("tiny"); err == nil {
		t.Errorf("a fresh resolver resolved another resolver's dataset")
	}
	// Derived tasks and holdout splits of an added dataset.
	par, parTest, err := r.Load("tiny-parity")
	if err != nil {
		t.Fatal(err)
	}
	if par.NumClasses != 2 || parTest.NumClasses != 2 || par.Labels[3] != 1 || par.Labels[2] != 0 || par.Name != "tiny-parity" {
		t.Errorf("tiny-parity: %d classes, labels %v", par.NumClasses, par.Labels[:4])
	}
	rest, val, test, err := r.Holdout("tiny", 10)
	if err != nil {
		t.Fatal(err)
	}
	if rest.Len() != 30 || val.Len() != 10 || test.Len() != 20 {
		t.Fatalf("holdout sizes %d/%d/%d; want 30/10/20", rest.Len(), val.Len(), test.Len())
	}
	// Disjoint and complete: each example (its pixel value) exactly once.
	seen := map[float32]int{}
	for _, d := range []*Dataset{rest, val} {
		for i := range d.Len() {
			seen[d.Images.Data[i*4]]++
		}
	}
	for v := range 40 {
		if seen[float32(v)] != 1 {
			t.Fatalf("example %d appears %d times across the holdout's two parts", v, seen[float32(v)])
		}
	}
	byName, byNameTest, err := r.Load(HoldoutName("tiny", 10))
	if err != nil || byName != rest || byNameTest != test {
		t.Errorf("Load(%s) does not return Holdout's splits (err %v)", HoldoutName("tiny", 10), err)
	}
	if _, _, err := r.Load(HoldoutName(HoldoutName("tiny", 10), 5)); err == nil || !strings.Contains(err.Error(), "already a holdout") {
		t.Errorf("holdout of a holdout: err = %v", err)
	}
	if _, _, err := r.Load(HoldoutName("tiny", 40)); err == nil || !strings.Contains(err.Error(), "validation size 40") {
		t.Errorf("holdout of every example: err = %v", err)
	}
}

func TestResolverErrors(t *testing.T) {
	r := NewResolver()
	_, _, err := r.Load("imagenett")
	if err == nil || !strings.Contains(err.Error(), `unknown dataset "imagenett"`) || !strings.Contains(err.Error(), "mnist") || !strings.Contains(err.Error(), "NAME-rot90") {
		t.Errorf("unknown name: err = %v; want the name, the known names and the derived forms", err)
	}
	if r.Known("imagenett") || r.Known("imagenett-lower") || !r.Known("mnist-lower:holdout5") || !r.Known("x/y.npz") || !r.Known("fashion-mnist") {
		t.Errorf("Known gives the wrong answer for a name")
	}
	mustAdd := func(name string, load Loader) {
		if err := r.Add(name, load); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd("mismatch", func() (*Dataset, *Dataset, error) {
		tr, _ := tinySplits("mismatch", 8)
		_, te := tinySplits("mismatch", 8, 3, 3, 1)
		return tr, te, nil
	})
	if _, _, err := r.Load("mismatch"); err == nil || !strings.Contains(err.Error(), "dataset mismatch: train examples [2 2 1]") {
		t.Errorf("splits of different shapes: err = %v", err)
	}
	boom := errors.New("boom")
	mustAdd("failing", func() (*Dataset, *Dataset, error) { return nil, nil, boom })
	if _, _, err := r.Load("failing-parity"); !errors.Is(err, boom) || !strings.Contains(err.Error(), "dataset failing") {
		t.Errorf("a failing base of a derived task: err = %v", err)
	}
	mustAdd("three", func() (*Dataset, *Dataset, error) {
		tr, te := tinySplits("three", 8)
		tr.NumClasses, te.NumClasses = 3, 3
		return tr, te, nil
	})
	if _, _, err := r.Load("three-upper"); err == nil || !strings.Contains(err.Error(), "at least 4 classes") {
		t.Errorf("upper half of 3 classes: err = %v", err)
	}
	// A nil resolver resolves the catalogue and derived tasks.
	var none *Resolver
	if tr, _, err := none.Load("mnist-parity"); err != nil || tr.NumClasses != 2 {
		t.Errorf("nil resolver: %v", err)
	}
	if err := none.Add("x", func() (*Dataset, *Dataset, error) { return nil, nil, nil }); err == nil {
		t.Errorf("adding to a nil resolver succeeded")
	}
}

// NAME-pairs merges the classes two by two, {0, 1} → 0, {2, 3} → 1, …,
// keeping every example and image.
func TestDerivePairs(t *testing.T) {
	r := NewResolver()
	base, _, err := r.Load("mnist")
	if err != nil {
		t.Fatal(err)
	}
	pairs, test, err := r.Load("mnist-pairs")
	if err != nil {
		t.Fatal(err)
	}
	if pairs.NumClasses != 5 || test.NumClasses != 5 || pairs.Len() != base.Len() || pairs.Images != base.Images {
		t.Fatalf("mnist-pairs: %d classes, %d examples", pairs.NumClasses, pairs.Len())
	}
	for i, y := range base.Labels {
		if pairs.Labels[i] != y/2 {
			t.Fatalf("example %d: digit %d labelled %d; want %d", i, y, pairs.Labels[i], y/2)
		}
	}
	if slices.Max(base.Labels) != 9 {
		t.Fatal("deriving modified the base dataset's labels")
	}
}
