package inputs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(r Reader, chunk int) ([]Record, error) {
	var out []Record
	for {
		recs, err := r.Next(chunk)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, recs...)
	}
}

func TestViews(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.csv", "1,2\n\n5,6\n")
	b := write(t, dir, "b.csv", "7\n8\n9\n")
	labels := write(t, dir, "y.csv", "live\nspoof\n1\n")
	v, err := OpenViews(map[string]string{"a": a, "b": b}, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	recs, err := readAll(v, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[1].Vectors["a"] != nil || !reflect.DeepEqual(recs[2].Vectors["a"], []float64{5, 6}) ||
		recs[2].Label != "1" || recs[0].ID != "1" || recs[1].Locs["a"] != a+" line 2" {
		t.Fatalf("records %+v", recs)
	}
	if done, total := v.Progress(); done != total {
		t.Errorf("progress %d of %d at the end", done, total)
	}

	tests := []struct {
		name   string
		views  map[string]string
		labels string
		want   string
	}{
		{"shorter view", map[string]string{"a": a, "b": write(t, dir, "b2.csv", "7\n")}, "", "b2.csv: 1 rows, " + a + " has more"},
		{"longer view", map[string]string{"a": write(t, dir, "a2.csv", "1,2\n"), "b": b}, "", "a2.csv: 1 rows, " + b + " has more"},
		{"fewer labels", map[string]string{"a": a}, write(t, dir, "y2.csv", "live\n"), "y2.csv has 1 labels, the views have more rows"},
		{"more labels", map[string]string{"a": a}, write(t, dir, "y3.csv", "1\n1\n1\n1\n"), "y3.csv: more rows than the views, which have 3 (give one label per view row)"},
		{"empty label", map[string]string{"a": a}, write(t, dir, "y4.csv", "1\n\n1\n"), "y4.csv line 2: empty label"},
		{"no rows", map[string]string{"a": write(t, dir, "e.csv", "")}, "", "e.csv has no rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := OpenViews(tc.views, tc.labels)
			if err == nil {
				defer v.Close()
				_, err = readAll(v, 2)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	opts := ManifestOptions{Columns: map[string]string{"rgb": "rgb", "cam_d": "depth"}, Ignore: []string{"split"}}
	m, err := OpenManifest(write(t, dir, "m.csv", "id,split,rgb,cam_d\na,test,x.png,\nb,,,/abs/d.png\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(m, 10)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{"rgb": filepath.Join(dir, "x.png")}, {"depth": "/abs/d.png"}}
	if len(recs) != 2 || !reflect.DeepEqual(recs[0].Files, want[0]) || !reflect.DeepEqual(recs[1].Files, want[1]) || recs[1].ID != "b" || recs[0].Where != filepath.Join(dir, "m.csv")+" line 2" {
		t.Fatalf("records %+v", recs)
	}
	bad := []struct{ name, content, want string }{
		{"unknown column", "id,rgb,thermal\n", `column "thermal" is not a modality of the model (rename or remove it: the model's modality columns are cam_d, rgb`},
		{"no modality column", "id,label\n", "no modality column"},
		{"duplicate id", "id,rgb\na,x\na,y\n", `line 3: id "a" already used on line 2`},
		{"ragged", "id,rgb\na,x,y\n", "line 2: 3 fields, the header has 2"},
		{"header only", "id,rgb\n", "has no samples"},
		{"labels required", "id,rgb\na,x\n", `no "label" column`},
		// a bare quote made FieldPos panic after the failed Read
		{"bare quote", "id,rgb\n0\"00,x\n", `bad.csv: line 2, character 2: bare " in non-quoted-field (quote a field`},
		{"unterminated quote", "id,rgb\na,\"x\n", `bad.csv: line 2, character 6: extraneous or missing " in quoted-field`},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			o := opts
			o.RequireLabels = b.name == "labels required"
			m, err := OpenManifest(write(t, dir, "bad.csv", b.content), o)
			if err == nil {
				defer m.Close()
				_, err = readAll(m, 10)
			}
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("error %v, want %q", err, b.want)
			}
		})
	}
	// Without an id column the row number is the id.
	m, err = OpenManifest(write(t, dir, "noid.csv", "rgb\nx.png\ny.png\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ = readAll(m, 10)
	m.Close()
	if len(recs) != 2 || recs[1].ID != "2" {
		t.Fatalf("ids %+v", recs)
	}
}

func TestClassIndex(t *testing.T) {
	classes := []string{"live", "spoof"}
	for _, tc := range []struct {
		label string
		want  int
		err   bool
	}{{"live", 0, false}, {"spoof", 1, false}, {"1", 1, false}, {"0.0", 0, false}, {"2", 0, true}, {"fake", 0, true}, {"-1", 0, true}} {
		got, err := ClassIndex(tc.label, classes)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("%q: %d, %v", tc.label, got, err)
		}
	}
}
