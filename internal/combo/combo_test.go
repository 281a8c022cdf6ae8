package combo

import (
	"reflect"
	"testing"
)

func TestAllOrderAndNames(t *testing.T) {
	sp, err := NewSpace([]string{"rgb", "depth", "ir"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sp.All() {
		got = append(got, sp.Name(s))
	}
	want := []string{"rgb", "depth", "ir", "rgb+depth", "rgb+ir", "depth+ir", "rgb+depth+ir"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("All() = %v, want %v", got, want)
	}
}

func TestParse(t *testing.T) {
	sp, _ := NewSpace([]string{"rgb", "depth", "ir"})
	tests := []struct {
		in      string
		missing bool
		want    Set
		wantErr bool
	}{
		{in: "rgb", want: 1},
		{in: "depth,ir", want: 6},
		{in: "rgb+ir", want: 5},
		{in: "depth", missing: true, want: 5},
		{in: "rgb,depth,ir", missing: true, wantErr: true},
		{in: "rgbd", wantErr: true},
		{in: "rgb,rgb", wantErr: true},
		{in: "", wantErr: true},
		// a stray separator names nothing: an error, not the full combination
		{in: ",", missing: true, wantErr: true},
		{in: " , ", missing: true, wantErr: true},
		{in: "depth,", missing: true, wantErr: true},
		{in: ",depth", missing: true, wantErr: true},
		{in: "rgb,,ir", missing: true, wantErr: true},
		{in: " ", missing: true, wantErr: true},
		{in: "", missing: true, wantErr: true},
		{in: "rgb+", wantErr: true},
		{in: " rgb , ir ", want: 5},
	}
	for _, tt := range tests {
		var got Set
		var err error
		if tt.missing {
			got, err = sp.FromMissing(tt.in)
		} else {
			got, err = sp.ParseCombination(tt.in)
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("%q (missing=%v): err = %v, wantErr %v", tt.in, tt.missing, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("%q (missing=%v) = %b, want %b", tt.in, tt.missing, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	sp, _ := NewSpace([]string{"rgb", "depth", "ir"})
	if _, err := sp.FromMissing(","); err == nil || err.Error() != `empty modality name in "," (separate the names by single commas, e.g. rgb,depth)` {
		t.Errorf("FromMissing(\",\") = %v", err)
	}
	if _, err := sp.FromMissing(" "); err == nil || err.Error() != "names no modality (name the missing ones, e.g. rgb,depth)" {
		t.Errorf("FromMissing(\" \") = %v", err)
	}
}

func TestDefaultK(t *testing.T) {
	for m, want := range map[int]int{1: 1, 2: 1, 3: 3, 6: 21} {
		if got := DefaultK(m); got != want {
			t.Errorf("DefaultK(%d) = %d, want %d", m, got, want)
		}
	}
}

func TestNewSpaceRejects(t *testing.T) {
	for _, names := range [][]string{nil, {"a", "a"}, {"a+b"}, {""}} {
		if _, err := NewSpace(names); err == nil {
			t.Errorf("NewSpace(%q) accepted", names)
		}
	}
}
