package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Array is one named n-dimensional array, row-major (C order).
type Array struct {
	Name  string
	Shape []int
	// Data is a []float32, []float64, []int64 or []uint8 holding the product of Shape values
	// (one value for the empty shape of a scalar).
	Data any
}

// dtype describes an element type in both file formats.
type dtype struct {
	safetensors string // "F32", ...
	npy         string // numpy's descr, "<f4", ...
	size        int    // bytes per element
}

var (
	dtF32 = dtype{"F32", "<f4", 4}
	dtF64 = dtype{"F64", "<f8", 8}
	dtI64 = dtype{"I64", "<i8", 8}
	dtU8  = dtype{"U8", "|u1", 1}
)

// dtypeOf returns the element type of a's data and its number of elements.
func (a Array) dtypeOf() (dtype, int, error) {
	switch d := a.Data.(type) {
	case []float32:
		return dtF32, len(d), nil
	case []float64:
		return dtF64, len(d), nil
	case []int64:
		return dtI64, len(d), nil
	case []uint8:
		return dtU8, len(d), nil
	}
	return dtype{}, 0, fmt.Errorf("export: array %s holds %T, want []float32, []float64, []int64 or []uint8", a.Name, a.Data)
}

// check verifies that a's data fits its shape and returns its element type.
func (a Array) check() (dtype, error) {
	dt, n, err := a.dtypeOf()
	if err != nil {
		return dt, err
	}
	want := 1
	for _, d := range a.Shape {
		if d < 0 {
			return dt, fmt.Errorf("export: array %s has shape %v", a.Name, a.Shape)
		}
		want *= d
	}
	if n != want {
		return dt, fmt.Errorf("export: array %s has %d values for shape %v (%d)", a.Name, n, a.Shape, want)
	}
	return dt, nil
}

// byteLen is the size of a's data in bytes.
func (a Array) byteLen() int64 {
	dt, n, _ := a.dtypeOf()
	return int64(n) * int64(dt.size)
}

// writeLE writes a's values little-endian, in chunks.
func writeLE(w io.Writer, data any) error {
	const chunk = 1 << 16
	buf := make([]byte, 0, chunk+8)
	flush := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf) < chunk) {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	var err error
	switch d := data.(type) {
	case []float32:
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []float64:
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []int64:
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []uint8:
		_, err := w.Write(d)
		return err
	default:
		return fmt.Errorf("export: cannot write %T", data)
	}
	return flush(true)
}

// decodeLE reads n little-endian values of type dt from b.
func decodeLE(b []byte, dt dtype) (any, error) {
	if len(b)%dt.size != 0 {
		return nil, fmt.Errorf("%d bytes are not a whole number of %d-byte values", len(b), dt.size)
	}
	n := len(b) / dt.size
	switch dt {
	case dtF32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case dtF64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out, nil
	case dtI64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out, nil
	case dtU8:
		return append([]uint8(nil), b...), nil
	}
	return nil, fmt.Errorf("unsupported element type %s", dt.npy)
}

// Float64s returns a's values converted to float64 (nil for other element types than
// float32, float64, int64 and uint8).
func (a Array) Float64s() []float64 {
	switch d := a.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []float64:
		return d
	case []int64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []uint8:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return nil
}
