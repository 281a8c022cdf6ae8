// Package checkpoint stores training state in a self-checking file: a magic header, a format
// version, the payload length, the gob-encoded payload and its CRC-32. Files are written
// atomically, so a crash leaves the previous checkpoint intact, and a truncated, corrupted or
// hostile file is reported as such (an error wrapping ErrCorrupt, one line naming the file)
// instead of being half-read: Load never panics, and what it allocates is bounded by the
// file's size.
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
	"reflect"
	"strings"

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

// Header and trailer sizes: magic (8 bytes), version (uint32), payload length (uint64);
// CRC-32 of the payload (uint32).
const (
	headerSize  = 8 + 4 + 8
	trailerSize = 4
)

// Load reads a checkpoint written by Save into v (a pointer). A file that is not a complete,
// intact checkpoint gives an error that wraps ErrCorrupt and names path; Load never panics
// on bad input, and what it allocates is bounded by the size of the file (see decode).
func Load(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	return decode(path, raw, v)
}

// hint is the advice every corrupt-checkpoint error ends with.
const hint = "the file is damaged or was cut short; use an earlier checkpoint of the run, or retrain"

// decode checks raw, the content of the checkpoint file name, and decodes its payload into v.
//
// Every size in the file is checked against the bytes that are really there before anything
// is allocated from it: the header's payload length must equal the file size minus header
// and trailer (compared without overflow, so a length near 2^64 is "truncated", not a
// panic). gob, which decodes the payload, bounds slices and strings by the data it has read,
// but allocates a map of the announced element count up front; so the payload is first
// decoded into an empty struct, which walks every value without storing it and fails when a
// map, slice or string count exceeds the bytes left. Only a payload that passes that walk is
// decoded into v, and then every map holds at most half as many elements as the payload has
// bytes. (The walk is skipped for types that cannot hold a map.) A panic inside gob (not
// expected; the fuzz target FuzzLoad checks) is reported as corruption too.
func decode(name string, raw []byte, v any) (err error) {
	if len(raw) < headerSize {
		if len(raw) == 0 || bytes.HasPrefix(magic[:], raw[:min(len(raw), len(magic))]) {
			return corruptf("%s: truncated checkpoint: %d bytes, shorter than the %d-byte header (%s)", name, len(raw), headerSize, hint)
		}
	}
	if len(raw) < len(magic) || !bytes.Equal(raw[:len(magic)], magic[:]) {
		return corruptf("%s: not a dmrnet checkpoint: it does not start with %q (give a .ckpt file written by dmrnet, or its run directory)", name, magic[:])
	}
	if ver := binary.LittleEndian.Uint32(raw[8:12]); ver != Version {
		return corruptf("%s: checkpoint format version %d, this dmrnet reads version %d (use the dmrnet that wrote it, or retrain)", name, ver, Version)
	}
	n := binary.LittleEndian.Uint64(raw[12:20])
	have := uint64(len(raw) - headerSize) // payload and trailer
	switch {
	case have < trailerSize || n > have-trailerSize:
		return corruptf("%s: truncated checkpoint: the header announces %d payload bytes, the file holds %d bytes after its header (%s)", name, n, have, hint)
	case n < have-trailerSize:
		return corruptf("%s: corrupt checkpoint: %d bytes follow the payload's checksum (%s)", name, have-trailerSize-n, hint)
	}
	payload := raw[headerSize : headerSize+n]
	if got, want := crc32.ChecksumIEEE(payload), binary.LittleEndian.Uint32(raw[headerSize+n:]); got != want {
		return corruptf("%s: checkpoint fails its checksum (%s)", name, hint)
	}
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("%s: corrupt checkpoint: %s: %s (%s)", name, decoderPanicked, oneLine(fmt.Sprint(r)), hint)
		}
	}()
	if mayHoldMap(reflect.TypeOf(v)) {
		if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&struct{}{}); err != nil {
			return corruptf("%s: corrupt checkpoint: %s (%s)", name, oneLine(err.Error()), hint)
		}
	}
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(v); err != nil {
		return corruptf("%s: corrupt checkpoint: %s (%s)", name, oneLine(err.Error()), hint)
	}
	return nil
}

// mayHoldMap reports whether decoding into a value of type t can create a map: t contains a
// map or an interface (which gob may fill with anything registered) anywhere. Only then is
// the checking walk of decode needed; slices and strings gob bounds by itself.
func mayHoldMap(t reflect.Type) bool { return mayHoldMapSeen(t, map[reflect.Type]bool{}) }

func mayHoldMapSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == nil {
		return true
	}
	if seen[t] {
		return false // a recursive type: its other parts are being checked
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldMapSeen(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if mayHoldMapSeen(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// decoderPanicked marks the error of a payload on which gob panicked.
const decoderPanicked = "the decoder panicked"

// oneLine joins the lines of s, so that errors stay on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
