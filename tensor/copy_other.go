//go:build !amd64 || purego

package tensor

// useCopyAsm is false where there is no assembly strided copy.
var useCopyAsm = false

func copyStridedAVX2(dst *float32, ds int, src *float32, ss int, n, l int) {
	panic("tensor: no assembly strided copy on this platform")
}
