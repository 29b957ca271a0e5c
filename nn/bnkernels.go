package nn

import "math"

// The BatchNorm passes over [rows, C] matrices. They are written to be
// branch-free in the inner loop: a ReLU mask that depends on the data is
// unpredictable, and a mispredicted branch per element costs more than the
// arithmetic. Per-channel sums are accumulated in float32 over one block of
// reduceBlockRows rows and only the block totals in float64.

// relu32 is max(0, v) without a branch: a set sign bit clears the value (−0
// and negative NaNs become +0).
func relu32(v float32) float32 {
	b := math.Float32bits(v)
	return math.Float32frombits(b &^ uint32(int32(b)>>31))
}

// passIfPositive returns d where y > 0 and 0 elsewhere, for a ReLU output y
// (never negative): the ReLU backward pass without a branch. Such a y is
// > 0 exactly when its bit pattern i is a positive int32, that is when
// −i and ^i are both negative (which also rejects −0).
func passIfPositive(d, y float32) float32 {
	i := int32(math.Float32bits(y))
	m := uint32((-i & ^i) >> 31)
	return math.Float32frombits(math.Float32bits(d) & m)
}

// first returns a pointer to s[0], or nil for an empty s (the assembly
// passes read nil as "absent").
func first(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// mustCover panics unless every non-nil slice has at least n elements: the
// assembly passes read and write n elements of each without bounds checks.
func mustCover(n int, ss ...[]float32) {
	for _, s := range ss {
		if s != nil && len(s) < n {
			panic("nn: BatchNorm pass on slices shorter than its input")
		}
	}
}

// asmRows reports whether the assembly passes handle rows of c channels
// over n elements.
func asmRows(n, c int) bool { return useBNAsm && c%8 == 0 && n >= c && n%c == 0 }

// bnSums adds, for each channel j, Σ (x[r, j] − k[j]) to s[j] and
// Σ (x[r, j] − k[j])² to q[j] over the rows of x. Shifting by k (a value
// near the mean) keeps the variance E[(x−k)²] − E[x−k]² free of
// cancellation when the mean is large.
func bnSums(x []float32, k, s, q []float32) {
	c := len(k)
	if asmRows(len(x), c) {
		_, _ = s[c-1], q[c-1]
		if useBNAVX512 && c%16 == 0 {
			bnSumsAVX512(&x[0], &k[0], &s[0], &q[0], len(x)/c, c)
			return
		}
		bnSumsAVX2(&x[0], &k[0], &s[0], &q[0], len(x)/c, c)
		return
	}
	for r := 0; r+c <= len(x); r += c {
		xr := x[r : r+c]
		k, s, q := k[:len(xr)], s[:len(xr)], q[:len(xr)]
		for j, v := range xr {
			d := v - k[j]
			s[j] += d
			q[j] += d * d
		}
	}
}

// bnApply sets y = x·scale + shift (+ res) (then ReLU) row by row.
func bnApply(x, res, y, scale, shift []float32, relu bool) {
	c := len(scale)
	if asmRows(len(x), c) {
		mustCover(len(x), y, res)
		bnApplyAVX2(&x[0], first(res), &y[0], &scale[0], &shift[0], len(x)/c, c, relu)
		return
	}
	switch {
	case res != nil && relu:
		for r := 0; r+c <= len(x); r += c {
			xr, rr, yr := x[r:r+c], res[r:r+c], y[r:r+c]
			rr, yr, sc, sh := rr[:len(xr)], yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			for j, v := range xr {
				yr[j] = relu32(v*sc[j] + sh[j] + rr[j])
			}
		}
	case res != nil:
		for r := 0; r+c <= len(x); r += c {
			xr, rr, yr := x[r:r+c], res[r:r+c], y[r:r+c]
			rr, yr, sc, sh := rr[:len(xr)], yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			for j, v := range xr {
				yr[j] = v*sc[j] + sh[j] + rr[j]
			}
		}
	case relu:
		for r := 0; r+c <= len(x); r += c {
			xr, yr := x[r:r+c], y[r:r+c]
			yr, sc, sh := yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			for j, v := range xr {
				yr[j] = relu32(v*sc[j] + sh[j])
			}
		}
	default:
		for r := 0; r+c <= len(x); r += c {
			xr, yr := x[r:r+c], y[r:r+c]
			yr, sc, sh := yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			for j, v := range xr {
				yr[j] = v*sc[j] + sh[j]
			}
		}
	}
}

// bnGradSums adds Σ g and Σ g·(x − μ) per channel to sg and sx, where
// g = dy, or dy masked by y > 0 when y is not nil, or (y nil, scale not
// nil) masked by ReLU(x·scale + shift) > 0: the output of a ReLU BatchNorm
// without residual recomputed exactly as bnApply computed it, so that y
// need not be read. The masked g is also written to gOut when it is not
// nil.
func bnGradSums(dy, y, x, gOut, mu, sg, sx, scale, shift []float32) {
	c := len(mu)
	if y != nil {
		scale, shift = nil, nil
	}
	if asmRows(len(x), c) {
		mustCover(len(x), dy, y, gOut)
		_, _, _ = sg[c-1], sx[c-1], mu[c-1]
		if scale != nil {
			_, _ = scale[c-1], shift[c-1]
		}
		if useBNAVX512 && c%16 == 0 {
			bnGradSumsAVX512(&dy[0], first(y), &x[0], first(gOut), &mu[0], &sg[0], &sx[0], first(scale), first(shift), len(x)/c, c)
			return
		}
		bnGradSumsAVX2(&dy[0], first(y), &x[0], first(gOut), &mu[0], &sg[0], &sx[0], first(scale), first(shift), len(x)/c, c)
		return
	}
	switch {
	case scale != nil:
		for r := 0; r+c <= len(x); r += c {
			xr, dr := x[r:r+c], dy[r:r+c]
			dr, mu, sg, sx, sc, sh := dr[:len(xr)], mu[:len(xr)], sg[:len(xr)], sx[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			var gr []float32
			if gOut != nil {
				gr = gOut[r : r+len(xr)]
			}
			for j, v := range xr {
				g := passIfPositive(dr[j], relu32(v*sc[j]+sh[j]))
				if gr != nil {
					gr[j] = g
				}
				sg[j] += g
				sx[j] += g * (v - mu[j])
			}
		}
	case y != nil && gOut != nil:
		for r := 0; r+c <= len(x); r += c {
			xr, dr, yr, gr := x[r:r+c], dy[r:r+c], y[r:r+c], gOut[r:r+c]
			dr, yr, gr, mu, sg, sx := dr[:len(xr)], yr[:len(xr)], gr[:len(xr)], mu[:len(xr)], sg[:len(xr)], sx[:len(xr)]
			for j, v := range xr {
				g := passIfPositive(dr[j], yr[j])
				gr[j] = g
				sg[j] += g
				sx[j] += g * (v - mu[j])
			}
		}
	case y != nil:
		for r := 0; r+c <= len(x); r += c {
			xr, dr, yr := x[r:r+c], dy[r:r+c], y[r:r+c]
			dr, yr, mu, sg, sx := dr[:len(xr)], yr[:len(xr)], mu[:len(xr)], sg[:len(xr)], sx[:len(xr)]
			for j, v := range xr {
				g := passIfPositive(dr[j], yr[j])
				sg[j] += g
				sx[j] += g * (v - mu[j])
			}
		}
	default:
		if gOut != nil {
			copy(gOut[:len(x)], dy)
		}
		for r := 0; r+c <= len(x); r += c {
			xr, dr := x[r:r+c], dy[r:r+c]
			dr, mu, sg, sx := dr[:len(xr)], mu[:len(xr)], sg[:len(xr)], sx[:len(xr)]
			for j, v := range xr {
				g := dr[j]
				sg[j] += g
				sx[j] += g * (v - mu[j])
			}
		}
	}
}

// bnGradApply sets dx = ca·g + cb·(x − μ) + cc per channel, with g = dy, or
// dy masked by y > 0 when y is not nil, or by ReLU(x·scale + shift) > 0 when
// y is nil and scale is not (see bnGradSums).
func bnGradApply(dy, y, x, dx, mu, ca, cb, cc, scale, shift []float32) {
	c := len(mu)
	if y != nil {
		scale, shift = nil, nil
	}
	if asmRows(len(x), c) {
		mustCover(len(x), dy, dx, y)
		_, _, _ = ca[c-1], cb[c-1], cc[c-1]
		if scale != nil {
			_, _ = scale[c-1], shift[c-1]
		}
		bnGradApplyAVX2(&dy[0], first(y), &x[0], &dx[0], &mu[0], &ca[0], &cb[0], &cc[0], first(scale), first(shift), len(x)/c, c)
		return
	}
	if scale != nil {
		for r := 0; r+c <= len(x); r += c {
			xr, dr, or := x[r:r+c], dy[r:r+c], dx[r:r+c]
			dr, or, mu, ca, cb, cc, sc, sh := dr[:len(xr)], or[:len(xr)], mu[:len(xr)], ca[:len(xr)], cb[:len(xr)], cc[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			for j, v := range xr {
				or[j] = ca[j]*passIfPositive(dr[j], relu32(v*sc[j]+sh[j])) + cb[j]*(v-mu[j]) + cc[j]
			}
		}
		return
	}
	if y != nil {
		for r := 0; r+c <= len(x); r += c {
			xr, dr, yr, or := x[r:r+c], dy[r:r+c], y[r:r+c], dx[r:r+c]
			dr, yr, or, mu, ca, cb, cc := dr[:len(xr)], yr[:len(xr)], or[:len(xr)], mu[:len(xr)], ca[:len(xr)], cb[:len(xr)], cc[:len(xr)]
			for j, v := range xr {
				or[j] = ca[j]*passIfPositive(dr[j], yr[j]) + cb[j]*(v-mu[j]) + cc[j]
			}
		}
		return
	}
	for r := 0; r+c <= len(x); r += c {
		xr, dr, or := x[r:r+c], dy[r:r+c], dx[r:r+c]
		dr, or, mu, ca, cb, cc := dr[:len(xr)], or[:len(xr)], mu[:len(xr)], ca[:len(xr)], cb[:len(xr)], cc[:len(xr)]
		for j, v := range xr {
			or[j] = ca[j]*dr[j] + cb[j]*(v-mu[j]) + cc[j]
		}
	}
}
