//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// useCopyAsm selects the AVX2 strided copy (copy_amd64.s); tests switch it
// off to compare it with the Go loop.
var useCopyAsm = cpu.X86.HasAVX2

//go:noescape
func copyStridedAVX2(dst *float32, ds int, src *float32, ss int, n, l int)
