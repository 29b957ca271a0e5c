package tensor

import "unsafe"

// CopyStrided copies n segments of l values, segment i from src[i·ss:] to
// dst[i·ds:]: the gathers of GEMM packing and of im2col, whose segments
// (a micro-panel step, a kernel row) are too short for copy's per-call
// set-up to pay. Segments are copied in order, each as by copy, so dst
// and src may overlap. It panics if a segment lies outside dst or src.
func CopyStrided(dst []float32, ds int, src []float32, ss int, n, l int) {
	if n <= 0 || l <= 0 {
		return
	}
	// The assembly copies without bounds checks.
	_, _ = dst[(n-1)*ds+l-1], src[(n-1)*ss+l-1]
	overlap := overlaps(dst[:(n-1)*ds+l], src[:(n-1)*ss+l])
	if useCopyAsm && l >= 8 && !overlap {
		copyStridedAVX2(&dst[0], ds, &src[0], ss, n, l)
		return
	}
	if l > 12 || overlap {
		for i := 0; i < n; i++ {
			copy(dst[i*ds:i*ds+l], src[i*ss:i*ss+l])
		}
		return
	}
	for i := 0; i < n; i++ {
		d, s := dst[i*ds:i*ds+l], src[i*ss:i*ss+l]
		d = d[:len(s)]
		for j, v := range s {
			d[j] = v
		}
	}
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []float32) bool {
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+4*uintptr(len(b)) && pb < pa+4*uintptr(len(a))
}
