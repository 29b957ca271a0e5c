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
		for _, l := range []int{1, 3, 8, 9, 12, 13, 16, 24, 27, 32, 48, 96, 100, 192, 200} {
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

// Overlapping segments (one buffer, both directions) come out as copy
// would make them, one segment after the other.
func TestCopyStridedOverlapping(t *testing.T) {
	for _, l := range []int{3, 9, 16} {
		for _, shift := range []int{-5, 5} {
			buf, want := make([]float32, 200), make([]float32, 200)
			for i := range buf {
				buf[i] = float32(i)
				want[i] = float32(i)
			}
			d0, s0 := 50+shift, 50
			for i := 0; i < 4; i++ {
				copy(want[d0+i*20:d0+i*20+l], want[s0+i*20:s0+i*20+l])
			}
			CopyStrided(buf[d0:], 20, buf[s0:], 20, 4, l)
			for i := range buf {
				if buf[i] != want[i] {
					t.Fatalf("l=%d shift=%d: buf[%d] = %v, want %v", l, shift, i, buf[i], want[i])
				}
			}
		}
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
