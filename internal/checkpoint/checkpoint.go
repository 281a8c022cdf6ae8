// Package checkpoint stores training state in a self-checking file: a magic header, a format
// version, the payload length, the gob-encoded payload and its CRC-32. Files are written
// atomically, so a crash leaves the previous checkpoint intact, and a truncated or corrupted
// file is reported as such instead of being half-read.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
)

// Version is the format version written by Save.
const Version = 1

var magic = [8]byte{'D', 'M', 'R', 'N', 'E', 'T', 'C', 'K'}

// ErrCorrupt marks a file that is not a complete, intact checkpoint. Errors wrap it
// (errors.Is) without repeating its text.
var ErrCorrupt = errors.New("checkpoint: corrupt")

type corruptError struct{ msg string }

func (e *corruptError) Error() string        { return e.msg }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(format string, args ...any) error {
	return &corruptError{fmt.Sprintf(format, args...)}
}

// Tensor is a named array of float32 or float64 values (exactly one of F32, F64 is set).
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	F64   []float64
}

// NewTensor copies data ([]float32 or []float64) into a Tensor.
func NewTensor(name string, shape []int, data any) Tensor {
	t := Tensor{Name: name, Shape: append([]int(nil), shape...)}
	switch d := data.(type) {
	case []float32:
		t.F32 = append([]float32{}, d...)
	case []float64:
		t.F64 = append([]float64{}, d...)
	default:
		panic(fmt.Sprintf("checkpoint: tensor %s has type %T", name, data))
	}
	return t
}

// Len is the number of values.
func (t Tensor) Len() int { return len(t.F32) + len(t.F64) }

// Data returns the values as []float32 or []float64.
func (t Tensor) Data() any {
	if t.F32 != nil {
		return t.F32
	}
	return t.F64
}

// CopyTo copies the tensor's values into dst ([]float32 or []float64 of the same type and
// length), checking the shape against want; the error names the tensor and both shapes.
func (t Tensor) CopyTo(dst any, want []int) error {
	if !equalShape(t.Shape, want) {
		return fmt.Errorf("tensor %s has shape %v in the checkpoint but the configuration needs %v", t.Name, t.Shape, want)
	}
	switch d := dst.(type) {
	case []float32:
		if t.F32 == nil || len(t.F32) != len(d) {
			return fmt.Errorf("tensor %s: checkpoint holds %d float64 values, the model needs %d float32 (model.dtype differs)", t.Name, len(t.F64), len(d))
		}
		copy(d, t.F32)
	case []float64:
		if t.F64 == nil || len(t.F64) != len(d) {
			return fmt.Errorf("tensor %s: checkpoint holds %d float32 values, the model needs %d float64 (model.dtype differs)", t.Name, len(t.F32), len(d))
		}
		copy(d, t.F64)
	default:
		return fmt.Errorf("tensor %s: destination has type %T", t.Name, dst)
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Save writes v (any gob-encodable value) to path atomically.
func Save(path string, v any) error {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(v); err != nil {
		return fmt.Errorf("encode checkpoint %s: %w", path, err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		var hdr [20]byte
		copy(hdr[:8], magic[:])
		binary.LittleEndian.PutUint32(hdr[8:12], Version)
		binary.LittleEndian.PutUint64(hdr[12:20], uint64(payload.Len()))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(payload.Bytes()); err != nil {
			return err
		}
		var sum [4]byte
		binary.LittleEndian.PutUint32(sum[:], crc32.ChecksumIEEE(payload.Bytes()))
		_, err := w.Write(sum[:])
		return err
	})
}

// Load reads a checkpoint written by Save into v (a pointer).
func Load(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	if len(raw) < 20 || !bytes.Equal(raw[:8], magic[:]) {
		return corruptf("%s is not a dmrnet checkpoint", path)
	}
	if ver := binary.LittleEndian.Uint32(raw[8:12]); ver != Version {
		return corruptf("%s has format version %d, this dmrnet reads %d", path, ver, Version)
	}
	n := binary.LittleEndian.Uint64(raw[12:20])
	if uint64(len(raw)-20) < n+4 {
		return corruptf("%s is truncated (%d of %d bytes)", path, len(raw), n+24)
	}
	payload := raw[20 : 20+n]
	if got, want := crc32.ChecksumIEEE(payload), binary.LittleEndian.Uint32(raw[20+n:]); got != want {
		return corruptf("%s fails its checksum (damaged file)", path)
	}
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(v); err != nil {
		return corruptf("decode %s: %v", path, err)
	}
	return nil
}
