// Package idx decodes arrays in the IDX format of the MNIST files, raw or gzip-compressed.
//
// An IDX file is a 4-byte magic number (two zero bytes, an element type code and the
// number of dimensions), the size of each dimension as a big-endian uint32, and the
// elements in row-major order, big-endian. Decode detects gzip compression by its magic
// bytes (0x1f 0x8b), so "x.idx" and "x.idx.gz" are read the same way.
//
// Errors are one line of the form "NAME: problem at byte offset N", where NAME is the name
// the caller passed. For compressed files the offsets count bytes of the decompressed
// stream.
package idx

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/dmrnet/dmrnet/internal/fileerr"
)

// IDX element type codes, the third byte of the magic number.
const (
	Uint8   byte = 0x08 // unsigned byte
	Int8    byte = 0x09 // signed byte
	Int16   byte = 0x0B // big-endian int16
	Int32   byte = 0x0C // big-endian int32
	Float32 byte = 0x0D // big-endian IEEE 754 binary32
	Float64 byte = 0x0E // big-endian IEEE 754 binary64
)

// Array is a decoded IDX array.
//
// Elements of type Uint8 are kept in U8 only, and Data is nil: MNIST's training images
// are 47 million bytes, which would be 376 MB as float64. Elements of every other type are
// converted to float64 in Data, and U8 is nil. Use At or Float64 to read either kind.
type Array struct {
	// Dims holds the size of each dimension, outermost first.
	Dims []int
	// Type is the element type code of the file, one of Uint8 ... Float64.
	Type byte
	// Data holds the elements in row-major order for every type but Uint8.
	Data []float64
	// U8 holds the elements in row-major order for type Uint8.
	U8 []uint8
}

// Len returns the number of elements, the product of Dims.
func (a *Array) Len() int {
	if a.Type == Uint8 {
		return len(a.U8)
	}
	return len(a.Data)
}

// At returns element i of the row-major element sequence as a float64.
func (a *Array) At(i int) float64 {
	if a.Type == Uint8 {
		return float64(a.U8[i])
	}
	return a.Data[i]
}

// Float64 returns the elements as float64: Data itself, or a new slice for type Uint8.
func (a *Array) Float64() []float64 {
	if a.Type != Uint8 {
		return a.Data
	}
	out := make([]float64, len(a.U8))
	for i, v := range a.U8 {
		out[i] = float64(v)
	}
	return out
}

// TypeName returns a readable name of an IDX element type code, such as "ubyte".
func TypeName(t byte) string {
	switch t {
	case Uint8:
		return "ubyte"
	case Int8:
		return "sbyte"
	case Int16:
		return "int16"
	case Int32:
		return "int32"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("unknown type 0x%02X", t)
}

// elemSize returns the size in bytes of one element of type t, or 0 for unknown types.
func elemSize(t byte) int {
	switch t {
	case Uint8, Int8:
		return 1
	case Int16:
		return 2
	case Int32, Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

// ReadFile decodes the IDX file at path, compressed or not.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode reads an IDX array from r, decompressing it first if it starts with the gzip
// magic bytes. The name is used in error messages only.
func Decode(r io.Reader, name string) (*Array, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip header: %v", name, err)
		}
		defer zr.Close()
		zr.Multistream(false)
		a, err := decode(zr, name, " of the decompressed stream")
		if err != nil {
			return nil, gzipError(err, name)
		}
		if extra, err := io.Copy(io.Discard, br); err != nil {
			return nil, fmt.Errorf("%s: reading IDX data: %v", name, err)
		} else if extra > 0 {
			return nil, fmt.Errorf("%s: %d bytes of trailing garbage after the end of the gzip stream", name, extra)
		}
		return a, nil
	}
	a, err := decode(br, name, "")
	if err != nil {
		var re readError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s: reading IDX data: %v", name, re.err)
		}
		return nil, err
	}
	return a, nil
}

// readError marks an error from the underlying reader, as opposed to a format error.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// gzipError turns a failure of the gzip reader into a one-line message.
func gzipError(err error, name string) error {
	var re readError
	if !errors.As(err, &re) {
		return err
	}
	if errors.Is(re.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: truncated gzip stream (the file was cut short: download it again)", name)
	}
	return fmt.Errorf("%s: corrupt gzip stream: %v (the file is damaged: download it again)", name, re.err)
}

// decode reads an uncompressed IDX stream; where is appended to byte offsets.
func decode(r io.Reader, name, where string) (*Array, error) {
	head, err := readN(r, 4)
	if err != nil {
		return nil, readError{err}
	}
	if len(head) < 4 {
		return nil, fmt.Errorf("%s: not an IDX file: only %d bytes, shorter than the 4-byte magic number", name, len(head))
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("%s: not an IDX file: bad magic number % x at byte offset 0%s (the first two bytes must be 0)", name, head, where)
	}
	typ, nd := head[2], int(head[3])
	size := elemSize(typ)
	if size == 0 {
		return nil, fmt.Errorf("%s: unknown IDX element type 0x%02X at byte offset 2%s (want 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)", name, typ, where)
	}
	if nd == 0 {
		return nil, fmt.Errorf("%s: zero dimensions in the magic number at byte offset 3%s (want at least 1)", name, where)
	}
	dimBytes, err := readN(r, 4*nd)
	if err != nil {
		return nil, readError{err}
	}
	if len(dimBytes) < 4*nd {
		return nil, fmt.Errorf("%s: truncated header: %d dimensions need %d bytes after byte offset 4%s, only %d are present (the file was cut short: download it again)", name, nd, 4*nd, where, len(dimBytes))
	}
	dims := make([]int, nd)
	zero := false
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
		zero = zero || dims[i] == 0
	}
	count := uint64(0)
	if !zero {
		// Check that the byte size fits in an int, factor by factor.
		count = 1
		for _, d := range dims {
			if count > math.MaxInt/uint64(size)/uint64(d) {
				return nil, fmt.Errorf("%s: dimensions %s at byte offset 4%s overflow: the array would exceed %d bytes", name, dimString(dimBytes), where, math.MaxInt)
			}
			count *= uint64(d)
		}
	}
	want := int(count) * size
	dataStart := 4 + 4*nd
	data, err := readN(r, want)
	if err != nil {
		return nil, readError{err}
	}
	if len(data) < want {
		return nil, fmt.Errorf("%s: truncated data: dimensions %s of %s need %d bytes after byte offset %d%s, only %d are present (the file was cut short: download it again)",
			name, dimString(dimBytes), TypeName(typ), want, dataStart, where, len(data))
	}
	extra, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, readError{err}
	}
	if extra > 0 {
		return nil, fmt.Errorf("%s: %d bytes of trailing garbage at byte offset %d%s, after the %d-byte array", name, extra, dataStart+want, where, want)
	}
	a := &Array{Dims: dims, Type: typ}
	if typ == Uint8 {
		a.U8 = data
		return a, nil
	}
	a.Data = make([]float64, int(count))
	be := binary.BigEndian
	for i := range a.Data {
		switch typ {
		case Int8:
			a.Data[i] = float64(int8(data[i]))
		case Int16:
			a.Data[i] = float64(int16(be.Uint16(data[2*i:])))
		case Int32:
			a.Data[i] = float64(int32(be.Uint32(data[4*i:])))
		case Float32:
			a.Data[i] = float64(math.Float32frombits(be.Uint32(data[4*i:])))
		case Float64:
			a.Data[i] = math.Float64frombits(be.Uint64(data[8*i:]))
		}
	}
	return a, nil
}

// dimString formats the big-endian dimension sizes as "[10000 28 28]".
func dimString(b []byte) string {
	parts := make([]string, len(b)/4)
	for i := range parts {
		parts[i] = fmt.Sprint(binary.BigEndian.Uint32(b[4*i:]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// readN reads up to n bytes, fewer only at the end of the input. io.ReadAll grows its
// buffer as data arrives, so a header declaring a huge array cannot allocate memory the input
// does not back.
func readN(r io.Reader, n int) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, int64(n)))
}
