package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// MetadataKey is the entry of a safetensors header's __metadata__ map (and the stem of the
// npz array __metadata__.json) that holds dmrnet's JSON metadata document.
const MetadataKey = "dmrnet"

// safetensorsEntry is one tensor's header entry.
type safetensorsEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes arrays in the safetensors format
// (https://huggingface.co/docs/safetensors):
//
//	8 bytes      N, the header length, unsigned little-endian
//	N bytes      JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
//	             "__metadata__": {string: string}}, padded with spaces to a multiple of 8
//	the rest     the arrays' values, little-endian, row-major; offsets are relative to
//	             the start of this section
//
// The data section holds the arrays ordered by element size, largest first (in their given
// order otherwise), so that every array is aligned to its element size. metadata may be nil.
func WriteSafetensors(w io.Writer, arrays []Array, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	order := make([]int, len(arrays))
	sizes := make([]int, len(arrays))
	for i, a := range arrays {
		dt, err := a.check()
		if err != nil {
			return err
		}
		if a.Name == "" || a.Name == "__metadata__" {
			return fmt.Errorf("export: %q is not a tensor name", a.Name)
		}
		if _, dup := header[a.Name]; dup {
			return fmt.Errorf("export: tensor %s named twice", a.Name)
		}
		header[a.Name] = nil
		order[i], sizes[i] = i, dt.size
	}
	sort.SliceStable(order, func(i, j int) bool { return sizes[order[i]] > sizes[order[j]] })
	var off int64
	for _, i := range order {
		a := arrays[i]
		dt, _ := a.check()
		shape := append([]int{}, a.Shape...) // [] rather than null for scalars
		header[a.Name] = safetensorsEntry{DType: dt.safetensors, Shape: shape, Offsets: [2]int64{off, off + a.byteLen()}}
		off += a.byteLen()
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("export: safetensors header: %w", err)
	}
	if pad := len(js) % 8; pad != 0 {
		js = append(js, bytes.Repeat([]byte{' '}, 8-pad)...)
	}
	if err := binary.Write(w, binary.LittleEndian, uint64(len(js))); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, i := range order {
		if err := writeLE(w, arrays[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// ReadSafetensors parses a safetensors file held in b: its arrays (sorted by name) and its
// __metadata__ map. It checks that the offsets lie in the data section, match each shape and
// cover the section without gaps or overlaps.
func ReadSafetensors(b []byte) ([]Array, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: %d bytes, too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes in a file of %d", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	data := b[8+n:]
	var meta map[string]string
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("safetensors: __metadata__: %w", err)
		}
		delete(raw, "__metadata__")
	}
	types := map[string]dtype{"F32": dtF32, "F64": dtF64, "I64": dtI64, "U8": dtU8}
	var out []Array
	type span struct{ lo, hi int64 }
	var spans []span
	for name, r := range raw {
		var e safetensorsEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		dt, ok := types[e.DType]
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: unsupported dtype %s", name, e.DType)
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		count := int64(1)
		for _, d := range e.Shape {
			count *= int64(d)
		}
		if lo < 0 || hi < lo || hi > int64(len(data)) || hi-lo != count*int64(dt.size) {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: offsets [%d, %d] do not fit shape %v of %s in %d data bytes", name, lo, hi, e.Shape, e.DType, len(data))
		}
		v, err := decodeLE(data[lo:hi], dt)
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		out = append(out, Array{Name: name, Shape: e.Shape, Data: v})
		spans = append(spans, span{lo, hi})
	}
	sort.Slice(spans, func(i, j int) bool {
		return spans[i].lo < spans[j].lo || (spans[i].lo == spans[j].lo && spans[i].hi < spans[j].hi)
	})
	var end int64
	for _, s := range spans {
		if s.lo != end {
			return nil, nil, fmt.Errorf("safetensors: the tensors' data has a gap or overlap at byte %d", end)
		}
		end = s.hi
	}
	if end != int64(len(data)) {
		return nil, nil, fmt.Errorf("safetensors: the tensors cover %d of %d data bytes", end, len(data))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, meta, nil
}
