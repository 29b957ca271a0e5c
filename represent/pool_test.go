package represent

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// A hand-worked case: one 2×3 single-channel map pooled to a 2×2 grid.
// Columns split at ⌊0·3/2⌋ = 0, ⌊1·3/2⌋ = 1, 3: cells hold columns {0} and
// {1, 2}.
func TestPoolSpatialHandWorked(t *testing.T) {
	x := tensor.FromData([]float32{
		1, 2, 4,
		8, 16, 32,
	}, 1, 2, 3, 1)
	got := PoolSpatial(x, 2)
	want := []float32{1, 3, 8, 24}
	if len(got.Shape) != 2 || got.Shape[0] != 1 || got.Shape[1] != 4 {
		t.Fatalf("shape %v; want [1 4]", got.Shape)
	}
	for i := range want {
		if got.Data[i] != want[i] {
			t.Errorf("cell %d = %v; want %v", i, got.Data[i], want[i])
		}
	}
}

// PoolSpatial against a float64 reference that averages each cell's
// pixels directly, for shapes that divide the grid evenly and not.
func TestPoolSpatialMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][4]int{{3, 7, 5, 2}, {2, 8, 8, 3}, {2, 3, 2, 4}, {1, 1, 9, 1}} {
		n, h, w, c := s[0], s[1], s[2], s[3]
		x := tensor.New(n, h, w, c)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		got := PoolSpatial(x, DefaultPoolGrid)
		gh, gw := min(h, DefaultPoolGrid), min(w, DefaultPoolGrid)
		if got.Shape[0] != n || got.Shape[1] != gh*gw*c {
			t.Fatalf("%v: shape %v; want [%d %d]", s, got.Shape, n, gh*gw*c)
		}
		for i := range n {
			for gy := range gh {
				for gx := range gw {
					for ch := range c {
						var sum float64
						cnt := 0
						for y := range h {
							for xx := range w {
								if gy*h/gh <= y && y < (gy+1)*h/gh && gx*w/gw <= xx && xx < (gx+1)*w/gw { // cell edges ⌊i·H/g⌋
									sum += float64(x.Data[((i*h+y)*w+xx)*c+ch])
									cnt++
								}
							}
						}
						want := sum / float64(cnt)
						v := got.Data[i*gh*gw*c+(gy*gw+gx)*c+ch]
						if math.Abs(float64(v)-want) > 1e-5 {
							t.Fatalf("%v: example %d cell (%d,%d) channel %d = %v; want %v", s, i, gy, gx, ch, v, want)
						}
					}
				}
			}
		}
	}
}

// Vectors pass through flattened, sharing the data.
func TestPoolSpatialFlattensOtherRanks(t *testing.T) {
	x := tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	if got := PoolSpatial(x, 4); &got.Data[0] != &x.Data[0] || got.Shape[1] != 3 {
		t.Errorf("a [2 3] matrix was not passed through: %v", got.Shape)
	}
	y := tensor.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2)
	if got := PoolSpatial(y, 4); got.Shape[0] != 2 || got.Shape[1] != 4 {
		t.Errorf("a [2 2 2] array flattens to %v; want [2 4]", got.Shape)
	}
}
