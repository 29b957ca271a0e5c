package nn

// NumParams counts the trainable parameter elements (not buffers).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		if p.Kind != Buffer {
			n += len(p.Value)
		}
	}
	return n
}
