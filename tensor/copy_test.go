package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCopyStrided copies strided segments with the assembly and with the Go
// loops and checks every value of the destination against the definition,
// including the gaps between segments, which must stay untouched.
func TestCopyStrided(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, asm := range []bool{false, true} {
		if asm && !useCopyAsm {
			continue
		}
		saved := useCopyAsm
		useCopyAsm = asm
		for _, l := range []int{1, 3, 8, 12, 16, 24, 32, 48, 96, 192, 200} {
			for _, n := range []int{1, 2, 7, 33} {
				ds, ss := l+rng.IntN(40), l+rng.IntN(40)
				src := make([]float32, (n-1)*ss+l)
				for i := range src {
					src[i] = rng.Float32()
				}
				dst := make([]float32, (n-1)*ds+l+5)
				for i := range dst {
					dst[i] = -1
				}
				CopyStrided(dst, ds, src, ss, n, l)
				for i, v := range dst {
					want := float32(-1)
					if seg, off := i/ds, i%ds; seg < n && off < l {
						want = src[seg*ss+off]
					}
					if math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("asm=%v l=%d n=%d ds=%d ss=%d: dst[%d] = %v, want %v", asm, l, n, ds, ss, i, v, want)
					}
				}
			}
		}
		useCopyAsm = saved
	}
}

func TestCopyStridedPanicsOutside(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("CopyStrided past the end of src did not panic")
		}
	}()
	CopyStrided(make([]float32, 100), 10, make([]float32, 25), 10, 3, 8)
}
