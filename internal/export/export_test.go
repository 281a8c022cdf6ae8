package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
	"gorgonia.org/tensor"
)

func mixedArrays() []Array {
	return []Array{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6.5}},
		{Name: "u", Shape: []int{3}, Data: []uint8{7, 0, 255}},
		{Name: "steps", Shape: []int{}, Data: []int64{-640}},
		{Name: "d", Shape: []int{1, 2, 1}, Data: []float64{0.1, -2e300}},
		{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
	}
}

// TestSafetensorsGolden pins the byte layout of a one-tensor file.
func TestSafetensorsGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, []Array{{Name: "a", Shape: []int{2}, Data: []float32{1, 2}}}, nil); err != nil {
		t.Fatal(err)
	}
	header := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` // 54 bytes, padded to 56
	want := binary.LittleEndian.AppendUint64(nil, 56)
	want = append(want, header+"  "...)
	want = append(want, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

// TestSafetensorsRoundTrip writes arrays of every element type and reads them back,
// checking the header's padding, the offsets' alignment and the metadata.
func TestSafetensorsRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		arrays []Array
		meta   map[string]string
	}{
		{"mixed types with metadata", mixedArrays(), map[string]string{MetadataKey: `{"a": [1, "b"]}`, "format": "pt"}},
		{"no metadata", mixedArrays()[:1], nil},
		{"no tensors", nil, map[string]string{"k": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSafetensors(&buf, tt.arrays, tt.meta); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			n := binary.LittleEndian.Uint64(b)
			if n%8 != 0 {
				t.Errorf("header length %d is not a multiple of 8", n)
			}
			var header map[string]json.RawMessage
			if err := json.Unmarshal(b[8:8+n], &header); err != nil {
				t.Fatal(err)
			}
			for name, raw := range header {
				if name == "__metadata__" {
					continue
				}
				var e safetensorsEntry
				json.Unmarshal(raw, &e)
				size := map[string]int64{"F32": 4, "F64": 8, "I64": 8, "U8": 1}[e.DType]
				if e.Offsets[0]%size != 0 {
					t.Errorf("%s (%s) starts at %d, not aligned", name, e.DType, e.Offsets[0])
				}
			}
			got, meta, err := ReadSafetensors(b)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.arrays)
			slices.SortFunc(want, func(a, b Array) int { return strings.Compare(a.Name, b.Name) })
			if len(got) != len(want) {
				t.Fatalf("%d arrays back, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Name != want[i].Name || !slices.Equal(got[i].Shape, want[i].Shape) || !reflect.DeepEqual(got[i].Data, want[i].Data) {
					t.Errorf("array %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
			if len(tt.meta) > 0 && !reflect.DeepEqual(meta, tt.meta) {
				t.Errorf("metadata %v, want %v", meta, tt.meta)
			}
		})
	}
}

func TestWriteRejectsBadArrays(t *testing.T) {
	tests := []struct {
		name   string
		arrays []Array
		want   string
	}{
		{"values do not fit the shape", []Array{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3}}}, "3 values for shape [2 2]"},
		{"unsupported type", []Array{{Name: "a", Shape: []int{1}, Data: []int32{1}}}, "[]int32"},
		{"repeated name", []Array{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, "a"},
	}
	for _, tt := range tests {
		for _, format := range []string{"safetensors", "npz"} {
			var err error
			if format == "safetensors" {
				err = WriteSafetensors(&bytes.Buffer{}, tt.arrays, nil)
			} else {
				err = WriteNPZ(&bytes.Buffer{}, tt.arrays)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", tt.name, format, err, tt.want)
			}
		}
	}
}

func TestReadSafetensorsRejectsDamage(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, mixedArrays(), nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated data", good[:len(good)-1], "do not fit"},
		{"extra data", append(slices.Clone(good), 0), "cover"},
		{"short header", good[:4], "too short"},
		{"header past the end", binary.LittleEndian.AppendUint64(nil, 1<<40), "header of"},
	}
	for _, tt := range tests {
		if _, _, err := ReadSafetensors(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestNPYHeader checks the header dict of every kind of shape and the 64-byte alignment of
// the data.
func TestNPYHeader(t *testing.T) {
	tests := []struct {
		a    Array
		dict string
	}{
		{Array{Shape: []int{}, Data: []int64{3}}, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }"},
		{Array{Shape: []int{4}, Data: []uint8{1, 2, 3, 4}}, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }"},
		{Array{Shape: []int{2, 1, 2}, Data: []float32{1, 2, 3, 4}}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2), }"},
		{Array{Shape: []int{1, 1}, Data: []float64{-1}}, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt.a); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if string(b[:8]) != "\x93NUMPY\x01\x00" {
			t.Errorf("%v: magic and version %q", tt.a.Shape, b[:8])
		}
		hlen := int(binary.LittleEndian.Uint16(b[8:]))
		header := string(b[10 : 10+hlen])
		if (10+hlen)%64 != 0 || !strings.HasPrefix(header, tt.dict) || !strings.HasSuffix(header, "\n") || strings.TrimSpace(header) != tt.dict {
			t.Errorf("%v: header %q (length %d)", tt.a.Shape, header, hlen)
		}
		got, err := ReadNPY(b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Shape, tt.a.Shape) || !reflect.DeepEqual(got.Data, tt.a.Data) {
			t.Errorf("%v: read back %+v", tt.a.Shape, got)
		}
	}
}

func TestNPZRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNPZ(&buf, mixedArrays()); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNPZ(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range mixedArrays() {
		g, ok := got[a.Name]
		if !ok || !slices.Equal(g.Shape, a.Shape) || !reflect.DeepEqual(g.Data, a.Data) {
			t.Errorf("%s: read back %+v, want %+v", a.Name, g, a)
		}
	}
	if len(got) != len(mixedArrays()) {
		t.Errorf("%d arrays read back", len(got))
	}
}

func TestTranspose2D(t *testing.T) {
	tests := []struct {
		in         any
		rows, cols int
		want       any
	}{
		{[]float32{1, 2, 3, 4, 5, 6}, 2, 3, []float32{1, 4, 2, 5, 3, 6}},
		{[]float64{1, 2, 3, 4, 5, 6}, 3, 2, []float64{1, 3, 5, 2, 4, 6}},
		{[]float32{7, 8, 9}, 1, 3, []float32{7, 8, 9}},
		{[]float64{}, 0, 4, []float64{}},
	}
	for _, tt := range tests {
		if got := Transpose2D(tt.in, tt.rows, tt.cols); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Transpose2D(%v, %d, %d) = %v, want %v", tt.in, tt.rows, tt.cols, got, tt.want)
		}
	}
}

// testSpec is a model with an mlp and a conv modality, both heads and auxiliary heads.
func testSpec(dt tensor.Dtype, pme bool, aux float64) model.Spec {
	return model.Spec{
		Modalities: []model.ModalitySpec{
			{Name: "vec", InputShape: []int{5}, Encoder: model.EncoderSpec{Type: "mlp", Layers: []int{4, 3}}},
			{Name: "img", InputShape: []int{2, 6, 5}, Encoder: model.EncoderSpec{Type: "conv", Channels: []int{3, 4}, Kernel: 3, Pool: 2, Layers: []int{6}}},
		},
		Latent: 4, Classes: 3, PME: pme, DType: dt, BNMomentum: 0.1, BNEps: 1e-5, AuxWeight: aux,
	}
}

// TestFromSource checks the name mapping and layouts: every parameter and running statistic
// is exported once, Linear weights transposed to (out, in), conv weights unchanged,
// BatchNorm gamma/beta as weight/bias, num_batches_tracked the step count, and the dtype kept.
func TestFromSource(t *testing.T) {
	tests := []struct {
		name string
		spec model.Spec
	}{
		{"float32 with heads", testSpec(tensor.Float32, true, 1)},
		{"float64 deterministic", testSpec(tensor.Float64, false, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := model.New(tt.spec, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for _, bn := range m.BatchNorms() { // distinct running statistics
				mean, variance := bn.Stats()
				for _, v := range []any{mean, variance} {
					switch d := v.(type) {
					case []float32:
						for i := range d {
							d[i] = rng.Float32()
						}
					case []float64:
						for i := range d {
							d[i] = rng.Float64()
						}
					}
				}
			}
			cfg := config.Default()
			src := Source{Model: m, Config: &cfg, ConfigYAML: []byte("out: x\n"), Steps: 77,
				Modalities: []dataset.Modality{{Name: "vec", Shape: []int{5}}, {Name: "img", Shape: []int{2, 6, 5}}},
				Classes:    []string{"a", "b", "c"},
				Norms:      []dataset.Norm{{Modality: "vec", PerColumn: true, Mean: []float64{1, 2, 3, 4, 5}, Std: []float64{1, 1, 1, 1, 2}}}}
			ex, err := FromSource(src)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(m.Params()) + 3*len(m.BatchNorms()); len(ex.Arrays) != want {
				t.Errorf("%d tensors, want %d (parameters + 3 buffers per BatchNorm)", len(ex.Arrays), want)
			}
			byName := map[string]Array{}
			for _, a := range ex.Arrays {
				byName[a.Name] = a
			}
			bnStat := func(name string) any {
				for _, bn := range m.BatchNorms() {
					mean, variance := bn.Stats()
					if name == bn.Name+".running_mean" {
						return mean
					}
					if name == bn.Name+".running_var" {
						return variance
					}
				}
				return nil
			}
			for _, n := range ex.Meta.Tensors {
				a := byName[n.Torch]
				switch {
				case n.Steps:
					if !reflect.DeepEqual(a.Data, []int64{77}) || len(a.Shape) != 0 {
						t.Errorf("%s = %v %v, want the scalar 77", n.Torch, a.Shape, a.Data)
					}
				case n.Transpose:
					p := m.Param(n.DMRNet)
					in, out := p.Shape()[0], p.Shape()[1]
					if !slices.Equal(a.Shape, []int{out, in}) {
						t.Errorf("%s: shape %v, want [%d %d]", n.Torch, a.Shape, out, in)
					}
					w, tw := asF64(p.Data()), asF64(a.Data)
					for i := range in {
						for o := range out {
							if tw[o*in+i] != w[i*out+o] {
								t.Fatalf("%s[%d][%d] = %v, dmrnet W[%d][%d] = %v", n.Torch, o, i, tw[o*in+i], i, o, w[i*out+o])
							}
						}
					}
				default:
					var want any
					var shape []int
					if p := m.Param(n.DMRNet); p != nil {
						want, shape = p.Data(), p.Shape()
					} else {
						want = bnStat(n.DMRNet)
						shape = []int{len(asF64(want))}
					}
					if want == nil || !reflect.DeepEqual(a.Data, want) || !slices.Equal(a.Shape, shape) {
						t.Errorf("%s differs from dmrnet's %s", n.Torch, n.DMRNet)
					}
				}
			}
			for _, name := range []string{"encoders.vec.1.linear.weight", "encoders.vec.1.bn.running_var", "encoders.img.blocks.1.conv.weight",
				"encoders.img.blocks.0.bn.weight", "encoders.img.fc.0.bias", "mu.linear.weight", "mu.bn.num_batches_tracked", "classifier.bias"} {
				if _, ok := byName[name]; !ok {
					t.Errorf("no tensor %s", name)
				}
			}
			if w := byName["encoders.img.blocks.1.conv.weight"].Shape; !slices.Equal(w, []int{4, 3, 3, 3}) {
				t.Errorf("conv weight shape %v, want [4 3 3 3] (out, in, k, k)", w)
			}
			_, hasLogvar := byName["logvar.bn.running_mean"]
			_, hasAux := byName["aux.img.weight"]
			if hasLogvar != tt.spec.PME || hasAux != (tt.spec.AuxWeight > 0) {
				t.Errorf("logvar head %v, aux heads %v", hasLogvar, hasAux)
			}
			md := ex.Meta
			wantDT := map[tensor.Dtype]string{tensor.Float32: "float32", tensor.Float64: "float64"}[tt.spec.DType]
			if md.DType != wantDT || md.Modalities[0].Standardize == nil || md.Modalities[1].Standardize != nil ||
				md.Modalities[1].Features != 6 || md.Modalities[1].Encoder.Pool != 2 || md.Inference != "fused" ||
				!slices.Equal(md.Combinations, []string{"vec", "img", "vec+img"}) || md.Config != "out: x\n" {
				t.Errorf("metadata: %+v", md)
			}
			for _, format := range Formats() {
				if err := ex.Write(&bytes.Buffer{}, format); err != nil {
					t.Errorf("write %s: %v", format, err)
				}
			}
		})
	}
}

func asF64(v any) []float64 { return Array{Data: v}.Float64s() }

// TestNumpyReadsFiles loads the writers' output with numpy itself, when a Python with numpy
// is there.
func TestNumpyReadsFiles(t *testing.T) {
	var python string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no Python with numpy")
	}
	dir := t.TempDir()
	var st, npz bytes.Buffer
	if err := WriteSafetensors(&st, mixedArrays(), map[string]string{MetadataKey: `{"x": 1}`}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPZ(&npz, mixedArrays()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/a.safetensors", st.Bytes())
	writeFile(t, dir+"/a.npz", npz.Bytes())
	script := `
import json, struct, sys, numpy as np
d = sys.argv[1]
types = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}
out = {}
with open(d + "/a.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n)); data = f.read()
meta = h.pop("__metadata__")
for k, e in h.items():
    a = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype=types[e["dtype"]]).reshape(e["shape"])
    out["st." + k] = [list(a.shape), str(a.dtype), a.ravel().tolist()]
with np.load(d + "/a.npz") as z:
    for k in z.files:
        out["npz." + k] = [list(z[k].shape), str(z[k].dtype), z[k].ravel().tolist()]
out["meta"] = json.loads(meta["dmrnet"])
print(json.dumps(out))
`
	cmd := exec.Command(python, "-c", script, dir)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatal(err)
	}
	dtypes := map[string]string{"[]float32": "float32", "[]float64": "float64", "[]int64": "int64", "[]uint8": "uint8"}
	for _, a := range mixedArrays() {
		want, _ := json.Marshal([]any{a.Shape, dtypes[fmt.Sprintf("%T", a.Data)], asF64(a.Data)})
		for _, prefix := range []string{"st.", "npz."} {
			var g, w any
			json.Unmarshal(got[prefix+a.Name], &g)
			json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("numpy reads %s%s as %s, want %s", prefix, a.Name, got[prefix+a.Name], want)
			}
		}
	}
	if string(got["meta"]) != `{"x": 1}` {
		t.Errorf("metadata %s", got["meta"])
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
