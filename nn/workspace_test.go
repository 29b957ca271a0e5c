package nn

import (
	"runtime"
	"testing"
	"weak"
)

// A workspace's outgrown buffer is garbage at once: no convolution keeps a
// slice of it after its pass, so a model's first step, in which the shared
// workspace grows layer by layer, does not hold every size it went through.
func TestWorkspaceOutgrownBufferFreed(t *testing.T) {
	ws := &Workspace{}
	small := NewConv2d("small", 8, 8, 3, 1, 1, false, 1)
	large := NewConv2d("large", 8, 32, 3, 1, 1, false, 2)
	small.Work, large.Work = ws, ws
	y := small.Forward(randTensor(1, 4, 6, 6, 8), true)
	small.Backward(randTensor(2, y.Shape...))
	before := ws.Size()
	old := weak.Make(&ws.buf[0])
	y = large.Forward(randTensor(3, 4, 10, 10, 8), true)
	large.Backward(randTensor(4, y.Shape...))
	if ws.Size() <= before {
		t.Fatalf("workspace %d floats after the larger layer, %d before: the test needs it to grow", ws.Size(), before)
	}
	runtime.GC()
	if old.Value() != nil {
		t.Error("the workspace's outgrown buffer is still reachable after a collection")
	}
	runtime.KeepAlive(small) // a layer that kept its slices would keep the buffer
}
