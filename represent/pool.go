package represent

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// DefaultPoolGrid is the side of the grid that spatial maps are
// average-pooled to before CKA in a study (PoolSpatial).
const DefaultPoolGrid = 4

// SpatialRule states how a study turns block outputs into the matrices CKA
// compares, for reports (docs/definitions.md, "CKA").
const SpatialRule = "block outputs [H, W, C] are average-pooled over an adaptive grid of at most 4×4 cells (cell edges ⌊i·H/4⌋) and flattened; vectors are used as they are"

// PoolSpatial turns a layer's outputs into a representation matrix:
// t [N, H, W, C] is average-pooled over an adaptive grid of
// min(H, grid) × min(W, grid) cells — cell (gy, gx) covers rows
// ⌊gy·H/gh⌋ to ⌊(gy+1)·H/gh⌋ and likewise columns — and flattened to
// [N, gh·gw·C] (cell-major, channels innermost); t of any other rank is
// flattened to [N, rest] without copying. Pooling first keeps CKA's
// feature dimension small for early, wide layers; flattening without it
// gives different CKA values, so reports say which was used (SpatialRule).
// grid must be ≥ 1.
func PoolSpatial(t *tensor.Tensor, grid int) *tensor.Tensor {
	if grid < 1 {
		panic(fmt.Sprintf("represent: pool grid %d; want ≥ 1", grid))
	}
	if len(t.Shape) != 4 {
		return tensor.FromData(t.Data, t.Shape[0], tensor.Numel(t.Shape[1:]))
	}
	n, h, w, c := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	gh, gw := min(h, grid), min(w, grid)
	out := tensor.New(n, gh*gw*c)
	for i := range n {
		img := t.Data[i*h*w*c : (i+1)*h*w*c]
		row := out.Data[i*gh*gw*c : (i+1)*gh*gw*c]
		for gy := range gh {
			y0, y1 := gy*h/gh, (gy+1)*h/gh
			for gx := range gw {
				x0, x1 := gx*w/gw, (gx+1)*w/gw
				cell := row[(gy*gw+gx)*c : (gy*gw+gx+1)*c]
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						px := img[(y*w+x)*c : (y*w+x+1)*c]
						for ch, v := range px {
							cell[ch] += v
						}
					}
				}
				inv := 1 / float32((y1-y0)*(x1-x0))
				for ch := range cell {
					cell[ch] *= inv
				}
			}
		}
	}
	return out
}
