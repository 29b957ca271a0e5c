package npy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func TestStatAndReadMatrixRows(t *testing.T) {
	dir := t.TempDir()
	m := tensor.FromData([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 4, 3)
	path := filepath.Join(dir, "m.npy")
	if err := WriteMatrix(path, m); err != nil {
		t.Fatal(err)
	}
	info, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.ShapeText() != "(4, 3)" || info.DType != "<f4" || !info.Float() || info.Integer() {
		t.Fatalf("Stat = %+v", info)
	}
	rows, err := ReadMatrixRows(path, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{3, 4, 5, 6, 7, 8}; len(rows.Data) != len(want) || rows.Shape[0] != 2 || rows.Shape[1] != 3 {
		t.Fatalf("rows = %v %v", rows.Shape, rows.Data)
	} else {
		for i := range want {
			if rows.Data[i] != want[i] {
				t.Fatalf("rows = %v, want %v", rows.Data, want)
			}
		}
	}
	if _, err := ReadMatrixRows(path, 2, 5); err == nil || !strings.Contains(err.Error(), "4 rows") {
		t.Errorf("rows past the end: err = %v", err)
	}
	// A file cut short is refused by Stat, as ReadFile refuses it.
	b, _ := os.ReadFile(path)
	short := filepath.Join(dir, "short.npy")
	os.WriteFile(short, b[:len(b)-4], 0o644)
	if _, err := Stat(short); err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "short.npy") {
		t.Errorf("Stat of a truncated file: err = %v", err)
	}
	z := filepath.Join(dir, "a.npz")
	if err := WriteNPZ(z, []string{"x", "y"}, []*Array{FromTensor(m), FromInts([]int{1, 2, 3, 4})}); err != nil {
		t.Fatal(err)
	}
	infos, err := StatNPZ(z)
	if err != nil {
		t.Fatal(err)
	}
	if infos["x"].ShapeText() != "(4, 3)" || !infos["y"].Integer() || infos["y"].ShapeText() != "(4,)" || len(infos) != 2 {
		t.Fatalf("StatNPZ = %+v", infos)
	}
}
