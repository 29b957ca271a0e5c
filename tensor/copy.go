package tensor

// CopyStrided copies n segments of l values, segment i from src[i·ss:] to
// dst[i·ds:]: the gathers of GEMM packing and of im2col, whose segments
// (a micro-panel step, a kernel row) are too short for copy's per-call
// set-up to pay. It panics if a segment lies outside dst or src.
func CopyStrided(dst []float32, ds int, src []float32, ss int, n, l int) {
	if n <= 0 || l <= 0 {
		return
	}
	// The assembly copies without bounds checks.
	_, _ = dst[(n-1)*ds+l-1], src[(n-1)*ss+l-1]
	if useCopyAsm && l%8 == 0 {
		copyStridedAVX2(&dst[0], ds, &src[0], ss, n, l)
		return
	}
	if l > 12 {
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
