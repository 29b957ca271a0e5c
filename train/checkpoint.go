package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/losslab/losslab/internal/atomicfile"

	"github.com/losslab/losslab/optim"
)

// Checkpoint file format, version 1, all integers little-endian:
//
//	magic        8 bytes  "LLCKPT\x00\x00"
//	version      uint32   1
//	fingerprint  uint32 length, then the config identity as JSON
//	step         uint64   optimiser steps done
//	epoch stats  float64 loss sum, uint64 correct, uint64 seen,
//	             float64 epoch seconds, float64 total seconds
//	sections     uint32 count, then per section: uint32 name length, name,
//	             uint64 value count, values as float32
//	checksum     32 bytes: sha256 of everything above
//
// Sections are the model's parameters and buffers ("param/NAME", in
// Model.Params order), then the optimiser's state ("velocity/NAME") and the
// EMA's ("ema/NAME"). The epoch statistics let a run resumed mid-epoch log
// the same training loss and accuracy as an uninterrupted one.
const (
	checkpointMagic   = "LLCKPT\x00\x00"
	checkpointVersion = 1
	checksumSize      = sha256.Size
)

// epochStats accumulates the training loss and accuracy of one epoch.
type epochStats struct {
	LossSum      float64 // Σ batch mean loss × batch size
	Correct      int64
	Seen         int64
	EpochSeconds float64 // training time spent in this epoch so far
	TotalSeconds float64 // training time of the whole run so far
}

// checkpoint is the decoded content of a checkpoint file.
type checkpoint struct {
	Fingerprint []byte
	Step        int
	Stats       epochStats
	Sections    []optim.NamedSlice
}

// writeCheckpoint stores ck at path atomically.
func writeCheckpoint(path string, ck *checkpoint) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		h := sha256.New()
		mw := io.MultiWriter(w, h)
		var b []byte
		b = append(b, checkpointMagic...)
		b = binary.LittleEndian.AppendUint32(b, checkpointVersion)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ck.Fingerprint)))
		b = append(b, ck.Fingerprint...)
		b = binary.LittleEndian.AppendUint64(b, uint64(ck.Step))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ck.Stats.LossSum))
		b = binary.LittleEndian.AppendUint64(b, uint64(ck.Stats.Correct))
		b = binary.LittleEndian.AppendUint64(b, uint64(ck.Stats.Seen))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ck.Stats.EpochSeconds))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ck.Stats.TotalSeconds))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ck.Sections)))
		if _, err := mw.Write(b); err != nil {
			return err
		}
		buf := make([]byte, 0, 64<<10)
		for _, s := range ck.Sections {
			buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(s.Name)))
			buf = append(buf, s.Name...)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(len(s.Data)))
			for _, v := range s.Data {
				if len(buf)+4 > cap(buf) {
					if _, err := mw.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
			if _, err := mw.Write(buf); err != nil {
				return err
			}
		}
		_, err := w.Write(h.Sum(nil))
		return err
	})
}

// errCorrupt marks a checkpoint that fails its checksum or cannot be parsed.
var errCorrupt = errors.New("corrupt or truncated checkpoint")

// readCheckpoint loads and verifies a checkpoint file.
func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s; delete it to restart the run from the beginning", path, errCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < len(checkpointMagic)+4 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fail("missing the %q header", checkpointMagic)
	}
	if len(b) < len(checkpointMagic)+4+checksumSize {
		return nil, fail("%d bytes", len(b))
	}
	body, sum := b[:len(b)-checksumSize], b[len(b)-checksumSize:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fail("sha256 checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(b[len(checkpointMagic):]); v != checkpointVersion {
		return nil, fmt.Errorf("%s: checkpoint format version %d; this losslab reads version %d", path, v, checkpointVersion)
	}
	r := &reader{b: body[len(checkpointMagic)+4:]}
	ck := &checkpoint{}
	ck.Fingerprint = r.bytes(int(r.u32()))
	ck.Step = int(r.u64())
	ck.Stats.LossSum = math.Float64frombits(r.u64())
	ck.Stats.Correct = int64(r.u64())
	ck.Stats.Seen = int64(r.u64())
	ck.Stats.EpochSeconds = math.Float64frombits(r.u64())
	ck.Stats.TotalSeconds = math.Float64frombits(r.u64())
	n := int(r.u32())
	for i := 0; i < n && r.err == nil; i++ {
		name := string(r.bytes(int(r.u32())))
		count := r.u64()
		if r.err == nil && count > uint64(len(r.b)/4) {
			r.err = fmt.Errorf("section %q of %d values with %d bytes left", name, count, len(r.b))
		}
		raw := r.bytes(int(count) * 4)
		if r.err != nil {
			break
		}
		data := make([]float32, count)
		for j := range data {
			data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		ck.Sections = append(ck.Sections, optim.NamedSlice{Name: name, Data: data})
	}
	if r.err != nil {
		return nil, fail("%v", r.err)
	}
	if len(r.b) != 0 {
		return nil, fail("%d unexpected bytes after the last section", len(r.b))
	}
	return ck, nil
}

// reader decodes little-endian fields, remembering the first overrun.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("field of %d bytes with %d left", n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// restoreSections copies saved sections into dst, which must have the same
// names and sizes in the same order.
func restoreSections(path string, dst, saved []optim.NamedSlice) error {
	if len(saved) != len(dst) {
		return fmt.Errorf("%s: %d sections, the model and optimiser need %d; was it written by another model or version?", path, len(saved), len(dst))
	}
	for i := range dst {
		if saved[i].Name != dst[i].Name || len(saved[i].Data) != len(dst[i].Data) {
			return fmt.Errorf("%s: section %d is %s with %d values; want %s with %d", path, i, saved[i].Name, len(saved[i].Data), dst[i].Name, len(dst[i].Data))
		}
	}
	for i := range dst {
		copy(dst[i].Data, saved[i].Data)
	}
	return nil
}
